// JSON as graph runs see it: node outputs are text that is read as JSON when it is
// JSON, and protobuf Values (edge conditions) and Structs (output schemas) are read as
// nlohmann::json. Pure functions; thread-safe.
#ifndef BATON_ORCHESTRATOR_GRAPH_JSON_VALUE_H_
#define BATON_ORCHESTRATOR_GRAPH_JSON_VALUE_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "common/proto_json.h"

namespace baton::orchestrator::graph {

// `text` parsed as JSON when it is a JSON document, else the JSON string holding it
// ("42" is the number 42, "hello" the string "hello", "" the empty string).
nlohmann::json ParseJsonOrString(absl::string_view text);

// Compact JSON text; invalid UTF-8 in strings is replaced rather than thrown on.
std::string CompactJson(const nlohmann::json& value);

// A string is inserted as it is, anything else as compact JSON: how templates and the
// outputs of map nodes turn JSON back into text.
std::string JsonToText(const nlohmann::json& value);

// Values (conditions) and Structs (output schemas) as JSON: common/proto_json.h.
using ::baton::StructToJson;
using ::baton::ValueToJson;

}  // namespace baton::orchestrator::graph

#endif  // BATON_ORCHESTRATOR_GRAPH_JSON_VALUE_H_
