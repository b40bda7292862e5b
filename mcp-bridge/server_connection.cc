#include "mcp-bridge/server_connection.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "mcp-bridge/http_transport.h"
#include "mcp-bridge/stdio_transport.h"

namespace baton::mcp {

using json = nlohmann::json;

namespace {

// A server that stayed up this long starts its next restart backoff afresh.
constexpr absl::Duration kStableUptime = absl::Minutes(1);

bool GetBool(const json& object, const char* key, bool fallback) {
  if (object.is_object() && object.contains(key) && object[key].is_boolean()) return object[key].get<bool>();
  return fallback;
}

std::string GetString(const json& object, const char* key) {
  if (object.is_object() && object.contains(key) && object[key].is_string()) return object[key].get<std::string>();
  return "";
}

}  // namespace

absl::StatusOr<McpTool> ParseTool(const json& tool) {
  if (!tool.is_object() || !tool.contains("name") || !tool["name"].is_string() ||
      tool["name"].get<std::string>().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("a tool without a name: ", tool.dump().substr(0, 200)));
  }
  McpTool t;
  t.name = tool["name"].get<std::string>();
  t.title = GetString(tool, "title");
  t.description = GetString(tool, "description");
  if (tool.contains("inputSchema") && tool["inputSchema"].is_object()) t.input_schema = tool["inputSchema"];
  if (!t.input_schema.contains("type")) t.input_schema["type"] = "object";
  if (tool.contains("outputSchema") && tool["outputSchema"].is_object()) t.output_schema = tool["outputSchema"];
  const json annotations = tool.value("annotations", json::object());
  t.read_only = GetBool(annotations, "readOnlyHint", false);
  t.destructive = GetBool(annotations, "destructiveHint", true);
  t.idempotent = GetBool(annotations, "idempotentHint", false);
  t.open_world = GetBool(annotations, "openWorldHint", true);
  if (t.title.empty()) t.title = GetString(annotations, "title");
  return t;
}

TransportFactory DefaultTransportFactory() {
  return [](const ServerConfig& config) -> absl::StatusOr<std::unique_ptr<Transport>> {
    switch (config.transport) {
      case TransportKind::kStdio: {
        StdioTransportOptions options;
        options.command = config.command;
        options.args = config.args;
        options.env = config.env;
        options.cwd = config.cwd;
        options.log_name = config.name;
        return std::unique_ptr<Transport>(std::make_unique<StdioTransport>(std::move(options)));
      }
      case TransportKind::kStreamableHttp:
      case TransportKind::kSse: {
        HttpTransportOptions options;
        options.url = config.url;
        options.headers = config.headers;
        options.log_name = config.name;
        options.legacy_only = config.transport == TransportKind::kSse;
        return std::unique_ptr<Transport>(std::make_unique<HttpTransport>(std::move(options)));
      }
    }
    return absl::InvalidArgumentError("unknown transport");
  };
}

ServerConnection::ServerConnection(ServerConfig config, TransportFactory factory, TimerQueue& timers,
                                   McpClientOptions client_options)
    : config_(std::move(config)),
      factory_(std::move(factory)),
      client_options_([&] {
        McpClientOptions o = std::move(client_options);
        o.log_name = config_.name;
        o.request_timeout = config_.request_timeout;
        return o;
      }()),
      timers_(timers) {
  absl::MutexLock lock(&lifeline_->mu);
  lifeline_->self = this;
}

ServerConnection::~ServerConnection() {
  Stop();
  absl::MutexLock lock(&lifeline_->mu);
  lifeline_->self = nullptr;
}

void ServerConnection::SetToolsChangedCallback(std::function<void()> callback) {
  on_tools_changed_ = std::move(callback);
}

void ServerConnection::Start() {
  supervisor_ = std::thread([this] { Supervise(); });
}

bool ServerConnection::WaitUntilStarted(absl::Duration timeout) {
  return started_.WaitForNotificationWithTimeout(timeout);
}

std::vector<McpTool> ServerConnection::tools() const {
  absl::MutexLock lock(&mu_);
  return tools_;
}

ServerState ServerConnection::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

void ServerConnection::NotifyToolsChanged() {
  if (on_tools_changed_) on_tools_changed_();
}

absl::Status ServerConnection::RefreshTools(McpClient& client) {
  absl::StatusOr<std::vector<json>> listed = client.ListTools();
  if (!listed.ok()) return listed.status();
  std::vector<McpTool> tools;
  for (const json& entry : *listed) {
    absl::StatusOr<McpTool> tool = ParseTool(entry);
    if (!tool.ok()) {
      BATON_LOG(WARNING) << "[" << config_.name << "] skipped " << tool.status().message();
      continue;
    }
    tools.push_back(std::move(*tool));
  }
  {
    absl::MutexLock lock(&mu_);
    state_.tool_count = static_cast<int>(tools.size());
    tools_ = std::move(tools);
  }
  NotifyToolsChanged();
  return absl::OkStatus();
}

