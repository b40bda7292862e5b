// What the simulator derives from one message of a request given the messages before
// it, kept with the message between requests (request_view.h). Plain structs; the
// functions filling them live with their users: CheckMessage (validation.h),
// MessageUnits and CheckCacheControl (prompt_cache.h), AgentFactsOf (default_agent.h).
#ifndef BATON_WORKERS_MODEL_SIM_MESSAGE_FACTS_H_
#define BATON_WORKERS_MODEL_SIM_MESSAGE_FACTS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "workers/model_sim/wire.h"

namespace baton::model_sim {

// The API's rules for cache_control: at most 4 blocks carry it; each is
// {"type":"ephemeral"} with an optional "ttl" of "5m" or "1h"; a 1h breakpoint may not
// follow a 5m one. Checked block by block in prefix order (tools, system, messages),
// the state carried from one list to the next (and kept with each message, so a
// conversation's next request checks only its new messages).
struct CacheControlState {
  int count = 0;
  bool seen_5m = false;
  std::optional<ApiError> error;  // the first one; nothing is checked after it
};

// A block of a request's prefix as the cache keeps it: the hash and size of the
// prefix through it, and its breakpoint's TTL when it has one.
struct PrefixUnit {
  uint64_t hash = 0;
  size_t chars = 0;
  std::optional<std::string> ttl;
};
// Where a prefix stands: its hash and size so far, and how many units it holds.
struct PrefixEnd {
  uint64_t hash = 0;
  size_t chars = 0;
  size_t units = 0;
};

// The checks of a message that depend only on it and the messages before it, kept with
// the message (request_view.h) so that a conversation's next request checks only its
// new messages. Checks run in the API's order: every message's shape, then tool
// pairing message by message, and cache_control after the other members.
struct MessageChecks {
  std::optional<ApiError> shape;          // as a message that is not the last
  std::optional<ApiError> shape_if_last;  // as the last one (which may be an empty assistant turn)
  std::optional<ApiError> first_shape;    // the first `shape` of messages[0..index]
  // The first tool-pairing error of messages[0..index]: each user turn's tool_results
  // against the turn before, each assistant turn's tool_uses against the turn after
  // (not yet for this message's, whose next turn is unknown).
  std::optional<ApiError> first_pairing;
  CacheControlState cache_control;        // after this message's blocks
};

// What the agent reads from one message and the messages before it, kept with the
// message (request_view.h) so that a reply reads only the conversation's new messages.
struct AgentFacts {
  std::vector<std::pair<std::string, std::string>> tool_uses;  // (id, name) of its tool_use blocks
  std::vector<std::string> summaries;  // its tool results, e.g. "echo returned hello"
  int results_through = 0;             // tool results in messages[0..index]
  bool answered_through = false;       // a respond call got a result that is no error, in [0..index]
  std::optional<size_t> last_user;     // the last user message in [0..index]
};

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_MESSAGE_FACTS_H_
