#include "orchestrator/run_view.h"

#include <gtest/gtest.h>

#include <string>

namespace baton::orchestrator {
namespace {

TEST(RunViewTest, BasicCutsLargeFieldsAndKeepsTheSummary) {
  v1::Run run;
  run.set_run_id("default/run_0001");
  run.set_state(v1::SUCCEEDED);
  run.set_steps(3);
  run.set_input(std::string(5 << 20, 'i'));
  run.set_output(std::string(2 << 20, 'o'));
  run.set_error("short");
  run.mutable_agent()->set_name("helper");
  run.mutable_agent()->set_version(4);
  run.mutable_agent()->set_model("claude-sonnet-4-5");
  run.mutable_agent()->set_system(std::string(1 << 20, 's'));
  run.mutable_waits()->Add()->add_results()->mutable_tool_result()->set_content_json(std::string(1 << 20, 'r'));
  (*run.mutable_labels())["team"] = "a";

  ApplyBasicView(&run);
  EXPECT_EQ(run.view(), v1::BASIC);
  EXPECT_EQ(run.input(), std::string(kBasicViewTextBytes, 'i'));
  EXPECT_EQ(run.output(), std::string(kBasicViewTextBytes, 'o'));
  EXPECT_EQ(run.error(), "short");
  EXPECT_EQ(run.agent().name(), "helper");
  EXPECT_EQ(run.agent().version(), 4);
  EXPECT_EQ(run.agent().model(), "claude-sonnet-4-5");
  EXPECT_EQ(run.agent().system(), "");
  ASSERT_EQ(run.waits_size(), 1);
  EXPECT_EQ(run.waits(0).results_size(), 0);
  EXPECT_EQ(run.run_id(), "default/run_0001");
  EXPECT_EQ(run.steps(), 3);
  EXPECT_EQ(run.labels().at("team"), "a");
  EXPECT_LT(run.ByteSizeLong(), 2048u);
}

TEST(RunViewTest, ACutNeverSplitsAUtf8Character) {
  // "é" is two bytes: 255 one-byte characters then "é" would end inside it at 256.
  const std::string text = std::string(255, 'a') + "\xc3\xa9" + "tail";
  EXPECT_EQ(Utf8Prefix(text, 256), std::string(255, 'a'));
  EXPECT_EQ(Utf8Prefix(text, 257), std::string(255, 'a') + "\xc3\xa9");
  EXPECT_EQ(Utf8Prefix("short", 256), "short");
}

}  // namespace
}  // namespace baton::orchestrator
