#include "cli/commands.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <set>


#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "baton/v1/admin.grpc.pb.h"
#include "baton/v1/agent.grpc.pb.h"
#include "baton/v1/auth.grpc.pb.h"
#include "baton/v1/graph.grpc.pb.h"
#include "baton/v1/namespace.grpc.pb.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "cli/approvals.h"
#include "cli/args.h"
#include "cli/event_printer.h"
#include "cli/format.h"
#include "cli/graph_format.h"
#include "cli/keys.h"
#include "cli/process.h"
#include "cli/spec_file.h"
#include "cli/tools.h"
#include "cli/up.h"
#include "common/flags.h"
#include "common/grpc_channel.h"
#include "common/run_watch.h"
#include "common/tls.h"
#include "orchestrator/store/rocksdb_backup.h"

namespace baton::cli {
namespace {

// Deadline of every unary call.
constexpr absl::Duration kRpcTimeout = absl::Seconds(15);
// How long `watch` waits for the orchestrator to come back after losing it.
constexpr absl::Duration kReconnectTimeout = absl::Seconds(30);
// Page size of `agents ls` and `graphs ls`, and the default of `ls --limit`.
constexpr int kSpecPageSize = 200;
constexpr int kDefaultListLimit = 20;

// What a command works with: its parsed flags and arguments, where to print, and a
// channel to the orchestrator made on first use. One per command; not thread-safe.
struct Context {
  Context(const Flags& flags, std::vector<std::string> args, std::vector<std::string> labels,
          std::vector<std::string> tool_results, std::string addr, bool json, std::ostream& out,
          std::ostream& err)
      : flags(flags), args(std::move(args)), labels(std::move(labels)), tool_results(std::move(tool_results)),
        addr(std::move(addr)), json(json), out(out), err(err) {}

  const Flags& flags;
  std::vector<std::string> args;  // positional arguments after the command words
  // Repeatable flags, which Flags would keep only the last of: --label, --tool-result.
  std::vector<std::string> labels;
  std::vector<std::string> tool_results;
  std::string addr;
  bool json = false;
  std::ostream& out;
  std::ostream& err;
  // --ca/--cert/--key, BATON_CA/..., or the TLS stack `baton up` recorded for addr.
  ClientTlsOptions tls;
  // --api-key-file, BATON_API_KEY, or the admin key of the stack `baton up` recorded
  // for addr; "" when none (an orchestrator without --auth).
  std::string bearer_token;
  // --namespace or BATON_NAMESPACE; "" lets the orchestrator pick the caller's only
  // namespace, else "default".
  std::string ns;

  std::shared_ptr<grpc::Channel> channel() {
    if (!channel_) {
      ChannelOptions options;
      options.tls = tls;
      options.bearer_token = bearer_token;
      channel_ = NewChannel(addr, options);
    }
    return channel_;
  }
  std::unique_ptr<v1::RunService::Stub> runs() { return v1::RunService::NewStub(channel()); }
  std::unique_ptr<v1::AgentService::Stub> agents() { return v1::AgentService::NewStub(channel()); }
  std::unique_ptr<v1::GraphService::Stub> graphs() { return v1::GraphService::NewStub(channel()); }
  std::unique_ptr<v1::KeyService::Stub> keys() { return v1::KeyService::NewStub(channel()); }

