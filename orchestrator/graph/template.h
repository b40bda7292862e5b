// Templates of graph nodes (inputs, map items, human prompts, the graph's output) and
// the paths they reference, as graph.proto documents them:
//   {{input}}  {{input.a.b}}  {{nodes.ID.output}}  {{nodes.ID.output.a.0.b}}
//   {{item}}  {{item.a}}  {{index}}
// Whitespace inside the braces is allowed ("{{ input }}"). A map's `over` is a path
// without braces. Pure; parsed templates are immutable and thread-safe.
#ifndef BATON_ORCHESTRATOR_GRAPH_TEMPLATE_H_
#define BATON_ORCHESTRATOR_GRAPH_TEMPLATE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace baton::orchestrator::graph {

// One reference: a root and the object keys / array indexes walked from it.
struct Path {
  enum class Root { kInput, kNodeOutput, kItem, kIndex };
  Root root = Root::kInput;
  std::string node;                   // kNodeOutput: the node id
  std::vector<std::string> segments;  // "a.0.b" -> {"a", "0", "b"}
  std::string text;                   // as written (trimmed), for messages
};

// INVALID_ARGUMENT for an unknown root, `nodes.ID` without `.output`, an empty
// segment, or `index` followed by more.
absl::StatusOr<Path> ParsePath(absl::string_view text);

// What templates read. Not owned: it refers to the caller's state for one render.
struct TemplateScope {
  absl::string_view input;  // the graph's input
  // A node's latest output, nullptr when it has not run (then it reads as "").
  std::function<const std::string*(absl::string_view node)> node_output;
  const nlohmann::json* item = nullptr;  // map items only
  int index = 0;                         // map items only: 0-based
};

// The value a path names, or nullopt when it names nothing (a missing key, an index
// out of range, a walk into a scalar). Text (the input, a node's output, a string
// inside JSON) that is a JSON document is parsed when the path walks into it.
std::optional<nlohmann::json> Resolve(const Path& path, const TemplateScope& scope);

// A map's `over`: the array the path names (a string holding a JSON array is parsed).
// INVALID_ARGUMENT naming the path and what it found otherwise.
absl::StatusOr<nlohmann::json> ResolveArray(const Path& path, const TemplateScope& scope);

class Template {
 public:
  // INVALID_ARGUMENT for a "{{" without "}}" or a reference ParsePath refuses.
  static absl::StatusOr<Template> Parse(absl::string_view text);
  // `text` as it is, with no references.
  static Template Literal(std::string text);

  // References in order of appearance.
  std::vector<Path> references() const;

  // Strings are inserted as they are, other JSON values as compact JSON; a reference
  // that names nothing gives "".
  std::string Render(const TemplateScope& scope) const;

 private:
  struct Part {
    std::string literal;  // when !path
    std::optional<Path> path;
  };
  std::vector<Part> parts_;
};

}  // namespace baton::orchestrator::graph

#endif  // BATON_ORCHESTRATOR_GRAPH_TEMPLATE_H_
