#include "orchestrator/services.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/namespaces.h"
#include "common/tracing/trace_context.h"
#include "common/tls.h"
#include "common/transcript.h"
#include "orchestrator/graph/graph_execution.h"
#include "orchestrator/graph_service.h"
#include "orchestrator/run_trace.h"
#include "orchestrator/run_view.h"
#include "orchestrator/run_watcher.h"
#include "orchestrator/store/store_keys.h"
#include "orchestrator/validation.h"

namespace baton::orchestrator {
namespace {

LeaseRef ToLeaseRef(const v1::Lease& lease) {
  return LeaseRef{lease.run_id(), lease.lease_id(), lease.epoch()};
}

absl::Status ValidateLease(const v1::Lease& lease) {
  if (lease.run_id().empty()) return absl::InvalidArgumentError("lease.run_id: must not be empty");
  if (lease.lease_id().empty()) return absl::InvalidArgumentError("lease.lease_id: must not be empty");
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------
// RunService

grpc::ServerUnaryReactor* RunServiceImpl::CreateRun(grpc::CallbackServerContext* ctx,
                                                    const v1::CreateRunRequest* request,
                                                    v1::Run* reply) {
  if (absl::Status s = ValidateCreateRunRequest(*request, limits_); !s.ok()) return FinishNow(ctx, s);
  const std::vector<std::string> allowed = namespaces_of_(*ctx);
  absl::StatusOr<std::string> ns = CallNamespace(allowed, request->namespace_());
  if (!ns.ok()) return FinishNow(ctx, ns.status());
  v1::Run run;
  run.set_namespace_(*ns);
  if (absl::Status s = SetCallerTrace(ClientMetadataValue(*ctx, tracing::kTraceparentKey),
                                      ClientMetadataValues(*ctx, tracing::kTracestateKey), &run);
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (!request->graph_name().empty() || request->has_graph()) {
    v1::GraphSpec graph;
    if (!request->graph_name().empty()) {
      absl::StatusOr<std::optional<v1::GraphSpec>> stored =
          store_.GetGraph(*ns, request->graph_name(), request->graph_version());
      if (!stored.ok()) return FinishNow(ctx, stored.status());
      if (!stored->has_value()) {
        return FinishNow(ctx, absl::NotFoundError(absl::StrCat(
                                  "graph_name: graph \"", request->graph_name(), "\"",
                                  request->graph_version() ? absl::StrCat(" version ", request->graph_version()) : "",
                                  " not found")));
      }
      graph = std::move(**stored);
    } else {
      graph = request->graph();
    }
    if (absl::Status s = ResolveGraph(&graph, store_, *ns, request->graph_name().empty() ? "graph" : "graph_name");
        !s.ok()) {
      return FinishNow(ctx, s);
    }
    *run.mutable_graph() = std::move(graph);
  } else if (!request->agent_name().empty()) {
    absl::StatusOr<std::optional<v1::AgentSpec>> agent =
        store_.GetAgent(*ns, request->agent_name(), request->agent_version());
    if (!agent.ok()) return FinishNow(ctx, agent.status());
    if (!agent->has_value()) {
      return FinishNow(ctx, absl::NotFoundError(absl::StrCat(
                                "agent_name: agent \"", request->agent_name(), "\"",
                                request->agent_version() ? absl::StrCat(" version ", request->agent_version()) : "",
                                " not found")));
    }
    *run.mutable_agent() = std::move(**agent);
  } else {
    *run.mutable_agent() = request->agent();
  }
  if (run.has_agent()) {
    if (absl::Status s = ResolveSubagents(run.mutable_agent(), store_, *ns, "agent"); !s.ok()) return FinishNow(ctx, s);
  }
  if (!request->continue_from().empty()) {
    // A conversation goes on in its own namespace.
    absl::Status visible = CheckRunVisible({*ns}, request->continue_from());
    absl::StatusOr<v1::Run> previous =
        visible.ok() ? scheduler_.GetRun(request->continue_from()) : absl::StatusOr<v1::Run>(visible);
    if (!previous.ok()) {
      return FinishNow(ctx, absl::Status(previous.status().code(),
                                         absl::StrCat("continue_from: ", previous.status().message())));
    }
    if (previous->state() != v1::SUCCEEDED) {
      return FinishNow(ctx, absl::FailedPreconditionError(absl::StrCat(
                                "continue_from: run \"", request->continue_from(), "\" ",
                                IsTerminal(previous->state()) ? "ended " : "has not ended: it is ",
                                v1::RunState_Name(previous->state()),
                                "; only a run that SUCCEEDED can be continued")));
    }
    run.set_continue_from(request->continue_from());
  }
  run.set_session_id(request->session_id());
  run.set_input(request->input());
  run.set_priority(request->priority());
  run.set_request_id(request->request_id());
  run.mutable_labels()->insert(request->labels().begin(), request->labels().end());
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.CreateRun(std::move(run), [reactor, reply](absl::StatusOr<v1::Run> created) {
    if (created.ok()) *reply = std::move(*created);
    reactor->Finish(ToGrpcStatus(created.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* RunServiceImpl::GetRun(grpc::CallbackServerContext* ctx,
                                                 const v1::GetRunRequest* request, v1::Run* reply) {
  if (absl::Status s = ValidateRunId(request->run_id()); !s.ok()) return FinishNow(ctx, s);
  if (absl::Status s = CheckRunVisible(namespaces_of_(*ctx), request->run_id()); !s.ok()) return FinishNow(ctx, s);
  absl::StatusOr<v1::Run> run = scheduler_.GetRun(request->run_id());
  if (run.ok()) *reply = std::move(*run);
  return FinishNow(ctx, run.status());
}

grpc::ServerUnaryReactor* RunServiceImpl::ListRuns(grpc::CallbackServerContext* ctx,
                                                   const v1::ListRunsRequest* request,
                                                   v1::ListRunsResponse* reply) {
  if (request->page_size() < 0 || request->page_size() > 1000) {
    return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                              "page_size: must be between 0 and 1000, got ", request->page_size())));
  }
  if (!v1::RunState_IsValid(request->state())) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              absl::StrCat("state: ", request->state(), " is not a RunState value")));
  }
  if (!v1::RunView_IsValid(request->view())) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              absl::StrCat("view: ", request->view(), " is not a RunView value (BASIC or FULL)")));
  }
  absl::StatusOr<RunFilter> filter = ListFilter(*ctx, request->namespace_(), request->agent_name(),
                                                request->parent_run_id(), request->labels());
  if (!filter.ok()) return FinishNow(ctx, filter.status());
  filter->state = request->state();
  filter->session_id = request->session_id();
  // A token resumes only the listing it came from: same namespace, same filter. (No
  // field for labels when there are none, so tokens from before label filters hold.)
  std::string scope = PageScope({filter->ns, absl::StrCat(filter->state), filter->agent_name, filter->parent_run_id,
                                 filter->session_id});
  if (!filter->labels.empty()) {
    std::string labels;
    for (const auto& [key, value] : filter->labels) labels += PageScope({key, value});
    scope += PageScope({labels});
  }
  absl::StatusOr<std::string> after = page_tokens_.Open("ListRuns", scope, request->page_token());
  if (!after.ok()) return FinishNow(ctx, after.status());
  absl::StatusOr<RunPage> page =
      store_.ListRuns(*filter, request->page_size() == 0 ? 50 : request->page_size(), *after);
  if (!page.ok()) return FinishNow(ctx, page.status());
  const bool full = request->view() == v1::FULL;
  PageBudget budget(limits_.max_page_bytes);
  for (v1::Run& run : page->runs) {
    // The store may trail memory by a commit in flight: show the newest state.
    std::optional<v1::Run> active = scheduler_.GetActiveRun(run.run_id());
    v1::Run& shown = active.has_value() ? *active : run;
    if (!full) ApplyBasicView(&shown);
    if (!budget.Take(shown.ByteSizeLong())) {
      // --max-page-bytes: the page ends early; the next one starts at this run.
      reply->set_next_page_token(page_tokens_.Seal(
          "ListRuns", scope, store_keys::EncodeRunPageToken(reply->runs(reply->runs_size() - 1).run_id())));
      return FinishNow(ctx, absl::OkStatus());
    }
    *reply->add_runs() = std::move(shown);
  }
  reply->set_next_page_token(page_tokens_.Seal("ListRuns", scope, page->next_page_token));
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* RunServiceImpl::CountRuns(grpc::CallbackServerContext* ctx,
                                                    const v1::CountRunsRequest* request,
                                                    v1::CountRunsResponse* reply) {
  absl::StatusOr<RunFilter> filter = ListFilter(*ctx, request->namespace_(), request->agent_name(),
                                                request->parent_run_id(), request->labels());
  if (!filter.ok()) return FinishNow(ctx, filter.status());
  // From the store's indexes (RunStore::CountRuns): a state change whose commit is in
  // flight shows at the next call.
  absl::StatusOr<RunCounts> counts = store_.CountRuns(*filter);
  if (!counts.ok()) return FinishNow(ctx, counts.status());
  for (const auto& [state, count] : *counts) {
    v1::StateCount* entry = reply->add_counts();
    entry->set_state(state);
    entry->set_count(count);
  }
  return FinishNow(ctx, absl::OkStatus());
}

absl::StatusOr<RunFilter> RunServiceImpl::ListFilter(const grpc::ServerContextBase& ctx, const std::string& ns,
                                                     const std::string& agent_name, const std::string& parent_run_id,
                                                     const google::protobuf::Map<std::string, std::string>& labels) const {
  if (absl::Status s = ValidateLabels(labels); !s.ok()) return s;
  // Children are listed in their parent's namespace unless the request names one.
  absl::StatusOr<std::string> call_ns = CallNamespace(
      namespaces_of_(ctx), ns.empty() && !parent_run_id.empty() ? NamespaceOfRunId(parent_run_id) : std::string_view(ns));
  if (!call_ns.ok()) return call_ns.status();
  RunFilter filter;
  filter.ns = *std::move(call_ns);
  filter.agent_name = agent_name;
  filter.parent_run_id = parent_run_id;
  filter.labels.insert(labels.begin(), labels.end());
  return filter;
}

grpc::ServerUnaryReactor* RunServiceImpl::CancelRun(grpc::CallbackServerContext* ctx,
                                                    const v1::CancelRunRequest* request,
                                                    v1::Run* reply) {
  if (absl::Status s = ValidateRunId(request->run_id()); !s.ok()) return FinishNow(ctx, s);
  if (absl::Status s = CheckRunVisible(namespaces_of_(*ctx), request->run_id()); !s.ok()) return FinishNow(ctx, s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.CancelRun(
      request->run_id(), request->reason(),
      [reactor, reply](absl::StatusOr<v1::Run> run) {
        if (run.ok()) *reply = std::move(*run);
        reactor->Finish(ToGrpcStatus(run.status()));
      },
      caller_of_(*ctx));
  return reactor;
}

namespace {

// A stream refused before it starts.
template <typename Message>
grpc::ServerWriteReactor<Message>* FailedStream(const absl::Status& s) {
  class Failed final : public grpc::ServerWriteReactor<Message> {
   public:
    explicit Failed(const absl::Status& s) { this->Finish(ToGrpcStatus(s)); }
    void OnDone() override { delete this; }
  };
  return new Failed(s);
}

}  // namespace

absl::Status RunServiceImpl::CheckWatch(grpc::CallbackServerContext* ctx, const v1::WatchRunRequest& request) {
  absl::Status s = ValidateRunId(request.run_id());
  if (s.ok() && request.after_seq() < 0) {
    s = absl::InvalidArgumentError("after_seq: must be >= 0");
  }
  if (s.ok()) s = CheckRunVisible(namespaces_of_(*ctx), request.run_id());
  if (s.ok()) s = scheduler_.GetRun(request.run_id()).status();
  return s;
}

grpc::ServerWriteReactor<v1::RunEvent>* RunServiceImpl::WatchRun(
    grpc::CallbackServerContext* ctx, const v1::WatchRunRequest* request) {
  if (absl::Status s = CheckWatch(ctx, *request); !s.ok()) return FailedStream<v1::RunEvent>(s);
  return NewRunWatcher(scheduler_, store_, hub_, request->run_id(), request->after_seq(), request->live_text(),
                       request->include_children());
}

grpc::ServerWriteReactor<v1::RunEventBatch>* RunServiceImpl::WatchRunBatched(
    grpc::CallbackServerContext* ctx, const v1::WatchRunRequest* request) {
  if (absl::Status s = CheckWatch(ctx, *request); !s.ok()) return FailedStream<v1::RunEventBatch>(s);
  return NewBatchedRunWatcher(scheduler_, store_, hub_, request->run_id(), request->after_seq(),
                              request->live_text(), request->include_children());
}

grpc::ServerUnaryReactor* RunServiceImpl::GetTranscript(grpc::CallbackServerContext* ctx,
                                                        const v1::GetTranscriptRequest* request,
                                                        v1::Transcript* reply) {
  if (absl::Status s = ValidateRunId(request->run_id()); !s.ok()) return FinishNow(ctx, s);
  if (absl::Status s = CheckRunVisible(namespaces_of_(*ctx), request->run_id()); !s.ok()) return FinishNow(ctx, s);
  absl::StatusOr<v1::Run> run = scheduler_.GetRun(request->run_id());
  if (!run.ok()) return FinishNow(ctx, run.status());
  absl::StatusOr<std::vector<v1::JournalEntry>> journal = store_.ReadJournal(request->run_id());
  if (!journal.ok()) return FinishNow(ctx, journal.status());
  if (run->has_graph()) {
    // A graph run has no conversation of its own: its nodes are child runs.
    reply->set_run_id(run->run_id());
    reply->set_input(run->input());
    for (v1::GraphNodeRun& node : graph::NodeRuns(*journal)) *reply->add_nodes() = std::move(node);
    for (v1::JournalEntry& entry : *journal) *reply->add_entries() = std::move(entry);
    reply->set_messages_json("[]");
    *reply->mutable_usage() = run->tree_usage();
    return FinishNow(ctx, absl::OkStatus());
  }
  std::vector<v1::PriorRun> history;
  if (!run->continue_from().empty()) {
    absl::StatusOr<std::vector<v1::PriorRun>> read = ReadHistory(store_, *run);
    if (!read.ok()) return FinishNow(ctx, read.status());
    history = std::move(*read);
  }
  // The earlier runs' conversation comes before this run's input, as the model saw it.
  absl::StatusOr<nlohmann::json> prior = HistoryMessages(history);
  if (!prior.ok()) return FinishNow(ctx, prior.status());
  absl::StatusOr<RebuiltConversation> conv = RebuildConversation(run->input(), *journal, std::move(*prior));
  if (!conv.ok()) return FinishNow(ctx, conv.status());
  for (const v1::PriorRun& earlier : history) reply->add_history_run_ids(earlier.run_id());
  reply->set_run_id(run->run_id());
  reply->set_input(run->input());
  for (v1::JournalEntry& entry : *journal) *reply->add_entries() = std::move(entry);
  reply->set_messages_json(conv->messages.dump());
  *reply->mutable_usage() = run->usage();
  return FinishNow(ctx, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// AgentService

grpc::ServerUnaryReactor* AgentServiceImpl::PutAgent(grpc::CallbackServerContext* ctx,
                                                     const v1::PutAgentRequest* request,
                                                     v1::PutAgentResponse* reply) {
  if (!request->has_agent()) return FinishNow(ctx, absl::InvalidArgumentError("agent: must be set"));
  if (absl::Status s =
          CheckSize("agent", request->agent().ByteSizeLong(), limits_.max_spec_bytes, "--max-spec-bytes");
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (absl::Status s = ValidateAgentSpec(request->agent(), /*require_name=*/true); !s.ok()) {
    return FinishNow(ctx, s);
  }
  absl::StatusOr<std::string> ns = CallNamespace(namespaces_of_(*ctx), request->namespace_());
  if (!ns.ok()) return FinishNow(ctx, ns.status());
  if (absl::Status s = CheckStoredSubagents(request->agent(), store_, *ns, "agent"); !s.ok()) return FinishNow(ctx, s);
  // Agents change rarely: a blocking synced write here is simpler than a
  // completion and holds one callback thread for about a millisecond.
  absl::MutexLock lock(&put_mu_);
  absl::StatusOr<std::optional<v1::AgentSpec>> latest = store_.GetAgent(*ns, request->agent().name(), 0);
  if (!latest.ok()) return FinishNow(ctx, latest.status());
  v1::AgentSpec agent = request->agent();
  agent.set_namespace_(*ns);
  agent.set_version(latest->has_value() ? (*latest)->version() + 1 : 1);
  StoreBatch batch;
  batch.agents.push_back(agent);
  if (absl::Status s = store_.Commit(batch); !s.ok()) return FinishNow(ctx, s);
  *reply->mutable_agent() = std::move(agent);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* AgentServiceImpl::GetAgent(grpc::CallbackServerContext* ctx,
                                                     const v1::GetAgentRequest* request,
                                                     v1::AgentSpec* reply) {
  if (request->name().empty()) return FinishNow(ctx, absl::InvalidArgumentError("name: must not be empty"));
  if (request->version() < 0) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              absl::StrCat("version: must be >= 0, got ", request->version())));
  }
  absl::StatusOr<std::string> ns = CallNamespace(namespaces_of_(*ctx), request->namespace_());
  if (!ns.ok()) return FinishNow(ctx, ns.status());
  absl::StatusOr<std::optional<v1::AgentSpec>> agent = store_.GetAgent(*ns, request->name(), request->version());
  if (!agent.ok()) return FinishNow(ctx, agent.status());
  if (!agent->has_value()) {
    return FinishNow(ctx, absl::NotFoundError(absl::StrCat("agent \"", request->name(), "\"",
                                                           request->version() ? absl::StrCat(" version ", request->version()) : "",
                                                           " not found")));
  }
  *reply = std::move(**agent);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* AgentServiceImpl::ListAgents(grpc::CallbackServerContext* ctx,
                                                       const v1::ListAgentsRequest* request,
                                                       v1::ListAgentsResponse* reply) {
  if (request->page_size() < 0 || request->page_size() > 1000) {
    return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                              "page_size: must be between 0 and 1000, got ", request->page_size())));
  }
  const int page_size = request->page_size() == 0 ? 100 : request->page_size();
  absl::StatusOr<std::string> ns = CallNamespace(namespaces_of_(*ctx), request->namespace_());
  if (!ns.ok()) return FinishNow(ctx, ns.status());
  const std::string scope = PageScope({*ns});
  absl::StatusOr<std::string> after = page_tokens_.Open("ListAgents", scope, request->page_token());
  if (!after.ok()) return FinishNow(ctx, after.status());
  absl::StatusOr<std::vector<v1::AgentSpec>> agents = store_.ListAgents(*ns, page_size, *after);
  if (!agents.ok()) return FinishNow(ctx, agents.status());
  PageBudget budget(limits_.max_page_bytes);
  bool cut = false;  // by --max-page-bytes
  for (v1::AgentSpec& agent : *agents) {
    if (!budget.Take(agent.ByteSizeLong())) {
      cut = true;
      break;
    }
    *reply->add_agents() = std::move(agent);
  }
  if (cut || static_cast<int>(reply->agents_size()) == page_size) {
    reply->set_next_page_token(page_tokens_.Seal("ListAgents", scope, reply->agents(reply->agents_size() - 1).name()));
  }
  return FinishNow(ctx, absl::OkStatus());
}

// ---------------------------------------------------------------------------
// WorkerService

namespace {

// A parked PollTask: answered by the scheduler (task, deadline or shutdown) or
// withdrawn when the worker goes away. Deletes itself in OnDone.
template <typename Request>
RunCompletion CompletionOf(const Request& request) {
  return RunCompletion{request.output(), request.usage(), request.steps()};
}

// PollTaskRequest.max_tasks above this is taken as this.
constexpr int kMaxTasksPerPoll = 256;

class PollReactor final : public grpc::ServerUnaryReactor {
 public:
  PollReactor(Scheduler& scheduler, const v1::PollTaskRequest& request, v1::PollTaskResponse* reply,
              absl::Duration lease_ttl, std::vector<std::string> namespaces)
      : scheduler_(scheduler) {
    int64_t wait_ms = request.wait_ms() <= 0 ? 10'000 : std::min<int64_t>(request.wait_ms(), 60'000);
    absl::Time deadline = scheduler_.clock().Now() + absl::Milliseconds(wait_ms);
    const int64_t ttl_ms = absl::ToInt64Milliseconds(lease_ttl);
    // One answer leases at most kMaxTasksPerPoll runs, whatever the worker asks.
    const int max_tasks = std::clamp(request.max_tasks(), 1, kMaxTasksPerPoll);
    poll_id_ = scheduler_.PollTasks(
        request.worker_id(), deadline, max_tasks,
        [this, reply, ttl_ms](absl::StatusOr<std::vector<TaskGrant>> grants) {
          if (grants.ok()) {
            for (size_t i = 0; i < grants->size(); ++i) {
              TaskGrant& g = (*grants)[i];
              v1::Task* task = i == 0 ? reply->mutable_task() : reply->add_more_tasks();
              task->mutable_lease()->set_run_id(g.lease.run_id);
              task->mutable_lease()->set_lease_id(g.lease.lease_id);
              task->mutable_lease()->set_epoch(g.lease.epoch);
              *task->mutable_run() = std::move(g.run);
              for (v1::JournalEntry& e : g.journal) *task->add_journal() = std::move(e);
              for (v1::PriorRun& prior : g.history) *task->add_history() = std::move(prior);
              task->set_lease_ttl_ms(ttl_ms);
            }
          }
          Finish(ToGrpcStatus(grants.status()));
        },
        std::move(namespaces));
  }
  void OnCancel() override { scheduler_.CancelPoll(poll_id_); }
  void OnDone() override { delete this; }

