#include "common/tls.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "baton/v1/worker_service.grpc.pb.h"
#include "common/grpc_channel.h"
#include "common/grpc_server.h"
#include "common/x509_issuer.h"

namespace baton {
namespace {

namespace fs = std::filesystem;

// A WorkerService whose PollTask answers with the caller's verified certificate
// identity (OK) or why there is none.
class IdentityEchoService final : public v1::WorkerService::CallbackService {
 public:
  grpc::ServerUnaryReactor* PollTask(grpc::CallbackServerContext* ctx, const v1::PollTaskRequest*,
                                     v1::PollTaskResponse*) override {
    absl::StatusOr<std::string> identity = VerifiedPeerIdentity(*ctx->auth_context());
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (identity.ok()) {
      absl::MutexLock lock(&mu_);
      last_identity_ = *identity;
      reactor->Finish(grpc::Status::OK);
    } else {
      reactor->Finish(grpc::Status(static_cast<grpc::StatusCode>(identity.status().code()),
                                   std::string(identity.status().message())));
    }
    return reactor;
  }
  std::string last_identity() {
    absl::MutexLock lock(&mu_);
    return last_identity_;
  }

 private:
  absl::Mutex mu_;
  std::string last_identity_ ABSL_GUARDED_BY(mu_);
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/baton-tls-XXXXXX";
    dir_ = mkdtemp(tmpl.data());
    ca_ = *CreateCertificateAuthority("test CA");
    other_ca_ = *CreateCertificateAuthority("other CA");
    Write("ca.pem", ca_.cert_pem);
    Write("other-ca.pem", other_ca_.cert_pem);
    WritePair("server", ca_, {.common_name = "localhost", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1"},
                              .server = true});
    WritePair("worker", ca_, {.common_name = "worker-a", .client = true});
    WritePair("foreign-worker", other_ca_, {.common_name = "worker-b", .client = true});
  }
  void TearDown() override {
    if (server_.server) server_.server->Shutdown();
    fs::remove_all(dir_);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void Write(const std::string& name, const std::string& contents, int mode = 0644) {
    ASSERT_TRUE(WritePemFile(Path(name), contents, mode).ok());
  }
  void WritePair(const std::string& name, const PemKeyPair& ca, const CertificateRequest& request) {
    absl::StatusOr<PemKeyPair> pair = IssueCertificate(ca, request);
    ASSERT_TRUE(pair.ok()) << pair.status();
    Write(name + ".pem", pair->cert_pem);
    Write(name + ".key", pair->key_pem, 0600);
  }

  ServerTlsOptions ServerTls(bool verify_clients) const {
    return {Path("server.pem"), Path("server.key"), verify_clients ? Path("ca.pem") : "", 1};
  }
  void StartServer(const ServerTlsOptions& tls) {
    absl::StatusOr<StartedServer> started = StartGrpcServer("127.0.0.1:0", {&service_}, {}, tls);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
  }
  grpc::Status Poll(const ClientTlsOptions& tls) {
    ChannelOptions options;
    options.tls = tls;
    auto stub = v1::WorkerService::NewStub(NewChannel("127.0.0.1:" + std::to_string(server_.port), options));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::PollTaskRequest request;
    v1::PollTaskResponse response;
    return stub->PollTask(&ctx, request, &response);
  }

  std::string dir_;
  PemKeyPair ca_;
  PemKeyPair other_ca_;
  IdentityEchoService service_;
  StartedServer server_;
};

TEST(ListenSecurityTest, LoopbackAddressesAreLoopback) {
  for (const char* address : {"127.0.0.1:7233", "127.1.2.3:0", "localhost:7233", "[::1]:7233", "unix:/tmp/x.sock"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
  for (const char* address : {"0.0.0.0:7233", "[::]:7233", ":7233", "10.0.0.5:7233", "example.com:7233",
                              "127.example.com:1", "128.0.0.1:7233"}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

TEST(ListenSecurityTest, NonLoopbackWithoutTlsIsRefusedUnlessInsecure) {
  absl::Status refused = CheckListenSecurity("0.0.0.0:7233", /*tls=*/false, /*auth=*/false, /*insecure=*/false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("0.0.0.0:7233"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("--insecure"), std::string::npos) << refused;
  EXPECT_TRUE(CheckListenSecurity("0.0.0.0:7233", false, false, /*insecure=*/true).ok());
  EXPECT_TRUE(CheckListenSecurity("127.0.0.1:7233", false, false, false).ok());
  EXPECT_TRUE(CheckListenSecurity("0.0.0.0:7233", /*tls=*/true, /*auth=*/true, false).ok());
}

TEST(ListenSecurityTest, TlsWithoutAuthenticationIsNotEnough) {
  absl::Status refused = CheckListenSecurity("0.0.0.0:7233", /*tls=*/true, /*auth=*/false, false);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.message().find("without authentication"), std::string::npos) << refused;
}

TEST(WorkerIdTest, IdMustBelongToTheCertificate) {
  EXPECT_TRUE(CheckWorkerId("worker-a", "worker-a").ok());
  EXPECT_TRUE(CheckWorkerId("baton-worker", "baton-worker/worker-1").ok());
  EXPECT_EQ(CheckWorkerId("worker-a", "worker-b").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckWorkerId("worker", "worker-1").code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(TlsTest, ValidationNamesTheFlagAtFault) {
  ServerTlsOptions mismatched = ServerTls(false);
  mismatched.key_file = Path("worker.key");
  absl::Status s = ValidateServerTls(mismatched);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--tls-key"), std::string::npos) << s;
  EXPECT_NE(s.message().find("does not match"), std::string::npos) << s;

  ServerTlsOptions missing = ServerTls(false);
  missing.cert_file = Path("nope.pem");
  EXPECT_NE(ValidateServerTls(missing).message().find("--tls-cert"), std::string::npos);
  EXPECT_EQ(ValidateServerTls({"", "", Path("ca.pem")}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ValidateServerTls(ServerTls(true)).ok());

  EXPECT_NE(ValidateClientTls({Path("ca.pem"), Path("worker.pem"), ""}).message().find("--key"), std::string::npos);
  EXPECT_NE(ValidateClientTls({"", Path("worker.pem"), Path("worker.key")}).message().find("--ca"),
            std::string::npos);
  EXPECT_TRUE(ValidateClientTls({Path("ca.pem"), Path("worker.pem"), Path("worker.key")}).ok());
  EXPECT_TRUE(ValidateClientTls({}).ok());
}

TEST_F(TlsTest, ClientTrustingTheCaConnects) {
  StartServer(ServerTls(false));
  grpc::Status s = Poll({Path("ca.pem")});
  // Without a client certificate the service says so; the TLS handshake itself worked.
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << s.error_message();
  EXPECT_NE(s.error_message().find("none was presented"), std::string::npos) << s.error_message();
}

TEST_F(TlsTest, ClientWithAnotherCaOrPlaintextCannotConnectAndServerKeepsServing) {
  StartServer(ServerTls(false));
  EXPECT_EQ(Poll({Path("other-ca.pem")}).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Poll({}).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Poll({Path("ca.pem")}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(TlsTest, VerifiedClientCertificateNamesThePeer) {
  StartServer(ServerTls(true));
  grpc::Status s = Poll({Path("ca.pem"), Path("worker.pem"), Path("worker.key")});
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(service_.last_identity(), "worker-a");
  // Asked for, not demanded: a client without a certificate still connects.
  EXPECT_EQ(Poll({Path("ca.pem")}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A certificate from another CA fails the handshake.
  EXPECT_EQ(Poll({Path("ca.pem"), Path("foreign-worker.pem"), Path("foreign-worker.key")}).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, PlaintextConnectionHasNoPeerIdentity) {
  StartServer({});
  grpc::Status s = Poll({});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("not TLS"), std::string::npos) << s.error_message();
}

TEST_F(TlsTest, ExpiredServerCertificateIsRefused) {
  WritePair("server", ca_, {.common_name = "localhost", .ip_addresses = {"127.0.0.1"}, .server = true,
                            .not_before = absl::Now() - absl::Hours(48), .not_after = absl::Now() - absl::Hours(24)});
  StartServer(ServerTls(false));
  EXPECT_EQ(Poll({Path("ca.pem")}).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, CertificateFileIdentityIsTheCommonName) {
  absl::StatusOr<std::string> identity = CertificateFileIdentity(Path("worker.pem"));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(*identity, "worker-a");
  EXPECT_FALSE(CertificateFileIdentity(Path("missing.pem")).ok());
}

TEST_F(TlsTest, KeysAreWrittenOwnerOnly) {
  EXPECT_EQ(fs::status(Path("worker.key")).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

}  // namespace
}  // namespace baton
