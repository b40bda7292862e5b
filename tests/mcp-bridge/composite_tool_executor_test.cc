#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workers/bridge_tool_executor.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;

// Lists the given names; answers calls with "<prefix>:<name>"; can be made to fail.
class FakeExecutor final : public ToolExecutor {
 public:
  FakeExecutor(std::string prefix, std::vector<std::string> names) : prefix_(std::move(prefix)), names_(std::move(names)) {}
  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override {
    if (down) return absl::UnavailableError(prefix_ + " is down");
    std::vector<ToolDefinition> out;
    for (const std::string& n : names_) out.push_back({n, "", json::object(), false, false});
    return out;
  }
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const json&, const ToolCallContext&) override {
    if (down) return absl::UnavailableError(prefix_ + " is down");
    return ToolOutput{json(prefix_ + ":" + name), false};
  }
  bool down = false;

 private:
  std::string prefix_;
  std::vector<std::string> names_;
};

std::vector<std::string> Names(const std::vector<ToolDefinition>& tools) {
  std::vector<std::string> out;
  for (const ToolDefinition& t : tools) out.push_back(t.name);
  return out;
}

TEST(CompositeToolExecutorTest, OffersEveryPartsToolsAndRoutesCallsToTheirOwner) {
  FakeExecutor builtin("builtin", {"echo", "sum"});
  FakeExecutor bridge("bridge", {"mcp__fs__read", "echo"});
  CompositeToolExecutor tools({&builtin, &bridge});
  auto listed = tools.ListTools();
  ASSERT_TRUE(listed.ok());
  EXPECT_THAT(Names(*listed), ElementsAre("echo", "sum", "mcp__fs__read"));  // the first part wins a name
  EXPECT_EQ(tools.CallTool("echo", json::object(), {})->content, "builtin:echo");
  EXPECT_EQ(tools.CallTool("mcp__fs__read", json::object(), {})->content, "bridge:mcp__fs__read");
  EXPECT_TRUE(tools.CallTool("nope", json::object(), {})->is_error);
}

TEST(CompositeToolExecutorTest, APartThatIsDownKeepsItsLastListAndFailsItsCalls) {
  FakeExecutor builtin("builtin", {"echo"});
  FakeExecutor bridge("bridge", {"mcp__fs__read"});
  CompositeToolExecutor tools({&builtin, &bridge});
  ASSERT_TRUE(tools.ListTools().ok());
  bridge.down = true;
  auto listed = tools.ListTools();
  ASSERT_TRUE(listed.ok());
  EXPECT_THAT(Names(*listed), ElementsAre("echo", "mcp__fs__read"));
  EXPECT_EQ(tools.CallTool("mcp__fs__read", json::object(), {}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(tools.CallTool("echo", json::object(), {})->content, "builtin:echo");
}

TEST(CompositeToolExecutorTest, APartThatNeverListedFailsTheListing) {
  FakeExecutor builtin("builtin", {"echo"});
  FakeExecutor bridge("bridge", {"mcp__fs__read"});
  bridge.down = true;
  CompositeToolExecutor tools({&builtin, &bridge});
  EXPECT_EQ(tools.ListTools().status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace baton::worker
