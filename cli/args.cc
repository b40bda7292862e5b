#include "cli/args.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace baton::cli {

absl::StatusOr<std::vector<std::string>> ExtractRepeatedFlag(const std::string& name,
                                                             std::vector<std::string>& args) {
  const std::string bare = "--" + name;
  const std::string with_eq = bare + "=";
  std::vector<std::string> values;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {  // everything after "--" is positional
      rest.insert(rest.end(), args.begin() + i, args.end());
      break;
    }
    if (arg == bare) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("flag ", bare, " needs a value"));
      values.push_back(args[++i]);
    } else if (arg.rfind(with_eq, 0) == 0) {
      values.push_back(arg.substr(with_eq.size()));
    } else {
      rest.push_back(arg);
    }
  }
  args = std::move(rest);
  return values;
}

absl::StatusOr<std::map<std::string, std::string>> ParseLabels(
    const std::vector<std::string>& labels) {
  std::map<std::string, std::string> out;
  for (const std::string& label : labels) {
    size_t eq = label.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--label \"", label, "\": expected KEY=VALUE with a non-empty key"));
    }
    std::string key = label.substr(0, eq);
    if (!out.emplace(key, label.substr(eq + 1)).second) {
      return absl::InvalidArgumentError(absl::StrCat("--label: key \"", key, "\" given twice"));
    }
  }
  return out;
}

absl::StatusOr<SpecRef> ParseSpecRef(const std::string& flag, const std::string& text) {
  SpecRef ref;
  size_t at = text.rfind('@');
  ref.name = text.substr(0, at);
  if (ref.name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, " \"", text, "\": expected NAME or NAME@VERSION"));
  }
  if (at != std::string::npos) {
    std::string version = text.substr(at + 1);
    if (!absl::SimpleAtoi(version, &ref.version) || ref.version <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " \"", text, "\": version \"", version, "\" is not a positive integer"));
    }
  }
  return ref;
}

absl::StatusOr<GraphArg> ParseGraphArg(const std::string& text, bool is_file) {
  GraphArg arg;
  if (text.empty()) return absl::InvalidArgumentError("--graph: expected a graph file or NAME[@VERSION]");
  if (is_file || text == "-" || absl::StrContains(text, '/') || absl::EndsWith(text, ".json")) {
    arg.file = text;
    return arg;
  }
  auto ref = ParseSpecRef("--graph", text);
  if (!ref.ok()) return ref.status();
  arg.stored = *std::move(ref);
  return arg;
}

absl::StatusOr<v1::RunState> ParseRunState(const std::string& text) {
  v1::RunState state;
  std::string upper = absl::AsciiStrToUpper(text);
  if (upper != "RUN_STATE_UNSPECIFIED" && v1::RunState_Parse(upper, &state)) return state;
  return absl::InvalidArgumentError(absl::StrCat(
      "--state \"", text, "\": expected one of queued, running, waiting, succeeded, failed, cancelled"));
}

absl::StatusOr<v1::ToolResultReplacement> ParseToolResultFlag(const std::string& text) {
  size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--tool-result \"", text, "\": expected TOOL_USE_ID=JSON"));
  }
  std::string content = text.substr(eq + 1);
  auto parsed = nlohmann::json::parse(content, nullptr, false);
  if (parsed.is_discarded() || !(parsed.is_string() || parsed.is_array())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tool-result \"", text,
        "\": the result must be a JSON string (e.g. '\"42\"') or an array of content blocks"));
  }
  v1::ToolResultReplacement replacement;
  replacement.set_tool_use_id(text.substr(0, eq));
  replacement.set_content_json(content);
  return replacement;
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--") return false;
    if (arg == "--help" || arg == "-h") return true;
  }
  return false;
}

