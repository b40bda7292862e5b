// Browser sessions: a random id in an HttpOnly cookie stands for the API key or token
// the user signed in with, so the page never holds the secret. In memory only (a
// restarted console asks everyone to sign in again); a session idle for 12 hours ends.
#ifndef BATON_CONSOLE_SESSIONS_H_
#define BATON_CONSOLE_SESSIONS_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace baton::console {

inline constexpr char kSessionCookie[] = "baton_session";

struct SessionOptions {
  absl::Duration idle_expiry = absl::Hours(12);  // Default: 12 h
  // Sessions kept at most; past it, signing in ends the least recently used one.
  // Default: 10,000.
  size_t max_sessions = 10'000;
};

// Thread-safe. Holds a reference to the clock, which must outlive it.
class SessionStore {
 public:
  explicit SessionStore(const Clock& clock, SessionOptions options = {}) : clock_(clock), options_(options) {}
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  // A new session for `token`: its id, 64 hex digits (256 random bits).
  std::string Create(std::string token);
  // The token of session `id`, and the session's idle time starts again; nullopt for an
  // unknown or expired id.
  std::optional<std::string> Token(const std::string& id);
  void Delete(const std::string& id);
  size_t size() const;

 private:
  struct Session {
    std::string token;
    absl::Time last_used;
  };
  void DropExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const SessionOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
};

// The value of cookie `name` in a Cookie header ("a=1; baton_session=abc"); "" when
// absent.
std::string CookieValue(const std::string& cookie_header, const std::string& name);

// The Set-Cookie value of a session (HttpOnly, SameSite=Strict, Path=/, Secure when
// `secure`); an empty `id` clears the cookie (Max-Age=0).
std::string SessionCookie(const std::string& id, bool secure);

}  // namespace baton::console

#endif  // BATON_CONSOLE_SESSIONS_H_
