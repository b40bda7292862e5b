#include "cli/spec_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/proto_json.h"

namespace baton::cli {

namespace {

// The file's text, or kInvalidArgument naming it; "-" reads standard input.
absl::StatusOr<std::string> ReadSpecFile(const std::string& path, absl::string_view noun) {
  std::stringstream buffer;
  if (path == "-") {
    buffer << std::cin.rdbuf();
    return buffer.str();
  }
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read ", noun, " file: ", std::strerror(errno)));
  }
  buffer << in.rdbuf();
  return buffer.str();
}

std::string SourceOf(const std::string& path) { return path == "-" ? "<stdin>" : path; }

}  // namespace

absl::Status InvalidSpec(const std::string& source, absl::string_view noun, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": invalid ", noun, ": INVALID_ARGUMENT: ", problem));
}

absl::Status ParseSpecJson(const std::string& json, const std::string& source, absl::string_view noun,
                           google::protobuf::Message& spec) {
  if (absl::StripAsciiWhitespace(json).empty()) return InvalidSpec(source, noun, "the file is empty");
  if (absl::Status s = JsonToMessage(json, spec); !s.ok()) return InvalidSpec(source, noun, s.message());
  return absl::OkStatus();
}

absl::StatusOr<v1::AgentSpec> ParseAgentJson(const std::string& json, const std::string& source) {
  v1::AgentSpec spec;
  if (absl::Status s = ParseSpecJson(json, source, "agent", spec); !s.ok()) return s;
  if (spec.model().empty()) {
    return InvalidSpec(source, "agent",
                       "field \"model\" is required (a Messages API model id such as \"claude-sonnet-4-5\")");
  }
  return spec;
}

absl::StatusOr<v1::GraphSpec> ParseGraphJson(const std::string& json, const std::string& source) {
  v1::GraphSpec spec;
  if (absl::Status s = ParseSpecJson(json, source, "graph", spec); !s.ok()) return s;
  if (spec.nodes().empty()) {
    return InvalidSpec(source, "graph", "field \"nodes\" is required (a graph has at least one node)");
  }
  return spec;
}

absl::StatusOr<v1::AgentSpec> LoadAgentFile(const std::string& path) {
  auto text = ReadSpecFile(path, "agent");
  if (!text.ok()) return text.status();
  return ParseAgentJson(*text, SourceOf(path));
}

absl::StatusOr<v1::GraphSpec> LoadGraphFile(const std::string& path) {
  auto text = ReadSpecFile(path, "graph");
  if (!text.ok()) return text.status();
  return ParseGraphJson(*text, SourceOf(path));
}

}  // namespace baton::cli
