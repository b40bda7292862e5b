// The RunStore contract, run against every implementation.
#include "orchestrator/store/run_store.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
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
using ::testing::HasSubstr;
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

// An approval of `run_id`'s tool call at `step`, with the id the orchestrator gives it.
v1::Approval MakeApproval(const std::string& run_id, int32_t step,
                          v1::Approval::State state = v1::Approval::PENDING,
                          const std::string& agent = "writer") {
  v1::Approval approval;
  approval.set_approval_id(absl::StrCat(run_id, ":", step, ":toolu_", step));
  approval.set_run_id(run_id);
  approval.set_agent_name(agent);
  approval.set_step(step);
  approval.set_tool_use_id(absl::StrCat("toolu_", step));
  approval.set_kind(v1::Approval::TOOL_CALL);
  approval.set_tool("deploy");
  approval.set_input_json(absl::StrCat("{\"step\":", step, "}"));
  approval.set_state(state);
  return approval;
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

std::vector<std::string> Ids(const std::vector<v1::Approval>& approvals) {
  std::vector<std::string> out;
  for (const auto& a : approvals) out.push_back(a.approval_id());
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

  std::vector<std::string> Waiting() {
    std::vector<std::string> out;
    EXPECT_TRUE(store().ScanWaiting([&](const std::string& id) { out.push_back(id); }).ok());
    return out;
  }

  std::optional<std::string> SessionHead(const std::string& session_id) {
    auto head = store().GetSessionHead("default", session_id);
    EXPECT_TRUE(head.ok()) << head.status();
    return head.ok() ? *head : std::nullopt;
  }

  std::vector<std::string> ListAllApprovals(const ApprovalFilter& filter, int page_size) {
    std::vector<std::string> out;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = store().ListApprovals(filter, page_size, token);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      EXPECT_LE(page->approvals.size(), static_cast<size_t>(page_size));
      for (const auto& approval : page->approvals) out.push_back(approval.approval_id());
      if (page->next_page_token.empty()) break;
      EXPECT_THAT(page->approvals, SizeIs(page_size)) << "only a full page may have a next page";
      token = page->next_page_token;
    }
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

// ---- A run's parts: its waits and graph spec (StoreBatch) ---------------------

v1::Wait ChildWait(int i) {
  v1::Wait wait;
  wait.set_tool_use_id(absl::StrCat("toolu_", i));
  wait.set_step(1);
  wait.set_child_run_id(RunIdAt(100 + i));
  return wait;
}

std::vector<std::string> WaitIds(const v1::Run& run) {
  std::vector<std::string> out;
  for (const v1::Wait& wait : run.waits()) out.push_back(wait.tool_use_id());
  return out;
}

TEST_P(RunStoreTest, WaitsAreWrittenApartAndKeptByRewritesOfTheRecord) {
  const std::string id = RunIdAt(1);
  StoreBatch create;
  create.put_runs.push_back(MakeRun(id, v1::RUNNING));
  for (int i = 0; i < 3; ++i) create.wait_writes.push_back(WaitWrite{id, i, ChildWait(i)});
  ASSERT_TRUE(store().Commit(create).ok());

  // The record rewritten without its waits, and once with other waits, which a put
  // does not write: the stored ones stay.
  v1::Run waiting = MakeRun(id, v1::WAITING);
  waiting.set_steps(2);
  StoreBatch rewrite;
  rewrite.put_runs.push_back(waiting);
  *waiting.add_waits() = ChildWait(9);
  rewrite.put_runs.push_back(waiting);
  // A child ends: its wait alone is written again.
  v1::Wait done = ChildWait(1);
  done.set_done(true);
  done.add_results()->mutable_tool_result()->set_content_json("\"child output\"");
  rewrite.wait_writes.push_back(WaitWrite{id, 1, done});
  ASSERT_TRUE(store().Commit(rewrite).ok());

  for (int open = 0; open < 2; ++open) {
    v1::Run got = GetRunOrDie(id);
    EXPECT_EQ(got.state(), v1::WAITING) << open;
    EXPECT_EQ(got.steps(), 2);
    EXPECT_THAT(WaitIds(got), ElementsAre("toolu_0", "toolu_1", "toolu_2"));
    ASSERT_EQ(got.waits_size(), 3);
    EXPECT_EQ(got.waits(1).SerializeAsString(), done.SerializeAsString());
    EXPECT_FALSE(got.waits(0).done());
    auto page = store().ListRuns({}, 10, "");
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_THAT(page->runs, SizeIs(1));
    EXPECT_EQ(page->runs[0].SerializeAsString(), got.SerializeAsString());
    Reopen();
  }

  // Resumed: every wait goes, and new ones start again from index 0.
  StoreBatch resume;
  resume.put_runs.push_back(MakeRun(id, v1::QUEUED));
  for (int i = 0; i < 3; ++i) resume.wait_writes.push_back(WaitWrite{id, i, std::nullopt});
  ASSERT_TRUE(store().Commit(resume).ok());
  EXPECT_THAT(WaitIds(GetRunOrDie(id)), IsEmpty());
  StoreBatch again;
  again.wait_writes.push_back(WaitWrite{id, 0, ChildWait(7)});
  ASSERT_TRUE(store().Commit(again).ok());
  Reopen();
  EXPECT_THAT(WaitIds(GetRunOrDie(id)), ElementsAre("toolu_7"));
}

TEST_P(RunStoreTest, AnAgentAndInputAreStoredWithTheRunsCreationAndKeptByRewritesWithoutThem) {
  const std::string id = RunIdAt(1);
  v1::Run run = MakeRun(id, v1::QUEUED);
  run.mutable_agent()->set_system(std::string(20000, 's'));
  run.mutable_agent()->set_model("claude-sonnet-4-5");
  run.mutable_agent()->add_allowed_tools("echo");
  run.set_input(std::string(5000, 'i'));
  StoreBatch create;
  create.put_runs.push_back(run);
  // Rewritten in the same batch (a run created and leased at once) and later, as the
  // scheduler rewrites a record: the agent cut to its name, no input.
  v1::Run record = run;
  record.clear_input();
  record.mutable_agent()->clear_system();
  record.mutable_agent()->clear_allowed_tools();
  record.set_state(v1::RUNNING);
  create.put_runs.push_back(record);
  ASSERT_TRUE(store().Commit(create).ok());
  record.set_steps(3);
  StoreBatch step;
  step.put_runs.push_back(record);
  ASSERT_TRUE(store().Commit(step).ok());

  v1::Run want = run;
  want.set_state(v1::RUNNING);
  want.set_steps(3);
  for (int open = 0; open < 2; ++open) {
    EXPECT_EQ(GetRunOrDie(id).SerializeAsString(), want.SerializeAsString()) << open;
    RunFilter by_agent;
    by_agent.agent_name = "writer";
    auto page = store().ListRuns(by_agent, 10, "");
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_THAT(page->runs, SizeIs(1));
    EXPECT_EQ(page->runs[0].SerializeAsString(), want.SerializeAsString());
    Reopen();
  }
}

// The scheduler names the runs a batch creates (StoreBatch::created_runs) so the store
// need not look them up: such a run is stored and indexed as one that was looked up.
TEST_P(RunStoreTest, ARunNamedAsCreatedIsStoredAndIndexedAsOneLookedUp) {
  std::vector<std::string> ids;
  for (const bool named : {false, true}) {
    const std::string id = RunIdAt(named ? 2 : 1);
    ids.insert(ids.begin(), id);
    v1::Run run = MakeRun(id, v1::QUEUED);
    run.mutable_agent()->set_system("be brief");
    run.set_input(named ? "named" : "looked up");
    StoreBatch create;
    create.put_runs.push_back(run);
    if (named) create.created_runs.push_back(id);
    // Created and leased in one batch, as a run a parked poll takes at once.
    v1::Run record = run;
    record.clear_input();
    record.mutable_agent()->clear_system();
    record.set_state(v1::RUNNING);
    create.put_runs.push_back(record);
    ASSERT_TRUE(store().Commit(create).ok());
    record.set_state(v1::SUCCEEDED);
    StoreBatch end;
    end.put_runs.push_back(record);
    ASSERT_TRUE(store().Commit(end).ok());
  }
  for (int open = 0; open < 2; ++open) {
    for (const std::string& id : ids) {
      const v1::Run got = GetRunOrDie(id);
      EXPECT_EQ(got.state(), v1::SUCCEEDED) << id;
      EXPECT_EQ(got.agent().system(), "be brief") << id;
      EXPECT_EQ(got.input(), id == RunIdAt(2) ? "named" : "looked up");
    }
    for (const v1::RunState state : {v1::QUEUED, v1::RUNNING}) {
      RunFilter by_state;
      by_state.state = state;
      EXPECT_THAT(ListAllRuns(by_state, 10), IsEmpty()) << v1::RunState_Name(state) << " " << open;
    }
    RunFilter succeeded;
    succeeded.state = v1::SUCCEEDED;
    EXPECT_EQ(ListAllRuns(succeeded, 10), ids) << open;
    RunFilter by_agent;
    by_agent.agent_name = "writer";
    EXPECT_EQ(ListAllRuns(by_agent, 10), ids) << open;
    EXPECT_EQ(ListAllRuns({}, 10), ids) << open;
    Reopen();
  }
}

TEST_P(RunStoreTest, AGraphSpecIsStoredWithTheRunsCreationAndKeptByRewritesWithoutIt) {
  const std::string id = RunIdAt(1);
  v1::Run graph_run = MakeRun(id, v1::WAITING);
  graph_run.clear_agent();
  v1::GraphSpec& spec = *graph_run.mutable_graph();
  spec.set_name("review");
  spec.set_version(3);
  for (const char* node : {"plan", "write", "check"}) {
    v1::GraphNode& n = *spec.add_nodes();
    n.set_id(node);
    n.set_description(std::string(200, 'd'));
  }
  StoreBatch create;
  create.put_runs.push_back(graph_run);
  ASSERT_TRUE(store().Commit(create).ok());

  // Later rewrites carry the graph's name and version only, or no graph at all.
  v1::Run record = graph_run;
  record.mutable_graph()->clear_nodes();
  record.set_children(1);
  StoreBatch step;
  step.put_runs.push_back(record);
  ASSERT_TRUE(store().Commit(step).ok());

  for (int open = 0; open < 2; ++open) {
    v1::Run got = GetRunOrDie(id);
    EXPECT_EQ(got.children(), 1) << open;
    EXPECT_EQ(got.graph().SerializeAsString(), spec.SerializeAsString());
    auto page = store().ListRuns({}, 10, "");
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_THAT(page->runs, SizeIs(1));
    EXPECT_EQ(page->runs[0].graph().SerializeAsString(), spec.SerializeAsString());
    Reopen();
  }
}

TEST_P(RunStoreTest, AWaitWriteWithANegativeIndexIsRefusedNamingIt) {
  StoreBatch batch;
  batch.put_runs.push_back(MakeRun(RunIdAt(1)));
  batch.wait_writes.push_back(WaitWrite{RunIdAt(1), -1, ChildWait(0)});
  absl::Status status = store().Commit(batch);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("wait_writes[0].index"));
  EXPECT_FALSE(store().GetRun(RunIdAt(1))->has_value());
}

TEST_P(RunStoreTest, LookupRequestIdFindsTheRun) {
  StoreBatch batch;
  batch.put_runs.push_back(MakeRun(RunIdAt(1)));
  batch.request_ids.emplace_back("client-req-1", RunIdAt(1));
  ASSERT_TRUE(store().Commit(batch).ok());

  auto found = store().LookupRequestId("default", "client-req-1");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, RunIdAt(1));
  auto missing = store().LookupRequestId("default", "client-req-2");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  auto prefix = store().LookupRequestId("default", "client-req");
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

TEST_P(RunStoreTest, AJournalIsReadFromAfterASeq) {
  StoreBatch batch;
  for (int64_t seq : {1, 2, 3, 300}) batch.journal.emplace_back("run_x", MakeJournal(seq, "x"));
  batch.journal.emplace_back("run_y", MakeJournal(4, "y"));
  ASSERT_TRUE(store().Commit(batch).ok());
  auto tail = store().ReadJournal("run_x", 2);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_THAT(Seqs(*tail), ElementsAre(3, 300));
  EXPECT_THAT(Seqs(*store().ReadJournal("run_x", 300)), IsEmpty());
  EXPECT_THAT(Seqs(*store().ReadJournal("run_x", -5)), ElementsAre(1, 2, 3, 300));
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

// What a watcher reads: every run's events, appended by batches that interleave runs
// (one whose id is a prefix of another's, one in a namespace, one below a root), in
// runs of one or many, some hundreds of bytes or tens of kilobytes long, read back
// whole from every seq with every limit, before and after a reopen.
TEST_P(RunStoreTest, EventsAppendedByInterleavedBatchesReadBackFromEverySeq) {
  const std::vector<std::string> runs = {"run_a", "run_ab", "team/run_c"};
  std::map<std::string, std::vector<v1::RunEvent>> want;
  std::mt19937 rng(7);
  for (int b = 0; b < 12; ++b) {
    StoreBatch batch;
    for (int n = 0; n < 9; ++n) {
      const std::string& run_id = runs[rng() % runs.size()];
      std::vector<v1::RunEvent>& events = want[run_id];
      v1::RunEvent event = MakeEvent(run_id, static_cast<int64_t>(events.size()) + 1);
      event.set_time_ms(1'700'000'000'000 + b);
      if (run_id == "team/run_c") event.set_root_run_id("team/run_root");
      // Sizes around the one-byte and two-byte lengths, and a large one.
      const size_t sizes[] = {0, 100, 130, 190, 300, 20'000};
      event.mutable_text()->set_text(std::string(sizes[rng() % 6], static_cast<char>('a' + b)));
      events.push_back(event);
      batch.events.push_back(std::move(event));
    }
    ASSERT_TRUE(store().Commit(batch).ok());
  }
  auto check = [&](const std::string& when) {
    for (const auto& [run_id, events] : want) {
      const int64_t last = static_cast<int64_t>(events.size());
      for (int64_t after = -1; after <= last + 1; ++after) {
        for (int limit : {0, 1, 2, 5}) {
          absl::StatusOr<std::vector<v1::RunEvent>> got = store().ReadEvents(run_id, after, limit);
          ASSERT_TRUE(got.ok()) << got.status();
          const int64_t from = std::clamp<int64_t>(after, 0, last);
          const int64_t to = limit == 0 ? last : std::min(last, from + limit);
          ASSERT_EQ(static_cast<int64_t>(got->size()), to - from) << when << " " << run_id << " after " << after;
          for (int64_t i = from; i < to; ++i) {
            EXPECT_EQ((*got)[i - from].SerializeAsString(), events[i].SerializeAsString())
                << when << " " << run_id << " after " << after << " limit " << limit << ": "
                << (*got)[i - from].ShortDebugString().substr(0, 200);
          }
        }
      }
    }
  };
  check("written");
  Reopen();
  check("reopened");
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

  auto latest = store().GetAgent("default", "alpha", 0);
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->version(), 256);
  EXPECT_EQ((*latest)->system(), "alpha v256");

  auto v2 = store().GetAgent("default", "alpha", 2);
  ASSERT_TRUE(v2.ok());
  ASSERT_TRUE(v2->has_value());
  EXPECT_EQ((*v2)->system(), "alpha v2");

  auto missing_version = store().GetAgent("default", "alpha", 4);
  ASSERT_TRUE(missing_version.ok());
  EXPECT_FALSE(missing_version->has_value());
  for (const char* name : {"alph", "alphabets", "beta", ""}) {
    auto missing = store().GetAgent("default", name, 0);
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value()) << name;
  }
  auto other = store().GetAgent("default", "alphabet", 0);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->has_value());
  EXPECT_EQ((*other)->version(), 1);
  EXPECT_EQ(store().GetAgent("default", "alpha", -1).status().code(), absl::StatusCode::kInvalidArgument);
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
    auto page = store().ListAgents("default", 4, token);
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

  auto first_two = store().ListAgents("default", 2, "");
  ASSERT_TRUE(first_two.ok());
  ASSERT_THAT(*first_two, SizeIs(2));
  EXPECT_EQ((*first_two)[1].name(), "a.b");
  auto after_last = store().ListAgents("default", 10, "zeta");
  ASSERT_TRUE(after_last.ok());
  EXPECT_THAT(*after_last, IsEmpty());
  auto default_size = store().ListAgents("default", 0, "");
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

  RunFilter both;
  both.state = v1::SUCCEEDED;
  both.agent_name = "writer";
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

  RunFilter by_state;
  by_state.state = v1::SUCCEEDED;
  for (const std::string& id : ListAllRuns(by_state, 3)) {
    EXPECT_EQ(GetRunOrDie(id).state(), v1::SUCCEEDED);
  }
  EXPECT_THAT(ListAllRuns(by_state, 3), SizeIs(8));
  RunFilter by_agent;
  by_agent.agent_name = "reviewer";
  EXPECT_THAT(ListAllRuns(by_agent, 4), SizeIs(11));
  RunFilter nobody;
  nobody.agent_name = "nobody";
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

TEST_P(RunStoreTest, ListRunsFiltersByParentRunAndSession) {
  // A root with three children (one a grandparent), a second root with one child, and
  // a session of three runs that is not a tree.
  const std::string root = RunIdAt(0), other_root = RunIdAt(1);
  StoreBatch batch;
  batch.put_runs.push_back(MakeRun(root, v1::WAITING));
  batch.put_runs.push_back(MakeRun(other_root, v1::RUNNING));
  auto child = [&](int64_t n, const std::string& parent, v1::RunState state) {
    v1::Run run = MakeRun(RunIdAt(n), state, "researcher");
    run.set_parent_run_id(parent);
    run.set_root_run_id(root);
    run.set_depth(1);
    batch.put_runs.push_back(run);
  };
  child(2, root, v1::SUCCEEDED);
  child(3, other_root, v1::RUNNING);
  child(4, root, v1::WAITING);
  child(5, RunIdAt(4), v1::RUNNING);  // a grandchild: not a child of the root
  child(6, root, v1::RUNNING);
  for (int64_t n : {7, 8, 9}) {
    v1::Run run = MakeRun(RunIdAt(n), n == 9 ? v1::QUEUED : v1::SUCCEEDED);
    run.set_session_id("sess-a");
    run.set_session_seq(static_cast<int32_t>(n - 6));
    batch.put_runs.push_back(run);
  }
  v1::Run elsewhere = MakeRun(RunIdAt(10));
  elsewhere.set_session_id("sess-ab");  // "sess-a" is a prefix of it: no match
  batch.put_runs.push_back(elsewhere);
  ASSERT_TRUE(store().Commit(batch).ok());

  RunFilter children_of_root;
  children_of_root.parent_run_id = root;
  const std::vector<std::string> root_children = {RunIdAt(6), RunIdAt(4), RunIdAt(2)};
  EXPECT_EQ(ListAllRuns(children_of_root, 1), root_children);
  EXPECT_EQ(ListAllRuns(children_of_root, 2), root_children);
  // A page that holds every match says there is no next page, though more runs follow.
  auto exact = store().ListRuns(children_of_root, 3, "");
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(Ids(exact->runs), root_children);
  EXPECT_EQ(exact->next_page_token, "");

  RunFilter running_children = children_of_root;
  running_children.state = v1::RUNNING;
  EXPECT_EQ(ListAllRuns(running_children, 5), (std::vector<std::string>{RunIdAt(6)}));
  RunFilter grandchildren;
  grandchildren.parent_run_id = RunIdAt(4);
  EXPECT_EQ(ListAllRuns(grandchildren, 5), (std::vector<std::string>{RunIdAt(5)}));
  RunFilter childless;
  childless.parent_run_id = RunIdAt(2);
  EXPECT_THAT(ListAllRuns(childless, 5), IsEmpty());

  RunFilter session;
  session.session_id = "sess-a";
  const std::vector<std::string> session_runs = {RunIdAt(9), RunIdAt(8), RunIdAt(7)};
  EXPECT_EQ(ListAllRuns(session, 1), session_runs);
  EXPECT_EQ(ListAllRuns(session, 50), session_runs);
  RunFilter finished_in_session = session;
  finished_in_session.state = v1::SUCCEEDED;
  EXPECT_EQ(ListAllRuns(finished_in_session, 50),
            (std::vector<std::string>{RunIdAt(8), RunIdAt(7)}));
  RunFilter unknown_session;
  unknown_session.session_id = "sess";
  EXPECT_THAT(ListAllRuns(unknown_session, 50), IsEmpty());

  // Both at once: no child of the root is in the session.
  RunFilter both = children_of_root;
  both.session_id = "sess-a";
  EXPECT_THAT(ListAllRuns(both, 50), IsEmpty());
  // An agent filter still applies alongside.
  RunFilter writer_children = children_of_root;
  writer_children.agent_name = "writer";
  EXPECT_THAT(ListAllRuns(writer_children, 50), IsEmpty());
}

TEST_P(RunStoreTest, ListRunsKeepsOnlyRunsWithEveryLabelOfTheFilter) {
  StoreBatch batch;
  auto labelled = [&](int64_t n, std::map<std::string, std::string> labels) {
    v1::Run run = MakeRun(RunIdAt(n), n % 2 == 0 ? v1::SUCCEEDED : v1::QUEUED);
    run.mutable_labels()->insert(labels.begin(), labels.end());
    batch.put_runs.push_back(run);
  };
  labelled(0, {{"team", "a"}, {"env", "prod"}});
  labelled(1, {{"team", "a"}});
  labelled(2, {{"team", "b"}, {"env", "prod"}});
  labelled(3, {{"team", "a"}, {"env", "prod"}, {"tier", "1"}});
  labelled(4, {});
  labelled(5, {{"team", "ab"}});  // "a" is a prefix of its value: no match
  ASSERT_TRUE(store().Commit(batch).ok());

  RunFilter team_a;
  team_a.labels = {{"team", "a"}};
  EXPECT_EQ(ListAllRuns(team_a, 1), (std::vector<std::string>{RunIdAt(3), RunIdAt(1), RunIdAt(0)}));
  RunFilter team_a_prod = team_a;
  team_a_prod.labels["env"] = "prod";
  EXPECT_EQ(ListAllRuns(team_a_prod, 50), (std::vector<std::string>{RunIdAt(3), RunIdAt(0)}));
  RunFilter succeeded_prod;
  succeeded_prod.labels = {{"env", "prod"}};
  succeeded_prod.state = v1::SUCCEEDED;
  EXPECT_EQ(ListAllRuns(succeeded_prod, 50), (std::vector<std::string>{RunIdAt(2), RunIdAt(0)}));
  RunFilter empty_value;
  empty_value.labels = {{"team", ""}};
  EXPECT_THAT(ListAllRuns(empty_value, 50), IsEmpty()) << "a label the run lacks is not an empty one";
}

// ---- CountRuns ------------------------------------------------------------------

// CountRuns agrees with counting ListRuns' pages, state by state, for every kind of
// filter (the state index alone, joined with the agent's or parent's, labels), after
// runs change state and after a run is deleted.
TEST_P(RunStoreTest, CountRunsCountsWhatListRunsListsByState) {
  const std::string root = RunIdAt(0);
  StoreBatch batch;
  batch.put_runs.push_back(MakeRun(root, v1::WAITING, "planner"));
  for (int64_t n = 1; n < 60; ++n) {
    const v1::RunState states[] = {v1::QUEUED, v1::RUNNING, v1::SUCCEEDED, v1::FAILED, v1::CANCELLED};
    v1::Run run = MakeRun(RunIdAt(n), states[n % 5], n % 3 == 0 ? "reviewer" : "writer");
    if (n % 4 == 0) run.set_parent_run_id(root);
    if (n % 7 == 0) (*run.mutable_labels())["team"] = "a";
    batch.put_runs.push_back(run);
  }
  // Another namespace's runs are not counted in "default".
  batch.put_runs.push_back(MakeRun("team-x/" + RunIdAt(100), v1::QUEUED));
  ASSERT_TRUE(store().Commit(batch).ok());
  // State changes move runs between the state index's entries.
  StoreBatch moves;
  for (int64_t n : {1, 6, 11}) moves.put_runs.push_back(MakeRun(RunIdAt(n), v1::SUCCEEDED, n % 3 == 0 ? "reviewer" : "writer"));
  ASSERT_TRUE(store().Commit(moves).ok());
  StoreBatch deletes;
  deletes.run_deletes.push_back(GetRunOrDie(RunIdAt(2)));
  ASSERT_TRUE(store().Commit(deletes).ok());
  Reopen();

  auto listed = [&](RunFilter filter) {
    RunCounts counts;
    for (const std::string& id : ListAllRuns(filter, 1000)) ++counts[GetRunOrDie(id).state()];
    return counts;
  };
  RunFilter all, by_agent, by_parent, by_label, agent_and_label, parent_and_agent, other_ns, nobody;
  by_agent.agent_name = "reviewer";
  by_parent.parent_run_id = root;
  by_label.labels = {{"team", "a"}};
  agent_and_label.agent_name = "writer";
  agent_and_label.labels = {{"team", "a"}};
  parent_and_agent.parent_run_id = root;
  parent_and_agent.agent_name = "writer";
  other_ns.ns = "team-x";
  nobody.agent_name = "nobody";
  for (const RunFilter* filter :
       {&all, &by_agent, &by_parent, &by_label, &agent_and_label, &parent_and_agent, &other_ns, &nobody}) {
    absl::StatusOr<RunCounts> counts = store().CountRuns(*filter);
    ASSERT_TRUE(counts.ok()) << counts.status();
    EXPECT_EQ(*counts, listed(*filter)) << "agent " << filter->agent_name << ", parent " << filter->parent_run_id
                                        << ", " << filter->labels.size() << " labels, ns " << filter->ns;
  }
  absl::StatusOr<RunCounts> counts = store().CountRuns(all);
  ASSERT_TRUE(counts.ok());
  int64_t total = 0;
  for (const auto& [state, n] : *counts) {
    EXPECT_GT(n, 0) << "states without runs are absent";
    total += n;
  }
  EXPECT_EQ(total, 59) << "60 runs of default, one deleted";
  EXPECT_EQ(counts->at(v1::WAITING), 1);
  EXPECT_EQ(*store().CountRuns(other_ns), (RunCounts{{v1::QUEUED, 1}}));
  EXPECT_THAT(*store().CountRuns(nobody), IsEmpty());
  // CountRuns ignores the filter's state: every state is counted.
  RunFilter with_state = all;
  with_state.state = v1::QUEUED;
  EXPECT_EQ(*store().CountRuns(with_state), *counts);
}

// ---- Waiting runs ---------------------------------------------------------------

TEST_P(RunStoreTest, WaitingRunsArePutDeletedAndScannedInRunIdOrder) {
  StoreBatch batch;
  batch.waiting_puts = {RunIdAt(3), RunIdAt(1), RunIdAt(2), RunIdAt(1)};
  ASSERT_TRUE(store().Commit(batch).ok());
  EXPECT_THAT(Waiting(), ElementsAre(RunIdAt(1), RunIdAt(2), RunIdAt(3)));

  StoreBatch resume;
  resume.waiting_deletes = {RunIdAt(2), RunIdAt(9)};  // 9 never waited: no effect
  resume.waiting_puts = {RunIdAt(4)};
  ASSERT_TRUE(store().Commit(resume).ok());
  EXPECT_THAT(Waiting(), ElementsAre(RunIdAt(1), RunIdAt(3), RunIdAt(4)));
}

TEST_P(RunStoreTest, WaitingDeleteAndPutOfTheSameRunInOneBatchLeavesItWaiting) {
  StoreBatch first;
  first.waiting_puts = {RunIdAt(1)};
  ASSERT_TRUE(store().Commit(first).ok());
  // Deletes are applied before puts whatever their place in the batch, so a run that
  // is resumed and waits again in the same transition stays in the index.
  StoreBatch again;
  again.waiting_puts = {RunIdAt(1), RunIdAt(2)};
  again.waiting_deletes = {RunIdAt(1), RunIdAt(2)};
  ASSERT_TRUE(store().Commit(again).ok());
  EXPECT_THAT(Waiting(), ElementsAre(RunIdAt(1), RunIdAt(2)));
  Reopen();
  EXPECT_THAT(Waiting(), ElementsAre(RunIdAt(1), RunIdAt(2)));
}

// ---- Approvals ------------------------------------------------------------------

TEST_P(RunStoreTest, ApprovalIsUpsertedByApprovalId) {
  const v1::Approval pending = MakeApproval(RunIdAt(1), 3);
  StoreBatch request;
  request.approvals.push_back(pending);
  ASSERT_TRUE(store().Commit(request).ok());

  auto got = store().GetApproval(pending.approval_id());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->SerializeAsString(), pending.SerializeAsString());

  v1::Approval decided = pending;
  decided.set_state(v1::Approval::DECIDED);
  decided.mutable_decision()->set_approval_id(pending.approval_id());
  decided.mutable_decision()->set_decision(v1::DENY);
  decided.mutable_decision()->set_message("not on a Friday");
  decided.mutable_decision()->set_decided_by("alice");
  StoreBatch decide;
  decide.approvals.push_back(decided);
  ASSERT_TRUE(store().Commit(decide).ok());

  got = store().GetApproval(pending.approval_id());
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->state(), v1::Approval::DECIDED);
  EXPECT_EQ((*got)->decision().decided_by(), "alice");
  EXPECT_EQ((*got)->input_json(), pending.input_json());
  auto all = store().ListApprovals({"", "", ApprovalFilter::States::kAll}, 10, "");
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(all->approvals, SizeIs(1)) << "an upsert, not a second approval";

  for (const std::string& missing :
       {std::string(""), RunIdAt(1), pending.approval_id() + "x",
        pending.approval_id().substr(0, pending.approval_id().size() - 1)}) {
    auto none = store().GetApproval(missing);
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value()) << missing;
  }
}

