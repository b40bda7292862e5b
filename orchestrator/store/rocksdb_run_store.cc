#include "orchestrator/store/rocksdb_run_store.h"

#include <pthread.h>

#include <openssl/rand.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "common/namespaces.h"
#include "common/status_macros.h"
#include "orchestrator/store/rocksdb_backup.h"
#include "orchestrator/store/rocksdb_no_space.h"
#include "orchestrator/store/rocksdb_status.h"
#include "orchestrator/store/store_keys.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/table_properties_collectors.h"
#include "rocksdb/write_batch.h"

namespace baton::orchestrator {

const char* const RocksDbRunStore::kCfNames[kNumCfs] = {
    "default",  // rocksdb::kDefaultColumnFamilyName; unused, but RocksDB requires it
    "runs",
    "journal",
    "events",
    "queue",
    "leases",
    "agents",
    "request_ids",
    "waiting",
    "approvals",
    "sessions",
    "graphs",
    "data_keys",
    "run_index",
    "namespaces",
    "meta",
    "ended",
    "run_parts",
    "pending_approvals",
};

namespace {

// While the disk is full: how often the committer looks for room, and when a refused
// caller should try again.
constexpr absl::Duration kRoomPollInterval = absl::Milliseconds(500);
constexpr absl::Duration kFullDiskRetryDelay = absl::Seconds(1);

// Debian's Abseil has its own string_view type, which StrCat needs.
absl::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

absl::Status CorruptRecord(std::string_view kind, std::string_view key, std::string_view path) {
  return absl::DataLossError(
      absl::StrCat("rocksdb (", Sv(path), "): corrupt ", Sv(kind), " record for ", Sv(key)));
}

template <typename Message>
bool Parse(const rocksdb::Slice& value, Message* message) {
  return message->ParseFromArray(value.data(), static_cast<int>(value.size()));
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

// The meta family's key for the layout's version, and the version this code writes.
constexpr char kFormatKey[] = "format";
constexpr int kFormatNamespaces = 2;
constexpr int kFormatEndedIndex = 3;
constexpr int kFormatRunParts = 4;
constexpr int kFormatPendingIndex = 5;
constexpr int kFormatEventGroups = 6;  // the latest
// The meta family's key for the secret that signs page tokens (PageTokenKey).
constexpr char kPageTokenKey[] = "page_token_key";
constexpr size_t kPageTokenKeyBytes = 32;

std::string DataKeyId(uint32_t id) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((id >> shift) & 0xff));
  return out;
}

// Journal and events keys are "<run_id> 0x00 BE64(seq)": the prefix is everything
// but the last 8 bytes. With it RocksDB keeps prefix bloom filters (in SST files and
// memtables), so reading one run's journal skips the files that hold none of it.
class RunSeqPrefixTransform final : public rocksdb::SliceTransform {
 public:
  // Stored in SST properties: changing it disables the filters of existing files.
  const char* Name() const override { return "baton.RunSeqPrefix.v1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), key.size() - store_keys::kSeqBytes);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() > store_keys::kSeqBytes;
  }
};

// Options for this workload, chosen on purpose:
// - Writes are small synced batches from one committer thread; reads are point
//   lookups (runs, request ids, a named agent) and short prefix scans (a run's
//   journal and events). Level compaction with dynamic level sizes keeps space
//   amplification low for a store that mostly grows.
// - One LRU block cache for all column families, with index and filter blocks in it,
//   so memory is bounded by the options, not by the number of SST files.
// - Whole-key bloom filters where reads are point Gets (runs, request_ids): a miss,
//   such as a new request id, costs no disk read. Agents are read with seeks (latest
//   version of a name), which whole-key filters cannot help, and the family is tiny.
// - Prefix bloom filters on journal and events (RunSeqPrefixTransform), and the same
//   prefixes as memtable insert hints: each run appends in seq order. Run records
//   are rewritten at a run's leases, waits and end, so their keys are hints too.
// - run_parts (what a run was created with and its waits, StoreBatch) has keys of the
//   journal's shape and the same options: reading a run's parts (every run has at
//   least the one it was created with) is a prefix scan.
// - queue and leases are rewritten and deleted constantly: the deletion-triggered
//   compaction collector compacts files dense with tombstones, so the start-up scans
//   do not wade through dead entries. waiting is the same kind of index (a run id is
//   put when the run starts to wait and deleted when it is queued again, and the
//   family is read only by the start-up scan), so it gets the same options.
// - approvals and sessions are read with point Gets (GetApproval, GetSessionHead: a
//   decision names its approval, a new run of a session looks up the session's head),
//   so they get whole-key bloom filters like runs and request_ids. ListApprovals of
//   every run walks the family (one run's: its key range), which a filter neither
//   helps nor hurts. Neither is rewritten often enough for memtable insert hints to
//   pay (an approval is written about twice, a session head once per run of the
//   session).
// - pending_approvals indexes the approvals still PENDING (the inbox ListApprovals
//   shows by default, and what a restart reloads), so listing them does not read the
//   decided ones, which only grow: an id is put when its approval is made and deleted
//   when it is decided, the queue's churn.
// - ended (retention) is written once per root run that ends and deleted once, from
//   the oldest: the same churn as the queue, so the same options.
// - max_background_jobs 2: the orchestrator shares small machines with workers.
struct StoreRocksOptions {
  rocksdb::DBOptions db;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
};

StoreRocksOptions MakeRocksOptions(const RocksDbStoreOptions& options,
                                   const char* const* cf_names, size_t num_cfs) {
  StoreRocksOptions out;
  out.db.create_if_missing = options.create_if_missing;
  // An older database gains the kinds added since it was created.
  out.db.create_missing_column_families = true;
  out.db.max_background_jobs = options.max_background_jobs;
  out.db.max_total_wal_size = options.max_total_wal_bytes;
  out.db.db_write_buffer_size = options.total_write_buffer_bytes;
  out.db.bytes_per_sync = 1 << 20;  // smooth SST writeback instead of one burst per file
  out.db.keep_log_file_num = 10;    // RocksDB's own LOG files

  std::shared_ptr<rocksdb::Cache> cache;
  if (options.block_cache_bytes > 0) cache = rocksdb::NewLRUCache(options.block_cache_bytes);

  auto table_options = [&](bool bloom, bool whole_key) {
    rocksdb::BlockBasedTableOptions t;
    if (cache) {
      t.block_cache = cache;
    } else {
      t.no_block_cache = true;
    }
    t.cache_index_and_filter_blocks = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    if (bloom) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.whole_key_filtering = whole_key;
    return t;
  };
  auto base = [&]() {
    rocksdb::ColumnFamilyOptions cf;
    cf.write_buffer_size = options.write_buffer_bytes;
    cf.level_compaction_dynamic_level_bytes = true;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options(false, true)));
    return cf;
  };
  auto point_lookups = [&]() {
    rocksdb::ColumnFamilyOptions cf = base();
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options(true, true)));
    return cf;
  };
  auto runs = [&]() {
    rocksdb::ColumnFamilyOptions cf = point_lookups();
    // A run record is rewritten several times (created, leased, ended; a parent at
    // each of its children's turns): its new version goes right next to the previous
    // one, which the memtable remembers (a hint per run, ~250 bytes, dropped with the
    // memtable).
    cf.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewNoopTransform());
    return cf;
  };
  auto prefix_scans = [&]() {
    rocksdb::ColumnFamilyOptions cf = base();
    cf.prefix_extractor = std::make_shared<RunSeqPrefixTransform>();
    // A run's records arrive in seq order: the memtable keeps, per run, where its
    // last insert went, so the next one skips the search from the top of the skip
    // list (the largest cost of a commit; bench/). One writer thread, so RocksDB
    // does not take the concurrent-insert path that ignores hints.
    // RocksDB 7.8 keeps one map of hints for point inserts and range deletions alike
    // (later versions hint point inserts only): retention's range deletion of a run
    // starts at "<run_id> 0x00", whose prefix (a run id cut short) never ends in the
    // 0x00 every point key's prefix ends in, so no point insert is handed a position
    // in the range deletions' skip list. A new key shape must keep that true: with a
    // hint prefix the two share, RunStoreTest.JournalsAndEventsAppendedAfterARunsDeletion-
    // ReadBackWhole aborts in RocksDB's memtable.
    cf.memtable_insert_with_hint_prefix_extractor = cf.prefix_extractor;
    cf.memtable_prefix_bloom_size_ratio = 0.05;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options(true, false)));
    return cf;
  };
  auto churn = [&]() {
    rocksdb::ColumnFamilyOptions cf = base();
    // Compact a file once 64 of any 128 consecutive entries are deletions.
    cf.table_properties_collector_factories.push_back(
        rocksdb::NewCompactOnDeletionCollectorFactory(128, 64));
    return cf;
  };

  for (size_t i = 0; i < num_cfs; ++i) {
    std::string_view name = cf_names[i];
    rocksdb::ColumnFamilyOptions cf;
    if (name == "runs") {
      cf = runs();
    } else if (name == "request_ids" || name == "approvals" || name == "sessions") {
      cf = point_lookups();
    } else if (name == "journal" || name == "events" || name == "run_parts") {
      cf = prefix_scans();
    } else if (name == "queue" || name == "leases" || name == "waiting" || name == "ended" ||
               name == "pending_approvals") {
      cf = churn();
    } else {
      cf = base();
    }
    out.cfs.emplace_back(std::string(name), std::move(cf));
  }
  return out;
}