 private:
  std::shared_ptr<grpc::Channel> channel_;
};

using Handler = std::function<int(Context&)>;

struct Command {
  std::string name;   // "run", "agents put"
  std::string usage;  // one line
  std::set<std::string> value_flags;
  std::set<std::string> bool_flags;
  size_t min_args = 0;
  size_t max_args = 0;
  Handler handler;
};

const std::set<std::string> kGlobalValueFlags = {"addr", "ca", "cert", "key", "api-key-file", "namespace"};
const std::set<std::string> kGlobalBoolFlags = {"json", "help"};

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout = kRpcTimeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

int PrintRpcError(Context& ctx, const grpc::Status& status) {
  auto code = static_cast<absl::StatusCode>(status.error_code());
  ctx.err << "error: " << absl::StatusCodeToString(code) << ": " << status.error_message() << std::endl;
  if (code == absl::StatusCode::kUnavailable) {
    ctx.err << "hint: is Baton running at " << ctx.addr
            << "? Start it with `baton up`, or point --addr / BATON_ADDR at it." << std::endl;
  }
  return kExitFailure;
}

// The orchestrator validates agents and graphs too. When it refuses one read from a
// file, say so the way local validation does (naming the file, exit code 2); other
// errors are ordinary RPC errors.
int PrintSpecFileRpcError(Context& ctx, const std::string& file, absl::string_view noun, const grpc::Status& status) {
  if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) return PrintRpcError(ctx, status);
  const std::string& message = status.error_message();
  // An agent's errors name its fields ("agent.max_steps: ..."). A graph's name its
  // nodes, edges, limits and the agents inside, so there the refusal is the file's
  // unless it names a field of the request itself.
  bool about_spec = false;
  if (noun == "agent") {
    about_spec = absl::StartsWith(message, "agent");
  } else {
    about_spec = true;
    for (absl::string_view field : {"input:", "request_id:", "labels:", "session_id:", "continue_from:"}) {
      if (absl::StartsWith(message, field)) about_spec = false;
    }
  }
  if (!about_spec) return PrintRpcError(ctx, status);
  ctx.err << "error: " << InvalidSpec(file, noun, message).message() << std::endl;
  return kExitUsage;
}

int PrintUsageError(std::ostream& err, const std::string& message, const std::string& usage) {
  err << "error: " << message << "\n";
  if (!usage.empty()) err << "usage: " << usage << "\n";
  err << "Run `baton help` for all commands." << std::endl;
  return kExitUsage;
}

void PrintMessage(Context& ctx, const google::protobuf::Message& message) {
  ctx.out << ToJsonLine(message) << "\n";
}

// Reads an INPUT argument: "-" means standard input.
std::string ReadInput(const std::string& arg) {
  if (arg != "-") return arg;
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// Prints the events of one watch stream (Message: a WatchRunBatched batch or a WatchRun
// event) until it ends; its status, and in *messages how many messages it brought.
template <typename Message>
grpc::Status PrintStream(grpc::ClientReader<Message>& reader, EventPrinter& printer, int* messages) {
  Message message;
  while (reader.Read(&message)) {
    ++*messages;
    for (const v1::RunEvent& event : EventsOf(message)) printer.Print(event);
  }
  return reader.Finish();
}

// Follows a run's events (and with `include_children` its subagents') until its final
// event; resumes after the last event seen if the connection breaks. Watches with
// WatchRunBatched, or WatchRun on an orchestrator without it. Returns kExitOk only if
// the run SUCCEEDED.
int Watch(Context& ctx, const std::string& run_id, int64_t after_seq, bool include_children) {
  auto stub = ctx.runs();
  EventPrinter printer(run_id, after_seq, ctx.json, ctx.out);
  v1::RunState final_state = v1::RUN_STATE_UNSPECIFIED;
  bool batched = true;
  while (true) {
    grpc::ClientContext context;  // no deadline: the stream ends at the run's final event
    v1::WatchRunRequest request;
    request.set_run_id(run_id);
    request.set_after_seq(printer.last_seq());
    request.set_live_text(!ctx.json);  // print text as it streams
    request.set_include_children(include_children);
    int messages = 0;
    grpc::Status status = batched ? PrintStream(*stub->WatchRunBatched(&context, request), printer, &messages)
                                  : PrintStream(*stub->WatchRun(&context, request), printer, &messages);
    if (batched && messages == 0 && PredatesBatchedWatch(status)) {
      batched = false;
      continue;
    }
    final_state = printer.final_state();
    if (status.ok() && IsTerminal(final_state)) break;
    if (!status.ok() && status.error_code() != grpc::StatusCode::UNAVAILABLE) {
      return PrintRpcError(ctx, status);
    }
    // The stream broke (or ended early): find the run again, waiting for the
    // orchestrator to come back, then resume after the last event seen.
    if (!status.ok()) {
      ctx.err << "(lost the orchestrator: " << status.error_message() << "; reconnecting)" << std::endl;
    }
    grpc::ClientContext get_context;
    SetDeadline(get_context, kReconnectTimeout);
    get_context.set_wait_for_ready(true);
    v1::GetRunRequest get_request;
    get_request.set_run_id(run_id);
    v1::Run run;
    grpc::Status get_status = stub->GetRun(&get_context, get_request, &run);
    if (!get_status.ok()) return PrintRpcError(ctx, get_status);
    if (status.ok() && IsTerminal(run.state())) {
      final_state = run.state();
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  return final_state == v1::SUCCEEDED ? kExitOk : kExitFailure;
}

// --children only makes sense with a watch.
bool ChildrenWithoutWatch(Context& ctx) {
  if (ctx.flags.GetBool("children") && !ctx.flags.GetBool("watch")) {
    PrintUsageError(ctx.err, "--children goes with --watch (or use `baton watch RUN_ID --children`)", "");
    return true;
  }
  return false;
}

// Prints a run just created (by `run` or `fork`) and follows it with --watch.
int PrintCreatedRun(Context& ctx, const v1::Run& run) {
  if (ctx.json) {
    PrintMessage(ctx, run);
  } else {
    ctx.out << run.run_id() << std::endl;
  }
  if (!ctx.flags.GetBool("watch")) return kExitOk;
  return Watch(ctx, run.run_id(), 0, ctx.flags.GetBool("children"));
}

// ---- commands ----

// What `baton run` runs, read from its arguments into the CreateRunRequest: a graph
// (--graph), a stored agent (--agent) or an agent file. Each returns kExitOk, or the
// exit code after printing why not.
struct RunTarget {
  std::string input_arg;  // INPUT as given ("-": standard input)
  std::string spec_file;  // the agent or graph file the request holds, for its errors
  absl::string_view noun = "agent";
};

int SetGraphTarget(Context& ctx, v1::CreateRunRequest& request, RunTarget& target) {
  constexpr char kUsage[] = "baton run --graph FILE|NAME[@VERSION] INPUT [--watch [--children]]";
  if (ctx.args.size() != 1) return PrintUsageError(ctx.err, "with --graph, give only INPUT", kUsage);
  if (ctx.flags.Has("session") || ctx.flags.Has("continue")) {
    return PrintUsageError(
        ctx.err, "--session and --continue are for agent runs (a graph's nodes are conversations of their own)",
        kUsage);
  }
  const std::string text = ctx.flags.GetString("graph");
  std::error_code ignored;
  auto graph = ParseGraphArg(text, std::filesystem::is_regular_file(text, ignored));
  if (!graph.ok()) return PrintUsageError(ctx.err, std::string(graph.status().message()), kUsage);
  target.input_arg = ctx.args[0];
  if (graph->file.empty()) {
    request.set_graph_name(graph->stored.name);
    request.set_graph_version(graph->stored.version);
    return kExitOk;
  }
  if (graph->file == "-" && target.input_arg == "-") {
    return PrintUsageError(ctx.err, "the graph file and INPUT cannot both be standard input", "");
  }
  auto spec = LoadGraphFile(graph->file);
  if (!spec.ok()) {
    ctx.err << "error: " << spec.status().message() << std::endl;
    return kExitUsage;
  }
  *request.mutable_graph() = *std::move(spec);
  target.spec_file = graph->file;
  target.noun = "graph";
  return kExitOk;
}

int SetAgentTarget(Context& ctx, v1::CreateRunRequest& request, RunTarget& target) {
  if (ctx.flags.Has("agent")) {
    if (ctx.args.size() != 1) {
      return PrintUsageError(ctx.err, "with --agent, give only INPUT",
                             "baton run --agent NAME[@VERSION] INPUT [--watch]");
    }
    auto ref = ParseSpecRef("--agent", ctx.flags.GetString("agent"));
    if (!ref.ok()) return PrintUsageError(ctx.err, std::string(ref.status().message()), "");
    request.set_agent_name(ref->name);
    request.set_agent_version(ref->version);
    target.input_arg = ctx.args[0];
    return kExitOk;
  }
  if (ctx.args.size() != 2) {
    return PrintUsageError(ctx.err, "expected AGENT.json and INPUT (or --agent NAME or --graph FILE|NAME, and INPUT)",
                           "baton run AGENT.json INPUT [--watch]");
  }
  if (ctx.args[0] == "-" && ctx.args[1] == "-") {
    return PrintUsageError(ctx.err, "the agent file and INPUT cannot both be standard input", "");
  }
  auto agent = LoadAgentFile(ctx.args[0]);
  if (!agent.ok()) {
    ctx.err << "error: " << agent.status().message() << std::endl;
    return kExitUsage;
  }
  *request.mutable_agent() = *std::move(agent);
  target.spec_file = ctx.args[0];
  target.input_arg = ctx.args[1];
  return kExitOk;
}

int CmdRun(Context& ctx) {
  if (ChildrenWithoutWatch(ctx)) return kExitUsage;
  v1::CreateRunRequest request;
  request.set_namespace_(ctx.ns);
  if (ctx.flags.Has("session") && ctx.flags.Has("continue")) {
    return PrintUsageError(ctx.err,
                           "--session and --continue do not go together (a session continues its previous run)",
                           "");
  }
  request.set_session_id(ctx.flags.GetString("session"));
  request.set_continue_from(ctx.flags.GetString("continue"));
  std::string int_error;
  request.set_priority(static_cast<int32_t>(ctx.flags.GetInt("priority", 0, &int_error)));
  if (!int_error.empty()) return PrintUsageError(ctx.err, int_error, "");
  request.set_request_id(ctx.flags.GetString("request-id"));
  auto labels = ParseLabels(ctx.labels);
  if (!labels.ok()) return PrintUsageError(ctx.err, std::string(labels.status().message()), "");
  for (const auto& [key, value] : *labels) (*request.mutable_labels())[key] = value;
  if (ctx.flags.Has("agent") && ctx.flags.Has("graph")) {
    return PrintUsageError(ctx.err, "give --agent or --graph, not both", "");
  }
  RunTarget target;
  const int set = ctx.flags.Has("graph") ? SetGraphTarget(ctx, request, target) : SetAgentTarget(ctx, request, target);
  if (set != kExitOk) return set;
  request.set_input(ReadInput(target.input_arg));

  grpc::ClientContext context;
  SetDeadline(context);
  v1::Run run;
  grpc::Status status = ctx.runs()->CreateRun(&context, request, &run);
  if (!status.ok()) {
    return target.spec_file.empty() ? PrintRpcError(ctx, status)
                                    : PrintSpecFileRpcError(ctx, target.spec_file, target.noun, status);
  }
  return PrintCreatedRun(ctx, run);
}

int CmdGet(Context& ctx) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GetRunRequest request;
  request.set_run_id(ctx.args[0]);
  v1::Run run;
  grpc::Status status = ctx.runs()->GetRun(&context, request, &run);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, run);
  } else {
    ctx.out << FormatRun(run, absl::ToUnixMillis(absl::Now()));
  }
  return kExitOk;
}

// --limit of the list commands: 1..1000, default kDefaultListLimit.
absl::StatusOr<int32_t> ListLimit(Context& ctx) {
  std::string int_error;
  int64_t limit = ctx.flags.GetInt("limit", kDefaultListLimit, &int_error);
  if (!int_error.empty()) return absl::InvalidArgumentError(int_error);
  if (limit <= 0 || limit > 1000) return absl::InvalidArgumentError("--limit must be between 1 and 1000");
  return static_cast<int32_t>(limit);
}

int CmdList(Context& ctx) {
  v1::ListRunsRequest request;
  request.set_namespace_(ctx.ns);
  if (ctx.flags.Has("state")) {
    auto state = ParseRunState(ctx.flags.GetString("state"));
    if (!state.ok()) return PrintUsageError(ctx.err, std::string(state.status().message()), "");
    request.set_state(*state);
  }
  request.set_agent_name(ctx.flags.GetString("agent"));
  request.set_parent_run_id(ctx.flags.GetString("parent"));
  request.set_session_id(ctx.flags.GetString("session"));
  auto labels = ParseLabels(ctx.labels);
  if (!labels.ok()) return PrintUsageError(ctx.err, std::string(labels.status().message()), "");
  for (const auto& [key, value] : *labels) (*request.mutable_labels())[key] = value;
  auto limit = ListLimit(ctx);
  if (!limit.ok()) return PrintUsageError(ctx.err, std::string(limit.status().message()), "");
  request.set_page_size(*limit);
  request.set_page_token(ctx.flags.GetString("page-token"));
  // The table needs only the summary; --full (with --json) prints whole runs.
  request.set_view(ctx.flags.GetBool("full") ? v1::FULL : v1::BASIC);

  grpc::ClientContext context;
  SetDeadline(context);
  v1::ListRunsResponse response;
  grpc::Status status = ctx.runs()->ListRuns(&context, request, &response);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, response);
    return kExitOk;
  }
  if (response.runs().empty()) {
    ctx.out << "no runs" << std::endl;
  } else {
    std::vector<v1::Run> runs(response.runs().begin(), response.runs().end());
    ctx.out << FormatRunTable(runs, absl::ToUnixMillis(absl::Now()));
  }
  if (!response.next_page_token().empty()) {
    ctx.out << "more: baton ls --page-token " << response.next_page_token() << std::endl;
  }
  return kExitOk;
}

