// Structured output (AgentSpec.output_schema): the `respond` tool an agent with an
// output schema is offered, and the checks of the answers given to it or written as
// a final text. The run execution decides what an answer does to the run.
#ifndef BATON_WORKERS_STRUCTURED_OUTPUT_H_
#define BATON_WORKERS_STRUCTURED_OUTPUT_H_

#include <memory>
#include <string>

#include <google/protobuf/struct.pb.h>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/proto_json.h"
#include "common/schema_validator.h"

namespace baton::worker {

// The tool's name, which the agent's other tools cannot take while it is offered.
inline constexpr char kRespondTool[] = "respond";


// An agent's output schema, compiled. Immutable after Create; thread-safe.
class StructuredOutput {
 public:
  // kInvalidArgument when `schema` is not a JSON Schema the validator can use.
  static absl::StatusOr<std::unique_ptr<StructuredOutput>> Create(const google::protobuf::Struct& schema);
  StructuredOutput(const StructuredOutput&) = delete;
  StructuredOutput& operator=(const StructuredOutput&) = delete;

  // The `respond` tool as the Messages API takes it: {name, description, input_schema}.
  const nlohmann::json& tool() const { return tool_; }

  // OK when `answer` matches the schema, else kInvalidArgument listing what is wrong,
  // each with its path ("/tasks: ...").
  absl::Status Check(const nlohmann::json& answer) const;

  // A final text given instead of calling respond, as the run's output (compact JSON)
  // when it is JSON matching the schema (surrounding whitespace and one enclosing
  // Markdown code fence are ignored); else kInvalidArgument saying why.
  absl::StatusOr<std::string> CheckFinalText(const std::string& text) const;

 private:
  StructuredOutput(nlohmann::json tool, std::unique_ptr<SchemaValidator> validator);

  const nlohmann::json tool_;
  const std::unique_ptr<SchemaValidator> validator_;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_STRUCTURED_OUTPUT_H_