// DB::Open with every family of `rocks`, in its order, creating the missing ones in one
// call. RocksDB's create_missing_column_families creates them one at a time, and each
// creation rewrites the options file and reads it back whole: 18 families made a new
// store's open cost ~150 ms of CPU (against ~30 ms), paid by every new data directory
// (`baton up`, each test's cluster).
rocksdb::Status OpenWithFamilies(const StoreRocksOptions& rocks, const std::string& path,
                                 std::vector<rocksdb::ColumnFamilyHandle*>* handles, rocksdb::DB** db) {
  std::vector<std::string> existing;
  if (!rocksdb::DB::ListColumnFamilies(rocks.db, path, &existing).ok()) {
    existing = {rocksdb::kDefaultColumnFamilyName};  // no database yet: DB::Open decides (create_if_missing)
  }
  const auto ours = [&](const std::string& name) {
    return std::any_of(rocks.cfs.begin(), rocks.cfs.end(),
                       [&](const rocksdb::ColumnFamilyDescriptor& cf) { return cf.name == name; });
  };
  if (!std::all_of(existing.begin(), existing.end(), ours)) {
    // A family this version does not know (a newer format): RocksDB's open refuses it by name.
    return rocksdb::DB::Open(rocks.db, path, rocks.cfs, handles, db);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> present, missing;
  for (const rocksdb::ColumnFamilyDescriptor& cf : rocks.cfs) {
    (std::find(existing.begin(), existing.end(), cf.name) != existing.end() ? present : missing).push_back(cf);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> opened, created;
  rocksdb::Status s = rocksdb::DB::Open(rocks.db, path, present, &opened, db);
  if (!s.ok()) return s;
  if (!missing.empty()) s = (*db)->CreateColumnFamilies(missing, &created);
  if (!s.ok()) {
    for (rocksdb::ColumnFamilyHandle* h : opened) (*db)->DestroyColumnFamilyHandle(h);
    for (rocksdb::ColumnFamilyHandle* h : created) (*db)->DestroyColumnFamilyHandle(h);
    delete *db;
    *db = nullptr;
    return s;
  }
  handles->clear();
  auto next_opened = opened.begin();
  auto next_created = created.begin();
  for (const rocksdb::ColumnFamilyDescriptor& cf : rocks.cfs) {
    const bool was_present = std::find(existing.begin(), existing.end(), cf.name) != existing.end();
    handles->push_back(was_present ? *next_opened++ : *next_created++);
  }
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbRunStore>> RocksDbRunStore::Open(
    const RocksDbStoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("RocksDbStoreOptions.path: empty");
  }
  if (options.create_if_missing) {
    // RocksDB creates only the last directory of the path; `baton up` passes nested ones.
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("creating store directory ", options.path, ": ", ec.message()));
    }
  }
  StoreRocksOptions rocks = MakeRocksOptions(options, kCfNames, kNumCfs);
  // A full disk (rocksdb_no_space.h): RocksDB's info log must not abort on it, and
  // the store, not RocksDB, resumes from it.
  if (std::filesystem::is_directory(options.path)) {
    absl::StatusOr<std::shared_ptr<InfoLog>> info_log = InfoLog::Open(options.path, rocks.db.info_log_level);
    if (!info_log.ok()) return info_log.status();
    rocks.db.info_log = *std::move(info_log);
  }
  auto health = std::make_unique<DiskHealth>(options.path, kFullDiskRetryDelay);
  auto no_space = std::make_unique<NoSpaceGuard>(
      *health, NoSpaceOptions{options.min_free_disk_bytes, options.write_buffer_bytes});
  rocks.db.listeners.push_back(no_space->listener());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = OpenWithFamilies(rocks, options.path, &handles, &raw_db);
  if (!s.ok()) return FromRocksDb(s, "open", options.path);
  BATON_CHECK(handles.size() == kNumCfs) << "RocksDB returned " << handles.size() << " handles";
  BATON_LOG(INFO) << "store opened at " << options.path << " (sync=" << options.sync
                  << ", encryption at rest " << (options.encryption_key_file.empty() ? "off" : "on") << ")";
  RETURN_IF_ERROR(no_space->Attach(raw_db, handles[kMetaCf]));
  std::unique_ptr<RocksDbRunStore> store(new RocksDbRunStore(
      options, std::unique_ptr<rocksdb::DB>(raw_db), handles, std::move(health), std::move(no_space)));
  if (!options.encryption_key_file.empty()) RETURN_IF_ERROR(store->OpenCipher());
  RETURN_IF_ERROR(store->MigrateToNamespaces());
  RETURN_IF_ERROR(store->MigrateToEndedIndex());
  RETURN_IF_ERROR(store->MigrateToRunParts());
  RETURN_IF_ERROR(store->MigrateToPendingIndex());
  RETURN_IF_ERROR(store->MigrateToEventGroups());
  RETURN_IF_ERROR(store->LoadPageTokenKey());
  return store;
}

absl::Status RocksDbRunStore::LoadPageTokenKey() {
  // With encryption at rest the key is stored encrypted (under the default namespace's
  // data key, bound to where it is stored), as the payload records are: a copy of the
  // data directory or of a backup does not let anyone make tokens.
  const std::string aad = Aad(kMetaCf, kPageTokenKey);
  std::string stored;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kMetaCf), kPageTokenKey, &stored);
  if (!s.ok() && !s.IsNotFound()) RETURN_IF_ERROR(FromRocksDb(s, "read page token key", path()));
  std::string key;
  bool write = true;
  if (s.ok()) {
    std::string buffer;
    std::optional<std::string_view> plain = PlainStored(kMetaCf, kPageTokenKey, stored, &buffer);
    if (!plain.has_value()) {
      BATON_LOG(WARNING) << "the page token key does not decrypt: a new one is made, and page tokens handed out "
                            "before are refused (clients list from the start again)";
    } else if (plain->size() == kPageTokenKeyBytes) {
      key.assign(*plain);
      // Stored in the clear before encryption was turned on: encrypted now.
      write = cipher_ != nullptr && !ValueCipher::IsEncrypted(stored);
    }
  }
  if (key.empty()) {
    // A new key never starts with 0x00, as an encrypted value does (value_cipher.h):
    // stored in the clear, one that did could be taken for ciphertext at the next open.
    key.assign(kPageTokenKeyBytes, '\0');
    do {
      if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
        return absl::InternalError("RAND_bytes failed making the page token key");
      }
    } while (key[0] == '\0');
  }
  if (write) {
    std::string value = key;
    if (cipher_ != nullptr) {
      RETURN_IF_ERROR(EnsureDataKey(kDefaultNamespace));
      value = cipher_->Encrypt(kDefaultNamespace, aad, key);
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    RETURN_IF_ERROR(
        FromRocksDb(db_->Put(write_options, cf(kMetaCf), kPageTokenKey, value), "write page token key", path()));
    if (s.ok() && cipher_ != nullptr) {
      // The key in the clear is still in the meta family's files until they are
      // compacted: compact them now (the family holds a few small records).
      rocksdb::CompactRangeOptions compact;
      compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      RETURN_IF_ERROR(FromRocksDb(db_->CompactRange(compact, cf(kMetaCf), nullptr, nullptr),
                                  "compact the page token key's family", path()));
      BATON_LOG(INFO) << "encryption at rest: the page token key is stored encrypted from now on";
    }
  }
  page_token_key_ = std::move(key);
  return absl::OkStatus();
}

absl::Status RocksDbRunStore::OpenCipher() {
  ASSIGN_OR_RETURN(std::vector<KeyEncryptionKey> keks, ReadKeyEncryptionKeys(options_.encryption_key_file));
  std::vector<StoredDataKey> stored;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kDataKeysCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ASSIGN_OR_RETURN(StoredDataKey key, ValueCipher::DecodeDataKey(View(it->value())));
    stored.push_back(std::move(key));
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "read data keys", path()));
  std::vector<StoredDataKey> to_store;
  ASSIGN_OR_RETURN(cipher_, ValueCipher::Create(std::move(keks), stored, &to_store));
  if (!to_store.empty()) {
    // Written before any record uses them, synced: a data key is never lost.
    rocksdb::WriteBatch batch;
    for (const StoredDataKey& key : to_store) {
      batch.Put(cf(kDataKeysCf), DataKeyId(key.id), ValueCipher::EncodeDataKey(key));
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    RETURN_IF_ERROR(FromRocksDb(db_->Write(write_options, &batch), "write data keys", path()));
    BATON_LOG(INFO) << "encryption at rest: " << to_store.size() << " data key(s) written under the newest key-encryption key";
  }
  return absl::OkStatus();
}

