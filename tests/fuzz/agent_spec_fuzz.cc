// An agent spec file as `baton agent put` reads it (cli/spec_file: the protobuf JSON
// mapping, unknown fields refused) and as the orchestrator then checks it
// (ValidateAgentSpec, stored and inline). Properties: no crash, no sanitizer report;
// every refusal is INVALID_ARGUMENT.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "cli/spec_file.h"
#include "orchestrator/validation.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<baton::v1::AgentSpec> spec = baton::cli::ParseAgentJson(json, "agent.json");
  if (!spec.ok()) {
    FUZZ_CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  for (bool require_name : {true, false}) {
    absl::Status s = baton::orchestrator::ValidateAgentSpec(*spec, require_name);
    FUZZ_CHECK(s.ok() || s.code() == absl::StatusCode::kInvalidArgument);
  }
  return 0;
}