int CmdWatch(Context& ctx) {
  std::string int_error;
  int64_t after_seq = ctx.flags.GetInt("after-seq", 0, &int_error);
  if (!int_error.empty()) return PrintUsageError(ctx.err, int_error, "");
  if (after_seq < 0) return PrintUsageError(ctx.err, "--after-seq must not be negative", "");
  return Watch(ctx, ctx.args[0], after_seq, ctx.flags.GetBool("children"));
}

int CmdFork(Context& ctx) {
  if (ChildrenWithoutWatch(ctx)) return kExitUsage;
  constexpr char kUsage[] = "baton fork RUN_ID --at SEQ [--input TEXT] [--tool-result TOOL_USE_ID=JSON] [--watch]";
  if (!ctx.flags.Has("at")) {
    return PrintUsageError(ctx.err,
                           "--at SEQ is required: the journal entry the fork keeps up to (0: none; "
                           "`baton transcript RUN_ID` shows each entry's #SEQ)",
                           kUsage);
  }
  std::string int_error;
  int64_t at = ctx.flags.GetInt("at", 0, &int_error);
  if (!int_error.empty()) return PrintUsageError(ctx.err, int_error, kUsage);
  if (at < 0) return PrintUsageError(ctx.err, "--at must not be negative", kUsage);
  v1::ForkRunRequest request;
  request.set_run_id(ctx.args[0]);
  request.set_at_journal_seq(at);
  if (ctx.flags.Has("input")) request.set_input(ReadInput(ctx.flags.GetString("input")));
  if (ctx.tool_results.size() > 1) {
    return PrintUsageError(ctx.err, "a fork replaces at most one tool result: give --tool-result once", kUsage);
  }
  if (!ctx.tool_results.empty()) {
    auto replacement = ParseToolResultFlag(ctx.tool_results[0]);
    if (!replacement.ok()) return PrintUsageError(ctx.err, std::string(replacement.status().message()), kUsage);
    *request.mutable_tool_result() = *std::move(replacement);
  }
  auto labels = ParseLabels(ctx.labels);
  if (!labels.ok()) return PrintUsageError(ctx.err, std::string(labels.status().message()), "");
  for (const auto& [key, value] : *labels) (*request.mutable_labels())[key] = value;
  request.set_request_id(ctx.flags.GetString("request-id"));

  grpc::ClientContext context;
  SetDeadline(context);
  v1::Run run;
  grpc::Status status = ctx.runs()->ForkRun(&context, request, &run);
  if (!status.ok()) return PrintRpcError(ctx, status);
  return PrintCreatedRun(ctx, run);
}

int CmdApprovalsList(Context& ctx) {
  v1::ListApprovalsRequest request;
  request.set_namespace_(ctx.ns);
  request.set_run_id(ctx.flags.GetString("run"));
  request.set_agent_name(ctx.flags.GetString("agent"));
  const bool all = ctx.flags.GetBool("all");
  const bool decided = ctx.flags.GetBool("decided");
  if (all && decided) return PrintUsageError(ctx.err, "give --all or --decided, not both", "");
  request.set_filter(all ? v1::ListApprovalsRequest::ALL
                         : decided ? v1::ListApprovalsRequest::DECIDED : v1::ListApprovalsRequest::PENDING);
  auto limit = ListLimit(ctx);
  if (!limit.ok()) return PrintUsageError(ctx.err, std::string(limit.status().message()), "");
  request.set_page_size(*limit);
  request.set_page_token(ctx.flags.GetString("page-token"));

  grpc::ClientContext context;
  SetDeadline(context);
  v1::ListApprovalsResponse response;
  grpc::Status status = ctx.runs()->ListApprovals(&context, request, &response);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, response);
    return kExitOk;
  }
  if (response.approvals().empty()) {
    ctx.out << (all ? "no approvals" : decided ? "no decided approvals" : "no pending approvals") << std::endl;
  } else {
    std::vector<v1::Approval> approvals(response.approvals().begin(), response.approvals().end());
    ctx.out << FormatApprovalTable(approvals, absl::ToUnixMillis(absl::Now()));
  }
  if (!response.next_page_token().empty()) {
    ctx.out << "more: baton approvals ls --page-token " << response.next_page_token() << std::endl;
  }
  return kExitOk;
}