absl::Status RocksDbRunStore::EnsureDataKey(std::string_view ns) {
  if (cipher_->HasDataKey(ns)) return absl::OkStatus();
  absl::MutexLock lock(&data_key_mu_);
  if (cipher_->HasDataKey(ns)) return absl::OkStatus();
  // Synced before any record uses it, as at Open: a data key is never lost.
  StoredDataKey key = cipher_->NewDataKey(ns);
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  RETURN_IF_ERROR(FromRocksDb(db_->Put(write_options, cf(kDataKeysCf), DataKeyId(key.id), ValueCipher::EncodeDataKey(key)),
                              "write data key", path()));
  cipher_->AddDataKey(key);
  BATON_LOG(INFO) << "encryption at rest: data key " << key.id << " for namespace " << ns;
  return absl::OkStatus();
}

absl::Status RocksDbRunStore::MigrateToNamespaces() {
  ASSIGN_OR_RETURN(const int format, FormatVersion());
  if (format > kFormatEventGroups) {
    return absl::FailedPreconditionError(absl::StrCat("store ", path(), " is at format ", format,
                                                      ", newer than this orchestrator's (", kFormatEventGroups, ")"));
  }
  if (format >= kFormatNamespaces) return absl::OkStatus();
  // Format 1 keys have no "<ns> 0x00" in front; they all belong to "default". Runs keep
  // their ids (an id without "<ns>/" is in "default") and gain their index entries.
  size_t moved = 0;
  rocksdb::WriteBatch batch;
  auto move_scoped = [&](Cf family) -> absl::Status {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      batch.Delete(cf(family), it->key());
      batch.Put(cf(family), store_keys::ScopedKey(kDefaultNamespace, View(it->key())), it->value());
      ++moved;
    }
    return FromRocksDb(it->status(), "migrate", path());
  };
  for (Cf family : {kAgentsCf, kGraphsCf, kRequestIdsCf, kSessionsCf}) RETURN_IF_ERROR(move_scoped(family));
  RETURN_IF_ERROR(ForEachRunRecord([&](const v1::Run& run) {
    for (const std::string& key : store_keys::RunIndexKeys(run)) batch.Put(cf(kRunIndexCf), key, run.run_id());
    ++moved;
    return absl::OkStatus();
  }));
  RETURN_IF_ERROR(CommitMigration(batch, kFormatNamespaces, "migrate"));
  if (moved > 0) BATON_LOG(INFO) << "store moved to namespaces: " << moved << " records in \"default\"";
  return absl::OkStatus();
}

absl::Status RocksDbRunStore::MigrateToEndedIndex() {
  ASSIGN_OR_RETURN(const int format, FormatVersion());
  if (format >= kFormatEndedIndex) return absl::OkStatus();
  // Once per database: its runs from before retention existed get their entries.
  size_t indexed = 0;
  rocksdb::WriteBatch batch;
  RETURN_IF_ERROR(ForEachRunRecord([&](const v1::Run& run) {
    if (!IsTerminal(run.state()) || !IsRetentionRoot(run)) return absl::OkStatus();
    batch.Put(cf(kEndedCf), store_keys::EndedKey(run.run_id(), store_keys::EndTimeOf(run)), run.run_id());
    ++indexed;
    return absl::OkStatus();
  }));
  RETURN_IF_ERROR(CommitMigration(batch, kFormatEndedIndex, "index ended runs"));
  if (indexed > 0) {
    BATON_LOG(INFO) << "store indexed " << indexed << " ended runs for retention";
  }
  return absl::OkStatus();
}

absl::Status RocksDbRunStore::MigrateToRunParts() {
  ASSIGN_OR_RETURN(const int format, FormatVersion());
  if (format >= kFormatRunParts) return absl::OkStatus();
  // Once per database: records written before runs were stored in parts carry their
  // agent, input, graph and waits inline. Written as Encode writes them (encrypted
  // when the store is).
  size_t split = 0;
  rocksdb::WriteBatch batch;
  auto put = [&](Cf family, const std::string& key, const google::protobuf::MessageLite& message,
                 std::string_view ns) -> absl::Status {
    std::string value = message.SerializeAsString();
    if (cipher_ != nullptr) {
      RETURN_IF_ERROR(EnsureDataKey(ns));
      value = cipher_->Encrypt(ns, Aad(family, key), value);
    }
    return FromRocksDb(batch.Put(cf(family), key, value), "split runs", path());
  };
  RETURN_IF_ERROR(ForEachRunRecord([&](const v1::Run& run) -> absl::Status {
    const std::string_view ns = NamespaceOfRunId(run.run_id());
    const std::string spec_key = store_keys::RunSeqKey(run.run_id(), store_keys::kSpecPart);
    RETURN_IF_ERROR(put(kRunPartsCf, spec_key, store_keys::SpecOf(run), ns));
    for (int i = 0; i < run.waits_size(); ++i) {
      const std::string key = store_keys::RunSeqKey(run.run_id(), store_keys::WaitPart(i));
      RETURN_IF_ERROR(put(kRunPartsCf, key, run.waits(i), ns));
    }
    RETURN_IF_ERROR(put(kRunsCf, run.run_id(), store_keys::StoredRecord(run), ns));
    ++split;
    return absl::OkStatus();
  }));
  RETURN_IF_ERROR(CommitMigration(batch, kFormatRunParts, "split runs"));
  if (split > 0) BATON_LOG(INFO) << "store split " << split << " runs into their records and parts";
  return absl::OkStatus();
}

absl::Status RocksDbRunStore::MigrateToPendingIndex() {
  ASSIGN_OR_RETURN(const int format, FormatVersion());
  if (format >= kFormatPendingIndex) return absl::OkStatus();
  // Once per database: the approvals from before the index.
  size_t indexed = 0;
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kApprovalsCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    v1::Approval approval;
    if (!ParseStored(kApprovalsCf, View(it->key()), it->value(), &approval)) {
      return CorruptRecord("approval", View(it->key()), path());
    }
    if (approval.state() != v1::Approval::PENDING) continue;
    batch.Put(cf(kPendingApprovalsCf), it->key(), rocksdb::Slice());
    ++indexed;
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "index pending approvals", path()));
  RETURN_IF_ERROR(CommitMigration(batch, kFormatPendingIndex, "index pending approvals"));
  if (indexed > 0) BATON_LOG(INFO) << "store indexed " << indexed << " pending approvals";
  return absl::OkStatus();
}

absl::Status RocksDbRunStore::MigrateToEventGroups() {
  ASSIGN_OR_RETURN(const int format, FormatVersion());
  if (format >= kFormatEventGroups) return absl::OkStatus();
  // Nothing to rewrite: a one-event record of format 5 is read as it is
  // (store_keys::DecodeEvents). The format says an older orchestrator cannot read the
  // groups written from now on, so it refuses the store instead.
  rocksdb::WriteBatch batch;
  return CommitMigration(batch, kFormatEventGroups, "group events");
}

absl::StatusOr<int> RocksDbRunStore::FormatVersion() {
  std::string format;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kMetaCf), kFormatKey, &format);
  if (s.IsNotFound()) return 0;
  RETURN_IF_ERROR(FromRocksDb(s, "read format", path()));
  int version = 0;
  if (!absl::SimpleAtoi(format, &version)) return CorruptRecord("format", kFormatKey, path());
  return version;
}

absl::Status RocksDbRunStore::CommitMigration(rocksdb::WriteBatch& batch, int format, std::string_view what) {
  batch.Put(cf(kMetaCf), kFormatKey, absl::StrCat(format));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  return FromRocksDb(db_->Write(write_options, &batch), what, path());
}

absl::Status RocksDbRunStore::ForEachRunRecord(const std::function<absl::Status(const v1::Run&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kRunsCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    v1::Run run;
    if (!ParseStored(kRunsCf, View(it->key()), it->value(), &run)) return CorruptRecord("run", View(it->key()), path());
    RETURN_IF_ERROR(fn(run));
  }
  return FromRocksDb(it->status(), "read runs", path());
}

absl::StatusOr<std::optional<v1::RunState>> RocksDbRunStore::LastStateLocked(const std::string& run_id) {
  if (auto it = run_states_.find(run_id); it != run_states_.end()) return std::optional<v1::RunState>(it->second);
  ASSIGN_OR_RETURN(std::optional<v1::Run> stored, GetRunRecord(run_id));
  if (!stored.has_value()) return std::optional<v1::RunState>();
  return std::optional<v1::RunState>(stored->state());
}