TEST_P(RunStoreTest, ListApprovalsFiltersByStateRunAndAgent) {
  StoreBatch batch;
  // Run 1 (writer): pending at steps 1 and 2, decided at step 3.
  batch.approvals.push_back(MakeApproval(RunIdAt(1), 2));
  batch.approvals.push_back(MakeApproval(RunIdAt(1), 1));
  batch.approvals.push_back(MakeApproval(RunIdAt(1), 3, v1::Approval::DECIDED));
  // Run 2 (reviewer): one expired, one abandoned, one pending.
  batch.approvals.push_back(MakeApproval(RunIdAt(2), 1, v1::Approval::EXPIRED, "reviewer"));
  batch.approvals.push_back(MakeApproval(RunIdAt(2), 2, v1::Approval::ABANDONED, "reviewer"));
  batch.approvals.push_back(MakeApproval(RunIdAt(2), 4, v1::Approval::PENDING, "reviewer"));
  // Run 10 (writer): pending. Its id sorts after run 1's and run 2's.
  batch.approvals.push_back(MakeApproval(RunIdAt(10), 1));
  ASSERT_TRUE(store().Commit(batch).ok());
  auto id = [](int64_t run, int step) { return MakeApproval(RunIdAt(run), step).approval_id(); };

  using States = ApprovalFilter::States;
  EXPECT_EQ(ListAllApprovals({}, 50), (std::vector<std::string>{id(1, 1), id(1, 2), id(2, 4),
                                                                id(10, 1)}))
      << "the default filter lists pending approvals";
  EXPECT_EQ(ListAllApprovals({"", "", States::kDecided}, 50),
            (std::vector<std::string>{id(1, 3), id(2, 1), id(2, 2)}));
  EXPECT_EQ(ListAllApprovals({"", "", States::kAll}, 50),
            (std::vector<std::string>{id(1, 1), id(1, 2), id(1, 3), id(2, 1), id(2, 2),
                                      id(2, 4), id(10, 1)}));

  EXPECT_EQ(ListAllApprovals({RunIdAt(1), "", States::kPending}, 50),
            (std::vector<std::string>{id(1, 1), id(1, 2)}));
  EXPECT_EQ(ListAllApprovals({RunIdAt(1), "", States::kAll}, 1),
            (std::vector<std::string>{id(1, 1), id(1, 2), id(1, 3)}));
  EXPECT_EQ(ListAllApprovals({RunIdAt(2), "", States::kDecided}, 1),
            (std::vector<std::string>{id(2, 1), id(2, 2)}));
  EXPECT_THAT(ListAllApprovals({RunIdAt(3), "", States::kAll}, 50), IsEmpty());

  EXPECT_EQ(ListAllApprovals({"", "reviewer", States::kAll}, 2),
            (std::vector<std::string>{id(2, 1), id(2, 2), id(2, 4)}));
  EXPECT_EQ(ListAllApprovals({"", "writer", States::kPending}, 2),
            (std::vector<std::string>{id(1, 1), id(1, 2), id(10, 1)}));
  EXPECT_THAT(ListAllApprovals({RunIdAt(1), "reviewer", States::kAll}, 50), IsEmpty());
  EXPECT_THAT(ListAllApprovals({"", "nobody", States::kAll}, 50), IsEmpty());

  // A decision moves an approval from the pending list to the decided one.
  StoreBatch decide;
  decide.approvals.push_back(MakeApproval(RunIdAt(1), 1, v1::Approval::DECIDED));
  ASSERT_TRUE(store().Commit(decide).ok());
  EXPECT_EQ(ListAllApprovals({RunIdAt(1), "", States::kPending}, 50),
            (std::vector<std::string>{id(1, 2)}));
  EXPECT_EQ(ListAllApprovals({RunIdAt(1), "", States::kDecided}, 50),
            (std::vector<std::string>{id(1, 1), id(1, 3)}));
}

