// Starts the real baton-model-sim binary on port 0 and talks to it over raw sockets.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/workers/model_sim/raw_http.h"

extern char** environ;

namespace baton::model_sim {
namespace {

using nlohmann::json;
using testing::ParseSse;
using testing::PostRequest;
using testing::RawConnection;

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// One baton-model-sim process with its port file and stderr in a temp dir.
class SimProcess {
 public:
  SimProcess(std::vector<std::string> args, std::vector<std::string> extra_env = {}) {
    const char* bin_dir = std::getenv("BATON_BIN_DIR");
    std::string bin = std::string(bin_dir ? bin_dir : ".") + "/baton-model-sim";
    dir_ = std::filesystem::temp_directory_path() /
           ("model_sim_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    port_file_ = dir_ / "port";
    stderr_file_ = dir_ / "stderr";

    std::vector<std::string> argv_s = {bin, "--port-file=" + port_file_.string()};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("BATON_SIM_API_KEY=", 0) != 0) env_s.push_back(*e);
    }
    env_s.insert(env_s.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> envp;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
  }

  ~SimProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Waits for the port file; 0 when the process died or took too long.
  int WaitForPort() {
    for (int i = 0; i < 200 && pid_ > 0; ++i) {
      std::string text = ReadFile(port_file_);
      if (!text.empty() && text.back() == '\n') return std::atoi(text.c_str());
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_status_ = status;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  }

  // Sends SIGTERM and returns the exit status (or -1 after a 5 s timeout).
  int Terminate() {
    if (pid_ <= 0) return exit_status_;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  std::string Stderr() const { return ReadFile(stderr_file_); }
  bool started() const { return pid_ > 0; }
  int exit_status() const { return exit_status_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_, port_file_, stderr_file_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

std::string MessagesBody(const std::string& prompt, bool stream) {
  json b = {{"model", "claude-haiku-4-5"},
            {"max_tokens", 256},
            {"messages", json::array({{{"role", "user"}, {"content", prompt}}})}};
  b["tools"] = json::parse(R"([{"name":"echo","input_schema":{"type":"object",
      "properties":{"text":{"type":"string"}},"required":["text"]}}])");
  if (stream) b["stream"] = true;
  return b.dump();
}

TEST(ModelSimBinaryTest, StreamsSseWithTheApiFramingAndStopsOnSigterm) {
  SimProcess sim({});
  ASSERT_TRUE(sim.started());
  int port = sim.WaitForPort();
  ASSERT_GT(port, 0) << sim.Stderr();
  EXPECT_NE(sim.Stderr().find("baton-model-sim listening on 127.0.0.1:" + std::to_string(port)),
            std::string::npos);

  RawConnection c(port);
  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", MessagesBody("weather? [sim steps=2]", true))));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"].rfind("text/event-stream", 0), 0u);
  EXPECT_EQ(r->headers["request-id"].rfind("req_", 0), 0u);
  EXPECT_TRUE(r->chunked);
  // Every frame is exactly "event: X\ndata: {...}\n\n".
  auto events = ParseSse(r->body);
  ASSERT_TRUE(events.has_value()) << r->body;
  std::vector<std::string> names;
  for (const auto& e : *events) names.push_back(e.event);
  ASSERT_GE(names.size(), 8u);
  EXPECT_EQ(names[0], "message_start");
  EXPECT_EQ(names[1], "content_block_start");
  EXPECT_EQ(names[2], "ping");
  EXPECT_EQ(names[names.size() - 2], "message_delta");
  EXPECT_EQ(names.back(), "message_stop");
  std::string partial;
  for (const auto& e : *events) {
    if (e.event == "content_block_delta" && e.data["delta"]["type"] == "input_json_delta") {
      partial += e.data["delta"]["partial_json"].get<std::string>();
    }
  }
  EXPECT_EQ(json::parse(partial), json::parse(R"({"text":"hello"})"));
  EXPECT_EQ((*events)[events->size() - 2].data["delta"]["stop_reason"], "tool_use");

  // The same connection stays usable after a stream.
  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", MessagesBody("again", false))));
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status, 200);
  EXPECT_EQ(json::parse(r2->body)["type"], "message");