void RocksDbRunStore::IndexRunLocked(const v1::Run& run, std::optional<v1::RunState> last, std::vector<Op>& ops) {
  if (!last.has_value()) {
    for (std::string& key : store_keys::RunIndexKeys(run)) ops.push_back(Op{kRunIndexCf, false, std::move(key), run.run_id()});
  } else if (*last != run.state()) {
    ops.push_back(Op{kRunIndexCf, true, store_keys::RunStateIndexKey(run.run_id(), *last), {}});
    ops.push_back(Op{kRunIndexCf, false, store_keys::RunStateIndexKey(run.run_id(), run.state()), run.run_id()});
  }
  // Retention finds ended runs through this index, never by scanning the runs.
  if (IsTerminal(run.state()) && !(last.has_value() && IsTerminal(*last)) && IsRetentionRoot(run)) {
    ops.push_back(Op{kEndedCf, false, store_keys::EndedKey(run.run_id(), store_keys::EndTimeOf(run)), run.run_id()});
  }
  if (IsTerminal(run.state())) {
    run_states_.erase(run.run_id());
  } else {
    run_states_[run.run_id()] = run.state();
  }
}

std::string RocksDbRunStore::Aad(Cf c, std::string_view key) {
  std::string aad(kCfNames[c]);
  aad.push_back('\0');
  aad.append(key);
  return aad;
}

std::optional<std::string_view> RocksDbRunStore::PlainStored(Cf c, std::string_view key, const rocksdb::Slice& value,
                                                              std::string* buffer) const {
  if (!ValueCipher::IsEncrypted(View(value))) return View(value);
  if (cipher_ == nullptr) {
    BATON_LOG(ERROR) << "an encrypted " << kCfNames[c] << " record, and no --encryption-key-file to read it";
    return std::nullopt;
  }
  absl::StatusOr<std::string> plain = cipher_->Decrypt(Aad(c, key), View(value));
  if (!plain.ok()) {
    BATON_LOG(ERROR) << kCfNames[c] << " record: " << plain.status().message();
    return std::nullopt;
  }
  *buffer = *std::move(plain);
  return std::string_view(*buffer);
}

template <typename Message>
bool RocksDbRunStore::ParseStored(Cf c, std::string_view key, const rocksdb::Slice& value, Message* message) const {
  std::string buffer;
  std::optional<std::string_view> plain = PlainStored(c, key, value, &buffer);
  return plain.has_value() && message->ParseFromArray(plain->data(), static_cast<int>(plain->size()));
}

RocksDbRunStore::RocksDbRunStore(const RocksDbStoreOptions& options,
                                 std::unique_ptr<rocksdb::DB> db,
                                 const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                                 std::unique_ptr<DiskHealth> health, std::unique_ptr<NoSpaceGuard> no_space)
    : options_(options), db_(std::move(db)), health_(std::move(health)), no_space_(std::move(no_space)) {
  for (size_t i = 0; i < kNumCfs; ++i) handles_[i] = handles[i];
  if (options_.metrics != nullptr) RegisterMetrics(*options_.metrics);
  committer_ = std::thread([this] { CommitterLoop(); });
  completer_ = std::thread([this] { CompletionLoop(); });
}

void RocksDbRunStore::RegisterMetrics(metrics::Registry& registry) {
  commit_group_size_ = registry.AddHistogram("baton_commit_group_size", "Batches written together by one group commit.",
                                             metrics::Buckets::GroupSize());
  commit_write_seconds_ = registry.AddHistogram(
      "baton_commit_write_seconds", "Write and sync (fsync of the WAL) of one group commit.", metrics::Buckets::Commit());
  // RocksDB keeps these itself; reading them at scrape time costs the write path nothing.
  registry.AddScrapeCollector([this](metrics::ScrapeWriter& out) {
    const std::pair<const char*, const char*> gauges[] = {
        {"baton_rocksdb_live_sst_bytes", "rocksdb.live-sst-files-size"},
        {"baton_rocksdb_memtable_bytes", "rocksdb.cur-size-all-mem-tables"},
        {"baton_rocksdb_pending_compaction_bytes", "rocksdb.estimate-pending-compaction-bytes"},
    };
    for (const auto& [name, property] : gauges) {
      out.Gauge(name, absl::StrCat("RocksDB's ", property, ", summed over the store's column families."));
      uint64_t value = 0;
      if (db_->GetAggregatedIntProperty(property, &value)) out.Add({}, static_cast<double>(value));
    }
  });
}

RocksDbRunStore::~RocksDbRunStore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // The committer drains what is queued before it returns, the completer what the
  // committer wrote.
  committer_.join();
  completer_.join();
  for (rocksdb::ColumnFamilyHandle*& handle : handles_) {
    rocksdb::Status s = db_->DestroyColumnFamilyHandle(handle);
    if (!s.ok()) {
      BATON_LOG(WARNING) << FromRocksDb(s, "release column family", path());
    }
    handle = nullptr;
  }
  rocksdb::Status s = db_->Close();
  if (!s.ok()) {
    BATON_LOG(WARNING) << FromRocksDb(s, "close", path());
  }
}

// ---- Writes -------------------------------------------------------------------------

