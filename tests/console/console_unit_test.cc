// The console's pure parts: sessions (on a fake clock), the gRPC→HTTP error mapping,
// which methods the gateway reaches, server-sent event framing, WatchRun's query, and
// static files.
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/grpc_status.h"
#include "console/exposed_services.h"
#include "console/http_errors.h"
#include "console/sessions.h"
#include "console/static_files.h"
#include "console/watch_stream.h"

namespace baton::console {
namespace {

std::string HeaderOf(const HttpResponse& response, const std::string& name) {
  for (const auto& [n, v] : response.headers) {
    if (n == name) return v;
  }
  return "";
}

TEST(SessionStoreTest, ASessionHoldsItsTokenUntilIdleFor12HoursOrDeleted) {
  FakeClock clock;
  SessionStore sessions(clock);
  const std::string id = sessions.Create("bk_key");
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{64}"))) << id;
  EXPECT_NE(sessions.Create("bk_key"), id) << "each sign-in gets its own id";
  EXPECT_EQ(sessions.Token(id).value_or(""), "bk_key");
  clock.Advance(absl::Hours(11));
  EXPECT_TRUE(sessions.Token(id).has_value()) << "used: the idle time starts again";
  clock.Advance(absl::Hours(11));
  EXPECT_TRUE(sessions.Token(id).has_value());
  clock.Advance(absl::Hours(12));
  EXPECT_FALSE(sessions.Token(id).has_value()) << "idle for 12 h";
  const std::string other = sessions.Create("bk_other");
  sessions.Delete(other);
  EXPECT_FALSE(sessions.Token(other).has_value());
  EXPECT_FALSE(sessions.Token("").has_value());
}

TEST(SessionStoreTest, PastItsBoundSigningInEndsTheLeastRecentlyUsedSession) {
  FakeClock clock;
  SessionStore sessions(clock, SessionOptions{absl::Hours(12), 2});
  const std::string a = sessions.Create("a");
  clock.Advance(absl::Seconds(1));
  const std::string b = sessions.Create("b");
  clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(sessions.Token(a).has_value());  // a is now the more recently used
  sessions.Create("c");
  EXPECT_EQ(sessions.size(), 2u);
  EXPECT_TRUE(sessions.Token(a).has_value());
  EXPECT_FALSE(sessions.Token(b).has_value());
}

TEST(SessionCookieTest, IsHttpOnlyStrictAndFoundAmongOthers) {
  EXPECT_EQ(SessionCookie("abc", false), "baton_session=abc; HttpOnly; SameSite=Strict; Path=/");
  EXPECT_EQ(SessionCookie("abc", true), "baton_session=abc; HttpOnly; SameSite=Strict; Path=/; Secure");
  EXPECT_EQ(SessionCookie("", false), "baton_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
  EXPECT_EQ(CookieValue("theme=dark; baton_session=abc; x=1", "baton_session"), "abc");
  EXPECT_EQ(CookieValue("baton_session_old=zzz", "baton_session"), "");
  EXPECT_EQ(CookieValue("", "baton_session"), "");
}

TEST(HttpErrorsTest, EachGrpcCodeHasItsHttpStatusAndTheBodyNamesIt) {
  const std::pair<absl::StatusCode, int> cases[] = {
      {absl::StatusCode::kInvalidArgument, 400}, {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kOutOfRange, 400},      {absl::StatusCode::kUnauthenticated, 401},
      {absl::StatusCode::kPermissionDenied, 403}, {absl::StatusCode::kNotFound, 404},
      {absl::StatusCode::kAlreadyExists, 409},   {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kResourceExhausted, 429}, {absl::StatusCode::kCancelled, 499},
      {absl::StatusCode::kUnimplemented, 501},   {absl::StatusCode::kUnavailable, 503},
      {absl::StatusCode::kDeadlineExceeded, 504}, {absl::StatusCode::kInternal, 500},
      {absl::StatusCode::kDataLoss, 500},        {absl::StatusCode::kUnknown, 500}};
  for (const auto& [code, http] : cases) {
    HttpResponse response = ErrorResponse(absl::Status(code, "what went wrong"));
    EXPECT_EQ(response.status, http) << absl::StatusCodeToString(code);
    nlohmann::json body = nlohmann::json::parse(response.body);
    EXPECT_EQ(body["error"]["code"], http);
    EXPECT_EQ(body["error"]["status"], absl::StatusCodeToString(code));
    EXPECT_EQ(body["error"]["message"], "what went wrong");
  }
  HttpResponse limited = ErrorResponse(WithRetryDelay(absl::ResourceExhaustedError("slow down"), absl::Milliseconds(1500)));
  EXPECT_EQ(HeaderOf(limited, "Retry-After"), "2");
  HttpResponse unsupported = ErrorResponse(absl::InvalidArgumentError("not JSON"), 415);
  EXPECT_EQ(unsupported.status, 415);
  EXPECT_EQ(nlohmann::json::parse(unsupported.body)["error"]["code"], 415);
  // A message with invalid UTF-8 (echoed input) is still a JSON body.
  EXPECT_FALSE(nlohmann::json::parse(ErrorResponse(absl::NotFoundError("run \xff")).body, nullptr, false).is_discarded());
}

TEST(ExposedServicesTest, OnlyTheUnaryMethodsOfTheFiveClientServices) {
  for (const auto& [service, method] : std::set<std::pair<std::string, std::string>>{
           {"RunService", "GetRun"}, {"RunService", "CountRuns"}, {"RunService", "DecideApproval"},
           {"AgentService", "PutAgent"}, {"GraphService", "ListGraphs"}, {"NamespaceService", "ListNamespaces"},
           {"IdentityService", "WhoAmI"}}) {
    absl::StatusOr<const google::protobuf::MethodDescriptor*> found = FindUnaryMethod(service, method);
    ASSERT_TRUE(found.ok()) << service << "." << method << ": " << found.status();
    EXPECT_EQ((*found)->full_name(), "baton.v1." + service + "." + method);
  }
  for (const auto& [service, method] : std::set<std::pair<std::string, std::string>>{
           {"WorkerService", "PollTask"}, {"KeyService", "CreateKey"}, {"AdminService", "Backup"},
           {"ToolService", "CallTool"}, {"RunService", "Nope"}, {"baton.v1.RunService", "GetRun"}, {"", ""}}) {
    EXPECT_EQ(FindUnaryMethod(service, method).status().code(), absl::StatusCode::kNotFound) << service << "." << method;
  }
  absl::Status streaming = FindUnaryMethod("RunService", "WatchRun").status();
  EXPECT_EQ(streaming.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(streaming.message().find("GET /api/v1/RunService/WatchRun"), absl::string_view::npos) << streaming;
}

TEST(SseTest, EventsAreFramedWithAnOptionalIdAndOneDataLinePerLine) {
  EXPECT_EQ(SseEvent("run", "7", R"({"seq":"7"})"), "event: run\nid: 7\ndata: {\"seq\":\"7\"}\n\n");
  EXPECT_EQ(SseEvent("end", "", R"({"code":"OK"})"), "event: end\ndata: {\"code\":\"OK\"}\n\n");
  EXPECT_EQ(SseEvent("run", "", "a\nb"), "event: run\ndata: a\ndata: b\n\n");
}

TEST(WatchRequestTest, TheQueryAndLastEventIdMakeTheRequest) {
  absl::StatusOr<v1::WatchRunRequest> r =
      WatchRequestOf("runId=default%2Frun_0123&liveText=true&includeChildren=1&afterSeq=4", "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->run_id(), "default/run_0123");
  EXPECT_TRUE(r->live_text());
  EXPECT_TRUE(r->include_children());
  EXPECT_EQ(r->after_seq(), 4);
  r = WatchRequestOf("run_id=run_1&after_seq=4", "9");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->after_seq(), 9) << "Last-Event-ID wins";
  EXPECT_FALSE(r->live_text());
  EXPECT_EQ(WatchRequestOf("", "").status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status bad = WatchRequestOf("runId=r&liveText=maybe", "").status();
  EXPECT_NE(bad.message().find("liveText"), absl::string_view::npos) << bad;
  bad = WatchRequestOf("runId=r&afterSeq=-1", "").status();
  EXPECT_NE(bad.message().find("afterSeq"), absl::string_view::npos) << bad;
  bad = WatchRequestOf("runId=r", "abc").status();
  EXPECT_NE(bad.message().find("Last-Event-ID"), absl::string_view::npos) << bad;
}

TEST(StaticFilesTest, FilesRoutesHashedAssetsAndAMissingBuild) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "console_static_test";
  fs::remove_all(dir);
  fs::create_directories(dir / "assets");
  StaticFiles files(dir.string());
  HttpResponse missing = files.Get("/");
  EXPECT_EQ(missing.status, 503);
  EXPECT_NE(missing.body.find("console_web"), std::string::npos);

  std::ofstream(dir / "index.html") << "<!doctype html>";
  std::ofstream(dir / "assets" / "app-3F2A9B1C.js") << "js";
  std::ofstream(dir / "app.css") << "css";
  std::ofstream(dir.parent_path() / "secret.txt") << "secret";
  HttpResponse index = files.Get("/");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.body, "<!doctype html>");
  EXPECT_EQ(HeaderOf(index, "Cache-Control"), "no-cache");
  EXPECT_EQ(files.Get("/runs/default/run_1").body, "<!doctype html>") << "a client-side route";
  HttpResponse js = files.Get("/assets/app-3F2A9B1C.js");
  EXPECT_EQ(js.body, "js");
  EXPECT_EQ(HeaderOf(js, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(HeaderOf(js, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(HeaderOf(files.Get("/app.css"), "Cache-Control"), "no-cache");
  EXPECT_EQ(files.Get("/nope.js").status, 404);
  EXPECT_EQ(files.Get("/../secret.txt").status, 404);
  EXPECT_EQ(files.Get("/assets/../../secret.txt").status, 404);

  EXPECT_TRUE(IsHashedAsset("app-3F2A9B1C.js"));
  EXPECT_TRUE(IsHashedAsset("chunk.a1b2c3d4e5.css"));
  EXPECT_FALSE(IsHashedAsset("app.js"));
  EXPECT_FALSE(IsHashedAsset("index.html"));
  EXPECT_FALSE(IsHashedAsset("my-component.js"));
}

}  // namespace
}  // namespace baton::console
