// The gRPC handlers of runs that wait: approvals and forks (RunService), suspension
// and MCP input requests (WorkerService), and the resolution of stored subagents.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/grpc_status.h"
#include "common/namespaces.h"
#include "common/tracing/trace_context.h"
#include "common/status_macros.h"
#include "common/schema_validator.h"
#include "orchestrator/run_trace.h"
#include "orchestrator/services.h"
#include "orchestrator/store/store_keys.h"
#include "orchestrator/validation.h"

namespace baton::orchestrator {
namespace {

using json = nlohmann::json;

LeaseRef ToLeaseRef(const v1::Lease& lease) { return LeaseRef{lease.run_id(), lease.lease_id(), lease.epoch()}; }

absl::Status ValidateLease(const v1::Lease& lease) {
  if (lease.run_id().empty()) return absl::InvalidArgumentError("lease.run_id: must not be empty");
  if (lease.lease_id().empty()) return absl::InvalidArgumentError("lease.lease_id: must not be empty");
  return absl::OkStatus();
}

// The prefix of a journal a fork starts from: entries 1..at_seq, without the tool
// calls that had not finished by then (their markers, approval requests and
// decisions): those calls run again in the fork.
std::vector<v1::JournalEntry> ForkPrefix(const std::vector<v1::JournalEntry>& journal, int64_t at_seq) {
  std::set<std::string> finished;
  for (const v1::JournalEntry& e : journal) {
    if (e.seq() <= at_seq && e.has_tool_result()) finished.insert(e.tool_result().tool_use_id());
  }
  std::vector<v1::JournalEntry> prefix;
  for (const v1::JournalEntry& e : journal) {
    if (e.seq() > at_seq) break;
    std::string call;
    if (e.has_tool_call()) call = e.tool_call().tool_use_id();
    if (e.has_approval_request()) call = e.approval_request().tool_use_id();
    if (e.has_approval_decision()) call = e.approval_decision().tool_use_id();
    if (!call.empty() && !finished.contains(call)) continue;
    v1::JournalEntry copy = e;
    copy.clear_seq();
    copy.clear_epoch();
    prefix.push_back(std::move(copy));
  }
  return prefix;
}

}  // namespace

absl::Status ResolveSubagents(v1::AgentSpec* agent, RunStore& store, std::string_view ns, const std::string& field) {
  for (int i = 0; i < agent->subagents_size(); ++i) {
    v1::Subagent* sub = agent->mutable_subagents(i);
    if (sub->agent_name().empty()) {
      // Inline: its own stored subagents must exist too, or its calls would fail later.
      RETURN_IF_ERROR(CheckStoredSubagents(sub->agent(), store, ns, absl::StrCat(field, ".subagents[", i, "].agent")));
      continue;
    }
    absl::StatusOr<std::optional<v1::AgentSpec>> stored = store.GetAgent(ns, sub->agent_name(), sub->agent_version());
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return absl::NotFoundError(absl::StrCat(field, ".subagents[", i, "].agent_name: agent \"", sub->agent_name(),
                                              "\"",
                                              sub->agent_version() ? absl::StrCat(" version ", sub->agent_version()) : "",
                                              " not found"));
    }
    sub->set_agent_version((*stored)->version());
    *sub->mutable_agent() = std::move(**stored);
  }
  return absl::OkStatus();
}

