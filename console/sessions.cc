#include "console/sessions.h"

#include <openssl/rand.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace baton::console {

std::string SessionStore::Create(std::string token) {
  unsigned char bytes[32];
  // A console that cannot draw random bytes must not hand out guessable sessions.
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  std::string id = absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  if (sessions_.size() >= options_.max_sessions) {
    DropExpiredLocked(now);
    while (!sessions_.empty() && sessions_.size() >= options_.max_sessions) {
      auto oldest = sessions_.begin();
      for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        if (it->second.last_used < oldest->second.last_used) oldest = it;
      }
      sessions_.erase(oldest);
    }
  }
  sessions_[id] = Session{std::move(token), now};
  return id;
}

std::optional<std::string> SessionStore::Token(const std::string& id) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  if (now - it->second.last_used >= options_.idle_expiry) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_used = now;
  return it->second.token;
}

void SessionStore::Delete(const std::string& id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(id);
}

size_t SessionStore::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

void SessionStore::DropExpiredLocked(absl::Time now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (now - it->second.last_used >= options_.idle_expiry) {
      sessions_.erase(it++);
    } else {
      ++it;
    }
  }
}

std::string CookieValue(const std::string& cookie_header, const std::string& name) {
  for (absl::string_view part : absl::StrSplit(cookie_header, ';')) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq != absl::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
  }
  return "";
}

std::string SessionCookie(const std::string& id, bool secure) {
  return absl::StrCat(kSessionCookie, "=", id, "; HttpOnly; SameSite=Strict; Path=/", id.empty() ? "; Max-Age=0" : "",
                      secure ? "; Secure" : "");
}

}  // namespace baton::console
