// Child processes for the benchmark driver: fork/exec with output to a log file,
// signals, waiting, and what /proc says about them. Loopback stacks only.
#ifndef BATON_BENCH_PROCESS_H_
#define BATON_BENCH_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace baton::bench {

// One child process; its stdout and stderr go to `log_path`. Not thread-safe.
// Killed with SIGKILL on destruction if still running.
class Process {
 public:
  // `env` is added to (and overrides) the driver's environment.
  Process(const std::string& binary, const std::vector<std::string>& args,
          const std::map<std::string, std::string>& env, const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void Signal(int signal);
  // Waits for exit; returns the exit code (128 + signal when killed), -1 on timeout.
  int Wait(absl::Duration timeout);
  bool Running();
  pid_t pid() const { return pid_; }
  // When the process was started (just before fork).
  absl::Time start_time() const { return start_time_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
  absl::Time start_time_;
};

// SIGKILLs every child process still running (for exits that skip destructors).
void KillAllChildren();

// Resident set size of `pid` (VmRSS in /proc/PID/status), in bytes.
absl::StatusOr<int64_t> ResidentBytes(pid_t pid);
// Peak resident set size (VmHWM), in bytes.
absl::StatusOr<int64_t> PeakResidentBytes(pid_t pid);

// Bytes `pid` has passed to write() and its kin so far (wchar in /proc/PID/io): for
// the orchestrator, its RocksDB WAL appends and SST files; page cache or not.
absl::StatusOr<int64_t> WrittenBytes(pid_t pid);

// CPU time (user + system) `pid` has used so far, in seconds.
absl::StatusOr<double> CpuSeconds(pid_t pid);

// CPU time (all states but idle and iowait) the whole machine has used since boot,
// summed over its cores, in seconds (/proc/stat).
absl::StatusOr<double> HostBusySeconds();

// Waits for a file holding a port number (written atomically by the process).
absl::StatusOr<int> WaitForPortFile(const std::string& path, absl::Duration timeout);

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace baton::bench

#endif  // BATON_BENCH_PROCESS_H_