// The pending list (RocksDbRunStore reads it through an index of the pending ones)
// follows every way an approval stops being pending: decided later, decided in the
// batch that made it, its run deleted; and survives a reopen.
TEST_P(RunStoreTest, ThePendingListFollowsDecisionsAndDeletesAcrossReopen) {
  using States = ApprovalFilter::States;
  auto id = [](int64_t run, int step) { return MakeApproval(RunIdAt(run), step).approval_id(); };
  StoreBatch batch;
  for (int64_t run : {1, 2}) {
    batch.put_runs.push_back(MakeRun(RunIdAt(run), v1::SUCCEEDED));
    batch.approvals.push_back(MakeApproval(RunIdAt(run), 1));
    batch.approvals.push_back(MakeApproval(RunIdAt(run), 2));
  }
  batch.approvals.push_back(MakeApproval(RunIdAt(2), 3));
  batch.approvals.push_back(MakeApproval(RunIdAt(2), 3, v1::Approval::EXPIRED));
  ASSERT_TRUE(store().Commit(batch).ok());
  EXPECT_EQ(ListAllApprovals({}, 1), (std::vector<std::string>{id(1, 1), id(1, 2), id(2, 1), id(2, 2)}));

  StoreBatch decide;
  decide.approvals.push_back(MakeApproval(RunIdAt(1), 1, v1::Approval::DECIDED));
  ASSERT_TRUE(store().Commit(decide).ok());
  StoreBatch deletes;
  deletes.run_deletes.push_back(GetRunOrDie(RunIdAt(2)));
  ASSERT_TRUE(store().Commit(deletes).ok());
  for (int open = 0; open < 2; ++open) {
    EXPECT_EQ(ListAllApprovals({}, 1), (std::vector<std::string>{id(1, 2)})) << open;
    EXPECT_EQ(ListAllApprovals({"", "", States::kAll}, 50), (std::vector<std::string>{id(1, 1), id(1, 2)}));
    Reopen();
  }
  // Pending again (a store does not judge the order of states): listed again.
  StoreBatch again;
  again.approvals.push_back(MakeApproval(RunIdAt(1), 1));
  ASSERT_TRUE(store().Commit(again).ok());
  EXPECT_EQ(ListAllApprovals({}, 50), (std::vector<std::string>{id(1, 1), id(1, 2)}));
}

