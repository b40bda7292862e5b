// What only the RocksDB store does: opening, closing and the group-commit thread.
// The RunStore behaviour itself is in run_store_test.cc.
#include "orchestrator/store/rocksdb_run_store.h"
#include "orchestrator/store/store_keys.h"

#include <stdlib.h>

#include <algorithm>
#include <random>
#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "orchestrator/store/rocksdb_backup.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace baton::orchestrator {
namespace {

using ::testing::HasSubstr;
using ::testing::IsSupersetOf;

class RocksDbRunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baton_rocks_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RocksDbStoreOptions Options(const std::string& sub = "db") {
    RocksDbStoreOptions options;
    options.path = (dir_ / sub).string();
    options.block_cache_bytes = 1 << 20;
    return options;
  }

  // Commits RunBatch(run_id); `written` is notified once it is written.
  static void CommitThenNotify(RunStore& store, const std::string& run_id, absl::Notification* written) {
    store.CommitAsync(RunBatch(run_id), [written](absl::Status s) {
      EXPECT_TRUE(s.ok()) << s;
      written->Notify();
    });
  }

  static StoreBatch RunBatch(const std::string& run_id) {
    StoreBatch batch;
    v1::Run run;
    run.set_run_id(run_id);
    batch.put_runs.push_back(run);
    v1::JournalEntry entry;
    entry.set_seq(1);
    batch.journal.emplace_back(run_id, entry);
    return batch;
  }

  using Handles = std::vector<rocksdb::ColumnFamilyHandle*>;
  // Writes a database at `path` as another version laid it out: these column
  // families, filled by `fill` (its handles in the same order).
  static void WriteDatabase(const std::string& path, const std::vector<std::string>& families,
                            const std::function<void(rocksdb::DB&, const Handles&)>& fill) {
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const std::string& name : families) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    Handles handles;
    rocksdb::DB* raw_db = nullptr;
    const rocksdb::Status opened = rocksdb::DB::Open(db_options, path, cfs, &handles, &raw_db);
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    std::unique_ptr<rocksdb::DB> db(raw_db);
    fill(*db, handles);
    for (rocksdb::ColumnFamilyHandle* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  // The families of format 3, 4 (run_parts) and 5 (pending_approvals).
  static std::vector<std::string> FamiliesOfFormat(int format) {
    std::vector<std::string> families = {"default", "runs",   "journal",   "events",     "queue",
                                         "leases",  "agents", "request_ids", "waiting",  "approvals",
                                         "sessions", "graphs", "data_keys", "run_index", "namespaces",
                                         "meta",    "ended"};
    if (format >= 4) families.push_back("run_parts");
    if (format >= 5) families.push_back("pending_approvals");
    return families;
  }

  std::filesystem::path dir_;
};

TEST_F(RocksDbRunStoreTest, OpenCreatesNestedDirectories) {
  auto store = RocksDbRunStore::Open(Options("a/b/c"));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE(std::filesystem::exists(dir_ / "a/b/c/CURRENT"));
}

TEST_F(RocksDbRunStoreTest, OpenWithoutPathIsInvalid) {
  auto store = RocksDbRunStore::Open(RocksDbStoreOptions());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(RocksDbRunStoreTest, OpenMissingDatabaseWithoutCreateFailsNamingThePath) {
  RocksDbStoreOptions options = Options("missing");
  options.create_if_missing = false;
  auto store = RocksDbRunStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(options.path));
}

TEST_F(RocksDbRunStoreTest, SecondOpenOfTheSameDirectoryIsUnavailable) {
  auto first = RocksDbRunStore::Open(Options());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = RocksDbRunStore::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(Options().path));
}

TEST_F(RocksDbRunStoreTest, PageTokenKeyIsMadeOnceAndKeptAcrossOpens) {
  std::string key;
  {
    auto store = RocksDbRunStore::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status();
    key = (*store)->PageTokenKey();
  }
  EXPECT_EQ(key.size(), 32u);
  auto reopened = RocksDbRunStore::Open(Options());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->PageTokenKey(), key) << "tokens must outlive a restart";
  auto other = RocksDbRunStore::Open(Options("other"));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE((*other)->PageTokenKey(), key) << "each database makes its own";
}

