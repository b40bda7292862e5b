#include "mcp-bridge/mcp_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"

namespace baton::mcp {

using json = nlohmann::json;

bool IsSupportedProtocolVersion(const std::string& version) {
  return version == "2025-11-25" || version == "2025-06-18" || version == "2025-03-26" ||
         version == "2024-11-05";
}

McpClient::McpClient(std::unique_ptr<Transport> transport, TimerQueue& timers, McpClientOptions options,
                     Callbacks callbacks)
    : options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      lifeline_(std::make_shared<Lifeline>()),
      timers_(timers),
      transport_(std::move(transport)),
      rpc_([this](const std::string& message) { return transport_->Send(message); },
           JsonRpcConnection::Handlers{
               [this](const std::string& method, const json& params) { OnNotification(method, params); },
               [this](const std::string& method, const json& params) { return OnRequest(method, params); }}) {
  absl::MutexLock lock(&lifeline_->mu);
  lifeline_->client = this;
}

McpClient::~McpClient() {
  Close();
  absl::MutexLock lock(&lifeline_->mu);
  lifeline_->client = nullptr;
}

absl::StatusOr<JsonRpcResponse> McpClient::Request(const std::string& method, json params) {
  absl::Notification done;
  absl::StatusOr<JsonRpcResponse> response;
  absl::StatusOr<int64_t> id = rpc_.SendRequest(method, std::move(params), [&](absl::StatusOr<JsonRpcResponse> r) {
    response = std::move(r);
    done.Notify();
  });
  if (!id.ok()) return id.status();
  if (!done.WaitForNotificationWithTimeout(options_.request_timeout)) {
    if (rpc_.Abandon(*id, absl::DeadlineExceededError(absl::StrCat(method, ": no answer within ",
                                                                    absl::FormatDuration(options_.request_timeout))))) {
      if (method != "initialize") {
        (void)rpc_.SendNotification("notifications/cancelled", {{"requestId", *id}, {"reason", "timeout"}});
      }
    }
    done.WaitForNotification();
  }
  return response;
}

absl::StatusOr<ServerInfo> McpClient::Connect() {
  absl::Status started = transport_->Start(Transport::Callbacks{
      [this](std::string_view message) { rpc_.OnMessage(message); },
      [this](absl::Status why) {
        // The owner learns first, so a caller whose call fails below and who calls
        // again at once already finds the connection marked dead.
        {
          absl::MutexLock lock(&mu_);
          lost_reason_ = why;
        }
        if (callbacks_.on_closed) callbacks_.on_closed(why);
        rpc_.Close(why);
      }});
  if (!started.ok()) return started;
  json params = {{"protocolVersion", options_.protocol_version},
                 {"capabilities", json::object()},
                 {"clientInfo", {{"name", options_.client_name}, {"version", options_.client_version}}}};
  absl::StatusOr<JsonRpcResponse> response = Request("initialize", std::move(params));
  if (!response.ok()) {
    return absl::UnavailableError(absl::StrCat("initialize: ", response.status().message()));
  }
  if (response->error.has_value()) {
    return absl::UnavailableError(absl::StrCat("initialize refused: ", DescribeError(*response->error)));
  }
  const json& result = response->result;
  if (!result.is_object() || !result.contains("protocolVersion") || !result["protocolVersion"].is_string()) {
    return absl::UnavailableError(absl::StrCat("initialize: malformed result ", result.dump()));
  }
  ServerInfo info;
  info.protocol_version = result["protocolVersion"].get<std::string>();
  if (!IsSupportedProtocolVersion(info.protocol_version)) {
    // The spec: a client that does not support the server's version disconnects.
    return absl::FailedPreconditionError(
        absl::StrCat("the server speaks protocol ", info.protocol_version, ", which this client does not support"));
  }
  if (result.contains("capabilities") && result["capabilities"].is_object()) info.capabilities = result["capabilities"];
  if (result.contains("serverInfo") && result["serverInfo"].is_object()) {
    info.name = result["serverInfo"].value("name", "");
    info.version = result["serverInfo"].value("version", "");
  }
  if (result.contains("instructions") && result["instructions"].is_string()) {
    info.instructions = result["instructions"].get<std::string>();
  }
  transport_->SetProtocolVersion(info.protocol_version);
  server_info_ = info;
  absl::Status notified = rpc_.SendNotification("notifications/initialized", json());
  if (!notified.ok()) return absl::UnavailableError(absl::StrCat("notifications/initialized: ", notified.message()));
  BATON_LOG(INFO) << "[" << options_.log_name << "] connected over " << transport_->kind() << ": " << info.name
                  << " " << info.version << ", protocol " << info.protocol_version;
  return info;
}

absl::StatusOr<std::vector<json>> McpClient::ListTools() {
  std::vector<json> tools;
  json cursor;
  for (int page = 0;; ++page) {
    if (page >= 1000) return absl::UnavailableError("tools/list: more than 1000 pages");
    json params = json::object();
    if (!cursor.is_null()) params["cursor"] = cursor;
    absl::StatusOr<JsonRpcResponse> response = Request("tools/list", std::move(params));
    if (!response.ok()) return absl::UnavailableError(absl::StrCat("tools/list: ", response.status().message()));
    if (response->error.has_value()) {
      return absl::UnavailableError(absl::StrCat("tools/list: ", DescribeError(*response->error)));
    }
    const json& result = response->result;
    if (!result.is_object() || !result.contains("tools") || !result["tools"].is_array()) {
      return absl::UnavailableError("tools/list: the result has no tools array");
    }
    for (const json& t : result["tools"]) tools.push_back(t);
    if (!result.contains("nextCursor") || !result["nextCursor"].is_string() ||
        result["nextCursor"].get<std::string>().empty()) {
      break;
    }
    if (result["nextCursor"] == cursor) return absl::UnavailableError("tools/list: the server repeats its cursor");
    cursor = result["nextCursor"];
  }
  return tools;
}

absl::Status McpClient::Ping() {
  absl::StatusOr<JsonRpcResponse> response = Request("ping", json::object());
  if (!response.ok()) return absl::UnavailableError(absl::StrCat("ping: ", response.status().message()));
  if (response->error.has_value()) {
    return absl::UnavailableError(absl::StrCat("ping: ", DescribeError(*response->error)));
  }
  return absl::OkStatus();
}

void McpClient::ArmTimer(CallId id, Call& call) {
  if (call.timer != 0) timers_.Cancel(call.timer);
  const absl::Time when = std::min(absl::Now() + call.timeout, call.hard_deadline);
  std::weak_ptr<Lifeline> weak = lifeline_;
  call.timer = timers_.Schedule(when, [weak, id] {
    std::shared_ptr<Lifeline> lifeline = weak.lock();
    if (lifeline == nullptr) return;
    absl::MutexLock lock(&lifeline->mu);
    if (lifeline->client != nullptr) lifeline->client->OnTimer(id);
  });
}

McpClient::CallId McpClient::CallTool(const std::string& name, json arguments, const CallOptions& options,
                                      std::function<void(CallResult)> done) {
  CallId id;
  bool closed;
  {
    absl::MutexLock lock(&mu_);
    id = next_call_id_++;
    closed = closed_;
    if (!closed) {
      Call call;
      call.done = std::move(done);
      call.timeout = options.timeout;
      call.hard_deadline = absl::Now() + options.max_duration;
      calls_.emplace(id, std::move(call));
    }
  }
  if (closed) {
    CallResult r;
    r.kind = CallResult::Kind::kUnavailable;
    r.message = "the connection is closed";
    done(std::move(r));
    return id;
  }
  json meta = options.meta.is_object() ? options.meta : json::object();
  meta["progressToken"] = id;  // call ids are unique per connection, as tokens must be
  json params = {{"name", name}, {"arguments", arguments.is_null() ? json::object() : std::move(arguments)},
                 {"_meta", std::move(meta)}};
  absl::StatusOr<int64_t> rpc_id =
      rpc_.SendRequest("tools/call", std::move(params), [this, id](absl::StatusOr<JsonRpcResponse> response) {
        CallResult r;
        r.sent = true;
        if (!response.ok()) {
          r.kind = CallResult::Kind::kUnavailable;
          r.message = std::string(response.status().message());
        } else if (response->error.has_value() && response->error->code == kNotDelivered) {
          r.kind = CallResult::Kind::kUnavailable;
          r.sent = false;
          r.message = response->error->message;
        } else if (response->error.has_value()) {
          r.kind = CallResult::Kind::kRpcError;
          r.error = std::move(*response->error);
          r.message = DescribeError(r.error);
        } else {
          r.kind = CallResult::Kind::kResult;
          r.result = std::move(response->result);
        }
        Finish(id, std::move(r));
      });
  if (!rpc_id.ok()) {
    CallResult r;
    r.kind = CallResult::Kind::kUnavailable;
    r.message = std::string(rpc_id.status().message());
    Finish(id, std::move(r));
    return id;
  }
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(id);
  if (it != calls_.end()) {  // else: already answered
    it->second.rpc_id = *rpc_id;
    ArmTimer(id, it->second);
  }
  return id;
}

CallResult McpClient::CallToolAndWait(const std::string& name, json arguments, const CallOptions& options) {
  absl::Notification done;
  CallResult result;
  CallTool(name, std::move(arguments), options, [&](CallResult r) {
    result = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

void McpClient::Finish(CallId id, CallResult result) {
  std::function<void(CallResult)> done;
  {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    done = std::move(it->second.done);
    if (it->second.timer != 0) timers_.Cancel(it->second.timer);
    result.progress_count = it->second.progress_count;
    calls_.erase(it);
  }
  done(std::move(result));
}

void McpClient::OnTimer(CallId id) {
  int64_t rpc_id;
  absl::Duration timeout;
  bool hard;
  {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    it->second.timer = 0;  // this one has fired
    rpc_id = it->second.rpc_id;
    timeout = it->second.timeout;
    hard = absl::Now() >= it->second.hard_deadline;
  }
  CallResult r;
  r.kind = CallResult::Kind::kTimeout;
  r.sent = true;
  r.message = hard ? "the call ran past its maximum duration"
                   : absl::StrCat("no answer or progress from the server for ", absl::FormatDuration(timeout));
  Finish(id, std::move(r));
  // A late answer is dropped; the server is told to stop (harmless if it just
  // finished: the spec has it ignore a cancellation of an unknown request).
  rpc_.Abandon(rpc_id, absl::DeadlineExceededError("timeout"));
  absl::Status s = rpc_.SendNotification("notifications/cancelled", {{"requestId", rpc_id}, {"reason", "timeout"}});
  if (!s.ok()) {
    BATON_LOG(DEBUG) << "[" << options_.log_name << "] cannot send notifications/cancelled: " << s;
  }
}

void McpClient::CancelCall(CallId id, const std::string& reason) {
  int64_t rpc_id;
  {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    rpc_id = it->second.rpc_id;
  }
  CallResult r;
  r.kind = CallResult::Kind::kCancelled;
  r.sent = rpc_id >= 0;
  r.message = reason;
  Finish(id, std::move(r));
  if (rpc_id >= 0) {
    rpc_.Abandon(rpc_id, absl::CancelledError(reason));
    (void)rpc_.SendNotification("notifications/cancelled", {{"requestId", rpc_id}, {"reason", reason}});
  }
}

void McpClient::OnProgress(const json& params) {
  if (!params.is_object() || !params.contains("progressToken") || !params["progressToken"].is_number_integer()) {
    return;
  }
  const CallId id = params["progressToken"].get<int64_t>();
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // a late notification of a finished call
  ++it->second.progress_count;
  ArmTimer(id, it->second);
}

void McpClient::OnNotification(const std::string& method, const json& params) {
  if (method == "notifications/progress") {
    OnProgress(params);
  } else if (method == "notifications/tools/list_changed") {
    if (callbacks_.on_tools_changed) callbacks_.on_tools_changed();
  } else if (method == "notifications/message") {
    BATON_LOG(INFO) << "[" << options_.log_name << " log] " << params.dump();
  } else if (method == "notifications/cancelled") {
    // The server gives up a request it sent us; we answer requests at once, so
    // there is nothing to stop.
  } else {
    BATON_LOG(DEBUG) << "[" << options_.log_name << "] notification " << method;
  }
}

std::optional<json> McpClient::OnRequest(const std::string& method, const json& params) {
  if (method == "ping") return json::object();
  // No roots, sampling or elicitation: the bridge declares none of them.
  BATON_LOG(INFO) << "[" << options_.log_name << "] refused server request " << method;
  return std::nullopt;
}

size_t McpClient::calls_in_flight() const {
  absl::MutexLock lock(&mu_);
  return calls_.size();
}

void McpClient::Close() {
  absl::Status why = absl::UnavailableError("the connection to the server was closed");
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    if (!lost_reason_.ok()) why = lost_reason_;
  }
  // Calls in flight fail now rather than after the server's shutdown grace.
  rpc_.Close(why);
  transport_->Close();
}

}  // namespace baton::mcp
