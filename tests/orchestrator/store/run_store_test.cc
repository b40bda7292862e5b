// The RunStore contract, run against every implementation.
#include "orchestrator/store/run_store.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "orchestrator/store/memory_run_store.h"
#include "orchestrator/store/rocksdb_run_store.h"

namespace baton::orchestrator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

enum class StoreKind { kInMemory, kRocksDb };

std::string KindName(const ::testing::TestParamInfo<StoreKind>& info) {
  return info.param == StoreKind::kInMemory ? "InMemory" : "RocksDb";
}

// Run ids in the real format, increasing with `n`.
std::string RunIdAt(int64_t n) { return absl::StrFormat("run_%012x%08x", 1700000000000 + n, 7); }

v1::Run MakeRun(const std::string& run_id, v1::RunState state = v1::QUEUED,
                const std::string& agent = "writer") {
  v1::Run run;
  run.set_run_id(run_id);
  run.set_state(state);
  run.mutable_agent()->set_name(agent);
  run.set_input("input of " + run_id);
  return run;
}

v1::JournalEntry MakeJournal(int64_t seq, const std::string& text = "") {
  v1::JournalEntry entry;
  entry.set_seq(seq);
  entry.set_step(static_cast<int32_t>(seq));
  entry.mutable_model_turn()->set_content_json(text.empty() ? absl::StrCat("turn ", seq) : text);
  return entry;
}

v1::RunEvent MakeEvent(const std::string& run_id, int64_t seq) {
  v1::RunEvent event;
  event.set_run_id(run_id);
  event.set_seq(seq);
  event.mutable_text()->set_text(absl::StrCat("event ", seq));
  return event;
}

v1::AgentSpec MakeAgent(const std::string& name, int32_t version) {
  v1::AgentSpec agent;
  agent.set_name(name);
  agent.set_version(version);
  agent.set_model("claude-sonnet-4-5");
  agent.set_system(absl::StrCat(name, " v", version));
  return agent;
}

std::vector<int64_t> Seqs(const std::vector<v1::JournalEntry>& entries) {
  std::vector<int64_t> out;
  for (const auto& e : entries) out.push_back(e.seq());
  return out;
}

std::vector<int64_t> Seqs(const std::vector<v1::RunEvent>& events) {
  std::vector<int64_t> out;
  for (const auto& e : events) out.push_back(e.seq());
  return out;
}

std::vector<std::string> Ids(const std::vector<v1::Run>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs) out.push_back(r.run_id());
  return out;
}

class RunStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baton_store_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    Open();
  }

  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    if (GetParam() == StoreKind::kInMemory) {
      store_ = std::make_unique<InMemoryRunStore>();
      return;
    }
    RocksDbStoreOptions options;
    options.path = (dir_ / "db").string();
    options.block_cache_bytes = 4 << 20;
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  // Closes and reopens the same database: what a crash-free restart sees. The
  // in-memory store has nothing to reopen and keeps its state.
  void Reopen() {
    if (GetParam() == StoreKind::kInMemory) return;
    store_.reset();
    Open();
  }

  RunStore& store() { return *store_; }

  v1::Run GetRunOrDie(const std::string& run_id) {
    auto run = store().GetRun(run_id);
    EXPECT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run.ok() && run->has_value()) << run_id << " not found";
    return run.ok() && run->has_value() ? **run : v1::Run();
  }

  std::vector<QueueEntry> Queue() {
    std::vector<QueueEntry> out;
    EXPECT_TRUE(store().ScanQueue([&](const QueueEntry& e) { out.push_back(e); }).ok());
    return out;
  }

  std::vector<LeaseRecord> Leases() {
    std::vector<LeaseRecord> out;
    EXPECT_TRUE(store().ScanLeases([&](const LeaseRecord& l) { out.push_back(l); }).ok());
    return out;
  }

  std::vector<std::string> ListAllRuns(const RunFilter& filter, int page_size) {
    std::vector<std::string> out;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = store().ListRuns(filter, page_size, token);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      EXPECT_LE(page->runs.size(), static_cast<size_t>(page_size));
      for (const auto& run : page->runs) out.push_back(run.run_id());
      if (page->next_page_token.empty()) break;
      EXPECT_THAT(page->runs, SizeIs(page_size)) << "only a full page may have a next page";
      token = page->next_page_token;
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<RunStore> store_;
};

