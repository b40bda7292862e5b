#include "workers/model_sim/simulator.h"

#include <gtest/gtest.h>

#include "tests/workers/model_sim/raw_http.h"

namespace baton::model_sim {
namespace {

using testing::ParseSse;

HttpRequest Post(const std::string& path, const std::string& body,
                 HttpHeaders headers = {{"anthropic-version", "2023-06-01"}}) {
  HttpRequest r;
  r.method = "POST";
  r.path = path;
  r.version = "HTTP/1.1";
  r.headers = std::move(headers);
  r.body = body;
  return r;
}

HttpRequest Get(const std::string& path) {
  HttpRequest r;
  r.method = "GET";
  r.path = path;
  r.version = "HTTP/1.1";
  return r;
}

std::string Body(const std::string& prompt, bool stream = false) {
  Json b = Json::object();
  b["model"] = "claude-sonnet-4-5";
  b["max_tokens"] = 512;
  b["messages"] = Json::array({Json{{"role", "user"}, {"content", prompt}}});
  if (stream) b["stream"] = true;
  return b.dump();
}

Json JsonOf(const HttpResponse& r) { return Json::parse(r.body); }

std::string StreamedBody(const HttpResponse& r) {
  std::string s;
  for (const std::string& p : r.parts) s += p;
  return s;
}

class SimulatorTest : public ::testing::Test {
 protected:
  void Script(const std::string& script) {
    HttpResponse r = sim_.Handle(Post("/_sim/script", script, {}));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ModelSimulator sim_{SimulatorOptions{}};
};

TEST_F(SimulatorTest, DefaultReplyIsACompleteMessageWithHeaders) {
  HttpResponse r = sim_.Handle(Post("/v1/messages", Body("hello")));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.streamed);
  EXPECT_EQ(*r.Header("content-type"), "application/json");
  ASSERT_NE(r.Header("request-id"), nullptr);
  EXPECT_EQ(r.Header("request-id")->rfind("req_", 0), 0u);
  Json m = JsonOf(r);
  EXPECT_EQ(m["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["model"], "claude-sonnet-4-5");
  EXPECT_EQ(m["stop_reason"], "end_turn");
  EXPECT_TRUE(m["stop_sequence"].is_null());
  EXPECT_EQ(m["content"][0]["text"], "Done. You said: hello");
  EXPECT_GT(m["usage"]["input_tokens"].get<int>(), 0);
  EXPECT_GT(m["usage"]["output_tokens"].get<int>(), 0);
  EXPECT_EQ(m["usage"]["cache_read_input_tokens"], 0);
  EXPECT_TRUE(m["usage"]["cache_creation"].is_object());
}

TEST_F(SimulatorTest, MissingVersionHeaderIs400) {
  HttpResponse r = sim_.Handle(Post("/v1/messages", Body("x"), {}));
  EXPECT_EQ(r.status, 400);
  Json e = JsonOf(r);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["message"], "anthropic-version: header is required");
  EXPECT_EQ(e["request_id"], *r.Header("request-id"));
}

TEST_F(SimulatorTest, InvalidBodyGets400NamingTheField) {
  HttpResponse r = sim_.Handle(Post("/v1/messages", R"({"model":"m","messages":[]})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonOf(r)["error"]["message"], "max_tokens: Field required");
  r = sim_.Handle(Post("/v1/messages", "{not json"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonOf(r)["error"]["type"], "invalid_request_error");
}

TEST(SimulatorAuthTest, ApiKeyIsCheckedAndRedactedFromTheLog) {
  ModelSimulator sim(SimulatorOptions{.api_key = "sk-secret-123"});
  HttpResponse bad = sim.Handle(Post("/v1/messages", Body("x"),
                                     {{"anthropic-version", "2023-06-01"}, {"x-api-key", "wrong"}}));
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(JsonOf(bad)["error"]["type"], "authentication_error");
  HttpResponse none = sim.Handle(Post("/v1/messages", Body("x")));
  EXPECT_EQ(none.status, 401);
  HttpResponse good = sim.Handle(Post("/v1/messages", Body("x"),
                                      {{"anthropic-version", "2023-06-01"}, {"x-api-key", "sk-secret-123"}}));
  EXPECT_EQ(good.status, 200);
  HttpResponse bearer = sim.Handle(Post(
      "/v1/messages", Body("x"),
      {{"anthropic-version", "2023-06-01"}, {"authorization", "Bearer sk-secret-123"}}));
  EXPECT_EQ(bearer.status, 200);

  HttpResponse log = sim.Handle(Get("/_sim/requests"));
  EXPECT_EQ(log.body.find("sk-secret-123"), std::string::npos);
  EXPECT_EQ(log.body.find("wrong"), std::string::npos);
  Json entries = JsonOf(log);
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0]["headers"]["x-api-key"], "REDACTED");
  EXPECT_EQ(entries[3]["headers"]["authorization"], "REDACTED");
  EXPECT_EQ(entries[0]["status"], 401);
  EXPECT_EQ(entries[2]["status"], 200);
}

TEST_F(SimulatorTest, StreamedReplyHasTheApiEventSequence) {
  Script(R"({"replies":[{"content":[{"type":"text","text":"Streaming works well."},
      {"type":"tool_use","name":"lookup","input":{"city":"Paris"}}]}]})");
  HttpResponse r = sim_.Handle(Post("/v1/messages", Body("go", /*stream=*/true)));
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.streamed);
  EXPECT_EQ(r.Header("content-type")->rfind("text/event-stream", 0), 0u);
  auto events = ParseSse(StreamedBody(r));
  ASSERT_TRUE(events.has_value());
  EXPECT_EQ(events->front().event, "message_start");
  EXPECT_EQ(events->back().event, "message_stop");
  const auto& delta = (*events)[events->size() - 2];
  EXPECT_EQ(delta.event, "message_delta");
  EXPECT_EQ(delta.data["delta"]["stop_reason"], "tool_use");  // inferred from the tool_use block
  bool saw_tool_start = false;
  for (const auto& e : *events) {
    if (e.event == "content_block_start" && e.data["content_block"]["type"] == "tool_use") {
      saw_tool_start = true;
      EXPECT_EQ(e.data["content_block"]["name"], "lookup");
      EXPECT_EQ(e.data["content_block"]["id"].get<std::string>().rfind("toolu_", 0), 0u);
      EXPECT_EQ(e.data["content_block"]["input"], Json::object());
    }
  }
  EXPECT_TRUE(saw_tool_start);
}

