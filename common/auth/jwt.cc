#include "common/auth/jwt.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/auth/base64url.h"
#include "common/auth/jwk.h"
#include "common/status_macros.h"

namespace baton::auth {
namespace {

using json = nlohmann::json;

// Latest NumericDate accepted: 9999-12-31T23:59:59Z. Larger values are malformed,
// which also keeps the time arithmetic far from overflow.
constexpr double kMaxNumericDate = 253402300799.0;
// Attacker-chosen strings (kid, iss, aud) shown in errors are cut to this length.
constexpr size_t kMaxEchoedChars = 64;

absl::Status Refuse(absl::string_view why) { return absl::UnauthenticatedError(absl::StrCat("JWT: ", why)); }

// A claim or header value quoted for an error message: printable ASCII only, short.
// These are not secret (the signature is), but they are chosen by whoever sent the
// token and end up in logs.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == kMaxEchoedChars) {
      out += "...";
      break;
    }
    unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '?';
  }
  return out + "\"";
}

// Parses a JWS part as a JSON object, refusing duplicate member names: parsers that
// keep the first and parsers that keep the last would otherwise read different
// claims from the same token.
std::optional<json> ParseObject(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  bool duplicate = false;
  json::parser_callback_t track = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          duplicate = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  json doc = json::parse(text.begin(), text.end(), track, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || duplicate) return std::nullopt;
  return doc;
}

// The compact serialization split into its three parts.
struct Parts {
  std::string_view header, payload, signature;
  std::string_view signing_input;  // header "." payload, exactly as sent
};

std::optional<Parts> Split(std::string_view token) {
  size_t first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return std::nullopt;
  return Parts{token.substr(0, first), token.substr(first + 1, second - first - 1), token.substr(second + 1),
               token.substr(0, second)};
}

// The protected header, decoded and checked for what Baton accepts.
struct Header {
  std::string alg;
  std::optional<std::string> kid;
};

absl::StatusOr<json> DecodeHeaderJson(std::string_view part) {
  std::optional<std::string> bytes = Base64UrlDecode(part);
  if (!bytes) return Refuse("malformed: the header is not base64url");
  std::optional<json> header = ParseObject(*bytes);
  if (!header) return Refuse("malformed: the header is not a JSON object");
  return *std::move(header);
}

absl::Status CheckAlg(const json& header) {
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string()) return Refuse("malformed: the header has no alg");
  const std::string& name = alg->get_ref<const std::string&>();
  if (absl::EqualsIgnoreCase(name, "none")) return Refuse("alg none is refused: tokens must be signed");
  if (absl::StartsWithIgnoreCase(name, "HS")) {
    return Refuse(absl::StrCat("alg ", Quote(name), " is refused: HMAC algs are not accepted, only RS256, ES256, EdDSA"));
  }
  if (!KeyTypeForAlg(name)) return Refuse(absl::StrCat("alg ", Quote(name), " is not supported (RS256, ES256, EdDSA)"));
  return absl::OkStatus();
}

absl::StatusOr<Header> ParseHeader(std::string_view part) {
  ASSIGN_OR_RETURN(json header, DecodeHeaderJson(part));
  RETURN_IF_ERROR(CheckAlg(header));
  // RFC 7515 §4.1.11: extensions listed in crit must be understood; Baton knows none.
  if (header.contains("crit")) return Refuse("critical header extensions are not supported");
  Header out;
  out.alg = header["alg"].get<std::string>();
  if (auto kid = header.find("kid"); kid != header.end()) {
    if (!kid->is_string()) return Refuse("malformed: kid is not a string");
    out.kid = kid->get<std::string>();
  }
  // jwk, jku, x5u, x5c in the header are ignored: keys come only from the JWKS file.
  return out;
}

absl::StatusOr<const Jwk*> SelectKey(const JwkSet& keys, const Header& header) {
  if (header.kid) {
    const Jwk* key = keys.FindByKid(*header.kid);
    if (key == nullptr) return Refuse(absl::StrCat("unknown kid ", Quote(*header.kid)));
    if (!key->AcceptsAlg(header.alg)) {
      return Refuse(absl::StrCat("key ", Quote(*header.kid), " is ", std::string(KeyTypeName(key->type)),
                                 key->alg.empty() ? "" : absl::StrCat(" for ", key->alg), " and cannot verify ",
                                 header.alg));
    }
    return key;
  }
  std::vector<const Jwk*> candidates = keys.KeysForAlg(header.alg);
  if (candidates.size() == 1) return candidates.front();
  if (candidates.empty()) return Refuse(absl::StrCat("no key in the JWKS verifies ", header.alg));
  return Refuse(absl::StrCat("the token has no kid and the JWKS has ", candidates.size(), " keys for ", header.alg));
}