// ---- Runs and request ids -------------------------------------------------------

TEST_P(RunStoreTest, PutRunThenGetReturnsIt) {
  v1::Run run = MakeRun(RunIdAt(1));
  run.set_priority(-3);
  (*run.mutable_labels())["team"] = "infra";
  StoreBatch batch;
  batch.put_runs.push_back(run);
  ASSERT_TRUE(store().Commit(batch).ok());

  v1::Run got = GetRunOrDie(run.run_id());
  EXPECT_EQ(got.SerializeAsString(), run.SerializeAsString());
  auto missing = store().GetRun(RunIdAt(2));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto empty = store().GetRun("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
}

TEST_P(RunStoreTest, PutRunUpsertsByRunId) {
  StoreBatch first;
  first.put_runs.push_back(MakeRun(RunIdAt(1), v1::QUEUED));
  ASSERT_TRUE(store().Commit(first).ok());
  StoreBatch second;
  v1::Run running = MakeRun(RunIdAt(1), v1::RUNNING);
  running.set_epoch(4);
  second.put_runs.push_back(running);
  ASSERT_TRUE(store().Commit(second).ok());

  v1::Run got = GetRunOrDie(RunIdAt(1));
  EXPECT_EQ(got.state(), v1::RUNNING);
  EXPECT_EQ(got.epoch(), 4);
  auto page = store().ListRuns({}, 10, "");
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->runs, SizeIs(1));
}

TEST_P(RunStoreTest, LookupRequestIdFindsTheRun) {
  StoreBatch batch;
  batch.put_runs.push_back(MakeRun(RunIdAt(1)));
  batch.request_ids.emplace_back("client-req-1", RunIdAt(1));
  ASSERT_TRUE(store().Commit(batch).ok());

  auto found = store().LookupRequestId("client-req-1");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, RunIdAt(1));
  auto missing = store().LookupRequestId("client-req-2");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto prefix = store().LookupRequestId("client-req");
  ASSERT_TRUE(prefix.ok());
  EXPECT_FALSE(prefix->has_value());
}

// ---- Journal and events ------------------------------------------------------------