TEST_P(RunStoreTest, ListApprovalsPagesInApprovalIdOrder) {
  StoreBatch batch;
  std::vector<std::string> all, pending;
  for (int i = 0; i < 23; ++i) {
    const auto state = i % 4 == 0 ? v1::Approval::DECIDED : v1::Approval::PENDING;
    v1::Approval approval = MakeApproval(RunIdAt(i), 1, state);
    all.push_back(approval.approval_id());
    if (state == v1::Approval::PENDING) pending.push_back(approval.approval_id());
    batch.approvals.push_back(approval);
  }
  std::shuffle(batch.approvals.begin(), batch.approvals.end(), std::mt19937(3));
  ASSERT_TRUE(store().Commit(batch).ok());
  ASSERT_THAT(pending, SizeIs(17));

  const ApprovalFilter any{"", "", ApprovalFilter::States::kAll};
  EXPECT_EQ(ListAllApprovals(any, 1), all);
  EXPECT_EQ(ListAllApprovals(any, 5), all);
  EXPECT_EQ(ListAllApprovals(any, 23), all);
  EXPECT_EQ(ListAllApprovals({}, 4), pending);
  EXPECT_EQ(ListAllApprovals({}, 17), pending);

  // A page that ends with the last match has no next page, even when it is full.
  auto exact = store().ListApprovals({}, 17, "");
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->next_page_token, "");
  auto default_size = store().ListApprovals(any, 0, "");
  ASSERT_TRUE(default_size.ok());
  EXPECT_THAT(default_size->approvals, SizeIs(23));
  EXPECT_EQ(default_size->next_page_token, "");

  // A token taken before a restart still continues where it left off, and an approval
  // decided meanwhile drops out of a pending listing without disturbing the paging.
  auto first = store().ListApprovals({}, 5, "");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(Ids(first->approvals),
            std::vector<std::string>(pending.begin(), pending.begin() + 5));
  ASSERT_NE(first->next_page_token, "");
  Reopen();
  StoreBatch decide;
  decide.approvals.push_back(MakeApproval(RunIdAt(7), 1, v1::Approval::DECIDED));
  ASSERT_TRUE(store().Commit(decide).ok());
  ASSERT_EQ(pending[5], MakeApproval(RunIdAt(7), 1).approval_id());
  auto second = store().ListApprovals({}, 5, first->next_page_token);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(Ids(second->approvals),
            std::vector<std::string>(pending.begin() + 6, pending.begin() + 11));
}

