// JSON text to nlohmann::json and back, with the results of nlohmann's own parse and
// compact dump, faster for what model answers, requests and journal records hold.
//
// Why: nlohmann's lexer keeps every byte it reads twice (the token's text for error
// messages, and the value) one push_back at a time, and its dump decodes every byte of
// every string; parsing the model's answer was a sixth of the worker's instructions per
// step, and serializing the request's new messages another fifteenth. Here a string's
// bytes between escapes are copied in one append, both ways.
#ifndef BATON_COMMON_JSON_CODEC_H_
#define BATON_COMMON_JSON_CODEC_H_

#include <optional>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"

namespace baton {

// `text` parsed as nlohmann::json::parse(text) parses it: the same tree, value types
// included (a non-negative integer is unsigned, a negative one signed). nullopt for
// what it leaves to nlohmann: invalid JSON, numbers with a fraction or an exponent or
// of 19 digits and more, a byte-order mark, nesting deeper than 128.
std::optional<nlohmann::json> ParseJsonFast(std::string_view text);

// What a Messages API content's JSON text holds for its reader: whether its top value
// is an array, and its text (a string's value; an array's blocks whose last "type"
// member is "text" and whose last "text" member is a string, joined by newlines).
struct ContentTextScan {
  bool is_array = false;
  std::string text;
};
// `text` read as ParseJsonFast reads it, without building the tree: nullopt where
// ParseJsonFast gives nullopt (invalid JSON, and what it leaves to nlohmann).
std::optional<ContentTextScan> ScanContentTextFast(std::string_view text);

// nlohmann::json::parse(text, nullptr, false): the tree, or a discarded value when
// `text` is not JSON. Tries ParseJsonFast first.
nlohmann::json ParseJson(std::string_view text);

// value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace): the same bytes
// (compact, keys in the tree's order, non-ASCII as it is, an invalid UTF-8 byte
// replaced with U+FFFD). Strings that are not valid UTF-8, floats and binary values
// are written by nlohmann.
std::string DumpJson(const nlohmann::json& value);
void AppendJson(std::string& out, const nlohmann::json& value);

}  // namespace baton

#endif  // BATON_COMMON_JSON_CODEC_H_