// A NumericDate claim (RFC 7519 §2): nullopt when absent.
absl::StatusOr<std::optional<absl::Time>> NumericDate(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (!it->is_number()) return Refuse(absl::StrCat("malformed: ", name, " is not a number"));
  if (it->is_number_integer()) {
    if (it->is_number_unsigned() ? it->get<uint64_t>() > kMaxNumericDate
                                 : it->get<int64_t>() < 0 || it->get<int64_t>() > kMaxNumericDate) {
      return Refuse(absl::StrCat("malformed: ", name, " is out of range"));
    }
    return absl::FromUnixSeconds(it->get<int64_t>());
  }
  double seconds = it->get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxNumericDate) {
    return Refuse(absl::StrCat("malformed: ", name, " is out of range"));
  }
  return absl::FromUnixMicros(std::llround(seconds * 1e6));
}

std::string Rfc3339(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

absl::Status CheckTimes(const json& claims, absl::Time now, absl::Duration skew, int64_t* expires_at) {
  ASSIGN_OR_RETURN(std::optional<absl::Time> exp, NumericDate(claims, "exp"));
  ASSIGN_OR_RETURN(std::optional<absl::Time> nbf, NumericDate(claims, "nbf"));
  ASSIGN_OR_RETURN(std::optional<absl::Time> iat, NumericDate(claims, "iat"));
  if (!exp) return Refuse("exp missing: tokens must expire");
  if (now >= *exp + skew) {
    return Refuse(absl::StrCat("expired at ", Rfc3339(*exp), " (now ", Rfc3339(now), ", skew ",
                               absl::FormatDuration(skew), ")"));
  }
  if (nbf && now + skew < *nbf) {
    return Refuse(absl::StrCat("not yet valid: nbf ", Rfc3339(*nbf), " (now ", Rfc3339(now), ", skew ",
                               absl::FormatDuration(skew), ")"));
  }
  if (iat && now + skew < *iat) {
    return Refuse(absl::StrCat("issued in the future: iat ", Rfc3339(*iat), " (now ", Rfc3339(now), ", skew ",
                               absl::FormatDuration(skew), ")"));
  }
  *expires_at = absl::ToUnixSeconds(*exp);
  return absl::OkStatus();
}

absl::Status CheckIssuerAndAudience(const json& claims, const JwtConfig& config) {
  auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string()) return Refuse("iss missing");
  if (iss->get_ref<const std::string&>() != config.issuer) {
    return Refuse(absl::StrCat("wrong issuer ", Quote(iss->get_ref<const std::string&>())));
  }
  auto aud = claims.find("aud");
  if (aud == claims.end()) return Refuse("aud missing");
  std::vector<std::string> audiences;
  if (aud->is_string()) {
    audiences.push_back(aud->get<std::string>());
  } else if (aud->is_array()) {
    for (const json& a : *aud) {
      if (!a.is_string()) return Refuse("malformed: aud holds a value that is not a string");
      audiences.push_back(a.get<std::string>());
    }
  } else {
    return Refuse("malformed: aud is neither a string nor an array");
  }
  for (const std::string& a : audiences) {
    for (const std::string& wanted : config.audiences) {
      if (a == wanted) return absl::OkStatus();
    }
  }
  std::vector<std::string> quoted;
  for (size_t i = 0; i < audiences.size() && i < 4; ++i) quoted.push_back(Quote(audiences[i]));
  return Refuse(absl::StrCat("wrong audience [", absl::StrJoin(quoted, ", "), audiences.size() > 4 ? ", ..." : "",
                             "]"));
}

