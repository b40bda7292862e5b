// baton.v1.ToolService over the Bridge (gRPC callback API). Handlers never block:
// CallTool finishes from the bridge's completion callback, and a caller that goes
// away (deadline, cancelled run) cancels the MCP call.
#ifndef BATON_MCP_BRIDGE_TOOL_SERVICE_H_
#define BATON_MCP_BRIDGE_TOOL_SERVICE_H_

#include "baton/v1/tool_service.grpc.pb.h"
#include "mcp-bridge/bridge.h"

namespace baton::mcp {

// Thread-safe; `bridge` must outlive it.
class ToolServiceImpl final : public v1::ToolService::CallbackService {
 public:
  explicit ToolServiceImpl(Bridge& bridge) : bridge_(bridge) {}

  // mTLS (the bridge's --tls-client-ca): every call then needs a verified client
  // certificate; without one it is UNAUTHENTICATED. REQUIRES: called before the server
  // starts. Default: not required.
  void RequireClientCertificates(bool required) { require_client_certificates_ = required; }

  grpc::ServerUnaryReactor* ListTools(grpc::CallbackServerContext* context, const v1::ListToolsRequest* request,
                                      v1::ListToolsResponse* response) override;
  grpc::ServerUnaryReactor* CallTool(grpc::CallbackServerContext* context, const v1::CallToolRequest* request,
                                     v1::CallToolResponse* response) override;

 private:
  // OK unless a client certificate is required and the call has none.
  grpc::Status CheckPeer(grpc::CallbackServerContext* context) const;

  Bridge& bridge_;
  bool require_client_certificates_ = false;
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_TOOL_SERVICE_H_