TEST_F(RocksDbRunStoreTest, DestructorWritesEveryQueuedCommitAndRunsItsCallback) {
  constexpr int kCommits = 500;
  std::atomic<int> ok{0};
  std::atomic<int> called{0};
  {
    auto store = RocksDbRunStore::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < kCommits; ++i) {
      (*store)->CommitAsync(RunBatch(absl::StrCat("run_", 1000 + i)), [&](absl::Status s) {
        ++called;
        if (s.ok()) ++ok;
      });
    }
  }  // closes with commits still queued
  EXPECT_EQ(called.load(), kCommits);
  EXPECT_EQ(ok.load(), kCommits);

  auto store = RocksDbRunStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  for (int i = 0; i < kCommits; ++i) {
    auto run = (*store)->GetRun(absl::StrCat("run_", 1000 + i));
    ASSERT_TRUE(run.ok());
    EXPECT_TRUE(run->has_value()) << i;
  }
}

TEST_F(RocksDbRunStoreTest, CallbackMayCommitAsyncAgain) {
  auto store = RocksDbRunStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  RocksDbRunStore& s = **store;
  absl::Notification second_done;
  s.CommitAsync(RunBatch("run_1"), [&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    s.CommitAsync(RunBatch("run_2"), [&](absl::Status status) {
      EXPECT_TRUE(status.ok()) << status;
      second_done.Notify();
    });
  });
  ASSERT_TRUE(second_done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  auto run = s.GetRun("run_2");
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run->has_value());
}

// The groups the committer wrote, and the batches in them (baton_commit_group_size).
std::pair<double, double> CommitGroups(metrics::Registry& registry) {
  for (const prometheus::MetricFamily& family : registry.prometheus_registry()->Collect()) {
    if (family.name == "baton_commit_group_size" && !family.metric.empty()) {
      const prometheus::ClientMetric::Histogram& h = family.metric.front().histogram;
      return {static_cast<double>(h.sample_count), h.sample_sum};
    }
  }
  ADD_FAILURE() << "no baton_commit_group_size";
  return {0, 0};
}

