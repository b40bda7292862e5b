#include "common/auth/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/auth/base64url.h"
#include "common/json_file.h"
#include "common/logging.h"
#include "common/openssl_ptr.h"
#include "common/status_macros.h"

namespace baton::auth {
namespace {

using json = nlohmann::json;

// RFC 7518 §3.3: 2048 bits at least. The upper bound keeps one verification cheap.
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;
constexpr size_t kP256CoordinateBytes = 32;
constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kEs256SignatureBytes = 64;
constexpr size_t kEd25519SignatureBytes = 64;

absl::Status BadKey(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("JWKS ", where, ": ", what));
}

// A required base64url member of a JWK, strictly decoded.
absl::StatusOr<std::string> Member(const json& jwk, const char* name, absl::string_view where) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return BadKey(where, absl::StrCat("\"", name, "\" missing"));
  std::optional<std::string> bytes = Base64UrlDecode(it->get_ref<const std::string&>());
  if (!bytes || bytes->empty()) return BadKey(where, absl::StrCat("\"", name, "\" is not base64url"));
  return *std::move(bytes);
}

BnPtr ToBn(std::string_view bytes) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

// EVP_PKEY_fromdata for `type_name` ("RSA", "EC") from the params in `bld`; `refused`
// says why OpenSSL would not take them.
absl::StatusOr<EvpPkeyPtr> FromData(const char* type_name, OSSL_PARAM_BLD* bld, absl::string_view where,
                                    absl::string_view refused) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return BadKey(where, refused);
  }
  return EvpPkeyPtr(raw);
}

absl::StatusOr<EvpPkeyPtr> RsaKey(const json& jwk, absl::string_view where) {
  ASSIGN_OR_RETURN(std::string n, Member(jwk, "n", where));
  ASSIGN_OR_RETURN(std::string e, Member(jwk, "e", where));
  if (e.size() > 8) return BadKey(where, "RSA exponent too large");
  BnPtr n_bn = ToBn(n), e_bn = ToBn(e);
  if (!n_bn || !e_bn) return absl::ResourceExhaustedError("OpenSSL: out of memory");
  if (!BN_is_odd(e_bn.get()) || BN_is_one(e_bn.get())) return BadKey(where, "RSA exponent is not an odd number above 1");
  int bits = BN_num_bits(n_bn.get());
  if (bits < kMinRsaBits) return BadKey(where, absl::StrCat("RSA modulus of ", bits, " bits (at least ", kMinRsaBits, ")"));
  if (bits > kMaxRsaBits) return BadKey(where, absl::StrCat("RSA modulus of ", bits, " bits (at most ", kMaxRsaBits, ")"));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    return absl::ResourceExhaustedError("OpenSSL: out of memory");
  }
  return FromData("RSA", bld.get(), where, "OpenSSL refuses the RSA public key");
}

absl::StatusOr<EvpPkeyPtr> EcP256Key(const json& jwk, absl::string_view where) {
  ASSIGN_OR_RETURN(std::string x, Member(jwk, "x", where));
  ASSIGN_OR_RETURN(std::string y, Member(jwk, "y", where));
  // RFC 7518 §6.2.1.2: each coordinate is the full 32 bytes, leading zeros included.
  if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) {
    return BadKey(where, "P-256 coordinates must be 32 bytes each");
  }
  std::string point = absl::StrCat("\x04", x, y);  // SEC 1 uncompressed point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return absl::ResourceExhaustedError("OpenSSL: out of memory");
  }
  // A point off the curve would open invalid-curve attacks: OpenSSL refuses it on
  // import, and the public check below says so explicitly.
  ASSIGN_OR_RETURN(EvpPkeyPtr key, FromData("EC", bld.get(), where, "the EC point is not on P-256"));
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) return BadKey(where, "the EC point is not on P-256");
  return key;
}

