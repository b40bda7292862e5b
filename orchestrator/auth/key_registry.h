// The orchestrator's API keys in memory, written through to a KeyStore: creates,
// revokes, lists and authenticates keys. Thread-safe; Authenticate takes a reader
// lock and hashes 64 bytes, so the auth processor can call it inline on every call.
// Holds references to the store and clock, which must outlive it.
#ifndef BATON_ORCHESTRATOR_AUTH_KEY_REGISTRY_H_
#define BATON_ORCHESTRATOR_AUTH_KEY_REGISTRY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "baton/v1/auth.pb.h"
#include "common/clock.h"
#include "orchestrator/auth/key_store.h"
#include "orchestrator/auth/principal.h"

namespace baton::orchestrator::auth {

class KeyRegistry {
 public:
  // Loads every key of `store`.
  static absl::StatusOr<std::unique_ptr<KeyRegistry>> Open(KeyStore& store, const Clock& clock);

  KeyRegistry(const KeyRegistry&) = delete;
  KeyRegistry& operator=(const KeyRegistry&) = delete;

  struct CreatedKey {
    v1::ApiKey key;
    std::string secret;  // the whole key, "bk_<id>_<secret>": shown once
  };
  // INVALID_ARGUMENT for an empty or over-long principal, no role, an unknown role
  // or a malformed namespace. Namespaces default to {"default"}. The key is durable
  // before it is returned.
  absl::StatusOr<CreatedKey> Create(std::string_view principal, const std::vector<std::string>& roles,
                                    const std::vector<std::string>& namespaces);
  // NOT_FOUND for an unknown id. Revoking twice is fine.
  absl::StatusOr<v1::ApiKey> Revoke(std::string_view key_id);
  // Oldest first.
  std::vector<v1::ApiKey> List() const;
  bool Empty() const;

  // The principal of `key` ("bk_..."), or UNAUTHENTICATED saying why (malformed,
  // unknown key id, wrong secret, revoked); never echoes the secret.
  absl::StatusOr<Principal> Authenticate(std::string_view key) const;

 private:
  KeyRegistry(KeyStore& store, const Clock& clock) : store_(store), clock_(clock) {}

  KeyStore& store_;
  const Clock& clock_;
  // Serializes writers (Create, Revoke) so the store and the map agree; readers use mu_.
  absl::Mutex write_mu_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, v1::StoredApiKey> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_KEY_REGISTRY_H_
