// The one place rocksdb::Status becomes absl::Status, for the store's RocksDB files
// (the run store and its backups).
#ifndef BATON_ORCHESTRATOR_STORE_ROCKSDB_STATUS_H_
#define BATON_ORCHESTRATOR_STORE_ROCKSDB_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace baton::orchestrator {

// `what` names the operation and `path` the database (or backup directory), so an
// operator can tell which disk failed. A full disk is RESOURCE_EXHAUSTED; disk and lock
// trouble that may clear up is UNAVAILABLE.
absl::Status FromRocksDb(const rocksdb::Status& s, std::string_view what, std::string_view path);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_ROCKSDB_STATUS_H_
