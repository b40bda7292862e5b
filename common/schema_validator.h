// Validates tool arguments against the tool's inputSchema (JSON Schema; draft-07
// semantics, which also covers what 2020-12 schemas from MCP servers use for
// arguments) before the server sees them.
#ifndef BATON_COMMON_SCHEMA_VALIDATOR_H_
#define BATON_COMMON_SCHEMA_VALIDATOR_H_

#include <memory>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace baton {

// Immutable after Compile; thread-safe.
class SchemaValidator {
 public:
  // kInvalidArgument when the schema itself cannot be used (the server's fault:
  // the caller logs it and lets calls through unvalidated).
  static absl::StatusOr<std::unique_ptr<SchemaValidator>> Compile(const nlohmann::json& schema);
  ~SchemaValidator();

  // kInvalidArgument with a readable list of what is wrong, each with its path
  // ("/message: expected string").
  absl::Status Validate(const nlohmann::json& value) const;

 private:
  struct Impl;
  explicit SchemaValidator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton

#endif  // BATON_COMMON_SCHEMA_VALIDATOR_H_
