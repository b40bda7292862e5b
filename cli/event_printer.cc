#include "cli/event_printer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/format.h"

namespace baton::cli {

EventPrinter::EventPrinter(std::string run_id, int64_t after_seq, bool json, std::ostream& out)
    : run_id_(std::move(run_id)), json_(json), out_(out), last_seq_(after_seq) {}

void EventPrinter::Print(const v1::RunEvent& event) {
  if (!IsNew(event)) return;
  const bool own = event.run_id().empty() || event.run_id() == run_id_;
  if (own && event.has_state_changed() && IsTerminal(event.state_changed().state())) {
    final_state_ = event.state_changed().state();
  }
  if (json_) {
    out_ << ToJsonLine(event) << "\n";
  } else if (own) {
    PrintOwn(event);
  } else {
    PrintChild(event);
  }
  out_.flush();
}

bool EventPrinter::IsNew(const v1::RunEvent& event) {
  if (event.seq() <= 0) return true;  // live events are never replayed
  const bool own = event.run_id().empty() || event.run_id() == run_id_;
  int64_t& last = own ? last_seq_ : child_last_seq_[event.run_id()];
  if (event.seq() <= last) return false;
  last = event.seq();
  return true;
}

void EventPrinter::PrintOwn(const v1::RunEvent& event) {
  if (event.has_text_delta()) {
    const int step = event.text_delta().step();
    // Deltas that come after their step's durable text are not printed: it was, whole.
    if (step <= done_step_) return;
    if (live_step_ != step) {
      EndLiveLine();
      live_step_ = step;
      live_gap_ = false;
      live_text_.clear();
    }
    // A new line (the step's first delta, or after another event cut in) gets the label.
    if (!line_open_) out_ << "  text: ";
    out_ << event.text_delta().text();
    live_text_ += event.text_delta().text();
    line_open_ = true;
    return;
  }
  if (event.has_gap()) {
    if (live_step_ >= 0) live_gap_ = true;
    return;
  }
  // A step's text event repeats what was printed live, unless a gap cut it. Its last
  // deltas may still be on their way (they travel apart from the durable events, and
  // the stream ends with the run): what was not printed yet follows on the line.
  if (event.has_text() && event.text().step() == live_step_ && !live_gap_ &&
      absl::StartsWith(event.text().text(), live_text_)) {
    const std::string_view rest = std::string_view(event.text().text()).substr(live_text_.size());
    if (!rest.empty()) {
      if (!line_open_) out_ << "  text: ";
      out_ << rest;
      line_open_ = true;
    }
    done_step_ = std::max(done_step_, live_step_);
    EndLiveLine();
    return;
  }
  // Nor is a live StepStarted that comes after its step's durable text or end.
  if (event.has_step_started() && event.seq() <= 0 && event.step_started().step() <= done_step_) return;
  if (event.has_text()) done_step_ = std::max(done_step_, event.text().step());
  if (event.has_step_finished()) done_step_ = std::max(done_step_, event.step_finished().step());
  // A step's durable StepStarted repeats the live one, unless the model changed.
  const bool announced = event.has_step_started() && event.seq() > 0 &&
                         event.step_started().step() == live_started_step_ &&
                         event.step_started().model() == live_started_model_;
  if (event.has_step_started() && event.seq() <= 0) {
    live_started_step_ = event.step_started().step();
    live_started_model_ = event.step_started().model();
  }
  // Only what prints ends the live line: the durable start of a step whose text is
  // streaming (it overtakes the step's last deltas) prints nothing and cuts nothing.
  const std::string text = announced ? std::string() : FormatEvent(event);
  if (!text.empty()) {
    EndLiveLine();
    out_ << text;
  }
  if (event.has_step_finished() && event.step_finished().step() == live_step_) live_step_ = -1;
}

void EventPrinter::PrintChild(const v1::RunEvent& event) {
  if (event.seq() <= 0) return;  // a subagent's live text: its durable text event follows
  EndLiveLine();
  std::string text = FormatEvent(event);
  if (text.empty()) return;
  if (text.back() == '\n') text.pop_back();
  const std::string prefix = absl::StrCat("[", event.run_id(), "] ");
  for (absl::string_view line : absl::StrSplit(text, '\n')) out_ << prefix << line << "\n";
}

void EventPrinter::EndLiveLine() {
  if (line_open_) out_ << "\n";
  line_open_ = false;
}

}  // namespace baton::cli
