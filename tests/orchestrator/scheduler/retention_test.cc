// Retention (orchestrator/retention.h) over runs the scheduler made: the in-memory store
// and a FakeClock, so periods of hours pass at once. What a user relies on: ended runs
// go with everything of theirs once their period is over, and a run that is queued,
// running or waiting, or a child whose parent lives, is never touched.
#include "orchestrator/retention.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>

#include "absl/strings/str_cat.h"

#include "tests/orchestrator/scheduler/scheduler_fixture.h"

namespace baton::orchestrator {
namespace {

using ::testing::IsEmpty;

// The in-memory store, with `after_commit` run after each commit applies: what a crash
// right after that commit would leave.
class ObservedStore final : public RunStore {
 public:
  explicit ObservedStore(InMemoryRunStore& inner) : inner_(inner) {}
  std::function<void()> after_commit;

  absl::Status Commit(const StoreBatch& batch) override {
    absl::Status s = inner_.Commit(batch);
    if (s.ok() && after_commit) after_commit();
    return s;
  }
  using RunStore::CommitAsync;
  void CommitAsync(std::shared_ptr<const StoreBatch> batch, std::function<void(absl::Status)> done) override {
    done(Commit(*batch));
  }
  absl::StatusOr<std::optional<v1::Run>> GetRun(std::string_view id) override { return inner_.GetRun(id); }
  absl::StatusOr<RunPage> ListRuns(const RunFilter& f, int n, std::string_view token) override {
    return inner_.ListRuns(f, n, token);
  }
  absl::StatusOr<RunCounts> CountRuns(const RunFilter& f) override { return inner_.CountRuns(f); }
  absl::StatusOr<std::optional<std::string>> LookupRequestId(std::string_view ns, std::string_view id) override {
    return inner_.LookupRequestId(ns, id);
  }
  using RunStore::ReadJournal;
  absl::StatusOr<std::vector<v1::JournalEntry>> ReadJournal(std::string_view id, int64_t after) override {
    return inner_.ReadJournal(id, after);
  }
  absl::StatusOr<std::vector<v1::RunEvent>> ReadEvents(std::string_view id, int64_t after, int limit) override {
    return inner_.ReadEvents(id, after, limit);
  }
  absl::Status ScanQueue(const std::function<void(const QueueEntry&)>& fn) override { return inner_.ScanQueue(fn); }
  absl::Status ScanLeases(const std::function<void(const LeaseRecord&)>& fn) override {
    return inner_.ScanLeases(fn);
  }
  absl::StatusOr<std::optional<v1::AgentSpec>> GetAgent(std::string_view ns, std::string_view name,
                                                        int32_t version) override {
    return inner_.GetAgent(ns, name, version);
  }
  absl::StatusOr<std::vector<v1::AgentSpec>> ListAgents(std::string_view ns, int n, std::string_view t) override {
    return inner_.ListAgents(ns, n, t);
  }
  absl::StatusOr<std::optional<v1::GraphSpec>> GetGraph(std::string_view ns, std::string_view name,
                                                        int32_t version) override {
    return inner_.GetGraph(ns, name, version);
  }
  absl::StatusOr<std::vector<v1::GraphSpec>> ListGraphs(std::string_view ns, int n, std::string_view t) override {
    return inner_.ListGraphs(ns, n, t);
  }
  absl::Status ScanWaiting(const std::function<void(const std::string&)>& fn) override {
    return inner_.ScanWaiting(fn);
  }
  absl::StatusOr<std::optional<v1::Approval>> GetApproval(std::string_view id) override {
    return inner_.GetApproval(id);
  }
  absl::StatusOr<ApprovalPage> ListApprovals(const ApprovalFilter& f, int n, std::string_view t) override {
    return inner_.ListApprovals(f, n, t);
  }
  absl::StatusOr<std::optional<std::string>> GetSessionHead(std::string_view ns, std::string_view id) override {
    return inner_.GetSessionHead(ns, id);
  }
  absl::StatusOr<std::optional<v1::Namespace>> GetNamespace(std::string_view ns) override {
    return inner_.GetNamespace(ns);
  }
  absl::StatusOr<std::vector<v1::Namespace>> ListNamespaces() override { return inner_.ListNamespaces(); }
  absl::StatusOr<std::vector<std::string>> ListEndedNamespaces() override { return inner_.ListEndedNamespaces(); }
  absl::StatusOr<std::vector<EndedRun>> ListEnded(std::string_view ns, int64_t before, size_t limit) override {
    return inner_.ListEnded(ns, before, limit);
  }
  const std::string& PageTokenKey() const override { return inner_.PageTokenKey(); }

