#include "common/tracing/trace_context.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace baton::tracing {
namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::string RandomHex(size_t bytes) {
  // One generator per thread, seeded from the OS: ids of concurrent runs never share
  // a generator's state, and no lock is taken.
  thread_local std::mt19937_64 generator([] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }());
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.clear();
    for (size_t i = 0; i < bytes; i += 8) {
      uint64_t word = generator();
      for (size_t j = 0; j < 8 && i + j < bytes; ++j, word >>= 8) {
        out.push_back(kDigits[(word >> 4) & 0xf]);
        out.push_back(kDigits[word & 0xf]);
      }
    }
  } while (!IsValidId(out, bytes * 2));
  return out;
}

}  // namespace

bool IsValidId(absl::string_view id, size_t length) {
  if (id.size() != length) return false;
  bool nonzero = false;
  for (char c : id) {
    if (!IsLowerHex(c)) return false;
    nonzero = nonzero || c != '0';
  }
  return nonzero;
}

absl::StatusOr<SpanContext> ParseTraceparent(absl::string_view header) {
  // version(2) - trace-id(32) - parent-id(16) - flags(2): 55 characters.
  constexpr size_t kLength = 55;
  if (header.size() < kLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", header, "\" is not a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)"));
  }
  const absl::string_view version = header.substr(0, 2);
  if (!IsLowerHex(version[0]) || !IsLowerHex(version[1]) || version == "ff") {
    return absl::InvalidArgumentError(absl::StrCat("version \"", version, "\" is not valid"));
  }
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", header, "\" is not a W3C traceparent (00-<32 hex trace id>-<16 hex span id>-<2 hex flags>)"));
  }
  // Version 00 has exactly four fields; a later one may append more after a dash.
  if (header.size() > kLength && (version == "00" || header[kLength] != '-')) {
    return absl::InvalidArgumentError(absl::StrCat("\"", header, "\" has extra characters after the flags"));
  }
  SpanContext context;
  context.trace_id = std::string(header.substr(3, 32));
  context.span_id = std::string(header.substr(36, 16));
  const absl::string_view flags = header.substr(53, 2);
  if (!IsValidId(context.trace_id, 32)) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace id \"", context.trace_id, "\" must be 32 lowercase hex digits, not all zero"));
  }
  if (!IsValidId(context.span_id, 16)) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent id \"", context.span_id, "\" must be 16 lowercase hex digits, not all zero"));
  }
  if (!IsLowerHex(flags[0]) || !IsLowerHex(flags[1])) {
    return absl::InvalidArgumentError(absl::StrCat("flags \"", flags, "\" must be 2 lowercase hex digits"));
  }
  const int low = flags[1] <= '9' ? flags[1] - '0' : flags[1] - 'a' + 10;
  context.sampled = (low & 1) != 0;
  return context;
}

namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
}

// A simple key: a lowercase letter, then up to 255 key characters. As the tenant of a
// multi-tenant key a digit may come first too, and 241 characters at most.
bool IsKeyPart(absl::string_view part, size_t max, bool digit_first) {
  if (part.empty() || part.size() > max) return false;
  const char first = part[0];
  if (!((first >= 'a' && first <= 'z') || (digit_first && first >= '0' && first <= '9'))) return false;
  for (char c : part.substr(1)) {
    if (!IsKeyChar(c)) return false;
  }
  return true;
}

bool IsValidKey(absl::string_view key) {
  const size_t at = key.find('@');
  if (at == absl::string_view::npos) return IsKeyPart(key, 256, false);
  return IsKeyPart(key.substr(0, at), 241, true) && IsKeyPart(key.substr(at + 1), 14, false);
}

bool IsValidValue(absl::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> ParseTracestate(absl::string_view header) {
  constexpr size_t kMaxMembers = 32;
  std::string out;
  std::vector<absl::string_view> keys;
  size_t index = 0;
  for (absl::string_view member : absl::StrSplit(header, ',')) {
    ++index;
    member = absl::StripAsciiWhitespace(member);
    if (member.empty()) continue;
    const size_t eq = member.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("member ", index, " \"", member, "\" is not key=value"));
    }
    const absl::string_view key = member.substr(0, eq);
    if (!IsValidKey(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", index, ": key \"", key,
          "\" must be a lowercase letter then up to 255 of [a-z0-9_*/-], or tenant@system"));
    }
    if (!IsValidValue(member.substr(eq + 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "member ", index, " (", key,
          "): the value must be 1 to 256 printable ASCII characters other than ',' and '=', not ending in a space"));
    }
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      return absl::InvalidArgumentError(absl::StrCat("key \"", key, "\" appears twice"));
    }
    keys.push_back(key);
    if (keys.size() > kMaxMembers) {
      return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxMembers, " members"));
    }
    if (!out.empty()) out.push_back(',');
    out.append(member.data(), member.size());
  }
  return out;
}

std::string FormatTraceparent(const SpanContext& context) {
  return absl::StrCat("00-", context.trace_id, "-", context.span_id, context.sampled ? "-01" : "-00");
}

std::string NewTraceId() { return RandomHex(16); }
std::string NewSpanId() { return RandomHex(8); }

}  // namespace baton::tracing
