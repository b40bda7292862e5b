// The simulator keeps what it derives from each message between a conversation's
// requests (request_view.h): these tests hold it to answering exactly as a simulator
// that reads every request in full.
#include "workers/model_sim/request_view.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "workers/model_sim/simulator.h"
#include "workers/model_sim/validation.h"

namespace baton::model_sim {
namespace {

HttpRequest Post(const std::string& path, const std::string& body) {
  HttpRequest r;
  r.method = "POST";
  r.path = path;
  r.version = "HTTP/1.1";
  r.headers = {{"anthropic-version", "2023-06-01"}};
  r.body = body;
  return r;
}

// A request as the worker sends it: system and tools with breakpoints, one on the
// last message and one on the message that ended the previous request, so each
// request edits the bytes of its last few messages besides appending.
std::string BodyOf(Json messages, std::optional<size_t> previous_end) {
  std::vector<size_t> marked = {messages.size() - 1};
  if (previous_end) marked.push_back(*previous_end);
  for (size_t i : marked) {
    Json& content = messages[i]["content"];
    content[content.size() - 1]["cache_control"] = Json{{"type", "ephemeral"}};
  }
  Json body = Json::object();
  body["model"] = "claude-sonnet-4-5";
  body["max_tokens"] = 1024;
  body["system"] =
      Json::array({Json{{"type", "text"}, {"text", "You are terse."}, {"cache_control", {{"type", "ephemeral"}}}}});
  body["tools"] = Json::array({Json{{"name", "echo"},
                                    {"description", "Echoes."},
                                    {"input_schema",
                                     {{"type", "object"},
                                      {"properties", {{"text", {{"type", "string"}}}}},
                                      {"required", {"text"}}}}}});
  body["messages"] = std::move(messages);
  return body.dump();
}

class Conversation {
 public:
  explicit Conversation(const std::string& prompt) {
    messages_.push_back(Json{{"role", "user"}, {"content", Json::array({Json{{"type", "text"}, {"text", prompt}}})}});
  }

  std::string Body() const { return BodyOf(messages_, previous_end_); }

  // Appends the reply and a tool_result for each of its tool_use blocks. False when
  // the reply ends the conversation.
  bool Append(const Json& reply) {
    previous_end_ = messages_.size() - 1;
    messages_.push_back(Json{{"role", "assistant"}, {"content", reply["content"]}});
    if (reply["stop_reason"] != "tool_use") return false;
    Json results = Json::array();
    for (const Json& block : reply["content"]) {
      if (block["type"] != "tool_use") continue;
      results.push_back(Json{{"type", "tool_result"},
                             {"tool_use_id", block["id"]},
                             {"content", "echoed " + std::to_string(messages_.size())}});
    }
    messages_.push_back(Json{{"role", "user"}, {"content", results}});
    return true;
  }

  const Json& messages() const { return messages_; }
  std::optional<size_t> previous_end() const { return previous_end_; }

