// How the `baton` command shows graphs and graph runs to people: the lines a watch
// prints as a graph advances (nodes starting and finishing, edges, map progress), a
// graph run's node runs in its transcript, `graphs ls`, and the graph or node of a run
// in `baton get`. Pure functions of the messages: no gRPC, no I/O. format.h holds the
// rest (FormatEvent calls FormatNodeEvent for the node events).
#ifndef BATON_CLI_GRAPH_FORMAT_H_
#define BATON_CLI_GRAPH_FORMAT_H_

#include <string>
#include <vector>

#include <google/protobuf/repeated_ptr_field.h>

#include "baton/v1/graph.pb.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/run_service.pb.h"

namespace baton::cli {

// The lines of a graph run's node event (node_started, node_finished, edge_taken,
// map_progress), each ending in '\n'; empty for other events:
//   node plan started (run r_1)
//   node research started: 20 items
//     research #7 started (run r_9)
//     research #7 FAILED: max_steps (4) reached
//   node research: 7/20 done, 1 failed, 4 running
//   node reviewer finished SUCCEEDED (visit 2): {"approved":false,...}
//   edge reviewer -> writer
//   edge reviewer -> writer dropped: writer has run max_visits times
//   node technical skipped: none of its inputs was taken
std::string FormatNodeEvent(const v1::RunEvent& event);

// "research v2, 4 nodes"; "(inline), 4 nodes" for an unnamed inline graph.
std::string GraphSummary(const v1::GraphSpec& graph);

// A node run (a child run of a graph run): "writer", "writer (visit 2)",
// "research #3"; empty for a run that is no node's.
std::string NodeRunLabel(const v1::Run& run);

// `baton graphs get`: the spec's protobuf JSON, indented.
std::string FormatGraph(const v1::GraphSpec& graph);

// `baton graphs ls`: NAME, VERSION, NODES, DESCRIPTION.
std::string FormatGraphTable(const std::vector<v1::GraphSpec>& graphs);

// `baton transcript` of a graph run: each node run (Transcript.nodes) with its child
// run or approval, state, and previews of its input, output and error.
std::string FormatNodeRuns(const google::protobuf::RepeatedPtrField<v1::GraphNodeRun>& nodes);

}  // namespace baton::cli

#endif  // BATON_CLI_GRAPH_FORMAT_H_