// What AppendSteps relies on: batches committed one after another under a hold go in
// one synced write, though the committer was idle when the first came.
TEST_F(RocksDbRunStoreTest, BatchesCommittedUnderAHoldShareOneWrite) {
  RocksDbStoreOptions options = Options();
  options.max_commit_hold = absl::Seconds(30);
  metrics::Registry registry(/*enabled=*/true);
  options.metrics = &registry;
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  const auto [groups_before, batches_before] = CommitGroups(registry);
  constexpr int kBatches = 20;
  std::atomic<int> written{0};
  {
    CommitHold hold(**store);
    for (int i = 0; i < kBatches; ++i) {
      (*store)->CommitAsync(RunBatch(absl::StrCat("run_", 100 + i)), [&](absl::Status s) {
        EXPECT_TRUE(s.ok()) << s;
        ++written;
      });
      // Time for the committer to take the first batch alone, were it not held.
      if (i == 0) absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_EQ(written.load(), 0) << "written while held";
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (written.load() < kBatches && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(written.load(), kBatches);
  const auto [groups, batches] = CommitGroups(registry);
  EXPECT_EQ(groups - groups_before, 1);
  EXPECT_EQ(batches - batches_before, kBatches);
}

// A hold that is not given back delays the queue by max_commit_hold, no more.
TEST_F(RocksDbRunStoreTest, AHoldKeptTooLongDelaysTheQueueByItsBoundOnly) {
  RocksDbStoreOptions options = Options();
  options.max_commit_hold = absl::Milliseconds(100);
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  CommitHold hold(**store);
  absl::Notification written;
  CommitThenNotify(**store, "run_1", &written);
  EXPECT_TRUE(written.WaitForNotificationWithTimeout(absl::Seconds(30)));
  auto run = (*store)->GetRun("run_1");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->has_value());
}

// Holds that overlap back to back (AppendSteps calls of many workers) do not keep the
// writer waiting: it waits for the holds out when it found the queue held, and a hold
// taken meanwhile holds the next write only.
TEST_F(RocksDbRunStoreTest, AHoldTakenWhileTheWriterWaitsHoldsOnlyTheNextWrite) {
  // Before the store: a write still queued when a check fails is answered as it closes.
  absl::Notification first_written, second_written;
  RocksDbStoreOptions options = Options();
  options.max_commit_hold = absl::Seconds(60);
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto first = std::make_unique<CommitHold>(**store);
  CommitThenNotify(**store, "run_1", &first_written);
  // Time for the writer to find run_1 queued and start waiting for the first hold.
  absl::SleepFor(absl::Milliseconds(200));
  auto second = std::make_unique<CommitHold>(**store);
  first.reset();
  EXPECT_TRUE(first_written.WaitForNotificationWithTimeout(absl::Seconds(20)))
      << "the hold taken while the writer waited kept it waiting";

  // The second hold still holds what comes next, until it is given back.
  CommitThenNotify(**store, "run_2", &second_written);
  EXPECT_FALSE(second_written.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  second.reset();
  EXPECT_TRUE(second_written.WaitForNotificationWithTimeout(absl::Seconds(20)));
}

// ...and a hold taken and given back while the writer waits does not end its wait for
// the earlier hold, whose batches are still to come.
TEST_F(RocksDbRunStoreTest, AHoldGivenBackWhileTheWriterWaitsDoesNotEndItsWait) {
  absl::Notification written;  // before the store, as above
  RocksDbStoreOptions options = Options();
  options.max_commit_hold = absl::Seconds(60);
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto first = std::make_unique<CommitHold>(**store);
  CommitThenNotify(**store, "run_1", &written);
  absl::SleepFor(absl::Milliseconds(200));
  { CommitHold second(**store); }
  EXPECT_FALSE(written.WaitForNotificationWithTimeout(absl::Milliseconds(300)))
      << "written while the first hold was out";
  first.reset();
  EXPECT_TRUE(written.WaitForNotificationWithTimeout(absl::Seconds(20)));
}

TEST_F(RocksDbRunStoreTest, UnsyncedStoreStillPersistsAcrossCleanClose) {
  RocksDbStoreOptions options = Options();
  options.sync = false;
  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Commit(RunBatch("run_1")).ok());
  }
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto journal = (*store)->ReadJournal("run_1");
  ASSERT_TRUE(journal.ok());
  EXPECT_EQ(journal->size(), 1u);
}

TEST_F(RocksDbRunStoreTest, ManyJournalsSurviveFlushToSstFiles) {
  // Small memtables force flushes, so reads go through SST files and their prefix
  // bloom filters, not only the memtable.
  RocksDbStoreOptions options = Options();
  options.write_buffer_bytes = 64 << 10;
  constexpr int kRuns = 200;
  constexpr int kEntries = 20;
  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int r = 0; r < kRuns; ++r) {
      StoreBatch batch;
      for (int e = 1; e <= kEntries; ++e) {
        v1::JournalEntry entry;
        entry.set_seq(e);
        entry.mutable_model_turn()->set_content_json(std::string(200, 'x'));
        batch.journal.emplace_back(absl::StrCat("run_", r), entry);
      }
      ASSERT_TRUE((*store)->Commit(batch).ok());
    }
  }
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  int sst_files = 0;
  for (const auto& f : std::filesystem::directory_iterator(options.path)) {
    sst_files += f.path().extension() == ".sst";
  }
  EXPECT_GT(sst_files, 1);
  for (int r = 0; r < kRuns; ++r) {
    auto journal = (*store)->ReadJournal(absl::StrCat("run_", r));
    ASSERT_TRUE(journal.ok());
    ASSERT_EQ(journal->size(), static_cast<size_t>(kEntries)) << r;
    EXPECT_EQ(journal->back().seq(), kEntries);
  }
  auto none = (*store)->ReadJournal("run_999");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(RocksDbRunStoreTest, TheMemtablesOfAllFamiliesStayWithinTheirTotal) {
  RocksDbStoreOptions options = Options();
  options.write_buffer_bytes = 16 << 20;       // no family alone fills its memtable
  options.total_write_buffer_bytes = 1 << 20;  // together they do, many times over
  metrics::Registry registry(/*enabled=*/true);
  options.metrics = &registry;
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto memtable_bytes = [&]() -> double {
    for (const prometheus::MetricFamily& family : registry.CollectScraped()) {
      if (family.name == "baton_rocksdb_memtable_bytes" && !family.metric.empty()) {
        return family.metric.front().gauge.value;
      }
    }
    ADD_FAILURE() << "no baton_rocksdb_memtable_bytes";
    return 0;
  };
  // 25 MiB over three families: runs, their journals and their events.
  for (int r = 0; r < 1200; ++r) {
    StoreBatch batch;
    const std::string run_id = absl::StrCat("run_", r);
    v1::Run run;
    run.set_run_id(run_id);
    run.set_input(std::string(7 << 10, 'i'));
    batch.put_runs.push_back(run);
    v1::JournalEntry entry;
    entry.set_seq(1);
    entry.mutable_model_turn()->set_content_json(std::string(7 << 10, 'x'));
    batch.journal.emplace_back(run_id, entry);
    v1::RunEvent event;
    event.set_run_id(run_id);
    event.set_seq(1);
    event.mutable_step_started()->set_model(std::string(7 << 10, 'm'));
    batch.events.push_back(event);
    ASSERT_TRUE((*store)->Commit(batch).ok());
  }
  // Flushes are in the background: the memtables shrink once they are done. What is
  // left is each written family's memtable, an arena block or so (1 MiB) apiece: 5-6 MiB
  // here, against the 25 MiB (and more) all three hold when only their own size bounds them.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (memtable_bytes() > (8 << 20) && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_LE(memtable_bytes(), 8 << 20);
}

