// An MCP tools/call result as the bridge maps it to Messages API tool_result content:
// MapCallToolResult, then CapContentSize. Properties: no crash; the content is an array
// of typed blocks that serialises (it goes into the journal and to the API).
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "mcp-bridge/content.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json result = nlohmann::json::parse(text, nullptr, false);
  if (result.is_discarded()) return 0;

  baton::mcp::MappedResult mapped = baton::mcp::MapCallToolResult(result);
  FUZZ_CHECK(mapped.content.is_array());
  for (const nlohmann::json& block : mapped.content) {
    FUZZ_CHECK(block.is_object() && block.contains("type") && block["type"].is_string());
  }
  (void)mapped.content.dump();
  (void)mapped.structured_content.dump();

  // A cap below the content's size, so the cutting paths run too.
  const int64_t max_bytes = static_cast<int64_t>(size / 2);
  nlohmann::json capped = mapped.content;
  baton::mcp::CapContentSize(capped, max_bytes);
  FUZZ_CHECK(capped.is_array());
  (void)capped.dump();
  return 0;
}
