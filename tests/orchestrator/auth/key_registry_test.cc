#include "orchestrator/auth/key_registry.h"

#include <gtest/gtest.h>

#include "orchestrator/auth/api_key.h"

namespace baton::orchestrator::auth {
namespace {

class KeyRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { registry_ = *KeyRegistry::Open(store_, clock_); }
  MemoryKeyStore store_;
  FakeClock clock_;
  std::unique_ptr<KeyRegistry> registry_;
};

TEST_F(KeyRegistryTest, ACreatedKeyAuthenticatesAsItsPrincipalWithItsRoles) {
  absl::StatusOr<KeyRegistry::CreatedKey> created = registry_->Create("alice", {"reader", "operator"}, {});
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->key.create_time_ms(), clock_.NowMillis());
  absl::StatusOr<Principal> principal = registry_->Authenticate(created->secret);
  ASSERT_TRUE(principal.ok()) << principal.status();
  EXPECT_EQ(principal->name, "alice");
  EXPECT_EQ(principal->roles, (std::vector<Role>{Role::kReader, Role::kOperator}));
  EXPECT_EQ(principal->namespaces, std::vector<std::string>{"default"});
  EXPECT_EQ(principal->credential, "api_key:" + created->key.key_id());
}

TEST_F(KeyRegistryTest, OnlyTheHashIsStored) {
  absl::StatusOr<KeyRegistry::CreatedKey> created = registry_->Create("alice", {"admin"}, {"team-a"});
  ASSERT_TRUE(created.ok());
  ParsedApiKey parsed = *ParseApiKey(created->secret);
  std::vector<v1::StoredApiKey> stored = *store_.LoadAll();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].secret_sha256(), HashSecret(parsed.secret));
  EXPECT_EQ(stored[0].SerializeAsString().find(parsed.secret), std::string::npos);
  EXPECT_EQ(stored[0].key().namespaces(0), "team-a");
}

TEST_F(KeyRegistryTest, KeysSurviveReopeningTheStore) {
  std::string secret = registry_->Create("alice", {"reader"}, {})->secret;
  std::unique_ptr<KeyRegistry> reopened = *KeyRegistry::Open(store_, clock_);
  EXPECT_FALSE(reopened->Empty());
  EXPECT_TRUE(reopened->Authenticate(secret).ok());
}

TEST_F(KeyRegistryTest, WrongSecretUnknownIdAndRevokedKeysAreUnauthenticated) {
  KeyRegistry::CreatedKey created = *registry_->Create("alice", {"reader"}, {});
  ParsedApiKey parsed = *ParseApiKey(created.secret);
  std::string wrong = FormatApiKey(parsed.key_id, std::string(64, parsed.secret[0] == 'a' ? 'b' : 'a'));
  EXPECT_EQ(registry_->Authenticate(wrong).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(registry_->Authenticate(FormatApiKey("0000000000000000", parsed.secret)).status().code(),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<v1::ApiKey> revoked = registry_->Revoke(parsed.key_id);
  ASSERT_TRUE(revoked.ok());
  EXPECT_TRUE(revoked->revoked());
  absl::StatusOr<Principal> after = registry_->Authenticate(created.secret);
  EXPECT_EQ(after.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(after.status().message().find("revoked"), absl::string_view::npos);
  EXPECT_TRUE(registry_->Revoke(parsed.key_id).ok()) << "revoking twice is fine";
  EXPECT_EQ(registry_->Revoke("ffffffffffffffff").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE((*KeyRegistry::Open(store_, clock_))->List()[0].revoked()) << "revocation is durable";
}

TEST_F(KeyRegistryTest, BadPrincipalsRolesAndNamespacesAreRefused) {
  EXPECT_EQ(registry_->Create("", {"reader"}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->Create("a", {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->Create("a", {"root"}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry_->Create("a", {"reader"}, {"Bad NS"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(registry_->Empty());
}

TEST_F(KeyRegistryTest, ListIsOldestFirst) {
  registry_->Create("first", {"reader"}, {});
  clock_.Advance(absl::Seconds(1));
  registry_->Create("second", {"reader"}, {});
  std::vector<v1::ApiKey> keys = registry_->List();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].principal(), "first");
  EXPECT_EQ(keys[1].principal(), "second");
}

}  // namespace
}  // namespace baton::orchestrator::auth
