#include "orchestrator/page_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace baton::orchestrator {
namespace {

// Token layout, before base64url: a format byte, the cursor, then the first 16 bytes
// of HMAC-SHA256(key, listing | scope | cursor), each length-prefixed.
constexpr char kFormatV1 = 0x01;
constexpr size_t kMacBytes = 16;
constexpr size_t kMinKeyBytes = 32;

absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

void AppendField(std::string* out, std::string_view field) {
  const uint64_t size = field.size();
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((size >> shift) & 0xff));
  out->append(field);
}

}  // namespace

std::string PageScope(std::initializer_list<std::string_view> fields) {
  std::string scope;
  for (std::string_view field : fields) AppendField(&scope, field);
  return scope;
}

PageTokens::PageTokens(std::string key) : key_(std::move(key)) {
  BATON_CHECK(key_.size() >= kMinKeyBytes) << "page token key too short";
}

std::string PageTokens::Mac(std::string_view listing, std::string_view scope, std::string_view cursor) const {
  std::string message;
  AppendField(&message, listing);
  AppendField(&message, scope);
  AppendField(&message, cursor);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  BATON_CHECK(HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
                   reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_size) != nullptr)
      << "HMAC-SHA256 failed";
  return std::string(reinterpret_cast<const char*>(mac), kMacBytes);
}

std::string PageTokens::Seal(std::string_view listing, std::string_view scope, std::string_view cursor) const {
  if (cursor.empty()) return "";
  std::string raw;
  raw.reserve(1 + cursor.size() + kMacBytes);
  raw.push_back(kFormatV1);
  raw.append(cursor);
  raw.append(Mac(listing, scope, cursor));
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<std::string> PageTokens::Open(std::string_view listing, std::string_view scope,
                                             std::string_view token) const {
  if (token.empty()) return std::string();
  const absl::Status refused = absl::InvalidArgumentError(absl::StrCat(
      "page_token: not a token that ", Sv(listing),
      " returned for this namespace and filter (pass the next_page_token of the previous page, with the same "
      "request)"));
  std::string raw;
  if (!absl::WebSafeBase64Unescape(Sv(token), &raw) || raw.size() < 1 + 1 + kMacBytes || raw.front() != kFormatV1) {
    return refused;
  }
  const std::string_view cursor = std::string_view(raw).substr(1, raw.size() - 1 - kMacBytes);
  const std::string expected = Mac(listing, scope, cursor);
  if (CRYPTO_memcmp(expected.data(), raw.data() + raw.size() - kMacBytes, kMacBytes) != 0) return refused;
  return std::string(cursor);
}

}  // namespace baton::orchestrator
