// What `baton watch` and `baton run --watch` print as a run's events arrive: live text
// as it streams, the durable events as FormatEvent shows them, and, when the watch
// includes the run's subagents, their events prefixed with their run id. No gRPC: the
// watch loop in commands.cc feeds it.
#ifndef BATON_CLI_EVENT_PRINTER_H_
#define BATON_CLI_EVENT_PRINTER_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "baton/v1/run.pb.h"

namespace baton::cli {

// Prints the events of one watch, across reconnects: an event seen before (the server
// replays after a reconnect) is printed once. Not thread-safe; writes to `out`, which
// the caller owns and keeps alive.
class EventPrinter {
 public:
  // `run_id`: the watched run; `after_seq`: its events up to this seq are not printed.
  EventPrinter(std::string run_id, int64_t after_seq, bool json, std::ostream& out);
  EventPrinter(const EventPrinter&) = delete;
  EventPrinter& operator=(const EventPrinter&) = delete;

  void Print(const v1::RunEvent& event);

  // The seq of the watched run's last durable event printed (where a reconnect resumes).
  int64_t last_seq() const { return last_seq_; }
  // The watched run's terminal state once its event was seen, else RUN_STATE_UNSPECIFIED.
  v1::RunState final_state() const { return final_state_; }

 private:
  // False for a durable event printed before.
  bool IsNew(const v1::RunEvent& event);
  void PrintOwn(const v1::RunEvent& event);
  void PrintChild(const v1::RunEvent& event);
  void EndLiveLine();

  const std::string run_id_;
  const bool json_;
  std::ostream& out_;
  int64_t last_seq_;
  v1::RunState final_state_ = v1::RUN_STATE_UNSPECIFIED;
  // The last seq printed of each subagent's run (their seqs are their own).
  std::map<std::string, int64_t> child_last_seq_;
  // Live text: the step whose deltas are being printed (-1: none), what they said, and
  // whether a gap cut them, in which case the step's durable text event prints it
  // whole; else it prints what the deltas have not said yet.
  int live_step_ = -1;
  std::string live_text_;
  bool live_gap_ = false;
  // The last step whose durable text or end was printed (-1: none): live events of it
  // and of the steps before, late, are not.
  int done_step_ = -1;
  bool line_open_ = false;  // live text printed without its newline yet
  // The last step whose start arrived live (-1: none) and its model: the durable
  // StepStarted of the same step and model is not printed again.
  int live_started_step_ = -1;
  std::string live_started_model_;
};

}  // namespace baton::cli

#endif  // BATON_CLI_EVENT_PRINTER_H_