TEST_F(SimulatorTest, ScriptedErrorCarriesStatusHeadersAndBody) {
  Script(R"({"replies":[{"status":429,"error":{"type":"rate_limit_error","message":"Too many"},
                         "headers":{"Retry-After":"1"}}]})");
  HttpResponse r = sim_.Handle(Post("/v1/messages", Body("x")));
  EXPECT_EQ(r.status, 429);
  ASSERT_NE(r.Header("retry-after"), nullptr);
  EXPECT_EQ(*r.Header("retry-after"), "1");
  Json e = JsonOf(r);
  EXPECT_EQ(e["error"]["type"], "rate_limit_error");
  EXPECT_EQ(e["error"]["message"], "Too many");
  // Consumed: the next request gets the default agent.
  EXPECT_EQ(sim_.Handle(Post("/v1/messages", Body("x"))).status, 200);
}

TEST_F(SimulatorTest, InvalidRequestDoesNotConsumeAScript) {
  Script(R"({"replies":[{"content":"scripted"}]})");
  EXPECT_EQ(sim_.Handle(Post("/v1/messages", R"({"model":"m"})")).status, 400);
  HttpResponse r = sim_.Handle(Post("/v1/messages", Body("x")));
  EXPECT_EQ(JsonOf(r)["content"][0]["text"], "scripted");
}

TEST_F(SimulatorTest, MidStreamErrorCutsTheStreamAfterNEvents) {
  Script(R"({"replies":[{"stream_error":{"type":"overloaded_error","message":"Overloaded"},
                         "after_events":3}]})");
  HttpResponse r = sim_.Handle(Post("/v1/messages", Body("x", true)));
  EXPECT_EQ(r.status, 200);
  auto events = ParseSse(StreamedBody(r));
  ASSERT_TRUE(events.has_value());
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[0].event, "message_start");
  EXPECT_EQ((*events)[3].event, "error");
  EXPECT_EQ((*events)[3].data["type"], "error");
  EXPECT_EQ((*events)[3].data["error"]["type"], "overloaded_error");
  EXPECT_EQ((*events)[3].data["error"]["message"], "Overloaded");
}

TEST_F(SimulatorTest, StreamErrorOnNonStreamingRequestIsAnHttpError) {
  Script(R"({"replies":[{"stream_error":{"type":"overloaded_error","message":"Overloaded"}}]})");
  HttpResponse r = sim_.Handle(Post("/v1/messages", Body("x")));
  EXPECT_EQ(r.status, 529);
  EXPECT_EQ(JsonOf(r)["error"]["type"], "overloaded_error");
}

