// API key strings: "bk_<key_id>_<secret>", with a 16-hex-digit id and a 256-bit
// random secret as 64 hex digits. Only SHA-256(secret) is stored; SHA-256 suffices
// (no slow hash) because the secret is random, not a password. Pure logic plus
// OpenSSL; no gRPC.
#ifndef BATON_ORCHESTRATOR_AUTH_API_KEY_H_
#define BATON_ORCHESTRATOR_AUTH_API_KEY_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace baton::orchestrator::auth {

inline constexpr std::string_view kApiKeyPrefix = "bk_";
inline constexpr size_t kKeyIdHexDigits = 16;
inline constexpr size_t kSecretHexDigits = 64;

struct ParsedApiKey {
  std::string key_id;
  std::string secret;
};

// Whether `bearer` looks like an API key (starts with "bk_"), as opposed to a JWT.
bool LooksLikeApiKey(std::string_view bearer);

// Splits a key into id and secret. UNAUTHENTICATED naming the malformed part; the
// message never contains the secret.
absl::StatusOr<ParsedApiKey> ParseApiKey(std::string_view key);

std::string FormatApiKey(std::string_view key_id, std::string_view secret);

// A fresh id (64 random bits) and secret (256 random bits) from OpenSSL's CSPRNG.
// INTERNAL if the CSPRNG fails.
absl::StatusOr<std::string> NewKeyId();
absl::StatusOr<std::string> NewSecret();

// SHA-256 of `secret`, 32 raw bytes.
std::string HashSecret(std::string_view secret);

// Whether SHA-256(secret) == stored_hash, compared in constant time.
bool SecretMatches(std::string_view secret, std::string_view stored_hash);

}  // namespace baton::orchestrator::auth

#endif  // BATON_ORCHESTRATOR_AUTH_API_KEY_H_
