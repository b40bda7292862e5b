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

  grpc::ServerUnaryReactor* ListTools(grpc::CallbackServerContext* context, const v1::ListToolsRequest* request,
                                      v1::ListToolsResponse* response) override;
  grpc::ServerUnaryReactor* CallTool(grpc::CallbackServerContext* context, const v1::CallToolRequest* request,
                                     v1::CallToolResponse* response) override;

 private:
  Bridge& bridge_;
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_TOOL_SERVICE_H_