TEST_P(RunStoreTest, ListApprovalsPageSizeDefaultsTo50) {
  StoreBatch batch;
  for (int i = 0; i < 51; ++i) batch.approvals.push_back(MakeApproval(RunIdAt(i), 1));
  ASSERT_TRUE(store().Commit(batch).ok());
  auto page = store().ListApprovals({}, 0, "");
  ASSERT_TRUE(page.ok());
  EXPECT_THAT(page->approvals, SizeIs(50));
  ASSERT_NE(page->next_page_token, "");
  auto rest = store().ListApprovals({}, -1, page->next_page_token);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(Ids(rest->approvals),
            (std::vector<std::string>{MakeApproval(RunIdAt(50), 1).approval_id()}));
  EXPECT_EQ(rest->next_page_token, "");
}

TEST_P(RunStoreTest, ListApprovalsRefusesAPageTokenItDidNotIssue) {
  StoreBatch batch;
  for (int i = 0; i < 4; ++i) batch.approvals.push_back(MakeApproval(RunIdAt(i), 1));
  ASSERT_TRUE(store().Commit(batch).ok());
  auto first = store().ListApprovals({}, 2, "");
  ASSERT_TRUE(first.ok());
  const std::string token = first->next_page_token;
  ASSERT_GT(token.size(), 4u);

  std::string edited = token;
  edited[token.size() / 2] = edited[token.size() / 2] == 'A' ? 'B' : 'A';
  const std::vector<std::string> garbage = {
      "garbage",
      "not a token!",
      RunIdAt(1),                                // a ListRuns token
      MakeApproval(RunIdAt(1), 1).approval_id(),  // a bare approval id
      token.substr(0, token.size() - 2),          // truncated
      token + "AAAA",                             // extended
      edited,
      std::string(4, '\0'),
  };
  for (const std::string& bad : garbage) {
    auto page = store().ListApprovals({}, 2, bad);
    EXPECT_EQ(page.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  auto second = store().ListApprovals({}, 2, token);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(Ids(second->approvals),
            (std::vector<std::string>{MakeApproval(RunIdAt(2), 1).approval_id(),
                                      MakeApproval(RunIdAt(3), 1).approval_id()}));
}

// ---- Session heads --------------------------------------------------------------

TEST_P(RunStoreTest, SessionHeadIsTheLatestRunPut) {
  StoreBatch first;
  first.session_heads.emplace_back("sess-1", RunIdAt(1));
  first.session_heads.emplace_back("sess-2", RunIdAt(2));
  ASSERT_TRUE(store().Commit(first).ok());
  EXPECT_EQ(SessionHead("sess-1"), RunIdAt(1));
  EXPECT_EQ(SessionHead("sess-2"), RunIdAt(2));

  StoreBatch next;
  next.session_heads.emplace_back("sess-1", RunIdAt(3));
  next.session_heads.emplace_back("sess-1", RunIdAt(4));  // the last write of a key wins
  ASSERT_TRUE(store().Commit(next).ok());
  EXPECT_EQ(SessionHead("sess-1"), RunIdAt(4));
  EXPECT_EQ(SessionHead("sess-2"), RunIdAt(2));

  for (const char* missing : {"", "sess", "sess-10", "sess-3"}) {
    EXPECT_EQ(SessionHead(missing), std::nullopt) << missing;
  }
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
  batch.waiting_puts.push_back(run_id);
  batch.approvals.push_back(MakeApproval(run_id, 1));
  batch.session_heads.emplace_back("sess-" + run_id, run_id);
  return batch;
}

bool IsWaiting(RunStore& store, const std::string& run_id) {
  bool waiting = false;
  EXPECT_TRUE(store.ScanWaiting([&](const std::string& id) { waiting |= id == run_id; }).ok());
  return waiting;
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
  auto request = store.LookupRequestId("default", "req-" + run_id);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request->value_or(""), run_id);
  auto agent = store.GetAgent("default", "agent-" + run_id, 0);
  ASSERT_TRUE(agent.ok());
  EXPECT_TRUE(agent->has_value());
  EXPECT_TRUE(IsWaiting(store, run_id));
  auto approval = store.GetApproval(MakeApproval(run_id, 1).approval_id());
  ASSERT_TRUE(approval.ok());
  ASSERT_TRUE(approval->has_value());
  EXPECT_EQ((*approval)->run_id(), run_id);
  auto head = store.GetSessionHead("default", "sess-" + run_id);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->value_or(""), run_id);
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
  auto request = store.LookupRequestId("default", "req-" + run_id);
  ASSERT_TRUE(request.ok());
  EXPECT_FALSE(request->has_value());
  auto agent = store.GetAgent("default", "agent-" + run_id, 0);
  ASSERT_TRUE(agent.ok());
  EXPECT_FALSE(agent->has_value());
  EXPECT_FALSE(IsWaiting(store, run_id));
  auto approval = store.GetApproval(MakeApproval(run_id, 1).approval_id());
  ASSERT_TRUE(approval.ok());
  EXPECT_FALSE(approval->has_value());
  auto head = store.GetSessionHead("default", "sess-" + run_id);
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
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
      {"waiting_puts[1].run_id", [](StoreBatch& b) { b.waiting_puts.push_back(""); }},
      {"waiting_deletes[0].run_id",
       [](StoreBatch& b) { b.waiting_deletes.push_back(std::string("run\0w", 5)); }},
      {"approvals[1].approval_id", [](StoreBatch& b) { b.approvals.emplace_back(); }},
      {"session_heads[1].session_id",
       [](StoreBatch& b) { b.session_heads.emplace_back("", "run_s"); }},
      {"session_heads[1].run_id", [](StoreBatch& b) { b.session_heads.emplace_back("s", ""); }},
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
  auto agent = store().GetAgent("default", "agent-" + RunIdAt(0), 0);
  ASSERT_TRUE(agent.ok() && agent->has_value());
  EXPECT_EQ((*agent)->version(), 2);
  auto agents = store().ListAgents("default", 10, "");
  ASSERT_TRUE(agents.ok());
  EXPECT_THAT(*agents, SizeIs(3));
  EXPECT_EQ(ListAllRuns({}, 2), (std::vector<std::string>{RunIdAt(2), RunIdAt(1), RunIdAt(0)}));

  // And the store keeps working after the reopen.
  ASSERT_TRUE(store().Commit(EveryKindBatch(RunIdAt(5))).ok());
  Reopen();
  ExpectEveryKindPresent(store(), RunIdAt(5));
}