 private:
  Scheduler& scheduler_;
  uint64_t poll_id_ = 0;
};

}  // namespace

absl::Status WorkerServiceImpl::CheckPeer(grpc::CallbackServerContext* ctx, const std::string& worker_id) const {
  if (!require_client_certificates_) return absl::OkStatus();
  std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("WorkerService: a client certificate is required");
  absl::StatusOr<std::string> identity = VerifiedPeerIdentity(*auth);
  if (!identity.ok()) return absl::UnauthenticatedError(absl::StrCat("WorkerService: ", identity.status().message()));
  if (worker_id.empty()) return absl::OkStatus();
  return CheckWorkerId(*identity, worker_id);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::PollTask(grpc::CallbackServerContext* ctx,
                                                      const v1::PollTaskRequest* request,
                                                      v1::PollTaskResponse* reply) {
  if (absl::Status s = CheckPeer(ctx, request->worker_id()); !s.ok()) return FinishNow(ctx, s);
  if (request->worker_id().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError("worker_id: must not be empty"));
  }
  // A worker leases runs of the namespaces its credential allows, or fewer.
  absl::StatusOr<std::vector<std::string>> namespaces =
      PollNamespaces(namespaces_of_(*ctx), {request->namespaces().begin(), request->namespaces().end()});
  if (!namespaces.ok()) return FinishNow(ctx, namespaces.status());
  return new PollReactor(scheduler_, *request, reply, lease_ttl_, *std::move(namespaces));
}

