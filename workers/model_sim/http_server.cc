#include "workers/model_sim/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "workers/model_sim/http_request_parser.h"

namespace baton::model_sim {
namespace {

bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Appends what the peer sent to `buf`; false on EOF, error or timeout.
bool ReadMore(int fd, std::string& buf) {
  char tmp[16384];
  for (;;) {
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf.append(tmp, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

void SendPlainError(int fd, int status, absl::string_view message) {
  std::string body = absl::StrCat(message, "\n");
  SendAll(fd, absl::StrFormat(
                  "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
                  "connection: close\r\n\r\n%s",
                  status, HttpReasonPhrase(status), body.size(), body));
}

// Splits "host:port" / "[v6]:port".
bool SplitHostPort(const std::string& listen, std::string& host, std::string& port) {
  if (!listen.empty() && listen[0] == '[') {
    size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return false;
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return false;
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  int p = 0;
  return !port.empty() && absl::SimpleAtoi(port, &p) && p >= 0 && p <= 65535;
}

}  // namespace

const char* HttpReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 529: return "Site Overloaded";
    default: return "Unknown";
  }
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  std::string host, port;
  if (!SplitHostPort(options_.listen, host, port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", options_.listen, "' is not host:port"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
      rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve '", options_.listen, "': ", ::gai_strerror(rc)));
  }
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 128) == 0) {
      listen_fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (listen_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.listen, ": ", last_error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = bound.ss_family == AF_INET6
              ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
              : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  if (wake_pipe_[1] >= 0) {
    char c = 'x';
    (void)!::write(wake_pipe_[1], &c, 1);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    // Wake connections blocked in recv(); each closes its own fd.
    absl::MutexLock lock(&mu_);
    for (Connection& c : connections_) {
      if (!c.done) ::shutdown(c.fd, SHUT_RDWR);
    }
  }
  std::list<Connection> conns;
  {
    absl::MutexLock lock(&mu_);
    conns.splice(conns.end(), connections_);
  }
  for (Connection& c : conns) {
    if (c.thread.joinable()) c.thread.join();
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int& fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  listen_fd_ = -1;
}

void HttpServer::ReapFinished() {
  std::list<Connection> finished;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto next = std::next(it);
      if (it->done) finished.splice(finished.end(), connections_, it);
      it = next;
    }
  }
  for (Connection& c : finished) c.thread.join();
}

void HttpServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int rc = ::poll(fds, 2, 1000);
    if (stopping_.HasBeenNotified()) return;
    ReapFinished();
    if (rc <= 0 || !(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{options_.idle_timeout_seconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    bool accepted = false;
    {
      absl::MutexLock lock(&mu_);
      if (static_cast<int>(connections_.size()) < options_.max_connections) {
        Connection& conn = connections_.emplace_back();
        conn.fd = fd;
        conn.thread = std::thread([this, c = &conn] { Serve(c); });
        accepted = true;
      }
    }
    if (!accepted) {
      SendPlainError(fd, 503, "too many connections");
      ::close(fd);
    }
  }
}

void HttpServer::Serve(Connection* conn) {
  std::string buf;
  while (!stopping_.HasBeenNotified() && ServeOne(conn->fd, buf)) {
  }
  absl::MutexLock lock(&mu_);
  ::close(conn->fd);
  conn->done = true;
}

bool HttpServer::ServeOne(int fd, std::string& buf) {
  HttpRequest req;
  bool sent_continue = false;
  for (;;) {
    HttpRequestParse parse = ParseHttpRequest(buf, options_.max_body_bytes);
    if (parse.state == HttpRequestParse::State::kError) {
      SendPlainError(fd, parse.error_status, parse.error_message);
      return false;
    }
    if (parse.state == HttpRequestParse::State::kComplete) {
      req = std::move(parse.request);
      buf.erase(0, parse.consumed);
      break;
    }
    if (parse.expects_continue && !sent_continue) {
      if (!SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return false;
      sent_continue = true;
    }
    if (!ReadMore(fd, buf)) return false;
  }

  const std::string* connection = req.Header("connection");
  bool keep_alive = req.version == "HTTP/1.0" ? HeaderHasToken(connection, "keep-alive")
                                              : !HeaderHasToken(connection, "close");
  const std::string method = req.method;
  const std::string version = req.version;
  HttpResponse resp = handler_(std::move(req));
  // HTTP/1.0 peers cannot read chunked bodies: a stream then ends with the connection.
  if (resp.streamed && version == "HTTP/1.0") keep_alive = false;
  return WriteResponse(fd, method, version, resp, keep_alive) && keep_alive;
}

bool HttpServer::Wait(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return !stopping_.HasBeenNotified();
  return !stopping_.WaitForNotificationWithTimeout(d);
}

bool HttpServer::WriteResponse(int fd, absl::string_view method, absl::string_view version,
                               const HttpResponse& response, bool keep_alive) {
  if (!Wait(response.delay)) return false;
  const bool chunked = response.streamed && version != "HTTP/1.0";
  std::string head =
      absl::StrFormat("HTTP/1.1 %d %s\r\n", response.status, HttpReasonPhrase(response.status));
  for (const auto& [k, v] : response.headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
  if (!response.streamed) {
    absl::StrAppend(&head, "content-length: ", response.body.size(), "\r\n");
  } else if (chunked) {
    absl::StrAppend(&head, "transfer-encoding: chunked\r\n");
  }
  absl::StrAppend(&head, "connection: ", keep_alive ? "keep-alive" : "close", "\r\n\r\n");
  if (!response.streamed) {
    if (method != "HEAD") head += response.body;
    return SendAll(fd, head);
  }
  if (!SendAll(fd, head)) return false;
  for (size_t i = 0; i < response.parts.size(); ++i) {
    if (i > 0 && !Wait(response.part_interval)) return false;
    const std::string& part = response.parts[i];
    if (part.empty()) continue;  // an empty chunk would end the body
    bool ok = chunked ? SendAll(fd, absl::StrFormat("%x\r\n%s\r\n", part.size(), part))
                      : SendAll(fd, part);
    if (!ok) return false;
  }
  if (chunked && !SendAll(fd, "0\r\n\r\n")) return false;
  return true;
}

}  // namespace baton::model_sim
