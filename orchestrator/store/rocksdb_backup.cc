#include "orchestrator/store/rocksdb_backup.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "orchestrator/store/rocksdb_status.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/utilities/backup_engine.h"

namespace baton::orchestrator {
namespace {

BackupInfo ToBackupInfo(const rocksdb::BackupInfo& info) {
  BackupInfo out;
  out.backup_id = info.backup_id;
  out.time_ms = info.timestamp * 1000;  // BackupEngine keeps seconds
  out.size_bytes = info.size;
  out.num_files = info.number_files;
  return out;
}

// Opens the engine of `dir`; `read_only` never writes to it (restore).
template <typename Engine>
absl::StatusOr<std::unique_ptr<Engine>> OpenEngine(const std::string& dir) {
  rocksdb::BackupEngineOptions options(dir);
  Engine* engine = nullptr;
  RETURN_IF_ERROR(FromRocksDb(Engine::Open(options, rocksdb::Env::Default(), &engine), "open backups", dir));
  return std::unique_ptr<Engine>(engine);
}

// FAILED_PRECONDITION while a process holds the RocksDB LOCK of `data_dir`.
absl::Status CheckNotInUse(const std::string& data_dir) {
  const std::string lock_path = data_dir + "/LOCK";
  std::error_code ec;
  if (!std::filesystem::exists(lock_path, ec)) return absl::OkStatus();
  rocksdb::FileLock* lock = nullptr;
  rocksdb::Status s = rocksdb::Env::Default()->LockFile(lock_path, &lock);
  if (!s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        data_dir, " is in use (", s.ToString(), "): stop the orchestrator running on it before restoring"));
  }
  return FromRocksDb(rocksdb::Env::Default()->UnlockFile(lock), "unlock", data_dir);
}

}  // namespace

absl::StatusOr<BackupInfo> CreateBackup(rocksdb::DB& db, const std::string& dir, uint32_t keep_latest) {
  if (dir.empty()) return absl::InvalidArgumentError("backup directory: empty");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("creating backup directory ", dir, ": ", ec.message()));
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::BackupEngine> engine, OpenEngine<rocksdb::BackupEngine>(dir));
  rocksdb::CreateBackupOptions options;
  // The WAL goes with the SST files: consistent across column families without a flush.
  options.flush_before_backup = false;
  rocksdb::BackupID id = 0;
  RETURN_IF_ERROR(FromRocksDb(engine->CreateNewBackup(options, &db, &id), "backup", dir));
  rocksdb::BackupInfo info;
  RETURN_IF_ERROR(FromRocksDb(engine->GetBackupInfo(id, &info), "read backup info", dir));
  BackupInfo out = ToBackupInfo(info);
  std::vector<rocksdb::BackupInfo> before;
  engine->GetBackupInfo(&before);  // in id order: oldest first
  if (keep_latest > 0 && before.size() > keep_latest) {
    RETURN_IF_ERROR(FromRocksDb(engine->PurgeOldBackups(keep_latest),
                                absl::StrCat("delete the backups before the latest ", keep_latest, " (backup ", id,
                                             " was taken)"),
                                dir));
  }
  std::vector<rocksdb::BackupInfo> after;
  engine->GetBackupInfo(&after);
  out.backups = static_cast<uint32_t>(after.size());
  for (const rocksdb::BackupInfo& b : before) {
    const bool kept = std::any_of(after.begin(), after.end(),
                                  [&](const rocksdb::BackupInfo& a) { return a.backup_id == b.backup_id; });
    if (!kept) out.deleted_backup_ids.push_back(b.backup_id);
  }
  return out;
}

absl::StatusOr<BackupInfo> RestoreBackup(const std::string& backup_dir, const std::string& data_dir, bool force) {
  if (backup_dir.empty()) return absl::InvalidArgumentError("backup directory: empty");
  if (data_dir.empty()) return absl::InvalidArgumentError("data directory: empty");
  std::error_code ec;
  if (!std::filesystem::is_directory(backup_dir, ec)) {
    return absl::NotFoundError(absl::StrCat("backup directory ", backup_dir, ": not a directory"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<rocksdb::BackupEngineReadOnly> engine,
                   OpenEngine<rocksdb::BackupEngineReadOnly>(backup_dir));
  rocksdb::BackupInfo latest;
  if (rocksdb::Status s = engine->GetLatestBackupInfo(&latest); !s.ok()) {
    if (s.IsNotFound()) return absl::NotFoundError(absl::StrCat(backup_dir, " holds no backup"));
    return FromRocksDb(s, "read backup info", backup_dir);
  }
  if (std::filesystem::exists(data_dir, ec)) {
    if (!std::filesystem::is_directory(data_dir, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(data_dir, " is not a directory"));
    }
    if (!std::filesystem::is_empty(data_dir, ec)) {
      if (!force) {
        return absl::FailedPreconditionError(
            absl::StrCat(data_dir, " is not empty: restore into a new directory, or pass --force to replace it"));
      }
      RETURN_IF_ERROR(CheckNotInUse(data_dir));
      for (const auto& entry : std::filesystem::directory_iterator(data_dir, ec)) {
        std::filesystem::remove_all(entry.path(), ec);
        if (ec) return absl::UnavailableError(absl::StrCat("emptying ", data_dir, ": ", ec.message()));
      }
    }
  }
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("creating ", data_dir, ": ", ec.message()));
  RETURN_IF_ERROR(FromRocksDb(engine->RestoreDBFromBackup(rocksdb::RestoreOptions(), latest.backup_id, data_dir, data_dir),
                              "restore", backup_dir));
  return ToBackupInfo(latest);
}

}  // namespace baton::orchestrator
