#include "common/json_codec.h"

#include <charconv>
#include <cstdint>
#include <string>
#include <utility>

#include "common/json_text.h"

namespace baton {
namespace {

using json = nlohmann::json;

// Deeper documents go to nlohmann, whose parser keeps its own stack: this one recurses.
constexpr int kMaxDepth = 128;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The value of a hex digit, or -1.
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  explicit Parser(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool Value(json& out, int depth) {
    SkipSpace();
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        return depth < kMaxDepth && Object(out, depth);
      case '[':
        return depth < kMaxDepth && Array(out, depth);
      case '"': {
        ++p_;
        std::string s;
        if (!String</*kKeep=*/true>(&s)) return false;
        out = std::move(s);
        return true;
      }
      case 't':
        if (!Literal("true")) return false;
        out = true;
        return true;
      case 'f':
        if (!Literal("false")) return false;
        out = false;
        return true;
      case 'n':
        if (!Literal("null")) return false;
        out = nullptr;
        return true;
      default:
        return Number(out);
    }
  }

  bool AtEnd() {
    SkipSpace();
    return p_ == end_;
  }

  // Reads a value as Value does, without building it.
  bool Skip(int depth) {
    SkipSpace();
    if (p_ == end_) return false;
    switch (*p_) {
      case '{':
        if (depth >= kMaxDepth) return false;
        ++p_;
        if (Eat('}')) return true;
        do {
          if (!Eat('"') || !String</*kKeep=*/false>(nullptr) || !Eat(':') || !Skip(depth + 1)) return false;
        } while (Eat(','));
        return Eat('}');
      case '[':
        if (depth >= kMaxDepth) return false;
        ++p_;
        if (Eat(']')) return true;
        do {
          if (!Skip(depth + 1)) return false;
        } while (Eat(','));
        return Eat(']');
      case '"':
        ++p_;
        return String</*kKeep=*/false>(nullptr);
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default: {
        json number;
        return Number(number);
      }
    }
  }

  // A Messages API content (ContentTextScan): a string, or an array whose objects are
  // blocks; anything else is read through.
  bool Content(ContentTextScan* out) {
    SkipSpace();
    if (p_ == end_) return false;
    if (*p_ == '"') {
      ++p_;
      return String</*kKeep=*/true>(&out->text);
    }
    if (*p_ != '[') return Skip(0);
    out->is_array = true;
    ++p_;
    if (Eat(']')) return true;
    do {
      SkipSpace();
      if (p_ < end_ && *p_ == '{') {
        if (!Block(&out->text)) return false;
      } else if (!Skip(1)) {
        return false;
      }
    } while (Eat(','));
    return Eat(']');
  }

