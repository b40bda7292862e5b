// Prompt caching: where the agent loop puts cache_control breakpoints. Pure.
#ifndef BATON_WORKERS_PROMPT_CACHE_H_
#define BATON_WORKERS_PROMPT_CACHE_H_

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace baton::worker {

// The API accepts at most this many cache_control blocks per request.
inline constexpr int kMaxCacheBreakpoints = 4;

// Adds breakpoints `{"type":"ephemeral"}` (with `"ttl":"1h"` when ttl is "1h") to a
// Messages API request, in prefix order tools → system → messages:
//   1. the last tool;
//   2. the system prompt (a string becomes one text block);
//   3. the last block of the message that ended the previous step's request
//      (messages[previous_messages - 1]), so this request reads what that one wrote even
//      when more than 20 blocks were added since (the API looks back only 20 blocks);
//   4. the last block of the last message, so the next step reads this whole prefix.
// Blocks that cannot carry cache_control (thinking, redacted_thinking, empty text) are
// skipped in favour of the block before them in the same message. Existing
// cache_control fields are left alone and count towards the limit of 4.
void AddCacheBreakpoints(nlohmann::json& request, const std::string& ttl, size_t previous_messages);

// The number of cache_control fields in a request (tools, system, messages).
int CountCacheBreakpoints(const nlohmann::json& request);

// The parts of AddCacheBreakpoints, for a request built piece by piece
// (workers/request_builder.h) that must place the same breakpoints.
// The cache_control value of `ttl`.
nlohmann::json CacheControl(const std::string& ttl);
// The cache_control fields among `blocks` (a content array, the system blocks, the
// tools); 0 when it is not an array.
int CountCacheBreakpointsIn(const nlohmann::json& blocks);
// Marks the last block of `message` that can carry a breakpoint (a string content
// becomes one text block); false, changing nothing, when none can or it has one.
bool MarkMessage(nlohmann::json& message, const nlohmann::json& cc);
// Marks the system prompt (a string becomes one text block); false when it cannot.
bool MarkSystem(nlohmann::json& system, const nlohmann::json& cc);
// Marks the last tool; false when there is none or it has one.
bool MarkTools(nlohmann::json& tools, const nlohmann::json& cc);

}  // namespace baton::worker

#endif  // BATON_WORKERS_PROMPT_CACHE_H_
