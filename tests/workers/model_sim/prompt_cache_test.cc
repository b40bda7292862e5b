#include "workers/model_sim/prompt_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace baton::model_sim {
namespace {

// A prefix counts ceil(size / 4) tokens of its blocks as the cache spells them: the
// place ("tool:", "user0:") and the block as JSON with its keys sorted, without
// cache_control; the same blocks written in another key order are the same prefix.
TEST(PromptCacheTest, APrefixCountsItsBlocksWithSortedKeysWithoutCacheControl) {
  const Json body = Json::parse(R"({
    "model": "m",
    "messages": [{"role": "user", "content": [
      {"type": "text", "text": "héllo \"quoted\"", "cache_control": {"type": "ephemeral"}},
      {"type": "tool_result", "tool_use_id": "t1", "is_error": false, "content": [{"type": "text", "text": "x", "z": 1.5, "a": [3, {"b": null, "a": true}]}],
       "cache_control": {"ttl": "1h", "type": "ephemeral"}}]}]})");
  // What the cache spelled before: dump, parse into sorted maps, drop cache_control, dump.
  auto canonical = [](const Json& block) {
    nlohmann::json sorted = nlohmann::json::parse(block.dump());
    sorted.erase("cache_control");
    return sorted.dump();
  };
  const Json& content = body["messages"][0]["content"];
  const size_t first = std::string("user0:").size() + canonical(content[0]).size();
  const size_t both = first + std::string("user0:").size() + canonical(content[1]).size();
  PromptCache cache;
  CacheUsage usage = cache.Apply(body, 1'000'000);
  EXPECT_EQ(usage.breakpoints, 2);
  EXPECT_EQ(usage.write_5m, static_cast<int64_t>((first + 3) / 4));
  EXPECT_EQ(usage.write_1h, static_cast<int64_t>((both + 3) / 4 - (first + 3) / 4));

  // The same blocks with their keys in another order read the whole prefix.
  const Json reordered = Json::parse(R"({
    "model": "m",
    "messages": [{"role": "user", "content": [
      {"cache_control": {"type": "ephemeral"}, "text": "héllo \"quoted\"", "type": "text"},
      {"content": [{"a": [3, {"a": true, "b": null}], "z": 1.5, "text": "x", "type": "text"}], "is_error": false,
       "tool_use_id": "t1", "type": "tool_result", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]})");
  EXPECT_EQ(cache.Apply(reordered, 1'000'000).read, static_cast<int64_t>((both + 3) / 4));
}

}  // namespace
}  // namespace baton::model_sim
