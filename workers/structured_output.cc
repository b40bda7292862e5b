#include "workers/structured_output.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

constexpr char kRespondDescription[] =
    "Give your final answer. Call this once, with the complete answer, when you are done.";

// `text` without surrounding whitespace and, when it is wrapped in one Markdown code
// fence (```json ... ```), without the fence: models often fence JSON they are asked for.
absl::string_view Unfenced(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (!absl::StartsWith(text, "```") || !absl::EndsWith(text, "```") || text.size() < 6) return text;
  const size_t first_line_end = text.find('\n');
  if (first_line_end == absl::string_view::npos) return text;
  return absl::StripAsciiWhitespace(text.substr(first_line_end + 1, text.size() - 3 - (first_line_end + 1)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<StructuredOutput>> StructuredOutput::Create(const google::protobuf::Struct& schema) {
  json converted = StructToJson(schema);
  absl::StatusOr<std::unique_ptr<SchemaValidator>> validator = SchemaValidator::Compile(converted);
  if (!validator.ok()) return validator.status();
  json tool = {{"name", kRespondTool}, {"description", kRespondDescription}, {"input_schema", std::move(converted)}};
  return std::unique_ptr<StructuredOutput>(new StructuredOutput(std::move(tool), *std::move(validator)));
}

StructuredOutput::StructuredOutput(json tool, std::unique_ptr<SchemaValidator> validator)
    : tool_(std::move(tool)), validator_(std::move(validator)) {}

absl::Status StructuredOutput::Check(const json& answer) const { return validator_->Validate(answer); }

absl::StatusOr<std::string> StructuredOutput::CheckFinalText(const std::string& text) const {
  const absl::string_view body = Unfenced(text);
  json answer = json::parse(body.begin(), body.end(), nullptr, false);
  if (answer.is_discarded()) {
    return absl::InvalidArgumentError(body.empty() ? "its final text is empty, not JSON"
                                                   : "its final text is not JSON");
  }
  if (absl::Status s = Check(answer); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("its final text does not match output_schema: ", s.message()));
  }
  return answer.dump();
}

}  // namespace baton::worker