TEST_F(SimulatorTest, DelaysAddUp) {
  ModelSimulator sim(SimulatorOptions{.latency_ms = 5});
  ASSERT_TRUE(sim.AddScript(Json::parse(R"({"replies":[{"delay_ms":100,"event_delay_ms":7}]})")).ok());
  HttpResponse r = sim.Handle(Post("/v1/messages", Body("[sim sleep_ms=20] hi", true)));
  EXPECT_EQ(r.delay, absl::Milliseconds(125));
  EXPECT_EQ(r.part_interval, absl::Milliseconds(7));
}

TEST_F(SimulatorTest, ScriptUsageOverridesAndModel) {
  Script(R"({"replies":[{"content":"x","model":"claude-opus-4-5","stop_reason":"pause_turn",
                         "usage":{"cache_read_input_tokens":900,"input_tokens":3}}]})");
  Json m = JsonOf(sim_.Handle(Post("/v1/messages", Body("x"))));
  EXPECT_EQ(m["model"], "claude-opus-4-5");
  EXPECT_EQ(m["stop_reason"], "pause_turn");
  EXPECT_EQ(m["usage"]["cache_read_input_tokens"], 900);
  EXPECT_EQ(m["usage"]["input_tokens"], 3);
  EXPECT_EQ(m["usage"]["cache_creation_input_tokens"], 0);
}

TEST_F(SimulatorTest, BadScriptIsRejectedWithTheField) {
  HttpResponse r = sim_.Handle(Post("/_sim/script", R"({"replies":[{"status":"429"}]})", {}));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonOf(r)["error"]["message"], "replies.0.status: must be an HTTP status between 200 and 599");
}

TEST_F(SimulatorTest, RequestLogStatsAndReset) {
  Script(R"({"replies":[{"status":529}]})");
  sim_.Handle(Post("/v1/messages", Body("one")));
  sim_.Handle(Post("/v1/messages", Body("two")));
  sim_.Handle(Post("/v1/messages", R"({"model":"m"})"));
  HttpResponse ct = sim_.Handle(Post("/v1/messages/count_tokens",
                                     R"({"model":"m","messages":[{"role":"user","content":"12345678"}]})"));
  EXPECT_EQ(ct.status, 200);
  EXPECT_GT(JsonOf(ct)["input_tokens"].get<int>(), 0);

  Json log = JsonOf(sim_.Handle(Get("/_sim/requests")));
  ASSERT_EQ(log.size(), 3u);  // /v1/messages only
  EXPECT_EQ(log[0]["path"], "/v1/messages");
  EXPECT_EQ(log[0]["body"]["messages"][0]["content"], "one");
  EXPECT_EQ(log[1]["body"]["messages"][0]["content"], "two");
  EXPECT_EQ(log[0]["headers"]["anthropic-version"], "2023-06-01");

  Json stats = JsonOf(sim_.Handle(Get("/_sim/stats")));
  EXPECT_EQ(stats["requests"], 3);
  EXPECT_EQ(stats["by_status"]["529"], 1);
  EXPECT_EQ(stats["by_status"]["200"], 1);
  EXPECT_EQ(stats["by_status"]["400"], 1);
  EXPECT_EQ(stats["count_tokens_requests"], 1);

  Script(R"({"replies":[{"content":"left over"}]})");
  EXPECT_EQ(sim_.Handle(Post("/_sim/reset", "", {})).status, 200);
  EXPECT_TRUE(JsonOf(sim_.Handle(Get("/_sim/requests"))).empty());
  EXPECT_EQ(JsonOf(sim_.Handle(Get("/_sim/stats")))["requests"], 0);
  // The queued script is gone too.
  EXPECT_NE(JsonOf(sim_.Handle(Post("/v1/messages", Body("x"))))["content"][0]["text"], "left over");
}

// A long benchmark never resets the simulator: the log drops its oldest requests to
// stay within its bound of body bytes, and keeps the bodies it holds whole.
TEST(SimulatorLogTest, TheRequestLogStaysWithinItsBytes) {
  SimulatorOptions options;
  options.request_log_bytes = 10000;
  ModelSimulator sim(options);
  std::vector<std::string> bodies;
  for (int i = 0; i < 6; ++i) {
    bodies.push_back(Body(std::to_string(i) + std::string(3000, 'x')));
    ASSERT_EQ(sim.Handle(Post("/v1/messages", bodies.back())).status, 200);
  }
  Json log = JsonOf(sim.Handle(Get("/_sim/requests")));
  ASSERT_EQ(log.size(), 3u);  // 3 bodies of a little over 3,000 bytes
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(log[i]["body"], Json::parse(bodies[3 + i]));
}

