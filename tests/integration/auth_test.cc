// Authentication, roles and the audit log with real processes (issue 10, parts 2
// and 6): an orchestrator with --auth, a bootstrap admin key, a JWKS of an RSA key
// made here, and workers with a worker key. Each refusal gets the code a client
// relies on, the server keeps serving, the audit log records what changed state,
// and no secret reaches the data directory or a log.
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "baton/v1/auth.grpc.pb.h"
#include "baton/v1/namespace.grpc.pb.h"
#include "common/auth/base64url.h"
#include "common/grpc_status.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using baton::auth::Base64UrlEncode;

constexpr char kIssuer[] = "https://idp.test";
constexpr char kAudience[] = "baton-test";

// An RS256 signer for the test's tokens and the JWKS that verifies them.
class RsaSigner {
 public:
  RsaSigner() : key_(EVP_RSA_gen(2048)) {}
  ~RsaSigner() { EVP_PKEY_free(key_); }

  json Jwks() const {
    return {{"keys", json::array({{{"kty", "RSA"}, {"kid", "k1"}, {"alg", "RS256"}, {"use", "sig"},
                                    {"n", Base64UrlEncode(Bn("n"))}, {"e", Base64UrlEncode(Bn("e"))}}})}};
  }

  std::string Token(const json& header, const json& claims) const {
    std::string input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
    return input + "." + Base64UrlEncode(Sign(input));
  }

 private:
  std::string Bn(const char* name) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key_, name, &bn);
    std::string bytes(BN_num_bytes(bn), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return bytes;
  }
  std::string Sign(const std::string& input) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_);
    size_t len = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    EVP_DigestSign(ctx, nullptr, &len, in, input.size());
    std::string sig(len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size());
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return sig;
  }
  EVP_PKEY* key_;
};

json Claims(const std::vector<std::string>& roles, absl::Duration expires_in = absl::Minutes(10),
            const std::string& audience = kAudience) {
  int64_t now = absl::ToUnixSeconds(absl::Now());
  return {{"iss", kIssuer}, {"aud", audience}, {"sub", "jwt-user"}, {"iat", now},
          {"exp", now + absl::ToInt64Seconds(expires_in)}, {"baton_roles", roles}};
}

