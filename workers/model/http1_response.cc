#include "workers/model/http1_response.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace baton::worker {
namespace {

bool IsSpaceOrTab(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpaceOrTab(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpaceOrTab(s.back())) s.remove_suffix(1);
  return s;
}

absl::string_view AsAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Whether the comma-separated `list` (a Connection header's value) holds `token`.
bool HasToken(std::string_view list, absl::string_view token) {
  for (absl::string_view part : absl::StrSplit(AsAbsl(list), ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(part), token)) return true;
  }
  return false;
}

absl::Status Malformed(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("malformed HTTP response: ", what));
}

// What a line says about itself in an error: its first bytes, with what cannot print
// escaped.
std::string Quote(std::string_view line) {
  constexpr size_t kShown = 40;
  std::string out = "\"";
  for (char c : line.substr(0, kShown)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  if (line.size() > kShown) out += "...";
  return out + "\"";
}

}  // namespace

absl::Status Http1ResponseParser::Feed(std::string_view bytes) {
  if (!bytes.empty()) started_ = true;
  while (!bytes.empty()) {
    switch (state_) {
      case State::kComplete:
        keep_alive_ = false;  // the server sent more than one response's bytes
        return absl::OkStatus();
      case State::kBodyUntilClose:
        return handler_.OnBody(bytes);
      case State::kBodyLength:
      case State::kChunkData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
        RETURN_IF_ERROR(handler_.OnBody(bytes.substr(0, n)));
        bytes.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = state_ == State::kBodyLength ? State::kComplete : State::kChunkDataEnd;
        }
        break;
      }
      default: {  // a line: of the head, or a chunk's size, its CRLF or a trailer
        const size_t newline = bytes.find('\n');
        const size_t take = newline == std::string_view::npos ? bytes.size() : newline + 1;
        head_bytes_ += take;
        if (head_bytes_ > kMaxHeadBytes) {
          return Malformed(absl::StrCat(state_ == State::kStatusLine || state_ == State::kHeaders
                                            ? "head"
                                            : "chunk framing",
                                        " longer than ", kMaxHeadBytes, " bytes"));
        }
        line_.append(bytes.data(), take);
        bytes.remove_prefix(take);
        if (newline == std::string_view::npos) break;
        std::string_view line = line_;
        line.remove_suffix(1);  // '\n'
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        RETURN_IF_ERROR(OnLine(line));
        line_.clear();
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Http1ResponseParser::FinishAtClose() {
  switch (state_) {
    case State::kComplete:
      return absl::OkStatus();
    case State::kBodyUntilClose:
      state_ = State::kComplete;
      keep_alive_ = false;
      return absl::OkStatus();
    case State::kStatusLine:
      return absl::UnavailableError(started_ ? "connection closed in the HTTP response's status line"
                                             : "connection closed before an HTTP response");
    case State::kHeaders:
      return absl::UnavailableError("connection closed in the HTTP response's headers");
    case State::kBodyLength:
      return absl::UnavailableError(
          absl::StrCat("connection closed ", remaining_, " bytes before the HTTP response's end"));
    default:
      return absl::UnavailableError("connection closed in the HTTP response's chunked body");
  }
}

absl::Status Http1ResponseParser::OnLine(std::string_view line) {
  switch (state_) {
    case State::kStatusLine:
      // A client ignores empty lines before a status line (RFC 9112, section 2.2).
      return line.empty() ? absl::OkStatus() : OnStatusLine(line);
    case State::kHeaders:
      return line.empty() ? OnHeadEnd() : OnHeaderLine(line);
    case State::kChunkSize:
      return OnChunkSizeLine(line);
    case State::kChunkDataEnd:
      if (!line.empty()) return Malformed(absl::StrCat("chunk data followed by ", Quote(line)));
      head_bytes_ = 0;
      state_ = State::kChunkSize;
      return absl::OkStatus();
    case State::kTrailers:
      if (line.empty()) state_ = State::kComplete;  // trailer fields are not used
      return absl::OkStatus();
    default:
      return absl::InternalError("HTTP response parser: a line in a body state");
  }
}

absl::Status Http1ResponseParser::OnStatusLine(std::string_view line) {
  // HTTP-version SP 3DIGIT [SP reason-phrase]
  constexpr std::string_view kPrefix = "HTTP/1.";
  if (line.size() < 12 || line.substr(0, kPrefix.size()) != kPrefix || line[7] < '0' ||
      line[7] > '9' || line[8] != ' ' || (line.size() > 12 && line[12] != ' ')) {
    return Malformed(absl::StrCat("status line ", Quote(line)));
  }
  int status = 0;
  for (char c : line.substr(9, 3)) {
    if (c < '0' || c > '9') return Malformed(absl::StrCat("status line ", Quote(line)));
    status = status * 10 + (c - '0');
  }
  if (status < 100) return Malformed(absl::StrCat("status line ", Quote(line)));
  status_ = status;
  minor_version_ = line[7] - '0';
  headers_.clear();
  connection_close_ = false;
  has_content_length_ = false;
  content_length_ = 0;
  transfer_encoding_.clear();
  state_ = State::kHeaders;
  return absl::OkStatus();
}

absl::Status Http1ResponseParser::OnHeaderLine(std::string_view line) {
  if (IsSpaceOrTab(line.front())) {
    return Malformed(absl::StrCat("folded header line ", Quote(line)));
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0 || IsSpaceOrTab(line[colon - 1])) {
    return Malformed(absl::StrCat("header line ", Quote(line)));
  }
  std::string name = absl::AsciiStrToLower(AsAbsl(line.substr(0, colon)));
  const std::string_view value = Trim(line.substr(colon + 1));
  if (name == "content-length") {
    uint64_t length = 0;
    // At most 18 digits: no overflow, and far beyond any body this client reads.
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Malformed(absl::StrCat("Content-Length ", Quote(value)));
    }
    for (char c : value) length = length * 10 + static_cast<uint64_t>(c - '0');
    if (has_content_length_ && length != content_length_) {
      return Malformed("two different Content-Length headers");
    }
    has_content_length_ = true;
    content_length_ = length;
  } else if (name == "connection") {
    connection_close_ = connection_close_ || HasToken(value, "close");
  } else if (name == "transfer-encoding") {
    if (!transfer_encoding_.empty()) transfer_encoding_ += ", ";
    transfer_encoding_ += value;
  }
  headers_[std::move(name)] = std::string(value);
  return absl::OkStatus();
}

absl::Status Http1ResponseParser::OnHeadEnd() {
  head_bytes_ = 0;
  if (status_ < 200) {
    if (status_ == 101) return Malformed("101 Switching Protocols to a request that asked for none");
    state_ = State::kStatusLine;  // an interim response: the final one follows
    return absl::OkStatus();
  }
  keep_alive_ = minor_version_ >= 1 && !connection_close_;
  if (status_ == 204 || status_ == 304) {
    state_ = State::kComplete;
  } else if (!transfer_encoding_.empty()) {
    // Only chunked is read: this client asks for no other coding.
    if (!absl::EqualsIgnoreCase(AsAbsl(Trim(transfer_encoding_)), "chunked")) {
      return Malformed(absl::StrCat("unsupported Transfer-Encoding ", Quote(transfer_encoding_)));
    }
    // With Content-Length as well, the message may be an attempt at request smuggling:
    // chunked wins, and the connection is not used again (RFC 9112, section 6.3).
    if (has_content_length_) keep_alive_ = false;
    state_ = State::kChunkSize;
  } else if (has_content_length_) {
    remaining_ = content_length_;
    state_ = remaining_ == 0 ? State::kComplete : State::kBodyLength;
  } else {
    keep_alive_ = false;
    state_ = State::kBodyUntilClose;
  }
  head_done_ = true;  // status() tells it from here on, as the handler is told
  return handler_.OnHead(status_, std::move(headers_));
}

absl::Status Http1ResponseParser::OnChunkSizeLine(std::string_view line) {
  // chunk-size [; chunk-ext]: the extensions are not used.
  const std::string_view digits = Trim(line.substr(0, line.find(';')));
  // At most 15 hex digits: no overflow.
  if (digits.empty() || digits.size() > 15) return Malformed(absl::StrCat("chunk size line ", Quote(line)));
  uint64_t size = 0;
  for (char c : digits) {
    const char lower = absl::ascii_tolower(static_cast<unsigned char>(c));
    int digit;
    if (lower >= '0' && lower <= '9') {
      digit = lower - '0';
    } else if (lower >= 'a' && lower <= 'f') {
      digit = lower - 'a' + 10;
    } else {
      return Malformed(absl::StrCat("chunk size line ", Quote(line)));
    }
    size = size * 16 + static_cast<uint64_t>(digit);
  }
  head_bytes_ = 0;
  if (size == 0) {
    state_ = State::kTrailers;
  } else {
    remaining_ = size;
    state_ = State::kChunkData;
  }
  return absl::OkStatus();
}

}  // namespace baton::worker