absl::Status ServerConnection::ConnectOnce(uint64_t generation) {
  absl::StatusOr<std::unique_ptr<Transport>> transport = factory_(config_);
  if (!transport.ok()) return transport.status();
  McpClient::Callbacks callbacks;
  callbacks.on_tools_changed = [this, generation] {
    absl::MutexLock lock(&mu_);
    if (generation_ == generation) relist_ = true;
  };
  callbacks.on_closed = [this, generation](absl::Status why) {
    absl::MutexLock lock(&mu_);
    if (generation_ != generation) return;
    disconnected_ = true;
    state_.last_error = std::string(why.message());
  };
  auto client = std::make_shared<McpClient>(std::move(*transport), timers_, client_options_, std::move(callbacks));
  absl::StatusOr<ServerInfo> info = client->Connect();
  if (!info.ok()) {
    client->Close();
    return info.status();
  }
  {
    // A list_changed sent right after initialize is answered by this listing.
    absl::MutexLock lock(&mu_);
    relist_ = false;
  }
  if (absl::Status listed = RefreshTools(*client); !listed.ok()) {
    client->Close();
    return listed;
  }
  {
    absl::MutexLock lock(&mu_);
    client_ = client;
    state_.connected = true;
    state_.info = *info;
  }
  FlushWaiting(client);
  return absl::OkStatus();
}

void ServerConnection::Supervise() {
  absl::Duration backoff = config_.restart_backoff_initial;
  bool first = true;
  auto wait_or_stop = [this](absl::Duration d) {
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), d);
    return stop_;
  };
  while (true) {
    uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
      generation = ++generation_;
      disconnected_ = false;
      relist_ = false;
    }
    absl::Status connected = ConnectOnce(generation);
    if (first) {
      first = false;
      started_.Notify();
    }
    if (!connected.ok()) {
      BATON_LOG(WARNING) << "[" << config_.name << "] cannot connect: " << connected.message() << "; retrying in "
                         << absl::FormatDuration(backoff);
      {
        absl::MutexLock lock(&mu_);
        state_.last_error = std::string(connected.message());
        ++state_.restarts;
      }
      FlushWaiting(nullptr);
      if (wait_or_stop(backoff)) break;
      backoff = std::min(backoff * 2, config_.restart_backoff_max);
      continue;
    }
    const absl::Time connected_at = absl::Now();
    std::shared_ptr<McpClient> client;
    bool stopping = false;
    while (true) {
      bool relist = false;
      {
        absl::MutexLock lock(&mu_);
        auto event = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || disconnected_ || relist_; };
        mu_.Await(absl::Condition(&event));
        stopping = stop_;
        if (stop_ || disconnected_) {
          client = std::move(client_);
          state_.connected = false;
          break;
        }
        relist = relist_;
        relist_ = false;
        client = client_;
      }
      if (relist) {
        absl::Status s = RefreshTools(*client);
        if (!s.ok()) {
          BATON_LOG(WARNING) << "[" << config_.name << "] tools/list after list_changed: " << s.message();
        }
      }
      client.reset();
    }
    // Calls in flight on the dead connection have failed already (the transport
    // reported it); this stops the process or session for good.
    if (client != nullptr) client->Close();
    client.reset();
    if (stopping) break;
    {
      absl::MutexLock lock(&mu_);
      ++state_.restarts;
      BATON_LOG(WARNING) << "[" << config_.name << "] disconnected (" << state_.last_error << "); reconnecting in "
                         << absl::FormatDuration(backoff);
    }
    if (absl::Now() - connected_at >= kStableUptime) backoff = config_.restart_backoff_initial;
    if (wait_or_stop(backoff)) break;
    backoff = std::min(backoff * 2, config_.restart_backoff_max);
  }
  if (first) started_.Notify();
  {
    absl::MutexLock lock(&mu_);
    state_.last_error = "the bridge is stopping";
  }
  FlushWaiting(nullptr);
}

int64_t ServerConnection::CallTool(const std::string& tool, json arguments, const CallOptions& options,
                                   std::function<void(CallResult)> done) {
  int64_t handle;
  std::shared_ptr<McpClient> client;
  WaitingCall call{tool, std::move(arguments), options, std::move(done), 0};
  std::string refusal;
  {
    absl::MutexLock lock(&mu_);
    handle = next_handle_++;
    // A connection that just died waits for its successor like no connection.
    if (!disconnected_) client = client_;
    if (client != nullptr) {
      running_[handle] = RunningCall{client, 0, false, ""};
    } else if (stop_ || config_.connect_wait <= absl::ZeroDuration()) {
      refusal = absl::StrCat("the server is not connected",
                             state_.last_error.empty() ? "" : absl::StrCat(" (", state_.last_error, ")"));
    } else {
      // Waits for the (re)connection, not longer than the call itself may take.
      std::weak_ptr<Lifeline> weak = lifeline_;
      call.timer = timers_.Schedule(absl::Now() + std::min(config_.connect_wait, options.timeout), [weak, handle] {
        if (std::shared_ptr<Lifeline> lifeline = weak.lock()) {
          absl::MutexLock lock(&lifeline->mu);
          if (lifeline->self != nullptr) lifeline->self->OnWaitTimeout(handle);
        }
      });
      waiting_.emplace(handle, std::move(call));
      return handle;
    }
  }
  if (!refusal.empty()) {
    CallResult r;
    r.kind = CallResult::Kind::kUnavailable;
    r.message = std::move(refusal);
    call.done(std::move(r));
    return handle;
  }
  Dispatch(handle, client, std::move(call));
  return handle;
}

