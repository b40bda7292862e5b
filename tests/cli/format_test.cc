#include "cli/format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

namespace baton::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::RunEvent Event(const std::string& text_proto) {
  v1::RunEvent event;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text_proto, &event)) << text_proto;
  return event;
}

TEST(FormatEventTest, StateChangeShowsAttemptWorkerKindAndReason) {
  EXPECT_EQ(FormatEvent(Event("state_changed { state: QUEUED }")), "state QUEUED\n");
  EXPECT_EQ(FormatEvent(Event("state_changed { state: RUNNING attempt: 1 worker_id: 'worker-1' }")),
            "state RUNNING (attempt 1, worker-1)\n");
  EXPECT_EQ(FormatEvent(Event("state_changed { state: FAILED attempt: 1 failure_kind: LIMIT_MAX_STEPS "
                              "reason: 'max_steps (10) reached' }")),
            "state FAILED [LIMIT_MAX_STEPS]: max_steps (10) reached\n");
}

TEST(FormatEventTest, StepLinesShowModelStopReasonAndTokens) {
  EXPECT_EQ(FormatEvent(Event("step_started { step: 1 model: 'claude-sonnet-4-5' }")),
            "step 1: model claude-sonnet-4-5\n");
  EXPECT_EQ(FormatEvent(Event("step_finished { step: 1 stop_reason: 'tool_use' "
                              "usage { input_tokens: 1234 output_tokens: 56 } }")),
            "step 1 done: tool_use, 1,234 in / 56 out tokens\n");
}

TEST(FormatEventTest, ToolCallsShowNameInputErrorAndOutputPreview) {
  EXPECT_EQ(FormatEvent(Event(R"(tool_call_started { step: 1 name: 'sum' input_json: '{"numbers":[17,25]}' })")),
            "  tool sum {\"numbers\":[17,25]}\n");
  EXPECT_EQ(FormatEvent(Event("tool_call_finished { name: 'sum' output_preview: '42' duration_ms: 3 }")),
            "  tool sum -> 42 (3 ms)\n");
  EXPECT_EQ(FormatEvent(Event("tool_call_finished { name: 'sum' is_error: true "
                              "output_preview: 'numbers must be an array' duration_ms: 1500 }")),
            "  tool sum -> ERROR: numbers must be an array (1.5 s)\n");
}

TEST(FormatEventTest, LongOrMultiLineToolOutputStaysOnOneLine) {
  std::string long_output(1000, 'x');
  std::string line = FormatEvent(Event("tool_call_finished { name: 'echo' output_preview: 'a\\nb' }"));
  EXPECT_EQ(line, "  tool echo -> a\\nb (0 ms)\n");
  v1::RunEvent event;
  event.mutable_tool_call_finished()->set_name("echo");
  event.mutable_tool_call_finished()->set_output_preview(long_output);
  line = FormatEvent(event);
  EXPECT_LT(line.size(), 200u);
  EXPECT_THAT(line, HasSubstr("..."));
}

TEST(FormatEventTest, TextIsIndentedUnderItsLabel) {
  EXPECT_EQ(FormatEvent(Event("text { step: 2 text: 'line one\\nline two' }")),
            "  text: line one\n        line two\n");
}

TEST(FormatEventTest, FinalOutputShowsUsageThenTheText) {
  EXPECT_EQ(FormatEvent(Event("final_output { text: '17 + 25 = 42.' "
                              "usage { input_tokens: 300 output_tokens: 90 model_calls: 2 tool_calls: 1 } }")),
            "usage: 2 model calls, 1 tool call, 300 in / 90 out tokens\noutput:\n17 + 25 = 42.\n");
}

TEST(FormatEventTest, EmptyEventPrintsNothing) { EXPECT_EQ(FormatEvent(v1::RunEvent()), ""); }

TEST(FormatUsageTest, CacheTokensOnlyWhenPresent) {
  v1::Usage usage;
  usage.set_input_tokens(10);
  usage.set_output_tokens(1);
  usage.set_model_calls(1);
  EXPECT_EQ(FormatUsage(usage), "1 model call, 0 tool calls, 10 in / 1 out tokens");
  usage.set_cache_read_input_tokens(2048);
  usage.set_cache_creation_input_tokens(5);
  EXPECT_EQ(FormatUsage(usage),
            "1 model call, 0 tool calls, 10 in / 1 out tokens (cache: 2,048 read, 5 written)");
}

TEST(PreviewTest, CutsOnUtf8Boundaries) {
  std::string text = "ééééé";  // 2 bytes each
  std::string cut = Preview(text, 3);
  EXPECT_EQ(cut, "é...");
}