// A data directory written before waiting, approvals and sessions existed, made with
// RocksDB directly: the column families that version created, with a run in it.
TEST_F(RocksDbRunStoreTest, OpensADatabaseWrittenBeforeWaitingApprovalsAndSessions) {
  const RocksDbStoreOptions options = Options();
  v1::Run old_run;
  old_run.set_run_id("run_old");
  old_run.set_state(v1::SUCCEEDED);
  {
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : {"default", "runs", "journal", "events", "queue", "leases", "agents",
                             "request_ids"}) {
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw_db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(db_options, options.path, cfs, &handles, &raw_db).ok());
    std::unique_ptr<rocksdb::DB> db(raw_db);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], "run_old",
                        old_run.SerializeAsString()).ok());
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    }
    ASSERT_TRUE(db->Close().ok());
  }

  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto run = (*store)->GetRun("run_old");
    ASSERT_TRUE(run.ok() && run->has_value());
    EXPECT_EQ((*run)->state(), v1::SUCCEEDED);
    StoreBatch batch;
    batch.waiting_puts.push_back("run_new");
    v1::Approval approval;
    approval.set_approval_id("run_new:1:toolu_1");
    approval.set_run_id("run_new");
    approval.set_state(v1::Approval::PENDING);
    batch.approvals.push_back(approval);
    batch.session_heads.emplace_back("sess-1", "run_new");
    ASSERT_TRUE((*store)->Commit(batch).ok());
  }

  std::vector<std::string> families;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), options.path, &families).ok());
  EXPECT_THAT(families, IsSupersetOf({"waiting", "approvals", "sessions"}));

  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto run = (*store)->GetRun("run_old");
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run->has_value());
  std::vector<std::string> waiting;
  ASSERT_TRUE((*store)->ScanWaiting([&](const std::string& id) { waiting.push_back(id); }).ok());
  EXPECT_EQ(waiting, std::vector<std::string>{"run_new"});
  auto got = (*store)->GetApproval("run_new:1:toolu_1");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->has_value());
  auto head = (*store)->GetSessionHead("default", "sess-1");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->value_or(""), "run_new");
}

// A database of format 3 kept a run's waits and graph spec in its record. The first
// open moves them apart (StoreBatch), so the rewrites of today, which carry neither,
// keep them; a second open changes nothing.
TEST_F(RocksDbRunStoreTest, OpeningADatabaseFromBeforeRunPartsMovesWaitsAndGraphsApart) {
  const RocksDbStoreOptions options = Options();
  v1::Run parent;
  parent.set_run_id("default/run_00000000000100000000");
  parent.set_state(v1::WAITING);
  for (const char* id : {"toolu_a", "toolu_b"}) {
    v1::Wait& wait = *parent.add_waits();
    wait.set_tool_use_id(id);
    wait.set_child_run_id(absl::StrCat("default/run_child_", id));
  }
  parent.mutable_waits(1)->set_done(true);
  v1::Run graph_run;
  graph_run.set_run_id("default/run_00000000000200000000");
  graph_run.set_state(v1::WAITING);
  graph_run.mutable_graph()->set_name("review");
  graph_run.mutable_graph()->add_nodes()->set_id("plan");
  WriteDatabase(options.path, FamiliesOfFormat(3), [&](rocksdb::DB& db, const Handles& handles) {
    for (const v1::Run& run : {parent, graph_run}) {
      ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), handles[1], run.run_id(), run.SerializeAsString()).ok());
    }
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), handles[15], "format", "3").ok());
  });
  for (int open = 0; open < 2; ++open) {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    // Rewritten as the scheduler does: the record alone.
    StoreBatch rewrite;
    v1::Run record = parent;
    record.clear_waits();
    record.set_steps(open + 1);
    rewrite.put_runs.push_back(record);
    v1::Run graph_record = graph_run;
    graph_record.mutable_graph()->clear_nodes();
    graph_record.set_children(open + 1);
    rewrite.put_runs.push_back(graph_record);
    ASSERT_TRUE((*store)->Commit(rewrite).ok());

    auto got = (*store)->GetRun(parent.run_id());
    ASSERT_TRUE(got.ok() && got->has_value()) << open;
    EXPECT_EQ((*got)->steps(), open + 1);
    record.set_steps(open + 1);
    *record.mutable_waits() = parent.waits();
    EXPECT_EQ((*got)->SerializeAsString(), record.SerializeAsString());
    auto got_graph = (*store)->GetRun(graph_run.run_id());
    ASSERT_TRUE(got_graph.ok() && got_graph->has_value());
    EXPECT_EQ((*got_graph)->children(), open + 1);
    EXPECT_EQ((*got_graph)->graph().SerializeAsString(), graph_run.graph().SerializeAsString());
  }
}