absl::Status RocksDbRunStore::Encode(const StoreBatch& batch, PendingCommit* commit) {
  RETURN_IF_ERROR(store_keys::ValidateBatch(batch));
  std::vector<Op>& ops = commit->ops;
  ops.reserve(batch.put_runs.size() + batch.wait_writes.size() + batch.journal.size() + batch.events.size() +
              batch.queue_deletes.size() + batch.queue_puts.size() +
              batch.lease_deletes.size() + batch.lease_puts.size() +
              batch.request_ids.size() + batch.agents.size() + batch.graphs.size() + batch.waiting_deletes.size() +
              batch.waiting_puts.size() + batch.approvals.size() + batch.session_heads.size() +
              batch.namespaces.size() + 2 * batch.put_runs.size());
  // `ns`: the namespace whose data key encrypts a payload record.
  auto put = [&](Cf cf, std::string key, std::string value, std::string_view ns = {}) {
    if (cipher_ != nullptr && IsEncryptedCf(cf)) value = cipher_->Encrypt(ns, Aad(cf, key), value);
    commit->bytes += key.size() + value.size();
    ops.push_back(Op{cf, false, std::move(key), std::move(value)});
  };
  auto del = [&](Cf cf, std::string key) {
    commit->bytes += key.size();
    ops.push_back(Op{cf, true, std::move(key), {}});
  };
  auto serialize = [](const google::protobuf::MessageLite& m, std::string_view field,
                      size_t i) -> absl::StatusOr<std::string> {
    std::string out;
    if (!m.SerializeToString(&out)) {
      return absl::InvalidArgumentError(
          absl::StrCat(Sv(field), "[", i, "]: cannot be serialized (larger than 2 GiB?)"));
    }
    return out;
  };

  if (cipher_ != nullptr) {
    for (const v1::Run& run : batch.put_runs) RETURN_IF_ERROR(EnsureDataKey(NamespaceOfRunId(run.run_id())));
    for (const WaitWrite& write : batch.wait_writes) RETURN_IF_ERROR(EnsureDataKey(NamespaceOfRunId(write.run_id)));
    for (const auto& [run_id, entry] : batch.journal) RETURN_IF_ERROR(EnsureDataKey(NamespaceOfRunId(run_id)));
    for (const v1::Approval& approval : batch.approvals) RETURN_IF_ERROR(EnsureDataKey(NamespaceOfRunId(approval.run_id())));
  }

  // The order StoreBatch documents; InMemoryRunStore applies the same.
  {
    // A batch may put a run several times (a graph step and its node's end); the last
    // put wins, so only it is serialized, encrypted and written.
    absl::flat_hash_map<std::string_view, size_t> last_put;
    for (size_t i = 0; i < batch.put_runs.size(); ++i) last_put[batch.put_runs[i].run_id()] = i;
    // Each run's state before this batch, read once; none for a run the batch creates,
    // which is not looked up.
    struct Before {
      std::optional<v1::RunState> state;
      bool known = false;
      bool put = false;  // a put of the run came earlier in the batch
    };
    absl::flat_hash_map<std::string_view, Before> before;
    for (const std::string& run_id : batch.created_runs) before[run_id].known = true;
    absl::MutexLock lock(&index_mu_);
    for (size_t i = 0; i < batch.put_runs.size(); ++i) {
      const v1::Run& run = batch.put_runs[i];
      const std::string_view ns = NamespaceOfRunId(run.run_id());
      Before& previous = before[run.run_id()];
      if (!previous.known) {
        ASSIGN_OR_RETURN(previous.state, LastStateLocked(run.run_id()));
        previous.known = true;
      }
      if (!std::exchange(previous.put, true) && !previous.state.has_value()) {
        // A run's first put, its creation, stores what it was created with.
        ASSIGN_OR_RETURN(std::string spec, serialize(store_keys::SpecOf(run), "put_runs", i));
        put(kRunPartsCf, store_keys::RunSeqKey(run.run_id(), store_keys::kSpecPart), std::move(spec), ns);
      }
      if (last_put.at(run.run_id()) != i) continue;
      ASSIGN_OR_RETURN(std::string value, store_keys::IsStoredRecord(run)
                                              ? serialize(run, "put_runs", i)
                                              : serialize(store_keys::StoredRecord(run), "put_runs", i));
      put(kRunsCf, run.run_id(), std::move(value), ns);
      IndexRunLocked(run, previous.state, ops);
    }
  }
  for (size_t i = 0; i < batch.wait_writes.size(); ++i) {
    const WaitWrite& write = batch.wait_writes[i];
    std::string key = store_keys::RunSeqKey(write.run_id, store_keys::WaitPart(write.index));
    if (!write.wait.has_value()) {
      del(kRunPartsCf, std::move(key));
      continue;
    }
    ASSIGN_OR_RETURN(std::string value, serialize(*write.wait, "wait_writes", i));
    put(kRunPartsCf, std::move(key), std::move(value), NamespaceOfRunId(write.run_id));
  }
  for (size_t i = 0; i < batch.journal.size(); ++i) {
    const auto& [run_id, entry] = batch.journal[i];
    ASSIGN_OR_RETURN(std::string value, serialize(entry, "journal", i));
    put(kJournalCf, store_keys::RunSeqKey(run_id, entry.seq()), std::move(value), NamespaceOfRunId(run_id));
  }
  {
    // A run's events whose seqs follow one another are one record (store_keys::EventGroup),
    // keyed by the last seq: a step's events are one memtable insert, not one each.
    struct Group {
      std::string_view run_id;
      int64_t last_seq = 0;
      store_keys::EventGroup events;
    };
    std::vector<Group> groups;
    absl::flat_hash_map<std::string_view, size_t> open;  // run id -> its group being filled
    for (size_t i = 0; i < batch.events.size(); ++i) {
      const v1::RunEvent& event = batch.events[i];
      auto [it, added] = open.try_emplace(event.run_id(), groups.size());
      if (added || groups[it->second].last_seq + 1 != event.seq()) {
        it->second = groups.size();
        groups.emplace_back().run_id = event.run_id();
      }
      Group& group = groups[it->second];
      group.last_seq = event.seq();
      if (!group.events.Add(event)) {
        return absl::InvalidArgumentError(absl::StrCat("events[", i, "]: cannot be serialized (larger than 2 GiB?)"));
      }
    }
    for (Group& group : groups) {
      put(kEventsCf, store_keys::RunSeqKey(group.run_id, group.last_seq), std::move(group.events.bytes()),
          NamespaceOfRunId(group.run_id));
    }
  }
  for (const QueueEntry& entry : batch.queue_deletes) del(kQueueCf, store_keys::QueueKey(entry));
  for (const QueueEntry& entry : batch.queue_puts) put(kQueueCf, store_keys::QueueKey(entry), {});
  for (const std::string& run_id : batch.lease_deletes) del(kLeasesCf, run_id);
  for (const LeaseRecord& lease : batch.lease_puts) {
    put(kLeasesCf, lease.run_id, store_keys::EncodeLease(lease));
  }
  for (const auto& [request_id, run_id] : batch.request_ids) {
    put(kRequestIdsCf, store_keys::ScopedKey(NamespaceOfRunId(run_id), request_id), run_id);
  }
  for (size_t i = 0; i < batch.agents.size(); ++i) {
    const v1::AgentSpec& agent = batch.agents[i];
    ASSIGN_OR_RETURN(std::string value, serialize(agent, "agents", i));
    put(kAgentsCf, store_keys::AgentKey(store_keys::SpecNamespace(agent.namespace_()), agent.name(), agent.version()),
        std::move(value));
  }
  for (size_t i = 0; i < batch.graphs.size(); ++i) {
    const v1::GraphSpec& graph = batch.graphs[i];
    ASSIGN_OR_RETURN(std::string value, serialize(graph, "graphs", i));
    put(kGraphsCf, store_keys::AgentKey(store_keys::SpecNamespace(graph.namespace_()), graph.name(), graph.version()),
        std::move(value));
  }
  for (const std::string& run_id : batch.waiting_deletes) del(kWaitingCf, run_id);
  for (const std::string& run_id : batch.waiting_puts) put(kWaitingCf, run_id, {});
  for (size_t i = 0; i < batch.approvals.size(); ++i) {
    const v1::Approval& approval = batch.approvals[i];
    ASSIGN_OR_RETURN(std::string value, serialize(approval, "approvals", i));
    put(kApprovalsCf, approval.approval_id(), std::move(value), NamespaceOfRunId(approval.run_id()));
    // In batch order, so an approval made and decided in one batch is not indexed.
    if (approval.state() == v1::Approval::PENDING) {
      put(kPendingApprovalsCf, approval.approval_id(), {});
    } else {
      del(kPendingApprovalsCf, approval.approval_id());
    }
  }
  for (const auto& [session_id, run_id] : batch.session_heads) {
    put(kSessionsCf, store_keys::ScopedKey(NamespaceOfRunId(run_id), session_id), run_id);
  }
  for (size_t i = 0; i < batch.namespaces.size(); ++i) {
    ASSIGN_OR_RETURN(std::string value, serialize(batch.namespaces[i], "namespaces", i));
    put(kNamespacesCf, batch.namespaces[i].name(), std::move(value));
  }
  // Retention. A run's parts, journal, events and approvals are contiguous: one range
  // tombstone each, whatever their number.
  auto del_range = [&](Cf cf, std::string from, std::string to) {
    commit->bytes += from.size() + to.size();
    ops.push_back(Op{cf, true, std::move(from), std::move(to), true});
  };
  for (const v1::Run& run : batch.run_deletes) {
    const std::string& id = run.run_id();
    del(kRunsCf, id);
    del_range(kRunPartsCf, store_keys::RunSeqPrefix(id), store_keys::RunSeqUpperBound(id));
    del_range(kJournalCf, store_keys::RunSeqPrefix(id), store_keys::RunSeqUpperBound(id));
    del_range(kEventsCf, store_keys::RunSeqPrefix(id), store_keys::RunSeqUpperBound(id));
    del_range(kApprovalsCf, store_keys::RunApprovalsPrefix(id), store_keys::RunApprovalsUpperBound(id));
    del_range(kPendingApprovalsCf, store_keys::RunApprovalsPrefix(id), store_keys::RunApprovalsUpperBound(id));
    for (std::string& key : store_keys::RunIndexKeys(run)) del(kRunIndexCf, std::move(key));
    if (!run.request_id().empty()) del(kRequestIdsCf, store_keys::ScopedKey(NamespaceOfRunId(id), run.request_id()));
  }
  if (!batch.run_deletes.empty()) {
    absl::MutexLock lock(&index_mu_);
    for (const v1::Run& run : batch.run_deletes) run_states_.erase(run.run_id());
  }
  for (const EndedRun& ended : batch.ended_deletes) del(kEndedCf, store_keys::EndedKey(ended.run_id, ended.end_time_ms));
  return absl::OkStatus();
}

absl::Status RocksDbRunStore::Commit(const StoreBatch& batch) {
  // A callback waiting for a later commit would never see it complete.
  BATON_CHECK(std::this_thread::get_id() != completer_.get_id())
      << "RocksDbRunStore::Commit called from a CommitAsync callback";
  if (batch.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(health_->CheckWritable());
  PendingCommit commit;
  // Encoded by the committer, in order with CommitAsync's; this call waits for it.
  commit.batch = std::shared_ptr<const StoreBatch>(&batch, [](const StoreBatch*) {});
  absl::Notification written;
  absl::Status result;
  commit.refuse_when_full = true;
  commit.done = [&](absl::Status s) {
    result = std::move(s);
    written.Notify();
  };
  Enqueue(std::move(commit));
  written.WaitForNotification();
  return result;
}

void RocksDbRunStore::CommitAsync(std::shared_ptr<const StoreBatch> batch, std::function<void(absl::Status)> done) {
  PendingCommit commit;
  commit.batch = std::move(batch);
  commit.done = std::move(done);
  Enqueue(std::move(commit));
}

void RocksDbRunStore::Enqueue(PendingCommit commit) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      pending_.push_back(std::move(commit));
      return;
    }
  }
  commit.done(absl::UnavailableError(absl::StrCat("store ", path(), " is closing")));
}

absl::Status RocksDbRunStore::CheckWritable() { return health_->CheckWritable(); }

bool RocksDbRunStore::HasWorkOrStopping() const { return stopping_ || !pending_.empty(); }

bool RocksDbRunStore::EarlierHoldsGoneOrStopping() const { return stopping_ || holds_before_barrier_ == 0; }

uint64_t RocksDbRunStore::HoldCommits() {
  absl::MutexLock lock(&mu_);
  ++holds_;
  return next_hold_++;
}

void RocksDbRunStore::ReleaseCommits(uint64_t hold) {
  absl::MutexLock lock(&mu_);
  --holds_;
  if (hold < hold_barrier_) --holds_before_barrier_;
}

