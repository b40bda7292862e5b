// API keys in a small RocksDB database of their own, DATA_DIR/auth-keys (one record
// per key id, synced writes). The only file of orchestrator/auth that includes RocksDB.
#ifndef BATON_ORCHESTRATOR_AUTH_ROCKSDB_KEY_STORE_H_
#define BATON_ORCHESTRATOR_AUTH_ROCKSDB_KEY_STORE_H_

#include <memory>
#include <string>

#include "orchestrator/auth/key_store.h"

namespace rocksdb {
class DB;
}

namespace baton::orchestrator::auth {

// Thread-safe (RocksDB is).
class RocksDbKeyStore final : public KeyStore {
 public:
  // Opens (creating if missing) the database in `path`.
  static absl::StatusOr<std::unique_ptr<RocksDbKeyStore>> Open(const std::string& path);
  ~RocksDbKeyStore() override;

  RocksDbKeyStore(const RocksDbKeyStore&) = delete;
  RocksDbKeyStore& operator=(const RocksDbKeyStore&) = delete;

  absl::Status Put(const v1::StoredApiKey& key) override;
  absl::StatusOr<std::vector<v1::StoredApiKey>> LoadAll() override;

 private:
  explicit RocksDbKeyStore(std::unique_ptr<rocksdb::DB> db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_ROCKSDB_KEY_STORE_H_