absl::Status CheckStoredSubagents(const v1::AgentSpec& agent, RunStore& store, std::string_view ns,
                                  const std::string& field) {
  for (int i = 0; i < agent.subagents_size(); ++i) {
    const v1::Subagent& sub = agent.subagents(i);
    const std::string at = absl::StrCat(field, ".subagents[", i, "]");
    if (sub.agent_name().empty()) {
      RETURN_IF_ERROR(CheckStoredSubagents(sub.agent(), store, ns, at + ".agent"));
      continue;
    }
    // An agent may call itself (a stored agent names itself before it exists).
    if (sub.agent_name() == agent.name() && sub.agent_version() == 0) continue;
    absl::StatusOr<std::optional<v1::AgentSpec>> stored = store.GetAgent(ns, sub.agent_name(), sub.agent_version());
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return absl::NotFoundError(absl::StrCat(at, ".agent_name: agent \"", sub.agent_name(), "\"",
                                              sub.agent_version() ? absl::StrCat(" version ", sub.agent_version()) : "",
                                              " not found"));
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// RunService: approvals and forks

namespace {

// The approval, when the caller may see its run's namespace; NOT_FOUND as for an
// approval that does not exist otherwise.
absl::StatusOr<v1::Approval> VisibleApproval(Scheduler& scheduler, const std::vector<std::string>& allowed,
                                             const std::string& approval_id) {
  absl::StatusOr<v1::Approval> approval = scheduler.GetApproval(approval_id);
  if (approval.ok() && !CheckRunVisible(allowed, approval->run_id()).ok()) {
    return absl::NotFoundError(absl::StrCat("approval_id: approval \"", approval_id, "\" not found"));
  }
  return approval;
}

}  // namespace

grpc::ServerUnaryReactor* RunServiceImpl::ListApprovals(grpc::CallbackServerContext* ctx,
                                                        const v1::ListApprovalsRequest* request,
                                                        v1::ListApprovalsResponse* reply) {
  if (request->page_size() < 0 || request->page_size() > 1000) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              absl::StrCat("page_size: must be between 0 and 1000, got ", request->page_size())));
  }
  if (!v1::ListApprovalsRequest::Filter_IsValid(request->filter())) {
    return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat("filter: ", request->filter(),
                                                                  " is not PENDING, DECIDED or ALL")));
  }
  if (!request->run_id().empty()) {
    if (absl::Status s = ValidateRunId(request->run_id()); !s.ok()) return FinishNow(ctx, s);
  }
  // A run's approvals are listed in its namespace unless the request names one.
  absl::StatusOr<std::string> ns =
      CallNamespace(namespaces_of_(*ctx), request->namespace_().empty() && !request->run_id().empty()
                                              ? NamespaceOfRunId(request->run_id())
                                              : std::string_view(request->namespace_()));
  if (!ns.ok()) return FinishNow(ctx, ns.status());
  ApprovalFilter filter;
  filter.ns = *ns;
  filter.run_id = request->run_id();
  filter.agent_name = request->agent_name();
  filter.states = request->filter() == v1::ListApprovalsRequest::PENDING   ? ApprovalFilter::States::kPending
                  : request->filter() == v1::ListApprovalsRequest::DECIDED ? ApprovalFilter::States::kDecided
                                                                           : ApprovalFilter::States::kAll;
  const std::string scope =
      PageScope({filter.ns, filter.run_id, filter.agent_name, absl::StrCat(request->filter())});
  absl::StatusOr<std::string> after = page_tokens_.Open("ListApprovals", scope, request->page_token());
  if (!after.ok()) return FinishNow(ctx, after.status());
  absl::StatusOr<ApprovalPage> page =
      store_.ListApprovals(filter, request->page_size() == 0 ? 50 : request->page_size(), *after);
  if (!page.ok()) return FinishNow(ctx, page.status());
  PageBudget budget(limits_.max_page_bytes);
  for (v1::Approval& approval : page->approvals) {
    // The store may trail memory by a commit in flight: show the newest state.
    absl::StatusOr<v1::Approval> current = scheduler_.GetApproval(approval.approval_id());
    v1::Approval& shown = current.ok() ? *current : approval;
    if (!budget.Take(shown.ByteSizeLong())) {
      // --max-page-bytes: the page ends early; the next one starts at this approval.
      reply->set_next_page_token(page_tokens_.Seal(
          "ListApprovals", scope,
          store_keys::EncodeApprovalPageToken(reply->approvals(reply->approvals_size() - 1).approval_id())));
      return FinishNow(ctx, absl::OkStatus());
    }
    *reply->add_approvals() = std::move(shown);
  }
  reply->set_next_page_token(page_tokens_.Seal("ListApprovals", scope, page->next_page_token));
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* RunServiceImpl::GetApproval(grpc::CallbackServerContext* ctx,
                                                      const v1::GetApprovalRequest* request, v1::Approval* reply) {
  if (request->approval_id().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError("approval_id: must not be empty"));
  }
  absl::StatusOr<v1::Approval> approval = VisibleApproval(scheduler_, namespaces_of_(*ctx), request->approval_id());
  if (approval.ok()) *reply = std::move(*approval);
  return FinishNow(ctx, approval.status());
}

