#include "mcp-bridge/content.h"

#include "absl/strings/str_cat.h"

namespace baton::mcp {
namespace {

using json = nlohmann::json;

std::string Str(const json& object, const char* key) {
  if (object.is_object() && object.contains(key) && object[key].is_string()) return object[key].get<std::string>();
  return "";
}

bool IsApiImageType(const std::string& mime) {
  return mime == "image/png" || mime == "image/jpeg" || mime == "image/gif" || mime == "image/webp";
}

json Text(std::string text) { return {{"type", "text"}, {"text", std::move(text)}}; }

// Roughly how many bytes base64 `data` decodes to.
size_t DecodedSize(const std::string& data) { return data.size() / 4 * 3; }

json BinaryBlock(const std::string& data, const std::string& mime, const std::string& what) {
  if (IsApiImageType(mime)) {
    return {{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", mime}, {"data", data}}}};
  }
  if (mime == "application/pdf") {
    return {{"type", "document"}, {"source", {{"type", "base64"}, {"media_type", mime}, {"data", data}}}};
  }
  return Text(absl::StrCat("[", what, ": ", mime.empty() ? "unknown type" : mime, ", about ", DecodedSize(data),
                           " bytes; binary content not shown]"));
}

json MapBlock(const json& block) {
  const std::string type = Str(block, "type");
  if (type == "text") return Text(Str(block, "text"));
  if (type == "image") return BinaryBlock(Str(block, "data"), Str(block, "mimeType"), "image");
  if (type == "audio") return BinaryBlock(Str(block, "data"), Str(block, "mimeType"), "audio");
  if (type == "resource_link") {
    std::string text = absl::StrCat("[resource link] ", Str(block, "name"), " <", Str(block, "uri"), ">");
    if (std::string mime = Str(block, "mimeType"); !mime.empty()) absl::StrAppend(&text, " (", mime, ")");
    if (std::string d = Str(block, "description"); !d.empty()) absl::StrAppend(&text, ": ", d);
    return Text(std::move(text));
  }
  if (type == "resource" && block.contains("resource") && block["resource"].is_object()) {
    const json& r = block["resource"];
    const std::string uri = Str(r, "uri");
    const std::string mime = Str(r, "mimeType");
    if (r.contains("text") && r["text"].is_string()) {
      return Text(absl::StrCat("[resource ", uri, mime.empty() ? "" : absl::StrCat(" (", mime, ")"), "]\n",
                               r["text"].get<std::string>()));
    }
    if (r.contains("blob") && r["blob"].is_string()) {
      return BinaryBlock(r["blob"].get<std::string>(), mime, absl::StrCat("resource ", uri));
    }
  }
  return Text(absl::StrCat("[", type.empty() ? "unknown" : type, " content] ", block.dump()));
}

void CutUtf8(std::string& s, size_t max) {
  if (s.size() <= max) return;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
}

}  // namespace

json TextContent(const std::string& text) { return json::array({Text(text)}); }

MappedResult MapCallToolResult(const json& result) {
  MappedResult out;
  if (!result.is_object()) {
    out.is_error = true;
    out.content = TextContent(absl::StrCat("protocol_error: the server's result is not an object: ", result.dump()));
    return out;
  }
  out.is_error = result.contains("isError") && result["isError"].is_boolean() && result["isError"].get<bool>();
  if (result.contains("content") && result["content"].is_array()) {
    for (const json& block : result["content"]) out.content.push_back(MapBlock(block));
  }
  if (result.contains("structuredContent") && !result["structuredContent"].is_null()) {
    out.structured_content = result["structuredContent"];
    // Servers are asked to show the same result as text too (as JSON, or in words,
    // as server-filesystem does); repeating it would only double what the model
    // reads. Only a result without any text gets the JSON.
    bool has_text = false;
    for (const json& block : out.content) has_text = has_text || block.value("type", "") == "text";
    if (!has_text) out.content.push_back(Text(out.structured_content.dump()));
  }
  // The Messages API wants at least something to show.
  if (out.content.empty()) out.content.push_back(Text(out.is_error ? "(the tool failed without a message)" : "(no output)"));
  return out;
}

bool CapContentSize(json& content, int64_t max_bytes) {
  const int64_t total = static_cast<int64_t>(content.dump().size());
  if (total <= max_bytes) return false;
  // Room for the marker.
  int64_t budget = std::max<int64_t>(0, max_bytes - 200);
  json kept = json::array();
  int dropped = 0;
  for (json& block : content) {
    const int64_t size = static_cast<int64_t>(block.dump().size());
    if (size <= budget) {
      budget -= size;
      kept.push_back(std::move(block));
      continue;
    }
    if (block.value("type", "") == "text" && budget > 64) {
      std::string text = block["text"].get<std::string>();
      // JSON escaping can make text longer than its bytes; cut with a margin and
      // shrink until it fits.
      size_t want = static_cast<size_t>(budget - 32);
      while (true) {
        CutUtf8(text, want);
        json cut = Text(text);
        const int64_t cut_size = static_cast<int64_t>(cut.dump().size());
        if (cut_size <= budget || text.empty()) {
          if (!text.empty()) kept.push_back(std::move(cut));
          budget = 0;
          break;
        }
        want = text.size() - static_cast<size_t>(std::min<int64_t>(cut_size - budget, text.size()));
      }
      continue;
    }
    ++dropped;
    budget = 0;
  }
  std::string marker = absl::StrCat("[truncated: the tool's result was ", total, " bytes, over the limit of ", max_bytes,
                                    " bytes");
  if (dropped > 0) absl::StrAppend(&marker, "; ", dropped, " content block(s) left out");
  absl::StrAppend(&marker, "]");
  kept.push_back(Text(std::move(marker)));
  content = std::move(kept);
  return true;
}

}  // namespace baton::mcp
