// `baton admin backup` while runs go on, `baton admin restore` into a new data
// directory, and an orchestrator started on it: every run acknowledged before the
// backup is there, the runs that were in flight resume with workers and finish, and no
// tool call whose result the backup holds runs again.
#include <signal.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "baton/v1/admin.grpc.pb.h"
#include "baton/v1/auth.grpc.pb.h"
#include "tests/integration/cluster.h"

namespace baton::testing {
namespace {

using json = nlohmann::json;

bool Ended(v1::RunState state) { return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED; }

grpc::Status Backup(const std::shared_ptr<grpc::Channel>& channel, const std::string& dir,
                    v1::BackupResponse* response) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, absl::Seconds(120));
  v1::BackupRequest request;
  request.set_dir(dir);
  return v1::AdminService::NewStub(channel)->Backup(&ctx, request, response);
}

// The idempotency keys of the run's tool calls whose result is journaled.
std::set<std::string> RecordedCalls(Cluster& cluster, const std::string& run_id) {
  std::map<std::string, std::string> keys;  // tool_use_id -> idempotency key
  std::set<std::string> recorded;
  const v1::Transcript transcript = cluster.Transcript(run_id);
  for (const v1::JournalEntry& e : transcript.entries()) {
    if (e.has_tool_call()) keys[e.tool_call().tool_use_id()] = e.tool_call().idempotency_key();
    if (e.has_tool_result()) recorded.insert(keys[e.tool_result().tool_use_id()]);
  }
  return recorded;
}

TEST(BackupRestoreTest, RestoredStoreHasEveryAcknowledgedRunAndResumesThoseInFlight) {
  ClusterOptions options;
  options.workers = 1;
  options.concurrency = 2;
  Cluster cluster(options);
  cluster.Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    ids.push_back(cluster.CreateRun("[sim steps=4 tool=echo sleep_ms=300] job " + std::to_string(i)).run_id());
    ASSERT_FALSE(ids.back().empty());
  }
  // In flight: a run with a tool result journaled and more to do, and runs queued.
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const std::string& id : ids) {
          if (cluster.GetRun(id).state() == v1::RUNNING && !RecordedCalls(cluster, id).empty()) return true;
        }
        return false;
      },
      absl::Seconds(60)));

  // Online: the worker goes on while the backup is taken.
  const std::string backup_dir = cluster.dir() + "/backups";
  v1::BackupResponse backup;
  grpc::Status status = Backup(cluster.ChannelWithKey(""), backup_dir, &backup);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(backup.backup_id(), 1u);
  EXPECT_EQ(backup.dir(), backup_dir);
  EXPECT_GT(backup.size_bytes(), 0u);
  // One more run after the backup: acknowledged, but not in it.
  const std::string after = cluster.CreateRun("[sim steps=1] after the backup").run_id();

  // The machine is lost: a new data directory from the backup.
  cluster.KillWorker(0, SIGKILL);
  cluster.KillOrchestrator(SIGKILL);
  const size_t executed_before = cluster.ToolAudit().size();
  const std::string old_dir = cluster.data_dir() + ".lost";
  std::filesystem::rename(cluster.data_dir(), old_dir);
  std::string output;
  // A directory that holds data is refused without --force.
  EXPECT_EQ(RunCommand({Cluster::Bin("baton"), "admin", "restore", backup_dir, old_dir}, {}, &output), 1) << output;
  EXPECT_NE(output.find("not empty"), std::string::npos) << output;
  ASSERT_EQ(RunCommand({Cluster::Bin("baton"), "admin", "restore", backup_dir, cluster.data_dir()}, {}, &output), 0)
      << output;
  EXPECT_NE(output.find("restored backup 1"), std::string::npos) << output;

  cluster.StartOrchestrator();
  std::set<std::string> recorded;
  int in_flight = 0;
  for (const std::string& id : ids) {
    const v1::Run run = cluster.GetRun(id);
    ASSERT_EQ(run.run_id(), id) << "acknowledged before the backup, missing after the restore";
    if (!Ended(run.state()) && !RecordedCalls(cluster, id).empty()) ++in_flight;
    for (const std::string& key : RecordedCalls(cluster, id)) recorded.insert(key);
  }
  EXPECT_GE(in_flight, 1) << "no run was in flight in the backup";
  EXPECT_FALSE(recorded.empty());
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::GetRunRequest request;
    request.set_run_id(after);
    v1::Run run;
    EXPECT_EQ(cluster.runs().GetRun(&ctx, request, &run).error_code(), grpc::StatusCode::NOT_FOUND);
  }

  // Workers take the runs up again (leases of the lost worker expire) and finish them.
  cluster.StartWorker(0);
  for (const std::string& id : ids) {
    const v1::Run run = cluster.WaitForEnd(id, absl::Seconds(120));
    EXPECT_EQ(run.state(), v1::SUCCEEDED) << id << ": " << run.error();
    EXPECT_EQ(run.steps(), 4) << id;
  }
  // No call whose result the backup holds ran again.
  const std::vector<json> executed = cluster.ToolAudit();
  ASSERT_GT(executed.size(), executed_before) << "the resumed runs called no tool";
  for (size_t i = executed_before; i < executed.size(); ++i) {
    const std::string key = executed[i]["idempotency_key"].get<std::string>();
    EXPECT_EQ(recorded.count(key), 0u) << key << " was recorded before the backup and ran again";
  }
}