 private:
  void SkipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  // Consumes `c` after any space; false when the next byte is another.
  bool Eat(char c) {
    SkipSpace();
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  bool Object(json& out, int depth) {
    ++p_;  // '{'
    out = json::object();
    json::object_t& object = *out.get_ptr<json::object_t*>();
    if (Eat('}')) return true;
    std::string key;
    do {
      if (!Eat('"')) return false;
      key.clear();
      if (!String</*kKeep=*/true>(&key) || !Eat(':')) return false;
      // The last of duplicate keys wins, as with nlohmann.
      if (!Value(object[key], depth + 1)) return false;
    } while (Eat(','));
    return Eat('}');
  }

  // An object in a content array: its text joins `text` when its last "type" member is
  // the string "text" and its last "text" member is a string.
  bool Block(std::string* text) {
    ++p_;  // '{'
    bool type_is_text = false;
    std::optional<std::string> block_text;
    if (!Eat('}')) {
      std::string key;
      do {
        if (!Eat('"')) return false;
        key.clear();
        if (!String</*kKeep=*/true>(&key) || !Eat(':')) return false;
        SkipSpace();
        const bool is_string = p_ < end_ && *p_ == '"';
        if (is_string && (key == "type" || key == "text")) {
          ++p_;
          std::string value;
          if (!String</*kKeep=*/true>(&value)) return false;
          if (key == "type") {
            type_is_text = value == "text";
          } else {
            block_text = std::move(value);
          }
          continue;
        }
        if (key == "type") type_is_text = false;
        if (key == "text") block_text.reset();
        if (!Skip(2)) return false;
      } while (Eat(','));
      if (!Eat('}')) return false;
    }
    if (type_is_text && block_text.has_value()) {
      if (!text->empty()) *text += '\n';
      *text += *block_text;
    }
    return true;
  }

  bool Array(json& out, int depth) {
    ++p_;  // '['
    out = json::array();
    json::array_t& array = *out.get_ptr<json::array_t*>();
    if (Eat(']')) return true;
    do {
      if (!Value(array.emplace_back(), depth + 1)) return false;
    } while (Eat(','));
    return Eat(']');
  }

  // After the opening quote: through the closing quote, the string's bytes unescaped
  // and appended to *out when kKeep (else only checked).
  template <bool kKeep>
  bool String(std::string* out) {
    std::string escaped;  // an escape's bytes when they are not kept
    while (true) {
      const char* run = p_;
      while (p_ < end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++p_;
      }
      if constexpr (kKeep) out->append(run, static_cast<size_t>(p_ - run));
      if (p_ == end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;  // a control character must be escaped
      if (c == '\\') {
        ++p_;
        if (!Escape(kKeep ? *out : escaped)) return false;
        escaped.clear();
        continue;
      }
      const size_t n = Utf8SequenceLength(std::string_view(p_, static_cast<size_t>(end_ - p_)));
      if (n == 0) return false;
      if constexpr (kKeep) out->append(p_, n);
      p_ += n;
    }
  }

  // After a backslash: the escape, appended to `out` as UTF-8.
  bool Escape(std::string& out) {
    if (p_ == end_) return false;
    switch (*p_++) {
      case '"': out += '"'; return true;
      case '\\': out += '\\'; return true;
      case '/': out += '/'; return true;
      case 'b': out += '\b'; return true;
      case 'f': out += '\f'; return true;
      case 'n': out += '\n'; return true;
      case 'r': out += '\r'; return true;
      case 't': out += '\t'; return true;
      case 'u': break;
      default: return false;
    }
    int cp = Hex4();
    if (cp < 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return false;  // a low surrogate alone
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      // A high surrogate, which must be followed by a low one.
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
      p_ += 2;
      const int low = Hex4();
      if (low < 0xDC00 || low > 0xDFFF) return false;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(out, static_cast<uint32_t>(cp));
    return true;
  }

  // Four hex digits as a number, or -1.
  int Hex4() {
    if (end_ - p_ < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = HexValue(p_[i]);
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    p_ += 4;
    return v;
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  // An integer of at most 18 digits (which no integer type overflows at); a fraction,
  // an exponent or more digits are nlohmann's to read.
  bool Number(json& out) {
    const bool negative = *p_ == '-';
    if (negative) ++p_;
    const char* digits = p_;
    if (p_ == end_ || !IsDigit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    if (p_ - digits > 18) return false;
    uint64_t v = 0;
    for (const char* d = digits; d < p_; ++d) v = v * 10 + static_cast<uint64_t>(*d - '0');
    if (negative) {
      out = -static_cast<int64_t>(v);
    } else {
      out = v;
    }
    return true;
  }

  const char* p_;
  const char* const end_;
};

bool IsValidUtf8(const std::string& s) {
  const char* p = s.data();
  const char* const end = p + s.size();
  while (p < end) {
    if (static_cast<unsigned char>(*p) < 0x80) {
      ++p;
      continue;
    }
    const size_t n = Utf8SequenceLength(std::string_view(p, static_cast<size_t>(end - p)));
    if (n == 0) return false;
    p += n;
  }
  return true;
}

// nlohmann's escaping without ensure_ascii: `"`, `\` and the control characters.
void AppendString(std::string& out, const std::string& s) {
  if (!IsValidUtf8(s)) {
    out += json(s).dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  const char* run = s.data();
  const char* const end = run + s.size();
  for (const char* p = run; p < end; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(run, static_cast<size_t>(p - run));
    run = p + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default: {
        const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(escape, sizeof(escape));
      }
    }
  }
  out.append(run, static_cast<size_t>(end - run));
  out += '"';
}

template <typename Integer>
void AppendInteger(std::string& out, Integer v) {
  char buffer[24];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof(buffer), v);
  out.append(buffer, static_cast<size_t>(r.ptr - buffer));
}

}  // namespace

std::optional<nlohmann::json> ParseJsonFast(std::string_view text) {
  Parser parser(text);
  json out;
  if (!parser.Value(out, 0) || !parser.AtEnd()) return std::nullopt;
  return out;
}

std::optional<ContentTextScan> ScanContentTextFast(std::string_view text) {
  Parser parser(text);
  ContentTextScan out;
  if (!parser.Content(&out) || !parser.AtEnd()) return std::nullopt;
  return out;
}

nlohmann::json ParseJson(std::string_view text) {
  if (std::optional<nlohmann::json> fast = ParseJsonFast(text)) return *std::move(fast);
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

void AppendJson(std::string& out, const nlohmann::json& value) {
  switch (value.type()) {
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::boolean:
      out += *value.get_ptr<const json::boolean_t*>() ? "true" : "false";
      return;
    case json::value_t::number_integer:
      AppendInteger(out, *value.get_ptr<const json::number_integer_t*>());
      return;
    case json::value_t::number_unsigned:
      AppendInteger(out, *value.get_ptr<const json::number_unsigned_t*>());
      return;
    case json::value_t::string:
      AppendString(out, *value.get_ptr<const json::string_t*>());
      return;
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const json& element : *value.get_ptr<const json::array_t*>()) {
        if (!first) out += ',';
        first = false;
        AppendJson(out, element);
      }
      out += ']';
      return;
    }
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : *value.get_ptr<const json::object_t*>()) {
        if (!first) out += ',';
        first = false;
        AppendString(out, key);
        out += ':';
        AppendJson(out, member);
      }
      out += '}';
      return;
    }
    default:  // floats, binary, discarded
      out += value.dump(-1, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
  }
}

std::string DumpJson(const nlohmann::json& value) {
  std::string out;
  AppendJson(out, value);
  return out;
}

}  // namespace baton