// `approve`, `deny` and `respond`: reads the approval first, since its kind (a tool call
// or an MCP input request) says which decision the verb means.
int Decide(Context& ctx, DecisionVerb verb) {
  DecisionFlags flags;
  flags.verb = verb;
  if (ctx.flags.Has("edit")) flags.edit = ReadInput(ctx.flags.GetString("edit"));
  if (ctx.flags.Has("content")) flags.content = ReadInput(ctx.flags.GetString("content"));
  if (ctx.flags.Has("message")) flags.message = ReadInput(ctx.flags.GetString("message"));
  flags.decided_by = ctx.flags.Has("as") ? ctx.flags.GetString("as") : DefaultDecider(std::getenv("USER"));
  auto stub = ctx.runs();

  grpc::ClientContext get_context;
  SetDeadline(get_context);
  v1::GetApprovalRequest get_request;
  get_request.set_approval_id(ctx.args[0]);
  v1::Approval approval;
  grpc::Status status = stub->GetApproval(&get_context, get_request, &approval);
  if (!status.ok()) return PrintRpcError(ctx, status);
  auto request = BuildDecideRequest(approval, flags);
  if (!request.ok()) return PrintUsageError(ctx.err, std::string(request.status().message()), "");

  grpc::ClientContext context;
  SetDeadline(context);
  v1::Approval decided;
  status = stub->DecideApproval(&context, *request, &decided);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, decided);
  } else {
    ctx.out << FormatApproval(decided);
  }
  return kExitOk;
}

int CmdApprove(Context& ctx) { return Decide(ctx, DecisionVerb::kApprove); }
int CmdDeny(Context& ctx) { return Decide(ctx, DecisionVerb::kDeny); }
int CmdRespond(Context& ctx) { return Decide(ctx, DecisionVerb::kRespond); }

int CmdCancel(Context& ctx) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::CancelRunRequest request;
  request.set_run_id(ctx.args[0]);
  request.set_reason(ctx.flags.GetString("reason"));
  v1::Run run;
  grpc::Status status = ctx.runs()->CancelRun(&context, request, &run);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, run);
  } else if (IsTerminal(run.state())) {
    ctx.out << run.run_id() << " is " << StateName(run.state()) << std::endl;
  } else {
    ctx.out << "cancel requested: " << run.run_id() << " is " << StateName(run.state())
            << " until its worker stops it" << std::endl;
  }
  return kExitOk;
}

int CmdTranscript(Context& ctx) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GetTranscriptRequest request;
  request.set_run_id(ctx.args[0]);
  v1::Transcript transcript;
  grpc::Status status = ctx.runs()->GetTranscript(&context, request, &transcript);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, transcript);
  } else {
    ctx.out << FormatTranscript(transcript);
  }
  return kExitOk;
}

int CmdAgentsPut(Context& ctx) {
  auto agent = LoadAgentFile(ctx.args[0]);
  if (!agent.ok()) {
    ctx.err << "error: " << agent.status().message() << std::endl;
    return kExitUsage;
  }
  if (agent->name().empty()) {
    ctx.err << "error: " << ctx.args[0]
            << ": invalid agent: field \"name\" is required to store an agent" << std::endl;
    return kExitUsage;
  }
  grpc::ClientContext context;
  SetDeadline(context);
  v1::PutAgentRequest request;
  request.set_namespace_(ctx.ns);
  *request.mutable_agent() = *std::move(agent);
  v1::PutAgentResponse response;
  grpc::Status status = ctx.agents()->PutAgent(&context, request, &response);
  if (!status.ok()) return PrintSpecFileRpcError(ctx, ctx.args[0], "agent", status);
  if (ctx.json) {
    PrintMessage(ctx, response);
  } else {
    ctx.out << "stored agent " << response.agent().name() << " version " << response.agent().version()
            << std::endl;
  }
  return kExitOk;
}

// `baton namespaces ...`: a namespace's settings, one line each: NAME and its quotas.
void PrintNamespace(Context& ctx, const v1::Namespace& ns) {
  if (ctx.json) {
    PrintMessage(ctx, ns);
    return;
  }
  auto limit = [](double v) { return v > 0 ? absl::StrCat(v) : std::string("-"); };
  // "default": the orchestrator's --default-retention; "forever": kept forever.
  const std::string retention = !ns.has_retention_seconds()     ? "default"
                                : ns.retention_seconds() == 0 ? "forever"
                                                              : absl::StrCat(ns.retention_seconds(), "s");
  ctx.out << ns.name() << "  max_queued_runs " << limit(ns.quotas().max_queued_runs()) << "  max_creates_per_second "
          << limit(ns.quotas().max_creates_per_second()) << "  max_concurrent_runs "
          << limit(ns.quotas().max_concurrent_runs()) << "  retention " << retention << std::endl;
}

int CmdNamespacesPut(Context& ctx) {
  v1::PutNamespaceRequest request;
  v1::Namespace& ns = *request.mutable_namespace_();
  ns.set_name(ctx.args[0]);
  std::string error;
  ns.mutable_quotas()->set_max_queued_runs(static_cast<int32_t>(ctx.flags.GetInt("max-queued-runs", 0, &error)));
  ns.mutable_quotas()->set_max_concurrent_runs(
      static_cast<int32_t>(ctx.flags.GetInt("max-concurrent-runs", 0, &error)));
  ns.mutable_quotas()->set_max_creates_per_second(ctx.flags.GetDouble("max-creates-per-second", 0, &error));
  if (ctx.flags.Has("retention")) ns.set_retention_seconds(ctx.flags.GetSeconds("retention", 0, &error));
  if (!error.empty()) return PrintUsageError(ctx.err, error, "");
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Namespace stored;
  grpc::Status status = v1::NamespaceService::NewStub(ctx.channel())->PutNamespace(&context, request, &stored);
  if (!status.ok()) return PrintRpcError(ctx, status);
  PrintNamespace(ctx, stored);
  return kExitOk;
}

int CmdNamespacesGet(Context& ctx) {
  v1::GetNamespaceRequest request;
  request.set_name(ctx.args[0]);
  grpc::ClientContext context;
  SetDeadline(context);
  v1::Namespace ns;
  grpc::Status status = v1::NamespaceService::NewStub(ctx.channel())->GetNamespace(&context, request, &ns);
  if (!status.ok()) return PrintRpcError(ctx, status);
  PrintNamespace(ctx, ns);
  return kExitOk;
}

