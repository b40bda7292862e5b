#include "orchestrator/graph/condition.h"

#include <cstddef>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "orchestrator/graph/json_value.h"

namespace baton::orchestrator::graph {
namespace {

using json = nlohmann::json;

// RFC 6901 array index: "0" or digits without a leading zero.
bool ParseArrayIndex(const std::string& token, size_t& index) {
  if (token.empty() || (token.size() > 1 && token[0] == '0')) return false;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(token, &index);
}

}  // namespace

absl::StatusOr<JsonPointer> JsonPointer::Parse(absl::string_view text) {
  JsonPointer pointer;
  if (text.empty()) return pointer;
  if (text[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("pointer \"", text, "\" is not a JSON Pointer: it must be \"\" or start with \"/\""));
  }
  std::string token;
  for (size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/') {
      pointer.tokens_.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (text[i] != '~') {
      token += text[i];
      continue;
    }
    if (i + 1 < text.size() && (text[i + 1] == '0' || text[i + 1] == '1')) {
      token += text[i + 1] == '0' ? '~' : '/';
      ++i;
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat("pointer \"", text, "\" is not a JSON Pointer: \"~\" at offset ", i,
                                                   " must be followed by 0 or 1"));
  }
  return pointer;
}

const json* JsonPointer::Find(const json& document) const {
  const json* at = &document;
  for (const std::string& token : tokens_) {
    if (at->is_object()) {
      auto it = at->find(token);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      size_t index = 0;
      if (!ParseArrayIndex(token, index) || index >= at->size()) return nullptr;
      at = &(*at)[index];
    } else {
      return nullptr;
    }
  }
  return at;
}

absl::Status ValidateCondition(const v1::Condition& condition) {
  if (condition.op() == v1::Condition::OP_UNSPECIFIED || !v1::Condition::Op_IsValid(condition.op())) {
    return absl::InvalidArgumentError("condition: op must be one of EQ, NE, IN, EXISTS, LT, GT");
  }
  if (absl::StatusOr<JsonPointer> pointer = JsonPointer::Parse(condition.pointer()); !pointer.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("condition: ", pointer.status().message()));
  }
  if (condition.op() == v1::Condition::IN && !condition.value().has_list_value()) {
    return absl::InvalidArgumentError("condition: IN needs an array value");
  }
  return absl::OkStatus();
}

bool ConditionHolds(const v1::Condition& condition, const json& output) {
  if (!ValidateCondition(condition).ok()) return false;
  const JsonPointer pointer = *JsonPointer::Parse(condition.pointer());
  const json* found = pointer.Find(output);
  const json value = ValueToJson(condition.value());
  switch (condition.op()) {
    case v1::Condition::EQ:
      return found != nullptr && *found == value;
    case v1::Condition::NE:
      return found == nullptr || *found != value;
    case v1::Condition::IN:
      if (found == nullptr) return false;
      for (const json& element : value) {
        if (*found == element) return true;
      }
      return false;
    case v1::Condition::EXISTS:
      return found != nullptr;
    case v1::Condition::LT:
      return found != nullptr && found->is_number() && value.is_number() && found->get<double>() < value.get<double>();
    case v1::Condition::GT:
      return found != nullptr && found->is_number() && value.is_number() && found->get<double>() > value.get<double>();
    default:
      return false;
  }
}

}  // namespace baton::orchestrator::graph