TEST_F(SimulatorTest, CountTokensMatchesMessageInputTokens) {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":"count these words please"}],
                         "system":"be nice"})";
  Json ct = JsonOf(sim_.Handle(Post("/v1/messages/count_tokens", body)));
  Json with_max = Json::parse(body);
  with_max["max_tokens"] = 50;
  Json m = JsonOf(sim_.Handle(Post("/v1/messages", with_max.dump())));
  EXPECT_EQ(ct["input_tokens"], m["usage"]["input_tokens"]);
}

// A 3-turn conversation with breakpoints on the system prompt and the last block.
Json CachedBody(int turns, const std::string& ttl = "") {
  Json cc = Json{{"type", "ephemeral"}};
  if (!ttl.empty()) cc["ttl"] = ttl;
  Json b = Json::object();
  b["model"] = "claude-sonnet-4-5";
  b["max_tokens"] = 100;
  b["system"] = Json::array({Json{{"type", "text"}, {"text", std::string(400, 's')}, {"cache_control", cc}}});
  Json messages = Json::array();
  for (int i = 0; i < turns; ++i) {
    messages.push_back(Json{{"role", "user"}, {"content", Json::array({Json{{"type", "text"}, {"text", "question " + std::to_string(i)}}})}});
    if (i + 1 < turns) messages.push_back(Json{{"role", "assistant"}, {"content", "answer " + std::to_string(i)}});
  }
  messages.back()["content"].back()["cache_control"] = cc;
  b["messages"] = messages;
  return b;
}

TEST_F(SimulatorTest, PromptCacheWritesThenReadsTheSamePrefix) {
  Json first = JsonOf(sim_.Handle(Post("/v1/messages", CachedBody(1).dump())))["usage"];
  const int64_t total = first["input_tokens"].get<int64_t>() + first["cache_creation_input_tokens"].get<int64_t>();
  EXPECT_EQ(first["cache_read_input_tokens"], 0);
  EXPECT_GT(first["cache_creation_input_tokens"].get<int64_t>(), 100);  // the system prompt and the question
  EXPECT_EQ(first["cache_creation"]["ephemeral_5m_input_tokens"], first["cache_creation_input_tokens"]);
  EXPECT_EQ(first["cache_creation"]["ephemeral_1h_input_tokens"], 0);

  // The same request again reads everything it wrote.
  Json again = JsonOf(sim_.Handle(Post("/v1/messages", CachedBody(1).dump())))["usage"];
  EXPECT_EQ(again["cache_read_input_tokens"], first["cache_creation_input_tokens"]);
  EXPECT_EQ(again["cache_creation_input_tokens"], 0);
  EXPECT_EQ(again["input_tokens"].get<int64_t>() + again["cache_read_input_tokens"].get<int64_t>(), total);

  // A longer conversation reads the old prefix (found by lookback) and writes the rest.
  Json longer = JsonOf(sim_.Handle(Post("/v1/messages", CachedBody(2).dump())))["usage"];
  EXPECT_GT(longer["cache_read_input_tokens"].get<int64_t>(), 100);
  EXPECT_GT(longer["cache_creation_input_tokens"].get<int64_t>(), 0);

  // Without breakpoints nothing is cached; after a reset nothing is read.
  Json plain = JsonOf(sim_.Handle(Post("/v1/messages", Body("no breakpoints"))))["usage"];
  EXPECT_EQ(plain["cache_read_input_tokens"], 0);
  EXPECT_EQ(plain["cache_creation_input_tokens"], 0);
  sim_.Handle(Post("/_sim/reset", "", {}));
  EXPECT_EQ(JsonOf(sim_.Handle(Post("/v1/messages", CachedBody(1).dump())))["usage"]["cache_read_input_tokens"], 0);
}

TEST_F(SimulatorTest, PromptCacheCountsOneHourWritesApart) {
  Json usage = JsonOf(sim_.Handle(Post("/v1/messages", CachedBody(1, "1h").dump())))["usage"];
  EXPECT_GT(usage["cache_creation"]["ephemeral_1h_input_tokens"].get<int64_t>(), 0);
  EXPECT_EQ(usage["cache_creation"]["ephemeral_5m_input_tokens"], 0);
}

