// ParseJson must give the tree nlohmann::json::parse gives, value types included, for
// every input: what the fast path takes, and what it leaves to nlohmann; DumpJson the
// bytes of nlohmann's compact dump with invalid UTF-8 replaced.
// tests/fuzz/json_codec_fuzz.cc checks both on arbitrary bytes.
#include "common/json_codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/common/json_trees.h"

namespace baton {
namespace {

using json = nlohmann::json;

using json_testing::SameTree;

json Nlohmann(const std::string& text) { return json::parse(text, nullptr, false); }

TEST(JsonCodecTest, TakesWhatAnswersHoldAndBuildsNlohmannsTree) {
  const std::vector<std::string> texts = {
      // A Messages API answer, as the simulator and the API send it.
      R"({"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[)"
      R"({"type":"text","text":"Let me check.\n\"Quoted\" \\ and a tab\there"},)"
      R"({"type":"tool_use","id":"toolu_01","name":"echo","input":{"text":"hi","n":[1,-2,0,-0]}}],)"
      R"("stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":1024,"output_tokens":57,)"
      R"("cache_creation_input_tokens":0,"cache_read_input_tokens":900,)"
      R"("cache_creation":{"ephemeral_5m_input_tokens":0}}})",
      // A stream event.
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})",
      // UTF-8 of every length, and escapes of it.
      "{\"t\":\"caf\xC3\xA9 \xE2\x80\x94 \xE2\x82\xAC \xF0\x9F\x98\x80 \xEF\xBF\xBD \xED\x9F\xBF \xF4\x8F\xBF\xBF\"}",
      R"({"t":"\u00e9\u2014\ud83d\ude00\u0000\u001f\/\b\f\r\u0041"})",
      // Scalars at the top, space around, empty containers, nesting.
      "  42 ", "-7", "0", "-0", "true", "false", "null", "\"\"", "[]", "{}", " [ [ [ ] ] , { } ] ",
      R"({"a":{"b":{"c":[[1],[2,[3,{"d":null}]]]}}})",
      // Integers up to 18 digits, signed and not.
      "999999999999999999", "-999999999999999999", "[123456789012345678, -1]",
      // Duplicate keys: the last wins.
      R"({"k":1,"k":{"x":true},"k":"last"})", R"({"k":[1,2],"k":[3]})",
  };
  for (const std::string& text : texts) {
    std::optional<json> fast = ParseJsonFast(text);
    ASSERT_TRUE(fast.has_value()) << text;
    const json want = Nlohmann(text);
    ASSERT_FALSE(want.is_discarded()) << text;
    EXPECT_TRUE(SameTree(*fast, want)) << text << "\n" << fast->dump() << "\n" << want.dump();
    EXPECT_TRUE(SameTree(ParseJson(text), want)) << text;
  }
}

TEST(JsonCodecTest, LeavesTheRestToNlohmannWhichSettlesIt) {
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "[";
  for (int i = 0; i < 200; ++i) deep += "]";
  const std::vector<std::string> left = {
      // Valid JSON the fast path does not take: floats, long integers, a BOM, depth.
      "1.5", "-0.0", "1e3", "2E-2", R"({"x":3.25})", "1234567890123456789", "18446744073709551616",
      "-9223372036854775809", "\xEF\xBB\xBF{}", deep,
      // Not JSON: each is discarded, as nlohmann discards it.
      "", " ", "{", "}", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "01", "-", "+1", "1x",
      "tru", "truex", "nul", "\"abc", "\"a\\x\"", "\"a\\u12\"", "\"a\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"",
      "\"\\ud800\\u0041\"", "\"a\nb\"", "\"\x01\"", "\"\xC0\x80\"", "\"\xC3\"", "\"\xE0\x80\x80\"",
      "\"\xED\xA0\x80\"", "\"\xF5\x80\x80\x80\"", "\"\xF4\x90\x80\x80\"", "\"\x80\"", "[1] [2]", "{} x",
      "/* c */ 1", std::string("[1]\0", 4),
  };
  for (const std::string& text : left) {
    EXPECT_FALSE(ParseJsonFast(text).has_value()) << text;
    const json want = Nlohmann(text);
    const json got = ParseJson(text);
    EXPECT_EQ(got.is_discarded(), want.is_discarded()) << text;
    if (!want.is_discarded()) EXPECT_TRUE(SameTree(got, want)) << text;
  }
}

std::string NlohmannDump(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

TEST(JsonCodecTest, DumpsTheBytesNlohmannDumps) {
  std::vector<json> values = {
      nullptr, true, false, 0, -0, 42u, -7, json::number_unsigned_t{18446744073709551615u},
      json::number_integer_t{-9223372036854775807 - 1}, 1.5, -0.0, 1e100, 0.1, json::object(), json::array(),
      "", "plain", "quote \" backslash \\ slash / tab \t nl \n cr \r ff \f bs \b",
      std::string("nul \0 one \x01 us \x1f del \x7f", 22), "caf\xC3\xA9 \xE2\x80\x94 \xF0\x9F\x98\x80",
      // Not UTF-8: bytes nlohmann replaces with U+FFFD.
      "bad \xC3 end", "\xFF\xFE", "cut \xE2\x80", "\xED\xA0\x80 surrogate", "ok \xC3\xA9 \x80 then \xF0\x9F\x98",
      json::binary({1, 2, 3}),
  };
  json tree = json::parse(R"({"b":[1,{"z":null,"a":"x"}],"a":{"k":[[],{}]},"c":-3,"d":2.25})");
  tree["bad \xC3 key"] = "v";
  values.push_back(tree);
  values.push_back(json::array({tree, "\xC3", 1.0}));
  for (const json& v : values) EXPECT_EQ(DumpJson(v), NlohmannDump(v)) << NlohmannDump(v);
  std::string out = "prefix:";
  AppendJson(out, tree);
  EXPECT_EQ(out, "prefix:" + NlohmannDump(tree));
}

}  // namespace
}  // namespace baton