int CmdNamespacesList(Context& ctx) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ListNamespacesResponse response;
  grpc::Status status =
      v1::NamespaceService::NewStub(ctx.channel())->ListNamespaces(&context, v1::ListNamespacesRequest(), &response);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, response);
  } else if (response.namespaces().empty()) {
    ctx.out << "no namespace settings (every namespace without them has no quotas)" << std::endl;
  } else {
    for (const v1::Namespace& ns : response.namespaces()) PrintNamespace(ctx, ns);
  }
  return kExitOk;
}

// `baton admin backup DIR [--keep N]`: DIR is on the orchestrator's machine; with
// --keep, the oldest backups there go until N remain. A backup copies files for as
// long as it takes, so the deadline is long.
constexpr absl::Duration kBackupTimeout = absl::Hours(1);

int CmdAdminBackup(Context& ctx) {
  v1::BackupRequest request;
  request.set_dir(ctx.args[0]);
  if (ctx.flags.Has("keep")) {
    std::string error;
    const int64_t keep = ctx.flags.GetInt("keep", 0, &error);
    if (!error.empty()) return PrintUsageError(ctx.err, error, "baton admin backup DIR [--keep N]");
    if (keep < 1 || keep > std::numeric_limits<uint32_t>::max()) {
      return PrintUsageError(ctx.err, absl::StrCat("--keep: ", keep, " is not a number of backups to keep (1 or more; ",
                                                   "leave --keep out to keep every backup)"),
                             "baton admin backup DIR [--keep N]");
    }
    request.set_keep_latest(static_cast<uint32_t>(keep));
  }
  grpc::ClientContext context;
  SetDeadline(context, kBackupTimeout);
  v1::BackupResponse response;
  grpc::Status status = v1::AdminService::NewStub(ctx.channel())->Backup(&context, request, &response);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, response);
  } else {
    ctx.out << "backup " << response.backup_id() << " in " << response.dir() << " (" << response.num_files()
            << " files, " << response.size_bytes() << " bytes)";
    if (response.deleted_backup_ids_size() > 0) {
      ctx.out << "; deleted " << (response.deleted_backup_ids_size() == 1 ? "backup " : "backups ")
              << absl::StrJoin(response.deleted_backup_ids(), ", ");
    }
    if (response.backups() > 0) {
      ctx.out << "; the directory holds " << response.backups() << (response.backups() == 1 ? " backup" : " backups");
    }
    ctx.out << std::endl;
  }
  return kExitOk;
}

// `baton admin restore BACKUP_DIR DATA_DIR [--force]`: offline, on this machine; no
// orchestrator is called.
int CmdAdminRestore(Context& ctx) {
  absl::StatusOr<orchestrator::BackupInfo> restored =
      orchestrator::RestoreBackup(ctx.args[0], ctx.args[1], ctx.flags.GetBool("force"));
  if (!restored.ok()) {
    ctx.err << "error: " << absl::StatusCodeToString(restored.status().code()) << ": " << restored.status().message()
            << std::endl;
    return absl::IsInvalidArgument(restored.status()) ? kExitUsage : kExitFailure;
  }
  ctx.out << "restored backup " << restored->backup_id << " (taken at " << absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", absl::FromUnixMillis(restored->time_ms), absl::LocalTimeZone())
          << ") into " << ctx.args[1] << "; start baton-orchestrator --data-dir=" << ctx.args[1] << std::endl;
  return kExitOk;
}

int CmdAgentsGet(Context& ctx) {
  std::string int_error;
  int64_t version = ctx.flags.GetInt("version", 0, &int_error);
  if (!int_error.empty()) return PrintUsageError(ctx.err, int_error, "");
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GetAgentRequest request;
  request.set_namespace_(ctx.ns);
  request.set_name(ctx.args[0]);
  request.set_version(static_cast<int32_t>(version));
  v1::AgentSpec agent;
  grpc::Status status = ctx.agents()->GetAgent(&context, request, &agent);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, agent);
  } else {
    ctx.out << FormatAgent(agent);
  }
  return kExitOk;
}

// Every page of a ListAgents / ListGraphs call, merged into one response (its repeated
// field holds everything; no next_page_token).
template <typename Request, typename Response, typename Call>
grpc::Status ListEveryPage(const std::string& ns, Call call, Response* all) {
  std::string token;
  do {
    grpc::ClientContext context;
    SetDeadline(context);
    Request request;
    request.set_namespace_(ns);
    request.set_page_size(kSpecPageSize);
    request.set_page_token(token);
    Response response;
    grpc::Status status = call(&context, request, &response);
    if (!status.ok()) return status;
    token = response.next_page_token();
    all->MergeFrom(response);
  } while (!token.empty());
  all->clear_next_page_token();
  return grpc::Status::OK;
}

int CmdAgentsList(Context& ctx) {
  auto stub = ctx.agents();
  v1::ListAgentsResponse all;
  grpc::Status status = ListEveryPage<v1::ListAgentsRequest>(
      ctx.ns,
      [&](grpc::ClientContext* context, const v1::ListAgentsRequest& request, v1::ListAgentsResponse* response) {
        return stub->ListAgents(context, request, response);
      },
      &all);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, all);
  } else if (all.agents().empty()) {
    ctx.out << "no agents (store one with: baton agents put FILE)" << std::endl;
  } else {
    ctx.out << FormatAgentTable({all.agents().begin(), all.agents().end()});
  }
  return kExitOk;
}

int CmdGraphsPut(Context& ctx) {
  auto graph = LoadGraphFile(ctx.args[0]);
  if (!graph.ok()) {
    ctx.err << "error: " << graph.status().message() << std::endl;
    return kExitUsage;
  }
  if (graph->name().empty()) {
    ctx.err << "error: " << ctx.args[0] << ": invalid graph: field \"name\" is required to store a graph" << std::endl;
    return kExitUsage;
  }
  grpc::ClientContext context;
  SetDeadline(context);
  v1::PutGraphRequest request;
  request.set_namespace_(ctx.ns);
  *request.mutable_graph() = *std::move(graph);
  v1::PutGraphResponse response;
  grpc::Status status = ctx.graphs()->PutGraph(&context, request, &response);
  if (!status.ok()) return PrintSpecFileRpcError(ctx, ctx.args[0], "graph", status);
  if (ctx.json) {
    PrintMessage(ctx, response);
  } else {
    ctx.out << "stored graph " << response.graph().name() << " version " << response.graph().version() << std::endl;
  }
  return kExitOk;
}

int CmdGraphsGet(Context& ctx) {
  std::string int_error;
  int64_t version = ctx.flags.GetInt("version", 0, &int_error);
  if (!int_error.empty()) return PrintUsageError(ctx.err, int_error, "");
  if (version < 0) return PrintUsageError(ctx.err, "--version must not be negative (0 or none: the latest)", "");
  grpc::ClientContext context;
  SetDeadline(context);
  v1::GetGraphRequest request;
  request.set_namespace_(ctx.ns);
  request.set_name(ctx.args[0]);
  request.set_version(static_cast<int32_t>(version));
  v1::GraphSpec graph;
  grpc::Status status = ctx.graphs()->GetGraph(&context, request, &graph);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, graph);
  } else {
    ctx.out << FormatGraph(graph);
  }
  return kExitOk;
}

