#include "common/grpc_channel.h"

#include <cstdlib>
#include <iostream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>

namespace baton {
namespace {

// Adds the bearer token to every call of a channel: one place for every client,
// plaintext or TLS (gRPC's call credentials need TLS).
class BearerTokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string& header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", header_);
    }
    methods->Proceed();
  }

 private:
  const std::string& header_;  // owned by the factory, which the channel keeps
};

class BearerTokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(const std::string& token) : header_("Bearer " + token) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo* info) override {
    return new BearerTokenInterceptor(header_);
  }

 private:
  const std::string header_;
};

}  // namespace

std::string BearerTokenFromEnvironment() {
  const char* key = std::getenv("BATON_API_KEY");
  return key == nullptr ? "" : key;
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, const ChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, options.initial_reconnect_backoff_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, options.max_reconnect_backoff_ms);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: despite its name it is the time a connection
  // attempt (TCP, TLS handshake, HTTP/2 settings) may take, gRPC's 20 s by default. Set
  // to the backoff, an attempt slower than the backoff (a TLS handshake with a busy or
  // distant server, a server under valgrind) was cut off each time and never connected.
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (options.own_connection) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = MakeChannelCredentials(options.tls);
  if (!credentials.ok()) {
    std::cerr << "fatal: channel to " << address << ": " << credentials.status().message() << std::endl;
    std::abort();
  }
  if (options.bearer_token.empty()) return grpc::CreateCustomChannel(address, *credentials, args);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<BearerTokenInterceptorFactory>(options.bearer_token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(address, *credentials, args, std::move(interceptors));
}

}  // namespace baton
