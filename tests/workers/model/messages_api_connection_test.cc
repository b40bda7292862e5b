// MessagesApiClient's connections, against servers on 127.0.0.1 that keep them open,
// close them, speak TLS, or stand behind a CONNECT proxy: the client writes its
// requests and reads the answers itself on connections libcurl opens.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/x509_issuer.h"
#include "tests/workers/model/messages_api_fixtures.h"
#include "workers/model/messages_api_client.h"

namespace baton::worker {
namespace {

using nlohmann::json;
using namespace ::baton::worker::api_test;  // the fixtures both client tests share
using ::testing::HasSubstr;
using ::testing::Not;

class TlsStream final : public Stream {
 public:
  explicit TlsStream(SSL* ssl) : ssl_(ssl) {}
  ssize_t Read(char* buffer, size_t size) override {
    int n = SSL_read(ssl_, buffer, static_cast<int>(size));
    return n > 0 ? n : 0;
  }
  bool Write(std::string_view bytes) override {
    return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) == static_cast<int>(bytes.size());
  }

 private:
  SSL* ssl_;
};

// Accepts connections on 127.0.0.1:<ephemeral> one after another and runs `serve` on
// each (its index counts from 0), until the test ends.
class Server {
 public:
  using Serve = std::function<void(int connection, int fd)>;

  explicit Server(Serve serve) : serve_(std::move(serve)) {
    listen_fd_ = ListenOnLoopback(&port_);
    thread_ = std::thread([this] { Run(); });
  }
  ~Server() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }

  int port() const { return port_; }
  std::string base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  int connections() const { return connections_.load(); }

 private:
  void Run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 10) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      serve_(connections_++, fd);
      close(fd);
    }
  }

  Serve serve_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: started after every other member exists
};

// An answer that leaves the connection open for the next request.
std::string KeptJsonReply(const json& message) {
  const std::string body = message.dump();
  return absl::StrCat("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nrequest-id: req_kept\r\n",
                      "content-length: ", body.size(), "\r\n\r\n", body);
}

