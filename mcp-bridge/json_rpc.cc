#include "mcp-bridge/json_rpc.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace baton::mcp {

using json = nlohmann::json;

namespace {

// At most this much of an unparsable message goes to the log.
constexpr size_t kLoggedPrefix = 200;

std::string Prefix(std::string_view s) {
  if (s.size() <= kLoggedPrefix) return std::string(s);
  return absl::StrCat(absl::string_view(s.data(), kLoggedPrefix), "... (", s.size(), " bytes)");
}

}  // namespace

JsonRpcResponse ResultResponse(json result) {
  JsonRpcResponse r;
  r.result = std::move(result);
  return r;
}

JsonRpcResponse ErrorResponse(int code, std::string message) {
  JsonRpcResponse r;
  r.error = JsonRpcError{code, std::move(message), json()};
  return r;
}

std::string DescribeError(const JsonRpcError& error) {
  std::string out = absl::StrCat(error.code, " ", error.message);
  if (!error.data.is_null()) absl::StrAppend(&out, " (", error.data.dump(), ")");
  return out;
}

JsonRpcConnection::JsonRpcConnection(SendFn send, Handlers handlers)
    : send_(std::move(send)), handlers_(std::move(handlers)) {}

absl::StatusOr<int64_t> JsonRpcConnection::SendRequest(const std::string& method, json params,
                                                       ResponseCallback done) {
  int64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (closed_.has_value()) return *closed_;
    id = next_id_++;
    // Registered before sending: the answer may come before Send returns.
    pending_.emplace(id, std::move(done));
  }
  json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null()) message["params"] = std::move(params);
  absl::Status sent = send_(message.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!sent.ok()) {
    absl::MutexLock lock(&mu_);
    // Unless Close already took it (and called `done`), the request never existed.
    if (pending_.erase(id) > 0) return sent;
  }
  return id;
}

absl::Status JsonRpcConnection::SendNotification(const std::string& method, json params) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_.has_value()) return *closed_;
  }
  json message = {{"jsonrpc", "2.0"}, {"method", method}};
  if (!params.is_null()) message["params"] = std::move(params);
  return send_(message.dump(-1, ' ', false, json::error_handler_t::replace));
}

void JsonRpcConnection::Reply(const json& id, JsonRpcResponse response) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_.has_value()) {
      // An answer that took a while (a person's) comes after the connection died.
      BATON_LOG(DEBUG) << "dropped the answer to request " << id.dump() << ": the connection is closed";
      return;
    }
  }
  json message = {{"jsonrpc", "2.0"}, {"id", id}};
  if (response.error.has_value()) {
    json error = {{"code", response.error->code}, {"message", response.error->message}};
    if (!response.error->data.is_null()) error["data"] = response.error->data;
    message["error"] = std::move(error);
  } else {
    message["result"] = std::move(response.result);
  }
  absl::Status s = send_(message.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!s.ok()) {
    BATON_LOG(WARNING) << "cannot answer request " << id.dump() << ": " << s;
  }
}

bool JsonRpcConnection::OnMessage(std::string_view text, std::optional<int64_t> related_request) {
  auto ignore = [&](const char* why) {
    {
      absl::MutexLock lock(&mu_);
      ++ignored_;
    }
    BATON_LOG(WARNING) << "ignored a message that is not JSON-RPC 2.0 (" << why << "): " << Prefix(text);
    return false;
  };
  json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) return ignore("not JSON");
  if (!message.is_object()) return ignore("not an object");
  // Compared as JSON: value("jsonrpc", "") throws for a non-string ({"jsonrpc": 2}).
  if (auto version = message.find("jsonrpc"); version == message.end() || *version != "2.0") {
    return ignore("no jsonrpc \"2.0\"");
  }

  const bool has_method = message.contains("method") && message["method"].is_string();
  const bool has_id = message.contains("id") && !message["id"].is_null();
  if (has_method) {
    const std::string method = message["method"].get<std::string>();
    const json params = message.value("params", json());
    if (!has_id) {
      if (handlers_.on_notification) handlers_.on_notification(method, params);
      return true;
    }
    const json& id = message["id"];
    if (!id.is_string() && !id.is_number_integer()) {
      Reply(nullptr, ErrorResponse(kInvalidRequest, "id must be a string or an integer"));
      return true;
    }
    if (!handlers_.on_request) {
      Reply(id, ErrorResponse(kMethodNotFound, absl::StrCat("Method not found: ", method)));
      return true;
    }
    handlers_.on_request(IncomingRequest{id, method, params, related_request},
                         [this, id](JsonRpcResponse response) { Reply(id, std::move(response)); });
    return true;
  }

  // A response.
  if (!message.contains("result") && !message.contains("error")) return ignore("neither request nor response");
  if (!has_id || !message["id"].is_number_integer()) {
    // An error without an id answers something unparsable we sent: nothing to match.
    if (message.contains("error")) {
      BATON_LOG(WARNING) << "error response without a usable id: " << Prefix(text);
      return true;
    }
    return ignore("response id is not one we sent");
  }
  const int64_t id = message["id"].get<int64_t>();
  ResponseCallback done;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) {
      // Late (abandoned after a timeout or cancel) or never sent: dropped.
      BATON_LOG(DEBUG) << "response to request " << id << " that is no longer pending";
      return true;
    }
    done = std::move(it->second);
    pending_.erase(it);
  }
  JsonRpcResponse response;
  if (message.contains("error")) {
    const json& e = message["error"];
    JsonRpcError error;
    if (e.is_object()) {
      error.code = e.contains("code") && e["code"].is_number_integer() ? e["code"].get<int>() : kInternalError;
      error.message = e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
      if (e.contains("data")) error.data = e["data"];
    } else {
      error.code = kInternalError;
      error.message = e.dump();
    }
    response.error = std::move(error);
  } else {
    response.result = std::move(message["result"]);
  }
  done(std::move(response));
  return true;
}

bool JsonRpcConnection::Abandon(int64_t id, absl::Status status) {
  ResponseCallback done;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return false;
    done = std::move(it->second);
    pending_.erase(it);
  }
  done(std::move(status));
  return true;
}

void JsonRpcConnection::Close(absl::Status status) {
  absl::flat_hash_map<int64_t, ResponseCallback> pending;
  {
    absl::MutexLock lock(&mu_);
    if (!closed_.has_value()) closed_ = status;
    pending.swap(pending_);
  }
  for (auto& [id, done] : pending) done(status);
}

size_t JsonRpcConnection::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

int64_t JsonRpcConnection::ignored_messages() const {
  absl::MutexLock lock(&mu_);
  return ignored_;
}

}  // namespace baton::mcp
