#include "orchestrator/auth/audit_log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace baton::orchestrator::auth {
namespace {

TEST(AuditLogTest, AnEntryIsOneJsonLineWithExactlyTheAuditFields) {
  AuditEntry entry{1'700'000'000'123, "alice", "default", "baton.v1.RunService/CancelRun", "run_1",
                   absl::StatusCode::kPermissionDenied};
  std::string line = FormatAuditLine(entry);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  nlohmann::json json = nlohmann::json::parse(line);
  EXPECT_EQ(json, nlohmann::json::parse(R"({"time":"2023-11-14T22:13:20.123Z","principal":"alice",
      "namespace":"default","method":"baton.v1.RunService/CancelRun","resource":"run_1",
      "result":"PERMISSION_DENIED"})"));
}

TEST(AuditLogTest, EntriesReachTheFileInOrderByTheTimeTheLogCloses) {
  std::string path = std::filesystem::temp_directory_path() / ("audit-test-" + std::to_string(getpid()) + ".jsonl");
  std::filesystem::remove(path);
  FakeClock clock;
  {
    std::unique_ptr<AuditLog> log = *AuditLog::Open(path, clock);
    for (int i = 0; i < 100; ++i) log->Record(AuditEntry{0, "p", "default", "m", std::to_string(i)});
  }
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  std::ifstream in(path);
  int i = 0;
  for (std::string line; std::getline(in, line); ++i) {
    nlohmann::json json = nlohmann::json::parse(line);
    EXPECT_EQ(json["resource"], std::to_string(i));
    EXPECT_EQ(json["result"], "OK");
  }
  EXPECT_EQ(i, 100);
  std::filesystem::remove(path);
}

TEST(AuditLogTest, AnUnwritablePathIsAnError) {
  FakeClock clock;
  EXPECT_FALSE(AuditLog::Open("/nonexistent-dir/audit.jsonl", clock).ok());
}

}  // namespace
}  // namespace baton::orchestrator::auth