std::string UsageText() {
  return R"(baton: run LLM agents durably.

Local stack:
  baton up [--data-dir DIR] [--port 7233] [--workers 2] [--concurrency 4] [--detach]
      Start an orchestrator and workers on one data directory (default ./.baton),
      plus the local Messages API simulator when ANTHROPIC_API_KEY is unset.
      Runs in the foreground until Ctrl-C, unless --detach. With --mcp-config FILE
      (or DATA_DIR/mcp.json) it also starts baton-mcp-bridge and gives the workers
      its MCP tools (docs/mcp-bridge.md). It starts the web console too, on a free
      port of 127.0.0.1 (--console-listen HOST:PORT picks one; --no-console: none).
      --metrics: the orchestrator, workers and bridge serve Prometheus metrics, each
      on a free port of 127.0.0.1 written to DATA_DIR/NAME.metrics.port.
  baton down [--data-dir DIR]
      Stop a stack started with `baton up --detach`.
  baton status [--data-dir DIR]
      Show the stack: its processes, the web console's address and the admin key's
      file to sign in with. Exit 1 when it is not (wholly) running.
  baton ui [--listen 127.0.0.1:8233]
      Run the web console in the foreground for the orchestrator at --addr.
  baton whoami                         who the orchestrator takes your key for: the
                                       principal, roles and namespaces

Runs:
  baton run AGENT.json INPUT [--watch [--children]] [--priority N] [--request-id ID]
                             [--label k=v]... [--session ID | --continue RUN_ID]
  baton run --agent NAME[@VERSION] INPUT [...]
      Create a run and print its id. --watch follows it to the end and exits 0 only
      if it SUCCEEDED. INPUT "-" reads standard input. --session ID makes the run the
      next turn of a conversation (it starts from the session's previous run, and
      waits for it if it is still going); --continue RUN_ID starts from a finished
      run's conversation.
  baton get RUN_ID                     show a run: its parent, session, fork and what
                                       it waits for
  baton ls [--state S] [--agent NAME] [--parent RUN_ID] [--session ID] [--label k=v]...
           [--limit N] [--page-token T]
                                       list runs, newest first; --label keeps runs
                                       with every label given
  baton watch RUN_ID [--after-seq N] [--children]
                                       follow a run's events until it ends; --children
                                       adds the events of its subagents' runs
  baton cancel RUN_ID [--reason R]     cancel a run and its child runs
  baton transcript RUN_ID              show a run's conversation; #N marks journal seqs
  baton fork RUN_ID --at SEQ [--input TEXT] [--tool-result TOOL_USE_ID=JSON] [--watch]
      Start a new run from RUN_ID's journal up to entry SEQ (0: from the start),
      optionally with another input or another result ('"text"' or a JSON array of
      blocks) for one tool call. Prints the new run's id.

Approvals (tool calls gated by an agent's `approvals` rules, MCP input requests, and
questions of a graph's human nodes):
  baton approvals ls [--run RUN_ID] [--agent NAME] [--all | --decided] [--limit N]
                                       pending requests (oldest first) by default
  baton approve ID [--edit JSON]       run the call, with the model's input or JSON
  baton approve ID --content JSON      answer an input request
  baton deny ID --message TEXT         do not run the call; the model reads TEXT
                                       (an input request: decline it; a graph's
                                       question: --message is optional)
  baton respond ID --message TEXT      do not run the call; TEXT is its result
                                       (a graph's question: TEXT is the answer)
      --as NAME says who decided (default: $USER). A request already decided
      otherwise, or expired, is an error (exit 1).

Agents (AgentSpec JSON files, see examples/agents/):
  baton agents put FILE                store an agent; prints its version
  baton agents get NAME [--version N]  show an agent (latest version by default)
  baton agents ls                      list agents

Graphs (GraphSpec JSON files: agents, maps of agents and people as nodes; see
examples/graphs/):
  baton graphs put FILE                store a graph; prints its version
  baton graphs get NAME [--version N]  show a graph (latest version by default)
  baton graphs ls                      list graphs: name, version, nodes, description
  baton run --graph FILE|NAME[@VERSION] INPUT [--watch [--children]] [--priority N]
                                       [--request-id ID] [--label k=v]...
      Run a graph: FILE (an inline spec) when it names a file, else a stored graph.
      --watch shows nodes starting and finishing, edges taken, map progress and
      questions to a person (answer them with baton approve / deny / respond, as
      above); `baton transcript RUN_ID` shows each node's input and output.

MCP tools (through baton-mcp-bridge):
  baton tools ls                       list every MCP server's tools and status
  baton tools call NAME JSON [--timeout-seconds 60]
                                       call a tool, e.g. mcp__everything__echo '{"message":"hi"}'
      --bridge HOST:PORT (env BATON_BRIDGE_ADDR; default: the bridge of `baton up`
      in --data-dir, else 127.0.0.1:7234)

API keys (role admin):
  baton keys create --principal P --role R[,R...] [--namespace N[,N...]]
                                       make a key (shown once); roles: reader, operator,
                                       admin, worker
  baton keys ls                        list keys (ids, principals, roles; never secrets)
  baton keys revoke KEY_ID

Namespaces (put needs role admin):
  baton namespaces put NAME [--max-queued-runs N] [--max-creates-per-second R]
                            [--max-concurrent-runs N] [--retention PERIOD]
                                       set (replace) a namespace's quotas and how long
                                       its ended runs are kept: 30d, 12h, 90s; 0: forever;
                                       no --retention: the orchestrator's default
  baton namespaces get NAME            show one namespace's settings
  baton namespaces ls                  list namespaces with settings

Administration (role admin):
  baton admin backup DIR [--keep N]    back up the orchestrator's store, online, into DIR
                                       on the orchestrator's machine (incremental); --keep:
                                       then delete the oldest there until N remain
  baton admin restore BACKUP_DIR DATA_DIR [--force]
                                       restore the latest backup in BACKUP_DIR into an
                                       empty DATA_DIR, here, with no orchestrator on it
                                       (--force: replace what DATA_DIR holds)

Flags for every command:
  --addr HOST:PORT   orchestrator address (env BATON_ADDR; default 127.0.0.1:7233)
  --api-key-file F   the API key or JWT to send (env BATON_API_KEY; default: the admin
                     key of the `baton up` stack at that address)
  --ca F, --cert F, --key F
                     TLS: the server's CA and a client certificate (env BATON_CA,
                     BATON_CERT, BATON_KEY; default: the files of a `baton up --tls` stack)
  --json             print protobuf JSON, one object per line
  --help             show usage

Exit codes: 0 ok; 1 an error, or a watched run that did not succeed; 2 bad usage or input.
)";
}

}  // namespace baton::cli