absl::StatusOr<EvpPkeyPtr> Ed25519Key(const json& jwk, absl::string_view where) {
  ASSIGN_OR_RETURN(std::string x, Member(jwk, "x", where));
  if (x.size() != kEd25519KeyBytes) return BadKey(where, "an Ed25519 key must be 32 bytes");
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                              reinterpret_cast<const unsigned char*>(x.data()), x.size());
  if (raw == nullptr) return BadKey(where, "OpenSSL refuses the Ed25519 public key");
  return EvpPkeyPtr(raw);
}

std::string OptionalString(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Why a JWK is not a signature key Baton verifies with, or "" when it is.
std::string SkipReason(const json& jwk, const std::string& kty, const std::string& crv, const std::string& alg) {
  std::string use = OptionalString(jwk, "use");
  if (jwk.contains("use") && use != "sig") return "its \"use\" is not \"sig\"";
  if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    if (!ops->is_array() || std::find(ops->begin(), ops->end(), json("verify")) == ops->end()) {
      return "its \"key_ops\" lack \"verify\"";
    }
  }
  if (kty == "RSA") return alg.empty() || alg == "RS256" ? "" : absl::StrCat("alg ", alg, " is not supported");
  if (kty == "EC") {
    if (crv != "P-256") return absl::StrCat("curve ", crv, " is not supported");
    return alg.empty() || alg == "ES256" ? "" : absl::StrCat("alg ", alg, " is not supported");
  }
  if (kty == "OKP") {
    if (crv != "Ed25519") return absl::StrCat("curve ", crv, " is not supported");
    return alg.empty() || alg == "EdDSA" || alg == "Ed25519" ? "" : absl::StrCat("alg ", alg, " is not supported");
  }
  return absl::StrCat("key type \"", kty, "\" is not supported");
}

}  // namespace

void EvpPkeyDeleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kRsa:
      return "RSA";
    case KeyType::kEcP256:
      return "EC P-256";
    case KeyType::kEd25519:
      return "OKP Ed25519";
  }
  return "unknown";
}

std::optional<KeyType> KeyTypeForAlg(std::string_view alg) {
  if (alg == "RS256") return KeyType::kRsa;
  if (alg == "ES256") return KeyType::kEcP256;
  if (alg == "EdDSA" || alg == "Ed25519") return KeyType::kEd25519;
  return std::nullopt;
}

bool Jwk::AcceptsAlg(std::string_view token_alg) const {
  std::optional<KeyType> needed = KeyTypeForAlg(token_alg);
  if (!needed || *needed != type) return false;
  if (alg.empty()) return true;
  // "EdDSA" and "Ed25519" name the same algorithm for an Ed25519 key.
  return alg == token_alg || type == KeyType::kEd25519;
}

absl::Status Jwk::VerifySignature(std::string_view token_alg, std::string_view signing_input,
                                  std::string_view signature) const {
  const EVP_MD* md = nullptr;
  std::string der;  // ES256: the DER form OpenSSL verifies
  std::string_view sig = signature;
  switch (type) {
    case KeyType::kRsa:
      if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key.get()))) {
        return absl::UnauthenticatedError("bad signature: wrong length for the key");
      }
      md = EVP_sha256();
      break;
    case KeyType::kEcP256: {
      if (signature.size() != kEs256SignatureBytes) {
        return absl::UnauthenticatedError("bad signature: ES256 needs 64 bytes (R||S)");
      }
      const auto* bytes = reinterpret_cast<const unsigned char*>(signature.data());
      EcdsaSigPtr ecdsa(ECDSA_SIG_new());
      BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
      BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
      if (!ecdsa || !r || !s || ECDSA_SIG_set0(ecdsa.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return absl::ResourceExhaustedError("OpenSSL: out of memory");
      }
      unsigned char* out = nullptr;
      int len = i2d_ECDSA_SIG(ecdsa.get(), &out);
      if (len <= 0) return absl::ResourceExhaustedError("OpenSSL: out of memory");
      der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(len));
      OPENSSL_free(out);
      sig = der;
      md = EVP_sha256();
      break;
    }
    case KeyType::kEd25519:
      if (signature.size() != kEd25519SignatureBytes) {
        return absl::UnauthenticatedError("bad signature: EdDSA needs 64 bytes");
      }
      md = nullptr;  // Ed25519 hashes internally
      break;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) != 1) {
    ERR_clear_error();
    return absl::InternalError("OpenSSL: cannot start a signature check");
  }
  int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                            reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
  // Failures leave entries on this thread's OpenSSL error queue; they say nothing
  // more than "bad signature" and must not leak into a later, unrelated call.
  ERR_clear_error();
  if (ok != 1) return absl::UnauthenticatedError("bad signature");
  return absl::OkStatus();
}