 private:
  Json messages_ = Json::array();
  std::optional<size_t> previous_end_;
};

// What two simulators must agree on: everything but the generated ids.
Json Answer(const HttpResponse& r) {
  Json j = Json::parse(r.body);
  j.erase("id");
  j.erase("request_id");
  return j;
}

SimulatorOptions Cold() {
  SimulatorOptions o;
  o.message_cache_bytes = 0;  // every request read in full
  return o;
}

TEST(RequestViewTest, AConversationsNextRequestAnswersAsAColdSimulatorDoes) {
  ModelSimulator warm{SimulatorOptions{}};
  ModelSimulator cold{Cold()};
  Conversation c("[sim steps=12 tool=echo] go");
  int steps = 0;
  int64_t read = 0;
  for (bool more = true; more; ++steps) {
    const std::string body = c.Body();
    HttpResponse w = warm.Handle(Post("/v1/messages", body));
    HttpResponse k = cold.Handle(Post("/v1/messages", body));
    ASSERT_EQ(w.status, 200) << w.body;
    ASSERT_EQ(Answer(w), Answer(k)) << "step " << steps;
    read += Json::parse(w.body)["usage"]["cache_read_input_tokens"].get<int64_t>();

    Json count = Json::parse(body);
    count.erase("max_tokens");
    HttpResponse wc = warm.Handle(Post("/v1/messages/count_tokens", count.dump()));
    ASSERT_EQ(wc.status, 200) << wc.body;
    EXPECT_EQ(Answer(wc), Answer(cold.Handle(Post("/v1/messages/count_tokens", count.dump()))));
    more = c.Append(Json::parse(w.body));
  }
  EXPECT_EQ(steps, 12);
  EXPECT_GT(read, 0);  // the prompt cache was read, the same on both
  // The answer sums up every tool result, from messages kept across requests.
  const std::string answer = c.messages().back()["content"][0]["text"];
  EXPECT_EQ(answer.rfind("Done. echo returned echoed 2; echo returned echoed 4; ", 0), 0u) << answer;
  // The warm simulator parsed each message a few times (while its breakpoints moved),
  // not once per request repeating it.
  const MessageCache::Stats stats = warm.message_cache_stats();
  EXPECT_GT(stats.reused, 2 * stats.built) << stats.reused << " reused, " << stats.built << " built";
  // Most of them were matched in one comparison with the conversation's last request,
  // not scanned and keyed one by one.
  EXPECT_GT(2 * stats.matched, stats.reused) << stats.matched << " matched, " << stats.reused << " reused";
  EXPECT_EQ(cold.message_cache_stats().reused, 0);
}

// The same messages after another system are not the same messages: their breakpoints
// count after the system's, so a request repeating a conversation under a system with
// more breakpoints is refused as a simulator that never saw it refuses it. The bodies
// put "messages" first, as the worker does.
TEST(RequestViewTest, AConversationRepeatedAfterAnotherSystemIsCheckedAgain) {
  auto messages_first = [](const std::string& body, int system_breakpoints) {
    Json parsed = Json::parse(body);
    Json out = Json::object();
    out["messages"] = parsed["messages"];
    for (auto it = parsed.begin(); it != parsed.end(); ++it) {
      if (it.key() != "messages") out[it.key()] = it.value();
    }
    Json system = Json::array();
    for (int i = 0; i < system_breakpoints; ++i) {
      system.push_back(Json{{"type", "text"}, {"text", "part " + std::to_string(i)},
                            {"cache_control", {{"type", "ephemeral"}}}});
    }
    out["system"] = system;
    return out.dump();
  };
  ModelSimulator warm{SimulatorOptions{}};
  Conversation c("[sim steps=8 tool=echo] go");
  for (int i = 0; i < 6; ++i) {
    HttpResponse r = warm.Handle(Post("/v1/messages", messages_first(c.Body(), 1)));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(c.Append(Json::parse(r.body)));
  }
  ASSERT_GT(warm.message_cache_stats().matched, 0);
  // 3 in the system and 2 in the messages: one more than the API allows.
  const std::string body = messages_first(c.Body(), 3);
  HttpResponse w = warm.Handle(Post("/v1/messages", body));
  ModelSimulator cold{Cold()};
  HttpResponse k = cold.Handle(Post("/v1/messages", body));
  ASSERT_EQ(k.status, 400) << k.body;
  EXPECT_EQ(Answer(w), Answer(k));
  // And back under the first system, the conversation goes on.
  EXPECT_EQ(warm.Handle(Post("/v1/messages", messages_first(c.Body(), 1))).status, 200);
}

// An edit deep in the history (not an append) is checked again: the same error, with
// the same path, as a simulator that never saw the conversation.
TEST(RequestViewTest, AnEditedEarlierMessageIsCheckedAgain) {
  ModelSimulator warm{SimulatorOptions{}};
  Conversation c("[sim steps=8 tool=echo] go");
  for (int i = 0; i < 6; ++i) {
    HttpResponse r = warm.Handle(Post("/v1/messages", c.Body()));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(c.Append(Json::parse(r.body)));
  }
  struct Edit {
    std::function<void(Json&)> apply;
    std::string error_prefix;
  };
  const std::vector<Edit> edits = {
      {[](Json& m) { m[1]["content"][1].erase("name"); }, "messages.1.content.1.name: Field required"},
      {[](Json& m) { m[4]["content"][0]["tool_use_id"] = "toolu_nope"; },
       "messages.3: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_"},
      {[](Json& m) { m[2]["content"] = ""; },
       "messages.2: all messages must have non-empty content except for the optional final assistant message"},
      {[](Json& m) { m[1]["content"][0]["cache_control"] = Json{{"type", "forever"}}; },
       "messages.1.content.0.cache_control.type: Input should be 'ephemeral'"},
      {[](Json& m) { m[0]["role"] = "system"; }, "messages.0.role: Input should be 'user' or 'assistant'"},
  };
  for (const Edit& edit : edits) {
    Json messages = c.messages();
    edit.apply(messages);
    const std::string body = BodyOf(messages, c.previous_end());
    HttpResponse w = warm.Handle(Post("/v1/messages", body));
    ModelSimulator cold{Cold()};
    HttpResponse k = cold.Handle(Post("/v1/messages", body));
    ASSERT_EQ(w.status, 400) << w.body;
    const std::string error = Json::parse(w.body)["error"]["message"];
    EXPECT_EQ(error.rfind(edit.error_prefix, 0), 0u) << error;
    EXPECT_EQ(Answer(w), Answer(k));
  }
  // The conversation as it was still answers.
  EXPECT_EQ(warm.Handle(Post("/v1/messages", c.Body())).status, 200);
}

// A valid edit of an earlier message counts as what it now is: the same tokens and
// prompt-cache figures as a simulator that saw the same requests without keeping any.
TEST(RequestViewTest, AValidEditOfAnEarlierMessageCountsItsNewBytes) {
  ModelSimulator warm{SimulatorOptions{}};
  ModelSimulator cold{Cold()};
  Conversation c("[sim steps=6 tool=echo] go");
  for (int i = 0; i < 4; ++i) {
    const std::string body = c.Body();
    HttpResponse r = warm.Handle(Post("/v1/messages", body));
    cold.Handle(Post("/v1/messages", body));
    ASSERT_TRUE(c.Append(Json::parse(r.body)));
  }
  Json messages = c.messages();
  messages[2]["content"][0]["content"] = "a much longer result than the one the model saw before";
  const std::string body = BodyOf(messages, c.previous_end());
  HttpResponse w = warm.Handle(Post("/v1/messages", body));
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(Answer(w), Answer(cold.Handle(Post("/v1/messages", body))));
}

// Bodies the scanner leaves to the parser, or that it must refuse as the parser does.
TEST(RequestViewTest, OddBodiesAreReadAsTheParserReadsThem) {
  const std::vector<std::string> bodies = {
      R"({"model":"a","max_tokens":5,"model":"b","messages":[{"role":"user","content":"hi"}]})",
      R"({"mod\u0065l":"m","max_tokens":5,"mess\u0061ges":[{"role":"user","content":"hi"}]})",
      "\xEF\xBB\xBF{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
      " \n{ \"model\" : \"m\" ,\"max_tokens\":5, \"messages\" : [ {\"role\":\"user\",\"content\":\"a]}\\\"\"} , "
      "{\"role\":\"assistant\",\"content\":[]} ] } \t",
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]} x)",
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"},]})",
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"} {"role":"user"}]})",
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":tru}]})",
      R"({"model":"m","max_tokens":5,"messages":{"role":"user"}})",
      R"({"model":"m","max_tokens":5,"messages":[]})",
      R"({"model":"m","max_tokens":5})",
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[1,})",
      R"([{"model":"m"}])",
      R"("just a string")",
      "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"\xFF\"}]}",
      "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"a\nb\"}]}",
      R"({})",
      R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})",
  };
  MessageCache cache(1 << 20);
  for (const std::string& raw : bodies) {
    for (int twice = 0; twice < 2; ++twice) {  // cold, then from the cache
      std::optional<RequestView> view = ReadRequestBody(raw, cache);
      Json parsed = Json::parse(raw, nullptr, false);
      ASSERT_EQ(view.has_value(), !parsed.is_discarded()) << raw;
      if (!view) continue;
      std::optional<ApiError> got = ValidateRequest(*view, RequestKind::kMessages);
      std::optional<ApiError> want = ValidateRequestBody(parsed, RequestKind::kMessages);
      EXPECT_EQ(got ? got->message : "", want ? want->message : "") << raw;
      if (!got) EXPECT_EQ(view->rest["model"], parsed["model"]) << raw;
    }
  }
}

