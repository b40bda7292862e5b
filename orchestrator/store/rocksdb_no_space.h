// How the RocksDB store lives through a full disk (docs/design.md, "When the disk
// fills"). Two behaviours of RocksDB 7.8, as Debian builds it (assertions on), shape it:
//  - RocksDB's own info log (LOG in the data directory) asserts
//    `sync_without_flush_called_` on the first line after one of its writes failed:
//    the abort behind the crash loop on a full disk, at Open as well as later.
//    InfoLog drops lines instead.
//  - DB::Resume() after a WAL write failed for want of space replaces the failed WAL
//    writer only if some column family's memtable holds data (the flush that resuming
//    does then switches to a new WAL); otherwise the writer keeps its error and the
//    next write asserts the same (RocksDB issue 11643). NoSpaceGuard checks that the
//    WAL was switched before writing again, and keeps a memtable that is not empty.
// Only this file and rocksdb_run_store.cc include RocksDB headers.
#ifndef BATON_ORCHESTRATOR_STORE_ROCKSDB_NO_SPACE_H_
#define BATON_ORCHESTRATOR_STORE_ROCKSDB_NO_SPACE_H_

#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "orchestrator/store/disk_health.h"
#include "rocksdb/env.h"
#include "rocksdb/listener.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace baton::orchestrator {

// RocksDB's info log, <dir>/LOG, written line by line with write(2): a line that does
// not fit on the disk is dropped (and counted in the next line that does), never
// fatal. An existing LOG is renamed LOG.old.<microseconds> first, as RocksDB does
// (RocksDB deletes the old ones past keep_log_file_num). Thread-safe.
class InfoLog final : public rocksdb::Logger {
 public:
  // REQUIRES: `dir` exists.
  static absl::StatusOr<std::shared_ptr<InfoLog>> Open(const std::string& dir, rocksdb::InfoLogLevel level);
  ~InfoLog() override;

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override;

 private:
  InfoLog(int fd, rocksdb::InfoLogLevel level) : rocksdb::Logger(level), fd_(fd) {}

  const int fd_;
  std::atomic<uint64_t> dropped_{0};
};

struct NoSpaceOptions {
  // Writes stop (the committer holds them, callers are refused) while the data
  // directory's filesystem has less than this free, before RocksDB itself runs out.
  // 0: only when a write fails for want of space.
  uint64_t min_free_bytes = 0;
  // Writes resume once min_free_bytes + this is free: room for the flush of a
  // memtable (what resuming RocksDB does), and no flapping at the threshold.
  uint64_t resume_extra_bytes = 0;
};

// Keeps the store's writes within the room of its disk, and brings them back when
// room returns. Used by the store's committer thread only (its one writer), except
// listener(), which RocksDB calls on its own threads. Borrows `health`, which must
// outlive it.
class NoSpaceGuard {
 public:
  NoSpaceGuard(DiskHealth& health, NoSpaceOptions options);
  NoSpaceGuard(const NoSpaceGuard&) = delete;
  NoSpaceGuard& operator=(const NoSpaceGuard&) = delete;

  // For DBOptions::listeners, before DB::Open: turns off RocksDB's own recovery from
  // hard errors (it resumes without checking the WAL switch; Resume below does), and
  // notes a failed WAL write.
  std::shared_ptr<rocksdb::EventListener> listener() const;

  // After DB::Open: the database (which must outlive this) and the column family of
  // the memtable marker. Puts the marker.
  absl::Status Attach(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* marker_cf);

  // Before a write: OK when there is room to write. RESOURCE_EXHAUSTED while the
  // disk is full (below min_free_bytes, or full since a write failed and without
  // room to resume yet); the health is marked. When the disk was full and has room
  // again, resumes RocksDB first. Another code when RocksDB cannot resume in place:
  // only a restart of the process writes again.
  absl::Status CheckRoom();
  // A write failed with a no-space error (rocksdb::Status::IsNoSpace): marks the
  // disk full. `message`: RocksDB's.
  void OnNoSpace(const std::string& message);

 private:
  class Listener;
  absl::Status Resume(uint64_t free_bytes);
  // The number of the WAL file RocksDB writes to now (0 when unknown).
  uint64_t CurrentWal() const;
  // The marker: written to the memtable only (disableWAL), so some memtable always
  // holds data and resuming after a failed WAL write switches the WAL (see the file
  // comment). Lost in a crash, harmlessly: it means nothing.
  absl::Status PutMarker();

  DiskHealth& health_;
  const NoSpaceOptions options_;
  const std::shared_ptr<Listener> listener_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* marker_cf_ = nullptr;
  // The WAL a write failed in, while the disk is full after a failed write.
  uint64_t failed_wal_ = 0;
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_ROCKSDB_NO_SPACE_H_
