#include "cli/process.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace baton::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("process_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Waits until child `pid` exits; returns how.
  std::string WaitExit(int pid) {
    for (int i = 0; i < 200; ++i) {
      if (auto how = ReapChild(pid)) return *how;
      absl::SleepFor(absl::Milliseconds(25));
    }
    return "still running";
  }

  std::filesystem::path dir_;
};

TEST_F(ProcessTest, ChildGetsTheEnvironmentPlanAndItsOutputGoesToTheLog) {
  ::setenv("BATON_PROCESS_TEST_SECRET", "s3cret", 1);
  ProcessSpec spec;
  spec.name = "probe";
  spec.argv = {"/bin/sh", "-c", "echo base=$BATON_PROCESS_TEST_URL; echo secret=${BATON_PROCESS_TEST_SECRET:-unset}; echo err >&2; exit 3"};
  spec.env_set = {{"BATON_PROCESS_TEST_URL", "http://127.0.0.1:1"}};
  spec.env_unset = {"BATON_PROCESS_TEST_SECRET"};
  spec.log_path = (dir_ / "probe.log").string();
  auto pid = SpawnProcess(spec);
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(WaitExit(*pid), "exited with code 3");
  std::string log = TailFile(spec.log_path, 10);
  EXPECT_THAT(log, HasSubstr("base=http://127.0.0.1:1\n"));
  EXPECT_THAT(log, HasSubstr("secret=unset\n"));
  EXPECT_THAT(log, HasSubstr("err\n"));
  EXPECT_THAT(log, Not(HasSubstr("s3cret")));
  ::unsetenv("BATON_PROCESS_TEST_SECRET");
}

TEST_F(ProcessTest, StopGroupTerminatesThenKillsStubbornProcesses) {
  ProcessSpec polite;
  polite.argv = {"/bin/sleep", "60"};
  polite.log_path = (dir_ / "polite.log").string();
  ProcessSpec stubborn;
  stubborn.argv = {"/bin/sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"};
  stubborn.log_path = (dir_ / "stubborn.log").string();
  auto a = SpawnProcess(polite);
  auto b = SpawnProcess(stubborn);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 100 && TailFile(stubborn.log_path, 1) != "ready\n"; ++i) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(ProcessRuns(*a, "/bin/sleep"));
  EXPECT_FALSE(ProcessRuns(*a, "/bin/other"));  // a recycled pid is not ours

  std::ostringstream out;
  absl::Time start = absl::Now();
  StopGroup({{"polite", *a, "/bin/sleep", ""}, {"stubborn", *b, "/bin/sh", ""}}, absl::Milliseconds(500),
            /*own_children=*/true, nullptr, out);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_THAT(out.str(), HasSubstr("stopping polite (pid"));
  EXPECT_THAT(out.str(), HasSubstr("stubborn (pid " + std::to_string(*b) + ") did not stop"));
  EXPECT_FALSE(ProcessRuns(*a, ""));
  EXPECT_FALSE(ProcessRuns(*b, ""));
}

TEST_F(ProcessTest, SpawningAMissingBinaryFails) {
  ProcessSpec spec;
  spec.argv = {(dir_ / "nope").string()};
  spec.log_path = (dir_ / "nope.log").string();
  auto pid = SpawnProcess(spec);
  // glibc reports exec failures from posix_spawn; some libcs report them as exit 127.
  if (pid.ok()) {
    EXPECT_EQ(WaitExit(*pid), "exited with code 127");
  } else {
    EXPECT_THAT(std::string(pid.status().message()), HasSubstr("cannot start"));
  }
}

TEST_F(ProcessTest, ReadPortFileWaitsForACompleteNumber) {
  std::string path = (dir_ / "x.port").string();
  EXPECT_EQ(ReadPortFile(path).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomically(path, "").ok());
  EXPECT_EQ(ReadPortFile(path).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomically(path, "40123\n").ok());
  EXPECT_EQ(*ReadPortFile(path), 40123);
}

}  // namespace
}  // namespace baton::cli