void RocksDbRunStore::CommitterLoop() {
  pthread_setname_np(pthread_self(), "baton-commit");
  std::vector<PendingCommit> group;
  for (;;) {
    group.clear();
    {
      absl::MutexLock lock(&mu_);
      // While the disk is full callers are refused, so nothing may come to write:
      // the committer looks for room by itself.
      while (!mu_.AwaitWithTimeout(absl::Condition(this, &RocksDbRunStore::HasWorkOrStopping),
                                   health_->full() ? kRoomPollInterval : absl::InfiniteDuration())) {
        mu_.Unlock();
        no_space_->CheckRoom().IgnoreError();
        mu_.Lock();
      }
      if (pending_.empty()) {  // stopping, and everything queued is written
        committer_done_ = true;
        return;
      }
      // A caller committing several batches in a row holds the writer: wait for the
      // rest of them, so they share this group's synced write. Only the holds out now
      // are waited for, and for a bounded time, so holds that keep overlapping cannot
      // stall the queue.
      if (holds_ > 0) {
        hold_barrier_ = next_hold_;
        holds_before_barrier_ = holds_;
        mu_.AwaitWithTimeout(absl::Condition(this, &RocksDbRunStore::EarlierHoldsGoneOrStopping),
                             options_.max_commit_hold);
      }
      group.swap(pending_);
    }
    size_t encoded_bytes = 0;
    for (PendingCommit& commit : group) {
      if (commit.batch == nullptr) continue;
      // A batch that fails to encode stays in the group without ops, so its `done`
      // still runs in commit order.
      commit.status = Encode(*commit.batch, &commit);
      if (!commit.status.ok()) commit.ops.clear();
      commit.batch.reset();
      encoded_bytes += commit.bytes;
    }
    backlog_bytes_.fetch_add(encoded_bytes, std::memory_order_relaxed);
    absl::Status status = WriteWhenRoom(group);
    size_t written_bytes = 0;
    for (PendingCommit& commit : group) {
      if (commit.status.ok()) commit.status = status;
      commit.ops.clear();
      written_bytes += commit.bytes;
    }
    backlog_bytes_.fetch_sub(written_bytes, std::memory_order_relaxed);
    absl::MutexLock lock(&mu_);
    for (PendingCommit& commit : group) written_.push_back(std::move(commit));
  }
}

bool RocksDbRunStore::HasWrittenOrStopped() const { return committer_done_ || !written_.empty(); }

void RocksDbRunStore::CompletionLoop() {
  pthread_setname_np(pthread_self(), "baton-complete");
  std::vector<PendingCommit> group;
  for (;;) {
    group.clear();
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &RocksDbRunStore::HasWrittenOrStopped));
      if (written_.empty()) return;  // the committer returned, and everything written is answered
      group.swap(written_);
    }
    for (PendingCommit& commit : group) commit.done(commit.status);
  }
}

absl::Status RocksDbRunStore::WriteGroup(std::vector<PendingCommit>& group) {
  size_t bytes = 0;
  size_t ops = 0;
  for (const PendingCommit& commit : group) {
    bytes += commit.bytes + 16 * commit.ops.size();  // plus per-record headers, roughly
    ops += commit.ops.size();
  }
  if (ops == 0) return absl::OkStatus();
  rocksdb::WriteBatch write_batch(bytes);
  for (const PendingCommit& commit : group) {
    for (const Op& op : commit.ops) {
      rocksdb::Status s = op.is_range    ? write_batch.DeleteRange(cf(op.cf), op.key, op.value)
                          : op.is_delete ? write_batch.Delete(cf(op.cf), op.key)
                                         : write_batch.Put(cf(op.cf), op.key, op.value);
      if (!s.ok()) return FromRocksDb(s, "batch", path());
    }
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  const absl::Time start = absl::Now();
  rocksdb::Status written = db_->Write(write_options, &write_batch);
  commit_write_seconds_.ObserveDuration(absl::Now() - start);
  commit_group_size_.Observe(static_cast<double>(group.size()));
  if (written.IsNoSpace()) {
    // Nothing of the group is acknowledged; WriteWhenRoom writes it again once the
    // disk has room (a retried batch rewrites the same keys with the same values).
    no_space_->OnNoSpace(written.ToString());
    return health_->CheckWritable();
  }
  absl::Status status = FromRocksDb(written, "write", path());
  if (!status.ok()) {
    BATON_LOG(ERROR) << "group commit of " << group.size() << " batches failed: " << status;
  }
  return status;
}

absl::Status RocksDbRunStore::WriteWhenRoom(std::vector<PendingCommit>& group) {
  for (;;) {
    absl::Status room = no_space_->CheckRoom();
    if (room.ok()) {
      absl::Status status = WriteGroup(group);
      if (!absl::IsResourceExhausted(status)) return status;
    } else if (!absl::IsResourceExhausted(room)) {
      BATON_LOG(ERROR) << room;
      return room;
    } else {
      // Commit's callers are refused rather than held (PendingCommit::refuse_when_full),
      // answered by the completer like written batches.
      auto refused = std::stable_partition(group.begin(), group.end(),
                                           [](const PendingCommit& c) { return !c.refuse_when_full; });
      size_t refused_bytes = 0;
      absl::MutexLock lock(&mu_);
      for (auto it = refused; it != group.end(); ++it) {
        it->status = room;
        it->ops.clear();
        refused_bytes += it->bytes;
        written_.push_back(std::move(*it));
      }
      group.erase(refused, group.end());
      backlog_bytes_.fetch_sub(refused_bytes, std::memory_order_relaxed);
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), kRoomPollInterval)) {
      return absl::UnavailableError(absl::StrCat("store ", path(), " closed while its disk was full: ",
                                                 group.size(), " batches not written"));
    }
  }
}

// ---- Reads --------------------------------------------------------------------------

absl::StatusOr<std::optional<v1::Run>> RocksDbRunStore::GetRun(std::string_view run_id) {
  ASSIGN_OR_RETURN(std::optional<v1::Run> run, GetRunRecord(run_id));
  if (!run.has_value()) return run;
  // Its parts, in key order: what it was created with (agent, input and graph, in
  // place of the record's cut ones), then its waits in index order. A whole key to
  // seek to, so the prefix (and its bloom filters) is the run's.
  const std::string first = store_keys::RunSeqKey(run_id, store_keys::kSpecPart);
  rocksdb::ReadOptions read_options;
  read_options.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(kRunPartsCf)));
  for (it->Seek(first); it->Valid(); it->Next()) {
    const std::string_view key = View(it->key());
    const std::optional<int64_t> part = store_keys::SeqOfRunSeqKey(key);
    bool parsed = false;
    if (part == store_keys::kSpecPart) {
      v1::Run spec;
      parsed = ParseStored(kRunPartsCf, key, it->value(), &spec);
      if (parsed) store_keys::MergeSpec(std::move(spec), &*run);
    } else if (part.has_value()) {
      parsed = ParseStored(kRunPartsCf, key, it->value(), run->add_waits());
    }
    if (!parsed) return CorruptRecord("run part", key, path());
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "read run parts", path()));
  return run;
}

absl::StatusOr<std::optional<v1::Run>> RocksDbRunStore::GetRunRecord(std::string_view run_id) {
  if (!store_keys::IsValidId(run_id)) return std::nullopt;
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kRunsCf), run_id, &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksDb(s, "get run", path()));
  v1::Run run;
  if (!ParseStored(kRunsCf, run_id, value, &run)) return CorruptRecord("run", run_id, path());
  return run;
}

absl::StatusOr<RunPage> RocksDbRunStore::ListRuns(const RunFilter& filter, int page_size,
                                                  std::string_view page_token) {
  const size_t limit = static_cast<size_t>(store_keys::EffectivePageSize(page_size));
  RunPage page;
  // The index entries end with the run's bare id, which sorts by creation time: walk
  // the filter's index backwards, from just before the token's run.
  const std::string prefix = store_keys::RunIndexPrefix(filter);
  const std::string upper = absl::StrCat(prefix, "\xff");
  const rocksdb::Slice lower_slice(prefix);
  rocksdb::ReadOptions read_options;
  read_options.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(kRunIndexCf)));
  if (page_token.empty()) {
    it->SeekForPrev(upper);
  } else {
    const std::string from = absl::StrCat(prefix, Sv(store_keys::BareRunId(page_token)));
    it->SeekForPrev(from);
    if (it->Valid() && View(it->key()) == from) it->Prev();
  }
  // Memory stays at one page. Each entry's run is read and checked against the whole
  // filter: the index picks candidates, the record decides (an entry a failed write
  // left behind is skipped).
  for (; it->Valid(); it->Prev()) {
    ASSIGN_OR_RETURN(std::optional<v1::Run> run, GetRun(View(it->value())));
    if (!run.has_value() || !store_keys::MatchesFilter(filter, *run)) continue;
    if (page.runs.size() == limit) {  // one more run exists: there is a next page
      page.next_page_token = store_keys::EncodeRunPageToken(page.runs.back().run_id());
      break;
    }
    page.runs.push_back(*std::move(run));
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "list runs", path()));
  return page;
}

