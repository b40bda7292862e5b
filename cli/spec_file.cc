#include "cli/spec_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace baton::cli {

namespace {

// Protobuf 3.21 says "modle: Cannot find field." and appends a snippet of the input to
// syntax errors; people read `unknown field "modle"` and one line better.
std::string ProtobufJsonError(absl::string_view message) {
  message = message.substr(0, message.find('\n'));
  constexpr absl::string_view kCannotFind = ": Cannot find field.";
  if (absl::EndsWith(message, kCannotFind)) {
    absl::string_view field = message.substr(0, message.size() - kCannotFind.size());
    // In a nested message: "(nodes[0].agent) agnet"; say "nodes[0].agent.agnet".
    if (absl::StartsWith(field, "(")) {
      size_t close = field.find(") ");
      if (close != absl::string_view::npos) {
        return absl::StrCat("unknown field \"", field.substr(1, close - 1), ".", field.substr(close + 2), "\"");
      }
    }
    return absl::StrCat("unknown field \"", field, "\"");
  }
  // "(max_steps): invalid value ..." names the field in parentheses.
  if (absl::StartsWith(message, "(")) {
    size_t close = message.find("): ");
    if (close != absl::string_view::npos) {
      return absl::StrCat("field \"", message.substr(1, close - 1), "\": ", message.substr(close + 3));
    }
  }
  return std::string(absl::StripAsciiWhitespace(message));
}

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
  // nlohmann names the line and column of a syntax error; protobuf's parser does not.
  try {
    nlohmann::json parsed = nlohmann::json::parse(json);
    if (!parsed.is_object()) {
      return InvalidSpec(source, noun, absl::StrCat("expected a JSON object, found ", parsed.type_name()));
    }
  } catch (const nlohmann::json::exception& e) {
    // Not only parse_error: a number beyond double's range is out_of_range.406
    // ("number overflow parsing '1e400'"), found by tests/fuzz/agent_spec_fuzz.cc.
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 13: ..."
    size_t start = what.find("] ");
    return InvalidSpec(source, noun,
                       absl::StrCat("malformed JSON: ", start == std::string::npos ? what : what.substr(start + 2)));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return InvalidSpec(source, noun,
                       ProtobufJsonError(absl::string_view(status.message().data(), status.message().size())));
  }
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
