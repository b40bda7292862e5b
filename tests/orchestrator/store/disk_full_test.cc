// The RocksDB store on a disk that fills (docs/design.md, "When the disk fills"): a
// tmpfs the test mounts and fills with a ballast file. What a caller relies on: the
// store refuses new writes naming the disk, answers nothing it has not written,
// serves reads, writes what it held once there is room, and loses nothing.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "orchestrator/store/rocksdb_run_store.h"
#include "tests/support/tmpfs_mount.h"

namespace baton::orchestrator {
namespace {

using ::testing::HasSubstr;

StoreBatch RunBatch(const std::string& run_id, size_t input_bytes = 16) {
  StoreBatch batch;
  v1::Run run;
  run.set_run_id(run_id);
  run.set_state(v1::QUEUED);
  run.set_input(std::string(input_bytes, 'i'));
  batch.put_runs.push_back(run);
  return batch;
}

// The answers of CommitAsync calls, by run id.
class Answers {
 public:
  std::function<void(absl::Status)> For(const std::string& run_id) {
    return [this, run_id](absl::Status s) {
      absl::MutexLock lock(&mu_);
      answers_[run_id] = std::move(s);
    };
  }
  std::optional<absl::Status> Of(const std::string& run_id) {
    absl::MutexLock lock(&mu_);
    auto it = answers_.find(run_id);
    if (it == answers_.end()) return std::nullopt;
    return it->second;
  }
  // Waits up to `timeout` for an answer to every id.
  bool AwaitAll(const std::vector<std::string>& ids, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const std::string& id : ids) {
        if (!answers_.count(id)) return false;
      }
      return true;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&all), timeout);
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, absl::Status> answers_ ABSL_GUARDED_BY(mu_);
};

bool AwaitFull(RocksDbRunStore& store, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (absl::IsResourceExhausted(store.CheckWritable())) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

void ExpectRefusalNamesTheDisk(const absl::Status& s, const std::string& path) {
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  EXPECT_THAT(std::string(s.message()), HasSubstr("full"));
  EXPECT_TRUE(RetryDelay(s).has_value()) << "no retry delay in " << s;
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = std::make_unique<testing::TmpfsMount>(uint64_t{64} << 20);
    if (!disk_->mounted()) GTEST_SKIP() << disk_->error();
  }

  RocksDbStoreOptions Options() const {
    RocksDbStoreOptions options;
    options.path = disk_->path() + "/db";
    options.block_cache_bytes = 1 << 20;
    options.write_buffer_bytes = size_t{4} << 20;
    return options;
  }

  std::unique_ptr<testing::TmpfsMount> disk_;
};

// Below min_free_disk_bytes: the store stops before RocksDB runs out.
TEST_F(DiskFullTest, BelowTheFreeSpaceKeptWritesWaitAndResumeWhenThereIsRoom) {
  RocksDbStoreOptions options = Options();
  options.min_free_disk_bytes = uint64_t{8} << 20;
  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Commit(RunBatch("run_before")).ok());

    ASSERT_GT(disk_->FillWithBallast(), 0u);
    Answers answers;
    (*store)->CommitAsync(RunBatch("run_held"), answers.For("run_held"));
    ASSERT_TRUE(AwaitFull(**store, absl::Seconds(30))) << "the store never noticed the full disk";
    absl::SleepFor(absl::Milliseconds(300));
    EXPECT_FALSE(answers.Of("run_held").has_value()) << "a batch was answered while the disk was full";
    ExpectRefusalNamesTheDisk((*store)->CheckWritable(), options.path);
    ExpectRefusalNamesTheDisk((*store)->Commit(RunBatch("run_refused")), options.path);

    // Reads go on.
    absl::StatusOr<std::optional<v1::Run>> before = (*store)->GetRun("run_before");
    ASSERT_TRUE(before.ok()) << before.status();
    EXPECT_TRUE(before->has_value());
    absl::StatusOr<RunPage> page = (*store)->ListRuns(RunFilter{}, 10, "");
    ASSERT_TRUE(page.ok()) << page.status();

    disk_->RemoveBallast();
    ASSERT_TRUE(answers.AwaitAll({"run_held"}, absl::Seconds(60))) << "writes did not resume";
    EXPECT_TRUE(answers.Of("run_held")->ok()) << *answers.Of("run_held");
    EXPECT_TRUE((*store)->CheckWritable().ok());
    EXPECT_TRUE((*store)->Commit(RunBatch("run_after")).ok());
  }
  auto reopened = RocksDbRunStore::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  for (const char* id : {"run_before", "run_held", "run_after"}) {
    absl::StatusOr<std::optional<v1::Run>> run = (*reopened)->GetRun(id);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run->has_value()) << id << " lost";
  }
  absl::StatusOr<std::optional<v1::Run>> refused = (*reopened)->GetRun("run_refused");
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->has_value()) << "a refused batch was written";
}

