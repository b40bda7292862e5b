#include "orchestrator/limits.h"

#include <gtest/gtest.h>

#include <string>

#include "orchestrator/validation.h"

namespace baton::orchestrator {
namespace {

v1::CreateRunRequest Request(size_t input_bytes) {
  v1::CreateRunRequest request;
  request.mutable_agent()->set_model("claude-sonnet-4-5");
  request.set_input(std::string(input_bytes, 'x'));
  return request;
}

void ExpectRefused(const absl::Status& s, const std::string& message) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message(), message);
}

TEST(LimitsTest, RefusalNamesTheFieldTheSizeTheLimitAndItsFlag) {
  EXPECT_TRUE(CheckSize("input", 8 << 20, 8 << 20, "--max-input-bytes").ok());
  ExpectRefused(CheckSize("input", 9437184, 8388608, "--max-input-bytes"),
                "input: 9437184 bytes is over the limit of 8388608 (--max-input-bytes)");
}

TEST(LimitsTest, DefaultsKeepTodaysBehaviour) {
  const InputLimits limits;
  EXPECT_EQ(limits.max_input_bytes, 8 << 20);
  EXPECT_EQ(limits.max_spec_bytes, 1 << 20);
  EXPECT_EQ(limits.max_journal_entry_bytes, 16 << 20);
  // Under gRPC's default client receive limit (4 MiB), with room for the framing.
  EXPECT_LT(limits.max_page_bytes, 4 << 20);
  EXPECT_GE(limits.max_page_bytes, (4 << 20) - (64 << 10));
}

TEST(LimitsTest, RunInputOverTheLimitIsRefusedAndAtTheLimitAccepted) {
  EXPECT_TRUE(ValidateCreateRunRequest(Request(8 << 20)).ok());
  ExpectRefused(ValidateCreateRunRequest(Request((8 << 20) + 1)),
                "input: 8388609 bytes is over the limit of 8388608 (--max-input-bytes)");
  InputLimits small;
  small.max_input_bytes = 100;
  EXPECT_TRUE(ValidateCreateRunRequest(Request(100), small).ok());
  ExpectRefused(ValidateCreateRunRequest(Request(101), small),
                "input: 101 bytes is over the limit of 100 (--max-input-bytes)");
}

TEST(LimitsTest, InlineAgentAndGraphOverTheSpecLimitAreRefused) {
  InputLimits limits;
  limits.max_spec_bytes = 1000;
  v1::CreateRunRequest request = Request(10);
  request.mutable_agent()->set_system(std::string(900, 's'));
  EXPECT_TRUE(ValidateCreateRunRequest(request, limits).ok());
  request.mutable_agent()->set_system(std::string(1000, 's'));
  const size_t agent_bytes = request.agent().ByteSizeLong();
  ExpectRefused(ValidateCreateRunRequest(request, limits),
                "agent: " + std::to_string(agent_bytes) + " bytes is over the limit of 1000 (--max-spec-bytes)");

  v1::CreateRunRequest graph_run;
  graph_run.set_input("go");
  graph_run.mutable_graph()->set_description(std::string(2000, 'd'));
  const absl::Status s = ValidateCreateRunRequest(graph_run, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("graph: ", 0), 0u) << s;
  EXPECT_NE(s.message().find("(--max-spec-bytes)"), std::string::npos) << s;
}

TEST(LimitsTest, AppendStepChecksTheRequestEachEntryAndEachChildInput) {
  InputLimits limits;
  limits.max_append_bytes = 10'000;
  limits.max_journal_entry_bytes = 1'000;
  limits.max_input_bytes = 500;
  v1::AppendStepRequest request;
  request.mutable_lease()->set_run_id("run_1");
  request.add_entries()->mutable_tool_result()->set_content_json(std::string(900, 'a'));
  v1::ChildRunSpec* child = request.add_children();
  child->set_input(std::string(500, 'i'));
  EXPECT_TRUE(CheckAppendStepSize(request, limits).ok());

  request.add_entries()->mutable_tool_result()->set_content_json(std::string(1000, 'a'));
  const size_t entry_bytes = request.entries(1).ByteSizeLong();
  ExpectRefused(CheckAppendStepSize(request, limits),
                "entries[1]: " + std::to_string(entry_bytes) +
                    " bytes is over the limit of 1000 (--max-journal-entry-bytes)");
  request.mutable_entries()->RemoveLast();

  child->set_input(std::string(501, 'i'));
  ExpectRefused(CheckAppendStepSize(request, limits),
                "children[0].input: 501 bytes is over the limit of 500 (--max-input-bytes)");
  child->set_input("i");

  // Many entries, each within its limit, together over the request's.
  for (int i = 0; i < 12; ++i) request.add_entries()->mutable_tool_result()->set_content_json(std::string(900, 'b'));
  const absl::Status s = CheckAppendStepSize(request, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().rfind("request: ", 0), 0u) << s;
  EXPECT_NE(s.message().find("over the limit of 10000 (--max-append-bytes)"), std::string::npos) << s;
}

TEST(LimitsTest, ServersReceiveMoreThanTheLargestLimitSoTheRefusalIsOurs) {
  const InputLimits defaults;
  const int receive = MaxReceiveMessageBytes(defaults);
  EXPECT_GT(receive, defaults.max_append_bytes);
  EXPECT_GT(receive, defaults.max_input_bytes + defaults.max_spec_bytes);
  EXPECT_GT(receive, defaults.max_input_bytes + defaults.max_journal_entry_bytes);
  EXPECT_LE(receive, 64 << 20);  // no more than before the limits existed

  InputLimits huge;
  huge.max_input_bytes = kMaxLimitBytes;
  huge.max_journal_entry_bytes = kMaxLimitBytes;
  huge.max_append_bytes = kMaxLimitBytes;
  EXPECT_EQ(MaxReceiveMessageBytes(huge), INT32_MAX);  // gRPC takes an int
}

TEST(LimitsTest, PageStopsBeforeTheBudgetButTakesOneRecordAlways) {
  PageBudget budget(10'000);
  EXPECT_TRUE(budget.Take(4'000));
  EXPECT_TRUE(budget.Take(4'000));
  EXPECT_FALSE(budget.Take(4'000));  // 12 KB of records: over
  EXPECT_EQ(budget.records(), 2);

  PageBudget alone(10'000);
  EXPECT_TRUE(alone.Take(50'000));  // one record larger than the budget still comes back
  EXPECT_FALSE(alone.Take(1));
  EXPECT_EQ(alone.records(), 1);
}

TEST(LimitsTest, PageCountsTheFramingOfEachRecordAndRoomForTheToken) {
  // Records of 100 bytes take 102 on the wire (tag, one-byte length): one byte short
  // of ten of them is nine.
  PageBudget budget(PageBudget::kReserveBytes + 10 * 102 - 1);
  int taken = 0;
  while (budget.Take(100)) ++taken;
  EXPECT_EQ(taken, 9);
  PageBudget exact(PageBudget::kReserveBytes + 10 * 102);
  taken = 0;
  while (exact.Take(100)) ++taken;
  EXPECT_EQ(taken, 10);
}

}  // namespace
}  // namespace baton::orchestrator