grpc::ServerUnaryReactor* WorkerServiceImpl::Heartbeat(grpc::CallbackServerContext* ctx,
                                                       const v1::HeartbeatRequest* request,
                                                       v1::HeartbeatResponse* reply) {
  if (absl::Status s = CheckPeer(ctx, request->worker_id()); !s.ok()) return FinishNow(ctx, s);
  std::vector<LeaseRef> refs;
  for (const v1::Lease& lease : request->leases()) refs.push_back(ToLeaseRef(lease));
  for (const LeaseStatus& status : scheduler_.Heartbeat(request->worker_id(), refs)) {
    auto* out = reply->add_leases();
    out->set_run_id(status.run_id);
    out->set_valid(status.valid);
    out->set_cancel_requested(status.cancel_requested);
  }
  reply->set_lease_ttl_ms(absl::ToInt64Milliseconds(lease_ttl_));
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* WorkerServiceImpl::AppendStep(grpc::CallbackServerContext* ctx,
                                                        const v1::AppendStepRequest* request,
                                                        v1::AppendStepResponse* reply) {
  const absl::Time received = absl::Now();
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::function<void()> submit = CheckAppend(*request, reply, [this, received, reactor](const absl::Status& status) {
    append_step_seconds_.ObserveDuration(absl::Now() - received);
    reactor->Finish(ToGrpcStatus(status));
  });
  if (submit) submit();
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::AppendSteps(grpc::CallbackServerContext* ctx,
                                                         const v1::AppendStepsRequest* request,
                                                         v1::AppendStepsResponse* reply) {
  const absl::Time received = absl::Now();
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const int n = request->steps_size();
  if (n == 0) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  // Every result exists before the first step starts: the steps end on the store's
  // thread, each writing only its own result.
  std::vector<v1::AppendStepResult*> results(n);
  for (int i = 0; i < n; ++i) results[i] = reply->add_results();
  auto left = std::make_shared<std::atomic<int>>(n);
  std::vector<std::function<void()>> submits;
  submits.reserve(n);
  for (int i = 0; i < n; ++i) {
    v1::AppendStepResult* result = results[i];
    std::function<void()> submit =
        CheckAppend(request->steps(i), result->mutable_response(),
                    [this, received, reactor, result, left](const absl::Status& status) {
                      append_step_seconds_.ObserveDuration(absl::Now() - received);
                      if (!status.ok()) {
                        result->clear_response();
                        ToRpcStatus(status, result->mutable_status());
                      }
                      if (left->fetch_sub(1) == 1) reactor->Finish(grpc::Status::OK);
                    });
    if (submit) submits.push_back(std::move(submit));
  }
  if (submits.empty()) return reactor;  // every step refused, and answered
  // The steps go in one synced write: the store's writer waits for the last of them,
  // only while they are handed to the scheduler (their checks are done).
  CommitHold hold(store_);
  for (std::function<void()>& submit : submits) submit();
  return reactor;
}

std::function<void()> WorkerServiceImpl::CheckAppend(const v1::AppendStepRequest& request,
                                                     v1::AppendStepResponse* reply,
                                                     std::function<void(const absl::Status&)> done) {
  auto refuse = [&done](const absl::Status& s) -> std::function<void()> {
    done(s);
    return nullptr;
  };
  if (absl::Status s = ValidateLease(request.lease()); !s.ok()) return refuse(s);
  if (absl::Status s = CheckAppendStepSize(request, limits_); !s.ok()) return refuse(s);
  std::vector<v1::JournalEntry> entries(request.entries().begin(), request.entries().end());
  std::vector<std::string> event_texts(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (absl::Status s = ValidateJournalEntry(entries[i], &event_texts[i]); !s.ok()) {
      return refuse(absl::InvalidArgumentError(absl::StrCat("entries[", i, "].", s.message())));
    }
    if (entries[i].has_approval_request() && !entries[i].approval_request().approval_id().empty()) {
      // Approvals are stored by id: an id of the worker's choosing could name (and
      // overwrite) another run's approval.
      const v1::ApprovalRequest& approval = entries[i].approval_request();
      const std::string expected =
          absl::StrCat(request.lease().run_id(), ":", entries[i].step(), ":", approval.tool_use_id());
      if (approval.approval_id() != expected) {
        return refuse(absl::InvalidArgumentError(absl::StrCat(
            "entries[", i, "].approval_request.approval_id: must be empty or \"", expected,
            "\" (the run's id, the step and the tool_use_id), got \"", approval.approval_id(), "\"")));
      }
    }
  }
  std::vector<v1::ChildRunSpec> children(request.children().begin(), request.children().end());
  for (size_t i = 0; i < children.size(); ++i) {
    const std::string at = absl::StrCat("children[", i, "]");
    const bool has_call = std::any_of(entries.begin(), entries.end(), [&](const v1::JournalEntry& e) {
      return e.has_tool_call() && e.tool_call().tool_use_id() == children[i].tool_use_id();
    });
    if (!has_call) {
      return refuse(absl::InvalidArgumentError(
          absl::StrCat(at, ".tool_use_id: no tool_call entry for \"", children[i].tool_use_id(), "\"")));
    }
    if (children[i].input().empty()) {
      return refuse(absl::InvalidArgumentError(absl::StrCat(at, ".input: must not be empty")));
    }
    if (absl::Status s = ValidateAgentSpec(children[i].agent(), /*require_name=*/false); !s.ok()) {
      return refuse(absl::InvalidArgumentError(absl::StrCat(at, ".", s.message())));
    }
    // The child runs in its parent's namespace, whose stored agents it may name.
    if (absl::Status s = ResolveSubagents(children[i].mutable_agent(), store_,
                                          NamespaceOfRunId(request.lease().run_id()), at + ".agent");
        !s.ok()) {
      return refuse(s);
    }
  }
  std::optional<RunCompletion> completion =
      request.has_complete() ? std::optional<RunCompletion>(CompletionOf(request.complete())) : std::nullopt;
  return [this, lease = ToLeaseRef(request.lease()), first_seq = request.first_seq(), entries = std::move(entries),
          children = std::move(children), event_texts = std::move(event_texts), completion = std::move(completion),
          reply, done = std::move(done)]() mutable {
    scheduler_.AppendStep(lease, std::move(entries),
                          [reply, done = std::move(done)](absl::StatusOr<AppendResult> result) {
                            if (result.ok()) {
                              reply->set_last_seq(result->last_seq);
                              reply->set_cancel_requested(result->cancel_requested);
                              reply->set_completed(result->completed);
                            }
                            done(result.status());
                          },
                          first_seq, std::move(children), std::move(event_texts), std::move(completion));
  };
}

grpc::ServerUnaryReactor* WorkerServiceImpl::CompleteRun(grpc::CallbackServerContext* ctx,
                                                         const v1::CompleteRunRequest* request,
                                                         v1::CompleteRunResponse* reply) {
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  if (absl::Status s = ValidateLease(request->lease()); !s.ok()) return FinishNow(ctx, s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.CompleteRun(ToLeaseRef(request->lease()), CompletionOf(*request),
                         [reactor](absl::Status s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::FailRun(grpc::CallbackServerContext* ctx,
                                                     const v1::FailRunRequest* request,
                                                     v1::FailRunResponse* reply) {
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  if (absl::Status s = ValidateLease(request->lease()); !s.ok()) return FinishNow(ctx, s);
  FailRunParams params;
  params.lease = ToLeaseRef(request->lease());
  params.error = request->error();
  params.failure_kind = request->failure_kind();
  params.retryable = request->retryable();
  params.cancelled = request->cancelled();
  params.released = request->released();
  params.usage = request->usage();
  params.steps = request->steps();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.FailRun(params, [reactor, reply](absl::StatusOr<v1::RunState> state) {
    if (state.ok()) reply->set_state(*state);
    reactor->Finish(ToGrpcStatus(state.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::PublishDeltas(grpc::CallbackServerContext* ctx,
                                                           const v1::PublishDeltasRequest* request,
                                                           v1::PublishDeltasResponse* reply) {
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  if (absl::Status s = ValidateLease(request->lease()); !s.ok()) return FinishNow(ctx, s);
  if (scheduler_.CurrentLeases({ToLeaseRef(request->lease())}).front()) {
    PublishLive(*request);
    ForgetLiveStepsIfEnded({request});
  }
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* WorkerServiceImpl::PublishDeltasBatch(grpc::CallbackServerContext* ctx,
                                                                const v1::PublishDeltasBatchRequest* request,
                                                                v1::PublishDeltasResponse* reply) {
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  for (int i = 0; i < request->runs_size(); ++i) {
    if (absl::Status s = ValidateLease(request->runs(i).lease()); !s.ok()) {
      return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat("runs[", i, "].", s.message())));
    }
  }
  std::vector<LeaseRef> leases;
  leases.reserve(request->runs_size());
  for (const v1::PublishDeltasRequest& run : request->runs()) leases.push_back(ToLeaseRef(run.lease()));
  const std::vector<bool> current = scheduler_.CurrentLeases(leases);
  std::vector<const v1::PublishDeltasRequest*> published;
  for (int i = 0; i < request->runs_size(); ++i) {
    if (!current[i]) continue;
    PublishLive(request->runs(i));
    published.push_back(&request->runs(i));
  }
  ForgetLiveStepsIfEnded(published);
  return FinishNow(ctx, absl::OkStatus());
}

void WorkerServiceImpl::ForgetLiveStepsIfEnded(const std::vector<const v1::PublishDeltasRequest*>& published) {
  // The hub keeps a run's live start until the run's end is published. A run whose
  // lease ended between the check above and the hub keeping the start may have had
  // its end published already: the scheduler lets a lease go before it publishes the
  // run's end, so asking again after the hub kept the start settles it.
  if (hub_ == nullptr) return;
  std::vector<LeaseRef> leases;
  for (const v1::PublishDeltasRequest* run : published) {
    if (run->steps_started_size() > 0) leases.push_back(ToLeaseRef(run->lease()));
  }
  if (leases.empty()) return;
  const std::vector<bool> current = scheduler_.CurrentLeases(leases);
  for (size_t i = 0; i < leases.size(); ++i) {
    if (!current[i]) hub_->ForgetLiveSteps(leases[i].run_id);
  }
}

void WorkerServiceImpl::PublishLive(const v1::PublishDeltasRequest& request) {
  // Best effort and not durable: no store; watchers that are behind drop them (they
  // have the durable text events). The caller checked the lease: a worker that lost
  // it (paused, cut off) must not stream text into a run another worker now runs.
  if (hub_ == nullptr) return;
  const std::string& run_id = request.lease().run_id();
  const int64_t now_ms = scheduler_.clock().NowMillis();
  std::vector<v1::RunEvent> events;
  events.reserve(request.deltas_size() + request.steps_started_size() + 1);
  auto add_event = [&]() -> v1::RunEvent& {
    v1::RunEvent& event = events.emplace_back();
    event.set_run_id(run_id);
    event.set_time_ms(now_ms);
    return event;
  };
  if (request.dropped_before() > 0) {
    hub_->live_deltas_dropped().Increment(static_cast<double>(request.dropped_before()));
    v1::RunEvent& gap = add_event();
    gap.mutable_gap()->set_dropped(request.dropped_before());
    gap.mutable_gap()->set_reason("the worker's buffer was full; live text dropped");
  }
  // A step's start goes before its text: a later step starts after the earlier
  // step's text, so merging by step number keeps the order they happened in.
  int started = 0;
  auto add_started_through = [&](int step) {
    for (; started < request.steps_started_size() && request.steps_started(started).step() <= step; ++started) {
      *add_event().mutable_step_started() = request.steps_started(started);
    }
  };
  for (const v1::RunEvent::TextDelta& delta : request.deltas()) {
    add_started_through(delta.step());
    *add_event().mutable_text_delta() = delta;
  }
  add_started_through(std::numeric_limits<int>::max());
  hub_->PublishLive(run_id, events);
}

grpc::ServerUnaryReactor* WorkerServiceImpl::AcquireRate(grpc::CallbackServerContext* ctx,
                                                         const v1::AcquireRateRequest* request,
                                                         v1::AcquireRateResponse* reply) {
  if (absl::Status s = CheckPeer(ctx, request->worker_id()); !s.ok()) return FinishNow(ctx, s);
  if (request->model().empty()) return FinishNow(ctx, absl::InvalidArgumentError("model: must not be empty"));
  if (request->input_tokens() < 0 || request->output_tokens() < 0) {
    return FinishNow(ctx, absl::InvalidArgumentError("input_tokens, output_tokens: must be >= 0"));
  }
  if (rate_limiter_ == nullptr || !rate_limiter_->Limited(request->model())) {
    reply->set_unlimited(true);
    return FinishNow(ctx, absl::OkStatus());
  }
  const absl::Duration wait =
      rate_limiter_->Acquire(request->model(), request->input_tokens(), request->output_tokens());
  reply->set_wait_ms(absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportRate(grpc::CallbackServerContext* ctx,
                                                        const v1::ReportRateRequest* request,
                                                        v1::ReportRateResponse* reply) {
  if (absl::Status s = CheckPeer(ctx, request->worker_id()); !s.ok()) return FinishNow(ctx, s);
  if (request->model().empty()) return FinishNow(ctx, absl::InvalidArgumentError("model: must not be empty"));
  if (rate_limiter_ != nullptr && rate_limiter_->Limited(request->model())) {
    RateReport report;
    report.model = request->model();
    report.http_status = request->http_status();
    report.retry_after = absl::Milliseconds(std::max<int64_t>(0, request->retry_after_ms()));
    report.headers.insert(request->headers().begin(), request->headers().end());
    report.estimated_input_tokens = request->estimated_input_tokens();
    report.estimated_output_tokens = request->estimated_output_tokens();
    report.input_tokens = request->input_tokens();
    report.output_tokens = request->output_tokens();
    rate_limiter_->Report(report);
  }
  return FinishNow(ctx, absl::OkStatus());
}

}  // namespace baton::orchestrator