TEST(BackupRestoreTest, BackupNeedsTheAdminRole) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  options.auth = true;
  Cluster cluster(options);
  cluster.Start();
  v1::KeyService::Stub keys(cluster.ChannelWithKey(cluster.admin_key()));
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::CreateKeyRequest request;
  request.set_principal("ops");
  request.add_roles("operator");
  request.add_namespaces("*");
  v1::CreateKeyResponse created;
  ASSERT_TRUE(keys.CreateKey(&ctx, request, &created).ok());

  v1::BackupResponse backup;
  EXPECT_EQ(Backup(cluster.ChannelWithKey(created.secret()), cluster.dir() + "/b", &backup).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Backup(cluster.ChannelWithKey(""), cluster.dir() + "/b", &backup).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(std::filesystem::exists(cluster.dir() + "/b"));
  grpc::Status status = Backup(cluster.ChannelWithKey(cluster.admin_key()), cluster.dir() + "/b", &backup);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(std::filesystem::exists(cluster.dir() + "/b"));
}

// `baton admin backup DIR --keep 2`, run as an operator would from cron: the oldest
// backups go, the answer says which, and `baton admin restore` brings the latest back
// with every run created before it.
TEST(BackupRestoreTest, KeepingTheLatestBackupsDeletesTheOlderOnes) {
  ClusterOptions options;
  options.workers = 0;
  options.start_sim = false;
  Cluster cluster(options);
  cluster.Start();
  const std::string dir = cluster.dir() + "/backups";
  std::vector<std::string> ids;
  for (int k = 1; k <= 3; ++k) {
    ids.push_back(cluster.CreateRun("job " + std::to_string(k)).run_id());
    std::string out;
    ASSERT_EQ(RunCommand({Cluster::Bin("baton"), "admin", "backup", dir, "--keep", "2", "--addr", cluster.address()},
                         {}, &out),
              0)
        << out;
    EXPECT_THAT(out, ::testing::HasSubstr(absl::StrCat("backup ", k, " in ", dir))) << out;
    if (k < 3) {
      EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("deleted"))) << out;
      EXPECT_THAT(out, ::testing::HasSubstr(absl::StrCat("the directory holds ", k, " backup"))) << out;
    } else {
      EXPECT_THAT(out, ::testing::HasSubstr("deleted backup 1; the directory holds 2 backups")) << out;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/meta/1"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/meta/3"));
  std::string out;
  const std::string restored = cluster.dir() + "/restored";
  ASSERT_EQ(RunCommand({Cluster::Bin("baton"), "admin", "restore", dir, restored}, {}, &out), 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("restored backup 3")) << out;
}

}  // namespace
}  // namespace baton::testing