TEST_P(RunStoreTest, JournalReadsInSeqOrderAndIsIsolatedPerRun) {
  // Each id is a prefix of the next; seqs straddle byte boundaries (255/256, 65536).
  const std::vector<std::string> ids = {"run_a", "run_ab", "run_a0", "run_a\x01"};
  const std::vector<int64_t> seqs = {65536, 2, 256, 1, 255, 3};
  for (int64_t seq : seqs) {
    StoreBatch batch;
    for (const std::string& id : ids) {
      batch.journal.emplace_back(id, MakeJournal(seq, absl::StrCat(id, "#", seq)));
    }
    ASSERT_TRUE(store().Commit(batch).ok());
  }
  for (const std::string& id : ids) {
    auto journal = store().ReadJournal(id);
    ASSERT_TRUE(journal.ok()) << journal.status();
    EXPECT_THAT(Seqs(*journal), ElementsAre(1, 2, 3, 255, 256, 65536)) << id;
    for (const auto& entry : *journal) {
      EXPECT_EQ(entry.model_turn().content_json(), absl::StrCat(id, "#", entry.seq()));
    }
  }
  auto none = store().ReadJournal("run_");
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(RunStoreTest, JournalEntryWithSameSeqIsOverwritten) {
  StoreBatch batch;
  batch.journal.emplace_back("run_x", MakeJournal(1, "old"));
  batch.journal.emplace_back("run_x", MakeJournal(1, "new"));
  ASSERT_TRUE(store().Commit(batch).ok());
  auto journal = store().ReadJournal("run_x");
  ASSERT_TRUE(journal.ok());
  ASSERT_THAT(*journal, SizeIs(1));
  EXPECT_EQ((*journal)[0].model_turn().content_json(), "new");
}

TEST_P(RunStoreTest, ReadEventsHonoursAfterSeqAndLimit) {
  StoreBatch batch;
  for (int64_t seq = 1; seq <= 300; ++seq) batch.events.push_back(MakeEvent("run_e", seq));
  for (int64_t seq = 1; seq <= 5; ++seq) batch.events.push_back(MakeEvent("run_e1", seq));
  ASSERT_TRUE(store().Commit(batch).ok());

  auto all = store().ReadEvents("run_e", 0, 0);
  ASSERT_TRUE(all.ok());
  ASSERT_THAT(*all, SizeIs(300));
  EXPECT_EQ(all->front().seq(), 1);
  EXPECT_EQ(all->back().seq(), 300);
  EXPECT_TRUE(std::is_sorted(all->begin(), all->end(),
                             [](const auto& a, const auto& b) { return a.seq() < b.seq(); }));
  EXPECT_EQ((*all)[9].text().text(), "event 10");

  auto after = store().ReadEvents("run_e", 254, 3);
  ASSERT_TRUE(after.ok());
  EXPECT_THAT(Seqs(*after), ElementsAre(255, 256, 257));

  auto tail = store().ReadEvents("run_e", 298, 10);
  ASSERT_TRUE(tail.ok());
  EXPECT_THAT(Seqs(*tail), ElementsAre(299, 300));

  auto past_end = store().ReadEvents("run_e", 300, 0);
  ASSERT_TRUE(past_end.ok());
  EXPECT_THAT(*past_end, IsEmpty());

  auto negative = store().ReadEvents("run_e1", -5, 2);
  ASSERT_TRUE(negative.ok());
  EXPECT_THAT(Seqs(*negative), ElementsAre(1, 2));

  auto other = store().ReadEvents("run_e1", 0, 0);
  ASSERT_TRUE(other.ok());
  EXPECT_THAT(Seqs(*other), ElementsAre(1, 2, 3, 4, 5));
  for (const auto& event : *other) EXPECT_EQ(event.run_id(), "run_e1");
}

// ---- Queue and leases ----------------------------------------------------------

TEST_P(RunStoreTest, ScanQueueReturnsDequeueOrder) {
  // Expected dequeue order: priority desc, then enqueue time asc, then run id asc.
  const std::vector<QueueEntry> expected = {
      {INT32_MAX, 50, "run_max"},
      {10, -100, "run_p10_early"},
      {10, 5, "run_p10_a"},
      {10, 5, "run_p10_b"},
      {10, 300, "run_p10_late"},
      {1, 1, "run_p1"},
      {0, 0, "run_p0"},
      {-1, -1, "run_m1"},
      {-1, 1000, "run_m1_late"},
      {-7, 0, "run_m7"},
      {INT32_MIN, 0, "run_min"},
  };
  std::vector<QueueEntry> shuffled = expected;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));
  StoreBatch batch;
  batch.queue_puts = shuffled;
  ASSERT_TRUE(store().Commit(batch).ok());

  std::vector<QueueEntry> got = Queue();
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got[i].run_id, expected[i].run_id) << i;
    EXPECT_EQ(got[i].priority, expected[i].priority) << i;
    EXPECT_EQ(got[i].enqueue_time_ms, expected[i].enqueue_time_ms) << i;
  }

  StoreBatch remove;
  remove.queue_deletes.push_back({10, 5, "run_p10_a"});
  remove.queue_deletes.push_back({-1, 999, "run_m1_late"});  // wrong time: no effect
  ASSERT_TRUE(store().Commit(remove).ok());
  got = Queue();
  ASSERT_EQ(got.size(), expected.size() - 1);
  EXPECT_EQ(got[2].run_id, "run_p10_b");
  EXPECT_TRUE(std::any_of(got.begin(), got.end(),
                          [](const QueueEntry& e) { return e.run_id == "run_m1_late"; }));
}

TEST_P(RunStoreTest, QueueDeleteAndPutInOneBatchMovesTheEntry) {
  StoreBatch put;
  put.queue_puts.push_back({0, 10, "run_q"});
  ASSERT_TRUE(store().Commit(put).ok());
  StoreBatch move;
  move.queue_deletes.push_back({0, 10, "run_q"});
  move.queue_puts.push_back({5, 20, "run_q"});
  ASSERT_TRUE(store().Commit(move).ok());
  std::vector<QueueEntry> got = Queue();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(got[0].priority, 5);
  EXPECT_EQ(got[0].enqueue_time_ms, 20);
}