// The cache keeps at most its bound of message bytes, however many conversations
// pass, and answers the same once it has dropped some.
TEST(RequestViewTest, TheCacheStaysWithinItsBound) {
  constexpr size_t kBound = 4096;
  MessageCache cache(kBound);
  MessageCache none(0);
  for (int conversation = 0; conversation < 20; ++conversation) {
    Json messages = Json::array();
    for (int turn = 0; turn < 12; ++turn) {
      const std::string text =
          "conversation " + std::to_string(conversation) + " turn " + std::to_string(turn) + std::string(40, 'x');
      messages.push_back(Json{{"role", turn % 2 == 0 ? "user" : "assistant"},
                              {"content", Json::array({Json{{"type", "text"}, {"text", text}}})}});
      if (turn % 2 == 1) continue;
      const std::string body = BodyOf(messages, std::nullopt);
      std::optional<RequestView> view = ReadRequestBody(body, cache);
      std::optional<RequestView> fresh = ReadRequestBody(body, none);
      ASSERT_TRUE(view && fresh);
      EXPECT_EQ(EstimateInputTokens(*view), EstimateInputTokens(*fresh));
      EXPECT_EQ(ValidateRequest(*view, RequestKind::kMessages).has_value(), false);
      const MessageCache::Stats stats = cache.stats();
      ASSERT_LE(stats.bytes, kBound);
      ASSERT_LE(stats.tail_bytes, kBound);
      ASSERT_GT(stats.entries, 0u);
    }
  }
  EXPECT_EQ(none.stats().entries, 0u);
  EXPECT_EQ(none.stats().tails, 0u);
  EXPECT_GT(cache.stats().reused, 0);
  EXPECT_GT(cache.stats().matched, 0);
  EXPECT_LT(cache.stats().tails, 20u);  // some conversations' tails were dropped
}

}  // namespace
}  // namespace baton::model_sim
