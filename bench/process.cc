#include "bench/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"

extern "C" char** environ;

namespace baton::bench {
namespace {

// Children alive, so an early exit can kill them. Thread-safe.
absl::Mutex g_children_mu(absl::kConstInit);
std::set<pid_t>& Children() {
  static auto* children = new std::set<pid_t>();
  return *children;
}

}  // namespace

void KillAllChildren() {
  absl::MutexLock lock(&g_children_mu);
  for (pid_t pid : Children()) ::kill(pid, SIGKILL);
}

Process::Process(const std::string& binary, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, const std::string& log_path) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (env.count(kv.substr(0, kv.find('='))) == 0) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> argv{const_cast<char*>(binary.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  start_time_ = absl::Now();
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    // Children must not inherit the driver's blocked signals.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  if (pid_ > 0) {
    absl::MutexLock lock(&g_children_mu);
    Children().insert(pid_);
  }
}

Process::~Process() {
  if (Running()) Signal(SIGKILL);
  Wait(absl::Seconds(10));
}

void Process::Signal(int signal) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, signal);
}

bool Process::Running() {
  if (pid_ <= 0 || reaped_) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    {
      absl::MutexLock lock(&g_children_mu);
      Children().erase(pid_);
    }
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int Process::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (Running()) {
    if (absl::Now() > deadline) return -1;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return status_;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

absl::StatusOr<int64_t> StatusField(pid_t pid, absl::string_view field) {
  const std::string path = absl::StrCat("/proc/", pid, "/status");
  const std::string text = ReadFileOrEmpty(path);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, field)) continue;
    if (!absl::ConsumePrefix(&line, ":")) continue;
    line = absl::StripAsciiWhitespace(line);
    if (!absl::ConsumeSuffix(&line, "kB")) break;
    int64_t kb = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &kb)) break;
    return kb * 1024;
  }
  return absl::NotFoundError(absl::StrCat("no ", field, " in ", path));
}

}  // namespace

absl::StatusOr<int64_t> ResidentBytes(pid_t pid) { return StatusField(pid, "VmRSS"); }
absl::StatusOr<int64_t> PeakResidentBytes(pid_t pid) { return StatusField(pid, "VmHWM"); }

absl::StatusOr<int64_t> WrittenBytes(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/io");
  for (absl::string_view line : absl::StrSplit(ReadFileOrEmpty(path), '\n')) {
    if (!absl::ConsumePrefix(&line, "wchar:")) continue;
    int64_t bytes = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &bytes)) return bytes;
  }
  return absl::NotFoundError(absl::StrCat("no wchar in ", path));
}

absl::StatusOr<double> CpuSeconds(pid_t pid) {
  // The process's CPU clock counts nanoseconds (its threads', the exited ones too);
  // /proc's utime and stime count clock ticks, 10 ms each, too coarse for a window of
  // a few hundred milliseconds of CPU (W2-long).
  clockid_t clock;
  struct timespec ts;
  if (clock_getcpuclockid(pid, &clock) == 0 && clock_gettime(clock, &ts) == 0) {
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  }
  const std::string text = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  // The command name (field 2) may hold spaces; the fields after it do not.
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return absl::NotFoundError(absl::StrCat("no /proc/", pid, "/stat"));
  std::vector<absl::string_view> fields = absl::StrSplit(absl::string_view(text).substr(paren + 2), ' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) || !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::InternalError(absl::StrCat("cannot parse /proc/", pid, "/stat"));
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

absl::StatusOr<double> HostBusySeconds() {
  const std::string text = ReadFileOrEmpty("/proc/stat");
  // "cpu  user nice system idle iowait irq softirq steal ..." in clock ticks.
  std::vector<absl::string_view> fields =
      absl::StrSplit(text.substr(0, text.find('\n')), ' ', absl::SkipEmpty());
  if (fields.size() < 9 || fields[0] != "cpu") return absl::InternalError("cannot parse /proc/stat");
  int64_t busy = 0;
  for (size_t i = 1; i < fields.size() && i <= 8; ++i) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(fields[i], &v)) return absl::InternalError("cannot parse /proc/stat");
    if (i != 4 && i != 5) busy += v;  // not idle, not iowait
  }
  return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

absl::StatusOr<int> WaitForPortFile(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int port = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFileOrEmpty(path)), &port) && port > 0) {
      return port;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  return absl::DeadlineExceededError(absl::StrCat("no port in ", path));
}

}  // namespace baton::bench
