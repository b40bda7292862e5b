#include "orchestrator/graph/json_value.h"

namespace baton::orchestrator::graph {

using json = nlohmann::json;

json ParseJsonOrString(absl::string_view text) {
  json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return json(std::string(text));
  return parsed;
}

std::string CompactJson(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string JsonToText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  return CompactJson(value);
}

}  // namespace baton::orchestrator::graph
