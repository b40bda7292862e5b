#include "mcp-bridge/stdio_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace baton::mcp {
namespace {

constexpr const char* kInheritedVariables[] = {"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"};
constexpr size_t kMaxLoggedStderrLine = 4000;

void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, nullptr);
  });
}

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// Finds `command` as execvp would, in `path_var` (the child's PATH).
absl::StatusOr<std::string> ResolveCommand(const std::string& command, const std::string& path_var) {
  if (command.empty()) return absl::InvalidArgumentError("empty command");
  if (command.find('/') != std::string::npos) {
    if (!IsExecutableFile(command)) return absl::NotFoundError(absl::StrCat("not an executable file: ", command));
    return command;
  }
  for (absl::string_view dir : absl::StrSplit(path_var.empty() ? "/usr/local/bin:/usr/bin:/bin" : path_var, ':')) {
    std::string candidate = absl::StrCat(dir.empty() ? "." : dir, "/", command);
    if (IsExecutableFile(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("command not found in PATH: ", command));
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

StdioTransport::StdioTransport(StdioTransportOptions options) : options_(std::move(options)) {}

StdioTransport::~StdioTransport() { Close(); }

pid_t StdioTransport::pid() const {
  absl::MutexLock lock(&mu_);
  return pid_;
}

std::vector<std::string> StdioTransport::RecentStderr() const {
  absl::MutexLock lock(&mu_);
  return {stderr_tail_.begin(), stderr_tail_.end()};
}

absl::Status StdioTransport::Start(Callbacks callbacks) {
  IgnoreSigpipeOnce();
  callbacks_ = std::move(callbacks);

  // Everything the child needs is prepared before fork: after it only
  // async-signal-safe calls are allowed.
  std::map<std::string, std::string> env;
  for (const char* name : kInheritedVariables) {
    if (const char* v = std::getenv(name)) env[name] = v;
  }
  for (const auto& [k, v] : options_.env) env[k] = v;
  auto path_it = env.find("PATH");
  absl::StatusOr<std::string> path =
      ResolveCommand(options_.command, path_it == env.end() ? "" : path_it->second);
  if (!path.ok()) return absl::FailedPreconditionError(path.status().message());

  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(absl::StrCat(k, "=", v));
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> arg_strings{options_.command};
  arg_strings.insert(arg_strings.end(), options_.args.begin(), options_.args.end());
  std::vector<char*> argv;
  for (std::string& s : arg_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string cwd = options_.cwd;

  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]}) close(fd);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return absl::ResourceExhaustedError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    // Child. Its own process group, so the whole server (wrappers such as npx
    // included) is signalled at shutdown, and a terminal's Ctrl-C reaches the bridge
    // first; it dies with the bridge.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    // Ignored signals and the signal mask survive exec: give the server defaults.
    struct sigaction sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &sa, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) {
      const char msg[] = "baton-mcp-bridge: cannot chdir to the configured cwd\n";
      (void)!write(2, msg, sizeof(msg) - 1);
      _exit(127);
    }
    execve(path->c_str(), argv.data(), envp.data());
    const char msg[] = "baton-mcp-bridge: exec failed\n";
    (void)!write(2, msg, sizeof(msg) - 1);
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  fcntl(in_pipe[1], F_SETFL, fcntl(in_pipe[1], F_GETFL) | O_NONBLOCK);
  {
    absl::MutexLock lock(&write_mu_);
    stdin_fd_ = in_pipe[1];
  }
  {
    absl::MutexLock lock(&mu_);
    pid_ = pid;
  }
  stdout_fd_ = out_pipe[0];
  stderr_fd_ = err_pipe[0];
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  BATON_LOG(INFO) << "[" << options_.log_name << "] started " << *path << " "
                  << absl::StrJoin(options_.args, " ") << " (pid " << pid << ")";
  io_thread_ = std::thread([this] { IoLoop(); });
  return absl::OkStatus();
}

absl::Status StdioTransport::Send(const std::string& message) {
  std::string line = message;
  line.push_back('\n');
  absl::MutexLock lock(&write_mu_);
  if (stdin_fd_ < 0) return absl::UnavailableError("the server's stdin is closed");
  const absl::Time deadline = absl::Now() + options_.write_timeout;
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = write(stdin_fd_, line.data() + done, line.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::UnavailableError("the server does not read its stdin (write timed out)");
      }
      struct pollfd p = {stdin_fd_, POLLOUT, 0};
      poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      continue;
    }
    return absl::UnavailableError(absl::StrCat("cannot write to the server: ", strerror(errno)));
  }
  return absl::OkStatus();
}

void StdioTransport::HandleStdout(const char* data, size_t n) {
  const int dropped = stdout_lines_.Feed(std::string_view(data, n), [&](std::string_view line) {
    callbacks_.on_message(line, std::nullopt);
  });
  if (dropped > 0) {
    BATON_LOG(WARNING) << "[" << options_.log_name << "] dropped a stdout line longer than "
                       << options_.max_line_bytes << " bytes";
  }
}

