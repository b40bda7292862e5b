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
               [this](IncomingRequest request, Responder respond) {
                 OnRequest(std::move(request), std::move(respond));
               }}) {
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
      [this](std::string_view message, std::optional<int64_t> related) { rpc_.OnMessage(message, related); },
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
  json capabilities = json::object();
  if (json elicitation = ElicitationCapability(options_.protocol_version); !elicitation.is_null()) {
    capabilities["elicitation"] = std::move(elicitation);
  }
  json params = {{"protocolVersion", options_.protocol_version},
                 {"capabilities", std::move(capabilities)},
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
  // While a person is asked the server waits for us and owes no progress: only the
  // call's maximum duration bounds the wait.
  const absl::Time when =
      call.asking > 0 ? call.hard_deadline : std::min(absl::Now() + call.timeout, call.hard_deadline);
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
      call.elicitation = options.elicitation;
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
  std::vector<Asking> unanswered;
  {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    done = std::move(it->second.done);
    if (it->second.timer != 0) timers_.Cancel(it->second.timer);
    result.progress_count = it->second.progress_count;
    result.elicitations = it->second.elicitations;
    calls_.erase(it);
    for (auto a = asking_.begin(); a != asking_.end();) {
      if (a->second.call == id) {
        unanswered.push_back(std::move(a->second));
        asking_.erase(a++);
      } else {
        ++a;
      }
    }
  }
  // Nobody waits for these answers any more: the person's request is withdrawn and
  // the server hears cancel (the call itself is being cancelled or has its result).
  for (Asking& a : unanswered) {
    if (a.ask.has_value()) a.requester->Cancel(*a.ask);
    a.respond(ResultResponse(CancelResult()));
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
    OnServerCancelled(params);
  } else {
    BATON_LOG(DEBUG) << "[" << options_.log_name << "] notification " << method;
  }
}

void McpClient::OnRequest(IncomingRequest request, Responder respond) {
  if (request.method == "ping") {
    respond(ResultResponse(json::object()));
    return;
  }
  if (request.method == "elicitation/create") {
    OnElicitation(std::move(request), std::move(respond));
    return;
  }
  // No roots or sampling: the bridge declares neither.
  BATON_LOG(INFO) << "[" << options_.log_name << "] refused server request " << request.method;
  respond(ErrorResponse(kMethodNotFound, absl::StrCat("Method not found: ", request.method)));
}

namespace {

// What a call's options come to: asking without anyone to ask declines.
ElicitationPolicy EffectivePolicy(const ElicitationOptions& options) {
  if (options.policy == ElicitationPolicy::kAsk && options.requester == nullptr) return ElicitationPolicy::kDecline;
  return options.policy;
}

}  // namespace

McpClient::Call* McpClient::FindCallFor(std::optional<int64_t> related_request, CallId* id) {
  if (related_request.has_value()) {
    // Sent while answering one of our requests: that one's, or (tools/list...) none.
    for (auto& [call_id, call] : calls_) {
      if (call.rpc_id == *related_request) {
        *id = call_id;
        return &call;
      }
    }
    return nullptr;
  }
  if (calls_.size() == 1) {
    *id = calls_.begin()->first;
    return &calls_.begin()->second;
  }
  return nullptr;
}

json McpClient::AnswerWithoutCall(const json& requested_schema, std::string* why) {
  if (calls_.empty()) {
    *why = "no tool call is in flight";
    return DeclineResult();
  }
  // Any of the calls may have asked: an answer they would all give is safe.
  std::optional<ElicitationPolicy> common;
  for (const auto& [id, call] : calls_) {
    const ElicitationPolicy policy = EffectivePolicy(call.elicitation);
    if (!common.has_value()) {
      common = policy;
    } else if (*common != policy) {
      common = ElicitationPolicy::kAsk;
      break;
    }
  }
  if (*common == ElicitationPolicy::kAcceptDefaults) {
    *why = absl::StrCat("each of the ", calls_.size(), " calls in flight accepts defaults");
    return AcceptDefaultsResult(requested_schema);
  }
  if (*common == ElicitationPolicy::kDecline) {
    *why = absl::StrCat("each of the ", calls_.size(), " calls in flight declines");
  } else {
    *why = absl::StrCat("the transport cannot tell which of the ", calls_.size(), " calls in flight it belongs to");
  }
  return DeclineResult();
}

void McpClient::OnElicitation(IncomingRequest request, Responder respond) {
  absl::StatusOr<ElicitationRequest> parsed = ParseElicitationRequest(request.params);
  if (!parsed.ok()) {
    BATON_LOG(WARNING) << "[" << options_.log_name << "] refused elicitation/create: " << parsed.status().message();
    respond(ErrorResponse(kInvalidParams, std::string(parsed.status().message())));
    return;
  }
  // Decided under the lock, acted on after it.
  json answer;
  std::string why;
  CallId call_id = 0;
  InputRequester* requester = nullptr;
  InputRequest ask;
  int64_t key = 0;
  {
    absl::MutexLock lock(&mu_);
    Call* call = FindCallFor(request.related_request, &call_id);
    if (call == nullptr) {
      answer = AnswerWithoutCall(parsed->requested_schema, &why);
    } else {
      ++call->elicitations;
      switch (EffectivePolicy(call->elicitation)) {
        case ElicitationPolicy::kDecline:
          answer = DeclineResult();
          why = call->elicitation.policy == ElicitationPolicy::kAsk ? "the policy is ask, but there is nobody to ask"
                                                                     : "the policy is decline";
          break;
        case ElicitationPolicy::kAcceptDefaults:
          answer = AcceptDefaultsResult(parsed->requested_schema);
          why = "the policy is accept_defaults";
          break;
        case ElicitationPolicy::kAsk:
          requester = call->elicitation.requester;
          key = next_asking_++;
          ask.call = call->elicitation.call;
          ask.message = parsed->message;
          ask.requested_schema = parsed->requested_schema;
          ask.sequence = call->elicitations;
          ask.deadline = call->hard_deadline;
          asking_.emplace(key, Asking{call_id, request.id, requester, std::nullopt, parsed->requested_schema, respond});
          ++call->asking;
          break;
      }
      // The server is alive and waits for us: its timeout starts afresh (or, while
      // a person is asked, only the hard deadline holds).
      ArmTimer(call_id, *call);
    }
  }
  if (requester == nullptr) {
    BATON_LOG(INFO) << "[" << options_.log_name << "] elicitation " << request.id.dump()
                    << (call_id != 0 ? absl::StrCat(" during call ", call_id) : "") << ": " << ActionOf(answer)
                    << " (" << why << ")";
    respond(ResultResponse(std::move(answer)));
    return;
  }
  BATON_LOG(INFO) << "[" << options_.log_name << "] elicitation " << request.id.dump() << " during call " << call_id
                  << ": asking a person (" << ask.call.tool << ", run " << ask.call.run_id << ")";
  std::weak_ptr<Lifeline> weak = lifeline_;
  const InputRequester::AskId ask_id =
      requester->Ask(std::move(ask), [weak, key](absl::StatusOr<InputDecision> decision) {
        std::shared_ptr<Lifeline> lifeline = weak.lock();
        if (lifeline == nullptr) return;
        absl::MutexLock lock(&lifeline->mu);
        if (lifeline->client != nullptr) lifeline->client->OnInputDecided(key, std::move(decision));
      });
  bool ended;
  {
    absl::MutexLock lock(&mu_);
    auto it = asking_.find(key);
    ended = it == asking_.end();
    if (!ended) it->second.ask = ask_id;
  }
  // The call ended (or the server withdrew its request) before Ask returned: the
  // ask goes too (a no-op when it was already answered).
  if (ended) requester->Cancel(ask_id);
}

void McpClient::OnInputDecided(int64_t key, absl::StatusOr<InputDecision> decision) {
  Asking asking;
  {
    absl::MutexLock lock(&mu_);
    auto it = asking_.find(key);
    if (it == asking_.end()) return;  // the call ended first; the server heard cancel
    asking = std::move(it->second);
    asking_.erase(it);
    auto call = calls_.find(asking.call);
    if (call != calls_.end()) {
      --call->second.asking;
      ArmTimer(asking.call, call->second);  // the server's turn again: its timeout restarts
    }
  }
  std::string problem;
  json answer;
  if (decision.ok()) {
    answer = ResultForDecision(*decision, asking.requested_schema, &problem);
  } else {
    // Nobody decided in time, or the orchestrator could not be asked: no explicit
    // choice was made.
    answer = CancelResult();
    problem = std::string(decision.status().message());
  }
  BATON_LOG(INFO) << "[" << options_.log_name << "] elicitation " << asking.server_request_id.dump() << " during call "
                  << asking.call << ": " << ActionOf(answer) << (problem.empty() ? "" : absl::StrCat(" (", problem, ")"));
  asking.respond(ResultResponse(std::move(answer)));
}

void McpClient::OnServerCancelled(const json& params) {
  if (!params.is_object() || !params.contains("requestId")) return;
  Asking asking;
  {
    absl::MutexLock lock(&mu_);
    auto it = asking_.begin();
    while (it != asking_.end() && it->second.server_request_id != params["requestId"]) ++it;
    if (it == asking_.end()) return;  // not waiting for it: we answered at once
    asking = std::move(it->second);
    asking_.erase(it);
    auto call = calls_.find(asking.call);
    if (call != calls_.end()) {
      --call->second.asking;
      ArmTimer(asking.call, call->second);
    }
  }
  // The spec: a cancelled request is not answered.
  BATON_LOG(INFO) << "[" << options_.log_name << "] the server withdrew elicitation "
                  << asking.server_request_id.dump();
  if (asking.ask.has_value()) asking.requester->Cancel(*asking.ask);
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
