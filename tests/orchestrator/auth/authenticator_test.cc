#include "orchestrator/auth/authenticator.h"

#include <gtest/gtest.h>

namespace baton::orchestrator::auth {
namespace {

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override { registry_ = *KeyRegistry::Open(store_, clock_); }
  MemoryKeyStore store_;
  FakeClock clock_;
  std::unique_ptr<KeyRegistry> registry_;
};

TEST_F(AuthenticatorTest, BearerApiKeysAuthenticateWithAnyCaseOfBearer) {
  std::string key = registry_->Create("alice", {"reader"}, {})->secret;
  Authenticator authenticator(*registry_, nullptr);
  EXPECT_EQ(authenticator.Authenticate("Bearer " + key)->name, "alice");
  EXPECT_EQ(authenticator.Authenticate("bearer  " + key + " ")->name, "alice");
}

TEST_F(AuthenticatorTest, OtherSchemesEmptyCredentialsAndJwtsWithoutAVerifierAreUnauthenticated) {
  Authenticator authenticator(*registry_, nullptr);
  for (const char* header : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "bk_123", "Bearer eyJhbGciOi.x.y"}) {
    absl::StatusOr<Principal> p = authenticator.Authenticate(header);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << header;
  }
}

TEST_F(AuthenticatorTest, CertificatesAreWorkers) {
  Principal p = Authenticator::CertificatePrincipal("worker-1");
  EXPECT_EQ(p.name, "worker-1");
  EXPECT_EQ(p.roles, std::vector<Role>{Role::kWorker});
  EXPECT_TRUE(Authorize(p, "/baton.v1.WorkerService/PollTask").ok());
  EXPECT_EQ(Authorize(p, "/baton.v1.RunService/GetRun").code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthenticatorTest, DenialsNameTheMethodTheRoleNeededAndTheRolesHeld) {
  Principal reader{"bob", {Role::kReader}, {"default"}, "api_key:x"};
  absl::Status s = Authorize(reader, "/baton.v1.RunService/CancelRun");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "/baton.v1.RunService/CancelRun needs role operator or higher; principal \"bob\" has role reader");
  Principal none{"nobody", {}, {"default"}, "jwt"};
  EXPECT_NE(Authorize(none, "/baton.v1.RunService/GetRun").message().find("has no role"), absl::string_view::npos);
  EXPECT_NE(Authorize(reader, "/baton.v1.Nope/Nope").message().find("not allowed for any role"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace baton::orchestrator::auth