TEST_P(RunStoreTest, LeasesArePutDeletedAndScanned) {
  StoreBatch batch;
  batch.lease_puts.push_back({"run_1", "lease-a", 1, 1000, "worker-1"});
  batch.lease_puts.push_back({"run_2", "lease-b", 3, 2000, "worker-2"});
  batch.lease_puts.push_back({"run_3", "", 0, -5, ""});
  ASSERT_TRUE(store().Commit(batch).ok());

  StoreBatch update;
  update.lease_puts.push_back({"run_2", "lease-c", 4, 9000, "worker-3"});
  update.lease_deletes.push_back("run_1");
  update.lease_deletes.push_back("run_unknown");
  ASSERT_TRUE(store().Commit(update).ok());

  std::vector<LeaseRecord> got = Leases();
  ASSERT_THAT(got, SizeIs(2));
  EXPECT_EQ(got[0].run_id, "run_2");
  EXPECT_EQ(got[0].lease_id, "lease-c");
  EXPECT_EQ(got[0].epoch, 4);
  EXPECT_EQ(got[0].deadline_ms, 9000);
  EXPECT_EQ(got[0].worker_id, "worker-3");
  EXPECT_EQ(got[1].run_id, "run_3");
  EXPECT_EQ(got[1].deadline_ms, -5);
  EXPECT_EQ(got[1].worker_id, "");
}

// ---- Agents ----------------------------------------------------------------------

