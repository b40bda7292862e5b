#include "orchestrator/auth/api_key.h"

#include <thread>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace baton::orchestrator::auth {
namespace {

TEST(ApiKeyTest, FormatThenParseRoundTrips) {
  absl::StatusOr<std::string> id = NewKeyId();
  absl::StatusOr<std::string> secret = NewSecret();
  ASSERT_TRUE(id.ok() && secret.ok());
  EXPECT_EQ(id->size(), kKeyIdHexDigits);
  EXPECT_EQ(secret->size(), kSecretHexDigits);
  std::string key = FormatApiKey(*id, *secret);
  EXPECT_TRUE(LooksLikeApiKey(key));
  absl::StatusOr<ParsedApiKey> parsed = ParseApiKey(key);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->key_id, *id);
  EXPECT_EQ(parsed->secret, *secret);
}

TEST(ApiKeyTest, FreshSecretsDiffer) { EXPECT_NE(*NewSecret(), *NewSecret()); }

TEST(ApiKeyTest, MalformedKeysAreUnauthenticatedAndNeverEchoTheSecret) {
  const std::string secret(64, 'f');
  for (const std::string& key : {std::string("bk_"), "bk_0123456789abcdef" + secret,
                                 "bk_0123456789abcdeg_" + secret, "bk_0123456789abcdef-" + secret,
                                 "bk_0123456789ABCDEF_" + secret, "bk_0123456789abcdef_" + secret + "0",
                                 "xx_0123456789abcdef_" + secret}) {
    absl::StatusOr<ParsedApiKey> parsed = ParseApiKey(key);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kUnauthenticated) << key;
    EXPECT_EQ(std::string(parsed.status().message()).find(secret.substr(0, 16)), std::string::npos);
  }
}

TEST(ApiKeyTest, HashIsSha256OnEveryThread) {
  // FIPS 180-2's "abc": keys stored by any earlier version still match.
  const std::string expected =
      absl::HexStringToBytes("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HashSecret("abc"), expected);
  EXPECT_EQ(HashSecret("abc"), expected);  // the thread's context, reused
  std::string other_thread;
  std::thread([&] { other_thread = HashSecret("abc"); }).join();
  EXPECT_EQ(other_thread, expected);
  EXPECT_NE(HashSecret(""), expected);
}

TEST(ApiKeyTest, OnlyTheRightSecretMatchesItsHash) {
  std::string hash = HashSecret("secret-a");
  EXPECT_EQ(hash.size(), 32u);
  EXPECT_NE(hash.find_first_not_of('\0'), std::string::npos);
  EXPECT_TRUE(SecretMatches("secret-a", hash));
  EXPECT_FALSE(SecretMatches("secret-b", hash));
  EXPECT_FALSE(SecretMatches("secret-a", hash.substr(1)));
  EXPECT_FALSE(SecretMatches("secret-a", ""));
}

}  // namespace
}  // namespace baton::orchestrator::auth
