#include "orchestrator/auth/api_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/openssl_ptr.h"

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
  // Every call with an API key hashes its secret, in the auth processor (inline in the
  // transport) and again in PrincipalResolver. OpenSSL 3's one-shot SHA256() looks the
  // algorithm up in its provider tables and allocates a context on each call: 3 k
  // instructions on top of the 5 k of hashing (callgrind, bench W1-secure). So the
  // algorithm is fetched once, and each thread keeps one context.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const MdCtxPtr ctx(EVP_MD_CTX_new());
  BATON_CHECK(sha256 != nullptr && ctx != nullptr) << "OpenSSL has no SHA-256";
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  unsigned int length = 0;
  BATON_CHECK(EVP_DigestInit_ex2(ctx.get(), sha256, nullptr) == 1 &&
              EVP_DigestUpdate(ctx.get(), secret.data(), secret.size()) == 1 &&
              EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(digest.data()), &length) == 1 &&
              length == digest.size())
      << "SHA-256 failed";
  return digest;
}

bool SecretMatches(std::string_view secret, std::string_view stored_hash) {
  std::string digest = HashSecret(secret);
  // Both sides are 32 bytes for any stored key; the length check leaks nothing secret.
  return stored_hash.size() == digest.size() && CRYPTO_memcmp(digest.data(), stored_hash.data(), digest.size()) == 0;
}

}  // namespace baton::orchestrator::auth