TEST_P(RunStoreTest, GetAgentReturnsLatestOrTheAskedVersion) {
  StoreBatch batch;
  for (int32_t v : {1, 2, 256, 3}) batch.agents.push_back(MakeAgent("alpha", v));
  batch.agents.push_back(MakeAgent("alphabet", 1));
  batch.agents.push_back(MakeAgent("alpha.b", 9));
  ASSERT_TRUE(store().Commit(batch).ok());

  auto latest = store().GetAgent("alpha", 0);
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->version(), 256);
  EXPECT_EQ((*latest)->system(), "alpha v256");

  auto v2 = store().GetAgent("alpha", 2);
  ASSERT_TRUE(v2.ok());
  ASSERT_TRUE(v2->has_value());
  EXPECT_EQ((*v2)->system(), "alpha v2");

  auto missing_version = store().GetAgent("alpha", 4);
  ASSERT_TRUE(missing_version.ok());
  EXPECT_FALSE(missing_version->has_value());
  for (const char* name : {"alph", "alphabets", "beta", ""}) {
    auto missing = store().GetAgent(name, 0);
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value()) << name;
  }
  auto other = store().GetAgent("alphabet", 0);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->has_value());
  EXPECT_EQ((*other)->version(), 1);
  EXPECT_EQ(store().GetAgent("alpha", -1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(RunStoreTest, ListAgentsPagesThroughLatestVersions) {
  StoreBatch batch;
  const std::vector<std::string> names = {"a", "a.b", "ab", "b", "c-1", "zeta"};
  for (size_t i = 0; i < names.size(); ++i) {
    for (int32_t v = 1; v <= static_cast<int32_t>(i) + 1; ++v) {
      batch.agents.push_back(MakeAgent(names[i], v));
    }
  }
  ASSERT_TRUE(store().Commit(batch).ok());

  std::vector<std::string> seen;
  std::string token;
  for (;;) {
    auto page = store().ListAgents(4, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& agent : *page) {
      seen.push_back(agent.name());
      const size_t index = std::find(names.begin(), names.end(), agent.name()) - names.begin();
      EXPECT_EQ(agent.version(), static_cast<int32_t>(index) + 1) << agent.name();
    }
    if (page->size() < 4) break;
    token = page->back().name();
  }
  EXPECT_EQ(seen, names);

  auto first_two = store().ListAgents(2, "");
  ASSERT_TRUE(first_two.ok());
  ASSERT_THAT(*first_two, SizeIs(2));
  EXPECT_EQ((*first_two)[1].name(), "a.b");
  auto after_last = store().ListAgents(10, "zeta");
  ASSERT_TRUE(after_last.ok());
  EXPECT_THAT(*after_last, IsEmpty());
  auto default_size = store().ListAgents(0, "");
  ASSERT_TRUE(default_size.ok());
  EXPECT_THAT(*default_size, SizeIs(names.size()));
}

// ---- ListRuns ----------------------------------------------------------------------

TEST_P(RunStoreTest, ListRunsIsNewestFirstWithFiltersAndPaging) {
  StoreBatch batch;
  std::vector<std::string> all, succeeded_writer;
  for (int i = 0; i < 23; ++i) {
    const v1::RunState state = i % 3 == 0 ? v1::SUCCEEDED : v1::QUEUED;
    const std::string agent = i % 2 == 0 ? "writer" : "reviewer";
    batch.put_runs.push_back(MakeRun(RunIdAt(i), state, agent));
    all.insert(all.begin(), RunIdAt(i));
    if (state == v1::SUCCEEDED && agent == "writer") {
      succeeded_writer.insert(succeeded_writer.begin(), RunIdAt(i));
    }
  }
  std::shuffle(batch.put_runs.begin(), batch.put_runs.end(), std::mt19937(7));
  ASSERT_TRUE(store().Commit(batch).ok());

  EXPECT_EQ(ListAllRuns({}, 5), all);
  EXPECT_EQ(ListAllRuns({}, 23), all);
  EXPECT_EQ(ListAllRuns({}, 1), all);

  RunFilter both{v1::SUCCEEDED, "writer"};
  ASSERT_THAT(succeeded_writer, SizeIs(4));  // runs 18, 12, 6, 0
  EXPECT_EQ(ListAllRuns(both, 2), succeeded_writer);
  EXPECT_EQ(ListAllRuns(both, 3), succeeded_writer);

  auto first = store().ListRuns(both, 2, "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Ids(first->runs), (std::vector<std::string>{RunIdAt(18), RunIdAt(12)}));
  EXPECT_EQ(first->next_page_token, RunIdAt(12));
  auto second = store().ListRuns(both, 2, first->next_page_token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(Ids(second->runs), (std::vector<std::string>{RunIdAt(6), RunIdAt(0)}));
  EXPECT_EQ(second->next_page_token, "") << "no more matches: no next page";

  RunFilter by_state{v1::SUCCEEDED, ""};
  for (const std::string& id : ListAllRuns(by_state, 3)) {
    EXPECT_EQ(GetRunOrDie(id).state(), v1::SUCCEEDED);
  }
  EXPECT_THAT(ListAllRuns(by_state, 3), SizeIs(8));
  RunFilter by_agent{v1::RUN_STATE_UNSPECIFIED, "reviewer"};
  EXPECT_THAT(ListAllRuns(by_agent, 4), SizeIs(11));
  RunFilter nobody{v1::RUN_STATE_UNSPECIFIED, "nobody"};
  auto none = store().ListRuns(nobody, 5, "");
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(none->runs, IsEmpty());
  EXPECT_EQ(none->next_page_token, "");

  // A token between two ids (as after its run was deleted) still continues below it.
  auto from_gap = store().ListRuns({}, 2, RunIdAt(10) + "0");
  ASSERT_TRUE(from_gap.ok());
  EXPECT_EQ(Ids(from_gap->runs), (std::vector<std::string>{RunIdAt(10), RunIdAt(9)}));
  auto from_oldest = store().ListRuns({}, 2, RunIdAt(0));
  ASSERT_TRUE(from_oldest.ok());
  EXPECT_THAT(from_oldest->runs, IsEmpty());
  EXPECT_EQ(from_oldest->next_page_token, "");
}

TEST_P(RunStoreTest, ListRunsPageSizeDefaultsTo50AndIsCappedAt1000) {
  StoreBatch batch;
  for (int i = 0; i < 1003; ++i) batch.put_runs.push_back(MakeRun(RunIdAt(i)));
  ASSERT_TRUE(store().Commit(batch).ok());

  auto by_default = store().ListRuns({}, 0, "");
  ASSERT_TRUE(by_default.ok());
  EXPECT_THAT(by_default->runs, SizeIs(50));
  EXPECT_EQ(by_default->runs.front().run_id(), RunIdAt(1002));
  EXPECT_EQ(by_default->next_page_token, RunIdAt(953));

  auto capped = store().ListRuns({}, 5000, "");
  ASSERT_TRUE(capped.ok());
  EXPECT_THAT(capped->runs, SizeIs(1000));
  EXPECT_EQ(capped->next_page_token, RunIdAt(3));
  auto rest = store().ListRuns({}, 5000, capped->next_page_token);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Ids(rest->runs), (std::vector<std::string>{RunIdAt(2), RunIdAt(1), RunIdAt(0)}));
  EXPECT_EQ(rest->next_page_token, "");
}

// ---- Atomicity, validation, async and concurrency ---------------------------------

StoreBatch EveryKindBatch(const std::string& run_id) {
  StoreBatch batch;
  batch.put_runs.push_back(MakeRun(run_id, v1::RUNNING));
  batch.journal.emplace_back(run_id, MakeJournal(1));
  batch.journal.emplace_back(run_id, MakeJournal(2));
  batch.events.push_back(MakeEvent(run_id, 1));
  batch.queue_puts.push_back({3, 100, run_id});
  batch.lease_puts.push_back({run_id, "lease-" + run_id, 2, 5000, "worker-9"});
  batch.request_ids.emplace_back("req-" + run_id, run_id);
  batch.agents.push_back(MakeAgent("agent-" + run_id, 1));
  return batch;
}

void ExpectEveryKindPresent(RunStore& store, const std::string& run_id) {
  auto run = store.GetRun(run_id);
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(run->has_value()) << run_id;
  EXPECT_EQ((*run)->state(), v1::RUNNING);
  auto journal = store.ReadJournal(run_id);
  ASSERT_TRUE(journal.ok());
  EXPECT_THAT(Seqs(*journal), ElementsAre(1, 2));
  auto events = store.ReadEvents(run_id, 0, 0);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(Seqs(*events), ElementsAre(1));
  bool queued = false;
  ASSERT_TRUE(store.ScanQueue([&](const QueueEntry& e) {
                     if (e.run_id == run_id) queued = e.priority == 3 && e.enqueue_time_ms == 100;
                   }).ok());
  EXPECT_TRUE(queued);
  bool leased = false;
  ASSERT_TRUE(store.ScanLeases([&](const LeaseRecord& l) {
                     if (l.run_id == run_id) {
                       leased = l.lease_id == "lease-" + run_id && l.epoch == 2 &&
                                l.deadline_ms == 5000 && l.worker_id == "worker-9";
                     }
                   }).ok());
  EXPECT_TRUE(leased);
  auto request = store.LookupRequestId("req-" + run_id);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->value_or(""), run_id);
  auto agent = store.GetAgent("agent-" + run_id, 0);
  ASSERT_TRUE(agent.ok());
  EXPECT_TRUE(agent->has_value());
}

void ExpectNothingOf(RunStore& store, const std::string& run_id) {
  auto run = store.GetRun(run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->has_value());
  auto journal = store.ReadJournal(run_id);
  ASSERT_TRUE(journal.ok());
  EXPECT_THAT(*journal, IsEmpty());
  auto events = store.ReadEvents(run_id, 0, 0);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(*events, IsEmpty());
  int queued = 0, leased = 0;
  ASSERT_TRUE(store.ScanQueue([&](const QueueEntry& e) { queued += e.run_id == run_id; }).ok());
  ASSERT_TRUE(store.ScanLeases([&](const LeaseRecord& l) { leased += l.run_id == run_id; }).ok());
  EXPECT_EQ(queued, 0);
  EXPECT_EQ(leased, 0);
  auto request = store.LookupRequestId("req-" + run_id);
  ASSERT_TRUE(request.ok());
  EXPECT_FALSE(request->has_value());
  auto agent = store.GetAgent("agent-" + run_id, 0);
  ASSERT_TRUE(agent.ok());
  EXPECT_FALSE(agent->has_value());
}

TEST_P(RunStoreTest, BatchIsAppliedWhole) {
  ASSERT_TRUE(store().Commit(EveryKindBatch(RunIdAt(1))).ok());
  ExpectEveryKindPresent(store(), RunIdAt(1));
  Reopen();
  ExpectEveryKindPresent(store(), RunIdAt(1));
}

TEST_P(RunStoreTest, InvalidBatchIsRefusedWhole) {
  struct Case {
    const char* what;
    std::function<void(StoreBatch&)> spoil;
  };
  const std::vector<Case> cases = {
      {"agents[1].version", [](StoreBatch& b) { b.agents.push_back(MakeAgent("x", 0)); }},
      {"put_runs[1].run_id", [](StoreBatch& b) { b.put_runs.push_back(MakeRun("")); }},
      {"journal[2].run_id",
       [](StoreBatch& b) { b.journal.emplace_back(std::string("run\0x", 5), MakeJournal(1)); }},
      {"events[1].seq", [](StoreBatch& b) { b.events.push_back(MakeEvent("run_z", -1)); }},
      {"lease_deletes[0].run_id", [](StoreBatch& b) { b.lease_deletes.push_back(""); }},
      {"request_ids[1].request_id", [](StoreBatch& b) { b.request_ids.emplace_back("", "r"); }},
  };
  for (const Case& c : cases) {
    StoreBatch batch = EveryKindBatch(RunIdAt(1));
    c.spoil(batch);
    absl::Status status = store().Commit(batch);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr(c.what));
  }
  ExpectNothingOf(store(), RunIdAt(1));
  Reopen();
  ExpectNothingOf(store(), RunIdAt(1));
}

TEST_P(RunStoreTest, CommitAsyncCompletesOnceInCallOrder) {
  constexpr int kCommits = 200;
  absl::Mutex mu;
  int done_count = 0;
  std::vector<absl::Status> statuses(kCommits);
  absl::Notification all_done;
  for (int i = 0; i < kCommits; ++i) {
    StoreBatch batch;
    // Every commit rewrites the same run: the last one called must win.
    v1::Run run = MakeRun(RunIdAt(1));
    run.set_steps(i);
    batch.put_runs.push_back(run);
    batch.journal.emplace_back(RunIdAt(1), MakeJournal(i + 1));
    store().CommitAsync(std::move(batch), [&, i](absl::Status s) {
      absl::MutexLock lock(&mu);
      statuses[i] = std::move(s);
      if (++done_count == kCommits) all_done.Notify();
    });
  }
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(done_count, kCommits);
    for (const absl::Status& s : statuses) EXPECT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(GetRunOrDie(RunIdAt(1)).steps(), kCommits - 1);
  auto journal = store().ReadJournal(RunIdAt(1));
  ASSERT_TRUE(journal.ok());
  EXPECT_THAT(*journal, SizeIs(kCommits));
}

TEST_P(RunStoreTest, InvalidAsyncBatchFailsAloneAmongOthers) {
  absl::Mutex mu;
  std::vector<absl::Status> statuses(3);
  int remaining = 3;
  absl::Notification all_done;
  auto done = [&](int i) {
    return [&, i](absl::Status s) {
      absl::MutexLock lock(&mu);
      statuses[i] = std::move(s);
      if (--remaining == 0) all_done.Notify();
    };
  };
  store().CommitAsync(EveryKindBatch(RunIdAt(1)), done(0));
  StoreBatch bad = EveryKindBatch(RunIdAt(2));
  bad.agents.push_back(MakeAgent("bad", -3));
  store().CommitAsync(std::move(bad), done(1));
  store().CommitAsync(EveryKindBatch(RunIdAt(3)), done(2));
  ASSERT_TRUE(all_done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(statuses[2].ok()) << statuses[2];
  Reopen();
  ExpectEveryKindPresent(store(), RunIdAt(1));
  ExpectNothingOf(store(), RunIdAt(2));
  ExpectEveryKindPresent(store(), RunIdAt(3));
}

TEST_P(RunStoreTest, ConcurrentCommitsAreAllDurable) {
  constexpr int kThreads = 16;
  constexpr int kCommitsPerThread = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCommitsPerThread; ++i) {
        const std::string run_id = RunIdAt(t * 1000 + i);
        StoreBatch batch;
        batch.put_runs.push_back(MakeRun(run_id));
        batch.journal.emplace_back(run_id, MakeJournal(1));
        batch.events.push_back(MakeEvent(run_id, 1));
        batch.queue_puts.push_back({t, i, run_id});
        if (!store().Commit(batch).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  Reopen();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kCommitsPerThread; ++i) {
      const std::string run_id = RunIdAt(t * 1000 + i);
      auto run = store().GetRun(run_id);
      ASSERT_TRUE(run.ok());
      EXPECT_TRUE(run->has_value()) << run_id;
      auto journal = store().ReadJournal(run_id);
      ASSERT_TRUE(journal.ok());
      EXPECT_THAT(*journal, SizeIs(1)) << run_id;
      auto events = store().ReadEvents(run_id, 0, 0);
      ASSERT_TRUE(events.ok());
      EXPECT_THAT(*events, SizeIs(1)) << run_id;
    }
  }
  EXPECT_THAT(Queue(), SizeIs(kThreads * kCommitsPerThread));
  EXPECT_THAT(ListAllRuns({}, 1000), SizeIs(kThreads * kCommitsPerThread));
}

TEST_P(RunStoreTest, EveryKindSurvivesReopenIncludingDeletes) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store().Commit(EveryKindBatch(RunIdAt(i))).ok());
  // Run 1 leaves the queue and loses its lease; run 2 moves in the queue; agent of
  // run 0 gains a version.
  StoreBatch change;
  change.queue_deletes.push_back({3, 100, RunIdAt(1)});
  change.lease_deletes.push_back(RunIdAt(1));
  change.queue_deletes.push_back({3, 100, RunIdAt(2)});
  change.queue_puts.push_back({9, 50, RunIdAt(2)});
  change.agents.push_back(MakeAgent("agent-" + RunIdAt(0), 2));
  ASSERT_TRUE(store().Commit(change).ok());

  Reopen();
  ExpectEveryKindPresent(store(), RunIdAt(0));
  std::vector<QueueEntry> queue = Queue();
  ASSERT_THAT(queue, SizeIs(2));
  EXPECT_EQ(queue[0].run_id, RunIdAt(2));
  EXPECT_EQ(queue[0].priority, 9);
  EXPECT_EQ(queue[1].run_id, RunIdAt(0));
  std::vector<LeaseRecord> leases = Leases();
  ASSERT_THAT(leases, SizeIs(2));
  EXPECT_EQ(leases[0].run_id, RunIdAt(0));
  EXPECT_EQ(leases[1].run_id, RunIdAt(2));
  auto agent = store().GetAgent("agent-" + RunIdAt(0), 0);
  ASSERT_TRUE(agent.ok() && agent->has_value());
  EXPECT_EQ((*agent)->version(), 2);
  auto agents = store().ListAgents(10, "");
  ASSERT_TRUE(agents.ok());
  EXPECT_THAT(*agents, SizeIs(3));
  EXPECT_EQ(ListAllRuns({}, 2), (std::vector<std::string>{RunIdAt(2), RunIdAt(1), RunIdAt(0)}));

  // And the store keeps working after the reopen.
  ASSERT_TRUE(store().Commit(EveryKindBatch(RunIdAt(5))).ok());
  Reopen();
  ExpectEveryKindPresent(store(), RunIdAt(5));
}

TEST_P(RunStoreTest, EmptyBatchCommits) {
  EXPECT_TRUE(store().Commit(StoreBatch()).ok());
  absl::Notification done;
  absl::Status status = absl::UnknownError("not called");
  store().CommitAsync(StoreBatch(), [&](absl::Status s) {
    status = s;
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(status.ok()) << status;
}

INSTANTIATE_TEST_SUITE_P(AllStores, RunStoreTest,
                         ::testing::Values(StoreKind::kInMemory, StoreKind::kRocksDb), KindName);

}  // namespace
}  // namespace baton::orchestrator