TEST_P(RunStoreTest, WaitingApprovalsAndSessionHeadsSurviveReopenIncludingChanges) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store().Commit(EveryKindBatch(RunIdAt(i))).ok());
  // Run 1 is resumed (its approval decided), run 2's session gains a run that waits on
  // run 2, and run 0 waits for a second approval.
  StoreBatch change;
  change.waiting_deletes.push_back(RunIdAt(1));
  change.approvals.push_back(MakeApproval(RunIdAt(1), 1, v1::Approval::DECIDED));
  change.put_runs.push_back(MakeRun(RunIdAt(3), v1::WAITING));
  change.waiting_puts.push_back(RunIdAt(3));
  change.session_heads.emplace_back("sess-" + RunIdAt(2), RunIdAt(3));
  change.approvals.push_back(MakeApproval(RunIdAt(0), 2));
  ASSERT_TRUE(store().Commit(change).ok());

  Reopen();
  EXPECT_THAT(Waiting(), ElementsAre(RunIdAt(0), RunIdAt(2), RunIdAt(3)));
  EXPECT_EQ(SessionHead("sess-" + RunIdAt(2)), RunIdAt(3));
  EXPECT_EQ(SessionHead("sess-" + RunIdAt(1)), RunIdAt(1));
  auto decided = store().GetApproval(MakeApproval(RunIdAt(1), 1).approval_id());
  ASSERT_TRUE(decided.ok() && decided->has_value());
  EXPECT_EQ((*decided)->state(), v1::Approval::DECIDED);
  EXPECT_EQ(ListAllApprovals({}, 2),
            (std::vector<std::string>{MakeApproval(RunIdAt(0), 1).approval_id(),
                                      MakeApproval(RunIdAt(0), 2).approval_id(),
                                      MakeApproval(RunIdAt(2), 1).approval_id()}));

  // And the new kinds keep working after the reopen.
  StoreBatch more;
  more.waiting_deletes.push_back(RunIdAt(0));
  more.session_heads.emplace_back("sess-new", RunIdAt(0));
  ASSERT_TRUE(store().Commit(more).ok());
  Reopen();
  EXPECT_THAT(Waiting(), ElementsAre(RunIdAt(2), RunIdAt(3)));
  EXPECT_EQ(SessionHead("sess-new"), RunIdAt(0));
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

