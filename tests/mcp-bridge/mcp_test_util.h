// Where the tests find Node, the npm MCP servers and the fault servers.
#ifndef BATON_TESTS_MCP_BRIDGE_MCP_TEST_UTIL_H_
#define BATON_TESTS_MCP_BRIDGE_MCP_TEST_UTIL_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "mcp-bridge/config.h"

namespace baton::mcp::testing {

inline std::string SourceDir() {
  const char* dir = std::getenv("BATON_SOURCE_DIR");
  return dir != nullptr ? dir : ".";
}
inline std::string BinDir() {
  const char* dir = std::getenv("BATON_BIN_DIR");
  return dir != nullptr ? dir : ".";
}
inline std::string NpmModules() { return SourceDir() + "/tests/npm/node_modules"; }
inline std::string EverythingServer() {
  return NpmModules() + "/@modelcontextprotocol/server-everything/dist/index.js";
}
inline std::string FilesystemServer() {
  return NpmModules() + "/@modelcontextprotocol/server-filesystem/dist/index.js";
}
inline std::string FaultServer() { return SourceDir() + "/tests/mcp-bridge/servers/fault_server.mjs"; }

// Temp dirs of the test binary, removed when it exits.
struct TempDirs {
  ~TempDirs() {
    std::error_code ec;
    for (const std::string& d : dirs) std::filesystem::remove_all(d, ec);
  }
  std::vector<std::string> dirs;
};
inline TempDirs temp_dirs;

inline std::string MakeTempDir() {
  std::string tmpl = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : "/tmp") + "/baton-mcp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  char* dir = mkdtemp(buf.data());
  if (dir == nullptr) return "/tmp";
  temp_dirs.dirs.push_back(dir);
  return dir;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<std::string> ReadLines(const std::string& path) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty())) out.emplace_back(line);
  return out;
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// Polls `condition` until it holds or `timeout` passes.
template <typename F>
bool Eventually(F condition, absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

// A stdio server config running `script` with node.
inline ServerConfig NodeServer(const std::string& name, const std::string& script, std::vector<std::string> args = {}) {
  ServerConfig c;
  c.name = name;
  c.transport = TransportKind::kStdio;
  c.command = "node";
  c.args = {script};
  c.args.insert(c.args.end(), args.begin(), args.end());
  c.restart_backoff_initial = absl::Milliseconds(50);
  c.call_timeout = absl::Seconds(20);
  return c;
}

}  // namespace baton::mcp::testing

#endif  // BATON_TESTS_MCP_BRIDGE_MCP_TEST_UTIL_H_
