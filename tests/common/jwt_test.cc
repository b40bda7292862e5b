#include "common/auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "common/auth/base64url.h"
#include "common/clock.h"
#include "common/json_file.h"

namespace baton::auth {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

// ---- Test helpers: key generation, JWK export and a JWS signer (not product code).

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey NewRsa() { return Pkey(EVP_RSA_gen(2048)); }
Pkey NewEc() { return Pkey(EVP_EC_gen("P-256")); }
Pkey NewEd25519() { return Pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

std::string BnBytes(const EVP_PKEY* key, const char* param, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(key, param, &bn), 1) << param;
  std::string out(pad_to > 0 ? pad_to : BN_num_bytes(bn), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

// The public JWK of `key` (RSA, EC P-256 or Ed25519).
json PublicJwk(const EVP_PKEY* key, const std::string& kid) {
  json jwk;
  if (!kid.empty()) jwk["kid"] = kid;
  if (EVP_PKEY_is_a(key, "RSA")) {
    jwk["kty"] = "RSA";
    jwk["n"] = Base64UrlEncode(BnBytes(key, OSSL_PKEY_PARAM_RSA_N));
    jwk["e"] = Base64UrlEncode(BnBytes(key, OSSL_PKEY_PARAM_RSA_E));
  } else if (EVP_PKEY_is_a(key, "EC")) {
    jwk["kty"] = "EC";
    jwk["crv"] = "P-256";
    jwk["x"] = Base64UrlEncode(BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_X, 32));
    jwk["y"] = Base64UrlEncode(BnBytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32));
  } else {
    unsigned char raw[32];
    size_t len = sizeof(raw);
    EXPECT_EQ(EVP_PKEY_get_raw_public_key(key, raw, &len), 1);
    jwk["kty"] = "OKP";
    jwk["crv"] = "Ed25519";
    jwk["x"] = Base64UrlEncode(std::string(reinterpret_cast<char*>(raw), len));
  }
  return jwk;
}

// A JWS signature of `input` as RFC 7518 writes it (ES256: raw R||S).
std::string SignBytes(EVP_PKEY* key, std::string_view input) {
  bool ed = EVP_PKEY_is_a(key, "ED25519");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, ed ? nullptr : EVP_sha256(), nullptr, key), 1);
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, in, input.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()), 1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (!EVP_PKEY_is_a(key, "EC")) return sig;
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(ecdsa);
  return raw;
}

std::string SigningInput(const json& header, const json& payload) {
  return Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload.dump());
}

std::string Sign(EVP_PKEY* key, const json& header, const json& payload) {
  std::string input = SigningInput(header, payload);
  return input + "." + Base64UrlEncode(SignBytes(key, input));
}

std::string TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "jwt_test_XXXXXX").string();
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

// ---- The suite: one RSA, one EC P-256 and one Ed25519 key in a JWKS file.

constexpr char kIssuer[] = "https://issuer.example";
constexpr char kAudience[] = "baton";

class JwtVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = NewRsa().release();
    rsa2_ = NewRsa().release();
    ec_ = NewEc().release();
    ed_ = NewEd25519().release();
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* k : {rsa_, rsa2_, ec_, ed_}) EVP_PKEY_free(k);
  }

  void SetUp() override {
    dir_ = TempDir();
    jwks_path_ = dir_ + "/jwks.json";
    WriteJwks({PublicJwk(rsa_, "rsa-1"), PublicJwk(ec_, "ec-1"), PublicJwk(ed_, "ed-1")});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void WriteJwks(const std::vector<json>& keys) { WriteFile(jwks_path_, json{{"keys", keys}}.dump()); }

  JwtConfig Config() {
    JwtConfig config;
    config.jwks_file = jwks_path_;
    config.issuer = kIssuer;
    config.audiences = {"other-service", kAudience};
    return config;
  }

  std::unique_ptr<JwtVerifier> Verifier() {
    auto v = JwtVerifier::Create(Config(), clock_);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : nullptr;
  }

  int64_t Now() const { return absl::ToUnixSeconds(clock_.Now()); }

  json Claims() const {
    return {{"iss", kIssuer},
            {"aud", kAudience},
            {"sub", "alice"},
            {"iat", Now()},
            {"exp", Now() + 600},
            {"baton_roles", {"operator", "reader"}},
            {"baton_namespaces", {"team-a", "team-b"}}};
  }

  static json Header(const std::string& alg, const std::string& kid) {
    json h = {{"alg", alg}, {"typ", "JWT"}};
    if (!kid.empty()) h["kid"] = kid;
    return h;
  }

  // Refused with UNAUTHENTICATED, a message naming `why`, and no part of the token.
  void ExpectRefused(const JwtVerifier& verifier, const std::string& token, const std::string& why) {
    absl::StatusOr<VerifiedToken> r = verifier.Verify(token);
    ASSERT_FALSE(r.ok()) << "accepted a token that should fail with: " << why;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
    std::string message(r.status().message());
    EXPECT_THAT(message, HasSubstr(why));
    for (absl::string_view part : absl::StrSplit(token, '.')) {
      if (part.size() >= 8) {
        EXPECT_THAT(message, Not(HasSubstr(std::string(part))));
      }
    }
  }

  static EVP_PKEY* rsa_;
  static EVP_PKEY* rsa2_;
  static EVP_PKEY* ec_;
  static EVP_PKEY* ed_;
  FakeClock clock_;
  std::string dir_;
  std::string jwks_path_;
};

EVP_PKEY* JwtVerifierTest::rsa_ = nullptr;
EVP_PKEY* JwtVerifierTest::rsa2_ = nullptr;
EVP_PKEY* JwtVerifierTest::ec_ = nullptr;
EVP_PKEY* JwtVerifierTest::ed_ = nullptr;

TEST_F(JwtVerifierTest, AcceptsEachAlgorithmAndReturnsTheBearersClaims) {
  auto verifier = Verifier();
  ASSERT_NE(verifier, nullptr);
  struct Case {
    EVP_PKEY* key;
    std::string alg, kid;
  };
  for (const Case& c : {Case{rsa_, "RS256", "rsa-1"}, Case{ec_, "ES256", "ec-1"}, Case{ed_, "EdDSA", "ed-1"},
                        Case{ed_, "Ed25519", "ed-1"}}) {
    SCOPED_TRACE(c.alg);
    absl::StatusOr<VerifiedToken> t = verifier->Verify(Sign(c.key, Header(c.alg, c.kid), Claims()));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->subject, "alice");
    EXPECT_THAT(t->roles, ::testing::ElementsAre("operator", "reader"));
    EXPECT_THAT(t->namespaces, ::testing::ElementsAre("team-a", "team-b"));
    EXPECT_EQ(t->expires_at, Now() + 600);
    EXPECT_EQ(t->key_id, c.kid);
  }
}

TEST_F(JwtVerifierTest, RolesMayBeASpaceSeparatedStringAndClaimsAreOptional) {
  auto verifier = Verifier();
  json claims = Claims();
  claims["baton_roles"] = "admin  reader";
  claims.erase("baton_namespaces");
  claims["aud"] = {"x", kAudience};
  auto t = verifier->Verify(Sign(ec_, Header("ES256", "ec-1"), claims));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->roles, ::testing::ElementsAre("admin", "reader"));
  EXPECT_TRUE(t->namespaces.empty());

  claims["baton_namespaces"] = "team-a";  // namespaces must be an array
  ExpectRefused(*verifier, Sign(ec_, Header("ES256", "ec-1"), claims), "baton_namespaces");
  claims["baton_namespaces"] = {"team-a", 7};
  ExpectRefused(*verifier, Sign(ec_, Header("ES256", "ec-1"), claims), "not a string");
}

