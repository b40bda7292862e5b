#include "workers/builtin_tools.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/json_text.h"
#include "common/logging.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

ToolOutput Error(std::string message) { return ToolOutput{json(std::move(message)), true}; }

}  // namespace

BuiltinToolExecutor::BuiltinToolExecutor(const Clock& clock, std::string audit_log_path) : clock_(clock) {
  if (!audit_log_path.empty()) {
    audit_ = std::fopen(audit_log_path.c_str(), "a");
    BATON_CHECK(audit_ != nullptr) << "cannot open the tool audit log " << audit_log_path;
  }
}

BuiltinToolExecutor::~BuiltinToolExecutor() {
  if (audit_ != nullptr) std::fclose(audit_);
}

absl::StatusOr<std::vector<ToolDefinition>> BuiltinToolExecutor::ListTools() {
  std::vector<ToolDefinition> tools;
  tools.push_back({"echo", "Returns the given text unchanged.",
                   json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})"),
                   true, true});
  tools.push_back({"sum", "Adds numbers and returns the sum.",
                   json::parse(R"({"type":"object","properties":{"numbers":{"type":"array","items":{"type":"number"}}},"required":["numbers"]})"),
                   true, true});
  tools.push_back({"current_time", "Returns the current UTC time in RFC 3339 format.",
                   json::parse(R"({"type":"object","properties":{}})"), true, false});
  tools.push_back({"sleep", "Waits the given number of milliseconds (at most 600000).",
                   json::parse(R"({"type":"object","properties":{"ms":{"type":"integer"}},"required":["ms"]})"),
                   false, false});
  return tools;
}

void BuiltinToolExecutor::Audit(const std::string& name, const ToolCallContext& context) {
  if (audit_ == nullptr) return;
  // Written directly: a JSON tree built per call only to be dumped cost more than the
  // tool.
  std::string line = "{\"idempotency_key\":";
  AppendJsonString(line, context.idempotency_key);
  line += ",\"name\":";
  AppendJsonString(line, name);
  line += ",\"run_id\":";
  AppendJsonString(line, context.run_id);
  absl::StrAppend(&line, ",\"step\":", context.step, ",\"time_ms\":", clock_.NowMillis(), ",\"tool_use_id\":");
  AppendJsonString(line, context.tool_use_id);
  line += "}\n";
  std::lock_guard<std::mutex> lock(audit_mu_);
  std::fwrite(line.data(), 1, line.size(), audit_);
  std::fflush(audit_);
}

absl::StatusOr<ToolOutput> BuiltinToolExecutor::CallTool(const std::string& name, const json& input,
                                                         const ToolCallContext& context) {
  if (!input.is_object()) return Error("Error: the input must be a JSON object");
  if (name == "echo") {
    if (!input.contains("text") || !input["text"].is_string()) return Error("Error: \"text\" must be a string");
    Audit(name, context);
    return ToolOutput{input["text"], false};
  }
  if (name == "sum") {
    if (!input.contains("numbers") || !input["numbers"].is_array()) {
      return Error("Error: \"numbers\" must be an array of numbers");
    }
    double total = 0;
    for (const json& n : input["numbers"]) {
      if (!n.is_number()) return Error("Error: \"numbers\" must hold only numbers");
      total += n.get<double>();
    }
    Audit(name, context);
    json result = total == static_cast<double>(static_cast<int64_t>(total)) ? json(static_cast<int64_t>(total))
                                                                             : json(total);
    return ToolOutput{json(result.dump()), false};
  }
  if (name == "current_time") {
    Audit(name, context);
    return ToolOutput{json(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", clock_.Now(), absl::UTCTimeZone())), false};
  }
  if (name == "sleep") {
    if (!input.contains("ms") || !input["ms"].is_number_integer() || input["ms"].get<int64_t>() < 0 ||
        input["ms"].get<int64_t>() > 600'000) {
      return Error("Error: \"ms\" must be an integer between 0 and 600000");
    }
    Audit(name, context);
    const absl::Time until = absl::Now() + absl::Milliseconds(input["ms"].get<int64_t>());
    while (absl::Now() < until) {
      if (context.is_cancelled && context.is_cancelled()) return absl::CancelledError("run cancelled");
      absl::SleepFor(std::min(absl::Milliseconds(20), until - absl::Now()));
    }
    return ToolOutput{json(absl::StrCat("slept ", input["ms"].get<int64_t>(), " ms")), false};
  }
  return Error(absl::StrCat("Error: unknown tool \"", name, "\""));
}

}  // namespace baton::worker
