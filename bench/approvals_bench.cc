// baton-approvals-bench: listing the pending approvals (the inbox `ListApprovals`
// shows by default, and what an orchestrator's start reloads) in a store that also
// holds many decided ones, on a real RocksDB store on disk.
//
//   baton-approvals-bench [--decided=100000] [--pending=20] [--repeats=21]
// Prints one JSON line: the median and range, in milliseconds, of one 50-approval page
// of the pending list and of the whole list in pages of 1,000 (what a restart
// reloads), with the store open since the approvals were written and opened again.
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/flags.h"
#include "orchestrator/store/rocksdb_run_store.h"

namespace baton::orchestrator {
namespace {

v1::Approval Approval(int64_t run, int step, v1::Approval::State state) {
  v1::Approval approval;
  const std::string run_id = absl::StrFormat("default/run_%012x%08x", 1700000000000 + run, 7);
  approval.set_approval_id(absl::StrCat(run_id, ":", step, ":toolu_", step));
  approval.set_run_id(run_id);
  approval.set_agent_name("writer");
  approval.set_step(step);
  approval.set_tool("deploy");
  approval.set_input_json(R"({"service":"billing","version":"1.2.3"})");
  approval.set_state(state);
  return approval;
}

std::string Summary(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return absl::StrFormat(R"({"p50":%.3f,"min":%.3f,"max":%.3f})", ms[ms.size() / 2], ms.front(), ms.back());
}

int Main(int argc, char** argv) {
  Flags flags({"decided", "pending", "repeats"}, {});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\nusage: baton-approvals-bench [--decided=N] [--pending=N] [--repeats=N]\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  std::string error;
  const int64_t decided = flags.GetInt("decided", 100000, &error);
  const int64_t pending = flags.GetInt("pending", 20, &error);
  const int64_t repeats = flags.GetInt("repeats", 21, &error);
  if (!error.empty() || decided < 0 || pending < 1 || repeats < 1) {
    std::fprintf(stderr, "bad flags: %s\n", error.c_str());
    return 2;
  }
  std::string dir = (std::filesystem::temp_directory_path() / "baton_approvals_bench_XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return 1;
  int rc = 0;
  RocksDbStoreOptions options;
  options.path = dir + "/db";
  auto commit = [](RunStore& store, StoreBatch& batch) {
    absl::Status s = store.Commit(batch);
    if (!s.ok()) std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    batch = StoreBatch();
    return s.ok();
  };
  // The pending list read `repeats` times: one 50-approval page, and the whole list
  // in pages of 1,000 as a restart reloads it.
  auto measure = [&](RunStore& store) {
    std::vector<double> page_ms, reload_ms;
    for (int64_t r = 0; r < repeats && rc == 0; ++r) {
      absl::Time start = absl::Now();
      auto page = store.ListApprovals(ApprovalFilter{}, 50, "");
      page_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
      if (!page.ok() || page->approvals.size() != static_cast<size_t>(std::min<int64_t>(pending, 50))) rc = 1;
      start = absl::Now();
      int64_t listed = 0;
      std::string token;
      do {
        auto all = store.ListApprovals(ApprovalFilter{}, 1000, token);
        if (!all.ok()) {
          rc = 1;
          break;
        }
        listed += static_cast<int64_t>(all->approvals.size());
        token = all->next_page_token;
      } while (!token.empty());
      reload_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
      if (listed != pending) rc = 1;
    }
    if (rc != 0) {
      std::fprintf(stderr, "the pending list did not hold the %lld pending approvals\n",
                   static_cast<long long>(pending));
      return std::string("null");
    }
    return absl::StrCat(R"({"first_page_ms":)", Summary(page_ms), R"(,"reload_ms":)", Summary(reload_ms), "}");
  };
  std::string live, reopened;
  {
    auto store = RocksDbRunStore::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
      return 1;
    }
    // As the orchestrator makes them: every approval pending first, then the older
    // ones decided (the newest runs' stay pending), a thousand at a time.
    StoreBatch batch;
    for (int64_t i = 0; i < decided + pending; ++i) {
      batch.approvals.push_back(Approval(i / 4, static_cast<int>(i % 4), v1::Approval::PENDING));
      if (batch.approvals.size() == 1000 && !commit(**store, batch)) return 1;
    }
    if (!commit(**store, batch)) return 1;
    for (int64_t i = 0; i < decided; ++i) {
      batch.approvals.push_back(Approval(i / 4, static_cast<int>(i % 4), v1::Approval::DECIDED));
      if (batch.approvals.size() == 1000 && !commit(**store, batch)) return 1;
    }
    if (!commit(**store, batch)) return 1;
    live = measure(**store);
  }
  {
    // What a restart reads: the same store opened again (its memtable flushed).
    auto store = RocksDbRunStore::Open(options);
    if (!store.ok()) return 1;
    reopened = measure(**store);
  }
  std::printf(R"({"decided":%lld,"pending":%lld,"repeats":%lld,"live":%s,"reopened":%s})" "\n",
              static_cast<long long>(decided), static_cast<long long>(pending), static_cast<long long>(repeats),
              live.c_str(), reopened.c_str());
  std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace baton::orchestrator

int main(int argc, char** argv) { return baton::orchestrator::Main(argc, argv); }