grpc::ServerUnaryReactor* RunServiceImpl::DecideApproval(grpc::CallbackServerContext* ctx,
                                                         const v1::DecideApprovalRequest* request,
                                                         v1::Approval* reply) {
  if (request->approval_id().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError("approval_id: must not be empty"));
  }
  if (request->decision() == v1::DECISION_UNSPECIFIED || !v1::Decision_IsValid(request->decision())) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              "decision: must be APPROVE, EDIT, DENY or RESPOND (ACCEPT, DECLINE or CANCEL for "
                              "input requests)"));
  }
  if (request->decided_by().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError("decided_by: must not be empty (who decides)"));
  }
  if (request->decided_by().size() > 256 || request->message().size() > (1 << 20)) {
    return FinishNow(ctx, absl::InvalidArgumentError("decided_by, message: too long"));
  }
  if (request->decision() == v1::RESPOND && request->message().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError("message: RESPOND needs the text the model gets as the result"));
  }
  if (absl::StatusOr<v1::Approval> visible = VisibleApproval(scheduler_, namespaces_of_(*ctx), request->approval_id());
      !visible.ok()) {
    return FinishNow(ctx, visible.status());
  }
  const bool carries_input = request->decision() == v1::EDIT || request->decision() == v1::ACCEPT;
  if (!carries_input && !request->input_json().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                              "input_json: only with EDIT or ACCEPT, not ", v1::Decision_Name(request->decision()))));
  }
  if (carries_input) {
    json input = json::parse(request->input_json(), nullptr, false);
    if (input.is_discarded() || !input.is_object()) {
      return FinishNow(ctx, absl::InvalidArgumentError("input_json: must be a JSON object"));
    }
    // Checked against the schema of the tool (EDIT) or of the request (ACCEPT).
    absl::StatusOr<v1::Approval> approval = scheduler_.GetApproval(request->approval_id());
    if (!approval.ok()) return FinishNow(ctx, approval.status());
    if (!approval->input_schema_json().empty()) {
      json schema = json::parse(approval->input_schema_json(), nullptr, false);
      if (!schema.is_discarded()) {
        absl::StatusOr<std::unique_ptr<SchemaValidator>> validator = SchemaValidator::Compile(schema);
        if (validator.ok()) {
          if (absl::Status s = (*validator)->Validate(input); !s.ok()) {
            return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                                      "input_json: does not match the input schema of ", approval->tool(), ": ",
                                      s.message())));
          }
        }
      }
    }
  }
  DecisionParams params;
  params.approval_id = request->approval_id();
  params.decision = request->decision();
  params.input_json = request->input_json();
  params.message = request->message();
  params.decided_by = request->decided_by();
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.DecideApproval(params, [reactor, reply](absl::StatusOr<v1::Approval> approval) {
    if (approval.ok()) *reply = std::move(*approval);
    reactor->Finish(ToGrpcStatus(approval.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* RunServiceImpl::ForkRun(grpc::CallbackServerContext* ctx,
                                                  const v1::ForkRunRequest* request, v1::Run* reply) {
  if (absl::Status s = ValidateRunId(request->run_id()); !s.ok()) return FinishNow(ctx, s);
  if (request->at_journal_seq() < 0) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              absl::StrCat("at_journal_seq: must be >= 0, got ", request->at_journal_seq())));
  }
  if (request->has_input()) {
    if (request->input().empty()) return FinishNow(ctx, absl::InvalidArgumentError("input: must not be empty"));
    if (absl::Status s = CheckSize("input", request->input().size(), limits_.max_input_bytes, "--max-input-bytes");
        !s.ok()) {
      return FinishNow(ctx, s);
    }
  }
  if (absl::Status s = CheckSize("tool_result", request->tool_result().ByteSizeLong(),
                                 limits_.max_journal_entry_bytes, "--max-journal-entry-bytes");
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (request->request_id().size() > 256) {
    return FinishNow(ctx, absl::InvalidArgumentError("request_id: longer than 256 characters"));
  }
  // The fork lives in its source's namespace.
  if (absl::Status s = CheckRunVisible(namespaces_of_(*ctx), request->run_id()); !s.ok()) return FinishNow(ctx, s);
  absl::StatusOr<v1::Run> source = scheduler_.GetRun(request->run_id());
  if (!source.ok()) return FinishNow(ctx, source.status());
  if (request->at_journal_seq() > source->last_journal_seq()) {
    return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                              "at_journal_seq: ", request->at_journal_seq(), " is past the end of run \"",
                              request->run_id(), "\"'s journal (", source->last_journal_seq(), " entries)")));
  }
  absl::StatusOr<std::vector<v1::JournalEntry>> journal = store_.ReadJournal(request->run_id());
  if (!journal.ok()) return FinishNow(ctx, journal.status());
  ForkParams params;
  params.journal = ForkPrefix(*journal, request->at_journal_seq());
  if (!request->tool_result().tool_use_id().empty()) {
    const v1::ToolResultReplacement& replacement = request->tool_result();
    if (!json::accept(replacement.content_json())) {
      return FinishNow(ctx, absl::InvalidArgumentError("tool_result.content_json: not JSON"));
    }
    bool replaced = false;
    for (v1::JournalEntry& entry : params.journal) {
      if (entry.has_tool_result() && entry.tool_result().tool_use_id() == replacement.tool_use_id()) {
        entry.mutable_tool_result()->set_content_json(replacement.content_json());
        entry.mutable_tool_result()->set_is_error(replacement.is_error());
        replaced = true;
      }
    }
    if (!replaced) {
      return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat(
                                "tool_result.tool_use_id: no result of \"", replacement.tool_use_id(),
                                "\" at or before seq ", request->at_journal_seq())));
    }
  }
  v1::Run& run = params.run;
  *run.mutable_agent() = source->agent();
  run.set_input(request->has_input() ? request->input() : source->input());
  run.set_priority(source->priority());
  run.set_request_id(request->request_id());
  run.mutable_labels()->insert(request->labels().begin(), request->labels().end());
  run.set_continue_from(source->continue_from());
  run.set_forked_from(source->run_id());
  run.set_namespace_(source->namespace_().empty() ? std::string(NamespaceOfRunId(source->run_id()))
                                                  : source->namespace_());
  run.set_forked_at_seq(request->at_journal_seq());
  if (absl::Status s = SetCallerTrace(ClientMetadataValue(*ctx, tracing::kTraceparentKey),
                                      ClientMetadataValues(*ctx, tracing::kTracestateKey), &run);
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.ForkRun(std::move(params), [reactor, reply](absl::StatusOr<v1::Run> created) {
    if (created.ok()) *reply = std::move(*created);
    reactor->Finish(ToGrpcStatus(created.status()));
  });
  return reactor;
}