TEST_F(SimulatorTest, CacheControlRulesAreChecked) {
  Json five = CachedBody(3);
  for (auto& m : five["messages"]) {
    if (m["content"].is_array()) m["content"][0]["cache_control"] = Json{{"type", "ephemeral"}};
  }
  five["tools"] = Json::array({Json{{"name", "t"}, {"input_schema", {{"type", "object"}}},
                                    {"cache_control", {{"type", "ephemeral"}}}}});
  HttpResponse r = sim_.Handle(Post("/v1/messages", five.dump()));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonOf(r)["error"]["message"], "A maximum of 4 blocks with cache_control may be provided. Found 5.");

  Json bad_ttl = CachedBody(1, "2h");
  r = sim_.Handle(Post("/v1/messages", bad_ttl.dump()));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(JsonOf(r)["error"]["message"], "system.0.cache_control.ttl: Input should be '5m' or '1h'");

  Json order = CachedBody(1);  // system 5m, then a 1h block: refused
  order["messages"][0]["content"][0]["cache_control"]["ttl"] = "1h";
  r = sim_.Handle(Post("/v1/messages", order.dump()));
  EXPECT_EQ(r.status, 400);
}

TEST(SimulatorRateLimitTest, RequestsPastTheRateGet429WithHeaders) {
  ModelSimulator sim(SimulatorOptions{.rate_limit_rps = 2});
  ASSERT_TRUE(sim.AddScript(Json::parse(R"({"replies":[{"content":"scripted"}]})")).ok());
  HttpResponse first = sim.Handle(Post("/v1/messages", Body("one")));
  EXPECT_EQ(first.status, 200);
  ASSERT_NE(first.Header("anthropic-ratelimit-requests-limit"), nullptr);
  EXPECT_EQ(*first.Header("anthropic-ratelimit-requests-limit"), "2");
  EXPECT_EQ(*first.Header("anthropic-ratelimit-requests-remaining"), "1");
  EXPECT_NE(first.Header("anthropic-ratelimit-requests-reset"), nullptr);
  EXPECT_EQ(sim.Handle(Post("/v1/messages", Body("two"))).status, 200);
  HttpResponse third = sim.Handle(Post("/v1/messages", Body("three")));
  EXPECT_EQ(third.status, 429);
  EXPECT_EQ(JsonOf(third)["error"]["type"], "rate_limit_error");
  ASSERT_NE(third.Header("retry-after"), nullptr);
  EXPECT_EQ(*third.Header("retry-after"), "1");
  EXPECT_EQ(*third.Header("anthropic-ratelimit-requests-remaining"), "0");
  Json stats = JsonOf(sim.Handle(Get("/_sim/stats")));
  EXPECT_EQ(stats["by_status"]["429"], 1);
  // The refused request did not take the scripted reply... the first one did.
  EXPECT_EQ(stats["scripted_replies_used"], 1);
  absl::SleepFor(absl::Milliseconds(600));  // a token back
  EXPECT_EQ(sim.Handle(Post("/v1/messages", Body("four"))).status, 200);
}

TEST_F(SimulatorTest, UnknownPathsAndMethods) {
  EXPECT_EQ(sim_.Handle(Get("/v1/models")).status, 404);
  EXPECT_EQ(sim_.Handle(Get("/v1/messages")).status, 405);
  EXPECT_EQ(sim_.Handle(Get("/_sim/nope")).status, 404);
  EXPECT_EQ(sim_.Handle(Get("/_sim/health")).status, 200);
}

TEST_F(SimulatorTest, ScriptedToolUseIdsAreFilledDeterministically) {
  Script(R"({"replies":[{"content":[{"type":"tool_use","name":"a"}]},
                        {"content":[{"type":"tool_use","name":"a"}]}]})");
  Json m1 = JsonOf(sim_.Handle(Post("/v1/messages", Body("same"))));
  Json m2 = JsonOf(sim_.Handle(Post("/v1/messages", Body("same"))));
  EXPECT_EQ(m1["content"][0]["id"], m2["content"][0]["id"]);
  EXPECT_EQ(m1["content"][0]["input"], Json::object());
  EXPECT_EQ(m1["stop_reason"], "tool_use");
  EXPECT_NE(m1["id"], m2["id"]);  // message ids are unique
}

}  // namespace
}  // namespace baton::model_sim
