#include "orchestrator/graph/template.h"

#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "orchestrator/graph/json_value.h"

namespace baton::orchestrator::graph {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxFoundChars = 200;

bool IsPathChar(char c) {
  return !absl::ascii_isspace(static_cast<unsigned char>(c)) && c != '{' && c != '}' && c != '.';
}

// Walks one segment into `value`; false when it names nothing.
bool Step(const std::string& segment, json& value) {
  if (value.is_string()) {
    json parsed = ParseJsonOrString(value.get_ref<const std::string&>());
    if (!parsed.is_object() && !parsed.is_array()) return false;
    value = std::move(parsed);
  }
  if (value.is_object()) {
    auto it = value.find(segment);
    if (it == value.end()) return false;
    json next = std::move(*it);
    value = std::move(next);
    return true;
  }
  if (value.is_array()) {
    size_t index = 0;
    for (char c : segment) {
      if (c < '0' || c > '9') return false;
    }
    if (!absl::SimpleAtoi(segment, &index) || index >= value.size()) return false;
    json next = std::move(value[index]);
    value = std::move(next);
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<Path> ParsePath(absl::string_view text) {
  Path path;
  path.text = std::string(absl::StripAsciiWhitespace(text));
  const std::string& t = path.text;
  const auto bad = [&t](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("reference \"", t, "\": ", why));
  };
  if (t.empty()) return bad("is empty");
  std::vector<std::string> parts = absl::StrSplit(t, '.');
  for (const std::string& part : parts) {
    if (part.empty()) return bad("has an empty segment");
    for (char c : part) {
      if (!IsPathChar(c)) return bad(absl::StrCat("has a bad character '", std::string(1, c), "'"));
    }
  }
  size_t first_segment = 1;
  if (parts[0] == "input") {
    path.root = Path::Root::kInput;
  } else if (parts[0] == "item") {
    path.root = Path::Root::kItem;
  } else if (parts[0] == "index") {
    path.root = Path::Root::kIndex;
    if (parts.size() > 1) return bad("index is a number; nothing can follow it");
  } else if (parts[0] == "nodes") {
    if (parts.size() < 3 || parts[2] != "output") return bad("expected nodes.ID.output");
    path.root = Path::Root::kNodeOutput;
    path.node = parts[1];
    first_segment = 3;
  } else {
    return bad(absl::StrCat("unknown root \"", parts[0], "\" (expected input, nodes.ID.output, item or index)"));
  }
  path.segments.assign(parts.begin() + first_segment, parts.end());
  return path;
}

std::optional<json> Resolve(const Path& path, const TemplateScope& scope) {
  json value;
  switch (path.root) {
    case Path::Root::kInput:
      value = std::string(scope.input);
      break;
    case Path::Root::kNodeOutput: {
      const std::string* output = scope.node_output ? scope.node_output(path.node) : nullptr;
      value = output != nullptr ? *output : std::string();
      break;
    }
    case Path::Root::kItem:
      if (scope.item == nullptr) return std::nullopt;
      value = *scope.item;
      break;
    case Path::Root::kIndex:
      return json(scope.index);
  }
  for (const std::string& segment : path.segments) {
    if (!Step(segment, value)) return std::nullopt;
  }
  return value;
}

absl::StatusOr<json> ResolveArray(const Path& path, const TemplateScope& scope) {
  std::optional<json> value = Resolve(path, scope);
  if (value && value->is_string()) value = ParseJsonOrString(value->get_ref<const std::string&>());
  if (value && value->is_array()) return *std::move(value);
  std::string found = "nothing";
  if (value) {
    found = CompactJson(*value);
    if (found.size() > kMaxFoundChars) found = absl::StrCat(found.substr(0, kMaxFoundChars), "...");
  }
  return absl::InvalidArgumentError(absl::StrCat("over \"", path.text, "\" is not an array: found ", found));
}

absl::StatusOr<Template> Template::Parse(absl::string_view text) {
  Template result;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t open = text.find("{{", pos);
    if (open == absl::string_view::npos) {
      result.parts_.push_back({std::string(text.substr(pos)), std::nullopt});
      break;
    }
    if (open > pos) result.parts_.push_back({std::string(text.substr(pos, open - pos)), std::nullopt});
    const size_t close = text.find("}}", open + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("\"{{\" at offset ", open, " has no closing \"}}\""));
    }
    absl::StatusOr<Path> path = ParsePath(text.substr(open + 2, close - open - 2));
    if (!path.ok()) return path.status();
    result.parts_.push_back({std::string(), *std::move(path)});
    pos = close + 2;
  }
  return result;
}

Template Template::Literal(std::string text) {
  Template result;
  result.parts_.push_back({std::move(text), std::nullopt});
  return result;
}

std::vector<Path> Template::references() const {
  std::vector<Path> paths;
  for (const Part& part : parts_) {
    if (part.path) paths.push_back(*part.path);
  }
  return paths;
}

std::string Template::Render(const TemplateScope& scope) const {
  std::string out;
  for (const Part& part : parts_) {
    if (!part.path) {
      out += part.literal;
      continue;
    }
    if (std::optional<json> value = Resolve(*part.path, scope)) out += JsonToText(*value);
  }
  return out;
}

}  // namespace baton::orchestrator::graph
