#include "mcp-bridge/elicitation.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/schema_validator.h"

namespace baton::mcp {

using json = nlohmann::json;

json ElicitationCapability(const std::string& protocol_version) {
  // Protocol versions are dates: they compare as strings.
  if (protocol_version >= "2025-11-25") return {{"form", json::object()}};
  if (protocol_version >= "2025-06-18") return json::object();
  return json();
}

absl::StatusOr<ElicitationRequest> ParseElicitationRequest(const json& params) {
  if (!params.is_object()) return absl::InvalidArgumentError("elicitation/create without params");
  const json mode = params.value("mode", json("form"));
  if (mode != "form") {
    return absl::InvalidArgumentError(
        absl::StrCat("elicitation mode ", mode.dump(), " is not supported: this client declares form mode only"));
  }
  ElicitationRequest request;
  if (params.contains("message") && params["message"].is_string()) request.message = params["message"];
  if (!params.contains("requestedSchema") || !params["requestedSchema"].is_object()) {
    return absl::InvalidArgumentError("elicitation/create without a requestedSchema object");
  }
  request.requested_schema = params["requestedSchema"];
  return request;
}

json DeclineResult() { return {{"action", "decline"}}; }
json CancelResult() { return {{"action", "cancel"}}; }
json AcceptResult(json content) { return {{"action", "accept"}, {"content", std::move(content)}}; }

json AcceptDefaultsResult(const json& requested_schema) {
  json content = json::object();
  const json properties = requested_schema.value("properties", json::object());
  if (properties.is_object()) {
    for (auto it = properties.begin(); it != properties.end(); ++it) {
      if (it.value().is_object() && it.value().contains("default")) content[it.key()] = it.value()["default"];
    }
  }
  const json required = requested_schema.value("required", json::array());
  if (required.is_array()) {
    for (const json& name : required) {
      // Accepting without a value the server requires would be an invalid answer.
      if (!name.is_string() || !content.contains(name.get<std::string>())) return DeclineResult();
    }
  }
  return AcceptResult(std::move(content));
}

namespace {

// What ElicitResult.content may hold: primitives and arrays of strings (multi-select).
bool IsElicitValue(const json& v) {
  if (v.is_string() || v.is_number() || v.is_boolean()) return true;
  if (!v.is_array()) return false;
  for (const json& item : v) {
    if (!item.is_string()) return false;
  }
  return true;
}

}  // namespace

json ResultForDecision(const InputDecision& decision, const json& requested_schema, std::string* problem) {
  switch (decision.action) {
    case InputDecision::Action::kDecline:
      return DeclineResult();
    case InputDecision::Action::kCancel:
      return CancelResult();
    case InputDecision::Action::kAccept:
      break;
  }
  if (!decision.content.is_object()) {
    *problem = "the accepted content is not a JSON object";
    return CancelResult();
  }
  for (auto it = decision.content.begin(); it != decision.content.end(); ++it) {
    if (!IsElicitValue(it.value())) {
      *problem = absl::StrCat("the accepted content's \"", it.key(), "\" is not a string, number, boolean or string array");
      return CancelResult();
    }
  }
  // The orchestrator checks the answer too; a schema valijson cannot use is the
  // server's fault and does not hold the answer back.
  absl::StatusOr<std::unique_ptr<SchemaValidator>> validator = SchemaValidator::Compile(requested_schema);
  if (validator.ok()) {
    if (absl::Status valid = (*validator)->Validate(decision.content); !valid.ok()) {
      *problem = absl::StrCat("the accepted content does not match the requested schema: ", valid.message());
      return CancelResult();
    }
  }
  return AcceptResult(decision.content);
}

std::string ActionOf(const json& result) {
  if (result.is_object() && result.contains("action") && result["action"].is_string()) return result["action"];
  return "?";
}

}  // namespace baton::mcp
