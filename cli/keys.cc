#include "cli/keys.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "baton/v1/auth.grpc.pb.h"
#include "common/grpc_channel.h"

namespace baton::cli {

absl::StatusOr<std::string> ReadApiKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the API key file ", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string key(absl::StripAsciiWhitespace(text.str()));
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat("the API key file ", path, " is empty"));
  return key;
}

absl::StatusOr<std::string> CreateStackWorkerKey(const std::string& addr, const ClientTlsOptions& tls,
                                                 const std::string& admin_key) {
  ChannelOptions options;
  options.tls = tls;
  options.bearer_token = admin_key;
  std::unique_ptr<v1::KeyService::Stub> keys = v1::KeyService::NewStub(NewChannel(addr, options));
  auto deadline = [] { return absl::ToChronoTime(absl::Now() + absl::Seconds(15)); };

  grpc::ClientContext list_context;
  list_context.set_deadline(deadline());
  v1::ListKeysResponse existing;
  grpc::Status status = keys->ListKeys(&list_context, v1::ListKeysRequest(), &existing);
  if (!status.ok()) return absl::UnavailableError(absl::StrCat("KeyService.ListKeys: ", status.error_message()));

  grpc::ClientContext create_context;
  create_context.set_deadline(deadline());
  v1::CreateKeyRequest request;
  request.set_principal(kStackWorkerPrincipal);
  request.add_roles("worker");
  request.add_namespaces("*");  // the stack's workers run every namespace's runs
  v1::CreateKeyResponse created;
  status = keys->CreateKey(&create_context, request, &created);
  if (!status.ok()) return absl::UnavailableError(absl::StrCat("KeyService.CreateKey: ", status.error_message()));

  for (const v1::ApiKey& key : existing.keys()) {
    if (key.principal() != kStackWorkerPrincipal || key.revoked()) continue;
    grpc::ClientContext revoke_context;
    revoke_context.set_deadline(deadline());
    v1::RevokeKeyRequest revoke;
    revoke.set_key_id(key.key_id());
    v1::ApiKey revoked;
    status = keys->RevokeKey(&revoke_context, revoke, &revoked);
    if (!status.ok()) return absl::UnavailableError(absl::StrCat("KeyService.RevokeKey: ", status.error_message()));
  }
  return created.secret();
}

}  // namespace baton::cli
