// baton-console against a real stack (issue 14): an orchestrator with --auth and a
// bootstrap admin key, a worker, the simulator, and the console as its own process,
// driven over HTTP as a browser or curl would. What a user relies on: signing in sets
// an HttpOnly SameSite=Strict cookie and answers who they are; calls go through as
// JSON with the orchestrator's answers and errors (as HTTP statuses with JSON bodies);
// WatchRun streams a run's events to its end; a reader is refused what the
// orchestrator refuses it; nothing else is reachable; and no key reaches the log.
#include <curl/curl.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "baton/v1/auth.grpc.pb.h"
#include "tests/integration/cluster.h"
#include "tests/integration/prometheus_text.h"

namespace baton::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct HttpResult {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names, last value
  std::string body;
  json Json() const { return json::parse(body, nullptr, false); }
};

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t AppendHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    (*static_cast<std::map<std::string, std::string>*>(out))[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * n;
}

// One HTTP request; `headers` as "Name: value" lines. The whole body, up to `timeout`.
// A test failure unless curl completes it, or `code` (when given) gets curl's result.
HttpResult Http(const std::string& method, const std::string& url, const std::string& body = "",
                const std::vector<std::string>& headers = {}, absl::Duration timeout = absl::Seconds(30),
                CURLcode* code_out = nullptr) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST" || method == "DELETE") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  CURLcode code = curl_easy_perform(curl);
  if (code_out != nullptr) {
    *code_out = code;
  } else {
    EXPECT_EQ(code, CURLE_OK) << method << " " << url << ": " << curl_easy_strerror(code);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return result;
}

const std::string kJson = "Content-Type: application/json";

// An error body as the contract gives it, with the HTTP status of the gRPC code.
void ExpectError(const HttpResult& r, long status, const std::string& code, const std::string& message_part = "") {
  EXPECT_EQ(r.status, status) << r.body;
  json body = r.Json();
  ASSERT_TRUE(body.is_object() && body.contains("error")) << r.body;
  EXPECT_EQ(body["error"].value("code", 0), status) << r.body;
  EXPECT_EQ(body["error"].value("status", ""), code) << r.body;
  EXPECT_NE(body["error"].value("message", "").find(message_part), std::string::npos) << r.body;
  EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "", "application/json");
}

// One server-sent event.
struct Sse {
  std::string event, id, data;
};

std::vector<Sse> ParseSse(const std::string& stream) {
  std::vector<Sse> events;
  Sse current;
  for (absl::string_view line : absl::StrSplit(stream, '\n')) {
    if (line.empty()) {
      if (!current.event.empty() || !current.data.empty()) events.push_back(current);
      current = Sse();
    } else if (absl::StartsWith(line, "event: ")) {
      current.event = std::string(line.substr(7));
    } else if (absl::StartsWith(line, "id: ")) {
      current.id = std::string(line.substr(4));
    } else if (absl::StartsWith(line, "data: ")) {
      current.data += std::string(line.substr(6));
    }
  }
  return events;
}

class ConsoleGatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ClusterOptions options;
    options.auth = true;
    options.workers = 1;
    options.metrics = true;  // baton_watchers: the orchestrator's open WatchRun streams
    cluster_ = new Cluster(options);
    cluster_->Start();
    // The front end, as console_web would build it: the test's own files.
    static_dir_ = new std::string(cluster_->dir() + "/console-static");
    fs::create_directories(*static_dir_);
    std::ofstream(*static_dir_ + "/index.html") << "<!doctype html><script src=\"/app-3F2A9B1C.js\"></script>";
    std::ofstream(*static_dir_ + "/app-3F2A9B1C.js") << "console.log('hashed');";
    std::ofstream(*static_dir_ + "/app.css") << "body {}";
    console_ = StartConsole(*static_dir_, "console").release();
    url_ = new std::string(absl::StrCat("http://127.0.0.1:", console_port_));
    reader_key_ = new std::string(CreateKey("rita", "reader"));
  }
  static void TearDownTestSuite() {
    delete console_;
    delete cluster_;
    delete url_;
    delete static_dir_;
    delete reader_key_;
  }

  // A baton-console for the cluster's orchestrator; its port in console_port_.
  static std::unique_ptr<Process> StartConsole(const std::string& static_dir, const std::string& name) {
    const std::string port_file = cluster_->dir() + "/" + name + ".port";
    auto process = std::make_unique<Process>(
        Cluster::Bin("baton-console"),
        std::vector<std::string>{"--orchestrator=" + cluster_->address(), "--listen=127.0.0.1:0",
                                 "--port-file=" + port_file, "--static-dir=" + static_dir,
                                 "--sse-ping-seconds=1"},
        std::map<std::string, std::string>{}, cluster_->dir() + "/" + name + ".log");
    console_port_ = WaitForPortFile(port_file, absl::Seconds(30));
    return process;
  }

  static std::string CreateKey(const std::string& principal, const std::string& role) {
    v1::KeyService::Stub keys(cluster_->ChannelWithKey(cluster_->admin_key()));
    grpc::ClientContext context;
    SetDeadline(context);
    v1::CreateKeyRequest request;
    request.set_principal(principal);
    request.add_roles(role);
    v1::CreateKeyResponse created;
    grpc::Status status = keys.CreateKey(&context, request, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return created.secret();
  }

  // Signs in with `token`; the cookie header to send afterwards ("" on failure).
  static std::string SignIn(const std::string& token, json* who = nullptr) {
    HttpResult r = Http("POST", *url_ + "/api/session", json{{"token", token}}.dump(), {kJson});
    EXPECT_EQ(r.status, 200) << r.body;
    if (who != nullptr) *who = r.Json();
    const std::string set_cookie = r.headers.count("set-cookie") ? r.headers.at("set-cookie") : "";
    return "Cookie: " + set_cookie.substr(0, set_cookie.find(';'));
  }

  static HttpResult Call(const std::string& method, const json& request, const std::string& cookie) {
    return Http("POST", *url_ + "/api/v1/" + method, request.dump(), {kJson, cookie});
  }

  static json RunRequest(const std::string& input) {
    json agent = {{"name", "tester"}, {"model", "claude-sonnet-4-5"}, {"allowedTools", {"echo", "sum"}}};
    return {{"agent", agent}, {"input", input}, {"labels", {{"via", "console"}}}};
  }

  static Cluster* cluster_;
  static Process* console_;
  static int console_port_;
  static std::string* url_;
  static std::string* static_dir_;
  static std::string* reader_key_;
};

Cluster* ConsoleGatewayTest::cluster_ = nullptr;
Process* ConsoleGatewayTest::console_ = nullptr;
int ConsoleGatewayTest::console_port_ = 0;
std::string* ConsoleGatewayTest::url_ = nullptr;
std::string* ConsoleGatewayTest::static_dir_ = nullptr;
std::string* ConsoleGatewayTest::reader_key_ = nullptr;

TEST_F(ConsoleGatewayTest, SignInSetsAnHttpOnlyStrictCookieAndAnswersWhoAmI) {
  HttpResult r = Http("POST", *url_ + "/api/session", json{{"token", cluster_->admin_key()}}.dump(), {kJson});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().value("principal", ""), "admin") << r.body;
  EXPECT_EQ(r.Json()["roles"], json::array({"admin"})) << r.body;
  EXPECT_EQ(r.Json().value("authEnabled", false), true) << r.body;
  const std::string set_cookie = r.headers["set-cookie"];
  EXPECT_TRUE(std::regex_match(set_cookie, std::regex("baton_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=/")))
      << set_cookie;
  EXPECT_EQ(r.body.find(cluster_->admin_key()), std::string::npos) << "the key is not echoed to the page";

  const std::string cookie = "Cookie: " + set_cookie.substr(0, set_cookie.find(';'));
  HttpResult who = Http("GET", *url_ + "/api/session", "", {cookie});
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_EQ(who.Json().value("principal", ""), "admin");

  ExpectError(Http("POST", *url_ + "/api/session", json{{"token", "bk_0123456789abcdef_" + std::string(64, 'a')}}.dump(),
                   {kJson}),
              401, "UNAUTHENTICATED");
  ExpectError(Http("POST", *url_ + "/api/session", R"({"key": "x"})", {kJson}), 400, "INVALID_ARGUMENT", "token");
  ExpectError(Http("GET", *url_ + "/api/session"), 401, "UNAUTHENTICATED");

  // Signing out ends the session: the cookie no longer stands for the key.
  HttpResult out = Http("DELETE", *url_ + "/api/session", "", {kJson, cookie});
  EXPECT_EQ(out.status, 204);
  EXPECT_TRUE(absl::StrContains(out.headers["set-cookie"], "Max-Age=0")) << out.headers["set-cookie"];
  ExpectError(Http("GET", *url_ + "/api/session", "", {cookie}), 401, "UNAUTHENTICATED");
  ExpectError(Call("RunService/CountRuns", json::object(), cookie), 401, "UNAUTHENTICATED");
}

