// A small disk a test can fill: a tmpfs mounted on a fresh temporary directory for
// the life of the object. Mounting needs CAP_SYS_ADMIN (root in the test container);
// when it is refused, error() says why and the test skips with it (GTEST_SKIP), never
// passes without having filled a disk.
#ifndef BATON_TESTS_SUPPORT_TMPFS_MOUNT_H_
#define BATON_TESTS_SUPPORT_TMPFS_MOUNT_H_

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace baton::testing {

class TmpfsMount {
 public:
  // On `at` (created if missing) when given, else on a fresh temporary directory.
  explicit TmpfsMount(uint64_t bytes, const std::string& at = "") {
    if (at.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "baton_tmpfs_XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) {
        error_ = std::string("mkdtemp: ") + std::strerror(errno);
        return;
      }
      path_ = tmpl;
    } else {
      std::error_code ec;
      std::filesystem::create_directories(at, ec);
      path_ = at;
    }
    const std::string data = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, data.c_str()) != 0) {
      error_ = std::string("mounting a tmpfs on ") + path_ + " is not permitted here (" + std::strerror(errno) +
               "): the test needs CAP_SYS_ADMIN to give the data directory a disk it can fill";
      return;
    }
    mounted_ = true;
  }
  ~TmpfsMount() {
    // Lazily: a process the test started may still hold a file in it.
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

  // Writes <path>/ballast until the filesystem has no room left for one more byte;
  // returns the bytes written.
  uint64_t FillWithBallast() {
    const std::string file = path_ + "/ballast";
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return 0;
    uint64_t written = 0;
    for (size_t chunk : {size_t{1} << 20, size_t{4096}, size_t{1}}) {
      const std::vector<char> bytes(chunk, 'b');
      for (;;) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n <= 0) break;
        written += static_cast<uint64_t>(n);
      }
    }
    ::close(fd);
    return written;
  }
  void RemoveBallast() { ::unlink((path_ + "/ballast").c_str()); }

 private:
  std::string path_;
  std::string error_;
  bool mounted_ = false;
};

}  // namespace baton::testing

#endif  // BATON_TESTS_SUPPORT_TMPFS_MOUNT_H_