void StdioTransport::HandleStderr(const char* data, size_t n, bool flush) {
  stderr_buffer_.append(data, n);
  size_t start = 0;
  auto emit = [&](std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > kMaxLoggedStderrLine) line = absl::StrCat(line.substr(0, kMaxLoggedStderrLine), "...");
    BATON_LOG(INFO) << "[" << options_.log_name << " stderr] " << line;
    absl::MutexLock lock(&mu_);
    stderr_tail_.push_back(std::move(line));
    while (static_cast<int>(stderr_tail_.size()) > options_.stderr_lines_kept) stderr_tail_.pop_front();
  };
  for (size_t pos; (pos = stderr_buffer_.find('\n', start)) != std::string::npos; start = pos + 1) {
    emit(stderr_buffer_.substr(start, pos - start));
  }
  stderr_buffer_.erase(0, start);
  if ((flush && !stderr_buffer_.empty()) || stderr_buffer_.size() > kMaxLoggedStderrLine) {
    emit(std::move(stderr_buffer_));
    stderr_buffer_.clear();
  }
}

void StdioTransport::IoLoop() {
  char buf[64 * 1024];
  bool stdout_open = true;
  bool stderr_open = true;
  absl::Time stderr_drain_deadline = absl::InfiniteFuture();
  while (true) {
    struct pollfd fds[3] = {{stdout_open ? stdout_fd_ : -1, POLLIN, 0},
                            {stderr_open ? stderr_fd_ : -1, POLLIN, 0},
                            {wake_fd_, POLLIN, 0}};
    int timeout_ms = -1;
    if (!stdout_open) {
      // The server closed stdout: read what it still says on stderr (the reason it
      // died, usually), briefly.
      if (stderr_drain_deadline == absl::InfiniteFuture()) stderr_drain_deadline = absl::Now() + absl::Milliseconds(500);
      timeout_ms = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(stderr_drain_deadline - absl::Now())));
      if (!stderr_open || timeout_ms == 0) break;
    }
    int ready = poll(fds, 3, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      BATON_LOG(ERROR) << "[" << options_.log_name << "] poll: " << strerror(errno);
      break;
    }
    if (fds[2].revents != 0) return;  // Close: it does the rest
    if (fds[0].revents != 0) {
      ssize_t n = read(stdout_fd_, buf, sizeof(buf));
      if (n > 0) {
        HandleStdout(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        stdout_open = false;
      }
    }
    if (fds[1].revents != 0) {
      ssize_t n = read(stderr_fd_, buf, sizeof(buf));
      if (n > 0) {
        HandleStderr(buf, static_cast<size_t>(n), false);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        stderr_open = false;
        HandleStderr(buf, 0, true);
      }
    }
  }
  HandleStderr(buf, 0, true);
  // stdout is closed: the server is gone (or has stopped talking, which is the same
  // to us). Make sure the process is gone too, then report.
  {
    absl::MutexLock lock(&mu_);
    if (closing_) return;
  }
  if (!WaitExit(absl::Milliseconds(500))) {
    pid_t pid = this->pid();
    BATON_LOG(WARNING) << "[" << options_.log_name << "] closed its stdout but still runs; killing it";
    kill(-pid, SIGKILL);
    WaitExit(absl::InfiniteDuration());
  }
  {
    absl::MutexLock lock(&write_mu_);
    CloseFd(stdin_fd_);
  }
  absl::Status why = absl::UnavailableError(DescribeExit());
  {
    absl::MutexLock lock(&mu_);
    if (closing_) return;
  }
  BATON_LOG(WARNING) << "[" << options_.log_name << "] " << why.message();
  if (callbacks_.on_closed) callbacks_.on_closed(why);
}

bool StdioTransport::WaitExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration nap = absl::Microseconds(500);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (exited_) return true;
      if (pid_ <= 0) return true;
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        exited_ = true;
        wait_status_ = status;
        return true;
      }
    }
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(std::min(nap, deadline - absl::Now()));
    nap = std::min(nap * 2, absl::Milliseconds(20));
  }
}

std::string StdioTransport::DescribeExit() {
  std::string out;
  {
    absl::MutexLock lock(&mu_);
    if (WIFEXITED(wait_status_)) {
      out = absl::StrCat("the server exited with status ", WEXITSTATUS(wait_status_));
    } else if (WIFSIGNALED(wait_status_)) {
      out = absl::StrCat("the server was killed by signal ", WTERMSIG(wait_status_));
    } else {
      out = "the server exited";
    }
    if (!stderr_tail_.empty()) absl::StrAppend(&out, "; last stderr: ", stderr_tail_.back());
  }
  return out;
}

void StdioTransport::Close() {
  pid_t pid;
  {
    absl::MutexLock lock(&mu_);
    if (closing_) return;
    closing_ = true;
    pid = pid_;
  }
  if (pid > 0) {
    // The orderly shutdown of the stdio transport: EOF on stdin first.
    {
      absl::MutexLock lock(&write_mu_);
      CloseFd(stdin_fd_);
    }
    if (!WaitExit(options_.close_grace)) {
      kill(-pid, SIGTERM);
      if (!WaitExit(options_.close_grace)) {
        BATON_LOG(WARNING) << "[" << options_.log_name << "] did not stop on SIGTERM; killing it";
        kill(-pid, SIGKILL);
        WaitExit(absl::InfiniteDuration());
      }
    }
  }
  if (io_thread_.joinable()) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    io_thread_.join();
  }
  CloseFd(stdout_fd_);
  CloseFd(stderr_fd_);
  CloseFd(wake_fd_);
}

}  // namespace baton::mcp