TEST_F(ConsoleGatewayTest, CreateRunAndGetRunRoundTripAsProtobufJson) {
  const std::string cookie = SignIn(cluster_->admin_key());
  HttpResult created = Call("RunService/CreateRun", RunRequest("What is 2 + 3?"), cookie);
  ASSERT_EQ(created.status, 200) << created.body;
  const json run = created.Json();
  const std::string run_id = run.value("runId", "");
  ASSERT_FALSE(run_id.empty()) << created.body;
  EXPECT_EQ(run["labels"], json({{"via", "console"}}));
  EXPECT_EQ(run.value("state", ""), "QUEUED") << "enums by name";

  json got;
  ASSERT_TRUE(WaitUntil(
      [&] {
        HttpResult r = Call("RunService/GetRun", {{"run_id", run_id}}, cookie);  // snake_case is accepted too
        got = r.Json();
        return r.status == 200 && got.value("state", "") == "SUCCEEDED";
      },
      absl::Seconds(60)))
      << got.dump();
  EXPECT_EQ(got.value("runId", ""), run_id);
  EXPECT_EQ(got.value("input", ""), "What is 2 + 3?");
  // The same run as gRPC clients see it.
  EXPECT_EQ(cluster_->GetRun(run_id).state(), v1::SUCCEEDED);

  HttpResult counted = Call("RunService/CountRuns", {{"labels", {{"via", "console"}}}}, cookie);
  ASSERT_EQ(counted.status, 200) << counted.body;
  EXPECT_TRUE(absl::StrContains(counted.body, R"({"state":"SUCCEEDED","count":")")) << counted.body;
}

TEST_F(ConsoleGatewayTest, WatchRunDeliversTheRunsEventsToTheEnd) {
  const std::string cookie = SignIn(cluster_->admin_key());
  HttpResult created = Call("RunService/CreateRun", RunRequest("Echo hello, then add 1 and 2."), cookie);
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string run_id = created.Json().value("runId", "");

  HttpResult stream = Http("GET", *url_ + "/api/v1/RunService/WatchRun?runId=" + run_id + "&liveText=true", "",
                           {cookie}, absl::Seconds(90));
  ASSERT_EQ(stream.status, 200) << stream.body;
  EXPECT_EQ(stream.headers["content-type"], "text/event-stream");
  std::vector<Sse> events = ParseSse(stream.body);
  ASSERT_GE(events.size(), 3u) << stream.body;
  EXPECT_EQ(events.back().event, "end") << stream.body;
  EXPECT_EQ(json::parse(events.back().data, nullptr, false), json({{"code", "OK"}})) << events.back().data;

  // Every durable event, in order, with its seq as the id; live ones without an id.
  std::vector<int64_t> seqs;
  std::string last_state;
  for (const Sse& e : std::vector<Sse>(events.begin(), events.end() - 1)) {
    EXPECT_EQ(e.event, "run");
    json event = json::parse(e.data, nullptr, false);
    ASSERT_TRUE(event.is_object()) << e.data;
    const int64_t seq = event.contains("seq") ? std::stoll(event["seq"].get<std::string>()) : 0;
    if (seq == 0) {
      EXPECT_EQ(e.id, "") << e.data;
      continue;
    }
    EXPECT_EQ(e.id, std::to_string(seq));
    seqs.push_back(seq);
    if (event.contains("stateChanged")) last_state = event["stateChanged"].value("state", "");
  }
  std::vector<int64_t> expected;
  for (const v1::RunEvent& e : cluster_->Events(run_id)) expected.push_back(e.seq());
  EXPECT_EQ(seqs, expected);
  EXPECT_EQ(last_state, "SUCCEEDED");

  // Last-Event-ID (an EventSource reconnecting) resumes after that event.
  HttpResult resumed = Http("GET", *url_ + "/api/v1/RunService/WatchRun?runId=" + run_id, "",
                            {cookie, "Last-Event-ID: " + std::to_string(expected[expected.size() - 2])});
  std::vector<Sse> tail = ParseSse(resumed.body);
  ASSERT_EQ(tail.size(), 2u) << resumed.body;
  EXPECT_EQ(tail[0].id, std::to_string(expected.back()));
  EXPECT_EQ(tail[1].event, "end");

  // An unknown run ends the stream at once with the error.
  HttpResult unknown = Http("GET", *url_ + "/api/v1/RunService/WatchRun?runId=run_00000000000000000000", "", {cookie});
  std::vector<Sse> end = ParseSse(unknown.body);
  ASSERT_EQ(end.size(), 1u) << unknown.body;
  EXPECT_EQ(end[0].event, "end");
  EXPECT_EQ(json::parse(end[0].data, nullptr, false)["error"].value("status", ""), "NOT_FOUND") << end[0].data;
  ExpectError(Http("GET", *url_ + "/api/v1/RunService/WatchRun", "", {cookie}), 400, "INVALID_ARGUMENT", "runId");
}

TEST_F(ConsoleGatewayTest, BadRequestsGetJsonErrorsWithTheStatusOfTheGrpcCode) {
  const std::string cookie = SignIn(cluster_->admin_key());
  ExpectError(Call("RunService/GetRun", {{"runId", "run_00000000000000000000"}}, cookie), 404, "NOT_FOUND",
              "run_00000000000000000000");
  ExpectError(Http("POST", *url_ + "/api/v1/RunService/GetRun", R"({"runId": )", {kJson, cookie}), 400,
              "INVALID_ARGUMENT", "malformed JSON: parse error at line 1, column 11");
  ExpectError(Call("RunService/GetRun", {{"runIdd", "x"}}, cookie), 400, "INVALID_ARGUMENT", "runIdd");
  ExpectError(Call("RunService/ListRuns", {{"state", "NOT_A_STATE"}}, cookie), 400, "INVALID_ARGUMENT", "state");
  // The orchestrator's own refusal of bad input.
  ExpectError(Call("RunService/ListRuns", {{"pageSize", 5000}}, cookie), 400, "INVALID_ARGUMENT", "page_size");

  // Credentials: none, a wrong one in a header (which wins over the cookie).
  ExpectError(Call("RunService/ListRuns", json::object(), "X-No-Cookie: 1"), 401, "UNAUTHENTICATED");
  ExpectError(Http("POST", *url_ + "/api/v1/RunService/ListRuns", "{}",
                   {kJson, cookie, "Authorization: Bearer bk_0123456789abcdef_" + std::string(64, 'b')}),
              401, "UNAUTHENTICATED");
  // A good key in the header, without a session: a non-browser client.
  HttpResult with_header = Http("POST", *url_ + "/api/v1/IdentityService/WhoAmI", "{}",
                                {kJson, "Authorization: Bearer " + cluster_->admin_key()});
  EXPECT_EQ(with_header.status, 200) << with_header.body;

  // What is not exposed is not there.
  for (const char* method : {"WorkerService/PollTask", "KeyService/CreateKey", "AdminService/Backup",
                             "ToolService/CallTool", "RunService/NoSuchMethod", "RunService/WatchRun"}) {
    HttpResult r = Call(method, json::object(), cookie);
    if (std::string(method) == "RunService/WatchRun") {
      EXPECT_EQ(r.status, 405) << "WatchRun is GET (server-sent events): " << r.body;
    } else {
      ExpectError(r, 404, "NOT_FOUND");
    }
  }
  ExpectError(Http("GET", *url_ + "/api/nothing"), 404, "NOT_FOUND");
  // CSRF: a state-changing request must be JSON; a cross-site form cannot send that.
  ExpectError(Http("POST", *url_ + "/api/v1/RunService/CreateRun", RunRequest("x").dump(),
                   {"Content-Type: application/x-www-form-urlencoded", cookie}),
              415, "INVALID_ARGUMENT", "Content-Type");
  ExpectError(Http("POST", *url_ + "/api/session", json{{"token", cluster_->admin_key()}}.dump(),
                   {"Content-Type: text/plain"}),
              415, "INVALID_ARGUMENT");
  HttpResult get = Http("GET", *url_ + "/api/v1/RunService/GetRun", "", {cookie});
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.headers["allow"], "POST");
  ExpectError(Http("POST", *url_ + "/api/v1/RunService/CreateRun", std::string(5 << 20, ' '), {kJson, cookie}), 413,
              "INVALID_ARGUMENT", "4 MiB");
}