int CmdGraphsList(Context& ctx) {
  auto stub = ctx.graphs();
  v1::ListGraphsResponse all;
  grpc::Status status = ListEveryPage<v1::ListGraphsRequest>(
      ctx.ns,
      [&](grpc::ClientContext* context, const v1::ListGraphsRequest& request, v1::ListGraphsResponse* response) {
        return stub->ListGraphs(context, request, response);
      },
      &all);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, all);
  } else if (all.graphs().empty()) {
    ctx.out << "no graphs (store one with: baton graphs put FILE)" << std::endl;
  } else {
    ctx.out << FormatGraphTable({all.graphs().begin(), all.graphs().end()});
  }
  return kExitOk;
}

int CmdUp(Context& ctx) {
  UpOptions options;
  std::string int_error;
  options.data_dir = ctx.flags.GetString("data-dir", options.data_dir);
  options.port = static_cast<int>(ctx.flags.GetInt("port", options.port, &int_error));
  options.workers = static_cast<int>(ctx.flags.GetInt("workers", options.workers, &int_error));
  options.concurrency = static_cast<int>(ctx.flags.GetInt("concurrency", options.concurrency, &int_error));
  int64_t grace = ctx.flags.GetInt("grace-seconds", absl::ToInt64Seconds(options.grace), &int_error);
  if (!int_error.empty()) return PrintUsageError(ctx.err, int_error, "");
  if (options.port < 0 || options.port > 65535) return PrintUsageError(ctx.err, "--port must be 0..65535", "");
  if (options.workers < 0) return PrintUsageError(ctx.err, "--workers must not be negative", "");
  if (options.concurrency < 1) return PrintUsageError(ctx.err, "--concurrency must be at least 1", "");
  if (grace < 0) return PrintUsageError(ctx.err, "--grace-seconds must not be negative", "");
  if (options.data_dir.empty()) return PrintUsageError(ctx.err, "--data-dir must not be empty", "");
  options.grace = absl::Seconds(grace);
  options.detach = ctx.flags.GetBool("detach");
  options.mcp_config = ctx.flags.GetString("mcp-config");
  options.tls = ctx.flags.GetBool("tls");
  options.metrics = ctx.flags.GetBool("metrics");
  if (ctx.flags.GetBool("no-console") && ctx.flags.Has("console-listen")) {
    return PrintUsageError(ctx.err, "give --console-listen or --no-console, not both", "");
  }
  options.console_listen =
      ctx.flags.GetBool("no-console") ? "" : ctx.flags.GetString("console-listen", options.console_listen);
  return RunUp(options, ctx.out, ctx.err);
}

int CmdStatus(Context& ctx) { return RunStatus(ctx.flags.GetString("data-dir", ".baton"), ctx.out, ctx.err); }

// `baton ui`: the web console in the foreground for the orchestrator this command
// reaches (--addr, BATON_ADDR or the default), with its TLS; it replaces this process.
// It takes no credential: people sign in in the browser.
int CmdUi(Context& ctx) {
  const char* path_env = std::getenv("PATH");
  absl::StatusOr<std::string> binary = FindBinary("baton-console", SelfDir(), path_env ? path_env : "");
  if (!binary.ok()) {
    ctx.err << "error: " << binary.status().message() << " (build the baton-console target)" << std::endl;
    return kExitFailure;
  }
  std::vector<std::string> argv = {*binary, "--orchestrator=" + ctx.addr,
                                   "--listen=" + ctx.flags.GetString("listen", "127.0.0.1:8233")};
  if (!ctx.tls.ca_file.empty()) argv.push_back("--ca=" + ctx.tls.ca_file);
  if (!ctx.tls.cert_file.empty()) argv.push_back("--cert=" + ctx.tls.cert_file);
  if (!ctx.tls.key_file.empty()) argv.push_back("--key=" + ctx.tls.key_file);
  const std::string key_file = StackApiKeyFile(ctx.flags.GetString("data-dir", ".baton"), ctx.addr);
  ctx.out << "Web console for the orchestrator at " << ctx.addr << "; sign in with an API key"
          << (key_file.empty() ? "" : " (the stack's admin key is in " + key_file + ")") << ". Ctrl-C stops it."
          << std::endl;
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ctx.err << "error: cannot run " << *binary << ": " << std::strerror(errno) << std::endl;
  return kExitFailure;
}

int CmdDown(Context& ctx) {
  std::string int_error;
  int64_t grace = ctx.flags.GetInt("grace-seconds", absl::ToInt64Seconds(UpOptions().grace), &int_error);
  if (!int_error.empty()) return PrintUsageError(ctx.err, int_error, "");
  return RunDown(ctx.flags.GetString("data-dir", ".baton"), absl::Seconds(grace), ctx.out, ctx.err);
}

ToolsOptions ToolsOptionsOf(Context& ctx) {
  ToolsOptions options;
  options.bridge_addr = ResolveBridgeAddr(ctx.flags.GetString("bridge"), ctx.flags.GetString("data-dir", ".baton"));
  options.json = ctx.json;
  options.tls = ctx.tls;
  if (!options.tls.enabled() && options.tls.cert_file.empty()) {
    options.tls = StackClientTls(ctx.flags.GetString("data-dir", ".baton"), options.bridge_addr);
  }
  return options;
}

int CmdToolsList(Context& ctx) { return RunToolsList(ToolsOptionsOf(ctx), ctx.out, ctx.err); }

int CmdToolsCall(Context& ctx) {
  ToolsOptions options = ToolsOptionsOf(ctx);
  std::string int_error;
  const int64_t timeout = ctx.flags.GetInt("timeout-seconds", 60, &int_error);
  if (!int_error.empty()) return PrintUsageError(ctx.err, int_error, "");
  if (timeout < 1) return PrintUsageError(ctx.err, "--timeout-seconds must be at least 1", "");
  options.timeout = absl::Seconds(timeout);
  return RunToolsCall(options, ctx.args[0], ReadInput(ctx.args[1]), ctx.out, ctx.err);
}

// `keys create`: --role and --namespace take one name or a comma-separated list.
int CmdKeysCreate(Context& ctx) {
  v1::CreateKeyRequest request;
  request.set_principal(ctx.flags.GetString("principal"));
  if (request.principal().empty()) return PrintUsageError(ctx.err, "--principal is required", "");
  for (absl::string_view role : absl::StrSplit(ctx.flags.GetString("role"), ',', absl::SkipEmpty())) {
    request.add_roles(std::string(role));
  }
  if (request.roles().empty()) return PrintUsageError(ctx.err, "--role is required (reader, operator, admin, worker)", "");
  for (absl::string_view ns : absl::StrSplit(ctx.flags.GetString("namespace"), ',', absl::SkipEmpty())) {
    request.add_namespaces(std::string(ns));
  }
  grpc::ClientContext context;
  SetDeadline(context);
  v1::CreateKeyResponse response;
  grpc::Status status = ctx.keys()->CreateKey(&context, request, &response);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, response);
  } else {
    ctx.out << response.secret() << std::endl;
    ctx.err << "key " << response.key().key_id() << " for " << response.key().principal()
            << ": store it now, it is not shown again" << std::endl;
  }
  return kExitOk;
}

