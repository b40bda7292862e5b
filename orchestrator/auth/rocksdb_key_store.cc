#include "orchestrator/auth/rocksdb_key_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "orchestrator/store/rocksdb_no_space.h"

namespace baton::orchestrator::auth {
namespace {

absl::Status FromRocksDb(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("key store: ", std::string(what), ": ", s.ToString()));
}

// Not a key: see Open.
constexpr char kMemtableMarker[] = "\xff memtable_marker";

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbKeyStore>> RocksDbKeyStore::Open(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // A handful of small records: keep the memory and file footprint minimal.
  options.write_buffer_size = 1 << 20;
  options.max_open_files = 16;
  options.keep_log_file_num = 2;
  // On a full disk RocksDB's own info log aborts the process (the run store's
  // rocksdb_no_space.h says why); this one drops lines instead.
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  absl::StatusOr<std::shared_ptr<InfoLog>> info_log = InfoLog::Open(path, options.info_log_level);
  if (!info_log.ok()) return info_log.status();
  options.info_log = *std::move(info_log);
  rocksdb::DB* db = nullptr;
  if (absl::Status s = FromRocksDb(rocksdb::DB::Open(options, path, &db), absl::StrCat("open ", path)); !s.ok()) {
    return s;
  }
  // A memtable that is never empty: RocksDB's resume from a failed write then switches
  // to a new WAL instead of writing the failed one again (rocksdb_no_space.h). Never
  // in the WAL, so it means nothing after a restart.
  rocksdb::WriteOptions marker;
  marker.disableWAL = true;
  if (absl::Status s = FromRocksDb(db->Put(marker, kMemtableMarker, ""), "marker"); !s.ok()) {
    delete db;
    return s;
  }
  return std::unique_ptr<RocksDbKeyStore>(new RocksDbKeyStore(std::unique_ptr<rocksdb::DB>(db)));
}

RocksDbKeyStore::RocksDbKeyStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}

RocksDbKeyStore::~RocksDbKeyStore() = default;

absl::Status RocksDbKeyStore::Put(const v1::StoredApiKey& key) {
  rocksdb::WriteOptions write;
  write.sync = true;  // a created key is handed out only once it is durable
  return FromRocksDb(db_->Put(write, key.key().key_id(), key.SerializeAsString()), "write");
}

absl::StatusOr<std::vector<v1::StoredApiKey>> RocksDbKeyStore::LoadAll() {
  std::vector<v1::StoredApiKey> keys;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key() == kMemtableMarker) continue;
    v1::StoredApiKey key;
    if (!key.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("key store: record ", it->key().ToString(), " does not parse"));
    }
    keys.push_back(std::move(key));
  }
  if (absl::Status s = FromRocksDb(it->status(), "scan"); !s.ok()) return s;
  return keys;
}

}  // namespace baton::orchestrator::auth
