// Edge conditions: an RFC 6901 JSON Pointer into a node's output and a test on what it
// points to (graph.proto, Condition). Pure; thread-safe.
#ifndef BATON_ORCHESTRATOR_GRAPH_CONDITION_H_
#define BATON_ORCHESTRATOR_GRAPH_CONDITION_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "baton/v1/graph.pb.h"

namespace baton::orchestrator::graph {

// An RFC 6901 JSON Pointer: "" is the whole document, "/a/0/b~1c" walks keys and
// array indexes ("~1" is "/", "~0" is "~").
class JsonPointer {
 public:
  // INVALID_ARGUMENT when `text` is neither "" nor starts with "/", or holds a "~"
  // not followed by 0 or 1.
  static absl::StatusOr<JsonPointer> Parse(absl::string_view text);

  // What the pointer names in `document`, nullptr when it does not resolve (a missing
  // key, an index out of range or not in canonical form, "-", a walk into a scalar).
  const nlohmann::json* Find(const nlohmann::json& document) const;

  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  std::vector<std::string> tokens_;  // unescaped
};

// INVALID_ARGUMENT when the op is unset, the pointer is not a JSON Pointer, or IN's
// value is not an array.
absl::Status ValidateCondition(const v1::Condition& condition);

// Whether `condition` holds for `output` (the node's output as ParseJsonOrString reads
// it). EQ: the pointer resolves to a value JSON-equal to `value` (numbers compare
// numerically). NE: the opposite of EQ, so it also holds when the pointer does not
// resolve. IN: `value` is an array with an element equal to the pointed-to value.
// EXISTS: the pointer resolves. LT, GT: both sides are numbers and compare so; false
// otherwise. A condition ValidateCondition refuses never holds.
bool ConditionHolds(const v1::Condition& condition, const nlohmann::json& output);

}  // namespace baton::orchestrator::graph

#endif  // BATON_ORCHESTRATOR_GRAPH_CONDITION_H_
