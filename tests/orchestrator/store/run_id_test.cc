#include "orchestrator/store/run_id.h"

#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "common/namespaces.h"

namespace baton::orchestrator {
namespace {

TEST(RunIdTest, HasTheDocumentedFormat) {
  FakeClock clock(absl::FromUnixMillis(0x18bcfe56800));
  const std::string id = NewRunId(clock, "team-a");
  EXPECT_TRUE(std::regex_match(id, std::regex("team-a/run_[0-9a-f]{20}"))) << id;
  EXPECT_EQ(id.substr(0, 23), "team-a/run_018bcfe56800");
  EXPECT_EQ(NamespaceOfRunId(id), "team-a");
}

TEST(RunIdTest, LaterMillisecondSortsAfter) {
  FakeClock clock;
  std::string previous = NewRunId(clock, "default");
  for (int i = 0; i < 1000; ++i) {
    clock.Advance(absl::Milliseconds(1));
    const std::string next = NewRunId(clock, "default");
    ASSERT_LT(previous, next);
    previous = next;
  }
}

TEST(RunIdTest, IdsInTheSameMillisecondDiffer) {
  FakeClock clock;
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(NewRunId(clock, "default"));
  EXPECT_EQ(ids.size(), 10000u);
}

}  // namespace
}  // namespace baton::orchestrator
