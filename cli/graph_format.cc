#include "cli/graph_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/format.h"

namespace baton::cli {
namespace {

// How much of a node's input or output a transcript shows: the node's own run has it
// all (`baton transcript CHILD_RUN_ID`).
constexpr size_t kNodePreviewChars = 300;

// "research #3", "writer (visit 2)", "research #3 (visit 2)": a node run's name. The
// first visit goes without saying.
std::string NodeName(const std::string& node, int32_t visit, int32_t item) {
  std::string out = node;
  if (item > 0) absl::StrAppend(&out, " #", item);
  if (visit > 1) absl::StrAppend(&out, " (visit ", visit, ")");
  return out;
}

std::string NodeStartedLine(const v1::RunEvent::NodeStarted& e) {
  std::vector<std::string> details;
  if (e.visit() > 1) details.push_back(absl::StrCat("visit ", e.visit()));
  if (!e.child_run_id().empty()) details.push_back(absl::StrCat("run ", e.child_run_id()));
  if (!e.approval_id().empty()) details.push_back(absl::StrCat("approval ", e.approval_id()));
  const std::string detail = details.empty() ? "" : absl::StrCat(" (", absl::StrJoin(details, ", "), ")");
  // A map item, under its node.
  if (e.item() > 0) return absl::StrCat("  ", e.node(), " #", e.item(), " started", detail, "\n");
  // A map node as a whole: how many items it fans out to.
  if (e.items() > 0) {
    return absl::StrCat("node ", e.node(), " started", detail, ": ", e.items(), e.items() == 1 ? " item" : " items",
                        "\n");
  }
  return absl::StrCat("node ", e.node(), " started", detail, "\n");
}

std::string NodeFinishedLine(const v1::RunEvent::NodeFinished& e) {
  // A failed node says why; one that succeeded shows what it produced.
  const std::string& what = e.state() == v1::SUCCEEDED || e.error().empty() ? e.output_preview() : e.error();
  const std::string tail = what.empty() ? "" : absl::StrCat(": ", Preview(what));
  if (e.item() > 0) {
    return absl::StrCat("  ", NodeName(e.node(), e.visit(), e.item()), " ", StateName(e.state()), tail, "\n");
  }
  return absl::StrCat("node ", e.node(), " finished ", StateName(e.state()),
                      e.visit() > 1 ? absl::StrCat(" (visit ", e.visit(), ")") : "", tail, "\n");
}

std::string EdgeLine(const v1::RunEvent::EdgeTaken& e) {
  if (e.skipped()) return absl::StrCat("node ", e.to(), " skipped: none of its inputs was taken\n");
  if (e.dropped()) {
    return absl::StrCat("edge ", e.from(), " -> ", e.to(), " dropped: ", e.to(), " has run max_visits times\n");
  }
  return absl::StrCat("edge ", e.from(), " -> ", e.to(), "\n");
}

std::string MapProgressLine(const v1::RunEvent::MapUpdate& e) {
  const v1::MapProgress& p = e.progress();
  return absl::StrCat("node ", NodeName(e.node(), e.visit(), 0), ": ", p.succeeded() + p.failed(), "/", p.total(),
                      " done, ", p.failed(), " failed, ", p.running(), " running\n");
}

}  // namespace

std::string FormatNodeEvent(const v1::RunEvent& event) {
  switch (event.event_case()) {
    case v1::RunEvent::kNodeStarted:
      return NodeStartedLine(event.node_started());
    case v1::RunEvent::kNodeFinished:
      return NodeFinishedLine(event.node_finished());
    case v1::RunEvent::kEdgeTaken:
      return EdgeLine(event.edge_taken());
    case v1::RunEvent::kMapProgress:
      return MapProgressLine(event.map_progress());
    default:
      return "";
  }
}

std::string GraphSummary(const v1::GraphSpec& graph) {
  std::string out = graph.name().empty() ? "(inline)" : graph.name();
  if (graph.version() > 0) absl::StrAppend(&out, " v", graph.version());
  absl::StrAppend(&out, ", ", graph.nodes_size(), graph.nodes_size() == 1 ? " node" : " nodes");
  return out;
}

std::string NodeRunLabel(const v1::Run& run) {
  if (run.graph_node().empty()) return "";
  return NodeName(run.graph_node(), run.graph_visit(), run.map_item());
}

std::string FormatGraph(const v1::GraphSpec& graph) { return ToPrettyJson(graph); }

std::string FormatGraphTable(const std::vector<v1::GraphSpec>& graphs) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "VERSION", "NODES", "DESCRIPTION"}};
  for (const v1::GraphSpec& graph : graphs) {
    rows.push_back({graph.name(), absl::StrCat(graph.version()), absl::StrCat(graph.nodes_size()),
                    Preview(graph.description(), 60)});
  }
  return FormatTable(rows);
}

std::string FormatNodeRuns(const google::protobuf::RepeatedPtrField<v1::GraphNodeRun>& nodes) {
  std::string out = absl::StrCat("\nnode runs (", nodes.size(),
                                 "; `baton transcript CHILD_RUN_ID` shows one's conversation):\n");
  for (const v1::GraphNodeRun& node : nodes) {
    std::vector<std::string> head = {NodeName(node.node(), node.visit(), node.item())};
    if (!node.child_run_id().empty()) head.push_back(absl::StrCat("run ", node.child_run_id()));
    if (!node.approval_id().empty()) head.push_back(absl::StrCat("approval ", node.approval_id()));
    head.push_back(StateName(node.state()));
    absl::StrAppend(&out, "\nnode ", absl::StrJoin(head, " · "), "\n");
    // A human node's input is the prompt it asked; a map node's (as a whole), its items.
    if (!node.input().empty()) {
      const bool map = node.item() == 0 && node.child_run_id().empty() && node.approval_id().empty();
      absl::StrAppend(&out, !node.approval_id().empty() ? "  prompt: " : map ? "  items:  " : "  input:  ",
                      Preview(node.input(), kNodePreviewChars), "\n");
    }
    if (!node.output().empty()) absl::StrAppend(&out, "  output: ", Preview(node.output(), kNodePreviewChars), "\n");
    if (!node.error().empty()) absl::StrAppend(&out, "  error:  ", Preview(node.error(), kNodePreviewChars), "\n");
  }
  return out;
}

}  // namespace baton::cli
