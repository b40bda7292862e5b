// JSON text written directly, for the hot paths that would otherwise build a JSON
// tree only to dump it (OTLP spans, the tool audit log).
#ifndef BATON_COMMON_JSON_TEXT_H_
#define BATON_COMMON_JSON_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace baton {

// Appends `s` as a JSON string (quoted, escaped) to `out`. `s` may hold bytes from a
// model or a tool that are not UTF-8: each byte that starts no well-formed sequence
// becomes U+FFFD, so the text stays valid JSON rather than failing whoever reads it.
void AppendJsonString(std::string& out, std::string_view s);

// The length of the well-formed UTF-8 sequence of two or more bytes at the start of
// `s` (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF), or 0.
size_t Utf8SequenceLength(std::string_view s);

}  // namespace baton

#endif  // BATON_COMMON_JSON_TEXT_H_
