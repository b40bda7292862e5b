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
  std::string text = FormatRun(run, /*now_ms=*/0, absl::UTCTimeZone());
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

// ---- runs that wait ----

TEST(FormatEventTest, ChildRunsStartAndFinish) {
  EXPECT_EQ(FormatEvent(Event("child_started { step: 1 tool_use_id: 't1' name: 'researcher' child_run_id: 'run_c' }")),
            "  child run_c started (subagent researcher)\n");
  EXPECT_EQ(FormatEvent(Event("child_finished { child_run_id: 'run_c' state: SUCCEEDED "
                              "output_preview: 'Three papers:\\n1. ...' }")),
            "  child run_c SUCCEEDED: Three papers:\\n1. ...\n");
  EXPECT_EQ(FormatEvent(Event("child_finished { child_run_id: 'run_c' state: CANCELLED }")),
            "  child run_c CANCELLED\n");
}

TEST(FormatEventTest, AnApprovalRequestSaysHowToAnswerIt) {
  EXPECT_EQ(FormatEvent(Event(R"(approval_requested { approval { approval_id: 'run_1:0:t2' kind: TOOL_CALL
                                 tool: 'sleep' input_json: '{"seconds":5}' } })")),
            "  approval needed: sleep {\"seconds\":5}  →  baton approve run_1:0:t2 | "
            "baton deny run_1:0:t2 --message …\n");
  // Only the answers the rule allows.
  EXPECT_EQ(FormatEvent(Event(R"(approval_requested { approval { approval_id: 'a' tool: 'rm'
                                 decisions: [EDIT, RESPOND] } })")),
            "  approval needed: rm {}  →  baton approve a --edit JSON | baton respond a --message …\n");
}

TEST(FormatEventTest, AnInputRequestShowsTheServersMessage) {
  EXPECT_EQ(FormatEvent(Event(R"(approval_requested { approval { approval_id: 'run_1:0:e1' kind: ELICITATION
                                 tool: 'mcp__travel__book' message: 'Which date?'
                                 input_schema_json: '{"type":"object","required":["date"]}' } })")),
            "  input requested by mcp__travel__book: Which date?  →  baton approve run_1:0:e1 --content JSON | "
            "baton deny run_1:0:e1\n");
  EXPECT_EQ(FormatEvent(Event(R"(approval_requested { approval { approval_id: 'e2' kind: ELICITATION
                                 tool: 'x' message: 'Go on?' input_schema_json: '{"type":"object"}' } })")),
            "  input requested by x: Go on?  →  baton approve e2 | baton deny e2\n");
}

TEST(FormatEventTest, DecisionsSayWhoDecidedWhat) {
  EXPECT_EQ(FormatEvent(Event("approval_decided { approval_id: 'a1' decision { decision: APPROVE decided_by: 'alice' } }")),
            "  approval a1: APPROVE by alice\n");
  EXPECT_EQ(FormatEvent(Event(R"(approval_decided { approval_id: 'a1' decision { decision: EDIT decided_by: 'alice'
                                 input_json: '{"seconds":1}' } })")),
            "  approval a1: EDIT by alice: {\"seconds\":1}\n");
  EXPECT_EQ(FormatEvent(Event("approval_decided { approval_id: 'a1' decision { decision: DENY decided_by: 'bob' "
                              "message: 'not now' } }")),
            "  approval a1: DENY by bob: not now\n");
  EXPECT_EQ(FormatEvent(Event("approval_decided { approval_id: 'a1' decision { decision: DENY timed_out: true } }")),
            "  approval a1: DENY (timed out)\n");
}

TEST(FormatEventTest, WaitingCountsWhatTheRunWaitsFor) {
  EXPECT_EQ(FormatEvent(Event("waiting { child_run_ids: ['run_a', 'run_b'] approval_ids: 'x' }")),
            "waiting for 2 child runs / 1 approval\n");
  EXPECT_EQ(FormatEvent(Event("waiting { previous_run_id: 'run_p' }")),
            "waiting for the session's previous run run_p\n");
}

TEST(FormatRunTest, ShowsTreeSessionAndWaits) {
  v1::Run run;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
      run_id: 'run_2' state: WAITING agent { name: 'assistant' model: 'm' } input: 'next'
      session_id: 'chat' session_seq: 2 continue_from: 'run_1'
      waits { previous_run_id: 'run_1' }
      waits { approval_id: 'run_2:0:t' name: 'sleep' expire_time_ms: 1000 })pb", &run));
  std::string text = FormatRun(run, /*now_ms=*/5000, absl::UTCTimeZone());
  EXPECT_THAT(text, HasSubstr("session    chat #2\n"));
  EXPECT_THAT(text, HasSubstr("continues  run_1\n"));
  EXPECT_THAT(text, HasSubstr("waits for  previous run run_1 of session chat\n"
                              "           approval run_2:0:t (tool sleep, expired)\n"));
  EXPECT_THAT(text, Not(HasSubstr("parent")));
  EXPECT_THAT(text, Not(HasSubstr("tree usage")));
}

