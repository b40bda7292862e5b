// KeyService: API keys over gRPC (admin role, enforced by the auth processor).
#ifndef BATON_ORCHESTRATOR_AUTH_KEY_SERVICE_H_
#define BATON_ORCHESTRATOR_AUTH_KEY_SERVICE_H_

#include "baton/v1/auth.grpc.pb.h"
#include "orchestrator/auth/key_registry.h"

namespace baton::orchestrator::auth {

// Thread-safe. Holds a reference to the registry, which must outlive it.
class KeyServiceImpl final : public v1::KeyService::CallbackService {
 public:
  explicit KeyServiceImpl(KeyRegistry& keys) : keys_(keys) {}

  // Keys change rarely: the synced write in KeyRegistry holds one callback thread for
  // about a millisecond, as PutAgent does.
  grpc::ServerUnaryReactor* CreateKey(grpc::CallbackServerContext* ctx, const v1::CreateKeyRequest* request,
                                      v1::CreateKeyResponse* reply) override;
  grpc::ServerUnaryReactor* ListKeys(grpc::CallbackServerContext* ctx, const v1::ListKeysRequest* request,
                                     v1::ListKeysResponse* reply) override;
  grpc::ServerUnaryReactor* RevokeKey(grpc::CallbackServerContext* ctx, const v1::RevokeKeyRequest* request,
                                      v1::ApiKey* reply) override;

 private:
  KeyRegistry& keys_;
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_KEY_SERVICE_H_
