#include "bench/store_size.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace baton::bench {
namespace {

absl::Status Check(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("rocksdb ", what, ": ", s.ToString()));
}

}  // namespace

absl::StatusOr<StoreSize> CompactAndMeasure(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = false;
  std::vector<std::string> names;
  if (absl::Status s = Check(rocksdb::DB::ListColumnFamilies(options, dir, &names), "list column families");
      !s.ok()) {
    return s;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (absl::Status s = Check(rocksdb::DB::Open(options, dir, descriptors, &handles, &raw), "open"); !s.ok()) {
    return s;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  StoreSize size;
  absl::Status status = [&]() -> absl::Status {
    rocksdb::FlushOptions flush;
    flush.wait = true;
    if (absl::Status s = Check(db->Flush(flush, handles), "flush"); !s.ok()) return s;
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (rocksdb::ColumnFamilyHandle* h : handles) {
      if (absl::Status s = Check(db->CompactRange(compact, h, nullptr, nullptr), "compact"); !s.ok()) return s;
    }
    std::vector<rocksdb::LiveFileMetaData> files;
    db->GetLiveFilesMetaData(&files);
    for (const rocksdb::LiveFileMetaData& f : files) {
      size.sst_bytes += static_cast<int64_t>(f.size);
      size.sst_bytes_by_cf[f.column_family_name] += static_cast<int64_t>(f.size);
    }
    rocksdb::VectorLogPtr wals;
    if (absl::Status s = Check(db->GetSortedWalFiles(wals), "list WAL files"); !s.ok()) return s;
    for (const auto& wal : wals) size.wal_bytes += static_cast<int64_t>(wal->SizeFileBytes());
    for (size_t i = 0; i < handles.size(); ++i) {
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
      int64_t bytes = 0;
      int64_t records = 0;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        bytes += static_cast<int64_t>(it->key().size() + it->value().size());
        ++records;
      }
      if (absl::Status s = Check(it->status(), "scan"); !s.ok()) return s;
      size.logical_bytes += bytes;
      size.logical_bytes_by_cf[names[i]] = bytes;
      size.records_by_cf[names[i]] = records;
    }
    return absl::OkStatus();
  }();
  for (rocksdb::ColumnFamilyHandle* h : handles) db->DestroyColumnFamilyHandle(h);
  db->Close();
  if (!status.ok()) return status;
  return size;
}

}  // namespace baton::bench