TEST_F(JwtVerifierTest, TheClaimNamesComeFromTheConfig) {
  JwtConfig config = Config();
  config.roles_claim = "scope";
  config.namespaces_claim = "ns";
  auto verifier = JwtVerifier::Create(config, clock_);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  json claims = Claims();
  claims["scope"] = "reader";
  claims["ns"] = {"n1"};
  auto t = (*verifier)->Verify(Sign(rsa_, Header("RS256", "rsa-1"), claims));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->roles, ::testing::ElementsAre("reader"));
  EXPECT_THAT(t->namespaces, ::testing::ElementsAre("n1"));
}

TEST_F(JwtVerifierTest, ExpiredBeyondTheSkewIsRefusedWithinItAccepted) {
  auto verifier = Verifier();
  json claims = Claims();
  claims["exp"] = Now() - 30;  // expired 30 s ago, skew is 60 s
  EXPECT_TRUE(verifier->Verify(Sign(rsa_, Header("RS256", "rsa-1"), claims)).ok());
  claims["exp"] = Now() - 61;
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "expired");

  // The same token ages on the clock.
  std::string token = Sign(ed_, Header("EdDSA", "ed-1"), Claims());
  EXPECT_TRUE(verifier->Verify(token).ok());
  clock_.Advance(absl::Seconds(600 + 59));
  EXPECT_TRUE(verifier->Verify(token).ok());
  clock_.Advance(absl::Seconds(1));
  ExpectRefused(*verifier, token, "expired");
}

TEST_F(JwtVerifierTest, ExpIsRequiredAndMustBeANumericDate) {
  auto verifier = Verifier();
  json claims = Claims();
  claims.erase("exp");
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "exp missing");
  claims["exp"] = std::to_string(Now() + 600);
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "exp is not a number");
  claims["exp"] = 1e300;
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "out of range");
  claims["exp"] = static_cast<double>(Now()) + 600.5;  // fractional seconds are allowed
  EXPECT_TRUE(verifier->Verify(Sign(rsa_, Header("RS256", "rsa-1"), claims)).ok());
}

TEST_F(JwtVerifierTest, NotBeforeAndIssuedAtInTheFutureAreRefused) {
  auto verifier = Verifier();
  json claims = Claims();
  claims["nbf"] = Now() + 120;
  ExpectRefused(*verifier, Sign(ec_, Header("ES256", "ec-1"), claims), "not yet valid");
  claims["nbf"] = Now() + 30;  // within the skew
  EXPECT_TRUE(verifier->Verify(Sign(ec_, Header("ES256", "ec-1"), claims)).ok());
  claims["iat"] = Now() + 120;
  ExpectRefused(*verifier, Sign(ec_, Header("ES256", "ec-1"), claims), "issued in the future");
}

TEST_F(JwtVerifierTest, WrongAudienceOrIssuerIsRefused) {
  auto verifier = Verifier();
  json claims = Claims();
  claims["aud"] = "someone-else";
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "wrong audience");
  claims["aud"] = json::array({"a", "b"});
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "wrong audience");
  claims.erase("aud");
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "aud missing");

  claims = Claims();
  claims["iss"] = "https://evil.example";
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "wrong issuer");
  claims.erase("iss");
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "iss missing");

  claims = Claims();
  claims.erase("sub");
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-1"), claims), "sub missing");
}

TEST_F(JwtVerifierTest, TamperedPayloadOrSignatureIsRefused) {
  auto verifier = Verifier();
  struct Case {
    EVP_PKEY* key;
    std::string alg, kid;
  };
  for (const Case& c : {Case{rsa_, "RS256", "rsa-1"}, Case{ec_, "ES256", "ec-1"}, Case{ed_, "EdDSA", "ed-1"}}) {
    SCOPED_TRACE(c.alg);
    std::string token = Sign(c.key, Header(c.alg, c.kid), Claims());
    size_t second_dot = token.rfind('.');

    json admin = Claims();
    admin["baton_roles"] = {"admin"};
    std::string swapped = SigningInput(Header(c.alg, c.kid), admin) + token.substr(second_dot);
    ExpectRefused(*verifier, swapped, "bad signature");

    std::string signature = *Base64UrlDecode(token.substr(second_dot + 1));
    signature[signature.size() / 2] ^= 0x01;
    ExpectRefused(*verifier, token.substr(0, second_dot + 1) + Base64UrlEncode(signature), "bad signature");

    signature.pop_back();  // a short signature is refused too
    ExpectRefused(*verifier, token.substr(0, second_dot + 1) + Base64UrlEncode(signature), "bad signature");
  }
}

