// MCP tools/call results as Messages API tool_result content, and the size cap.
#ifndef BATON_MCP_BRIDGE_CONTENT_H_
#define BATON_MCP_BRIDGE_CONTENT_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace baton::mcp {

struct MappedResult {
  nlohmann::json content = nlohmann::json::array();  // tool_result content blocks
  bool is_error = false;
  nlohmann::json structured_content;  // the server's structuredContent, or null
};

// Maps a CallToolResult: text stays text; PNG/JPEG/GIF/WebP images become image
// blocks; a PDF becomes a document block; audio, other binary data and
// resource_links become a text block describing them (the Messages API has no
// block for them); an embedded text resource becomes text headed by its URI;
// structuredContent is kept apart and added as a JSON text block only when the
// result has no text block (servers are asked to show it as text themselves). A
// malformed result becomes one readable text block.
MappedResult MapCallToolResult(const nlohmann::json& result);

// Cuts `content` (an array of blocks) to about `max_bytes` of JSON: blocks are
// kept in order while they fit, a text block that does not fit is cut (on a UTF-8
// boundary), other blocks that do not fit are dropped, and a text block saying
// what was cut is appended. Returns whether anything was cut.
bool CapContentSize(nlohmann::json& content, int64_t max_bytes);

// One text block, as the content of an is_error result.
nlohmann::json TextContent(const std::string& text);

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_CONTENT_H_