TEST(FormatRunTest, ShowsStateErrorAndOutput) {
  v1::Run run;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"(
      run_id: 'run_1' state: FAILED agent { name: 'assistant' version: 2 model: 'm' }
      input: 'hi' attempt: 3 epoch: 3 steps: 10 failure_kind: LIMIT_MAX_STEPS error: 'max_steps reached'
      labels { key: 'team' value: 'infra' } output: 'partial')", &run));
  std::string text = FormatRun(run, absl::UTCTimeZone());
  EXPECT_THAT(text, HasSubstr("state    FAILED\n"));
  EXPECT_THAT(text, HasSubstr("agent    assistant v2, model m\n"));
  EXPECT_THAT(text, HasSubstr("error    [LIMIT_MAX_STEPS] max_steps reached\n"));
  EXPECT_THAT(text, HasSubstr("labels   team=infra\n"));
  EXPECT_THAT(text, HasSubstr("output:\npartial\n"));
}

TEST(FormatRunTableTest, OneRowPerRunUnderAHeader) {
  v1::Run a;
  a.set_run_id("run_a");
  a.set_state(v1::RUNNING);
  a.set_create_time_ms(10'000'000);
  a.set_input("What is\n17 + 25?");
  v1::Run b;
  b.set_run_id("run_bb");
  b.set_state(v1::SUCCEEDED);
  b.mutable_agent()->set_name("assistant");
  b.set_create_time_ms(10'000'000 - 3'600'000);
  std::string table = FormatRunTable({a, b}, 10'000'000 + 5'000);
  EXPECT_EQ(table,
            "RUN ID  STATE      AGENT      STEPS  AGE  INPUT\n"
            "run_a   RUNNING    (inline)   0      5s   What is\\n17 + 25?\n"
            "run_bb  SUCCEEDED  assistant  0      1h\n");
}

TEST(FormatTranscriptTest, ShowsUserModelTextToolCallsAndResults) {
  v1::Transcript transcript;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
      run_id: 'run_1' input: 'What is 17 + 25?'
      entries { seq: 1 step: 1 model_turn {
        model: 'claude-sonnet-4-5' stop_reason: 'tool_use'
        usage { input_tokens: 100 output_tokens: 20 }
        content_json: '[{"type":"text","text":"Let me add."},{"type":"tool_use","id":"toolu_1","name":"sum","input":{"numbers":[17,25]}}]' } }
      entries { seq: 2 step: 1 tool_call { tool_use_id: 'toolu_1' name: 'sum' input_json: '{"numbers":[17,25]}' } }
      entries { seq: 3 step: 1 tool_result { tool_use_id: 'toolu_1' content_json: '"42"' duration_ms: 2 } }
      entries { seq: 4 step: 2 model_turn {
        model: 'claude-haiku-4-5' stop_reason: 'end_turn'
        content_json: '[{"type":"text","text":"It is 42."}]' } }
      entries { seq: 5 step: 2 tool_call { tool_use_id: 'toolu_2' name: 'echo' input_json: '{}' } }
      usage { input_tokens: 200 output_tokens: 30 model_calls: 2 tool_calls: 1 })pb",
                                                            &transcript));
  std::string text = FormatTranscript(transcript);
  EXPECT_THAT(text, HasSubstr("user:\n  What is 17 + 25?\n"));
  EXPECT_THAT(text, HasSubstr("step 1 · claude-sonnet-4-5 · tool_use · 100 in / 20 out tokens\n"
                              "assistant:\n  Let me add.\n"
                              "  -> sum {\"numbers\":[17,25]}  [toolu_1]\n"));
  EXPECT_THAT(text, HasSubstr("tool sum [toolu_1] (2 ms):\n  42\n"));
  EXPECT_THAT(text, HasSubstr("step 2 · claude-haiku-4-5 · end_turn"));
  EXPECT_THAT(text, HasSubstr("  It is 42.\n"));
  // The call journaled without a result is shown once, as unanswered.
  EXPECT_THAT(text, HasSubstr("tool echo [toolu_2]: started, no result recorded\n"));
  EXPECT_THAT(text, HasSubstr("usage: 2 model calls, 1 tool call, 200 in / 30 out tokens\n"));
  EXPECT_THAT(text, Not(HasSubstr("-> sum {\"numbers\":[17,25]}  [toolu_1]\n  -> sum")));
}

TEST(FormatTranscriptTest, ErrorResultsAndBlockArraysAreReadable) {
  v1::Transcript transcript;
  auto* entry = transcript.add_entries();
  entry->mutable_tool_result()->set_tool_use_id("t");
  entry->mutable_tool_result()->set_is_error(true);
  entry->mutable_tool_result()->set_content_json(R"([{"type":"text","text":"boom"},{"type":"image"}])");
  std::string text = FormatTranscript(transcript);
  EXPECT_THAT(text, HasSubstr("tool ? [t] ERROR (0 ms):\n  boom\n  [image]\n"));
}

TEST(ToJsonLineTest, OneLineWithEnumNames) {
  v1::RunEvent event;
  event.set_run_id("run_1");
  event.set_seq(3);
  event.mutable_state_changed()->set_state(v1::SUCCEEDED);
  EXPECT_EQ(ToJsonLine(event), R"({"runId":"run_1","seq":"3","stateChanged":{"state":"SUCCEEDED"}})");
}

}  // namespace
}  // namespace baton::cli