// ---------------------------------------------------------------------------
// WorkerService: suspension and MCP input requests

grpc::ServerUnaryReactor* WorkerServiceImpl::SuspendRun(grpc::CallbackServerContext* ctx,
                                                        const v1::SuspendRunRequest* request,
                                                        v1::SuspendRunResponse* reply) {
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  if (absl::Status s = ValidateLease(request->lease()); !s.ok()) return FinishNow(ctx, s);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.SuspendRun(ToLeaseRef(request->lease()), request->usage(), request->steps(),
                        [reactor, reply](absl::StatusOr<v1::RunState> state) {
                          if (state.ok()) reply->set_state(*state);
                          reactor->Finish(ToGrpcStatus(state.status()));
                        });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::RequestInput(grpc::CallbackServerContext* ctx,
                                                          const v1::RequestInputRequest* request,
                                                          v1::RequestInputResponse* reply) {
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  if (absl::Status s = ValidateRunId(request->run_id()); !s.ok()) return FinishNow(ctx, s);
  if (request->tool_use_id().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError("tool_use_id: must not be empty"));
  }
  if (request->timeout_ms() < 0) return FinishNow(ctx, absl::InvalidArgumentError("timeout_ms: must be >= 0"));
  json schema = json::parse(request->requested_schema_json(), nullptr, false);
  if (schema.is_discarded() || !schema.is_object()) {
    return FinishNow(ctx, absl::InvalidArgumentError("requested_schema_json: must be a JSON object"));
  }
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  scheduler_.RequestInput(*request, [reactor, reply](absl::StatusOr<std::string> id) {
    if (id.ok()) reply->set_approval_id(*id);
    reactor->Finish(ToGrpcStatus(id.status()));
  });
  return reactor;
}

namespace {

// A parked AwaitInput: answered on the decision, at the deadline, or withdrawn when
// the caller goes away. Deletes itself in OnDone.
class AwaitInputReactor final : public grpc::ServerUnaryReactor {
 public:
  AwaitInputReactor(Scheduler& scheduler, const v1::AwaitInputRequest& request, v1::AwaitInputResponse* reply)
      : scheduler_(scheduler) {
    const int64_t wait_ms = request.wait_ms() <= 0 ? 10'000 : std::min<int64_t>(request.wait_ms(), 60'000);
    await_id_ = scheduler_.AwaitInput(
        request.approval_id(), scheduler_.clock().Now() + absl::Milliseconds(wait_ms),
        [this, reply](absl::StatusOr<std::optional<v1::ApprovalDecision>> decision) {
          if (decision.ok() && decision->has_value()) {
            reply->set_decided(true);
            *reply->mutable_decision() = std::move(**decision);
          }
          Finish(ToGrpcStatus(decision.status()));
        });
  }
  void OnCancel() override { scheduler_.CancelAwaitInput(await_id_); }
  void OnDone() override { delete this; }

 private:
  Scheduler& scheduler_;
  uint64_t await_id_ = 0;
};

}  // namespace

grpc::ServerUnaryReactor* WorkerServiceImpl::AwaitInput(grpc::CallbackServerContext* ctx,
                                                        const v1::AwaitInputRequest* request,
                                                        v1::AwaitInputResponse* reply) {
  if (absl::Status s = CheckPeer(ctx); !s.ok()) return FinishNow(ctx, s);
  if (request->approval_id().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError("approval_id: must not be empty"));
  }
  return new AwaitInputReactor(scheduler_, *request, reply);
}

}  // namespace baton::orchestrator
