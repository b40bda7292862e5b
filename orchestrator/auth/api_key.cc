#include "orchestrator/auth/api_key.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "absl/strings/str_cat.h"

namespace baton::orchestrator::auth {
namespace {

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::StatusOr<std::string> RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1) {
    return absl::InternalError("the random number generator failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes * 2);
  for (unsigned char c : raw) {
    hex.push_back(kHex[c >> 4]);
    hex.push_back(kHex[c & 0xf]);
  }
  OPENSSL_cleanse(raw.data(), raw.size());
  return hex;
}

}  // namespace

bool LooksLikeApiKey(std::string_view bearer) { return bearer.starts_with(kApiKeyPrefix); }

absl::StatusOr<ParsedApiKey> ParseApiKey(std::string_view key) {
  constexpr size_t kLength = kApiKeyPrefix.size() + kKeyIdHexDigits + 1 + kSecretHexDigits;
  if (!key.starts_with(kApiKeyPrefix)) return absl::UnauthenticatedError("API key: must start with \"bk_\"");
  if (key.size() != kLength) {
    return absl::UnauthenticatedError(absl::StrCat("API key: must be ", kLength, " characters, got ", key.size()));
  }
  std::string_view id = key.substr(kApiKeyPrefix.size(), kKeyIdHexDigits);
  std::string_view secret = key.substr(kApiKeyPrefix.size() + kKeyIdHexDigits + 1);
  if (key[kApiKeyPrefix.size() + kKeyIdHexDigits] != '_' || !IsLowerHex(id) || !IsLowerHex(secret)) {
    return absl::UnauthenticatedError("API key: malformed (expected bk_<16 hex digits>_<64 hex digits>)");
  }
  return ParsedApiKey{std::string(id), std::string(secret)};
}

std::string FormatApiKey(std::string_view key_id, std::string_view secret) {
  std::string key(kApiKeyPrefix);
  key.append(key_id).append("_").append(secret);
  return key;
}

absl::StatusOr<std::string> NewKeyId() { return RandomHex(kKeyIdHexDigits / 2); }
absl::StatusOr<std::string> NewSecret() { return RandomHex(kSecretHexDigits / 2); }

std::string HashSecret(std::string_view secret) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

bool SecretMatches(std::string_view secret, std::string_view stored_hash) {
  std::string digest = HashSecret(secret);
  // Both sides are 32 bytes for any stored key; the length check leaks nothing secret.
  return stored_hash.size() == digest.size() && CRYPTO_memcmp(digest.data(), stored_hash.data(), digest.size()) == 0;
}

}  // namespace baton::orchestrator::auth
