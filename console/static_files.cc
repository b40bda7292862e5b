#include "console/static_files.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace baton::console {
namespace {

std::optional<std::string> ReadWhole(const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

HttpResponse TextPage(int status, const std::string& html) {
  return HttpResponse{status, {{"Content-Type", "text/html; charset=utf-8"}, {"Cache-Control", "no-cache"}}, html};
}

}  // namespace

std::string ContentTypeOf(const std::string& name) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".map", "application/json"}, {".svg", "image/svg+xml"},
      {".png", "image/png"}, {".ico", "image/x-icon"}, {".woff2", "font/woff2"}, {".txt", "text/plain; charset=utf-8"}};
  for (const auto& [ext, type] : kTypes) {
    if (absl::EndsWith(name, ext)) return type;
  }
  return "application/octet-stream";
}

bool IsHashedAsset(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string stem = name.substr(0, dot);
  const size_t cut = stem.find_last_of("-.");
  if (cut == std::string::npos) return false;
  const std::string hash = stem.substr(cut + 1);
  auto all = [&hash](auto pred) { return std::all_of(hash.begin(), hash.end(), pred); };
  // esbuild's hashes are upper-case base32; others use lower-case hex.
  return hash.size() >= 8 && (all([](unsigned char c) { return std::isdigit(c) || std::isupper(c); }) ||
                              all([](unsigned char c) { return std::isdigit(c) || (c >= 'a' && c <= 'f'); }));
}

HttpResponse StaticFiles::Get(const std::string& path) const {
  const std::filesystem::path root(dir_);
  std::optional<std::string> index = ReadWhole(root / "index.html");
  if (!index.has_value()) {
    return TextPage(503, absl::StrCat(
                             "<!doctype html><title>Baton console</title><h1>The console's front end is not built</h1>"
                             "<p>No index.html in <code>",
                             dir_,
                             "</code>. Build it with <code>cmake --build build --target console_web</code> "
                             "(after <code>scripts/setup</code>), or point <code>--static-dir</code> at a built "
                             "one. The HTTP API under <code>/api/</code> works without it.</p>\n"));
  }
  std::vector<std::string> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  for (const std::string& part : parts) {
    if (part == ".." || part == "." || part.find('\0') != std::string::npos) return TextPage(404, "not found\n");
  }
  std::filesystem::path file = root;
  for (const std::string& part : parts) file /= part;
  const std::string name = parts.empty() ? "index.html" : parts.back();
  if (!parts.empty() && name != "index.html") {
    if (std::optional<std::string> body = ReadWhole(file); body.has_value()) {
      return HttpResponse{200,
                          {{"Content-Type", ContentTypeOf(name)},
                           {"Cache-Control", IsHashedAsset(name) ? "public, max-age=31536000, immutable" : "no-cache"}},
                          *std::move(body)};
    }
    // A missing asset is an error the browser should see; a missing route is the page's.
    if (name.find('.') != std::string::npos) return TextPage(404, "not found\n");
  }
  return HttpResponse{200, {{"Content-Type", "text/html; charset=utf-8"}, {"Cache-Control", "no-cache"}}, *index};
}

}  // namespace baton::console
