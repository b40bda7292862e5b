#include "cli/graph_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/text_format.h>

#include "cli/format.h"

namespace baton::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

template <typename T>
T Proto(const std::string& text_proto) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text_proto, &message)) << text_proto;
  return message;
}

std::string Line(const std::string& event) { return FormatEvent(Proto<v1::RunEvent>(event)); }

TEST(NodeEventTest, AgentNodeStartsWithItsChildRunAndFinishesWithAPreview) {
  EXPECT_EQ(Line("node_started { node: 'plan' visit: 1 child_run_id: 'r_1' }"), "node plan started (run r_1)\n");
  EXPECT_EQ(Line(R"(node_finished { node: 'reviewer' visit: 1 child_run_id: 'r_4' state: SUCCEEDED
                   output_preview: '{"approved":false,"feedback":"cite sources"}' })"),
            "node reviewer finished SUCCEEDED: {\"approved\":false,\"feedback\":\"cite sources\"}\n");
}

TEST(NodeEventTest, LaterVisitsSayWhichVisit) {
  EXPECT_EQ(Line("node_started { node: 'writer' visit: 2 child_run_id: 'r_7' }"),
            "node writer started (visit 2, run r_7)\n");
  EXPECT_EQ(Line("node_finished { node: 'writer' visit: 2 state: SUCCEEDED output_preview: 'draft 2' }"),
            "node writer finished SUCCEEDED (visit 2): draft 2\n");
}

TEST(NodeEventTest, AFailedNodeShowsItsErrorNotItsOutput) {
  EXPECT_EQ(Line("node_finished { node: 'plan' visit: 1 state: FAILED output_preview: 'partial' "
                 "error: 'OUTPUT_INVALID: /tasks: required' }"),
            "node plan finished FAILED: OUTPUT_INVALID: /tasks: required\n");
  EXPECT_EQ(Line("node_finished { node: 'plan' visit: 1 state: CANCELLED }"), "node plan finished CANCELLED\n");
}

TEST(NodeEventTest, LongOutputsStayOnOneLine) {
  v1::RunEvent event;
  event.mutable_node_finished()->set_node("writer");
  event.mutable_node_finished()->set_state(v1::SUCCEEDED);
  event.mutable_node_finished()->set_output_preview("# Report\n\n" + std::string(1000, 'x'));
  const std::string line = FormatEvent(event);
  EXPECT_THAT(line, testing::StartsWith("node writer finished SUCCEEDED: # Report\\n\\nxxx"));
  EXPECT_LT(line.size(), 220u);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(NodeEventTest, MapNodeItemsAndProgress) {
  EXPECT_EQ(Line("node_started { node: 'research' visit: 1 items: 20 }"), "node research started: 20 items\n");
  EXPECT_EQ(Line("node_started { node: 'research' visit: 1 item: 7 child_run_id: 'r_9' }"),
            "  research #7 started (run r_9)\n");
  EXPECT_EQ(Line("node_finished { node: 'research' visit: 1 item: 7 state: SUCCEEDED output_preview: 'LFP lasts' }"),
            "  research #7 SUCCEEDED: LFP lasts\n");
  EXPECT_EQ(Line("node_finished { node: 'research' visit: 1 item: 8 state: FAILED error: 'max_steps (4) reached' }"),
            "  research #8 FAILED: max_steps (4) reached\n");
  EXPECT_EQ(Line("map_progress { node: 'research' visit: 1 progress { total: 20 succeeded: 6 failed: 1 running: 4 } }"),
            "node research: 7/20 done, 1 failed, 4 running\n");
  EXPECT_EQ(Line("map_progress { node: 'research' visit: 2 progress { total: 3 succeeded: 3 } }"),
            "node research (visit 2): 3/3 done, 0 failed, 0 running\n");
}

TEST(NodeEventTest, EdgesTakenDroppedAndSkipped) {
  EXPECT_EQ(Line("edge_taken { from: 'writer' to: 'reviewer' }"), "edge writer -> reviewer\n");
  EXPECT_EQ(Line("edge_taken { from: 'reviewer' to: 'writer' dropped: true }"),
            "edge reviewer -> writer dropped: writer has run max_visits times\n");
  EXPECT_EQ(Line("edge_taken { from: 'router' to: 'technical' skipped: true }"),
            "node technical skipped: none of its inputs was taken\n");
}

TEST(NodeEventTest, HumanNodeStartsWithItsApprovalAndItsQuestionSaysHowToAnswer) {
  EXPECT_EQ(Line("node_started { node: 'approve_refund' visit: 1 approval_id: 'r_g:approve_refund:1' }"),
            "node approve_refund started (approval r_g:approve_refund:1)\n");
  EXPECT_EQ(Line(R"(approval_requested { approval { approval_id: 'r_g:approve_refund:1' run_id: 'r_g'
                   kind: GRAPH_NODE tool: 'approve_refund' message: 'Refund $40 for order 7?' } })"),
            "  node approve_refund asks: Refund $40 for order 7?\n"
            "    answer: baton approve r_g:approve_refund:1 | baton deny r_g:approve_refund:1 | "
            "baton respond r_g:approve_refund:1 --message …\n");
  // Only the decisions the node allows.
  EXPECT_EQ(Line(R"(approval_requested { approval { approval_id: 'a1' kind: GRAPH_NODE tool: 'gate'
                   message: 'Ship it?' decisions: [APPROVE, DENY] } })"),
            "  node gate asks: Ship it?\n    answer: baton approve a1 | baton deny a1\n");
}