// An array of strings, or (when `split_string`) one space-separated string.
absl::StatusOr<std::vector<std::string>> StringList(const json& claims, const std::string& name, bool split_string) {
  std::vector<std::string> out;
  auto it = claims.find(name);
  if (it == claims.end() || it->is_null()) return out;
  if (split_string && it->is_string()) {
    for (absl::string_view part : absl::StrSplit(it->get_ref<const std::string&>(), ' ', absl::SkipEmpty())) {
      out.emplace_back(part);
    }
    return out;
  }
  if (!it->is_array()) {
    return Refuse(absl::StrCat("malformed: ", Quote(name), split_string ? " is neither an array of strings nor a string"
                                                                        : " is not an array of strings"));
  }
  for (const json& v : *it) {
    if (!v.is_string()) return Refuse(absl::StrCat("malformed: ", Quote(name), " holds a value that is not a string"));
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(JwtConfig config, const Clock& clock) {
  if (config.jwks_file.empty()) return absl::InvalidArgumentError("JWT: jwks_file is required");
  if (config.issuer.empty()) return absl::InvalidArgumentError("JWT: issuer is required");
  if (config.audiences.empty()) return absl::InvalidArgumentError("JWT: at least one audience is required");
  for (const std::string& a : config.audiences) {
    if (a.empty()) return absl::InvalidArgumentError("JWT: an audience is empty");
  }
  if (config.clock_skew < absl::ZeroDuration()) return absl::InvalidArgumentError("JWT: clock_skew is negative");
  if (config.roles_claim.empty() || config.namespaces_claim.empty()) {
    return absl::InvalidArgumentError("JWT: roles_claim and namespaces_claim must name claims");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const JwkSet> keys, LoadJwksFile(config.jwks_file));
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(config), clock, std::move(keys)));
}

JwtVerifier::JwtVerifier(JwtConfig config, const Clock& clock, std::shared_ptr<const JwkSet> keys)
    : config_(std::move(config)), clock_(clock), keys_(std::move(keys)) {}

std::shared_ptr<const JwkSet> JwtVerifier::Keys() const {
  absl::ReaderMutexLock lock(&mu_);
  return keys_;
}

absl::Status JwtVerifier::Reload() {
  // Read and build outside the lock; only the swap is under it.
  ASSIGN_OR_RETURN(std::shared_ptr<const JwkSet> keys, LoadJwksFile(config_.jwks_file));
  absl::MutexLock lock(&mu_);
  keys_ = std::move(keys);
  return absl::OkStatus();
}

absl::StatusOr<VerifiedToken> JwtVerifier::Verify(std::string_view token) const {
  if (token.empty()) return Refuse("empty token");
  if (token.size() > kMaxJwtBytes) {
    return Refuse(absl::StrCat("token of ", token.size(), " bytes exceeds the limit of ", kMaxJwtBytes));
  }
  std::optional<Parts> parts = Split(token);
  if (!parts) {
    // "header.payload" is how some libraries write an unsigned token: say so.
    if (std::count(token.begin(), token.end(), '.') == 1) {
      absl::StatusOr<json> header = DecodeHeaderJson(token.substr(0, token.find('.')));
      if (header.ok()) RETURN_IF_ERROR(CheckAlg(*header));
    }
    return Refuse("malformed: expected three base64url parts separated by dots");
  }
  ASSIGN_OR_RETURN(Header header, ParseHeader(parts->header));
  std::optional<std::string> payload = Base64UrlDecode(parts->payload);
  if (!payload) return Refuse("malformed: the payload is not base64url");
  std::optional<std::string> signature = Base64UrlDecode(parts->signature);
  if (!signature) return Refuse("malformed: the signature is not base64url");
  if (signature->empty()) return Refuse("signature missing");

  std::shared_ptr<const JwkSet> keys = Keys();
  ASSIGN_OR_RETURN(const Jwk* key, SelectKey(*keys, header));
  if (absl::Status s = key->VerifySignature(header.alg, parts->signing_input, *signature); !s.ok()) {
    return Refuse(s.message());
  }

  // Only now, with the signature good, are the claims read.
  std::optional<json> claims = ParseObject(*payload);
  if (!claims) return Refuse("malformed: the payload is not a JSON object");
  VerifiedToken out;
  RETURN_IF_ERROR(CheckTimes(*claims, clock_.Now(), config_.clock_skew, &out.expires_at));
  RETURN_IF_ERROR(CheckIssuerAndAudience(*claims, config_));
  auto sub = claims->find("sub");
  if (sub == claims->end() || !sub->is_string() || sub->get_ref<const std::string&>().empty()) {
    return Refuse("sub missing");
  }
  out.subject = sub->get<std::string>();
  ASSIGN_OR_RETURN(out.roles, StringList(*claims, config_.roles_claim, /*split_string=*/true));
  ASSIGN_OR_RETURN(out.namespaces, StringList(*claims, config_.namespaces_claim, /*split_string=*/false));
  out.key_id = key->kid;
  return out;
}

}  // namespace baton::auth
