// Backups of the RocksDB store with RocksDB's BackupEngine (docs/operations.md, "Backup
// and restore"). BackupEngine rather than a Checkpoint: backups into one directory
// share the SST files that did not change (incremental), every file is checksummed
// when taken and checked again when restored, and the directory keeps several backups
// with their ids. A Checkpoint is a plain database directory: hard links on the same
// filesystem, but a full copy on every other disk, and nothing checks it.
//
// The WAL is part of each backup (flush_before_backup = false), so a backup is
// consistent across the column families at one sequence number: it holds every batch
// acknowledged (synced) before the backup started and no part of a later one.
// Encrypted records (value_cipher.h) are copied as they are, still encrypted, with
// their wrapped data keys; the key-encryption key file is not in the backup.
#ifndef BATON_ORCHESTRATOR_STORE_ROCKSDB_BACKUP_H_
#define BATON_ORCHESTRATOR_STORE_ROCKSDB_BACKUP_H_

#include <string>

#include "absl/status/statusor.h"
#include "orchestrator/store/run_store.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace baton::orchestrator {

// Adds a backup of `db` to `dir` (created when missing), while writes go on. Blocks
// for as long as the copy takes. With keep_latest > 0, then deletes the oldest backups
// in `dir` until that many remain, and the files only they needed (BackupEngine's
// PurgeOldBackups); a failure there fails the call, the new backup kept. Not to be
// called twice at once for one `dir`.
absl::StatusOr<BackupInfo> CreateBackup(rocksdb::DB& db, const std::string& dir, uint32_t keep_latest = 0);

// Restores the latest backup in `backup_dir` into `data_dir`, offline. `data_dir` must
// be missing or empty, else FAILED_PRECONDITION, unless `force`: then its contents are
// deleted first, but never while a process holds its RocksDB LOCK (an orchestrator
// running on it). The files are checked against their checksums as they are copied.
absl::StatusOr<BackupInfo> RestoreBackup(const std::string& backup_dir, const std::string& data_dir, bool force);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_ROCKSDB_BACKUP_H_
