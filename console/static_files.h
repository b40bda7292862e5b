// The front end's files (index.html, app.js, app.css, built by the console_web target)
// from one directory. A path that names no file gets index.html, so client-side routes
// (/runs/<id>) load the page. Headers: Cache-Control no-cache for index.html (a new
// build shows at once), a year for hashed assets ("app-3F2A9B1C.js"); the security
// headers are the server's (console_handler.cc).
#ifndef BATON_CONSOLE_STATIC_FILES_H_
#define BATON_CONSOLE_STATIC_FILES_H_

#include <string>

#include "console/http.h"

namespace baton::console {

// Thread-safe (reads files per request; they are small and the page asks for three).
class StaticFiles {
 public:
  explicit StaticFiles(std::string dir) : dir_(std::move(dir)) {}

  // The response for GET `path` (URL-decoded). 503 with a page saying how to build
  // the front end when the directory has no index.html; 404 for a path with ".."
  // segments or a missing file that looks like an asset (has an extension).
  HttpResponse Get(const std::string& path) const;

  const std::string& dir() const { return dir_; }

 private:
  const std::string dir_;
};

// The Content-Type of a file name by its extension; application/octet-stream when
// unknown.
std::string ContentTypeOf(const std::string& name);
// Whether a file name carries a content hash ("app-3F2A9B1C.js", "chunk.a1b2c3d4.css"):
// 8 or more upper-case letters and digits, or lower-case hex digits, after the last
// '-' or '.' before the extension.
bool IsHashedAsset(const std::string& name);

}  // namespace baton::console

#endif  // BATON_CONSOLE_STATIC_FILES_H_