TEST(NodeEventTest, OtherEventsAreNotNodeEvents) {
  EXPECT_EQ(FormatNodeEvent(Proto<v1::RunEvent>("state_changed { state: RUNNING }")), "");
}

TEST(GraphFormatTest, GraphSummaryNamesVersionAndNodes) {
  EXPECT_EQ(GraphSummary(Proto<v1::GraphSpec>("name: 'research' version: 2 nodes { id: 'a' } nodes { id: 'b' }")),
            "research v2, 2 nodes");
  EXPECT_EQ(GraphSummary(Proto<v1::GraphSpec>("nodes { id: 'a' }")), "(inline), 1 node");
}

TEST(GraphFormatTest, GraphTableHasNameVersionNodesAndDescription) {
  std::vector<v1::GraphSpec> graphs = {
      Proto<v1::GraphSpec>("name: 'research' version: 3 description: 'Plans, researches, writes.' "
                           "nodes { id: 'a' } nodes { id: 'b' } nodes { id: 'c' } nodes { id: 'd' }"),
      Proto<v1::GraphSpec>("name: 'triage' version: 1 nodes { id: 'a' }")};
  EXPECT_EQ(FormatGraphTable(graphs),
            "NAME      VERSION  NODES  DESCRIPTION\n"
            "research  3        4      Plans, researches, writes.\n"
            "triage    1        1\n");
}

TEST(GraphFormatTest, GetShowsAGraphRunsGraphAndNoSteps) {
  v1::Run run = Proto<v1::Run>(R"pb(run_id: 'r_g' state: SUCCEEDED input: 'Compare batteries'
      graph { name: 'research' version: 1 nodes { id: 'planner' } nodes { id: 'research' } }
      children: 5 output: 'The report.')pb");
  const std::string out = FormatRun(run, 0, absl::UTCTimeZone());
  EXPECT_THAT(out, HasSubstr("graph       research v1, 2 nodes (baton transcript r_g: each node's run)\n"));
  EXPECT_THAT(out, Not(HasSubstr("agent ")));
  EXPECT_THAT(out, Not(HasSubstr("steps ")));
  EXPECT_THAT(out, HasSubstr("children    5 (baton ls --parent r_g)\n"));
  EXPECT_THAT(out, HasSubstr("output:\nThe report.\n"));
}

TEST(GraphFormatTest, GetShowsTheNodeAChildRunRuns) {
  v1::Run run = Proto<v1::Run>(R"pb(run_id: 'r_9' state: RUNNING agent { name: 'researcher' model: 'm' }
      parent_run_id: 'r_g' root_run_id: 'r_g' depth: 1 graph_node: 'research' graph_visit: 1 map_item: 7)pb");
  EXPECT_THAT(FormatRun(run, 0, absl::UTCTimeZone()), HasSubstr("graph node  research #7\n"));
  run.set_graph_node("writer");
  run.set_graph_visit(2);
  run.set_map_item(0);
  EXPECT_EQ(NodeRunLabel(run), "writer (visit 2)");
  EXPECT_EQ(NodeRunLabel(v1::Run()), "");
}

