// W5's measurement of a closed orchestrator database: how many bytes it holds once
// everything is flushed and fully compacted, so overwritten run records and deleted
// queue entries no longer count and two measurements compare like with like.
#ifndef BATON_BENCH_STORE_SIZE_H_
#define BATON_BENCH_STORE_SIZE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace baton::bench {

struct StoreSize {
  int64_t sst_bytes = 0;      // live SST files after flush + full compaction
  int64_t wal_bytes = 0;      // WAL files left after the flush (normally 0)
  int64_t logical_bytes = 0;  // sum of key + value sizes of every live record
  std::map<std::string, int64_t> sst_bytes_by_cf;
  std::map<std::string, int64_t> logical_bytes_by_cf;
  std::map<std::string, int64_t> records_by_cf;
};

// Opens the database in `dir` (which no other process may have open), flushes its
// memtables, compacts every column family to the bottom level, measures, closes.
// Modifies `dir`: pass a copy.
absl::StatusOr<StoreSize> CompactAndMeasure(const std::string& dir);

}  // namespace baton::bench

#endif  // BATON_BENCH_STORE_SIZE_H_
