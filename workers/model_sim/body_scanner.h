// Finds the top-level members of a request body and the bytes of each element of its
// "messages" without building JSON, so the simulator parses only the messages it has
// not seen (request_view.h). Pure.
#ifndef BATON_WORKERS_MODEL_SIM_BODY_SCANNER_H_
#define BATON_WORKERS_MODEL_SIM_BODY_SCANNER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace baton::model_sim {

struct BodyLayout {
  struct Member {
    std::string key;          // decoded
    absl::string_view value;  // the value's bytes, unparsed
  };
  std::vector<Member> members;  // in the body's order, "messages" included
  // Index in `members` of "messages" when its value is an array; its elements' bytes.
  std::optional<size_t> messages;
  std::vector<absl::string_view> message_elements;
};

// Where an element of a messages array lies, as offsets from the array's '['.
struct ElementSpan {
  size_t begin = 0;
  size_t end = 0;
};

// Told the bytes of a messages array from its '[' to the end of the body and the
// array's first two elements, the spans of its first elements whose bytes (and all
// bytes before them) are the same as in an array scanned before: the scan resumes after
// the last of them. Empty when it knows none.
using KnownElements = absl::FunctionRef<absl::Span<const ElementSpan>(
    absl::string_view from_bracket, absl::string_view first, absl::string_view second)>;

// The layout of `raw` when it is a JSON object with unique keys, checked only for its
// punctuation: each member value and message element still has to parse on its own
// (which makes the whole body valid JSON). nullopt for anything else (not an object,
// a byte-order mark, a duplicate key, broken punctuation): the caller then parses the
// whole body, which settles what it is.
//
// With `known`, a messages array of two or more elements is not scanned past what
// `known` answers for: a conversation's next request repeats the bytes of its last one
// up to the few messages whose breakpoints moved.
std::optional<BodyLayout> ScanBody(absl::string_view raw);
std::optional<BodyLayout> ScanBody(absl::string_view raw, KnownElements known);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_BODY_SCANNER_H_