const Jwk* JwkSet::FindByKid(std::string_view kid) const {
  for (const Jwk& key : keys_) {
    if (!key.kid.empty() && key.kid == kid) return &key;
  }
  return nullptr;
}

std::vector<const Jwk*> JwkSet::KeysForAlg(std::string_view alg) const {
  std::vector<const Jwk*> out;
  for (const Jwk& key : keys_) {
    if (key.AcceptsAlg(alg)) out.push_back(&key);
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const JwkSet>> ParseJwks(const json& jwks) {
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array()) {
    return absl::InvalidArgumentError("JWKS: expected an object {\"keys\": [...]}");
  }
  std::vector<Jwk> keys;
  std::set<std::string> kids;
  const json& list = jwks["keys"];
  for (size_t i = 0; i < list.size(); ++i) {
    const json& entry = list[i];
    std::string where = absl::StrCat("key ", i);
    if (!entry.is_object() || !entry.contains("kty") || !entry["kty"].is_string()) {
      return BadKey(where, "expected an object with a string \"kty\"");
    }
    std::string kid = OptionalString(entry, "kid");
    if (!kid.empty()) where = absl::StrCat("key \"", kid, "\"");
    std::string kty = entry["kty"].get<std::string>();
    std::string crv = OptionalString(entry, "crv");
    std::string alg = OptionalString(entry, "alg");
    if (std::string why = SkipReason(entry, kty, crv, alg); !why.empty()) {
      BATON_LOG(WARNING) << "JWKS " << where << " skipped: " << why;
      continue;
    }
    if (entry.contains("d")) {
      BATON_LOG(WARNING) << "JWKS " << where << " holds private key material; only its public part is used";
    }
    Jwk key;
    key.kid = kid;
    key.alg = alg;
    absl::StatusOr<EvpPkeyPtr> pkey;
    if (kty == "RSA") {
      key.type = KeyType::kRsa;
      pkey = RsaKey(entry, where);
    } else if (kty == "EC") {
      key.type = KeyType::kEcP256;
      pkey = EcP256Key(entry, where);
    } else {
      key.type = KeyType::kEd25519;
      pkey = Ed25519Key(entry, where);
    }
    ERR_clear_error();
    if (!pkey.ok()) return pkey.status();
    key.key = *std::move(pkey);
    if (!kid.empty() && !kids.insert(kid).second) return BadKey(where, "duplicate kid");
    keys.push_back(std::move(key));
  }
  if (keys.empty()) return absl::InvalidArgumentError("JWKS: no usable signature key (RSA, EC P-256, OKP Ed25519)");
  return std::make_shared<const JwkSet>(std::move(keys));
}

absl::StatusOr<std::shared_ptr<const JwkSet>> LoadJwksFile(const std::string& path) {
  ASSIGN_OR_RETURN(json doc, ReadJsonFile(path));
  absl::StatusOr<std::shared_ptr<const JwkSet>> keys = ParseJwks(doc);
  if (!keys.ok()) return absl::Status(keys.status().code(), absl::StrCat(path, ": ", keys.status().message()));
  return keys;
}

}  // namespace baton::auth