const json kRs256Header = {{"alg", "RS256"}, {"kid", "k1"}, {"typ", "JWT"}};

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signer_ = new RsaSigner();
    jwks_dir_ = new std::string(fs::temp_directory_path() / absl::StrCat("baton-auth-jwks-", getpid()));
    fs::create_directories(*jwks_dir_);
    std::ofstream(*jwks_dir_ + "/jwks.json") << signer_->Jwks().dump();
    ClusterOptions options;
    options.auth = true;
    options.workers = 1;
    options.orchestrator_args = {"--jwt-jwks=" + *jwks_dir_ + "/jwks.json", absl::StrCat("--jwt-issuer=", kIssuer),
                                 absl::StrCat("--jwt-audience=", kAudience)};
    cluster_ = new Cluster(options);
    cluster_->Start();
    secrets_ = new std::vector<std::string>{cluster_->admin_key(), cluster_->worker_key()};
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete signer_;
    delete secrets_;
    fs::remove_all(*jwks_dir_);
    delete jwks_dir_;
  }

  static grpc::Status ListRunsWith(const std::string& bearer) {
    v1::RunService::Stub stub(cluster_->ChannelWithKey(bearer));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ListRunsRequest request;
    v1::ListRunsResponse response;
    return stub.ListRuns(&context, request, &response);
  }

  static grpc::Status CancelWith(const std::string& bearer, const std::string& run_id,
                                 const std::string& reason = "") {
    v1::RunService::Stub stub(cluster_->ChannelWithKey(bearer));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CancelRunRequest request;
    request.set_run_id(run_id);
    request.set_reason(reason);
    v1::Run run;
    return stub.CancelRun(&context, request, &run);
  }

  // Creates a key with the admin key; remembers its secret for the scans.
  static std::string CreateKey(const std::string& principal, const std::string& role,
                               const std::vector<std::string>& namespaces = {}) {
    v1::KeyService::Stub keys(cluster_->ChannelWithKey(cluster_->admin_key()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CreateKeyRequest request;
    request.set_principal(principal);
    request.add_roles(role);
    for (const std::string& ns : namespaces) request.add_namespaces(ns);
    v1::CreateKeyResponse created;
    grpc::Status status = keys.CreateKey(&context, request, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    secrets_->push_back(created.secret());
    return created.secret();
  }

  // "bk_<id>_<secret>" → id.
  static std::string KeyId(const std::string& key) { return key.substr(3, 16); }

  static Cluster* cluster_;
  static RsaSigner* signer_;
  static std::string* jwks_dir_;
  static std::vector<std::string>* secrets_;  // every API key and JWT the test used
};

Cluster* AuthTest::cluster_ = nullptr;
RsaSigner* AuthTest::signer_ = nullptr;
std::string* AuthTest::jwks_dir_ = nullptr;
std::vector<std::string>* AuthTest::secrets_ = nullptr;

TEST_F(AuthTest, CallsWithoutCredentialsAreUnauthenticated) {
  grpc::Status status = ListRunsWith("");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("authorization"), std::string::npos) << status.error_message();
}

TEST_F(AuthTest, MalformedUnknownAndWrongSecretKeysAreUnauthenticatedWithoutEchoingThem) {
  std::string real = CreateKey("carol", "reader");
  std::string wrong_secret = real.substr(0, real.size() - 4) + (real.ends_with("0000") ? "1111" : "0000");
  std::string unknown_id = "bk_0123456789abcdef_" + std::string(64, 'a');
  for (const std::string& key : {std::string("bk_short"), wrong_secret, unknown_id, std::string("not-a-jwt")}) {
    grpc::Status status = ListRunsWith(key);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << key;
    EXPECT_EQ(status.error_message().find(key.size() > 16 ? key.substr(key.size() - 16) : key), std::string::npos) << status.error_message();
  }
  EXPECT_TRUE(ListRunsWith(real).ok());
}

TEST_F(AuthTest, BadJwtsAreUnauthenticatedAndAGoodOneActsWithItsRoles) {
  std::string good = signer_->Token(kRs256Header, Claims({"reader"}));
  std::string expired = signer_->Token(kRs256Header, Claims({"reader"}, -absl::Minutes(10)));
  std::string wrong_audience = signer_->Token(kRs256Header, Claims({"reader"}, absl::Minutes(10), "someone-else"));
  std::string tampered = good;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  json none_header = {{"alg", "none"}, {"typ", "JWT"}};
  std::string alg_none = Base64UrlEncode(none_header.dump()) + "." + Base64UrlEncode(Claims({"admin"}).dump()) + ".";
  secrets_->insert(secrets_->end(), {good, expired, wrong_audience, tampered, alg_none});

  struct Case {
    std::string name, token, message_part;
  };
  for (const Case& c : {Case{"expired", expired, "expired"}, Case{"wrong audience", wrong_audience, "aud"},
                        Case{"tampered signature", tampered, "signature"}, Case{"alg none", alg_none, "none"}}) {
    grpc::Status status = ListRunsWith(c.token);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << c.name;
    EXPECT_NE(status.error_message().find(c.message_part), std::string::npos) << c.name << ": " << status.error_message();
  }
  EXPECT_TRUE(ListRunsWith(good).ok());
  grpc::Status cancel = CancelWith(good, "run_00000000000000000000");
  EXPECT_EQ(cancel.error_code(), grpc::StatusCode::PERMISSION_DENIED) << cancel.error_message();
}

TEST_F(AuthTest, AReaderCannotCancelARun) {
  v1::Run run = cluster_->CreateRun("[sim sleep_ms=3000] take your time");
  std::string reader = CreateKey("rita", "reader");
  grpc::Status status = CancelWith(reader, run.run_id());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("/baton.v1.RunService/CancelRun"), std::string::npos) << status.error_message();
  EXPECT_NE(status.error_message().find("needs role operator"), std::string::npos) << status.error_message();
  std::string operator_key = CreateKey("otto", "operator");
  EXPECT_TRUE(CancelWith(operator_key, run.run_id(), "not needed").ok());
  // Who cancelled is kept with the reason.
  v1::Run ended = cluster_->WaitForEnd(run.run_id());
  EXPECT_EQ(ended.state(), v1::CANCELLED);
  EXPECT_NE(ended.error().find("cancelled by otto: not needed"), std::string::npos) << ended.error();
}