 private:
  InMemoryRunStore& inner_;
};

class RetentionTest : public SchedulerFixture {
 protected:
  SweepStats Sweep(absl::Duration default_retention, size_t batch_runs = 100, int list_page_runs = 1000,
                   RunStore* store = nullptr) {
    RetentionOptions options;
    options.default_retention = default_retention;
    options.batch_runs = batch_runs;
    options.list_page_runs = list_page_runs;
    RetentionSweeper sweeper(store != nullptr ? *store : store_, clock_, options);
    absl::StatusOr<SweepStats> stats = sweeper.Sweep();
    EXPECT_TRUE(stats.ok()) << stats.status();
    return stats.ok() ? *stats : SweepStats();
  }

  bool Exists(const std::string& run_id) { return store_.GetRun(run_id)->has_value(); }

  // The run, its journal and its events are all there, or all gone.
  void ExpectWhole(const std::string& run_id) {
    EXPECT_TRUE(Exists(run_id)) << run_id;
    EXPECT_FALSE(store_.ReadEvents(run_id, 0, 0)->empty()) << run_id;
  }
  void ExpectGone(const std::string& run_id) {
    EXPECT_FALSE(Exists(run_id)) << run_id;
    EXPECT_THAT(*store_.ReadJournal(run_id), IsEmpty()) << run_id;
    EXPECT_THAT(*store_.ReadEvents(run_id, 0, 0), IsEmpty()) << run_id;
  }

  // A run created in `ns`, leased, with one journaled turn, completed.
  std::string Finished(const std::string& input, const std::string& ns = "") {
    v1::Run run;
    *run.mutable_agent() = Agent();
    run.set_input(input);
    run.set_namespace_(ns);
    absl::StatusOr<v1::Run> created = absl::UnknownError("no answer");
    scheduler_->CreateRun(run, [&](absl::StatusOr<v1::Run> r) { created = std::move(r); });
    EXPECT_TRUE(created.ok()) << created.status();
    std::optional<TaskGrant> g = Poll();
    EXPECT_TRUE(g.has_value() && g->run.run_id() == created->run_id());
    EXPECT_TRUE(Append(*g, {Turn(0)}).ok());
    EXPECT_TRUE(Complete(*g, "done").ok());
    return created->run_id();
  }