// A database of format 4 had no index of the pending approvals: the first open
// builds it from the approvals, so the pending list is the same as before.
TEST_F(RocksDbRunStoreTest, OpeningADatabaseFromBeforeThePendingIndexIndexesItsPendingApprovals) {
  const RocksDbStoreOptions options = Options();
  std::vector<v1::Approval> approvals(3);
  for (int i = 0; i < 3; ++i) {
    approvals[i].set_approval_id(absl::StrCat("default/run_00000000000100000000:", i, ":toolu_", i));
    approvals[i].set_run_id("default/run_00000000000100000000");
    approvals[i].set_state(i == 1 ? v1::Approval::DECIDED : v1::Approval::PENDING);
  }
  WriteDatabase(options.path, FamiliesOfFormat(4), [&](rocksdb::DB& db, const Handles& handles) {
    for (const v1::Approval& approval : approvals) {
      ASSERT_TRUE(
          db.Put(rocksdb::WriteOptions(), handles[9], approval.approval_id(), approval.SerializeAsString()).ok());
    }
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), handles[15], "format", "4").ok());
  });
  for (int open = 0; open < 2; ++open) {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto page = (*store)->ListApprovals(ApprovalFilter{}, 10, "");
    ASSERT_TRUE(page.ok()) << page.status();
    std::vector<std::string> ids;
    for (const v1::Approval& approval : page->approvals) ids.push_back(approval.approval_id());
    EXPECT_EQ(ids, (std::vector<std::string>{approvals[0].approval_id(), approvals[2].approval_id()})) << open;
  }
}

// A database of format 5 stored each event as its own record: they read back as they
// were, followed by the groups written after the upgrade, from every seq.
TEST_F(RocksDbRunStoreTest, EventsOfAFormat5DatabaseReadBackBeforeTheGroupsWrittenAfterIt) {
  const RocksDbStoreOptions options = Options();
  const std::string run_id = "default/run_00000000000100000000";
  auto event = [&](int64_t seq) {
    v1::RunEvent e;
    e.set_run_id(run_id);
    e.set_seq(seq);
    e.set_time_ms(1000 + seq);
    e.mutable_text()->set_text(std::string(static_cast<size_t>(seq) * 60, 'x'));
    return e;
  };
  WriteDatabase(options.path, FamiliesOfFormat(5), [&](rocksdb::DB& db, const Handles& handles) {
    for (int64_t seq = 1; seq <= 4; ++seq) {
      ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), handles[3], store_keys::RunSeqKey(run_id, seq),
                         event(seq).SerializeAsString())
                      .ok());
    }
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), handles[15], "format", "5").ok());
  });
  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    StoreBatch batch;
    for (int64_t seq = 5; seq <= 7; ++seq) batch.events.push_back(event(seq));
    ASSERT_TRUE((*store)->Commit(batch).ok());
  }
  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int64_t after = 0; after <= 7; ++after) {
      auto events = (*store)->ReadEvents(run_id, after, 0);
      ASSERT_TRUE(events.ok()) << events.status();
      ASSERT_EQ(static_cast<int64_t>(events->size()), 7 - after);
      for (int64_t seq = after + 1; seq <= 7; ++seq) {
        EXPECT_EQ((*events)[seq - after - 1].SerializeAsString(), event(seq).SerializeAsString()) << seq;
      }
    }
  }
  // The format says so: an orchestrator of format 5 refuses the store.
  WriteDatabase(options.path, FamiliesOfFormat(5), [](rocksdb::DB& db, const Handles& handles) {
    std::string format;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), handles[15], "format", &format).ok());
    EXPECT_EQ(format, "6");
  });
}

// A database a newer orchestrator moved to a later format is refused, naming both
// formats, rather than read without what that format added.
TEST_F(RocksDbRunStoreTest, ADatabaseOfANewerFormatIsRefusedNamingIt) {
  const RocksDbStoreOptions options = Options();
  ASSERT_TRUE(RocksDbRunStore::Open(options).ok());
  WriteDatabase(options.path, FamiliesOfFormat(5), [](rocksdb::DB& db, const Handles& handles) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), handles[15], "format", "99").ok());
  });
  auto store = RocksDbRunStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("format 99, newer than this orchestrator's (6)"));
}