  int status = sim.Terminate();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ModelSimBinaryTest, ScriptedErrorAndValidationErrorOverTheWire) {
  SimProcess sim({});
  int port = sim.WaitForPort();
  ASSERT_GT(port, 0) << sim.Stderr();
  RawConnection c(port);
  ASSERT_TRUE(c.Send(PostRequest(
      "/_sim/script",
      R"({"replies":[{"status":529,"error":{"type":"overloaded_error","message":"Overloaded"},
                      "headers":{"x-should-retry":"true"}}]})",
      {})));
  auto queued = c.ReadResponse();
  ASSERT_TRUE(queued.has_value());
  ASSERT_EQ(queued->status, 200) << queued->body;

  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", MessagesBody("x", true))));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 529);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_EQ(r->headers["x-should-retry"], "true");
  json e = json::parse(r->body);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "overloaded_error");
  EXPECT_EQ(e["error"]["message"], "Overloaded");
  EXPECT_EQ(e["request_id"], r->headers["request-id"]);

  // tool_result-first rule enforced by the binary.
  json bad = json::parse(MessagesBody("x", false));
  bad["messages"].push_back(json::parse(
      R"({"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"echo","input":{}}]})"));
  bad["messages"].push_back(json::parse(R"({"role":"user","content":"forgot the result"})"));
  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", bad.dump())));
  auto r2 = c.ReadResponse();
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->status, 400);
  EXPECT_EQ(json::parse(r2->body)["error"]["message"],
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
            "toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the "
            "next message.");
}

TEST(ModelSimBinaryTest, MidStreamErrorOverTheWire) {
  SimProcess sim({});
  int port = sim.WaitForPort();
  ASSERT_GT(port, 0) << sim.Stderr();
  RawConnection c(port);
  ASSERT_TRUE(c.Send(PostRequest(
      "/_sim/script",
      R"({"replies":[{"stream_error":{"type":"overloaded_error","message":"Overloaded"},"after_events":2}]})",
      {})));
  ASSERT_TRUE(c.ReadResponse().has_value());
  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", MessagesBody("x", true))));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  auto events = ParseSse(r->body);
  ASSERT_TRUE(events.has_value()) << r->body;
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[2].event, "error");
  EXPECT_EQ((*events)[2].data["error"]["type"], "overloaded_error");
}

TEST(ModelSimBinaryTest, ApiKeyIsEnforcedAndNeverLogged) {
  const std::string key = "sk-test-very-secret-key";
  SimProcess sim({}, {"BATON_SIM_API_KEY=" + key});
  int port = sim.WaitForPort();
  ASSERT_GT(port, 0) << sim.Stderr();
  RawConnection c(port);
  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", MessagesBody("x", false),
                                 {"anthropic-version: 2023-06-01", "x-api-key: nope"})));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "authentication_error");
  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", MessagesBody("x", false),
                                 {"anthropic-version: 2023-06-01", "x-api-key: " + key})));
  r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  ASSERT_TRUE(c.Send("GET /_sim/requests HTTP/1.1\r\n\r\n"));
  r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body.find(key), std::string::npos);
  EXPECT_EQ(json::parse(r->body)[1]["headers"]["x-api-key"], "REDACTED");
  sim.Terminate();
  EXPECT_EQ(sim.Stderr().find(key), std::string::npos);
}

TEST(ModelSimBinaryTest, ScriptFileIsLoadedAtStart) {
  auto path = std::filesystem::temp_directory_path() / ("sim_script_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << R"({"replies":[{"content":"from the file","match":"FILEMARK"}]})";
  SimProcess sim({"--script=" + path.string(), "--latency-ms=1"});
  int port = sim.WaitForPort();
  ASSERT_GT(port, 0) << sim.Stderr();
  RawConnection c(port);
  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", MessagesBody("no mark", false))));
  auto r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(json::parse(r->body)["content"][0]["text"], "from the file");
  ASSERT_TRUE(c.Send(PostRequest("/v1/messages", MessagesBody("FILEMARK", false))));
  r = c.ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(json::parse(r->body)["content"][0]["text"], "from the file");
  std::filesystem::remove(path);
}

TEST(ModelSimBinaryTest, BadScriptFileFailsAtStart) {
  auto path = std::filesystem::temp_directory_path() / ("sim_bad_" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << R"({"replies":[{"stauts":429}]})";
  SimProcess sim({"--script=" + path.string()});
  EXPECT_EQ(sim.WaitForPort(), 0);
  EXPECT_TRUE(WIFEXITED(sim.exit_status()));
  EXPECT_NE(WEXITSTATUS(sim.exit_status()), 0);
  EXPECT_NE(sim.Stderr().find("replies.0.stauts: unknown field"), std::string::npos) << sim.Stderr();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace baton::model_sim
