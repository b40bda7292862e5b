// valijson reports bad schemas by throwing; the exceptions stay in this file.
#define VALIJSON_USE_EXCEPTIONS 1
#include "common/schema_validator.h"

#include <exception>
#include <string>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace baton {

namespace {
constexpr int kMaxReportedErrors = 8;
}  // namespace

struct SchemaValidator::Impl {
  nlohmann::json document;  // the parsed schema keeps pointers into nothing, but keep it for $ref lookups
  valijson::Schema schema;
};

SchemaValidator::SchemaValidator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchemaValidator::~SchemaValidator() = default;

absl::StatusOr<std::unique_ptr<SchemaValidator>> SchemaValidator::Compile(const nlohmann::json& schema) {
  if (!schema.is_object() && !schema.is_boolean()) return absl::InvalidArgumentError("the schema is not an object");
  auto impl = std::make_unique<Impl>();
  impl->document = schema;
  // A "$schema" the parser does not know (2020-12) changes nothing it checks.
  if (impl->document.is_object()) impl->document.erase("$schema");
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(impl->document);
    parser.populateSchema(adapter, impl->schema);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("unusable JSON Schema: ", e.what()));
  }
  return std::unique_ptr<SchemaValidator>(new SchemaValidator(std::move(impl)));
}

absl::Status SchemaValidator::Validate(const nlohmann::json& value) const {
  valijson::ValidationResults results;
  bool ok;
  try {
    valijson::Validator validator(valijson::Validator::kStrongTypes);
    valijson::adapters::NlohmannJsonAdapter target(value);
    ok = validator.validate(impl_->schema, target, &results);
  } catch (const std::exception& e) {
    // A pattern std::regex cannot compile and the like: the server's schema is at
    // fault, not the arguments.
    return absl::OkStatus();
  }
  if (ok) return absl::OkStatus();
  std::vector<std::string> problems;
  valijson::ValidationResults::Error error;
  int count = 0;
  while (results.popError(error)) {
    ++count;
    if (count > kMaxReportedErrors) continue;
    std::string path;
    for (const std::string& part : error.context) {
      if (part == "<root>") continue;
      // valijson writes object members as "[name]" and items as "[0]".
      std::string p = part;
      if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
      if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
      absl::StrAppend(&path, "/", p);
    }
    problems.push_back(absl::StrCat(path.empty() ? "/" : path, ": ", error.description));
  }
  std::string message = absl::StrJoin(problems, "; ");
  if (count > kMaxReportedErrors) absl::StrAppend(&message, "; and ", count - kMaxReportedErrors, " more");
  return absl::InvalidArgumentError(message);
}

}  // namespace baton