int CmdKeysList(Context& ctx) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::ListKeysResponse response;
  grpc::Status status = ctx.keys()->ListKeys(&context, v1::ListKeysRequest(), &response);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, response);
    return kExitOk;
  }
  ctx.out << "KEY ID            PRINCIPAL             ROLES             NAMESPACES   CREATED               STATE\n";
  for (const v1::ApiKey& key : response.keys()) {
    ctx.out << absl::StrFormat("%-17s %-21s %-17s %-12s %-21s %s\n", key.key_id(), key.principal(),
                               absl::StrJoin(key.roles(), ","), absl::StrJoin(key.namespaces(), ","),
                               absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(key.create_time_ms()),
                                                absl::LocalTimeZone()),
                               key.revoked() ? "revoked" : "active");
  }
  return kExitOk;
}

// `baton whoami`: who the orchestrator takes this CLI's credential for.
int CmdWhoAmI(Context& ctx) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::WhoAmIResponse who;
  grpc::Status status = v1::IdentityService::NewStub(ctx.channel())->WhoAmI(&context, v1::WhoAmIRequest(), &who);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, who);
    return kExitOk;
  }
  if (!who.auth_enabled()) {
    ctx.out << "the orchestrator runs without --auth: every call is allowed" << std::endl;
    return kExitOk;
  }
  ctx.out << "principal:  " << who.principal() << "\nroles:      " << absl::StrJoin(who.roles(), ",")
          << "\nnamespaces: " << absl::StrJoin(who.namespaces(), ",") << std::endl;
  return kExitOk;
}

int CmdKeysRevoke(Context& ctx) {
  grpc::ClientContext context;
  SetDeadline(context);
  v1::RevokeKeyRequest request;
  request.set_key_id(ctx.args[0]);
  v1::ApiKey key;
  grpc::Status status = ctx.keys()->RevokeKey(&context, request, &key);
  if (!status.ok()) return PrintRpcError(ctx, status);
  if (ctx.json) {
    PrintMessage(ctx, key);
  } else {
    ctx.out << "revoked key " << key.key_id() << " (" << key.principal() << ")" << std::endl;
  }
  return kExitOk;
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"up",
       "baton up [--data-dir DIR] [--port 7233] [--workers 2] [--concurrency 4] [--detach]\n"
       "       [--mcp-config FILE] [--tls] [--console-listen HOST:PORT | --no-console] [--metrics]",
       {"data-dir", "port", "workers", "concurrency", "grace-seconds", "mcp-config", "console-listen"},
       {"detach", "tls", "no-console", "metrics"}, 0, 0, CmdUp},
      {"status", "baton status [--data-dir DIR]", {"data-dir"}, {}, 0, 0, CmdStatus},
      {"ui", "baton ui [--listen 127.0.0.1:8233]", {"listen", "data-dir"}, {}, 0, 0, CmdUi},
      {"down", "baton down [--data-dir DIR]", {"data-dir", "grace-seconds"}, {}, 0, 0, CmdDown},
      {"run",
       "baton run AGENT.json INPUT [--watch [--children]] [--priority N] [--request-id ID] [--label k=v]...\n"
       "                 [--session ID | --continue RUN_ID]\n"
       "       baton run --agent NAME[@VERSION] INPUT [...]\n"
       "       baton run --graph FILE|NAME[@VERSION] INPUT [--watch [--children]] [--priority N] [--request-id ID]\n"
       "                 [--label k=v]...",
       {"agent", "graph", "priority", "request-id", "session", "continue"}, {"watch", "children"}, 1, 2, CmdRun},
      {"get", "baton get RUN_ID", {}, {}, 1, 1, CmdGet},
      {"ls",
       "baton ls [--state S] [--agent NAME] [--parent RUN_ID] [--session ID] [--label k=v]... [--limit N]\n"
       "         [--page-token T] [--full]",
       {"state", "agent", "parent", "session", "limit", "page-token"}, {"full"}, 0, 0, CmdList},
      {"watch", "baton watch RUN_ID [--after-seq N] [--children]", {"after-seq"}, {"children"}, 1, 1, CmdWatch},
      {"cancel", "baton cancel RUN_ID [--reason R]", {"reason"}, {}, 1, 1, CmdCancel},
      {"transcript", "baton transcript RUN_ID", {}, {}, 1, 1, CmdTranscript},
      {"fork",
       "baton fork RUN_ID --at SEQ [--input TEXT] [--tool-result TOOL_USE_ID=JSON] [--watch [--children]]\n"
       "                  [--request-id ID] [--label k=v]...",
       {"at", "input", "request-id"}, {"watch", "children"}, 1, 1, CmdFork},
      {"approvals ls",
       "baton approvals ls [--run RUN_ID] [--agent NAME] [--all | --decided] [--limit N] [--page-token T]",
       {"run", "agent", "limit", "page-token"}, {"all", "decided"}, 0, 0, CmdApprovalsList},
      {"approve", "baton approve ID [--edit JSON | --content JSON] [--as NAME]", {"edit", "content", "as"}, {}, 1, 1,
       CmdApprove},
      {"deny", "baton deny ID --message TEXT [--as NAME]", {"message", "as"}, {}, 1, 1, CmdDeny},
      {"respond", "baton respond ID --message TEXT [--as NAME]", {"message", "as"}, {}, 1, 1, CmdRespond},
      {"agents put", "baton agents put FILE", {}, {}, 1, 1, CmdAgentsPut},
      {"agents get", "baton agents get NAME [--version N]", {"version"}, {}, 1, 1, CmdAgentsGet},
      {"agents ls", "baton agents ls", {}, {}, 0, 0, CmdAgentsList},
      {"graphs put", "baton graphs put FILE", {}, {}, 1, 1, CmdGraphsPut},
      {"graphs get", "baton graphs get NAME [--version N]", {"version"}, {}, 1, 1, CmdGraphsGet},
      {"graphs ls", "baton graphs ls", {}, {}, 0, 0, CmdGraphsList},
      {"keys create", "baton keys create --principal P --role R[,R...] [--namespace N[,N...]]",
       {"principal", "role", "namespace"}, {}, 0, 0, CmdKeysCreate},
      {"keys ls", "baton keys ls", {}, {}, 0, 0, CmdKeysList},
      {"namespaces put",
       "baton namespaces put NAME [--max-queued-runs N] [--max-creates-per-second R] [--max-concurrent-runs N]\n"
       "                          [--retention PERIOD]",
       {"max-queued-runs", "max-creates-per-second", "max-concurrent-runs", "retention"}, {}, 1, 1, CmdNamespacesPut},
      {"namespaces get", "baton namespaces get NAME", {}, {}, 1, 1, CmdNamespacesGet},
      {"namespaces ls", "baton namespaces ls", {}, {}, 0, 0, CmdNamespacesList},
      {"keys revoke", "baton keys revoke KEY_ID", {}, {}, 1, 1, CmdKeysRevoke},
      {"whoami", "baton whoami", {}, {}, 0, 0, CmdWhoAmI},
      {"admin backup", "baton admin backup DIR [--keep N]", {"keep"}, {}, 1, 1, CmdAdminBackup},
      {"admin restore", "baton admin restore BACKUP_DIR DATA_DIR [--force]", {}, {"force"}, 2, 2, CmdAdminRestore},
      {"tools ls", "baton tools ls [--bridge HOST:PORT]", {"bridge", "data-dir"}, {}, 0, 0, CmdToolsList},
      {"tools call", "baton tools call NAME JSON [--bridge HOST:PORT] [--timeout-seconds 60]",
       {"bridge", "data-dir", "timeout-seconds"}, {}, 2, 2, CmdToolsCall},
  };
  return *commands;
}

}  // namespace