absl::StatusOr<RunCounts> RocksDbRunStore::CountRuns(const RunFilter& filter) {
  RunFilter any_state = filter;
  any_state.state = v1::RUN_STATE_UNSPECIFIED;
  any_state.session_id.clear();
  RunCounts counts;
  const bool by_parent = !filter.parent_run_id.empty(), by_agent = !filter.agent_name.empty();
  if (!filter.labels.empty() || (by_parent && by_agent)) {
    // No index answers this filter alone: read each candidate of the narrowest one and
    // let the record decide, as ListRuns does.
    absl::Status read;
    RETURN_IF_ERROR(WalkRunIndex(store_keys::RunIndexPrefix(any_state), [&](std::string_view, std::string_view id) {
      if (!read.ok()) return;
      absl::StatusOr<std::optional<v1::Run>> run = GetRunRecord(id);
      if (!run.ok()) {
        read = run.status();
      } else if (run->has_value() && store_keys::MatchesFilter(any_state, **run)) {
        ++counts[(*run)->state()];
      }
    }));
    RETURN_IF_ERROR(read);
    return counts;
  }
  // Keys only, no record read. Every index entry ends with the run's bare id, so the
  // agent's or parent's entries (sorted by it) join each state's by binary search.
  std::vector<std::string> members;
  if (by_parent || by_agent) {
    RETURN_IF_ERROR(WalkRunIndex(store_keys::RunIndexPrefix(any_state),
                                 [&](std::string_view bare, std::string_view) { members.emplace_back(bare); }));
    if (members.empty()) return counts;
  }
  const std::string_view ns = filter.ns.empty() ? std::string_view(kDefaultNamespace) : filter.ns;
  for (int s = v1::RunState_MIN; s <= v1::RunState_MAX; ++s) {
    const auto state = static_cast<v1::RunState>(s);
    if (state == v1::RUN_STATE_UNSPECIFIED || !v1::RunState_IsValid(s)) continue;
    int64_t n = 0;
    RETURN_IF_ERROR(WalkRunIndex(store_keys::RunStateIndexPrefix(ns, state), [&](std::string_view bare, std::string_view) {
      if (members.empty() || std::binary_search(members.begin(), members.end(), bare)) ++n;
    }));
    if (n > 0) counts[state] = n;
  }
  return counts;
}

absl::Status RocksDbRunStore::WalkRunIndex(
    std::string_view prefix, const std::function<void(std::string_view tail, std::string_view run_id)>& fn) {
  const std::string upper = absl::StrCat(Sv(prefix), "\xff");
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(kRunIndexCf)));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    fn(View(it->key()).substr(prefix.size()), View(it->value()));
  }
  return FromRocksDb(it->status(), "walk run index", path());
}

absl::StatusOr<std::optional<std::string>> RocksDbRunStore::LookupRequestId(
    std::string_view ns, std::string_view request_id) {
  if (request_id.empty()) return std::nullopt;
  std::string run_id;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kRequestIdsCf), store_keys::ScopedKey(ns, request_id), &run_id);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksDb(s, "get request id", path()));
  return run_id;
}

absl::StatusOr<std::vector<v1::JournalEntry>> RocksDbRunStore::ReadJournal(
    std::string_view run_id, int64_t after_seq) {
  std::vector<v1::JournalEntry> entries;
  if (!store_keys::IsValidId(run_id)) return entries;
  const std::string upper = store_keys::RunSeqUpperBound(run_id);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(kJournalCf)));
  for (it->Seek(store_keys::RunSeqKey(run_id, std::max<int64_t>(after_seq, -1) + 1)); it->Valid(); it->Next()) {
    if (!ParseStored(kJournalCf, View(it->key()), it->value(), &entries.emplace_back())) {
      return CorruptRecord("journal", run_id, path());
    }
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "read journal", path()));
  return entries;
}

absl::StatusOr<std::vector<v1::RunEvent>> RocksDbRunStore::ReadEvents(std::string_view run_id,
                                                                     int64_t after_seq,
                                                                     int limit) {
  std::vector<v1::RunEvent> events;
  if (!store_keys::IsValidId(run_id) || after_seq == INT64_MAX) return events;
  const int64_t first_seq = after_seq < 0 ? 0 : after_seq + 1;
  const std::string upper = store_keys::RunSeqUpperBound(run_id);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(kEventsCf)));
  // A record holds the events up to its key's seq (store_keys::EventGroup): the first
  // key at or after first_seq holds it, and may hold events before it too.
  int64_t last = first_seq - 1;
  std::vector<v1::RunEvent> record;
  std::string plain;
  for (it->Seek(store_keys::RunSeqKey(run_id, first_seq)); it->Valid(); it->Next()) {
    record.clear();
    std::optional<std::string_view> value = PlainStored(kEventsCf, View(it->key()), it->value(), &plain);
    if (!value.has_value() || !store_keys::DecodeEvents(run_id, *value, &record)) {
      return CorruptRecord("event", run_id, path());
    }
    for (v1::RunEvent& event : record) {
      if (event.seq() <= last) continue;
      if (limit > 0 && events.size() == static_cast<size_t>(limit)) return events;
      last = event.seq();
      events.push_back(std::move(event));
    }
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "read events", path()));
  return events;
}

absl::Status RocksDbRunStore::ScanQueue(const std::function<void(const QueueEntry&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kQueueCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::optional<QueueEntry> entry = store_keys::ParseQueueKey(View(it->key()));
    if (!entry) return CorruptRecord("queue", "a queue key", path());
    fn(*entry);
  }
  return FromRocksDb(it->status(), "scan queue", path());
}

absl::Status RocksDbRunStore::ScanLeases(const std::function<void(const LeaseRecord&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cf(kLeasesCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<LeaseRecord> lease =
        store_keys::DecodeLease(View(it->key()), View(it->value()));
    if (!lease.ok()) {
      return absl::DataLossError(absl::StrCat(lease.status().message(), " (", path(), ")"));
    }
    fn(*lease);
  }
  return FromRocksDb(it->status(), "scan leases", path());
}

// Agents and graphs: versioned specs, keyed <ns> 0x00 <name> 0x00 BE32(version).
template <typename Spec>
absl::StatusOr<std::optional<Spec>> RocksDbRunStore::GetSpec(Cf family, std::string_view kind, std::string_view ns,
                                                            std::string_view name, int32_t version) {
  if (version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("version: must be >= 0 (got ", version, ")"));
  }
  if (!store_keys::IsValidId(name)) return std::nullopt;
  const std::string what = absl::StrCat("get ", Sv(kind));
  Spec spec;
  if (version > 0) {
    rocksdb::PinnableSlice value;
    const std::string key = store_keys::AgentKey(ns, name, version);
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(family), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    RETURN_IF_ERROR(FromRocksDb(s, what, path()));
    if (!Parse(value, &spec)) return CorruptRecord(kind, name, path());
    return spec;
  }
  // The latest version is the name's last key.
  const std::string lower = store_keys::AgentPrefix(ns, name);
  const rocksdb::Slice lower_slice(lower);
  rocksdb::ReadOptions read_options;
  read_options.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(family)));
  it->SeekForPrev(store_keys::AgentKey(ns, name, INT32_MAX));
  if (!it->Valid()) {
    RETURN_IF_ERROR(FromRocksDb(it->status(), what, path()));
    return std::nullopt;
  }
  if (!Parse(it->value(), &spec)) return CorruptRecord(kind, name, path());
  return spec;
}

template <typename Spec>
absl::StatusOr<std::vector<Spec>> RocksDbRunStore::ListSpecs(Cf family, std::string_view kind, std::string_view ns,
                                                            int page_size, std::string_view page_token) {
  const size_t limit = static_cast<size_t>(store_keys::EffectivePageSize(page_size));
  const std::string what = absl::StrCat("list ", Sv(kind), "s");
  std::vector<Spec> specs;
  // Only the namespace's keys: the iterator stays within its bounds.
  const std::string lower = store_keys::NamespacePrefix(ns);
  const std::string upper = store_keys::NamespaceUpperBound(ns);
  const rocksdb::Slice lower_slice(lower);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_lower_bound = &lower_slice;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(family)));
  if (page_token.empty()) {
    it->SeekToFirst();
  } else {
    it->Seek(store_keys::AgentUpperBound(ns, page_token));
  }
  while (it->Valid() && specs.size() < limit) {
    // At a name's first version: jump past its versions and step back to the latest.
    const std::string name(store_keys::AgentNameOfKey(View(it->key())));
    if (name.empty()) return CorruptRecord(kind, absl::StrCat("a ", Sv(kind), "s key"), path());
    it->Seek(store_keys::AgentUpperBound(ns, name));
    if (it->Valid()) {
      it->Prev();
    } else {
      RETURN_IF_ERROR(FromRocksDb(it->status(), what, path()));
      it->SeekToLast();
    }
    if (!it->Valid()) break;
    if (!Parse(it->value(), &specs.emplace_back())) return CorruptRecord(kind, name, path());
    it->Next();  // the next name's first version
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), what, path()));
  return specs;
}

