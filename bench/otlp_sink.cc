#include "bench/otlp_sink.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace baton::bench {
namespace {

// The Content-Length of a request's header block (lower-cased names); -1 if absent.
int64_t ContentLength(absl::string_view headers) {
  for (absl::string_view line : absl::StrSplit(headers, "\r\n")) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::AsciiStrToLower(std::string(line.substr(0, colon))) != "content-length") continue;
    int64_t length = -1;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(colon + 1)), &length)) return length;
  }
  return -1;
}

int64_t CountOf(std::string_view text, std::string_view what) {
  int64_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

OtlpSink::~OtlpSink() { Stop(); }

absl::StatusOr<std::string> OtlpSink::Start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (listen_fd_ < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError("cannot listen on 127.0.0.1 for the OTLP sink");
  }
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port));
}

void OtlpSink::Stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  std::vector<std::thread> connections;
  {
    absl::MutexLock lock(&mu_);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    connections.swap(connections_);
  }
  for (std::thread& t : connections) t.join();
  absl::MutexLock lock(&mu_);
  for (int fd : fds_) close(fd);
  fds_.clear();
}

void OtlpSink::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    absl::MutexLock lock(&mu_);
    fds_.push_back(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void OtlpSink::Serve(int fd) {
  static constexpr std::string_view kAnswer =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
  std::string buffer;
  char chunk[64 << 10];
  while (true) {
    const size_t end = buffer.find("\r\n\r\n");
    if (end != std::string::npos) {
      const int64_t length = ContentLength(absl::string_view(buffer).substr(0, end));
      const size_t total = end + 4 + static_cast<size_t>(std::max<int64_t>(length, 0));
      if (buffer.size() >= total) {
        const std::string_view body = std::string_view(buffer).substr(end + 4, total - end - 4);
        requests_ += 1;
        bytes_ += static_cast<int64_t>(body.size());
        spans_ += CountOf(body, "\"traceId\"");
        buffer.erase(0, total);
        if (write(fd, kAnswer.data(), kAnswer.size()) != static_cast<ssize_t>(kAnswer.size())) break;
        continue;
      }
    }
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
  }
  // Stop() closes `fd`, after every connection's thread is done with its own.
}

}  // namespace baton::bench