TEST_F(ConsoleGatewayTest, AReaderSeesButTheOrchestratorRefusesItsCancel) {
  json who;
  const std::string reader = SignIn(*reader_key_, &who);
  EXPECT_EQ(who.value("principal", ""), "rita");
  EXPECT_EQ(who["roles"], json::array({"reader"}));
  EXPECT_EQ(Call("RunService/CountRuns", json::object(), reader).status, 200);

  v1::Run run = cluster_->CreateRun("[sim sleep_ms=3000] take your time");
  ExpectError(Call("RunService/CancelRun", {{"runId", run.run_id()}, {"reason", "reader tries"}}, reader), 403,
              "PERMISSION_DENIED", "needs role operator");
  ExpectError(Call("RunService/CreateRun", RunRequest("no"), reader), 403, "PERMISSION_DENIED");
  HttpResult got = Call("RunService/GetRun", {{"runId", run.run_id()}}, reader);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_NE(got.Json().value("state", ""), "CANCELLED") << got.body;
  EXPECT_EQ(cluster_->WaitForEnd(run.run_id()).state(), v1::SUCCEEDED) << "the refused cancel changed nothing";
}

TEST_F(ConsoleGatewayTest, StaticFilesComeWithTheSecurityHeadersAndClientRoutesGetThePage) {
  HttpResult index = Http("GET", *url_ + "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_TRUE(absl::StrContains(index.body, "app-3F2A9B1C.js"));
  EXPECT_EQ(index.headers["cache-control"], "no-cache");
  EXPECT_TRUE(absl::StartsWith(index.headers["content-security-policy"], "default-src 'self'"))
      << index.headers["content-security-policy"];
  EXPECT_EQ(index.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(index.headers["referrer-policy"], "no-referrer");
  EXPECT_EQ(Http("GET", *url_ + "/runs/default/run_0123").body, index.body) << "a client-side route";
  HttpResult hashed = Http("GET", *url_ + "/app-3F2A9B1C.js");
  EXPECT_EQ(hashed.status, 200);
  EXPECT_TRUE(absl::StartsWith(hashed.headers["content-type"], "text/javascript"));
  EXPECT_TRUE(absl::StrContains(hashed.headers["cache-control"], "immutable"));
  EXPECT_EQ(Http("GET", *url_ + "/app.css").headers["cache-control"], "no-cache");
  EXPECT_EQ(Http("GET", *url_ + "/missing.js").status, 404);
  // The console's log is next to the static directory: not reachable through it.
  HttpResult escape = Http("GET", *url_ + "/..%2fconsole.log");
  EXPECT_FALSE(absl::StrContains(escape.body, "serving http://")) << escape.status << " " << escape.body;
  EXPECT_EQ(Http("POST", *url_ + "/", "{}", {kJson}).status, 405);

  // A console without a built front end says so, and its API still works.
  const std::string empty = cluster_->dir() + "/no-front-end";
  fs::create_directories(empty);
  const int main_port = console_port_;
  std::unique_ptr<Process> bare = StartConsole(empty, "console-bare");
  const std::string bare_url = absl::StrCat("http://127.0.0.1:", console_port_);
  console_port_ = main_port;
  HttpResult page = Http("GET", bare_url + "/");
  EXPECT_EQ(page.status, 503);
  EXPECT_TRUE(absl::StrContains(page.body, "console_web")) << page.body;
  EXPECT_EQ(Http("POST", bare_url + "/api/v1/IdentityService/WhoAmI", "{}",
                 {kJson, "Authorization: Bearer " + cluster_->admin_key()})
                .status,
            200);
}

// A browser that leaves a live view ends the orchestrator's WatchRun: the console
// notices at its next write (a ping, every second here) and cancels the call, rather
// than holding it until the run ends.
TEST_F(ConsoleGatewayTest, ABrowserThatLeavesEndsTheWatchAtTheOrchestrator) {
  const std::string cookie = SignIn(cluster_->admin_key());
  v1::Run run = cluster_->CreateRun("[sim sleep_ms=40000] a long first step");
  auto watchers = [] {
    absl::StatusOr<Exposition> metrics = ScrapeMetrics(cluster_->orchestrator_metrics_port());
    return metrics.ok() ? metrics->Value("baton_watchers").value_or(-1) : -1;
  };
  const double before = watchers();
  ASSERT_GE(before, 0);
  HttpResult partial;
  CURLcode code = CURLE_OK;
  std::thread browser([&] {
    // Gives up after 6 s, as a closed tab would: the run is still in its first step.
    partial = Http("GET", *url_ + "/api/v1/RunService/WatchRun?runId=" + run.run_id(), "", {cookie},
                   absl::Seconds(6), &code);
  });
  EXPECT_TRUE(WaitUntil([&] { return watchers() == before + 1; }, absl::Seconds(5))) << "the watch reached it";
  browser.join();
  EXPECT_EQ(code, CURLE_OPERATION_TIMEDOUT) << curl_easy_strerror(code);
  EXPECT_TRUE(absl::StrContains(partial.body, "event: run")) << partial.body;
  EXPECT_TRUE(absl::StrContains(partial.body, ": ping")) << partial.body;
  EXPECT_TRUE(WaitUntil([&] { return watchers() == before; }, absl::Seconds(15)))
      << "the orchestrator still streams to a browser that left: " << watchers() << " watchers";
  EXPECT_NE(cluster_->GetRun(run.run_id()).state(), v1::SUCCEEDED) << "the run outlived the test's watch";
}

// `baton up` starts the console with the stack, records its URL in stack.json, and
// `baton status` prints it with the admin key's file; the key signs in there.
TEST_F(ConsoleGatewayTest, BatonUpStartsTheConsoleAndBatonStatusSaysWhereAndWithWhatToSignIn) {
  const std::string data_dir = cluster_->dir() + "/up";
  const std::map<std::string, std::string> env = {{"ANTHROPIC_API_KEY", ""}, {"BATON_API_KEY", ""}};
  std::string output;
  ASSERT_EQ(RunCommand({Cluster::Bin("baton"), "up", "--detach", "--data-dir", data_dir, "--port", "0", "--workers",
                        "0"},
                       env, &output, absl::Seconds(120)),
            0)
      << output;
  const json stack = json::parse(ReadFile(data_dir + "/stack.json"), nullptr, false);
  const std::string console_url = stack.value("console_url", "");
  const std::string key_file = stack.value("api_key_file", "");
  EXPECT_TRUE(absl::StartsWith(console_url, "http://127.0.0.1:")) << stack.dump();
  EXPECT_TRUE(absl::StrContains(output, "Web console: " + console_url + "/")) << output;
  EXPECT_TRUE(absl::StrContains(output, key_file)) << output;

  std::string status;
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "status", "--data-dir", data_dir}, env, &status), 0) << status;
  EXPECT_TRUE(absl::StrContains(status, console_url)) << status;
  EXPECT_TRUE(absl::StrContains(status, key_file)) << status;
  EXPECT_TRUE(std::regex_search(status, std::regex("console +pid [0-9]+ +running"))) << status;

  if (!console_url.empty()) {
    ExpectError(Http("GET", console_url + "/api/session"), 401, "UNAUTHENTICATED");
    std::string key = ReadFile(key_file);
    key = std::string(absl::StripAsciiWhitespace(key));
    HttpResult signed_in = Http("POST", console_url + "/api/session", json{{"token", key}}.dump(), {kJson});
    EXPECT_EQ(signed_in.status, 200) << signed_in.body;
    EXPECT_EQ(signed_in.Json().value("principal", ""), "admin") << signed_in.body;
  }
  std::string down;
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "down", "--data-dir", data_dir}, env, &down), 0) << down;
  EXPECT_NE(RunCommand({Cluster::Bin("baton"), "status", "--data-dir", data_dir}, env, &status), 0) << status;
}

// Declared last: after the sign-ins and refusals above.
TEST_F(ConsoleGatewayTest, NoKeyReachesTheConsolesLog) {
  const std::string log = ReadFile(cluster_->dir() + "/console.log");
  EXPECT_TRUE(absl::StrContains(log, "signed in")) << log;
  for (const std::string& secret : {cluster_->admin_key(), *reader_key_}) {
    ASSERT_FALSE(secret.empty());
    EXPECT_EQ(log.find(secret.substr(secret.size() - 24)), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace baton::testing