TEST(FormatApprovalTableTest, PendingShowTimeLeftDecidedShowWhoDecided) {
  std::vector<v1::Approval> approvals(4);
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(approval_id: 'r:0:a' run_id: 'r' tool: 'sleep' input_json: '{"seconds":5}' state: PENDING
           expire_time_ms: 90061000)pb", &approvals[0]));
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(approval_id: 'r:0:b' run_id: 'r' kind: ELICITATION tool: 'mcp__x__y' message: 'Your name?'
           state: PENDING expire_time_ms: 500)pb", &approvals[1]));
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(approval_id: 'r:0:c' run_id: 'r' tool: 'rm' state: EXPIRED
           decision { decision: DENY timed_out: true })pb", &approvals[2]));
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(approval_id: 'r:0:d' run_id: 'r' tool: 'rm' state: ABANDONED)pb", &approvals[3]));
  EXPECT_EQ(FormatApprovalTable(approvals, /*now_ms=*/1000),
            "ID     RUN  TOOL           INPUT          STATE      EXPIRES / DECISION\n"
            "r:0:a  r    sleep          {\"seconds\":5}  PENDING    in 1d 1h\n"
            "r:0:b  r    input request  Your name?     PENDING    expired\n"
            "r:0:c  r    rm             {}             EXPIRED    DENY (timed out)\n"
            "r:0:d  r    rm             {}             ABANDONED  - (the run ended)\n");
}

TEST(FormatApprovalTest, OneLineWithTheDecisionAndTheRun) {
  v1::Approval approval;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(approval_id: 'r:0:a' run_id: 'r' tool: 'sleep' state: DECIDED
           decision { decision: RESPOND decided_by: 'alice' message: 'done already' })pb", &approval));
  EXPECT_EQ(FormatApproval(approval), "approval r:0:a: RESPOND by alice: done already (tool sleep on r)\n");
  approval.clear_decision();
  approval.set_state(v1::Approval::PENDING);
  EXPECT_EQ(FormatApproval(approval), "approval r:0:a: PENDING (tool sleep on r)\n");
}

TEST(FormatTranscriptTest, ShowsChildRunsApprovalsDecisionsAndSeqs) {
  v1::Transcript transcript;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
      run_id: 'run_1' input: 'Research and then sleep' history_run_ids: ['run_0']
      entries { seq: 1 step: 0 model_turn { model: 'm' stop_reason: 'tool_use'
        content_json: '[{"type":"tool_use","id":"t1","name":"researcher","input":{"prompt":"dig"}},{"type":"tool_use","id":"t2","name":"sleep","input":{"seconds":5}},{"type":"tool_use","id":"t3","name":"rm","input":{}}]' } }
      entries { seq: 2 step: 0 tool_call { tool_use_id: 't1' name: 'researcher' input_json: '{"prompt":"dig"}'
        child_run_id: 'run_c' } }
      entries { seq: 3 step: 0 approval_request { tool_use_id: 't2' name: 'sleep' input_json: '{"seconds":5}'
        approval_id: 'run_1:0:t2' } }
      entries { seq: 4 step: 0 approval_request { tool_use_id: 't3' name: 'rm' approval_id: 'run_1:0:t3' } }
      entries { seq: 5 step: 0 tool_result { tool_use_id: 't1' content_json: '"three papers"' } }
      entries { seq: 6 step: 0 approval_decision { tool_use_id: 't2' decision: EDIT decided_by: 'alice'
        input_json: '{"seconds":1}' } }
      entries { seq: 7 step: 0 tool_call { tool_use_id: 't2' name: 'sleep' input_json: '{"seconds":5}'
        edited_input_json: '{"seconds":1}' } }
      entries { seq: 8 step: 0 tool_result { tool_use_id: 't2' content_json: '"slept 1 s"' duration_ms: 1000 } }
      )pb", &transcript));
  std::string text = FormatTranscript(transcript);
  EXPECT_THAT(text, HasSubstr("transcript of run_1\ncontinues run_0 (their conversation comes before this input)\n"));
  EXPECT_THAT(text, HasSubstr("\n#1 step 0 · m · tool_use\nassistant:\n  -> researcher {\"prompt\":\"dig\"}  [t1]\n"));
  EXPECT_THAT(text, HasSubstr("#2 subagent researcher [t1]: child run run_c\n"
                              "#3 approval requested for sleep [t2] · id run_1:0:t2\n"
                              "#4 approval requested for rm [t3] · id run_1:0:t3 · no decision yet\n"
                              "#5 subagent researcher [t1] (0 ms):\n  three papers\n"
                              "#6 approval for sleep [t2]: EDIT by alice: {\"seconds\":1}\n"
                              "#7 tool sleep [t2]: edited input {\"seconds\":1}\n"
                              "#8 tool sleep [t2] (1.0 s):\n  slept 1 s\n"));
}

TEST(FormatTranscriptTest, AChildWithoutAResultYetAndAnApprovalOfASummarizedTurn) {
  v1::Transcript transcript;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
      run_id: 'run_1'
      entries { seq: 4 step: 2 tool_call { tool_use_id: 't1' name: 'researcher' child_run_id: 'run_c' } }
      entries { seq: 5 step: 2 approval_request { tool_use_id: 't2' name: 'sleep' input_json: '{"seconds":5}' } }
      entries { seq: 6 step: 2 approval_decision { tool_use_id: 't2' decision: DENY timed_out: true } }
      entries { seq: 7 step: 2 tool_result { tool_use_id: 't2' is_error: true content_json: '"approval timed out"' } }
      )pb", &transcript));
  std::string text = FormatTranscript(transcript);
  EXPECT_THAT(text, HasSubstr("  -> researcher {}  [t1]\n#4 subagent researcher [t1]: child run run_c, no result yet\n"));
  EXPECT_THAT(text, HasSubstr("  -> sleep {\"seconds\":5}  [t2]\n#5 approval requested for sleep [t2]\n"));
  EXPECT_THAT(text, HasSubstr("#6 approval for sleep [t2]: DENY (timed out)\n"
                              "#7 tool sleep [t2] ERROR (0 ms):\n  approval timed out\n"));
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