// A streamed text answer in the chunked coding, as the Messages API sends one: an
// event to a chunk, each chunk its own write.
std::vector<std::string> ChunkedStream(const std::string& text) {
  const std::vector<std::string> events = {
      MessageStartEvent(),
      SseEventText({{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}),
      SseEventText({{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", text}}}}),
      SseEventText({{"type", "content_block_stop"}, {"index", 0}}),
      SseEventText({{"type", "message_delta"},
                {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                {"usage", {{"output_tokens", 7}}}}),
      SseEventText({{"type", "message_stop"}}),
  };
  std::vector<std::string> writes = {
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"};
  for (const std::string& event : events) writes.push_back(absl::StrCat(absl::Hex(event.size()), "\r\n", event, "\r\n"));
  writes.push_back("0\r\n\r\n");
  return writes;
}

MessagesApiClientOptions OptionsFor(const std::string& base_url) {
  MessagesApiClientOptions options;
  options.base_url = base_url;
  options.api_key = "sk-ant-test-SECRET";
  options.connect_timeout = absl::Seconds(2);
  options.max_retries = 0;  // an attempt the client spends shows as a failure
  return options;
}

ModelCallOptions Call(bool stream) {
  ModelCallOptions call;
  call.stream = stream;
  call.attempt_timeout = absl::Seconds(5);
  return call;
}

TEST(MessagesApiConnectionTest, OneConnectionCarriesEveryCallWhileTheServerKeepsIt) {
  std::mutex mu;
  std::vector<Request> requests;
  Server server([&](int, int fd) {
    PlainStream stream(fd);
    std::string pending;
    Request request;
    while (ReadRequest(stream, pending, &request)) {
      {
        std::lock_guard<std::mutex> lock(mu);
        requests.push_back(request);
      }
      if (request.headers["accept"] == "text/event-stream") {
        for (const std::string& write : ChunkedStream("Streamed through chunks.")) {
          stream.Write(write);
          absl::SleepFor(absl::Milliseconds(2));  // so the chunks arrive apart
        }
      } else {
        stream.Write(KeptJsonReply(TextMessage(absl::StrCat("answer ", requests.size()))));
      }
    }
  });
  MessagesApiClient client(OptionsFor(server.base_url()));
  for (int i = 1; i <= 2; ++i) {
    auto response = client.CreateMessage(Request1(), Call(/*stream=*/false));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->message, TextMessage(absl::StrCat("answer ", i)));
    EXPECT_EQ(response->request_id, "req_kept");
  }
  std::string streamed;
  ModelCallOptions call = Call(/*stream=*/true);
  call.on_text = [&](int, const std::string& text) { streamed += text; };
  auto response = client.CreateMessage(Request1(), call);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(streamed, "Streamed through chunks.");
  EXPECT_EQ(response->message["content"][0]["text"], "Streamed through chunks.");
  EXPECT_EQ(response->message["usage"]["output_tokens"], 7);

  EXPECT_EQ(server.connections(), 1);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].request_line, "POST /v1/messages HTTP/1.1");
  EXPECT_EQ(requests[0].headers["host"], absl::StrCat("127.0.0.1:", server.port()));
  EXPECT_EQ(requests[0].headers["x-api-key"], "sk-ant-test-SECRET");
  EXPECT_EQ(json::parse(requests[0].body), Request1());
  EXPECT_EQ(json::parse(requests[2].body)["stream"], true);
}

TEST(MessagesApiConnectionTest, AConnectionTheServerClosedWhileIdleIsReplacedWithoutSpendingAnAttempt) {
  Server server([&](int, int fd) {
    PlainStream stream(fd);
    std::string pending;
    Request request;
    // One answer, said to keep the connection, then the server closes it anyway (an
    // idle timeout).
    if (ReadRequest(stream, pending, &request)) stream.Write(KeptJsonReply(TextMessage("one")));
  });
  MessagesApiClient client(OptionsFor(server.base_url()));
  auto first = client.CreateMessage(Request1(), Call(/*stream=*/false));
  ASSERT_TRUE(first.ok()) << first.status();
  absl::SleepFor(absl::Milliseconds(50));  // the close reaches the client's side
  auto second = client.CreateMessage(Request1(), Call(/*stream=*/false));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->attempts, 1);
  EXPECT_EQ(server.connections(), 2);
}

TEST(MessagesApiConnectionTest, AnAnswerCutShortIsAConnectionErrorSayingWhere) {
  Server server([&](int, int fd) {
    PlainStream stream(fd);
    std::string pending;
    Request request;
    if (!ReadRequest(stream, pending, &request)) return;
    stream.Write("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nrequest-id: req_cut\r\n"
                 "content-length: 100\r\n\r\n{\"id\":");
  });
  MessagesApiClient client(OptionsFor(server.base_url()));
  auto response = client.CreateMessage(Request1(), Call(/*stream=*/false));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(),
              HasSubstr("connection closed 94 bytes before the HTTP response's end (after HTTP 200) "
                        "(request-id req_cut)"));
}

TEST(MessagesApiConnectionTest, AMalformedAnswerIsAConnectionErrorNamingWhatIsWrong) {
  Server server([&](int, int fd) {
    PlainStream stream(fd);
    std::string pending;
    Request request;
    if (ReadRequest(stream, pending, &request)) stream.Write("HTTP/1.1 200 OK\r\nno colon\r\n\r\n");
  });
  MessagesApiClient client(OptionsFor(server.base_url()));
  auto response = client.CreateMessage(Request1(), Call(/*stream=*/false));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(),
              HasSubstr("Messages API connection error: malformed HTTP response: header line \"no colon\""));
}

TEST(MessagesApiConnectionTest, ABaseUrlsPathGoesBeforeTheEndpointsAndABadBaseUrlIsRefused) {
  std::string request_line;
  Server server([&](int, int fd) {
    PlainStream stream(fd);
    std::string pending;
    Request request;
    if (!ReadRequest(stream, pending, &request)) return;
    request_line = request.request_line;
    stream.Write(KeptJsonReply(TextMessage("via a gateway")));
  });
  {
    MessagesApiClient client(OptionsFor(server.base_url() + "/gateway/anthropic/"));
    ASSERT_TRUE(client.CreateMessage(Request1(), Call(/*stream=*/false)).ok());
  }
  EXPECT_EQ(request_line, "POST /gateway/anthropic/v1/messages HTTP/1.1");

  struct Case {
    std::string base_url;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"ftp://127.0.0.1:1", "Messages API base URL ftp://127.0.0.1:1: the scheme must be http or https"},
      {"http://user:PASSWORD@127.0.0.1:1", "Messages API base URL holds a user name or password"},
      {"http://127.0.0.1:1/?x=1", "a query or fragment cannot come before the endpoint's path"},
      {"not a url", "Messages API base URL not a url: "},
  };
  for (const Case& c : cases) {
    MessagesApiClient client(OptionsFor(c.base_url));
    auto response = client.CreateMessage(Request1(), Call(/*stream=*/false));
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument) << c.base_url;
    EXPECT_THAT(response.status().message(), HasSubstr(c.error));
    EXPECT_THAT(response.status().message(), Not(HasSubstr("PASSWORD")));
  }
  EXPECT_EQ(server.connections(), 1);
}

