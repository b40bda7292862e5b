#include "orchestrator/graph_service.h"

#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "orchestrator/graph/graph_execution.h"
#include "orchestrator/services.h"
#include "orchestrator/validation.h"

namespace baton::orchestrator {
namespace {

// Subgraphs inside subgraphs: deeper than this is almost surely a graph naming itself.
constexpr int kMaxSubgraphDepth = 8;

std::string VersionSuffix(int32_t version) { return version ? absl::StrCat(" version ", version) : ""; }

absl::Status ResolveAgentNode(v1::AgentNode* node, const std::string& node_id, RunStore& store, std::string_view ns,
                              const std::string& field) {
  if (!node->agent_name().empty()) {
    absl::StatusOr<std::optional<v1::AgentSpec>> stored = store.GetAgent(ns, node->agent_name(), node->agent_version());
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return absl::NotFoundError(absl::StrCat(field, ".agent_name: agent \"", node->agent_name(), "\"",
                                              VersionSuffix(node->agent_version()), " not found"));
    }
    node->set_agent_version((*stored)->version());
    *node->mutable_agent() = std::move(**stored);
  } else {
    if (node->agent().name().empty()) node->mutable_agent()->set_name(node_id);
    RETURN_IF_ERROR(ValidateAgentSpec(node->agent(), /*require_name=*/false));
  }
  return ResolveSubagents(node->mutable_agent(), store, ns, absl::StrCat(field, ".agent"));
}

absl::Status Resolve(v1::GraphSpec* graph, RunStore& store, std::string_view ns, const std::string& field, int depth) {
  if (depth > kMaxSubgraphDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": subgraphs nested deeper than ", kMaxSubgraphDepth, " (a graph that contains itself?)"));
  }
  for (int i = 0; i < graph->nodes_size(); ++i) {
    v1::GraphNode* node = graph->mutable_nodes(i);
    const std::string at = absl::StrCat(field, ": node \"", node->id(), "\"");
    switch (node->kind_case()) {
      case v1::GraphNode::kAgent:
        RETURN_IF_ERROR(ResolveAgentNode(node->mutable_agent(), node->id(), store, ns, at));
        break;
      case v1::GraphNode::kMap:
        RETURN_IF_ERROR(ResolveAgentNode(node->mutable_map()->mutable_agent(), node->id(), store, ns,
                                         absl::StrCat(at, ": map")));
        break;
      case v1::GraphNode::kGraph: {
        v1::SubgraphNode* sub = node->mutable_graph();
        if (!sub->graph_name().empty()) {
          absl::StatusOr<std::optional<v1::GraphSpec>> stored = store.GetGraph(ns, sub->graph_name(), sub->graph_version());
          if (!stored.ok()) return stored.status();
          if (!stored->has_value()) {
            return absl::NotFoundError(absl::StrCat(at, ": graph_name: graph \"", sub->graph_name(), "\"",
                                                    VersionSuffix(sub->graph_version()), " not found"));
          }
          sub->set_graph_version((*stored)->version());
          *sub->mutable_graph() = std::move(**stored);
        }
        RETURN_IF_ERROR(Resolve(sub->mutable_graph(), store, ns, absl::StrCat(at, ": graph"), depth + 1));
        break;
      }
      case v1::GraphNode::kHuman:
      case v1::GraphNode::KIND_NOT_SET:
        break;  // ValidateGraph names what is missing
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateGraphName(const std::string& name) {
  if (name.empty() || name.size() > 128) {
    return absl::InvalidArgumentError("graph.name: must be 1 to 128 characters");
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("graph.name: \"", name, "\" may only hold letters, digits, '_', '.' and '-'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ResolveGraph(v1::GraphSpec* graph, RunStore& store, std::string_view ns, const std::string& field) {
  // Structure first, so a typo in an edge is reported before a missing agent.
  RETURN_IF_ERROR(graph::ValidateGraph(*graph));
  RETURN_IF_ERROR(Resolve(graph, store, ns, field, 0));
  return graph::ValidateGraph(*graph);
}

grpc::ServerUnaryReactor* GraphServiceImpl::PutGraph(grpc::CallbackServerContext* ctx,
                                                     const v1::PutGraphRequest* request,
                                                     v1::PutGraphResponse* reply) {
  if (!request->has_graph()) return FinishNow(ctx, absl::InvalidArgumentError("graph: must be set"));
  if (absl::Status s =
          CheckSize("graph", request->graph().ByteSizeLong(), limits_.max_spec_bytes, "--max-spec-bytes");
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  if (absl::Status s = ValidateGraphName(request->graph().name()); !s.ok()) return FinishNow(ctx, s);
  absl::StatusOr<std::string> ns = CallNamespace(namespaces_of_(*ctx), request->namespace_());
  if (!ns.ok()) return FinishNow(ctx, ns.status());
  // Stored agents and subgraphs must exist now, in the same namespace; the stored
  // graph keeps naming them (each run pins the versions it uses).
  v1::GraphSpec resolved = request->graph();
  if (absl::Status s = ResolveGraph(&resolved, store_, *ns, absl::StrCat("graph \"", request->graph().name(), "\""));
      !s.ok()) {
    return FinishNow(ctx, s);
  }
  // Graphs change rarely: a blocking synced write, as PutAgent.
  absl::MutexLock lock(&put_mu_);
  absl::StatusOr<std::optional<v1::GraphSpec>> latest = store_.GetGraph(*ns, request->graph().name(), 0);
  if (!latest.ok()) return FinishNow(ctx, latest.status());
  v1::GraphSpec graph = request->graph();
  graph.set_namespace_(*ns);
  graph.set_version(latest->has_value() ? (*latest)->version() + 1 : 1);
  StoreBatch batch;
  batch.graphs.push_back(graph);
  if (absl::Status s = store_.Commit(batch); !s.ok()) return FinishNow(ctx, s);
  *reply->mutable_graph() = std::move(graph);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* GraphServiceImpl::GetGraph(grpc::CallbackServerContext* ctx,
                                                     const v1::GetGraphRequest* request, v1::GraphSpec* reply) {
  if (request->name().empty()) return FinishNow(ctx, absl::InvalidArgumentError("name: must not be empty"));
  if (request->version() < 0) {
    return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat("version: must be >= 0, got ", request->version())));
  }
  absl::StatusOr<std::string> ns = CallNamespace(namespaces_of_(*ctx), request->namespace_());
  if (!ns.ok()) return FinishNow(ctx, ns.status());
  absl::StatusOr<std::optional<v1::GraphSpec>> graph = store_.GetGraph(*ns, request->name(), request->version());
  if (!graph.ok()) return FinishNow(ctx, graph.status());
  if (!graph->has_value()) {
    return FinishNow(ctx, absl::NotFoundError(absl::StrCat("graph \"", request->name(), "\"",
                                                           VersionSuffix(request->version()), " not found")));
  }
  *reply = std::move(**graph);
  return FinishNow(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* GraphServiceImpl::ListGraphs(grpc::CallbackServerContext* ctx,
                                                       const v1::ListGraphsRequest* request,
                                                       v1::ListGraphsResponse* reply) {
  if (request->page_size() < 0 || request->page_size() > 1000) {
    return FinishNow(ctx, absl::InvalidArgumentError(
                              absl::StrCat("page_size: must be between 0 and 1000, got ", request->page_size())));
  }
  const int page_size = request->page_size() == 0 ? 50 : request->page_size();
  absl::StatusOr<std::string> ns = CallNamespace(namespaces_of_(*ctx), request->namespace_());
  if (!ns.ok()) return FinishNow(ctx, ns.status());
  const std::string scope = PageScope({*ns});
  absl::StatusOr<std::string> after = page_tokens_.Open("ListGraphs", scope, request->page_token());
  if (!after.ok()) return FinishNow(ctx, after.status());
  absl::StatusOr<std::vector<v1::GraphSpec>> graphs = store_.ListGraphs(*ns, page_size, *after);
  if (!graphs.ok()) return FinishNow(ctx, graphs.status());
  PageBudget budget(limits_.max_page_bytes);
  bool cut = false;  // by --max-page-bytes
  for (v1::GraphSpec& graph : *graphs) {
    if (!budget.Take(graph.ByteSizeLong())) {
      cut = true;
      break;
    }
    *reply->add_graphs() = std::move(graph);
  }
  if (cut || reply->graphs_size() == page_size) {
    reply->set_next_page_token(page_tokens_.Seal("ListGraphs", scope, reply->graphs(reply->graphs_size() - 1).name()));
  }
  return FinishNow(ctx, absl::OkStatus());
}

}  // namespace baton::orchestrator