// A key's namespaces bound everything it sees: another namespace's run is NOT_FOUND
// (as if it did not exist), naming another namespace is PERMISSION_DENIED, and
// agents of the same name live side by side.
TEST_F(AuthTest, AKeyOfOneNamespaceFindsNothingOfAnother) {
  const std::string alice = CreateKey("alice", "operator", {"team-a"});
  const std::string bob = CreateKey("bob", "operator", {"team-b"});
  auto deadline = [](grpc::ClientContext& context) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  };
  v1::RunService::Stub as_alice(cluster_->ChannelWithKey(alice));
  v1::RunService::Stub as_bob(cluster_->ChannelWithKey(bob));

  v1::Run run;
  {
    grpc::ClientContext context;
    deadline(context);
    v1::CreateRunRequest request;  // no namespace: the key's only one
    *request.mutable_agent() = Cluster::Agent();
    request.set_input("[sim sleep_ms=2000] for team a");
    request.set_request_id("shared-request-id");
    ASSERT_TRUE(as_alice.CreateRun(&context, request, &run).ok());
  }
  EXPECT_EQ(run.namespace_(), "team-a");
  EXPECT_TRUE(run.run_id().starts_with("team-a/run_")) << run.run_id();

  {
    grpc::ClientContext context;
    deadline(context);
    v1::GetRunRequest request;
    request.set_run_id(run.run_id());
    v1::Run got;
    grpc::Status status = as_bob.GetRun(&context, request, &got);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(status.error_message(), absl::StrCat("run \"", run.run_id(), "\" not found"));
  }
  EXPECT_EQ(CancelWith(bob, run.run_id()).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext context;
    deadline(context);
    v1::GetTranscriptRequest request;
    request.set_run_id(run.run_id());
    v1::Transcript transcript;
    EXPECT_EQ(as_bob.GetTranscript(&context, request, &transcript).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    deadline(context);
    v1::WatchRunRequest request;
    request.set_run_id(run.run_id());
    std::unique_ptr<grpc::ClientReader<v1::RunEvent>> reader = as_bob.WatchRun(&context, request);
    v1::RunEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  }
  // The same request id in team-b is a new run there, not alice's.
  {
    grpc::ClientContext context;
    deadline(context);
    v1::CreateRunRequest request;
    *request.mutable_agent() = Cluster::Agent();
    request.set_input("for team b");
    request.set_request_id("shared-request-id");
    v1::Run bobs;
    ASSERT_TRUE(as_bob.CreateRun(&context, request, &bobs).ok());
    EXPECT_TRUE(bobs.run_id().starts_with("team-b/run_")) << bobs.run_id();
  }
  // Lists show the caller's namespace only; naming another is refused.
  auto list = [&](v1::RunService::Stub& stub, const std::string& ns, v1::ListRunsResponse* response) {
    grpc::ClientContext context;
    deadline(context);
    v1::ListRunsRequest request;
    request.set_namespace_(ns);
    return stub.ListRuns(&context, request, response);
  };
  v1::ListRunsResponse bobs_runs;
  ASSERT_TRUE(list(as_bob, "", &bobs_runs).ok());
  ASSERT_EQ(bobs_runs.runs_size(), 1);
  EXPECT_TRUE(bobs_runs.runs(0).run_id().starts_with("team-b/"));
  v1::ListRunsResponse refused;
  grpc::Status status = list(as_bob, "team-a", &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("team-a"), std::string::npos) << status.error_message();
  {
    // Children are listed in their parent's namespace: bob may not, the admin may.
    v1::ListRunsRequest request;
    request.set_parent_run_id(run.run_id());
    v1::ListRunsResponse children;
    grpc::ClientContext context;
    deadline(context);
    EXPECT_EQ(as_bob.ListRuns(&context, request, &children).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    v1::RunService::Stub as_admin(cluster_->ChannelWithKey(cluster_->admin_key()));
    grpc::ClientContext admin_context;
    deadline(admin_context);
    EXPECT_TRUE(as_admin.ListRuns(&admin_context, request, &children).ok());
  }
  v1::ListRunsResponse alices_runs;
  ASSERT_TRUE(list(as_alice, "team-a", &alices_runs).ok());
  ASSERT_EQ(alices_runs.runs_size(), 1);
  EXPECT_EQ(alices_runs.runs(0).run_id(), run.run_id());

  // Agents: one name, two namespaces, two specs.
  auto put_agent = [&](const std::string& key, const std::string& system) {
    v1::AgentService::Stub agents(cluster_->ChannelWithKey(key));
    grpc::ClientContext context;
    deadline(context);
    v1::PutAgentRequest request;
    *request.mutable_agent() = Cluster::Agent();
    request.mutable_agent()->set_name("writer");
    request.mutable_agent()->set_system(system);
    v1::PutAgentResponse response;
    EXPECT_TRUE(agents.PutAgent(&context, request, &response).ok());
    return response.agent();
  };
  EXPECT_EQ(put_agent(alice, "team a's writer").version(), 1);
  v1::AgentSpec bobs_writer = put_agent(bob, "team b's writer");
  EXPECT_EQ(bobs_writer.version(), 1);
  EXPECT_EQ(bobs_writer.namespace_(), "team-b");
  {
    v1::AgentService::Stub agents(cluster_->ChannelWithKey(bob));
    grpc::ClientContext context;
    deadline(context);
    v1::GetAgentRequest request;
    request.set_name("writer");
    v1::AgentSpec got;
    ASSERT_TRUE(agents.GetAgent(&context, request, &got).ok());
    EXPECT_EQ(got.system(), "team b's writer");
  }
  // The admin key (every namespace) cancels alice's run; it ends where it was.
  EXPECT_TRUE(CancelWith(cluster_->admin_key(), run.run_id()).ok());
}

// Namespace quotas answer RESOURCE_EXHAUSTED with a retry delay in the standard
// status details, and set no limit on other namespaces.
TEST_F(AuthTest, ANamespaceOverItsCreateRateIsToldWhenToRetry) {
  {
    v1::NamespaceService::Stub namespaces(cluster_->ChannelWithKey(cluster_->admin_key()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::PutNamespaceRequest request;
    request.mutable_namespace_()->set_name("rated");
    request.mutable_namespace_()->mutable_quotas()->set_max_creates_per_second(0.5);
    v1::Namespace stored;
    ASSERT_TRUE(namespaces.PutNamespace(&context, request, &stored).ok());
    // An operator may not change quotas.
    v1::NamespaceService::Stub as_operator(cluster_->ChannelWithKey(CreateKey("oscar", "operator", {"rated"})));
    grpc::ClientContext refused_context;
    refused_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    EXPECT_EQ(as_operator.PutNamespace(&refused_context, request, &stored).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  v1::RunService::Stub runs(cluster_->ChannelWithKey(CreateKey("rachel", "operator", {"rated"})));
  auto create = [&]() {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CreateRunRequest request;
    *request.mutable_agent() = Cluster::Agent();
    request.set_input("rate me");
    v1::Run run;
    return runs.CreateRun(&context, request, &run);
  };
  ASSERT_TRUE(create().ok());
  grpc::Status over = create();
  ASSERT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << over.error_message();
  EXPECT_NE(over.error_message().find("max_creates_per_second"), std::string::npos) << over.error_message();
  std::optional<absl::Duration> delay = RetryDelay(over);
  ASSERT_TRUE(delay.has_value()) << "no google.rpc.RetryInfo in the status details";
  EXPECT_GT(*delay, absl::ZeroDuration());
  EXPECT_LE(*delay, absl::Seconds(2));
  // Meanwhile another namespace creates as it likes.
  {
    v1::RunService::Stub as_admin(cluster_->ChannelWithKey(cluster_->admin_key()));
    for (int i = 0; i < 3; ++i) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      v1::CreateRunRequest request;
      *request.mutable_agent() = Cluster::Agent();
      request.set_input("unlimited");
      v1::Run run;
      EXPECT_TRUE(as_admin.CreateRun(&context, request, &run).ok());
    }
  }
  // After the delay the namespace takes a run again.
  absl::SleepFor(*delay);
  EXPECT_TRUE(create().ok());
}

TEST_F(AuthTest, AWorkerKeyCannotCreateRunsAndAReaderKeyCannotPollTasks) {
  v1::RunService::Stub runs(cluster_->ChannelWithKey(cluster_->worker_key()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::CreateRunRequest request;
  *request.mutable_agent() = Cluster::Agent();
  request.set_input("hello");
  v1::Run run;
  grpc::Status status = runs.CreateRun(&context, request, &run);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(ListRunsWith(cluster_->worker_key()).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // No client role can take work: not a reader, not an operator, not an admin.
  for (const std::string role : {"reader", "operator", "admin"}) {
    v1::WorkerService::Stub workers(cluster_->ChannelWithKey(CreateKey(role + "-worker", role)));
    grpc::ClientContext poll_context;
    poll_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::PollTaskRequest poll;
    poll.set_worker_id("impostor");
    v1::PollTaskResponse task;
    status = workers.PollTask(&poll_context, poll, &task);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << role << ": " << status.error_message();
  }
}

// WhoAmI answers every role (the worker's included) with what the orchestrator takes
// the caller for; a reader may count runs as it may list them.
TEST_F(AuthTest, WhoAmIShowsEachCallersPrincipalRolesAndNamespaces) {
  auto who_am_i = [](const std::string& bearer, v1::WhoAmIResponse* who) {
    v1::IdentityService::Stub identity(cluster_->ChannelWithKey(bearer));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return identity.WhoAmI(&context, v1::WhoAmIRequest(), who);
  };
  const std::string reader = CreateKey("wanda", "reader", {"team-w", "default"});
  v1::WhoAmIResponse who;
  ASSERT_TRUE(who_am_i(reader, &who).ok());
  EXPECT_EQ(who.principal(), "wanda");
  EXPECT_EQ(std::vector<std::string>(who.roles().begin(), who.roles().end()), std::vector<std::string>{"reader"});
  EXPECT_EQ(std::vector<std::string>(who.namespaces().begin(), who.namespaces().end()),
            (std::vector<std::string>{"team-w", "default"}));
  EXPECT_TRUE(who.auth_enabled());

  who.Clear();
  ASSERT_TRUE(who_am_i(cluster_->admin_key(), &who).ok());
  EXPECT_EQ(who.principal(), "admin");
  EXPECT_EQ(std::vector<std::string>(who.roles().begin(), who.roles().end()), std::vector<std::string>{"admin"});
  EXPECT_EQ(std::vector<std::string>(who.namespaces().begin(), who.namespaces().end()),
            std::vector<std::string>{"*"});
  who.Clear();
  grpc::Status worker = who_am_i(cluster_->worker_key(), &who);
  ASSERT_TRUE(worker.ok()) << worker.error_message();
  EXPECT_EQ(std::vector<std::string>(who.roles().begin(), who.roles().end()), std::vector<std::string>{"worker"});
  std::string jwt = signer_->Token(kRs256Header, Claims({"operator"}));
  secrets_->push_back(jwt);
  who.Clear();
  ASSERT_TRUE(who_am_i(jwt, &who).ok());
  EXPECT_EQ(who.principal(), "jwt-user");
  EXPECT_EQ(std::vector<std::string>(who.roles().begin(), who.roles().end()), std::vector<std::string>{"operator"});

  EXPECT_EQ(who_am_i("", &who).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(who_am_i("bk_0123456789abcdef_" + std::string(64, 'a'), &who).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // A reader counts runs; a worker may not (it cannot read runs either).
  v1::Run run = cluster_->CreateRun("counted");
  for (const std::string& key : {reader, cluster_->worker_key()}) {
    v1::RunService::Stub runs(cluster_->ChannelWithKey(key));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::CountRunsResponse counts;
    grpc::Status status = runs.CountRuns(&context, v1::CountRunsRequest(), &counts);
    if (key == reader) {
      ASSERT_TRUE(status.ok()) << status.error_message();
      int64_t total = 0;
      for (const v1::StateCount& count : counts.counts()) total += count.count();
      EXPECT_GE(total, 1) << counts.DebugString();
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
    }
  }
  cluster_->WaitForEnd(run.run_id());
}

TEST_F(AuthTest, AnOperatorCannotCreateKeys) {
  v1::KeyService::Stub keys(cluster_->ChannelWithKey(CreateKey("olga", "operator")));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::CreateKeyRequest request;
  request.set_principal("escalated");
  request.add_roles("admin");
  v1::CreateKeyResponse created;
  grpc::Status status = keys.CreateKey(&context, request, &created);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("needs role admin"), std::string::npos) << status.error_message();
  EXPECT_TRUE(created.secret().empty());
}

TEST_F(AuthTest, ARevokedKeyIsRefused) {
  std::string key = CreateKey("rex", "reader");
  ASSERT_TRUE(ListRunsWith(key).ok());
  v1::KeyService::Stub keys(cluster_->ChannelWithKey(cluster_->admin_key()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::RevokeKeyRequest request;
  request.set_key_id(KeyId(key));
  v1::ApiKey revoked;
  ASSERT_TRUE(keys.RevokeKey(&context, request, &revoked).ok());
  EXPECT_TRUE(revoked.revoked());
  grpc::Status status = ListRunsWith(key);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("revoked"), std::string::npos) << status.error_message();
}

// Declared last: runs after the refusals above (gtest keeps declaration order).
TEST_F(AuthTest, AfterTheRefusalsTheServerServesAndTheAuditLogAndStorageHoldNoSecret) {
  v1::Run run = cluster_->CreateRun("hello after the refusals");
  EXPECT_EQ(cluster_->WaitForEnd(run.run_id()).state(), v1::SUCCEEDED);

  // The audit log: what changed state and what was refused, by whom, on what.
  std::vector<json> lines;
  ASSERT_TRUE(WaitUntil(
      [&] {
        lines.clear();
        std::istringstream in(ReadFile(cluster_->auth_audit_log()));
        for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
        for (const json& l : lines) {
          if (l["resource"] == run.run_id()) return true;
        }
        return false;
      },
      absl::Seconds(5)));
  // `ns`: the resource's namespace; KeyService calls have none.
  auto has = [&](const std::string& principal, const std::string& method, const std::string& result,
                 const std::string& resource, const std::string& ns = "default") {
    for (const json& l : lines) {
      if (l["principal"] == principal && l["method"] == method && l["result"] == result &&
          (resource.empty() || l["resource"] == resource) && l["namespace"] == ns && l.contains("time")) {
        return true;
      }
    }
    return false;
  };
  std::string all_lines;
  for (const json& l : lines) all_lines += l.dump() + "\n";
  SCOPED_TRACE(all_lines);
  EXPECT_TRUE(has("admin", "baton.v1.RunService/CreateRun", "OK", run.run_id()));
  EXPECT_TRUE(has("admin", "baton.v1.KeyService/CreateKey", "OK", "", ""));
  EXPECT_TRUE(has("admin", "baton.v1.KeyService/RevokeKey", "OK", "", ""));
  EXPECT_TRUE(has("alice", "baton.v1.RunService/CreateRun", "OK", "", "team-a"));
  EXPECT_TRUE(has("bob", "baton.v1.AgentService/PutAgent", "OK", "writer", "team-b"));
  EXPECT_TRUE(has("admin", "baton.v1.NamespaceService/PutNamespace", "OK", "rated", "rated"));
  EXPECT_TRUE(has("rita", "baton.v1.RunService/CancelRun", "PERMISSION_DENIED", ""));
  EXPECT_TRUE(has("otto", "baton.v1.RunService/CancelRun", "OK", ""));
  EXPECT_TRUE(has("test-workers", "baton.v1.RunService/CreateRun", "PERMISSION_DENIED", ""));
  EXPECT_TRUE(has("olga", "baton.v1.KeyService/CreateKey", "PERMISSION_DENIED", ""));
  for (const json& l : lines) {
    EXPECT_EQ(l["method"].get<std::string>().find("ListRuns"), std::string::npos) << "reads are not audited";
  }

  // No secret (API key secrets, JWTs) in the data directory's raw files (SST, WAL,
  // MANIFEST, LOG), the audit log or any log. The admin key file is where it belongs.
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(cluster_->dir())) {
    if (entry.is_regular_file() && entry.path().filename() != "admin.key") files.push_back(entry.path().string());
  }
  ASSERT_GT(files.size(), 5u);
  bool saw_sst_or_log = false;
  for (const std::string& file : files) {
    if (file.ends_with(".log") || file.ends_with(".sst") || file.find("MANIFEST") != std::string::npos) {
      saw_sst_or_log = true;
    }
    std::string bytes = ReadFile(file);
    for (const std::string& secret : *secrets_) {
      ASSERT_FALSE(secret.empty());
      // The secret part of a key (after its id), or the whole JWT.
      std::string needle = secret.starts_with("bk_") ? secret.substr(secret.rfind('_') + 1) : secret;
      EXPECT_EQ(bytes.find(needle), std::string::npos) << "a secret in " << file;
    }
  }
  EXPECT_TRUE(saw_sst_or_log);
}

}  // namespace
}  // namespace baton::testing