// A TLS server for 127.0.0.1 whose certificate a test CA signs. Over ALPN it picks h2
// when a client offers it, so a client that spoke HTTP/1.1 after agreeing on h2 would
// get no answer.
class TlsServer {
 public:
  TlsServer(const PemKeyPair& ca, std::function<void(Stream&)> serve) : serve_(std::move(serve)) {
    absl::StatusOr<PemKeyPair> leaf =
        IssueCertificate(ca, {.common_name = "127.0.0.1", .dns_names = {}, .ip_addresses = {"127.0.0.1"},
                              .server = true});
    EXPECT_TRUE(leaf.ok()) << leaf.status();
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cert_bio = BIO_new_mem_buf(leaf->cert_pem.data(), static_cast<int>(leaf->cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO* key_bio = BIO_new_mem_buf(leaf->key_pem.data(), static_cast<int>(leaf->key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_, cert), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, key), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    SSL_CTX_set_alpn_select_cb(ctx_, &TlsServer::SelectProtocol, this);
    server_ = std::make_unique<Server>([this](int, int fd) {
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        TlsStream stream(ssl);
        serve_(stream);
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
    });
  }
  ~TlsServer() {
    server_.reset();
    SSL_CTX_free(ctx_);
  }

  std::string base_url() const { return absl::StrCat("https://127.0.0.1:", server_->port()); }
  int connections() const { return server_->connections(); }
  std::vector<std::string> offered() {
    std::lock_guard<std::mutex> lock(mu_);
    return offered_;
  }

 private:
  static int SelectProtocol(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                            unsigned int in_length, void* self) {
    auto* server = static_cast<TlsServer*>(self);
    std::optional<std::pair<const unsigned char*, unsigned char>> h2, http11;
    for (unsigned int at = 0; at < in_length; at += 1 + in[at]) {
      const std::string protocol(reinterpret_cast<const char*>(in + at + 1), in[at]);
      {
        std::lock_guard<std::mutex> lock(server->mu_);
        server->offered_.push_back(protocol);
      }
      if (protocol == "h2") h2.emplace(in + at + 1, in[at]);
      if (protocol == "http/1.1") http11.emplace(in + at + 1, in[at]);
    }
    auto chosen = h2.has_value() ? h2 : http11;
    if (!chosen.has_value()) return SSL_TLSEXT_ERR_NOACK;
    *out = chosen->first;
    *out_length = chosen->second;
    return SSL_TLSEXT_ERR_OK;
  }

  std::function<void(Stream&)> serve_;
  SSL_CTX* ctx_ = nullptr;
  std::mutex mu_;
  std::vector<std::string> offered_;
  std::unique_ptr<Server> server_;  // last: serves once every other member exists
};

TEST(MessagesApiConnectionTest, OverTlsTheClientOffersOnlyHttp11AndCarriesBodiesLargerThanARecord) {
  absl::StatusOr<PemKeyPair> ca = CreateCertificateAuthority("messages-api-test-ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  const std::string ca_file = absl::StrCat(::testing::TempDir(), "/messages_api_ca.pem");
  ASSERT_TRUE(WritePemFile(ca_file, ca->cert_pem).ok());
  // Bigger than a TLS record (16 KiB) several times over, written at once: the client
  // must read what the TLS layer holds, not only what the socket shows.
  const std::string long_text(100 * 1024, 'x');
  std::vector<std::string> bodies;  // read by the test once the client's calls are done
  TlsServer server(*ca, [&](Stream& stream) {
    std::string pending;
    Request request;
    while (ReadRequest(stream, pending, &request)) {
      bodies.push_back(request.body);
      stream.Write(KeptJsonReply(TextMessage(long_text)));
    }
  });
  // A small request rides in one write with its head; a long one (a long conversation)
  // is sent from the caller's buffer after it.
  json long_request = Request1();
  long_request["messages"][0]["content"] = std::string(200 * 1024, 'q');
  MessagesApiClientOptions options = OptionsFor(server.base_url());
  options.ca_file = ca_file;
  {
    MessagesApiClient client(options);
    for (const json& request : {Request1(), long_request}) {
      auto response = client.CreateMessage(request, Call(/*stream=*/false));
      ASSERT_TRUE(response.ok()) << response.status();
      EXPECT_EQ(response->message["content"][0]["text"], long_text);
    }
  }  // closes its connection: the server serves one at a time
  EXPECT_EQ(server.connections(), 1);
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(json::parse(bodies[0]), Request1());
  EXPECT_EQ(json::parse(bodies[1]), long_request);
  EXPECT_THAT(server.offered(), ::testing::ElementsAre("http/1.1"));

  // Without the CA, the server's certificate is refused: libcurl still checks it.
  MessagesApiClient untrusting(OptionsFor(server.base_url()));
  auto refused = untrusting.CreateMessage(Request1(), Call(/*stream=*/false));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("certificate"));
}

// A proxy that serves CONNECT only: it records the target, then carries bytes both ways.
class ConnectProxy {
 public:
  ConnectProxy()
      : server_([this](int, int fd) {
          PlainStream stream(fd);
          std::string pending;
          Request request;
          if (!ReadRequest(stream, pending, &request)) return;
          {
            std::lock_guard<std::mutex> lock(mu_);
            request_lines_.push_back(request.request_line);
          }
          int port = 0;
          const std::string prefix = "CONNECT 127.0.0.1:";
          if (request.request_line.rfind(prefix, 0) != 0 ||
              !absl::SimpleAtoi(request.request_line.substr(prefix.size(), request.request_line.find(' ', prefix.size()) - prefix.size()), &port)) {
            stream.Write("HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
            return;
          }
          int upstream = socket(AF_INET, SOCK_STREAM, 0);
          sockaddr_in addr{};
          addr.sin_family = AF_INET;
          addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          addr.sin_port = htons(static_cast<uint16_t>(port));
          if (connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
            close(upstream);
            return;
          }
          stream.Write("HTTP/1.1 200 Connection established\r\n\r\n");
          PlainStream(upstream).Write(pending);
          Pump(fd, upstream);
          close(upstream);
        }) {}

  int port() const { return server_.port(); }
  std::vector<std::string> request_lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return request_lines_;
  }

 private:
  // Carries bytes between the two sockets until either closes.
  static void Pump(int a, int b) {
    char buffer[4096];
    while (true) {
      pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (poll(fds, 2, 1000) <= 0) continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].revents == 0) continue;
        ssize_t n = recv(fds[i].fd, buffer, sizeof(buffer), 0);
        if (n <= 0 || !PlainStream(fds[1 - i].fd).Write(std::string_view(buffer, n))) return;
      }
    }
  }

  std::mutex mu_;
  std::vector<std::string> request_lines_;
  Server server_;  // last
};

