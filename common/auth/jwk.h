// Public keys from a JWKS (RFC 7517) and JWS signature checks with them (RFC 7515,
// RFC 7518 RS256/ES256, RFC 8037 EdDSA), through OpenSSL 3 EVP.
#ifndef BATON_COMMON_AUTH_JWK_H_
#define BATON_COMMON_AUTH_JWK_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace baton::auth {

// The key types Baton verifies with; each admits exactly one family of JWS algs.
enum class KeyType {
  kRsa,      // kty RSA (≥ 2048 bits): RS256
  kEcP256,   // kty EC, crv P-256: ES256
  kEd25519,  // kty OKP, crv Ed25519: EdDSA (and its RFC 9864 name Ed25519)
};

// "RSA", "EC P-256", "OKP Ed25519".
std::string_view KeyTypeName(KeyType type);

// The key type a JWS alg needs; nullopt for the algs Baton refuses (none, HS*, PS*,
// ES384, ...).
std::optional<KeyType> KeyTypeForAlg(std::string_view alg);

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* key) const;
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// One verification key. Immutable after construction; safe to use from many threads.
struct Jwk {
  std::string kid;  // "" when the JWK has none
  KeyType type = KeyType::kRsa;
  std::string alg;  // the JWK's "alg", "" when absent
  EvpPkeyPtr key;

  // Whether a token signed with `alg` may be checked with this key: the key type
  // fits the alg and the JWK's own "alg", when present, is the same.
  bool AcceptsAlg(std::string_view alg) const;

  // OK when `signature` (the decoded third JWS part) signs `signing_input` with
  // this key under `alg`. REQUIRES: AcceptsAlg(alg).
  // ES256 signatures are JWS's raw R||S (64 bytes), converted to DER for OpenSSL.
  absl::Status VerifySignature(std::string_view alg, std::string_view signing_input,
                               std::string_view signature) const;
};

// The usable keys of one JWKS document. Immutable; shared between a verifier and the
// Verify calls in flight while it is replaced (key rotation).
class JwkSet {
 public:
  explicit JwkSet(std::vector<Jwk> keys) : keys_(std::move(keys)) {}
  JwkSet(const JwkSet&) = delete;
  JwkSet& operator=(const JwkSet&) = delete;

  // nullptr when no key has this kid.
  const Jwk* FindByKid(std::string_view kid) const;
  // Keys that accept `alg` (for tokens without a kid).
  std::vector<const Jwk*> KeysForAlg(std::string_view alg) const;
  size_t size() const { return keys_.size(); }

 private:
  std::vector<Jwk> keys_;
};

// Builds the key set of a JWKS document {"keys":[...]}. Keys meant for encryption
// ("use":"enc", key_ops without "verify") and key types Baton does not verify with
// (oct, RSA-PSS-only algs, other curves) are skipped; a key of a supported type
// that is malformed (bad base64url, a point off the curve, RSA under 2048 bits), a
// duplicate kid, or a document without a single usable key is kInvalidArgument.
absl::StatusOr<std::shared_ptr<const JwkSet>> ParseJwks(const nlohmann::json& jwks);

// ReadJsonFile + ParseJwks; errors name the file.
absl::StatusOr<std::shared_ptr<const JwkSet>> LoadJwksFile(const std::string& path);

}  // namespace baton::auth

#endif  // BATON_COMMON_AUTH_JWK_H_
