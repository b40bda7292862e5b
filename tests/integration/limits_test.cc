// Limits on input (docs/operations.md, "Limits") against a real orchestrator, from a
// client with gRPC's default settings (a 4 MiB receive limit), as a user's own client
// would be: what is over a limit is refused with a message naming the limit and its
// flag, and listings come in pages that client can read.
#include <set>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

// A channel as a user's client makes it: gRPC's defaults, so it receives at most 4 MiB.
std::shared_ptr<grpc::Channel> DefaultClientChannel(const Cluster& cluster) {
  return grpc::CreateChannel(cluster.address(), grpc::InsecureChannelCredentials());
}

grpc::Status Create(v1::RunService::Stub& runs, const std::string& input, v1::Run* run) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::CreateRunRequest request;
  *request.mutable_agent() = Cluster::Agent();
  request.set_input(input);
  return runs.CreateRun(&ctx, request, run);
}

// Every page of ListRuns (no filter, default page size), following next_page_token.
// Fails the test if a page cannot be read.
std::vector<v1::ListRunsResponse> ListAllRuns(v1::RunService::Stub& runs, v1::RunView view) {
  std::vector<v1::ListRunsResponse> pages;
  std::string token;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ListRunsRequest request;
    request.set_view(view);
    request.set_page_token(token);
    v1::ListRunsResponse page;
    grpc::Status s = runs.ListRuns(&ctx, request, &page);
    EXPECT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    if (!s.ok() || pages.size() > 100) break;
    token = page.next_page_token();
    pages.push_back(std::move(page));
  } while (!token.empty());
  return pages;
}

TEST(LimitsTest, TooBigInputIsRefusedAndBigRunsAreListedInPagesADefaultClientReads) {
  ClusterOptions options;
  options.workers = 0;  // the runs stay queued: listing is what is tested
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  auto runs = v1::RunService::NewStub(DefaultClientChannel(cluster));

  // 9 MiB: over --max-input-bytes (8 MiB), under the server's gRPC receive limit, so
  // the refusal is the orchestrator's and says which limit.
  v1::Run run;
  grpc::Status s = Create(*runs, std::string(9 << 20, 'x'), &run);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message(), "input: 9437184 bytes is over the limit of 8388608 (--max-input-bytes)");

  // Three runs of 3 MB inputs: 9 MB together, more than the client can receive at once.
  std::set<std::string> created;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Create(*runs, std::string(3'000'000, static_cast<char>('a' + i)), &run).ok());
    created.insert(run.run_id());
  }
  // A plain ListRuns (view BASIC): one page with all three, each a bounded summary.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ListRunsResponse page;
    s = runs->ListRuns(&ctx, v1::ListRunsRequest(), &page);
    ASSERT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    ASSERT_EQ(page.runs_size(), 3);
    EXPECT_EQ(page.next_page_token(), "");
    std::set<std::string> summarized;
    for (const v1::Run& r : page.runs()) {
      summarized.insert(r.run_id());
      EXPECT_EQ(r.view(), v1::BASIC);
      EXPECT_EQ(r.input().size(), 256u) << "a preview, not 3 MB";
      EXPECT_EQ(r.agent().model(), Cluster::Agent().model());
    }
    EXPECT_EQ(summarized, created);
  }
  // view FULL: whole runs, in pages the client can read.
  const std::vector<v1::ListRunsResponse> pages = ListAllRuns(*runs, v1::FULL);
  std::set<std::string> listed;
  for (const v1::ListRunsResponse& page : pages) {
    EXPECT_LE(page.ByteSizeLong(), size_t{4} << 20);
    for (const v1::Run& r : page.runs()) {
      EXPECT_TRUE(listed.insert(r.run_id()).second) << r.run_id() << " listed twice";
      EXPECT_EQ(r.input().size(), 3'000'000u);  // whole runs, not cut
      EXPECT_EQ(r.view(), v1::RUN_VIEW_UNSPECIFIED);
    }
  }
  EXPECT_EQ(listed, created);
  EXPECT_GT(pages.size(), 1u) << "the page was not split";
}

TEST(LimitsTest, TooBigAgentSpecIsRefusedAndBigAgentsAreListedInPages) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  auto agents = v1::AgentService::NewStub(DefaultClientChannel(cluster));

  auto put = [&](const std::string& name, size_t system_bytes) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::PutAgentRequest request;
    *request.mutable_agent() = Cluster::Agent();
    request.mutable_agent()->set_name(name);
    request.mutable_agent()->set_system(std::string(system_bytes, 's'));
    v1::PutAgentResponse response;
    return agents->PutAgent(&ctx, request, &response);
  };
  grpc::Status s = put("too-big", 1'500'000);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_EQ(s.error_message().rfind("agent: ", 0), 0u) << s.error_message();
  EXPECT_NE(s.error_message().find(" bytes is over the limit of 1048576 (--max-spec-bytes)"), std::string::npos)
      << s.error_message();

  // Five agents of 900 KB: 4.5 MB together.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(put("big-" + std::to_string(i), 900'000).ok());
  std::set<std::string> listed;
  int pages = 0;
  std::string token;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ListAgentsRequest request;
    request.set_page_token(token);
    v1::ListAgentsResponse page;
    s = agents->ListAgents(&ctx, request, &page);
    ASSERT_TRUE(s.ok()) << s.error_code() << ": " << s.error_message();
    ++pages;
    EXPECT_LE(page.ByteSizeLong(), size_t{4} << 20);
    for (const v1::AgentSpec& agent : page.agents()) listed.insert(agent.name());
    token = page.next_page_token();
  } while (!token.empty() && pages < 100);
  EXPECT_EQ(listed, (std::set<std::string>{"big-0", "big-1", "big-2", "big-3", "big-4"}));
  EXPECT_GT(pages, 1) << "the page was not split";
}

TEST(LimitsTest, LimitsAreSetByFlags) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  options.orchestrator_args = {"--max-input-bytes=1000", "--max-page-bytes=3000"};
  Cluster cluster(options);
  cluster.Start();
  auto runs = v1::RunService::NewStub(DefaultClientChannel(cluster));

  v1::Run run;
  grpc::Status s = Create(*runs, std::string(1001, 'x'), &run);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "input: 1001 bytes is over the limit of 1000 (--max-input-bytes)");
  std::set<std::string> created;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Create(*runs, std::string(1000, 'x'), &run).ok());
    created.insert(run.run_id());
  }
  // A whole run is about 1.1 KB and 3000 bytes leave room for one per page.
  const std::vector<v1::ListRunsResponse> pages = ListAllRuns(*runs, v1::FULL);
  std::set<std::string> listed;
  for (const v1::ListRunsResponse& page : pages) {
    EXPECT_LE(page.ByteSizeLong(), 3000u);
    for (const v1::Run& r : page.runs()) listed.insert(r.run_id());
  }
  EXPECT_EQ(listed, created);
  EXPECT_EQ(pages.size(), 3u);
}

}  // namespace
}  // namespace baton::testing
