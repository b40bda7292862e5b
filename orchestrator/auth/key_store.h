// Durable storage of API keys (hashes only): an interface, an in-memory
// implementation for tests, and RocksDbKeyStore (rocksdb_key_store.h).
//
// Keys live apart from the RunStore: they are few, read once at start-up into
// KeyRegistry's memory, written rarely and synchronously, and never part of the
// scheduler's group commit, so the run store's interface and its test doubles do
// not grow a kind they never use.
#ifndef BATON_ORCHESTRATOR_AUTH_KEY_STORE_H_
#define BATON_ORCHESTRATOR_AUTH_KEY_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "baton/v1/auth.pb.h"

namespace baton::orchestrator::auth {

// Thread-safe.
class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Inserts or replaces the record of key.key_id, durably.
  virtual absl::Status Put(const v1::StoredApiKey& key) = 0;
  // Every record, by key id.
  virtual absl::StatusOr<std::vector<v1::StoredApiKey>> LoadAll() = 0;
};

class MemoryKeyStore final : public KeyStore {
 public:
  absl::Status Put(const v1::StoredApiKey& key) override {
    absl::MutexLock lock(&mu_);
    keys_[key.key().key_id()] = key;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<v1::StoredApiKey>> LoadAll() override {
    absl::MutexLock lock(&mu_);
    std::vector<v1::StoredApiKey> all;
    for (const auto& [id, key] : keys_) all.push_back(key);
    return all;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, v1::StoredApiKey> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_KEY_STORE_H_