int RunCli(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  auto labels = ExtractRepeatedFlag("label", args);
  if (!labels.ok()) return PrintUsageError(err, std::string(labels.status().message()), "");
  auto tool_results = ExtractRepeatedFlag("tool-result", args);
  if (!tool_results.ok()) return PrintUsageError(err, std::string(tool_results.status().message()), "");

  std::set<std::string> value_flags = kGlobalValueFlags;
  std::set<std::string> bool_flags = kGlobalBoolFlags;
  for (const Command& c : Commands()) {
    value_flags.insert(c.value_flags.begin(), c.value_flags.end());
    bool_flags.insert(c.bool_flags.begin(), c.bool_flags.end());
  }
  Flags flags(value_flags, bool_flags);
  std::vector<char*> argv = {const_cast<char*>("baton")};
  for (std::string& a : args) argv.push_back(a.data());
  absl::Status parsed = flags.Parse(static_cast<int>(argv.size()), argv.data());
  if (!parsed.ok()) return PrintUsageError(err, std::string(parsed.message()), "");

  std::vector<std::string> positional = flags.positional();
  std::erase(positional, "-h");
  if (positional.empty() || positional[0] == "help") {
    out << UsageText();
    return kExitOk;
  }
  // Find the command: one word, or two for "agents ...", "graphs ...".
  const Command* command = nullptr;
  size_t words = 0;
  for (const Command& c : Commands()) {
    size_t n = std::count(c.name.begin(), c.name.end(), ' ') + 1;
    if (positional.size() < n) continue;
    std::vector<std::string> head(positional.begin(), positional.begin() + n);
    if (absl::StrJoin(head, " ") == c.name) {
      command = &c;
      words = n;
      break;
    }
  }
  if (command == nullptr) {
    if (positional[0] == "tools") {
      return PrintUsageError(err, "expected `tools ls` or `tools call`",
                             "baton tools ls | call NAME JSON [--bridge HOST:PORT]");
    }
    if (positional[0] == "approvals") {
      return PrintUsageError(err, "expected `approvals ls`",
                             "baton approvals ls [--run RUN_ID] [--agent NAME] [--all | --decided] [--limit N]");
    }
    if (positional[0] == "graphs") {
      return PrintUsageError(err, "expected `graphs put`, `graphs get` or `graphs ls`",
                             "baton graphs put FILE | get NAME [--version N] | ls");
    }
    if (positional[0] == "admin") {
      return PrintUsageError(err, "expected `admin backup` or `admin restore`",
                             "baton admin backup DIR | restore BACKUP_DIR DATA_DIR [--force]");
    }
    if (positional[0] == "agents") {
      return PrintUsageError(err, "expected `agents put`, `agents get` or `agents ls`",
                             "baton agents put FILE | get NAME [--version N] | ls");
    }
    return PrintUsageError(err, absl::StrCat("unknown command \"", positional[0], "\""), "");
  }
  if (WantsHelp(args)) {
    out << "usage: " << command->usage << "\n";
    return kExitOk;
  }
  for (const std::string& name : value_flags) {
    if (flags.Has(name) && !kGlobalValueFlags.count(name) && !command->value_flags.count(name)) {
      return PrintUsageError(err, absl::StrCat("flag --", name, " does not apply to `baton ", command->name, "`"),
                             command->usage);
    }
  }
  for (const std::string& name : bool_flags) {
    if (flags.Has(name) && !kGlobalBoolFlags.count(name) && !command->bool_flags.count(name)) {
      return PrintUsageError(err, absl::StrCat("flag --", name, " does not apply to `baton ", command->name, "`"),
                             command->usage);
    }
  }
  if (!labels->empty() && command->name != "run" && command->name != "fork" && command->name != "ls") {
    return PrintUsageError(err, absl::StrCat("flag --label does not apply to `baton ", command->name, "`"),
                           command->usage);
  }
  if (!tool_results->empty() && command->name != "fork") {
    return PrintUsageError(err, absl::StrCat("flag --tool-result does not apply to `baton ", command->name, "`"),
                           command->usage);
  }
  std::vector<std::string> rest(positional.begin() + words, positional.end());
  if (rest.size() < command->min_args || rest.size() > command->max_args) {
    return PrintUsageError(err,
                           rest.size() < command->min_args
                               ? "missing arguments"
                               : absl::StrCat("unexpected argument \"", rest[command->max_args], "\""),
                           command->usage);
  }
  std::string addr = flags.GetString("addr");
  if (addr.empty()) {
    const char* env = std::getenv("BATON_ADDR");
    addr = env && *env ? env : kDefaultAddr;
  }
  ClientTlsOptions tls = ClientTlsFromFlags(flags);
  if (!tls.enabled() && tls.cert_file.empty() && tls.key_file.empty()) {
    // A stack from `baton up --tls` at this address: its CA and the CLI's certificate.
    tls = StackClientTls(flags.GetString("data-dir", ".baton"), addr);
    if (!ValidateClientTls(tls).ok()) tls = {};  // a stale stack.json
  } else if (absl::Status s = ValidateClientTls(tls); !s.ok()) {
    return PrintUsageError(err, std::string(s.message()), "");
  }
  // The bearer credential: --api-key-file, else BATON_API_KEY, else the admin key of
  // the `baton up` stack at this address.
  std::string bearer_token;
  std::string key_file = flags.GetString("api-key-file");
  if (key_file.empty()) {
    bearer_token = BearerTokenFromEnvironment();
    if (bearer_token.empty()) key_file = StackApiKeyFile(flags.GetString("data-dir", ".baton"), addr);
  }
  if (!key_file.empty()) {
    absl::StatusOr<std::string> key = ReadApiKeyFile(key_file);
    if (!key.ok()) return PrintUsageError(err, std::string(key.status().message()), "");
    bearer_token = *std::move(key);
  }
  Context ctx{flags, std::move(rest), *std::move(labels), *std::move(tool_results),
              addr, flags.GetBool("json"), out, err};
  ctx.tls = std::move(tls);
  ctx.bearer_token = std::move(bearer_token);
  ctx.ns = flags.GetString("namespace");
  if (ctx.ns.empty()) {
    if (const char* env = std::getenv("BATON_NAMESPACE"); env != nullptr) ctx.ns = env;
  }
  return command->handler(ctx);
}

}  // namespace baton::cli