TEST_F(JwtVerifierTest, AlgNoneIsRefusedWithOrWithoutASignature) {
  auto verifier = Verifier();
  for (const std::string alg : {"none", "None", "NONE"}) {
    std::string unsigned_token = SigningInput(Header(alg, "rsa-1"), Claims());
    ExpectRefused(*verifier, unsigned_token + ".", "alg none");
    ExpectRefused(*verifier, unsigned_token, "alg none");
    ExpectRefused(*verifier, unsigned_token + "." + Base64UrlEncode(SignBytes(rsa_, unsigned_token)), "alg none");
    ExpectRefused(*verifier, SigningInput(Header(alg, ""), Claims()) + ".", "alg none");
  }
}

TEST_F(JwtVerifierTest, HmacSignedWithTheRsaPublicKeyIsRefused) {
  // The HS/RS confusion attack: a verifier that took the alg from the token would
  // use the (public) RSA key bytes as an HMAC secret.
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio, rsa_), 1);
  char* pem_data = nullptr;
  long pem_len = BIO_get_mem_data(bio, &pem_data);
  std::string pem(pem_data, static_cast<size_t>(pem_len));
  BIO_free(bio);
  auto verifier = Verifier();
  for (const std::string alg : {"HS256", "HS384", "HS512", "hs256"}) {
    for (const std::string kid : {"rsa-1", ""}) {
      std::string input = SigningInput(Header(alg, kid), Claims());
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_len = 0;
      HMAC(EVP_sha256(), pem.data(), static_cast<int>(pem.size()), reinterpret_cast<const unsigned char*>(input.data()),
           input.size(), mac, &mac_len);
      std::string token = input + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(mac), mac_len));
      ExpectRefused(*verifier, token, "HMAC");
    }
  }
}

TEST_F(JwtVerifierTest, UnknownKidOrAKeyOfAnotherTypeIsRefused) {
  auto verifier = Verifier();
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "rsa-9"), Claims()), "unknown kid \"rsa-9\"");
  // ES256 naming the RSA key, EdDSA naming the EC key, RS256 naming the Ed25519 key.
  ExpectRefused(*verifier, Sign(ec_, Header("ES256", "rsa-1"), Claims()), "cannot verify ES256");
  ExpectRefused(*verifier, Sign(ed_, Header("EdDSA", "ec-1"), Claims()), "cannot verify EdDSA");
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", "ed-1"), Claims()), "cannot verify RS256");
  ExpectRefused(*verifier, Sign(rsa_, Header("PS256", "rsa-1"), Claims()), "not supported");
  ExpectRefused(*verifier, Sign(ec_, Header("ES384", "ec-1"), Claims()), "not supported");
}

TEST_F(JwtVerifierTest, TheJwksAlgMustMatchTheTokenAlg) {
  json ed = PublicJwk(ed_, "ed-1");
  ed["alg"] = "EdDSA";
  json rsa = PublicJwk(rsa_, "rsa-1");
  rsa["alg"] = "RS256";
  WriteJwks({rsa, ed});
  auto verifier = Verifier();
  EXPECT_TRUE(verifier->Verify(Sign(rsa_, Header("RS256", "rsa-1"), Claims())).ok());
  EXPECT_TRUE(verifier->Verify(Sign(ed_, Header("EdDSA", "ed-1"), Claims())).ok());
  ExpectRefused(*verifier, Sign(ed_, Header("RS256", "ed-1"), Claims()), "cannot verify RS256");
}