  void PutRetention(const std::string& ns, std::optional<int64_t> seconds) {
    v1::Namespace settings;
    settings.set_name(ns);
    if (seconds.has_value()) settings.set_retention_seconds(*seconds);
    absl::StatusOr<v1::Namespace> stored = absl::UnknownError("no answer");
    scheduler_->PutNamespace(settings, [&](absl::StatusOr<v1::Namespace> s) { stored = std::move(s); });
    ASSERT_TRUE(stored.ok()) << stored.status();
  }
};

TEST_F(RetentionTest, EndedRunsGoAfterThePeriodAndLiveRunsAndChildrenOfLiveParentsStay) {
  // A parent WAITING for two children, one of which has ended; a run that succeeded; one
  // running; one queued; one cancelled while queued.
  std::optional<TaskGrant> p = StartParentOfTwoChildren();
  ASSERT_TRUE(p.has_value());
  const v1::Run parent = p->run;
  std::optional<TaskGrant> c1 = Poll();
  std::optional<TaskGrant> c2 = Poll();
  ASSERT_TRUE(c1.has_value() && c2.has_value());
  ASSERT_TRUE(Complete(*c1, "first answer").ok());
  const std::string done = Finished("finished");
  const v1::Run running = Create("running");
  ASSERT_TRUE(Poll().has_value());
  const v1::Run queued = Create("queued");
  const v1::Run cancelled = Create("cancelled");
  scheduler_->CancelRun(cancelled.run_id(), "not needed", [](absl::StatusOr<v1::Run>) {});
  ASSERT_EQ(Get(cancelled.run_id()).state(), v1::CANCELLED);

  // Within the period: nothing goes.
  clock_.Advance(absl::Minutes(59));
  EXPECT_EQ(Sweep(absl::Hours(1)).runs, 0u);
  ExpectWhole(done);

  clock_.Advance(absl::Minutes(2));
  SweepStats stats = Sweep(absl::Hours(1));
  EXPECT_EQ(stats.roots, 2u);
  EXPECT_EQ(stats.runs, 2u);
  ExpectGone(done);
  ExpectGone(cancelled.run_id());
  const RunPage listed = *store_.ListRuns(RunFilter(), 100, "");
  for (const v1::Run& run : listed.runs) {
    EXPECT_NE(run.run_id(), done);
    EXPECT_NE(run.run_id(), cancelled.run_id());
  }
  // Waiting, running, queued: untouched, as is the child that ended under a live parent.
  ExpectWhole(parent.run_id());
  EXPECT_EQ(Get(parent.run_id()).state(), v1::WAITING);
  ExpectWhole(c1->run.run_id());
  ExpectWhole(c2->run.run_id());
  ExpectWhole(running.run_id());
  ExpectWhole(queued.run_id());
  EXPECT_EQ(Get(running.run_id()).state(), v1::RUNNING);
  EXPECT_EQ(Get(queued.run_id()).state(), v1::QUEUED);
  EXPECT_FALSE(Journal(parent.run_id()).empty());

  // The tree ends: it goes as one, children with it, once the period is over.
  ASSERT_TRUE(Complete(*c2, "second answer").ok());
  // The queued run is older in the queue than the parent queued again: leased first.
  std::optional<TaskGrant> older = Poll();
  ASSERT_TRUE(older.has_value());
  ASSERT_EQ(older->run.run_id(), queued.run_id());
  std::optional<TaskGrant> again = Poll();
  ASSERT_TRUE(again.has_value());
  ASSERT_EQ(again->run.run_id(), parent.run_id());
  ASSERT_TRUE(Complete(*again, "both done").ok());
  clock_.Advance(absl::Minutes(30));
  EXPECT_EQ(Sweep(absl::Hours(1)).runs, 0u);
  ExpectWhole(c1->run.run_id());
  clock_.Advance(absl::Minutes(31));
  // Batches of two runs: the tree of three takes two batches, the root's last.
  stats = Sweep(absl::Hours(1), 2);
  EXPECT_EQ(stats.roots, 1u);
  EXPECT_EQ(stats.runs, 3u);
  ExpectGone(parent.run_id());
  ExpectGone(c1->run.run_id());
  ExpectGone(c2->run.run_id());
  EXPECT_FALSE(store_.LookupRequestId("default", c1->run.request_id())->has_value());
  RunFilter children;
  children.parent_run_id = parent.run_id();
  EXPECT_THAT(store_.ListRuns(children, 100, "")->runs, IsEmpty());
  EXPECT_THAT(*store_.ListEnded("default", clock_.NowMillis(), 100), IsEmpty());
  ExpectWhole(running.run_id());
  ExpectWhole(queued.run_id());
}

// A tree is walked a page of children at a time (here 2), each run deleted after its
// children: a tree wider than a page and four levels deep goes whole, and another
// ended tree within its period stays. After every batch (what a crash would leave)
// each run left still has its parent, and the root its index entry, so the next
// sweep finds all that is left.
TEST_F(RetentionTest, ATreeWiderThanAPageAndSeveralLevelsDeepGoesWholeWithNoOrphanBetweenBatches) {
  // root: 5 children; the first has 3; the first of those has 1.
  std::vector<std::string> ids;
  std::map<std::string, std::string> parents;
  StoreBatch batch;
  auto put = [&](const std::string& id, const std::string& parent) {
    parents[id] = parent;
    v1::Run run;
    run.set_run_id(id);
    run.set_parent_run_id(parent);
    run.set_state(v1::SUCCEEDED);
    run.set_create_time_ms(clock_.NowMillis());
    run.set_end_time_ms(clock_.NowMillis());
    batch.put_runs.push_back(run);
    batch.created_runs.push_back(id);
    v1::RunEvent event;
    event.set_run_id(id);
    event.set_seq(1);
    event.mutable_text()->set_text("ended");
    batch.events.push_back(event);
    ids.push_back(id);
  };
  put("default/run_tree", "");
  for (int i = 0; i < 5; ++i) put(absl::StrCat("default/run_tree_c", i), "default/run_tree");
  for (int i = 0; i < 3; ++i) put(absl::StrCat("default/run_tree_c0_g", i), "default/run_tree_c0");
  put("default/run_tree_c0_g0_x", "default/run_tree_c0_g0");
  ASSERT_TRUE(store_.Commit(batch).ok());
  clock_.Advance(absl::Minutes(90));
  const std::string recent = Finished("ended within the period");

  ObservedStore observed(store_);
  int commits = 0;
  observed.after_commit = [&] {
    ++commits;
    const bool root_left = Exists("default/run_tree");
    bool any_left = false;
    for (const std::string& id : ids) {
      if (!Exists(id)) continue;
      any_left = true;
      if (!parents[id].empty()) EXPECT_TRUE(Exists(parents[id])) << id << " outlived its parent, commit " << commits;
    }
    const bool indexed = !store_.ListEnded("default", clock_.NowMillis() - 3'600'000, 100)->empty();
    EXPECT_EQ(indexed, any_left) << "commit " << commits;
    EXPECT_EQ(root_left, any_left) << "commit " << commits;
  };
  const SweepStats stats = Sweep(absl::Hours(1), /*batch_runs=*/2, /*list_page_runs=*/2, &observed);
  EXPECT_EQ(commits, 5);  // 10 runs, 2 a batch
  EXPECT_EQ(stats.roots, 1u);
  EXPECT_EQ(stats.runs, ids.size());
  for (const std::string& id : ids) ExpectGone(id);
  ExpectWhole(recent);
  EXPECT_THAT(*store_.ListEnded("default", clock_.NowMillis() - 3'600'000, 100), IsEmpty());
}

TEST_F(RetentionTest, ANamespacePeriodOverridesTheDefaultAndZeroKeepsForever) {
  PutRetention("short", 60);
  PutRetention("forever", 0);
  PutRetention("quotas-only", std::nullopt);  // settings without a period: the default
  const std::string short_run = Finished("a", "short");
  const std::string forever_run = Finished("b", "forever");
  const std::string default_run = Finished("c", "quotas-only");
  const std::string unset_run = Finished("d");

  clock_.Advance(absl::Minutes(2));
  // No default: only "short" has a period that is over.
  EXPECT_EQ(Sweep(absl::ZeroDuration()).runs, 1u);
  ExpectGone(short_run);
  ExpectWhole(forever_run);
  ExpectWhole(default_run);
  ExpectWhole(unset_run);

  // A default of one minute: every namespace without a period of its own.
  EXPECT_EQ(Sweep(absl::Minutes(1)).runs, 2u);
  ExpectGone(default_run);
  ExpectGone(unset_run);
  clock_.Advance(absl::Hours(24 * 365));
  EXPECT_EQ(Sweep(absl::Minutes(1)).runs, 0u);
  ExpectWhole(forever_run);
}

TEST_F(RetentionTest, ASessionGoesOnAfterItsEarlierRunsWereDeleted) {
  const v1::Run first = Create("hello", Agent(), "s1");
  std::optional<TaskGrant> g = Poll();
  ASSERT_TRUE(Append(*g, {Turn(0)}).ok());
  ASSERT_TRUE(Complete(*g, "hi").ok());
  clock_.Advance(absl::Hours(2));
  ASSERT_EQ(Sweep(absl::Hours(1)).runs, 1u);
  ExpectGone(first.run_id());
  // The next run of the session is leased: its history starts after what was deleted.
  const v1::Run second = Create("again", Agent(), "s1");
  std::optional<TaskGrant> next = Poll();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->run.run_id(), second.run_id());
  EXPECT_THAT(next->history, IsEmpty());
}

}  // namespace
}  // namespace baton::orchestrator