bool ServerConnection::Requeue(int64_t handle, WaitingCall& call, const McpClient* failed) {
  std::shared_ptr<McpClient> successor;
  {
    absl::MutexLock lock(&mu_);
    auto it = running_.find(handle);
    const bool cancelled = it != running_.end() && it->second.cancel_requested;
    if (stop_ || cancelled || config_.connect_wait <= absl::ZeroDuration()) return false;
    running_.erase(handle);
    std::weak_ptr<Lifeline> weak = lifeline_;
    call.timer = timers_.Schedule(absl::Now() + std::min(config_.connect_wait, call.options.timeout), [weak, handle] {
      if (std::shared_ptr<Lifeline> lifeline = weak.lock()) {
        absl::MutexLock lock(&lifeline->mu);
        if (lifeline->self != nullptr) lifeline->self->OnWaitTimeout(handle);
      }
    });
    waiting_.emplace(handle, std::move(call));
    // The connection may have been replaced already; else the next one takes it.
    if (!disconnected_ && client_.get() != failed) successor = client_;
  }
  if (successor != nullptr) FlushWaiting(successor);
  return true;
}

void ServerConnection::Dispatch(int64_t handle, const std::shared_ptr<McpClient>& client, WaitingCall call) {
  // Kept until the call ends: a call the dying connection could not even send
  // waits for the next connection instead of failing.
  auto saved = std::make_shared<WaitingCall>(std::move(call));
  const McpClient* raw = client.get();
  auto done = [this, handle, saved, raw](CallResult r) {
    if (r.kind == CallResult::Kind::kUnavailable && !r.sent && Requeue(handle, *saved, raw)) return;
    {
      absl::MutexLock lock(&mu_);
      running_.erase(handle);
    }
    saved->done(std::move(r));
  };
  const McpClient::CallId id = client->CallTool(saved->tool, saved->arguments, saved->options, std::move(done));
  std::string cancel_reason;
  {
    absl::MutexLock lock(&mu_);
    auto it = running_.find(handle);
    if (it == running_.end()) return;  // answered already
    it->second.id = id;
    if (!it->second.cancel_requested) return;
    cancel_reason = it->second.cancel_reason;
  }
  client->CancelCall(id, cancel_reason);
}

void ServerConnection::FlushWaiting(const std::shared_ptr<McpClient>& client) {
  std::vector<std::pair<int64_t, WaitingCall>> calls;
  std::string error;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [handle, call] : waiting_) {
      timers_.Cancel(call.timer);
      if (client != nullptr) running_[handle] = RunningCall{client, 0, false, ""};
      calls.emplace_back(handle, std::move(call));
    }
    waiting_.clear();
    error = state_.last_error;
  }
  for (auto& [handle, call] : calls) {
    if (client != nullptr) {
      Dispatch(handle, client, std::move(call));
      continue;
    }
    CallResult r;
    r.kind = CallResult::Kind::kUnavailable;
    r.message = absl::StrCat("the server is not connected", error.empty() ? "" : absl::StrCat(" (", error, ")"));
    call.done(std::move(r));
  }
}

void ServerConnection::OnWaitTimeout(int64_t handle) {
  WaitingCall call;
  std::string error;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiting_.find(handle);
    if (it == waiting_.end()) return;
    call = std::move(it->second);
    waiting_.erase(it);
    error = state_.last_error;
  }
  CallResult r;
  r.kind = CallResult::Kind::kUnavailable;
  r.message = absl::StrCat("the server did not come back in time", error.empty() ? "" : absl::StrCat(" (", error, ")"));
  call.done(std::move(r));
}

void ServerConnection::CancelCall(int64_t handle, const std::string& reason) {
  std::function<void(CallResult)> waiting_done;
  std::shared_ptr<McpClient> client;
  McpClient::CallId id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = waiting_.find(handle); it != waiting_.end()) {
      timers_.Cancel(it->second.timer);
      waiting_done = std::move(it->second.done);
      waiting_.erase(it);
    } else if (auto run = running_.find(handle); run != running_.end()) {
      if (run->second.id == 0) {
        run->second.cancel_requested = true;
        run->second.cancel_reason = reason;
        return;
      }
      client = run->second.client.lock();
      id = run->second.id;
    } else {
      return;
    }
  }
  if (waiting_done) {
    CallResult r;
    r.kind = CallResult::Kind::kCancelled;
    r.message = reason;
    waiting_done(std::move(r));
    return;
  }
  if (client != nullptr) client->CancelCall(id, reason);
}

void ServerConnection::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (supervisor_.joinable()) supervisor_.join();
}

}  // namespace baton::mcp
