#include "orchestrator/page_tokens.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/escaping.h"

namespace baton::orchestrator {
namespace {

const std::string kKey(32, 'k');

TEST(PageTokensTest, ATokenOpensToItsCursorForTheSameListingAndScope) {
  PageTokens tokens(kKey);
  const std::string scope = PageScope({"default", "0", "agent-a"});
  const std::string token = tokens.Seal("ListRuns", scope, "default/run_0001");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(tokens.Open("ListRuns", scope, token).value(), "default/run_0001");
  EXPECT_EQ(tokens.Open("ListRuns", scope, "").value(), "") << "no token: the first page";
  EXPECT_EQ(tokens.Seal("ListRuns", scope, ""), "") << "the end of the listing: no token";
}

TEST(PageTokensTest, ATokenDoesNotOpenForAnotherListingNamespaceOrFilter) {
  PageTokens tokens(kKey);
  const std::string token = tokens.Seal("ListRuns", PageScope({"team-a", "0", ""}), "team-a/run_0001");
  for (const auto& [listing, scope] : std::vector<std::pair<std::string, std::string>>{
           {"ListRuns", PageScope({"team-b", "0", ""})},  // another namespace
           {"ListRuns", PageScope({"team-a", "3", ""})},  // another state
           {"ListRuns", PageScope({"team-a", "0", "x"})},  // another agent
           {"ListRuns", PageScope({"team-a0", "", ""})},   // fields moved across a boundary
           {"ListAgents", PageScope({"team-a", "0", ""})},
       }) {
    absl::StatusOr<std::string> opened = tokens.Open(listing, scope, token);
    ASSERT_FALSE(opened.ok()) << listing;
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(opened.status().message().find("page_token"), std::string::npos) << opened.status();
  }
}

TEST(PageTokensTest, MadeUpAndEditedTokensAreRefused) {
  PageTokens tokens(kKey);
  const std::string scope = PageScope({"default"});
  const std::string token = tokens.Seal("ListAgents", scope, "alpha");
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  raw[1] = 'b';  // the cursor, edited: "blpha"
  for (const std::string& bad : {std::string("garbage"), std::string("alpha"), absl::WebSafeBase64Escape(raw),
                                 token.substr(0, token.size() - 2), std::string("!!!")}) {
    absl::StatusOr<std::string> opened = tokens.Open("ListAgents", scope, bad);
    EXPECT_FALSE(opened.ok()) << bad;
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PageTokensTest, AnotherKeyDoesNotOpenTheTokenAndTheSameKeyDoes) {
  const std::string scope = PageScope({"default"});
  const std::string token = PageTokens(kKey).Seal("ListGraphs", scope, "g");
  EXPECT_FALSE(PageTokens(std::string(32, 'x')).Open("ListGraphs", scope, token).ok());
  EXPECT_EQ(PageTokens(kKey).Open("ListGraphs", scope, token).value(), "g") << "as after a restart";
}

}  // namespace
}  // namespace baton::orchestrator