// With no free space kept, RocksDB's own write fails for want of space: the store
// must neither abort (RocksDB 7.8 asserts on a failed writer used again) nor answer
// the failed group, and must resume RocksDB once there is room.
//
// Disabled: about 1 run in 15 RocksDB 7.8's DB::Resume() waits forever for a flush
// that is never scheduled (the WAL write failed just after a memtable switch, and the
// background flush of the switched memtable ran while the database was stopped and
// was dropped). The store's watchdog then ends the process after 60 s
// (docs/operations.md, "When the disk fills"). Run it with --gtest_also_run_disabled_tests.
TEST_F(DiskFullTest, DISABLED_AWriteThatFailsForWantOfSpaceIsHeldAndWrittenOnceThereIsRoom) {
  RocksDbStoreOptions options = Options();
  options.min_free_disk_bytes = 0;
  std::vector<std::string> sent;
  Answers answers;
  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Commit(RunBatch("run_before")).ok());
    ASSERT_GT(disk_->FillWithBallast(), 0u);
    // The WAL and memtables have some room of their own (RocksDB preallocates the WAL):
    // write until RocksDB runs out, 64 KiB at a time.
    for (int i = 0; i < 2000 && (*store)->CheckWritable().ok(); ++i) {
      const std::string id = "run_" + std::to_string(i);
      sent.push_back(id);
      (*store)->CommitAsync(RunBatch(id, 64 << 10), answers.For(id));
      if (i % 8 == 7) absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_TRUE(AwaitFull(**store, absl::Seconds(30))) << "RocksDB never ran out of space";
    ExpectRefusalNamesTheDisk((*store)->Commit(RunBatch("run_refused")), options.path);
    absl::SleepFor(absl::Milliseconds(300));
    int failed = 0;
    for (const std::string& id : sent) {
      std::optional<absl::Status> answer = answers.Of(id);
      if (answer.has_value() && !answer->ok()) ++failed;
    }
    EXPECT_EQ(failed, 0) << "batches were answered as failed instead of held";
    absl::StatusOr<std::optional<v1::Run>> before = (*store)->GetRun("run_before");
    ASSERT_TRUE(before.ok()) << before.status();
    EXPECT_TRUE(before->has_value());

    disk_->RemoveBallast();
    ASSERT_TRUE(answers.AwaitAll(sent, absl::Seconds(60))) << "writes did not resume";
    for (const std::string& id : sent) {
      std::optional<absl::Status> answer = answers.Of(id);
      ASSERT_TRUE(answer.has_value()) << id;
      EXPECT_TRUE(answer->ok()) << id << ": " << *answer;
    }
    EXPECT_TRUE((*store)->Commit(RunBatch("run_after")).ok());
  }
  auto reopened = RocksDbRunStore::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  sent.push_back("run_before");
  sent.push_back("run_after");
  for (const std::string& id : sent) {
    absl::StatusOr<std::optional<v1::Run>> run = (*reopened)->GetRun(id);
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run->has_value()) << id << " acknowledged, then lost";
  }
}

// A restart on a full disk: Open fails saying so (RocksDB's own info log used to
// abort here, the crash loop), and the data is there once there is room.
TEST_F(DiskFullTest, OpeningOnAFullDiskFailsNamingItAndLosesNothing) {
  RocksDbStoreOptions options = Options();
  options.min_free_disk_bytes = 0;
  {
    auto store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE((*store)->Commit(RunBatch("run_" + std::to_string(i), 64 << 10)).ok());
  }
  ASSERT_GT(disk_->FillWithBallast(), 0u);
  auto full = RocksDbRunStore::Open(options);
  if (!full.ok()) {
    EXPECT_THAT(std::string(full.status().message()), HasSubstr(options.path));
  }
  full = absl::UnavailableError("closed");  // closes the store, if it opened
  disk_->RemoveBallast();
  auto store = RocksDbRunStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::optional<v1::Run>> run = (*store)->GetRun("run_" + std::to_string(i));
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(run->has_value());
  }
}

}  // namespace
}  // namespace baton::orchestrator
