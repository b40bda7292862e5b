// Which orchestrator methods the console's HTTP API reaches: the unary methods of
// RunService, AgentService, GraphService, NamespaceService and IdentityService, found
// in the generated descriptor pool by name. WorkerService, ToolService, AdminService
// and KeyService are not reachable (NOT_FOUND, as for a name that does not exist): the
// console is for people watching and steering runs, and a stolen browser session
// should not be able to manage keys or take work.
#ifndef BATON_CONSOLE_EXPOSED_SERVICES_H_
#define BATON_CONSOLE_EXPOSED_SERVICES_H_

#include <string>

#include <google/protobuf/descriptor.h>

#include "absl/status/statusor.h"

namespace baton::console {

// The method `method` of the exposed service `service` ("RunService", "GetRun").
// NOT_FOUND naming what does not exist (or is not exposed); a streaming method is
// NOT_FOUND too, saying which route serves it.
absl::StatusOr<const google::protobuf::MethodDescriptor*> FindUnaryMethod(const std::string& service,
                                                                        const std::string& method);

}  // namespace baton::console

#endif  // BATON_CONSOLE_EXPOSED_SERVICES_H_
