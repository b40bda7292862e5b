// Protobuf messages and JSON. google.protobuf.Value and Struct as nlohmann::json: edge
// conditions and output schemas are written as JSON in specs and read back through
// these. The orchestrator (validation at CreateRun) and the worker (the `respond` tool)
// convert the same way, so a schema that passed validation compiles in the worker.
// And a message from JSON someone typed (spec files, the web console's gateway), with
// an error that says where it went wrong.
#ifndef BATON_COMMON_PROTO_JSON_H_
#define BATON_COMMON_PROTO_JSON_H_

#include <string>
#include <string_view>

#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace baton {

// A Value's numbers are doubles; an integral one (up to 2^53) becomes a JSON integer,
// so "maxItems": 3 stays 3 (JSON Schema wants integers there; protobuf's JSON printer
// would write 1e15 and above in exponent form). An unset Value is null.
nlohmann::json ValueToJson(const google::protobuf::Value& value);
nlohmann::json StructToJson(const google::protobuf::Struct& value);

// Parses `json`, a JSON object in the protobuf JSON mapping (lowerCamelCase or
// snake_case names, enums by name or number), into `message`. Unknown fields are
// errors. kInvalidArgument with one line naming the problem:
//   malformed JSON: parse error at line 1, column 13: syntax error while parsing ...
//   expected a JSON object, found array
//   unknown field "agent.modle"
//   field "max_steps": invalid value "x" for type TYPE_INT32
absl::Status JsonToMessage(std::string_view json, google::protobuf::Message& message);

// `message` as one line of JSON in the protobuf JSON mapping: lowerCamelCase names,
// enums by name, fields with default values left out.
std::string MessageToJsonLine(const google::protobuf::Message& message);

}  // namespace baton

#endif  // BATON_COMMON_PROTO_JSON_H_
