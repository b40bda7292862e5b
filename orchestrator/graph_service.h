// GraphService (stored, versioned graphs) and the resolution of a graph for a run.
// The orchestrator serves graphs next to AgentService: a graph names stored agents and
// other graphs, and both are resolved against the same store when a run is created.
#ifndef BATON_ORCHESTRATOR_GRAPH_SERVICE_H_
#define BATON_ORCHESTRATOR_GRAPH_SERVICE_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "baton/v1/graph.grpc.pb.h"
#include "orchestrator/limits.h"
#include "orchestrator/namespace_access.h"
#include "orchestrator/page_tokens.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

class GraphServiceImpl final : public v1::GraphService::CallbackService {
 public:
  // `limits`: the size of a spec and of a page (orchestrator/limits.h).
  explicit GraphServiceImpl(RunStore& store, InputLimits limits = {})
      : store_(store), limits_(limits), page_tokens_(store.PageTokenKey()) {}
  // Whose namespaces a call may touch (namespace_access.h). Default: every one.
  void SetNamespacesOf(NamespacesOf namespaces_of) { namespaces_of_ = std::move(namespaces_of); }

  grpc::ServerUnaryReactor* PutGraph(grpc::CallbackServerContext* ctx, const v1::PutGraphRequest* request,
                                     v1::PutGraphResponse* reply) override;
  grpc::ServerUnaryReactor* GetGraph(grpc::CallbackServerContext* ctx, const v1::GetGraphRequest* request,
                                     v1::GraphSpec* reply) override;
  grpc::ServerUnaryReactor* ListGraphs(grpc::CallbackServerContext* ctx, const v1::ListGraphsRequest* request,
                                       v1::ListGraphsResponse* reply) override;

 private:
  RunStore& store_;
  const InputLimits limits_;
  const PageTokens page_tokens_;
  NamespacesOf namespaces_of_ = AllNamespaces();
  // PutGraph reads the latest version and writes the next: one writer at a time.
  absl::Mutex put_mu_;
};

// Makes `graph` self-contained for a run: every stored agent (of agent and map nodes,
// and their stored subagents) and every stored subgraph is inlined, at any depth, with
// the version used pinned; inline agents without a name take their node's id. Then
// checks the whole: graph::ValidateGraph and each agent. `field` prefixes errors
// ("graph", "graph_name"); NOT_FOUND names the agent or graph that does not exist.
absl::Status ResolveGraph(v1::GraphSpec* graph, RunStore& store, std::string_view ns, const std::string& field);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_GRAPH_SERVICE_H_