TEST_F(JwtVerifierTest, WithoutKidTheOnlyKeyOfTheAlgFamilyIsUsed) {
  auto verifier = Verifier();
  auto t = verifier->Verify(Sign(ec_, Header("ES256", ""), Claims()));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->key_id, "ec-1");

  WriteJwks({PublicJwk(rsa_, "rsa-1"), PublicJwk(rsa2_, "rsa-2"), PublicJwk(ec_, "")});
  ASSERT_TRUE(verifier->Reload().ok());
  ExpectRefused(*verifier, Sign(rsa_, Header("RS256", ""), Claims()), "has no kid and the JWKS has 2 keys");
  ExpectRefused(*verifier, Sign(ed_, Header("EdDSA", ""), Claims()), "no key in the JWKS verifies EdDSA");
  t = verifier->Verify(Sign(ec_, Header("ES256", ""), Claims()));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->key_id, "");
}

TEST_F(JwtVerifierTest, MalformedTokensAreRefused) {
  auto verifier = Verifier();
  std::string good = Sign(rsa_, Header("RS256", "rsa-1"), Claims());
  ASSERT_TRUE(verifier->Verify(good).ok());
  size_t dot1 = good.find('.'), dot2 = good.rfind('.');
  std::string header = good.substr(0, dot1);
  std::string payload = good.substr(dot1 + 1, dot2 - dot1 - 1);
  std::string sig = good.substr(dot2 + 1);

  ExpectRefused(*verifier, "", "empty");
  ExpectRefused(*verifier, "abc", "three base64url parts");
  ExpectRefused(*verifier, good + ".x", "three base64url parts");
  ExpectRefused(*verifier, std::string(kMaxJwtBytes + 1, 'a'), "exceeds the limit");
  // Padding, the standard alphabet, whitespace: base64url is strict.
  std::string padded_header = Base64UrlEncode(R"({"alg":"RS256","kid":"rsa-1"})");
  ASSERT_NE(padded_header.size() % 4, 0u);
  padded_header += std::string(4 - padded_header.size() % 4, '=');
  ExpectRefused(*verifier, padded_header + "." + payload + "." + sig, "header is not base64url");
  ExpectRefused(*verifier, header + "." + payload + "=." + sig, "payload is not base64url");
  ExpectRefused(*verifier, header + "." + payload + "." + sig + "=", "signature is not base64url");
  std::string plus = payload;
  plus[3] = '+';
  ExpectRefused(*verifier, header + "." + plus + "." + sig, "payload is not base64url");
  ExpectRefused(*verifier, " " + good, "header is not base64url");
  // Headers that are not JSON objects.
  ExpectRefused(*verifier, Base64UrlEncode("{not json") + "." + payload + "." + sig, "header is not a JSON object");
  ExpectRefused(*verifier, Base64UrlEncode(R"(["RS256"])") + "." + payload + "." + sig, "header is not a JSON object");
  ExpectRefused(*verifier, Base64UrlEncode(R"({"kid":"rsa-1"})") + "." + payload + "." + sig, "no alg");
  ExpectRefused(*verifier, Base64UrlEncode(R"({"alg":"RS256","alg":"none"})") + "." + payload + "." + sig,
                "header is not a JSON object");
  json crit = Header("RS256", "rsa-1");
  crit["crit"] = {"b64"};
  ExpectRefused(*verifier, Sign(rsa_, crit, Claims()), "critical");
  // A payload that is signed but not a JSON object, or holds a claim twice.
  for (const std::string& bad : {std::string("[1,2]"), std::string("{\"sub\":"),
                                Claims().dump().insert(1, "\"sub\":\"root\",")}) {
    std::string input = Base64UrlEncode(Header("RS256", "rsa-1").dump()) + "." + Base64UrlEncode(bad);
    ExpectRefused(*verifier, input + "." + Base64UrlEncode(SignBytes(rsa_, input)), "payload is not a JSON object");
  }
}