// Sets environment variables for one scope, and puts back what was there.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(std::map<std::string, std::optional<std::string>> values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old == nullptr ? std::nullopt : std::optional<std::string>(old);
      if (value.has_value()) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, value] : saved_) {
      if (value.has_value()) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST(MessagesApiConnectionTest, AProxyFromTheEnvironmentCarriesATunnelAndTheOriginGetsItsOwnRequest) {
  std::string request_line;
  Server origin([&](int, int fd) {
    PlainStream stream(fd);
    std::string pending;
    Request request;
    if (!ReadRequest(stream, pending, &request)) return;
    request_line = request.request_line;
    stream.Write(KeptJsonReply(TextMessage("through the proxy")));
  });
  ConnectProxy proxy;
  ScopedEnvironment environment({{"http_proxy", absl::StrCat("http://127.0.0.1:", proxy.port())},
                                 {"no_proxy", std::nullopt},
                                 {"NO_PROXY", std::nullopt}});
  MessagesApiClient client(OptionsFor(origin.base_url()));
  auto response = client.CreateMessage(Request1(), Call(/*stream=*/false));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->message, TextMessage("through the proxy"));
  EXPECT_THAT(proxy.request_lines(),
              ::testing::ElementsAre(absl::StrCat("CONNECT 127.0.0.1:", origin.port(), " HTTP/1.1")));
  EXPECT_EQ(request_line, "POST /v1/messages HTTP/1.1");
}

}  // namespace
}  // namespace baton::worker
