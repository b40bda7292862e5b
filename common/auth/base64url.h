// Base64url (RFC 4648 §5) without padding, as JOSE uses it (RFC 7515 §2).
#ifndef BATON_COMMON_AUTH_BASE64URL_H_
#define BATON_COMMON_AUTH_BASE64URL_H_

#include <optional>
#include <string>
#include <string_view>

namespace baton::auth {

// Encodes without '=' padding.
std::string Base64UrlEncode(std::string_view bytes);

// Strict decoding: only [A-Za-z0-9_-], no padding, no whitespace, a length that
// encodes whole bytes (not 1 mod 4) and zero unused trailing bits, so that every byte
// string has exactly one accepted encoding. nullopt on anything else.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace baton::auth

#endif  // BATON_COMMON_AUTH_BASE64URL_H_
