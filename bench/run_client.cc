#include "bench/run_client.h"

#include <random>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace baton::bench {
namespace {

bool IsTerminal(v1::RunState s) { return s == v1::SUCCEEDED || s == v1::FAILED || s == v1::CANCELLED; }

// One run from CreateRun to its terminal event, watched with WatchRun (Message:
// RunEvent) or WatchRunBatched (RunEventBatch). Deletes itself when done.
template <typename Message>
class RunCall final : public grpc::ClientReadReactor<Message> {
 public:
  static constexpr bool kBatched = std::is_same_v<Message, v1::RunEventBatch>;

  RunCall(v1::RunService::Stub& stub, const v1::CreateRunRequest& request, const SubmitOptions& options,
          std::function<void(RunRecord)> done)
      : stub_(stub), request_(request), options_(options), done_(std::move(done)) {}

  void Start() {
    record_.submit = absl::Now();
    create_ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    stub_.async()->CreateRun(&create_ctx_, &request_, &created_, [this](grpc::Status s) { OnCreated(s); });
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the stream's status
    const absl::Time now = absl::Now();
    if constexpr (kBatched) {
      for (const v1::RunEvent& event : message_.events()) OnEvent(event, now);
    } else {
      OnEvent(message_, now);
    }
    this->StartRead(&message_);
  }

  void OnDone(const grpc::Status& s) override {
    record_.ok = s.ok() && IsTerminal(record_.state);
    if (!s.ok()) record_.error = absl::StrCat(kBatched ? "WatchRunBatched: " : "WatchRun: ", s.error_message());
    Finish();
  }

 private:
  void OnCreated(const grpc::Status& s) {
    record_.created = absl::Now();
    if (!s.ok()) {
      record_.error = absl::StrCat("CreateRun: ", s.error_message());
      Finish();
      return;
    }
    record_.run_id = created_.run_id();
    record_.state = created_.state();
    record_.create_time_ms = created_.create_time_ms();
    if (!options_.watch) {
      record_.ok = true;
      Finish();
      return;
    }
    watch_request_.set_run_id(record_.run_id);
    watch_request_.set_include_children(options_.include_children);
    watch_ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(10)));
    if constexpr (kBatched) {
      stub_.async()->WatchRunBatched(&watch_ctx_, &watch_request_, this);
    } else {
      stub_.async()->WatchRun(&watch_ctx_, &watch_request_, this);
    }
    this->StartRead(&message_);
    this->StartCall();
  }

  void OnEvent(const v1::RunEvent& event, absl::Time now) {
    // With include_children the stream carries the subagents' events as well.
    if (event.has_state_changed() && event.run_id() == record_.run_id) {
      const v1::RunState state = event.state_changed().state();
      if (state == v1::RUNNING && record_.first_start_ms == 0) record_.first_start_ms = event.time_ms();
      if (IsTerminal(state)) {
        record_.state = state;
        record_.end_ms = event.time_ms();
        record_.done = now;
      }
    }
    if (event.has_final_output() && event.run_id() == record_.run_id) {
      record_.model_calls = event.final_output().usage().model_calls();
    }
    if (options_.on_event) options_.on_event(event);
    if (options_.keep_events) record_.events.push_back(event);
  }

  void Finish() {
    done_(std::move(record_));
    delete this;
  }

  v1::RunService::Stub& stub_;
  const v1::CreateRunRequest request_;
  const SubmitOptions options_;
  std::function<void(RunRecord)> done_;
  grpc::ClientContext create_ctx_;
  v1::Run created_;
  grpc::ClientContext watch_ctx_;
  v1::WatchRunRequest watch_request_;
  Message message_;
  RunRecord record_;
};

}  // namespace

RunClient::RunClient(const std::string& address, int channels, const ChannelOptions& channel, bool batched_watch)
    : batched_watch_(batched_watch) {
  ChannelOptions options = channel;
  // A connection per channel: many clients, not one multiplexed one.
  options.own_connection = true;
  for (int i = 0; i < std::max(channels, 1); ++i) {
    channels_.push_back(NewChannel(address, options));
    stubs_.push_back(v1::RunService::NewStub(channels_.back()));
  }
}

void RunClient::Submit(const v1::CreateRunRequest& request, const SubmitOptions& options,
                       std::function<void(RunRecord)> done) {
  v1::RunService::Stub& stub = *stubs_[next_++ % stubs_.size()];
  if (batched_watch_) {
    (new RunCall<v1::RunEventBatch>(stub, request, options, std::move(done)))->Start();
  } else {
    (new RunCall<v1::RunEvent>(stub, request, options, std::move(done)))->Start();
  }
}

namespace {

struct Collected {
  absl::Mutex mu;
  std::vector<RunRecord> records ABSL_GUARDED_BY(mu);
};

std::vector<RunRecord> Drive(RunClient& client, const RequestFactory& make, int64_t total,
                             const SubmitOptions& options,
                             const std::function<void(int64_t i, Outstanding&)>& before_submit) {
  Collected collected;
  {
    absl::MutexLock lock(&collected.mu);
    collected.records.resize(total);
  }
  Outstanding outstanding;
  for (int64_t i = 0; i < total; ++i) {
    before_submit(i, outstanding);
    outstanding.Add();
    client.Submit(make(i), options, [i, &collected, &outstanding](RunRecord record) {
      {
        absl::MutexLock lock(&collected.mu);
        collected.records[i] = std::move(record);
      }
      outstanding.Done();
    });
  }
  outstanding.WaitBelow(1);
  absl::MutexLock lock(&collected.mu);
  return std::move(collected.records);
}

}  // namespace

std::vector<RunRecord> RunClosedLoop(RunClient& client, const RequestFactory& make, int64_t total,
                                     int max_outstanding, const SubmitOptions& options) {
  return Drive(client, make, total, options,
               [max_outstanding](int64_t, Outstanding& o) { o.WaitBelow(max_outstanding); });
}

std::vector<RunRecord> RunOpenLoop(RunClient& client, const RequestFactory& make, int64_t total,
                                   double rate_per_s, const SubmitOptions& options) {
  std::mt19937_64 rng(12345);
  std::exponential_distribution<double> gap(rate_per_s);
  const absl::Time start = absl::Now();
  double at_s = 0;
  return Drive(client, make, total, options, [&](int64_t, Outstanding&) {
    at_s += gap(rng);
    const absl::Time due = start + absl::Seconds(at_s);
    const absl::Duration wait = due - absl::Now();
    if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
  });
}

}  // namespace baton::bench