// ---- Retention: the ended index and run deletes ----------------------------------------

v1::Run EndedAt(const std::string& run_id, int64_t end_time_ms, v1::RunState state = v1::SUCCEEDED) {
  v1::Run run = MakeRun(run_id, state);
  run.set_end_time_ms(end_time_ms);
  return run;
}

std::vector<std::string> EndedIds(const std::vector<EndedRun>& entries) {
  std::vector<std::string> out;
  for (const EndedRun& e : entries) out.push_back(absl::StrCat(e.run_id, "@", e.end_time_ms));
  return out;
}

TEST_P(RunStoreTest, EndedIndexListsRootRunsThatEndedOldestFirstAndNeverLiveOnes) {
  const std::string a = "team/" + RunIdAt(1), b = "team/" + RunIdAt(2), live = "team/" + RunIdAt(3),
                    child = "team/" + RunIdAt(4), other = RunIdAt(5);
  StoreBatch batch;
  batch.put_runs.push_back(EndedAt(a, 300));
  batch.put_runs.push_back(EndedAt(b, 100, v1::CANCELLED));
  batch.put_runs.push_back(MakeRun(live, v1::RUNNING));
  v1::Run ended_child = EndedAt(child, 50);  // its parent lives: deleted with it, later
  ended_child.set_parent_run_id(live);
  batch.put_runs.push_back(ended_child);
  batch.put_runs.push_back(EndedAt(other, 10, v1::FAILED));
  ASSERT_TRUE(store().Commit(batch).ok());
  // A live run that ends later gains its entry in the batch that ends it.
  StoreBatch waiting;
  const std::string later = "team/" + RunIdAt(6);
  waiting.put_runs.push_back(MakeRun(later, v1::WAITING));
  ASSERT_TRUE(store().Commit(waiting).ok());
  StoreBatch ends;
  ends.put_runs.push_back(EndedAt(later, 200));
  ASSERT_TRUE(store().Commit(ends).ok());
  // Put again as ended (a later write of the same record): still one entry.
  ASSERT_TRUE(store().Commit(ends).ok());
  Reopen();

  EXPECT_THAT(*store().ListEndedNamespaces(), ElementsAre("default", "team"));
  EXPECT_THAT(EndedIds(*store().ListEnded("team", 1000, 10)), ElementsAre(b + "@100", later + "@200", a + "@300"));
  EXPECT_THAT(EndedIds(*store().ListEnded("team", 200, 10)), ElementsAre(b + "@100"));
  EXPECT_THAT(EndedIds(*store().ListEnded("team", 1000, 2)), ElementsAre(b + "@100", later + "@200"));
  EXPECT_THAT(EndedIds(*store().ListEnded("default", 1000, 10)), ElementsAre(other + "@10"));
  EXPECT_THAT(*store().ListEnded("nobody", 1000, 10), IsEmpty());
}