// A family only a newer version has: refused by name, before anything is read or written.
TEST_F(RocksDbRunStoreTest, ADatabaseWithAFamilyOfANewerVersionIsRefusedNamingIt) {
  const RocksDbStoreOptions options = Options();
  std::vector<std::string> families = FamiliesOfFormat(5);
  families.push_back("from_a_newer_version");
  WriteDatabase(options.path, families, [](rocksdb::DB&, const Handles&) {});
  auto store = RocksDbRunStore::Open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("from_a_newer_version"));
}

// A new store's families are made in one call, and every later open finds them all:
// what was written under each is read back from it.
TEST_F(RocksDbRunStoreTest, ANewStoreHasEveryFamilyAndKeepsThemAcrossOpens) {
  const RocksDbStoreOptions options = Options();
  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Commit(RunBatch("run_1")).ok());
  }
  std::vector<std::string> families;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), options.path, &families).ok());
  std::vector<std::string> expected = FamiliesOfFormat(5);
  std::sort(families.begin(), families.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(families, expected);
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto run = (*store)->GetRun("run_1");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(run->has_value());
  auto journal = (*store)->ReadJournal("run_1");
  ASSERT_TRUE(journal.ok()) << journal.status();
  EXPECT_EQ(journal->size(), 1u);
}

// A database from before namespaces: its agent, request id and session keys have no
// "<ns> 0x00", its run ids no "<ns>/". The first open moves them into "default" and
// indexes the runs, so everything is found there; a second open changes nothing.
TEST_F(RocksDbRunStoreTest, OpeningADatabaseFromBeforeNamespacesMovesItIntoDefault) {
  const RocksDbStoreOptions options = Options();
  v1::Run old_run;
  old_run.set_run_id("run_00000000000100000000");
  old_run.set_state(v1::SUCCEEDED);
  old_run.mutable_agent()->set_name("writer");
  v1::AgentSpec agent;
  agent.set_name("writer");
  agent.set_version(1);
  {
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name : {"default", "runs", "journal", "events", "queue", "leases", "agents", "request_ids",
                             "waiting", "approvals", "sessions", "graphs"}) {
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw_db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(db_options, options.path, cfs, &handles, &raw_db).ok());
    std::unique_ptr<rocksdb::DB> db(raw_db);
    const std::string run_id = old_run.run_id();
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[1], run_id, old_run.SerializeAsString()).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[6], std::string("writer\0\0\0\0\x01", 11),
                        agent.SerializeAsString()).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[7], "req-1", run_id).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[10], "sess-1", run_id).ok());
    for (rocksdb::ColumnFamilyHandle* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    ASSERT_TRUE(db->Close().ok());
  }
  for (int open = 0; open < 2; ++open) {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto got_agent = (*store)->GetAgent("default", "writer", 0);
    ASSERT_TRUE(got_agent.ok() && got_agent->has_value()) << open;
    EXPECT_EQ((*got_agent)->version(), 1);
    EXPECT_EQ((*store)->LookupRequestId("default", "req-1")->value_or(""), old_run.run_id());
    EXPECT_EQ((*store)->GetSessionHead("default", "sess-1")->value_or(""), old_run.run_id());
    EXPECT_FALSE((*store)->LookupRequestId("team-a", "req-1")->has_value());
    // Listed with "default"'s new runs, oldest last, and by its agent.
    StoreBatch batch;
    v1::Run new_run;
    new_run.set_run_id(absl::StrCat("default/run_0000000000020000000", open));
    new_run.set_state(v1::QUEUED);
    batch.put_runs.push_back(new_run);
    ASSERT_TRUE((*store)->Commit(batch).ok());
    auto page = (*store)->ListRuns(RunFilter{}, 10, "");
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_EQ(page->runs.size(), static_cast<size_t>(open + 2));
    EXPECT_EQ(page->runs.back().run_id(), old_run.run_id());
    auto by_agent = (*store)->ListRuns(RunFilter{.agent_name = "writer"}, 10, "");
    ASSERT_TRUE(by_agent.ok());
    ASSERT_EQ(by_agent->runs.size(), 1u);
    EXPECT_EQ(by_agent->runs[0].run_id(), old_run.run_id());
  }
}