TEST(GraphFormatTest, RunTableCallsAGraphRunsAgentItsGraph) {
  std::vector<v1::Run> runs = {Proto<v1::Run>("run_id: 'r_g' state: WAITING graph { name: 'triage' } input: 'x'"),
                               Proto<v1::Run>("run_id: 'r_i' state: QUEUED graph { } input: 'y'")};
  const std::string table = FormatRunTable(runs, 0);
  EXPECT_THAT(table, HasSubstr("r_g     WAITING  graph triage"));
  EXPECT_THAT(table, HasSubstr("r_i     QUEUED   graph (inline)"));
}

TEST(GraphFormatTest, TranscriptOfAGraphRunListsItsNodeRuns) {
  v1::Transcript transcript = Proto<v1::Transcript>(R"pb(
      run_id: 'r_g' input: 'Refund order 7'
      entries { seq: 1 node_started { node: 'router' visit: 1 child_run_id: 'r_1' } }
      entries { seq: 2 node_finished { node: 'router' visit: 1 state: SUCCEEDED output: '{}' } }
      nodes { node: 'router' visit: 1 child_run_id: 'r_1' input: 'Refund order 7' state: SUCCEEDED
              output: '{"category":"billing"}' }
      nodes { node: 'research' visit: 1 input: '["LFP","NMC"]' state: SUCCEEDED output: '["a",null]' }
      nodes { node: 'approve_refund' visit: 1 approval_id: 'r_g:approve_refund:1' input: 'Refund?' state: RUNNING }
      nodes { node: 'research' visit: 2 item: 3 child_run_id: 'r_5' input: 'Research: LFP' state: FAILED
              error: 'max_steps (4) reached' })pb");
  const std::string out = FormatTranscript(transcript);
  EXPECT_THAT(out, HasSubstr("transcript of r_g\n\nuser:\n  Refund order 7\n\nnode runs (4; "));
  // A map node as a whole: the items it fanned out to, the array of their outputs.
  EXPECT_THAT(out, HasSubstr("\nnode research · SUCCEEDED\n"
                             "  items:  [\"LFP\",\"NMC\"]\n"
                             "  output: [\"a\",null]\n"));
  EXPECT_THAT(out, HasSubstr("\nnode router · run r_1 · SUCCEEDED\n"
                             "  input:  Refund order 7\n"
                             "  output: {\"category\":\"billing\"}\n"));
  EXPECT_THAT(out, HasSubstr("\nnode approve_refund · approval r_g:approve_refund:1 · RUNNING\n"
                             "  prompt: Refund?\n"));
  EXPECT_THAT(out, HasSubstr("\nnode research #3 (visit 2) · run r_5 · FAILED\n"
                             "  input:  Research: LFP\n"
                             "  error:  max_steps (4) reached\n"));
  EXPECT_THAT(out, HasSubstr("\nusage: "));
}

TEST(GraphFormatTest, ApprovalsTableShowsAGraphQuestionsNodeAndPrompt) {
  std::vector<v1::Approval> approvals = {Proto<v1::Approval>(
      "approval_id: 'r_g:approve_refund:1' run_id: 'r_g' kind: GRAPH_NODE tool: 'approve_refund' "
      "message: 'Refund order 7?' state: PENDING")};
  EXPECT_EQ(FormatApprovalTable(approvals, 0),
            "ID                    RUN  TOOL                 INPUT            STATE    EXPIRES / DECISION\n"
            "r_g:approve_refund:1  r_g  node approve_refund  Refund order 7?  PENDING  -\n");
  v1::Approval decided = approvals[0];
  decided.set_state(v1::Approval::DECIDED);
  decided.mutable_decision()->set_decision(v1::RESPOND);
  decided.mutable_decision()->set_message("refund half");
  decided.mutable_decision()->set_decided_by("alice");
  EXPECT_EQ(FormatApproval(decided),
            "approval r_g:approve_refund:1: RESPOND by alice: refund half (node approve_refund on r_g)\n");
}

}  // namespace
}  // namespace baton::cli
