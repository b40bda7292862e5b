#include "mcp-bridge/tool_service.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "common/tls.h"

namespace baton::mcp {
namespace {

// One CallTool: starts the bridge call, finishes when it ends, cancels it when the
// client goes away. Deletes itself in OnDone.
class CallToolReactor final : public grpc::ServerUnaryReactor {
 public:
  CallToolReactor(Bridge& bridge, const v1::CallToolRequest& request, v1::CallToolResponse* response)
      : bridge_(bridge) {
    // The callback may run before CallTool returns; OnCancel only after the
    // handler returned this reactor, by when id_ is set.
    id_ = bridge_.CallTool(request, [this, response](v1::CallToolResponse r) {
      *response = std::move(r);
      Finish(grpc::Status::OK);
    });
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
  return new CallToolReactor(bridge_, *request, response);
}

}  // namespace baton::mcp
