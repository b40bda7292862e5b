// JWT bearer tokens (RFC 7519) signed with RS256, ES256 or EdDSA (Ed25519), checked
// against the public keys of a JWKS file. The gRPC auth processor calls Verify with
// the token of an "authorization: Bearer ..." header and maps the principal it
// returns to roles and namespaces.
#ifndef BATON_COMMON_AUTH_JWT_H_
#define BATON_COMMON_AUTH_JWT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace baton::auth {

class JwkSet;

struct JwtConfig {
  // A JWKS (RFC 7517) JSON file {"keys":[...]}: RSA (n, e), EC P-256 (crv, x, y),
  // OKP Ed25519 (crv, x). Required.
  std::string jwks_file;
  // The `iss` every token must carry, compared exactly. Required.
  std::string issuer;
  // `aud` (a string or an array) must contain at least one of these. Required.
  std::vector<std::string> audiences;
  // Leeway for exp, nbf and iat, for clocks that disagree a little. Default: 60 s.
  absl::Duration clock_skew = absl::Seconds(60);
  // Roles: an array of strings, or one space-separated string (the OAuth `scope`
  // style). Absent means no roles. Default: "baton_roles".
  std::string roles_claim = "baton_roles";
  // Namespaces: an array of strings. Absent means none. Default: "baton_namespaces".
  std::string namespaces_claim = "baton_namespaces";
};

// What a valid token says about its bearer.
struct VerifiedToken {
  std::string subject;                  // `sub`, never empty
  std::vector<std::string> roles;       // config.roles_claim
  std::vector<std::string> namespaces;  // config.namespaces_claim
  int64_t expires_at = 0;               // `exp`, Unix seconds
  std::string key_id;                   // the kid of the JWK that verified it ("" if none)
};

// The longest token Verify looks at; anything longer is refused unread.
inline constexpr size_t kMaxJwtBytes = 16 * 1024;

// Verifies JWTs against a JWKS file. Thread-safe: Verify may run on many threads
// while Reload swaps the keys. Holds a reference to the clock, which must outlive it.
class JwtVerifier {
 public:
  // kInvalidArgument for a config without jwks_file, issuer or audiences, or a
  // negative skew; the file's error (kNotFound, kInvalidArgument) for a JWKS that
  // cannot be read or holds no usable key.
  static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(JwtConfig config, const Clock& clock);

  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // The bearer of `token` (the compact JWS, without "Bearer "), or UNAUTHENTICATED
  // with a message naming what is wrong (malformed, alg none, HMAC alg, unknown kid,
  // key type does not match alg, bad signature, expired, not yet valid, wrong
  // issuer, wrong audience, ...). Messages never contain the token or its parts.
  // The signature is checked before any claim is believed.
  absl::StatusOr<VerifiedToken> Verify(std::string_view token) const;

  // Re-reads the JWKS file (key rotation). On a bad file returns its error and keeps
  // the keys it had.
  absl::Status Reload();

 private:
  JwtVerifier(JwtConfig config, const Clock& clock, std::shared_ptr<const JwkSet> keys);
  std::shared_ptr<const JwkSet> Keys() const;

  const JwtConfig config_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  // Replaced whole by Reload; a Verify in flight keeps the set it started with.
  std::shared_ptr<const JwkSet> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace baton::auth

#endif  // BATON_COMMON_AUTH_JWT_H_
