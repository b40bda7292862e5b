// How the `baton` command shows runs, events, agents and transcripts to people, and
// the one-line protobuf JSON it prints for scripts (--json). Pure functions of the
// messages: no gRPC, no I/O.
#ifndef BATON_CLI_FORMAT_H_
#define BATON_CLI_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "baton/v1/agent.pb.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/run_service.pb.h"

namespace baton::cli {

// How much of a tool's input or output an event line shows.
inline constexpr size_t kPreviewChars = 160;

// "SUCCEEDED"; "UNSPECIFIED" for 0.
std::string StateName(v1::RunState state);
bool IsTerminal(v1::RunState state);

// One line: newlines shown as "\n", cut at `max_chars` (UTF-8 safe) with "...".
std::string Preview(absl::string_view text, size_t max_chars = kPreviewChars);

// "2 model calls, 1 tool call, 1,234 in / 56 out tokens (cache: 100 read, 20 written)".
std::string FormatUsage(const v1::Usage& usage);

// The lines `baton watch` prints for one event, each ending in '\n'; empty for an
// event with nothing to show. A request for approval (or a graph's question to a
// person) says how to answer it. Node events are FormatNodeEvent's (graph_format.h).
std::string FormatEvent(const v1::RunEvent& event);

// `baton get`: one field per line, the output last. A run's tree (parent, root, depth),
// graph (or the graph node it runs), session, continuation, fork and what it waits for
// are shown when set; `now_ms` turns
// approval deadlines into "expires in ...".
std::string FormatRun(const v1::Run& run, int64_t now_ms, absl::TimeZone tz = absl::LocalTimeZone());

// `baton ls`: a table with a header; `now_ms` turns create times into ages. A graph
// run's AGENT is "graph NAME".
std::string FormatRunTable(const std::vector<v1::Run>& runs, int64_t now_ms);

// "APPROVE by alice", "EDIT by alice: {...}", "DENY by bob: too risky",
// "DENY (timed out)".
std::string FormatDecision(const v1::ApprovalDecision& decision);

// `baton approvals ls`: a table with a header; `now_ms` turns deadlines into
// "in 23h 59m". An input request shows its message as the input, a graph's human node
// ("node NAME") its prompt.
std::string FormatApprovalTable(const std::vector<v1::Approval>& approvals, int64_t now_ms);

// `baton approve|deny|respond`: one line, "approval ID: APPROVE by alice (tool sleep on
// run_1)".
std::string FormatApproval(const v1::Approval& approval);

// How a person answers `approval` from the command line: "baton approve ID | baton deny
// ID --message …", limited to the decisions it allows.
std::string ApprovalHint(const v1::Approval& approval);

// `baton agents get` and `baton agents ls`.
std::string FormatAgent(const v1::AgentSpec& agent);
std::string FormatAgentTable(const std::vector<v1::AgentSpec>& agents);

// `baton transcript`: the conversation as people read it: the user's input, each
// step's model, assistant text and tool calls, each tool result, child runs, approval
// requests and decisions, a graph run's node runs, and usage. Each journal entry shown starts with its seq
// ("#3"), the point `baton fork --at` takes.
std::string FormatTranscript(const v1::Transcript& transcript);

// The message's protobuf JSON on one line (no trailing newline).
std::string ToJsonLine(const google::protobuf::Message& message);

// The message's protobuf JSON, indented, ending in '\n'.
std::string ToPrettyJson(const google::protobuf::Message& message);

// Rows of columns separated by two spaces, each line ending in '\n'; the last column
// is not padded.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace baton::cli

#endif  // BATON_CLI_FORMAT_H_
