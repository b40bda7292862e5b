#include "mcp-bridge/tool_service.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "common/grpc_server.h"
#include "common/logging.h"
#include "common/tls.h"
#include "common/tracing/span.h"

namespace baton::mcp {
namespace {

// One CallTool: starts the bridge call, finishes when it ends, cancels it when the
// client goes away. Deletes itself in OnDone.
class CallToolReactor final : public grpc::ServerUnaryReactor {
 public:
  CallToolReactor(Bridge& bridge, const v1::CallToolRequest& request, v1::CallToolResponse* response,
                  const tracing::SpanContext& parent)
      : bridge_(bridge) {
    // The callback may run before CallTool returns; OnCancel only after the
    // handler returned this reactor, by when id_ is set.
    id_ = bridge_.CallTool(
        request,
        [this, response](v1::CallToolResponse r) {
          *response = std::move(r);
          Finish(grpc::Status::OK);
        },
        parent);
  }

  void OnCancel() override { bridge_.Cancel(id_, "the caller cancelled the call"); }
  void OnDone() override { delete this; }

 private:
  Bridge& bridge_;
  Bridge::CallId id_ = 0;
};

}  // namespace

grpc::Status ToolServiceImpl::CheckPeer(grpc::CallbackServerContext* context) const {
  if (!require_client_certificates_) return grpc::Status::OK;
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  absl::StatusOr<std::string> identity =
      auth != nullptr ? VerifiedPeerIdentity(*auth) : absl::UnauthenticatedError("a client certificate is required");
  if (identity.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, absl::StrCat("ToolService: ", identity.status().message()));
}

grpc::ServerUnaryReactor* ToolServiceImpl::ListTools(grpc::CallbackServerContext* context,
                                                     const v1::ListToolsRequest* request,
                                                     v1::ListToolsResponse* response) {
  if (grpc::Status s = CheckPeer(context); !s.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(s);
    return reactor;
  }
  *response = bridge_.ListTools(*request);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ToolServiceImpl::CallTool(grpc::CallbackServerContext* context,
                                                    const v1::CallToolRequest* request,
                                                    v1::CallToolResponse* response) {
  if (grpc::Status s = CheckPeer(context); !s.ok()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(s);
    return reactor;
  }
  if (request->name().empty()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name: required"));
    return reactor;
  }
  // The worker's execute_tool span, when it sent one: the bridge's span nests under
  // it. A malformed traceparent is ignored (W3C: start a new trace), never refused;
  // so is a malformed tracestate (W3C: not passed on).
  absl::StatusOr<tracing::SpanContext> parent =
      tracing::ParseTraceparent(ClientMetadataValue(*context, tracing::kTraceparentKey));
  if (parent.ok()) {
    absl::StatusOr<std::string> state =
        tracing::ParseTracestate(ClientMetadataValues(*context, tracing::kTracestateKey));
    if (state.ok()) parent->trace_state = *std::move(state);
  }
  ScopedLogContext log_context(
      LogContext{request->run_id(), parent.ok() ? parent->trace_id : "", parent.ok() ? parent->span_id : ""});
  return new CallToolReactor(bridge_, *request, response, parent.ok() ? *parent : tracing::SpanContext());
}

}  // namespace baton::mcp