absl::StatusOr<std::optional<v1::AgentSpec>> RocksDbRunStore::GetAgent(std::string_view ns, std::string_view name,
                                                                      int32_t version) {
  return GetSpec<v1::AgentSpec>(kAgentsCf, "agent", ns, name, version);
}

absl::StatusOr<std::vector<v1::AgentSpec>> RocksDbRunStore::ListAgents(
    std::string_view ns, int page_size, std::string_view page_token) {
  return ListSpecs<v1::AgentSpec>(kAgentsCf, "agent", ns, page_size, page_token);
}

absl::StatusOr<std::optional<v1::GraphSpec>> RocksDbRunStore::GetGraph(std::string_view ns, std::string_view name,
                                                                      int32_t version) {
  return GetSpec<v1::GraphSpec>(kGraphsCf, "graph", ns, name, version);
}

absl::StatusOr<std::vector<v1::GraphSpec>> RocksDbRunStore::ListGraphs(
    std::string_view ns, int page_size, std::string_view page_token) {
  return ListSpecs<v1::GraphSpec>(kGraphsCf, "graph", ns, page_size, page_token);
}

absl::Status RocksDbRunStore::ScanWaiting(const std::function<void(const std::string&)>& fn) {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), cf(kWaitingCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) fn(it->key().ToString());
  return FromRocksDb(it->status(), "scan waiting", path());
}

absl::StatusOr<std::optional<v1::Approval>> RocksDbRunStore::GetApproval(
    std::string_view approval_id) {
  if (approval_id.empty()) return std::nullopt;
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kApprovalsCf), approval_id, &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksDb(s, "get approval", path()));
  v1::Approval approval;
  if (!ParseStored(kApprovalsCf, approval_id, value, &approval)) return CorruptRecord("approval", approval_id, path());
  return approval;
}

absl::StatusOr<ApprovalPage> RocksDbRunStore::ListApprovals(const ApprovalFilter& filter,
                                                            int page_size,
                                                            std::string_view page_token) {
  const size_t limit = static_cast<size_t>(store_keys::EffectivePageSize(page_size));
  ASSIGN_OR_RETURN(const std::string after, store_keys::DecodeApprovalPageToken(page_token));
  ApprovalPage page;
  // What is walked, in approval id order: one run's key range; else, for the pending
  // ones, their index (each entry's approval read with a point lookup); else every
  // approval. The record decides what matches (an index entry may trail it).
  const bool by_index = filter.run_id.empty() && filter.states == ApprovalFilter::States::kPending;
  std::string lower, upper;
  rocksdb::Slice upper_slice;
  rocksdb::ReadOptions read_options;
  if (!filter.run_id.empty()) {
    lower = store_keys::RunApprovalsPrefix(filter.run_id);
    upper = store_keys::RunApprovalsUpperBound(filter.run_id);
    upper_slice = rocksdb::Slice(upper);
    read_options.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(read_options, cf(by_index ? kPendingApprovalsCf : kApprovalsCf)));
  // From just after the token's approval id (exclusive).
  it->Seek(std::max(after, lower));
  if (it->Valid() && !after.empty() && View(it->key()) == after) it->Next();
  // As in ListRuns, memory stays at one page: approvals that do not match are dropped.
  for (; it->Valid(); it->Next()) {
    v1::Approval approval;
    if (by_index) {
      ASSIGN_OR_RETURN(std::optional<v1::Approval> indexed, GetApproval(View(it->key())));
      if (!indexed.has_value()) continue;
      approval = *std::move(indexed);
    } else if (!ParseStored(kApprovalsCf, View(it->key()), it->value(), &approval)) {
      return CorruptRecord("approval", View(it->key()), path());
    }
    if (!store_keys::MatchesFilter(filter, approval)) continue;
    if (page.approvals.size() == limit) {  // one more match exists: there is a next page
      page.next_page_token =
          store_keys::EncodeApprovalPageToken(page.approvals.back().approval_id());
      break;
    }
    page.approvals.push_back(std::move(approval));
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "list approvals", path()));
  return page;
}

absl::StatusOr<std::optional<std::string>> RocksDbRunStore::GetSessionHead(
    std::string_view ns, std::string_view session_id) {
  if (session_id.empty()) return std::nullopt;
  std::string run_id;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kSessionsCf), store_keys::ScopedKey(ns, session_id), &run_id);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksDb(s, "get session head", path()));
  return run_id;
}

absl::StatusOr<std::optional<v1::Namespace>> RocksDbRunStore::GetNamespace(std::string_view ns) {
  if (ns.empty()) return std::nullopt;
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kNamespacesCf), ns, &value);
  if (s.IsNotFound()) return std::nullopt;
  RETURN_IF_ERROR(FromRocksDb(s, "get namespace", path()));
  v1::Namespace settings;
  if (!Parse(value, &settings)) return CorruptRecord("namespace", ns, path());
  return settings;
}

absl::StatusOr<std::vector<v1::Namespace>> RocksDbRunStore::ListNamespaces() {
  std::vector<v1::Namespace> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kNamespacesCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!Parse(it->value(), &out.emplace_back())) return CorruptRecord("namespace", View(it->key()), path());
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "list namespaces", path()));
  return out;
}

// ---- Retention and backups ------------------------------------------------------------

absl::StatusOr<std::vector<std::string>> RocksDbRunStore::ListEndedNamespaces() {
  std::vector<std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kEndedCf)));
  // One seek per namespace: from its first entry straight past its last.
  for (it->SeekToFirst(); it->Valid(); it->Seek(store_keys::NamespaceUpperBound(out.back()))) {
    const std::string_view ns = store_keys::NamespaceOfScopedKey(View(it->key()));
    if (ns.empty()) return CorruptRecord("ended", "an ended key", path());
    out.emplace_back(ns);
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "list ended namespaces", path()));
  return out;
}

absl::StatusOr<std::vector<EndedRun>> RocksDbRunStore::ListEnded(std::string_view ns, int64_t ended_before_ms,
                                                                 size_t limit) {
  std::vector<EndedRun> out;
  const std::string lower = store_keys::NamespacePrefix(ns);
  const std::string upper = store_keys::EndedBound(ns, ended_before_ms);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(kEndedCf)));
  for (it->Seek(lower); it->Valid() && out.size() < limit; it->Next()) {
    std::optional<int64_t> end_time = store_keys::EndTimeOfEndedKey(ns, View(it->key()));
    if (!end_time.has_value()) return CorruptRecord("ended", View(it->key()), path());
    out.push_back(EndedRun{*end_time, it->value().ToString()});
  }
  RETURN_IF_ERROR(FromRocksDb(it->status(), "list ended runs", path()));
  return out;
}

absl::Status RocksDbRunStore::ReclaimSpace(std::string_view first_run_id, std::string_view last_run_id) {
  rocksdb::CompactRangeOptions options;
  // Automatic compactions (of live data) go on while this one runs.
  options.exclusive_manual_compaction = false;
  struct Range {
    Cf family;
    std::string begin;
    std::string end;
  };
  const Range ranges[] = {
      {kRunsCf, std::string(first_run_id), store_keys::RunSeqUpperBound(last_run_id)},
      {kRunPartsCf, store_keys::RunSeqPrefix(first_run_id), store_keys::RunSeqUpperBound(last_run_id)},
      {kJournalCf, store_keys::RunSeqPrefix(first_run_id), store_keys::RunSeqUpperBound(last_run_id)},
      {kEventsCf, store_keys::RunSeqPrefix(first_run_id), store_keys::RunSeqUpperBound(last_run_id)},
      {kApprovalsCf, store_keys::RunApprovalsPrefix(first_run_id), store_keys::RunApprovalsUpperBound(last_run_id)},
      {kPendingApprovalsCf, store_keys::RunApprovalsPrefix(first_run_id),
       store_keys::RunApprovalsUpperBound(last_run_id)},
  };
  for (const Range& range : ranges) {
    const rocksdb::Slice begin(range.begin);
    const rocksdb::Slice end(range.end);
    RETURN_IF_ERROR(FromRocksDb(db_->CompactRange(options, cf(range.family), &begin, &end), "compact deleted runs", path()));
  }
  return absl::OkStatus();
}

uint64_t RocksDbRunStore::LiveSstBytes() const {
  uint64_t total = 0;
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    uint64_t bytes = 0;
    if (db_->GetIntProperty(handle, rocksdb::DB::Properties::kLiveSstFilesSize, &bytes)) total += bytes;
  }
  return total;
}

absl::StatusOr<BackupInfo> RocksDbRunStore::Backup(const std::string& dir, uint32_t keep_latest) {
  if (!backup_mu_.TryLock()) {
    return absl::FailedPreconditionError(absl::StrCat("a backup of ", path(), " is already in progress"));
  }
  absl::StatusOr<BackupInfo> info = CreateBackup(*db_, dir, keep_latest);
  backup_mu_.Unlock();
  return info;
}

}  // namespace baton::orchestrator
