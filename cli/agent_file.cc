#include "cli/agent_file.h"

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

}  // namespace

absl::StatusOr<v1::AgentSpec> ParseAgentJson(const std::string& json, const std::string& source) {
  auto invalid = [&source](absl::string_view problem) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": invalid agent: INVALID_ARGUMENT: ", problem));
  };
  if (absl::StripAsciiWhitespace(json).empty()) return invalid("the file is empty");
  // nlohmann names the line and column of a syntax error; protobuf's parser does not.
  try {
    nlohmann::json parsed = nlohmann::json::parse(json);
    if (!parsed.is_object()) {
      return invalid(absl::StrCat("expected a JSON object, found ", parsed.type_name()));
    }
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 13: ..."
    size_t start = what.find("] ");
    return invalid(absl::StrCat("malformed JSON: ", start == std::string::npos ? what : what.substr(start + 2)));
  }
  v1::AgentSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return invalid(ProtobufJsonError(absl::string_view(status.message().data(), status.message().size())));
  }
  if (spec.model().empty()) {
    return invalid("field \"model\" is required (a Messages API model id such as \"claude-sonnet-4-5\")");
  }
  return spec;
}

absl::StatusOr<v1::AgentSpec> LoadAgentFile(const std::string& path) {
  std::stringstream buffer;
  if (path == "-") {
    buffer << std::cin.rdbuf();
    return ParseAgentJson(buffer.str(), "<stdin>");
  }
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read agent file: ", std::strerror(errno)));
  }
  buffer << in.rdbuf();
  return ParseAgentJson(buffer.str(), path);
}

}  // namespace baton::cli
