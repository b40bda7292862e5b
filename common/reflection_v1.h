// Server reflection v1 (grpc.reflection.v1.ServerReflection, proto/grpc/reflection/v1/).
// Debian's gRPC 1.51 serves only grpc.reflection.v1alpha; grpcurl and newer tools ask
// v1 first and took its UNIMPLEMENTED as "no reflection". This serves the same answers
// under v1, from the generated descriptor pool (every .proto linked into the process):
// list_services, file_by_filename and file_containing_symbol (with the files they
// import, each once per stream), file_containing_extension,
// all_extension_numbers_of_type; a request that fails gets an ErrorResponse
// (NOT_FOUND, or UNIMPLEMENTED for a kind of request it does not know).
#ifndef BATON_COMMON_REFLECTION_V1_H_
#define BATON_COMMON_REFLECTION_V1_H_

#include <memory>

namespace grpc {
class ServerBuilderOption;
}  // namespace grpc

namespace baton {

// For ServerBuilder::SetOption: the server then serves reflection v1 (the server owns
// the service) and lists the services registered with it.
std::unique_ptr<grpc::ServerBuilderOption> ReflectionV1Option();

}  // namespace baton

#endif  // BATON_COMMON_REFLECTION_V1_H_
