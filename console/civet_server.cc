#include "console/civet_server.h"

#include <civetweb.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace baton::console {
namespace {

const char* ReasonPhrase(int status) {
  const char* text = mg_get_response_code_text(nullptr, status);
  return text == nullptr ? "" : text;
}

// Writes to one civetweb connection.
class CivetResponder final : public HttpResponder {
 public:
  explicit CivetResponder(mg_connection* conn) : conn_(conn) {}

  void Send(const HttpResponse& response) override {
    HttpHeaders headers = response.headers;
    headers.emplace_back("Content-Length", std::to_string(response.body.size()));
    if (Start(response.status, headers) && !response.body.empty()) Write(response.body);
  }

  bool Start(int status, const HttpHeaders& headers) override {
    // One request per connection (keep-alive is off): the end of a stream is the
    // end of the connection.
    std::string head = absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\nConnection: close\r\n");
    for (const auto& [name, value] : headers) absl::StrAppend(&head, name, ": ", value, "\r\n");
    head += "\r\n";
    return Write(head);
  }

  bool Write(std::string_view data) override {
    return mg_write(conn_, data.data(), data.size()) == static_cast<int>(data.size());
  }

 private:
  mg_connection* const conn_;
};

// Reads the body, at most `limit` bytes; false when there is more.
bool ReadBody(mg_connection* conn, long long content_length, size_t limit, std::string* body) {
  if (content_length > static_cast<long long>(limit)) return false;
  char buffer[16384];
  for (;;) {
    int n = mg_read(conn, buffer, sizeof(buffer));
    if (n <= 0) return true;
    if (body->size() + static_cast<size_t>(n) > limit) {
      body->clear();
      return false;
    }
    body->append(buffer, static_cast<size_t>(n));
  }
}

int LogMessage(const mg_connection*, const char* message) {
  BATON_LOG(WARNING) << "http: " << message;
  return 1;  // logged here, not by civetweb
}

}  // namespace

absl::StatusOr<std::unique_ptr<CivetServer>> CivetServer::Start(const CivetServerOptions& options,
                                                                HttpHandler& handler) {
  const size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: \"", options.listen, "\" is not HOST:PORT (e.g. 127.0.0.1:8233; port 0 picks one)"));
  }
  std::unique_ptr<CivetServer> server(new CivetServer(handler, options.max_body_bytes));
  const std::string threads = std::to_string(std::max(options.threads, 2));
  const char* config[] = {"listening_ports", options.listen.c_str(), "num_threads", threads.c_str(),
                          "enable_keep_alive", "no", "request_timeout_ms", "30000", nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = LogMessage;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = config;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{&error_code, error_text, sizeof(error_text)};
  server->ctx_ = mg_start2(&init, &error);
  if (server->ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen, ": ", error_text));
  }
  mg_set_request_handler(server->ctx_, "/", &CivetServer::Dispatch, server.get());
  mg_server_port ports[1];
  if (mg_get_server_ports(server->ctx_, 1, ports) < 1) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen, ": no port bound"));
  }
  server->port_ = ports[0].port;
  return server;
}

CivetServer::~CivetServer() {
  if (ctx_ != nullptr) mg_stop(ctx_);
}

int CivetServer::Dispatch(mg_connection* conn, void* data) {
  auto* self = static_cast<CivetServer*>(data);
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest request;
  request.method = info->request_method == nullptr ? "" : info->request_method;
  request.path = info->local_uri == nullptr ? "/" : info->local_uri;
  request.query = info->query_string == nullptr ? "" : info->query_string;
  request.tls = info->is_ssl != 0;
  for (int i = 0; i < info->num_headers; ++i) {
    std::string name = info->http_headers[i].name;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    request.headers.emplace(std::move(name), info->http_headers[i].value);
  }
  request.body_too_large = !ReadBody(conn, info->content_length, self->max_body_bytes_, &request.body);
  CivetResponder responder(conn);
  self->handler_.Handle(request, responder);
  return 1;  // answered (any status: the handler wrote it)
}

}  // namespace baton::console
