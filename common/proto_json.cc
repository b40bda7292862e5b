#include "common/proto_json.h"

#include <cmath>
#include <cstdint>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/ascii.h"

namespace baton {

using json = nlohmann::json;

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

}  // namespace

absl::Status JsonToMessage(std::string_view text, google::protobuf::Message& message) {
  // nlohmann names the line and column of a syntax error; protobuf's parser does not.
  try {
    json parsed = json::parse(text);
    if (!parsed.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("expected a JSON object, found ", parsed.type_name()));
    }
  } catch (const json::exception& e) {
    // Not only parse_error: a number beyond double's range is out_of_range.406
    // ("number overflow parsing '1e400'"), found by tests/fuzz/agent_spec_fuzz.cc.
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 13: ..."
    size_t start = what.find("] ");
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON: ", start == std::string::npos ? what : what.substr(start + 2)));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), &message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        ProtobufJsonError(absl::string_view(status.message().data(), status.message().size())));
  }
  return absl::OkStatus();
}

json ValueToJson(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue: {
      const double d = value.number_value();
      // Integral doubles within the exactly representable range print as integers.
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0) {
        return json(static_cast<int64_t>(d));
      }
      return json(d);
    }
    case google::protobuf::Value::kStringValue:
      return json(value.string_value());
    case google::protobuf::Value::kBoolValue:
      return json(value.bool_value());
    case google::protobuf::Value::kStructValue:
      return StructToJson(value.struct_value());
    case google::protobuf::Value::kListValue: {
      json array = json::array();
      for (const google::protobuf::Value& v : value.list_value().values()) array.push_back(ValueToJson(v));
      return array;
    }
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      break;
  }
  return json(nullptr);
}

json StructToJson(const google::protobuf::Struct& value) {
  json object = json::object();
  for (const auto& [key, v] : value.fields()) object[key] = ValueToJson(v);
  return object;
}

std::string MessageToJsonLine(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  // Fails only for a message that cannot be printed at all (an Any of an unknown type).
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace baton
