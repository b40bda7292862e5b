#include "cli/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

extern char** environ;

namespace baton::cli {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> BuildEnvironment(const ProcessSpec& spec) {
  std::set<std::string> drop(spec.env_unset.begin(), spec.env_unset.end());
  for (const auto& [name, value] : spec.env_set) drop.insert(name);
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    if (!drop.count(name)) env.push_back(std::move(entry));
  }
  for (const auto& [name, value] : spec.env_set) env.push_back(absl::StrCat(name, "=", value));
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

bool Gone(const StackProcess& p, bool own_child) {
  if (own_child) return ReapChild(p.pid).has_value();
  return !ProcessRuns(p.pid, p.binary);
}

}  // namespace

std::string SelfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string path(buf, n);
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

absl::StatusOr<int> SpawnProcess(const ProcessSpec& spec) {
  {
    std::ofstream log(spec.log_path, std::ios::app);
    if (!log) {
      return absl::UnavailableError(absl::StrCat("cannot open log file ", spec.log_path, ": ",
                                                 std::strerror(errno)));
    }
    // The command line holds no secret: the API key travels in the environment only.
    log << "---- baton up: " << absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(), absl::LocalTimeZone())
        << " starting " << absl::StrJoin(spec.argv, " ") << " ----\n";
  }
  std::vector<std::string> argv_strings = spec.argv;
  std::vector<std::string> env_strings = BuildEnvironment(spec);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot start ", spec.argv[0], ": ", std::strerror(rc)));
  }
  return static_cast<int>(pid);
}

std::optional<std::string> ReapChild(int pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == 0) return std::nullopt;
  if (r < 0) return std::string("is gone");
  if (WIFEXITED(status)) return absl::StrCat("exited with code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::strsignal(WTERMSIG(status));
    return absl::StrCat("was killed by signal ", WTERMSIG(status), name ? absl::StrCat(" (", name, ")") : "");
  }
  return std::string("stopped");
}

bool ProcessRuns(int pid, const std::string& binary) {
  if (pid <= 0) return false;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::string stat = ReadWholeFile(absl::StrCat("/proc/", pid, "/stat"));
  // "pid (comm) S ...": the state follows the last ')'.
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') return false;
  if (binary.empty()) return true;
  std::string cmdline = ReadWholeFile(absl::StrCat("/proc/", pid, "/cmdline"));
  std::string argv0 = cmdline.substr(0, cmdline.find('\0'));
  return argv0 == binary;
}

void StopGroup(const std::vector<StackProcess>& group, absl::Duration grace, bool own_children,
               const std::function<bool()>& hurry, std::ostream& out) {
  std::vector<StackProcess> running;
  for (const StackProcess& p : group) {
    if (Gone(p, own_children)) continue;
    if (::kill(p.pid, SIGTERM) == 0) {
      running.push_back(p);
    }
  }
  if (running.empty()) return;
  std::vector<std::string> names;
  for (const StackProcess& p : running) names.push_back(absl::StrCat(p.name, " (pid ", p.pid, ")"));
  out << "stopping " << absl::StrJoin(names, ", ") << std::endl;

  absl::Time deadline = absl::Now() + grace;
  bool hurried = false;
  while (!running.empty() && absl::Now() < deadline) {
    if (hurry && hurry()) {
      hurried = true;
      break;
    }
    std::erase_if(running, [&](const StackProcess& p) { return Gone(p, own_children); });
    if (!running.empty()) absl::SleepFor(kPollInterval);
  }
  std::erase_if(running, [&](const StackProcess& p) { return Gone(p, own_children); });
  for (const StackProcess& p : running) {
    if (hurried || grace == absl::ZeroDuration()) {
      out << "killing " << p.name << " (pid " << p.pid << ")" << std::endl;
    } else {
      out << p.name << " (pid " << p.pid << ") did not stop within " << absl::FormatDuration(grace)
          << ": sending SIGKILL" << std::endl;
    }
    ::kill(p.pid, SIGKILL);
  }
  absl::Time kill_deadline = absl::Now() + absl::Seconds(5);
  while (!running.empty() && absl::Now() < kill_deadline) {
    std::erase_if(running, [&](const StackProcess& p) { return Gone(p, own_children); });
    if (!running.empty()) absl::SleepFor(kPollInterval);
  }
}

absl::StatusOr<int> ReadPortFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, " does not exist yet"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int port = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) || port <= 0 || port > 65535) {
    return absl::NotFoundError(absl::StrCat(path, " holds no port yet"));
  }
  return port;
}

std::string TailFile(const std::string& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::string out;
  for (const std::string& l : last) absl::StrAppend(&out, l, "\n");
  return out;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
    out << contents;
    if (!out.flush()) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace baton::cli
