#include "common/grpc_server.h"

#include <cstdio>
#include <fstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/auth_metadata_processor.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>

#include "absl/strings/str_cat.h"
#include "common/reflection_v1.h"

namespace baton {
namespace {

// The builder owns its interceptor factories; ServerAuthOptions shares them.
class SharedInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit SharedInterceptorFactory(std::shared_ptr<grpc::experimental::ServerInterceptorFactoryInterface> factory)
      : factory_(std::move(factory)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return factory_->CreateServerInterceptor(info);
  }

 private:
  std::shared_ptr<grpc::experimental::ServerInterceptorFactoryInterface> factory_;
};

// The server's credentials: TLS or plaintext from `tls`; with an auth processor and
// no TLS, local credentials (plaintext, loopback peers only), because gRPC runs
// processors only on secure credentials (insecure ones abort on SetAuthMetadataProcessor).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(const std::string& address,
                                                                              const ServerTlsOptions& tls,
                                                                              const ServerAuthOptions& auth) {
  if (auth.processor == nullptr) return MakeServerCredentials(tls);
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (tls.enabled()) {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> made = MakeServerCredentials(tls);
    if (!made.ok()) return made.status();
    credentials = *std::move(made);
  } else if (!IsLoopbackAddress(address)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "authentication without TLS needs a loopback listen address, got ", address,
        ": bearer credentials must not cross a network in plaintext (give --tls-cert and --tls-key)"));
  } else {
    credentials = grpc::experimental::LocalServerCredentials(address.starts_with("unix:") ? UDS : LOCAL_TCP);
  }
  credentials->SetAuthMetadataProcessor(auth.processor);
  return credentials;
}

}  // namespace

absl::StatusOr<StartedServer> StartGrpcServer(const std::string& address,
                                              const std::vector<grpc::Service*>& services,
                                              const std::vector<std::string>& service_names,
                                              const ServerTlsOptions& tls, int max_receive_message_bytes,
                                              const ServerAuthOptions& auth) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = ServerCredentialsFor(address, tls, auth);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();  // v1alpha
  grpc::ServerBuilder builder;
  builder.SetOption(ReflectionV1Option());  // v1, which gRPC 1.51 lacks
  StartedServer started;
  builder.AddListeningPort(address, *credentials, &started.port);
  builder.SetMaxReceiveMessageSize(max_receive_message_bytes);
  builder.SetMaxSendMessageSize(kDefaultMaxMessageBytes);
  for (grpc::Service* service : services) builder.RegisterService(service);
  if (!auth.interceptors.empty()) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    for (const auto& factory : auth.interceptors) factories.push_back(std::make_unique<SharedInterceptorFactory>(factory));
    builder.experimental().SetInterceptorCreators(std::move(factories));
  }
  started.server = builder.BuildAndStart();
  if (started.server == nullptr || started.port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  }
  if (grpc::HealthCheckServiceInterface* health = started.server->GetHealthCheckService(); health != nullptr) {
    for (const std::string& name : service_names) health->SetServingStatus(name, true);
  }
  return started;
}

absl::Status WritePortFile(const std::string& path, int port) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", tmp));
    out << port << "\n";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

std::string ClientMetadataValue(const grpc::ServerContextBase& context, const std::string& key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(key);
  return it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
}

std::string ClientMetadataValues(const grpc::ServerContextBase& context, const std::string& key) {
  std::string out;
  const auto range = context.client_metadata().equal_range(key);
  for (auto it = range.first; it != range.second; ++it) {
    if (!out.empty()) out.push_back(',');
    out.append(it->second.data(), it->second.size());
  }
  return out;
}

}  // namespace baton