// The state index follows a run through its states; a list by state finds it only in
// its current one, before and after a reopen.
TEST_F(RocksDbRunStoreTest, ListingByStateFollowsTheRun) {
  const RocksDbStoreOptions options = Options();
  v1::Run run;
  run.set_run_id("team-a/run_00000000000100000000");
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  for (v1::RunState state : {v1::QUEUED, v1::RUNNING, v1::WAITING, v1::SUCCEEDED}) {
    if (state == v1::WAITING) {  // the store remembers the last state; reopened, it reads it
      store->reset();
      store = RocksDbRunStore::Open(options);
      ASSERT_TRUE(store.ok()) << store.status();
    }
    run.set_state(state);
    StoreBatch batch;
    batch.put_runs.push_back(run);
    ASSERT_TRUE((*store)->Commit(batch).ok());
    for (v1::RunState listed : {v1::QUEUED, v1::RUNNING, v1::WAITING, v1::SUCCEEDED}) {
      auto page = (*store)->ListRuns(RunFilter{.state = listed, .ns = "team-a"}, 10, "");
      ASSERT_TRUE(page.ok());
      EXPECT_EQ(page->runs.size(), listed == state ? 1u : 0u) << v1::RunState_Name(listed) << " after "
                                                             << v1::RunState_Name(state);
    }
    auto other = (*store)->ListRuns(RunFilter{.state = state, .ns = "team-b"}, 10, "");
    ASSERT_TRUE(other.ok());
    EXPECT_TRUE(other->runs.empty());
  }
}

// The last put of a run in a batch is what is stored and indexed.
TEST_F(RocksDbRunStoreTest, ARunPutTwiceInABatchKeepsTheLastPut) {
  auto store = RocksDbRunStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  v1::Run run;
  run.set_run_id("default/run_00000000000100000000");
  StoreBatch batch;
  run.set_state(v1::QUEUED);
  batch.put_runs.push_back(run);
  run.set_state(v1::RUNNING);
  run.set_steps(3);
  batch.put_runs.push_back(run);
  ASSERT_TRUE((*store)->Commit(batch).ok());
  EXPECT_EQ((*(*store)->GetRun(run.run_id()))->steps(), 3);
  EXPECT_TRUE((*store)->ListRuns(RunFilter{.state = v1::QUEUED}, 10, "")->runs.empty());
  EXPECT_EQ((*store)->ListRuns(RunFilter{.state = v1::RUNNING}, 10, "")->runs.size(), 1u);
}

// Retention deletes runs with range tombstones; ReclaimSpace compacts their range so the
// files shrink at once, not when compactions happen to reach them.
TEST_F(RocksDbRunStoreTest, ReclaimSpaceAfterRunDeletesShrinksTheSstFiles) {
  RocksDbStoreOptions options = Options();
  options.write_buffer_bytes = 256 << 10;  // flushed as it goes: the data is in SST files
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  std::mt19937_64 random(7);
  auto incompressible = [&](size_t bytes) {  // nearly: random printable bytes
    std::string out(bytes, '\0');
    for (char& c : out) c = static_cast<char>(33 + random() % 94);  // valid UTF-8 (protobuf strings)
    return out;
  };
  constexpr int kRuns = 100;
  std::vector<v1::Run> runs;
  for (int i = 0; i < kRuns; ++i) {
    StoreBatch batch;
    v1::Run run;
    run.set_run_id(absl::StrFormat("team/run_%012x%08x", 1700000000000 + i, 7));
    run.set_state(v1::SUCCEEDED);
    run.set_end_time_ms(1000 + i);
    batch.put_runs.push_back(run);
    for (int seq = 0; seq < 10; ++seq) {
      v1::JournalEntry entry;
      entry.set_seq(seq);
      entry.mutable_model_turn()->set_content_json(incompressible(4096));
      batch.journal.emplace_back(run.run_id(), entry);
      v1::RunEvent event;
      event.set_run_id(run.run_id());
      event.set_seq(seq + 1);
      event.mutable_text()->set_text(incompressible(1024));
      batch.events.push_back(event);
    }
    ASSERT_TRUE((*store)->Commit(batch).ok());
    runs.push_back(run);
  }
  // Everything in SST files first (the compaction flushes the memtables).
  ASSERT_TRUE((*store)->ReclaimSpace(runs.front().run_id(), runs.back().run_id()).ok());
  const uint64_t before = (*store)->LiveSstBytes();
  EXPECT_GT(before, uint64_t{kRuns} * 10 * 5000);

  // The oldest 90 runs go, in batches as the sweeper sends them.
  for (int i = 0; i < 90; i += 30) {
    StoreBatch batch;
    for (int j = i; j < i + 30; ++j) batch.run_deletes.push_back(runs[j]);
    ASSERT_TRUE((*store)->Commit(batch).ok());
  }
  ASSERT_TRUE((*store)->ReclaimSpace(runs.front().run_id(), runs[89].run_id()).ok());
  const uint64_t after = (*store)->LiveSstBytes();
  RecordProperty("live_sst_bytes_before", std::to_string(before));
  RecordProperty("live_sst_bytes_after", std::to_string(after));
  EXPECT_LT(after, before / 4) << "live SST bytes " << before << " -> " << after;
  // What was kept is whole.
  EXPECT_EQ((*store)->ReadJournal(runs[95].run_id())->size(), 10u);
  EXPECT_EQ((*store)->ReadEvents(runs[95].run_id(), 0, 0)->size(), 10u);
  EXPECT_FALSE((*store)->GetRun(runs[5].run_id())->has_value());
}

