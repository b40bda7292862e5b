// An InputRequester the test answers, for the elicitation tests.
#ifndef BATON_TESTS_MCP_BRIDGE_FAKE_INPUT_REQUESTER_H_
#define BATON_TESTS_MCP_BRIDGE_FAKE_INPUT_REQUESTER_H_

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "mcp-bridge/input_requester.h"

namespace baton::mcp::testing {

// Holds every ask until the test decides it (or answers each with the decision
// given to AnswerEveryAskWith). `done` runs on a thread of its own, as the
// InputRequester contract asks. Thread-safe.
class FakeInputRequester final : public InputRequester {
 public:
  ~FakeInputRequester() override {
    for (std::thread& t : threads_) t.join();
  }
  AskId Ask(InputRequest request, std::function<void(absl::StatusOr<InputDecision>)> done) override {
    std::lock_guard<std::mutex> lock(mu_);
    const AskId id = next_id_++;
    requests_.push_back(request);
    done_[id] = std::move(done);
    if (answer_.has_value()) RunLocked(id, *answer_);
    return id;
  }
  void AnswerEveryAskWith(InputDecision decision) {
    std::lock_guard<std::mutex> lock(mu_);
    answer_ = std::move(decision);
  }
  void Cancel(AskId id) override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_.push_back(id);
    RunLocked(id, absl::CancelledError("cancelled"));
  }
  void Decide(AskId id, absl::StatusOr<InputDecision> decision) {
    std::lock_guard<std::mutex> lock(mu_);
    RunLocked(id, std::move(decision));
  }
  std::vector<InputRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::vector<AskId> cancelled() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_;
  }

 private:
  void RunLocked(AskId id, absl::StatusOr<InputDecision> decision) {
    auto it = done_.find(id);
    if (it == done_.end()) return;
    threads_.emplace_back([done = std::move(it->second), decision = std::move(decision)] { done(decision); });
    done_.erase(it);
  }

  mutable std::mutex mu_;
  AskId next_id_ = 1;
  std::optional<InputDecision> answer_;
  std::vector<InputRequest> requests_;
  std::vector<AskId> cancelled_;
  std::map<AskId, std::function<void(absl::StatusOr<InputDecision>)>> done_;
  std::vector<std::thread> threads_;
};

}  // namespace baton::mcp::testing

#endif  // BATON_TESTS_MCP_BRIDGE_FAKE_INPUT_REQUESTER_H_
