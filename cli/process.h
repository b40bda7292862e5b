// POSIX process plumbing for `baton up` / `baton down`: start a process in its own
// session with its output in a log file, reap it, check that a recorded pid still runs
// the recorded binary, stop processes with SIGTERM then SIGKILL.
#ifndef BATON_CLI_PROCESS_H_
#define BATON_CLI_PROCESS_H_

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/stack.h"

namespace baton::cli {

// The directory of the running executable (/proc/self/exe), "" if unknown.
std::string SelfDir();

// Starts `spec` with posix_spawn in a new session (so a terminal's Ctrl-C reaches only
// `baton up`, which then stops the stack in order), stdin from /dev/null, stdout and
// stderr appended to spec.log_path after a header line. Returns the pid.
absl::StatusOr<int> SpawnProcess(const ProcessSpec& spec);

// If child `pid` has exited, reaps it and returns how ("exited with code 1",
// "killed by signal 9"); nullopt while it runs. A pid that is not our child counts as
// exited ("is gone").
std::optional<std::string> ReapChild(int pid);

// True when `pid` exists, is not a zombie and (if `binary` is non-empty) runs with
// argv[0] == binary, so a recycled pid is never mistaken for ours.
bool ProcessRuns(int pid, const std::string& binary);

// Sends SIGTERM to every process of `group`, waits up to `grace` for them to go, then
// SIGKILLs the rest. `own_children`: the processes are our children and are reaped.
// `hurry` (may be empty) is polled while waiting; true skips to SIGKILL. Progress goes
// to `out`.
void StopGroup(const std::vector<StackProcess>& group, absl::Duration grace, bool own_children,
               const std::function<bool()>& hurry, std::ostream& out);

// The port written in a port file; NOT_FOUND while the file is absent or incomplete.
absl::StatusOr<int> ReadPortFile(const std::string& path);

// The last `lines` lines of a file ("" if unreadable).
std::string TailFile(const std::string& path, int lines);

// Writes `contents` to `path` atomically (temp file + rename).
absl::Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace baton::cli

#endif  // BATON_CLI_PROCESS_H_
