// Finds the top-level members of a request body and the bytes of each element of its
// "messages" without building JSON, so the simulator parses only the messages it has
// not seen (request_view.h). Pure.
#ifndef BATON_WORKERS_MODEL_SIM_BODY_SCANNER_H_
#define BATON_WORKERS_MODEL_SIM_BODY_SCANNER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

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

// The layout of `raw` when it is a JSON object with unique keys, checked only for its
// punctuation: each member value and message element still has to parse on its own
// (which makes the whole body valid JSON). nullopt for anything else (not an object,
// a byte-order mark, a duplicate key, broken punctuation): the caller then parses the
// whole body, which settles what it is.
std::optional<BodyLayout> ScanBody(absl::string_view raw);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_BODY_SCANNER_H_