// `baton admin backup DIR --keep N`: the oldest backups go, with the files only they
// needed, and the latest restores.
TEST_F(RocksDbRunStoreTest, BackupKeepsTheLatestAndDeletesWhatOnlyTheOlderOnesNeeded) {
  const std::filesystem::path backup_dir = dir_ / "backup";
  auto store = RocksDbRunStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  // A run before each backup; the first two backups keep every one, the next two the
  // latest two.
  std::vector<BackupInfo> taken;
  for (int k = 1; k <= 4; ++k) {
    ASSERT_TRUE((*store)->Commit(RunBatch(absl::StrCat("run_", k))).ok());
    absl::StatusOr<BackupInfo> info = (*store)->Backup(backup_dir.string(), k <= 2 ? 0 : 2);
    ASSERT_TRUE(info.ok()) << info.status();
    taken.push_back(*info);
  }
  // Kept as asked: all of the first two, then the latest two.
  EXPECT_EQ(taken[0].backups, 1u);
  EXPECT_EQ(taken[1].backups, 2u);
  EXPECT_TRUE(taken[1].deleted_backup_ids.empty());
  EXPECT_EQ(taken[2].backup_id, 3u);
  EXPECT_EQ(taken[2].deleted_backup_ids, std::vector<uint32_t>{1});
  EXPECT_EQ(taken[2].backups, 2u);
  EXPECT_EQ(taken[3].deleted_backup_ids, std::vector<uint32_t>{2});
  EXPECT_EQ(taken[3].backups, 2u);
  // Their files went with them: each backup's description and the files only it
  // needs (its WAL, MANIFEST and OPTIONS; BackupEngine's layout).
  for (const char* id : {"1", "2"}) {
    EXPECT_FALSE(std::filesystem::exists(backup_dir / "meta" / id)) << id;
    EXPECT_FALSE(std::filesystem::exists(backup_dir / "private" / id)) << id;
  }
  for (const char* id : {"3", "4"}) {
    EXPECT_TRUE(std::filesystem::exists(backup_dir / "meta" / id)) << id;
    EXPECT_TRUE(std::filesystem::exists(backup_dir / "private" / id)) << id;
  }
  store->reset();
  absl::StatusOr<BackupInfo> restored = RestoreBackup(backup_dir.string(), (dir_ / "restored").string(), false);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->backup_id, 4u);
  auto back = RocksDbRunStore::Open(Options("restored"));
  ASSERT_TRUE(back.ok()) << back.status();
  for (int k = 1; k <= 4; ++k) EXPECT_TRUE((*back)->GetRun(absl::StrCat("run_", k))->has_value()) << k;
}

// `baton admin restore`: never over data without --force, never under a running store.
TEST_F(RocksDbRunStoreTest, RestoreRefusesDataAndADirectoryInUse) {
  const std::string backup_dir = (dir_ / "backup").string();
  {
    auto store = RocksDbRunStore::Open(Options());
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Commit(RunBatch("run_1")).ok());
    ASSERT_TRUE((*store)->Backup(backup_dir).ok());
  }
  auto running = RocksDbRunStore::Open(Options("live"));
  ASSERT_TRUE(running.ok()) << running.status();
  absl::StatusOr<BackupInfo> refused = RestoreBackup(backup_dir, (dir_ / "live").string(), false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("not empty"));
  refused = RestoreBackup(backup_dir, (dir_ / "live").string(), true);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("in use"));
  running->reset();
  // Stopped: --force replaces what the directory held.
  absl::StatusOr<BackupInfo> restored = RestoreBackup(backup_dir, (dir_ / "live").string(), true);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->backup_id, 1u);
  auto store = RocksDbRunStore::Open(Options("live"));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->GetRun("run_1")->has_value());
  EXPECT_EQ(RestoreBackup((dir_ / "nothing").string(), (dir_ / "x").string(), false).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace baton::orchestrator
