#include "cli/event_printer.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

namespace baton::cli {
namespace {

v1::RunEvent Event(const std::string& run_id, int64_t seq, const std::string& text_proto) {
  v1::RunEvent event;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text_proto, &event)) << text_proto;
  event.set_run_id(run_id);
  event.set_seq(seq);
  return event;
}

TEST(EventPrinterTest, OnlyTheWatchedRunsEndIsTheFinalState) {
  std::ostringstream out;
  EventPrinter printer("run_1", 0, /*json=*/false, out);
  printer.Print(Event("run_1", 1, "state_changed { state: RUNNING }"));
  printer.Print(Event("run_c", 7, "state_changed { state: FAILED }"));
  EXPECT_EQ(printer.final_state(), v1::RUN_STATE_UNSPECIFIED);
  EXPECT_EQ(printer.last_seq(), 1);
  printer.Print(Event("run_1", 2, "state_changed { state: SUCCEEDED }"));
  EXPECT_EQ(printer.final_state(), v1::SUCCEEDED);
  EXPECT_EQ(out.str(), "state RUNNING\n[run_c] state FAILED\nstate SUCCEEDED\n");
}

TEST(EventPrinterTest, EventsSeenBeforeArePrintedOncePerRun) {
  std::ostringstream out;
  EventPrinter printer("run_1", 3, /*json=*/false, out);
  printer.Print(Event("run_1", 2, "state_changed { state: QUEUED }"));  // before after_seq
  printer.Print(Event("run_c", 1, "state_changed { state: QUEUED }"));  // a child's seqs are its own
  printer.Print(Event("run_c", 1, "state_changed { state: QUEUED }"));
  printer.Print(Event("run_1", 4, "state_changed { state: RUNNING }"));
  printer.Print(Event("run_1", 4, "state_changed { state: RUNNING }"));
  EXPECT_EQ(out.str(), "[run_c] state QUEUED\nstate RUNNING\n");
}

TEST(EventPrinterTest, AChildEventCuttingLiveTextEndsTheLineAndTheTextGoesOnLabelled) {
  std::ostringstream out;
  EventPrinter printer("run_1", 0, /*json=*/false, out);
  printer.Print(Event("run_1", 0, "text_delta { step: 1 text: 'Hello ' }"));
  printer.Print(Event("run_c", 3, "child_started { child_run_id: 'run_d' }"));
  printer.Print(Event("run_1", 0, "text_delta { step: 1 text: 'world' }"));
  printer.Print(Event("run_1", 5, "text { step: 1 text: 'Hello world' }"));  // streamed already
  EXPECT_EQ(out.str(), "  text: Hello \n[run_c]   child run_d started\n  text: world\n");
}

// Live text and durable events travel apart: a step's durable text can come before
// its last deltas, which the end of the run's stream then cuts off. What the deltas
// did not say is printed from the durable text, and deltas or a live start that come
// after it are not printed again.
TEST(EventPrinterTest, AStepsTextOvertakingItsLastDeltasIsPrintedWhole) {
  std::ostringstream out;
  EventPrinter printer("run_1", 0, /*json=*/false, out);
  printer.Print(Event("run_1", 0, "text_delta { step: 3 text: 'Done. ec' }"));
  printer.Print(Event("run_1", 7, "text { step: 3 text: 'Done. echo returned hello' }"));
  printer.Print(Event("run_1", 8, "step_finished { step: 3 stop_reason: 'end_turn' }"));
  printer.Print(Event("run_1", 0, "text_delta { step: 3 text: 'ho returned hello' }"));
  printer.Print(Event("run_1", 0, "step_started { step: 3 model: 'claude-a' }"));
  EXPECT_EQ(out.str(), "  text: Done. echo returned hello\nstep 3 done: end_turn\n");

  // Deltas that do not lead to the durable text (a model call retried within the
  // step): the durable text is printed whole.
  std::ostringstream other;
  EventPrinter retried("run_1", 0, /*json=*/false, other);
  retried.Print(Event("run_1", 0, "text_delta { step: 0 text: 'First try' }"));
  retried.Print(Event("run_1", 4, "text { step: 0 text: 'Second answer' }"));
  EXPECT_EQ(other.str(), "  text: First try\n  text: Second answer\n");
}

TEST(EventPrinterTest, AStepIsAnnouncedWhenItStartsAndItsDurableStartIsNotRepeated) {
  std::ostringstream out;
  EventPrinter printer("run_1", 0, /*json=*/false, out);
  printer.Print(Event("run_1", 0, "step_started { step: 0 model: 'claude-a' model_rule: 'default' }"));
  printer.Print(Event("run_1", 2, "step_started { step: 0 model: 'claude-a' model_rule: 'default' }"));
  // A fallback changed the model: the durable event says which answered.
  printer.Print(Event("run_1", 0, "step_started { step: 1 model: 'claude-a' }"));
  printer.Print(Event("run_1", 5, "step_started { step: 1 model: 'claude-b' }"));
  EXPECT_EQ(out.str(),
            "step 0: model claude-a (default)\nstep 1: model claude-a\nstep 1: model claude-b\n");
}

// The durable start of a step comes once the model has answered, often before the
// step's last deltas: it repeats the live start, so it prints nothing, and the live
// text goes on on its line.
TEST(EventPrinterTest, ADurableStartRepeatingTheLiveOneDoesNotCutTheLiveText) {
  std::ostringstream out;
  EventPrinter printer("run_1", 0, /*json=*/false, out);
  printer.Print(Event("run_1", 0, "step_started { step: 2 model: 'claude-a' }"));
  printer.Print(Event("run_1", 0, "text_delta { step: 2 text: 'I will cal' }"));
  printer.Print(Event("run_1", 6, "step_started { step: 2 model: 'claude-a' }"));
  printer.Print(Event("run_1", 0, "text_delta { step: 2 text: 'l sum.' }"));
  printer.Print(Event("run_1", 7, "text { step: 2 text: 'I will call sum.' }"));
  printer.Print(Event("run_1", 8, "step_finished { step: 2 stop_reason: 'tool_use' }"));
  EXPECT_EQ(out.str(), "step 2: model claude-a\n  text: I will call sum.\nstep 2 done: tool_use\n");
}

TEST(EventPrinterTest, JsonPrintsEveryEventOnItsOwnLine) {
  std::ostringstream out;
  EventPrinter printer("run_1", 0, /*json=*/true, out);
  printer.Print(Event("run_c", 1, "state_changed { state: QUEUED }"));
  EXPECT_EQ(out.str(), R"({"runId":"run_c","seq":"1","stateChanged":{"state":"QUEUED"}})" "\n");
}

}  // namespace
}  // namespace baton::cli
