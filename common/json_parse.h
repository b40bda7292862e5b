// JSON text parsed into nlohmann::json, faster than nlohmann's own parser for what
// model answers, stream events and journal records hold.
//
// Why: nlohmann's lexer keeps every byte it reads twice (the token's text for error
// messages, and the value) one push_back at a time; parsing the model's answer was a
// sixth of the worker's instructions per step. This parser copies a string's bytes
// between escapes in one append, and builds the same tree.
#ifndef BATON_COMMON_JSON_PARSE_H_
#define BATON_COMMON_JSON_PARSE_H_

#include <optional>
#include <string_view>

#include "nlohmann/json.hpp"

namespace baton {

// `text` parsed as nlohmann::json::parse(text) parses it: the same tree, value types
// included (a non-negative integer is unsigned, a negative one signed). nullopt for
// what it leaves to nlohmann: invalid JSON, numbers with a fraction or an exponent or
// of 19 digits and more, a byte-order mark, nesting deeper than 128.
std::optional<nlohmann::json> ParseJsonFast(std::string_view text);

// nlohmann::json::parse(text, nullptr, false): the tree, or a discarded value when
// `text` is not JSON. Tries ParseJsonFast first.
nlohmann::json ParseJson(std::string_view text);

}  // namespace baton

#endif  // BATON_COMMON_JSON_PARSE_H_
