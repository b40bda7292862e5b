// A graph spec file as `baton graph put` reads it (cli/spec_file) and as the
// orchestrator checks it before storing: graph::ValidateGraph (edges, templates,
// conditions, cycles, schemas, inline subgraphs), then ValidateAgentSpec for every
// inline agent, as ResolveGraph does. Properties: no crash, no sanitizer report; every
// refusal is INVALID_ARGUMENT.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "cli/spec_file.h"
#include "orchestrator/graph/graph_execution.h"
#include "orchestrator/validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void CheckInvalidArgumentOrOk(const absl::Status& s) {
  FUZZ_CHECK(s.ok() || s.code() == absl::StatusCode::kInvalidArgument);
}

// The inline agents of `graph` and of its inline subgraphs (ResolveGraph without a store).
void ValidateInlineAgents(const baton::v1::GraphSpec& graph, int depth) {
  if (depth > 8) return;
  for (const baton::v1::GraphNode& node : graph.nodes()) {
    if (node.has_agent() && node.agent().agent_name().empty()) {
      CheckInvalidArgumentOrOk(baton::orchestrator::ValidateAgentSpec(node.agent().agent(), false));
    } else if (node.has_map() && node.map().agent().agent_name().empty()) {
      CheckInvalidArgumentOrOk(baton::orchestrator::ValidateAgentSpec(node.map().agent().agent(), false));
    } else if (node.has_graph()) {
      ValidateInlineAgents(node.graph().graph(), depth + 1);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<baton::v1::GraphSpec> spec = baton::cli::ParseGraphJson(json, "graph.json");
  if (!spec.ok()) {
    CheckInvalidArgumentOrOk(spec.status());
    return 0;
  }
  absl::Status s = baton::orchestrator::graph::ValidateGraph(*spec);
  CheckInvalidArgumentOrOk(s);
  if (s.ok()) ValidateInlineAgents(*spec, 0);
  return 0;
}
