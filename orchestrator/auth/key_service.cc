#include "orchestrator/auth/key_service.h"

#include "common/grpc_status.h"

namespace baton::orchestrator::auth {

grpc::ServerUnaryReactor* KeyServiceImpl::CreateKey(grpc::CallbackServerContext* ctx,
                                                    const v1::CreateKeyRequest* request,
                                                    v1::CreateKeyResponse* reply) {
  absl::StatusOr<KeyRegistry::CreatedKey> created =
      keys_.Create(request->principal(), {request->roles().begin(), request->roles().end()},
                   {request->namespaces().begin(), request->namespaces().end()});
  if (!created.ok()) return FinishNow(ctx, created.status());
  *reply->mutable_key() = std::move(created->key);
  reply->set_secret(std::move(created->secret));
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* KeyServiceImpl::ListKeys(grpc::CallbackServerContext* ctx,
                                                   const v1::ListKeysRequest* request,
                                                   v1::ListKeysResponse* reply) {
  for (v1::ApiKey& key : keys_.List()) *reply->add_keys() = std::move(key);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* KeyServiceImpl::RevokeKey(grpc::CallbackServerContext* ctx,
                                                    const v1::RevokeKeyRequest* request, v1::ApiKey* reply) {
  if (request->key_id().empty()) return FinishNow(ctx, absl::InvalidArgumentError("key_id: must not be empty"));
  absl::StatusOr<v1::ApiKey> key = keys_.Revoke(request->key_id());
  if (!key.ok()) return FinishNow(ctx, key.status());
  *reply = *std::move(key);
  return FinishNow(ctx, absl::OkStatus());
}

}  // namespace baton::orchestrator::auth