TEST_P(RunStoreTest, RunDeletesRemoveEveryRecordOfTheRunAndNothingOfItsNeighbours) {
  // "run_..1" is a prefix of "run_..10": the ranges must not reach the neighbour.
  const std::string gone = "team/run_0000000001", kept = "team/run_00000000010";
  StoreBatch batch;
  for (const std::string& id : {gone, kept}) {
    v1::Run run = EndedAt(id, 100);
    run.set_request_id("req-" + id);
    run.set_parent_run_id("team/" + RunIdAt(99));  // a child: indexed under its parent
    batch.put_runs.push_back(run);
    batch.journal.emplace_back(id, MakeJournal(0));
    batch.journal.emplace_back(id, MakeJournal(1));
    batch.events.push_back(MakeEvent(id, 1));
    batch.events.push_back(MakeEvent(id, 2));
    batch.approvals.push_back(MakeApproval(id, 1, v1::Approval::ABANDONED));
    batch.request_ids.emplace_back("req-" + id, id);
    batch.wait_writes.push_back(WaitWrite{id, 0, ChildWait(0)});
  }
  ASSERT_TRUE(store().Commit(batch).ok());

  StoreBatch deletes;
  deletes.run_deletes.push_back(GetRunOrDie(gone));
  ASSERT_TRUE(store().Commit(deletes).ok());
  Reopen();

  EXPECT_FALSE(store().GetRun(gone)->has_value());
  EXPECT_THAT(*store().ReadJournal(gone), IsEmpty());
  EXPECT_THAT(*store().ReadEvents(gone, 0, 0), IsEmpty());
  EXPECT_FALSE(store().GetApproval(gone + ":1:toolu_1")->has_value());
  EXPECT_FALSE(store().LookupRequestId("team", "req-" + gone)->has_value());
  RunFilter children;
  children.ns = "team";
  children.parent_run_id = "team/" + RunIdAt(99);
  EXPECT_THAT(Ids(store().ListRuns(children, 10, "")->runs), ElementsAre(kept));
  RunFilter all;
  all.ns = "team";
  EXPECT_THAT(Ids(store().ListRuns(all, 10, "")->runs), ElementsAre(kept));

  EXPECT_THAT(WaitIds(GetRunOrDie(kept)), ElementsAre("toolu_0"));
  // The deleted run's parts went with it: the same id put again has none.
  StoreBatch again;
  again.put_runs.push_back(EndedAt(gone, 100));
  ASSERT_TRUE(store().Commit(again).ok());
  EXPECT_THAT(WaitIds(GetRunOrDie(gone)), IsEmpty());

  EXPECT_TRUE(store().GetRun(kept)->has_value());
  EXPECT_THAT(Seqs(*store().ReadJournal(kept)), ElementsAre(0, 1));
  EXPECT_THAT(Seqs(*store().ReadEvents(kept, 0, 0)), ElementsAre(1, 2));
  EXPECT_TRUE(store().GetApproval(kept + ":1:toolu_1")->has_value());
  EXPECT_EQ(store().LookupRequestId("team", "req-" + kept)->value_or(""), kept);
}

// Retention deletes a run's journal, events and parts as key ranges, while other runs
// go on appending to the same families (whose memtables keep insert hints beside the
// range deletions: rocksdb_run_store.cc says why the two never mix). Everything
// appended after, in the same memtables and after a reopen, reads back whole.
TEST_P(RunStoreTest, JournalsAndEventsAppendedAfterARunsDeletionReadBackWhole) {
  const std::vector<std::string> live = {RunIdAt(1), RunIdAt(3), RunIdAt(5)};
  const std::vector<std::string> deleted = {RunIdAt(2), RunIdAt(4)};
  std::map<std::string, int64_t> next;  // run id -> its next seq
  auto append = [&](const std::string& id, StoreBatch& batch) {
    const int64_t seq = next[id]++;
    batch.journal.emplace_back(id, MakeJournal(seq));
    batch.events.push_back(MakeEvent(id, seq + 1));
  };
  for (int round = 0; round < 40; ++round) {
    StoreBatch batch;
    for (const std::string& id : live) append(id, batch);
    // Each doomed run is written for a while, then deleted, between the others' appends.
    for (size_t i = 0; i < deleted.size(); ++i) {
      const int until = 10 + 15 * static_cast<int>(i);
      if (round < until) {
        if (round == 0) batch.put_runs.push_back(EndedAt(deleted[i], 100));
        append(deleted[i], batch);
      } else if (round == until) {
        batch.run_deletes.push_back(GetRunOrDie(deleted[i]));
      }
    }
    ASSERT_TRUE(store().Commit(batch).ok()) << round;
  }
  std::vector<int64_t> seqs, event_seqs;
  for (int64_t seq = 0; seq < 40; ++seq) {
    seqs.push_back(seq);
    event_seqs.push_back(seq + 1);
  }
  for (int open = 0; open < 2; ++open) {
    for (const std::string& id : live) {
      EXPECT_EQ(Seqs(*store().ReadJournal(id)), seqs) << id << " " << open;
      EXPECT_EQ(Seqs(*store().ReadEvents(id, 0, 0)), event_seqs) << id << " " << open;
    }
    for (const std::string& id : deleted) {
      EXPECT_THAT(*store().ReadJournal(id), IsEmpty()) << id << " " << open;
      EXPECT_THAT(*store().ReadEvents(id, 0, 0), IsEmpty()) << id << " " << open;
    }
    Reopen();
  }
}

TEST_P(RunStoreTest, EndedDeletesRemoveTheIndexEntry) {
  const std::string id = "team/" + RunIdAt(1);
  StoreBatch batch;
  batch.put_runs.push_back(EndedAt(id, 100));
  ASSERT_TRUE(store().Commit(batch).ok());
  StoreBatch deletes;
  deletes.run_deletes.push_back(EndedAt(id, 100));
  deletes.ended_deletes.push_back(EndedRun{100, id});
  ASSERT_TRUE(store().Commit(deletes).ok());
  Reopen();
  EXPECT_THAT(*store().ListEnded("team", 1000, 10), IsEmpty());
  EXPECT_THAT(*store().ListEndedNamespaces(), IsEmpty());
  EXPECT_FALSE(store().GetRun(id)->has_value());
}

INSTANTIATE_TEST_SUITE_P(AllStores, RunStoreTest,
                         ::testing::Values(StoreKind::kInMemory, StoreKind::kRocksDb), KindName);

}  // namespace
}  // namespace baton::orchestrator
