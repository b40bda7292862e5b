// A scriptable ToolServer for the bridge's policy tests.
#ifndef BATON_TESTS_MCP_BRIDGE_FAKE_TOOL_SERVER_H_
#define BATON_TESTS_MCP_BRIDGE_FAKE_TOOL_SERVER_H_

#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "mcp-bridge/tool_server.h"

namespace baton::mcp::testing {

// Thread-safe. Answers calls with `respond` (synchronously) unless `hold_calls`,
// in which case they wait until Release or CancelCall.
class FakeToolServer final : public ToolServer {
 public:
  struct SeenCall {
    std::string tool;
    nlohmann::json arguments;
    CallOptions options;
  };

  FakeToolServer(ServerConfig config, std::vector<McpTool> tools) : config_(std::move(config)), tools_(std::move(tools)) {}

  const ServerConfig& config() const override { return config_; }
  void SetToolsChangedCallback(std::function<void()> callback) override { changed_ = std::move(callback); }
  void Start() override {
    if (changed_) changed_();
  }
  bool WaitUntilStarted(absl::Duration) override { return true; }
  std::vector<McpTool> tools() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return tools_;
  }
  ServerState state() const override {
    ServerState s;
    s.connected = true;
    s.tool_count = static_cast<int>(tools().size());
    return s;
  }
  int64_t CallTool(const std::string& tool, nlohmann::json arguments, const CallOptions& options,
                   std::function<void(CallResult)> done) override {
    int64_t handle;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back({tool, arguments, options});
      handle = next_handle_++;
      if (hold_calls) {
        held_[handle] = std::move(done);
        return handle;
      }
    }
    done(respond(tool, arguments));
    return handle;
  }
  void CancelCall(int64_t handle, const std::string& reason) override {
    std::function<void(CallResult)> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancels_.push_back(reason);
      auto it = held_.find(handle);
      if (it == held_.end()) return;
      done = std::move(it->second);
      held_.erase(it);
    }
    CallResult r;
    r.kind = CallResult::Kind::kCancelled;
    r.sent = true;
    r.message = reason;
    done(std::move(r));
  }
  void Stop() override {}

  void SetTools(std::vector<McpTool> tools) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tools_ = std::move(tools);
    }
    if (changed_) changed_();
  }
  std::vector<SeenCall> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<std::string> cancels() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cancels_;
  }

  std::function<CallResult(const std::string&, const nlohmann::json&)> respond =
      [](const std::string& tool, const nlohmann::json&) {
        CallResult r;
        r.kind = CallResult::Kind::kResult;
        r.sent = true;
        r.result = {{"content", {{{"type", "text"}, {"text", "ran " + tool}}}}};
        return r;
      };
  bool hold_calls = false;

 private:
  const ServerConfig config_;
  std::function<void()> changed_;
  mutable std::mutex mu_;
  std::vector<McpTool> tools_;
  std::vector<SeenCall> calls_;
  std::vector<std::string> cancels_;
  int64_t next_handle_ = 1;
  std::map<int64_t, std::function<void(CallResult)>> held_;
};

inline McpTool MakeTool(std::string name, nlohmann::json schema = {{"type", "object"}}) {
  McpTool t;
  t.name = std::move(name);
  t.description = "a test tool";
  t.input_schema = std::move(schema);
  return t;
}

}  // namespace baton::mcp::testing

#endif  // BATON_TESTS_MCP_BRIDGE_FAKE_TOOL_SERVER_H_