TEST_F(JwtVerifierTest, ReloadPicksUpARotatedKeyAndDropsTheRemovedOne) {
  auto verifier = Verifier();
  std::string old_token = Sign(rsa_, Header("RS256", "rsa-1"), Claims());
  std::string new_token = Sign(rsa2_, Header("RS256", "rsa-2"), Claims());
  EXPECT_TRUE(verifier->Verify(old_token).ok());
  ExpectRefused(*verifier, new_token, "unknown kid");

  WriteJwks({PublicJwk(rsa2_, "rsa-2")});
  ASSERT_TRUE(verifier->Reload().ok());
  auto t = verifier->Verify(new_token);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->key_id, "rsa-2");
  ExpectRefused(*verifier, old_token, "unknown kid");

  // A bad file is an error and the keys stay as they were.
  WriteFile(jwks_path_, "{\"keys\": [");
  EXPECT_FALSE(verifier->Reload().ok());
  WriteFile(jwks_path_, R"({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})");
  EXPECT_FALSE(verifier->Reload().ok());
  std::filesystem::remove(jwks_path_);
  EXPECT_FALSE(verifier->Reload().ok());
  EXPECT_TRUE(verifier->Verify(new_token).ok());
}

TEST_F(JwtVerifierTest, VerifyRunsConcurrentlyWithReload) {
  auto verifier = Verifier();
  std::string token = Sign(ed_, Header("EdDSA", "ed-1"), Claims());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 200; ++j) {
        if (!verifier->Verify(token).ok()) ++failures;
      }
    });
  }
  for (int j = 0; j < 20; ++j) EXPECT_TRUE(verifier->Reload().ok());
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(JwtVerifierTest, CreateRefusesIncompleteConfigsAndUnusableKeys) {
  JwtConfig config = Config();
  config.issuer.clear();
  EXPECT_EQ(JwtVerifier::Create(config, clock_).status().code(), absl::StatusCode::kInvalidArgument);
  config = Config();
  config.audiences.clear();
  EXPECT_EQ(JwtVerifier::Create(config, clock_).status().code(), absl::StatusCode::kInvalidArgument);
  config = Config();
  config.clock_skew = absl::Seconds(-1);
  EXPECT_EQ(JwtVerifier::Create(config, clock_).status().code(), absl::StatusCode::kInvalidArgument);
  config = Config();
  config.jwks_file = dir_ + "/missing.json";
  EXPECT_EQ(JwtVerifier::Create(config, clock_).status().code(), absl::StatusCode::kNotFound);

  auto refused = [&](const json& key, const std::string& why) {
    WriteJwks({key});
    absl::Status s = JwtVerifier::Create(Config(), clock_).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << why;
    EXPECT_THAT(std::string(s.message()), HasSubstr(why));
  };
  refused(json{{"kty", "oct"}, {"k", "c2VjcmV0"}}, "no usable signature key");
  json enc = PublicJwk(rsa_, "rsa-enc");
  enc["use"] = "enc";
  refused(enc, "no usable signature key");
  json off_curve = PublicJwk(ec_, "ec-bad");
  std::string y = *Base64UrlDecode(off_curve["y"].get<std::string>());
  y[31] ^= 0x01;
  off_curve["y"] = Base64UrlEncode(y);
  refused(off_curve, "not on P-256");
  Pkey small(EVP_RSA_gen(1024));
  refused(PublicJwk(small.get(), "rsa-small"), "1024 bits");
  json padded = PublicJwk(ed_, "ed-pad");
  padded["x"] = padded["x"].get<std::string>() + "=";
  refused(padded, "not base64url");
  WriteJwks({PublicJwk(rsa_, "same"), PublicJwk(ec_, "same")});
  EXPECT_THAT(std::string(JwtVerifier::Create(Config(), clock_).status().message()), HasSubstr("duplicate kid"));

  // Unusable keys beside a usable one are skipped, not fatal.
  WriteJwks({json{{"kty", "oct"}, {"k", "c2VjcmV0"}}, enc, PublicJwk(ec_, "ec-1")});
  auto v = JwtVerifier::Create(Config(), clock_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE((*v)->Verify(Sign(ec_, Header("ES256", "ec-1"), Claims())).ok());
  ExpectRefused(**v, Sign(rsa_, Header("RS256", "rsa-enc"), Claims()), "unknown kid");
}

TEST(Base64UrlTest, RoundTripsAndDecodesStrictly) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\xfd"}) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(s)), s);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlDecode("Zm9v"), "foo");
  EXPECT_FALSE(Base64UrlDecode("Zm8=").has_value());   // padding
  EXPECT_EQ(Base64UrlDecode("Zm8"), "fo");
  EXPECT_FALSE(Base64UrlDecode("Zm9").has_value());    // non-zero unused bits
  EXPECT_FALSE(Base64UrlDecode("Zm9+").has_value());   // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm9 v").has_value());  // whitespace
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").has_value());  // 1 mod 4
  EXPECT_FALSE(Base64UrlDecode("Zm9=").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());     // non-zero unused bits ("Zg" is canonical)
  EXPECT_EQ(Base64UrlDecode("Zg"), "f");
}

