#include "workers/model_sim/body_scanner.h"

#include <cstring>

#include "workers/model_sim/wire.h"

namespace baton::model_sim {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Scanner {
 public:
  explicit Scanner(absl::string_view s) : s_(s) {}

  void SkipSpace() {
    while (at_ < s_.size() && IsSpace(s_[at_])) ++at_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (at_ >= s_.size() || s_[at_] != c) return false;
    ++at_;
    return true;
  }
  bool Peek(char c) {
    SkipSpace();
    return at_ < s_.size() && s_[at_] == c;
  }
  bool AtEnd() {
    SkipSpace();
    return at_ == s_.size();
  }
  size_t at() const { return at_; }
  void JumpTo(size_t at) { at_ = at; }

  // The bytes of the value starting here: a string, or an object or array up to its
  // matching bracket (strings inside skipped), or a literal up to the next delimiter.
  // Only the extent is found; the value is checked when it is parsed.
  std::optional<absl::string_view> Value() {
    SkipSpace();
    if (at_ >= s_.size()) return std::nullopt;
    const size_t start = at_;
    const char c = s_[at_];
    if (c == '"') {
      if (!SkipString()) return std::nullopt;
    } else if (c == '{' || c == '[') {
      int depth = 0;
      do {
        if (at_ >= s_.size()) return std::nullopt;
        const char d = s_[at_];
        if (d == '"') {
          if (!SkipString()) return std::nullopt;
          continue;
        }
        if (d == '{' || d == '[') ++depth;
        if (d == '}' || d == ']') --depth;
        ++at_;
      } while (depth > 0);
    } else {
      while (at_ < s_.size() && !IsSpace(s_[at_]) && s_[at_] != ',' && s_[at_] != '}' && s_[at_] != ']') ++at_;
      if (at_ == start) return std::nullopt;
    }
    return s_.substr(start, at_ - start);
  }

 private:
  bool SkipString() {
    ++at_;  // the opening quote
    // Most of a body is string bytes: jump from quote to quote, then count the
    // backslashes before it (an odd number escapes it).
    while (at_ < s_.size()) {
      const void* quote = std::memchr(s_.data() + at_, '"', s_.size() - at_);
      if (quote == nullptr) return false;
      const size_t q = static_cast<size_t>(static_cast<const char*>(quote) - s_.data());
      size_t backslashes = 0;
      while (q - backslashes > at_ && s_[q - backslashes - 1] == '\\') ++backslashes;
      at_ = q + 1;
      if (backslashes % 2 == 0) return true;
    }
    return false;
  }

  absl::string_view s_;
  size_t at_ = 0;
};

// The elements of the messages array that starts at the scanner's '[' (at `bracket`
// in `raw`), into `layout`; the scanner is left after its ']'.
bool ScanElements(Scanner& scan, absl::string_view raw, const KnownElements* known, BodyLayout& layout) {
  const size_t bracket = scan.at();
  std::vector<absl::string_view>& elements = layout.message_elements;
  scan.Eat('[');
  if (scan.Eat(']')) return true;
  do {
    std::optional<absl::string_view> element = scan.Value();
    if (!element) return false;
    elements.push_back(*element);
    if (elements.size() != 2 || known == nullptr) continue;
    const absl::Span<const ElementSpan> spans = (*known)(raw.substr(bracket), elements[0], elements[1]);
    if (spans.size() <= 2) continue;
    for (size_t i = 2; i < spans.size(); ++i) {
      elements.push_back(raw.substr(bracket + spans[i].begin, spans[i].end - spans[i].begin));
    }
    scan.JumpTo(bracket + spans.back().end);
  } while (scan.Eat(','));
  return scan.Eat(']');
}

std::optional<BodyLayout> Scan(absl::string_view raw, const KnownElements* known) {
  Scanner scan(raw);
  if (!scan.Eat('{')) return std::nullopt;
  BodyLayout layout;
  if (!scan.Eat('}')) {
    do {
      if (!scan.Peek('"')) return std::nullopt;
      std::optional<absl::string_view> key = scan.Value();
      if (!key) return std::nullopt;
      // Parsed as JSON: escapes decoded, control characters and bad UTF-8 refused.
      Json decoded = Json::parse(key->begin(), key->end(), nullptr, false);
      if (!decoded.is_string() || !scan.Eat(':')) return std::nullopt;
      std::string name = decoded.get<std::string>();
      std::optional<absl::string_view> value;
      if (name == "messages" && scan.Peek('[')) {
        // The parser keeps the last of duplicate keys: leave that to it.
        if (layout.messages) return std::nullopt;
        const size_t start = scan.at();
        if (!ScanElements(scan, raw, known, layout)) return std::nullopt;
        layout.messages = layout.members.size();
        value = raw.substr(start, scan.at() - start);
      } else {
        value = scan.Value();
      }
      if (!value) return std::nullopt;
      layout.members.push_back(BodyLayout::Member{std::move(name), *value});
    } while (scan.Eat(','));
    if (!scan.Eat('}')) return std::nullopt;
  }
  if (!scan.AtEnd()) return std::nullopt;

  for (size_t i = 0; i < layout.members.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      // The parser keeps the last of duplicate keys: leave that to it.
      if (layout.members[j].key == layout.members[i].key) return std::nullopt;
    }
  }
  return layout;
}

}  // namespace

std::optional<BodyLayout> ScanBody(absl::string_view raw) { return Scan(raw, nullptr); }

std::optional<BodyLayout> ScanBody(absl::string_view raw, KnownElements known) { return Scan(raw, &known); }

}  // namespace baton::model_sim
