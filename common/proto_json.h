// google.protobuf.Value and Struct as nlohmann::json: edge conditions and output
// schemas are written as JSON in specs and read back through these. The orchestrator
// (validation at CreateRun) and the worker (the `respond` tool) convert the same way,
// so a schema that passed validation compiles in the worker.
#ifndef BATON_COMMON_PROTO_JSON_H_
#define BATON_COMMON_PROTO_JSON_H_

#include <google/protobuf/struct.pb.h>
#include <nlohmann/json.hpp>

namespace baton {

// A Value's numbers are doubles; an integral one (up to 2^53) becomes a JSON integer,
// so "maxItems": 3 stays 3 (JSON Schema wants integers there; protobuf's JSON printer
// would write 1e15 and above in exponent form). An unset Value is null.
nlohmann::json ValueToJson(const google::protobuf::Value& value);
nlohmann::json StructToJson(const google::protobuf::Struct& value);

}  // namespace baton

#endif  // BATON_COMMON_PROTO_JSON_H_