// Tokens signed by jose (tests/common/jwt_jose_tokens.mjs), an independent JOSE
// implementation, verify here: the same base64url, JSON, ES256 R||S and JWK encoding.
TEST(JwtJoseCrossCheckTest, TokensSignedByJoseAreAccepted) {
  const char* source_dir = std::getenv("BATON_SOURCE_DIR");
  if (source_dir == nullptr) GTEST_SKIP() << "BATON_SOURCE_DIR not set (run through ctest)";
  std::string script = std::string(source_dir) + "/tests/common/jwt_jose_tokens.mjs";
  if (!std::filesystem::exists(std::string(source_dir) + "/tests/npm/node_modules/jose/package.json")) {
    GTEST_SKIP() << "jose is not installed in tests/npm (scripts/setup runs npm ci there)";
  }
  if (std::system("command -v node >/dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  FakeClock clock;
  std::string dir = TempDir();
  std::string out = dir + "/jose.json";
  std::string command =
      "node '" + script + "' '" + out + "' " + std::to_string(absl::ToUnixSeconds(clock.Now()));
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  absl::StatusOr<json> doc = ReadJsonFile(out);
  ASSERT_TRUE(doc.ok()) << doc.status();
  WriteFile(dir + "/jwks.json", (*doc)["jwks"].dump());

  JwtConfig config;
  config.jwks_file = dir + "/jwks.json";
  config.issuer = kIssuer;
  config.audiences = {kAudience};
  auto verifier = JwtVerifier::Create(config, clock);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  ASSERT_EQ((*doc)["tokens"].size(), 4u);
  for (const json& t : (*doc)["tokens"]) {
    std::string alg = t["alg"].get<std::string>();
    SCOPED_TRACE(alg);
    auto v = (*verifier)->Verify(t["token"].get<std::string>());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->subject, "subject-" + alg);
    EXPECT_EQ(v->key_id, t["kid"].get<std::string>());
    EXPECT_THAT(v->roles, ::testing::ElementsAre("operator"));
    EXPECT_THAT(v->namespaces, ::testing::ElementsAre("team-a"));
    EXPECT_EQ(v->expires_at, absl::ToUnixSeconds(clock.Now()) + 600);
  }
  // And jose's tokens expire here like ours.
  clock.Advance(absl::Seconds(600 + 60));
  EXPECT_EQ((*verifier)->Verify((*doc)["tokens"][0]["token"].get<std::string>()).status().code(),
            absl::StatusCode::kUnauthenticated);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace baton::auth
