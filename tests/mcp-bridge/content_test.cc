#include "mcp-bridge/content.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::mcp {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

TEST(ContentTest, TextImageAndPdfMapToMessagesApiBlocks) {
  json result = {{"content",
                  {{{"type", "text"}, {"text", "hi"}},
                   {{"type", "image"}, {"data", "iVBORw0K"}, {"mimeType", "image/png"}},
                   {{"type", "resource"},
                    {"resource", {{"uri", "file:///a.pdf"}, {"mimeType", "application/pdf"}, {"blob", "JVBERi0x"}}}}}}};
  MappedResult m = MapCallToolResult(result);
  EXPECT_FALSE(m.is_error);
  ASSERT_EQ(m.content.size(), 3u);
  EXPECT_EQ(m.content[0], json({{"type", "text"}, {"text", "hi"}}));
  EXPECT_EQ(m.content[1]["type"], "image");
  EXPECT_EQ(m.content[1]["source"], json({{"type", "base64"}, {"media_type", "image/png"}, {"data", "iVBORw0K"}}));
  EXPECT_EQ(m.content[2]["type"], "document");
  EXPECT_EQ(m.content[2]["source"]["media_type"], "application/pdf");
}

TEST(ContentTest, AudioLinksAndTextResourcesBecomeReadableText) {
  json result = {{"content",
                  {{{"type", "audio"}, {"data", std::string(400, 'A')}, {"mimeType", "audio/wav"}},
                   {{"type", "resource_link"}, {"uri", "file:///x.txt"}, {"name", "x.txt"}, {"mimeType", "text/plain"}},
                   {{"type", "resource"}, {"resource", {{"uri", "mem://note"}, {"text", "body"}}}}}}};
  MappedResult m = MapCallToolResult(result);
  ASSERT_EQ(m.content.size(), 3u);
  for (const json& b : m.content) EXPECT_EQ(b["type"], "text");
  EXPECT_THAT(m.content[0]["text"].get<std::string>(), HasSubstr("audio/wav"));
  EXPECT_THAT(m.content[1]["text"].get<std::string>(), HasSubstr("file:///x.txt"));
  EXPECT_THAT(m.content[2]["text"].get<std::string>(), HasSubstr("mem://note"));
  EXPECT_THAT(m.content[2]["text"].get<std::string>(), HasSubstr("body"));
}

TEST(ContentTest, StructuredContentIsShownOnceAndKept) {
  json sc = {{"temperature", 22}};
  MappedResult dup = MapCallToolResult({{"content", {{{"type", "text"}, {"text", sc.dump()}}}}, {"structuredContent", sc}});
  EXPECT_EQ(dup.content.size(), 1u);
  EXPECT_EQ(dup.structured_content, sc);
  // server-filesystem's way: the text in words, the same data structured.
  MappedResult words = MapCallToolResult(
      {{"content", {{{"type", "text"}, {"text", "a,b\n1,2"}}}}, {"structuredContent", {{"content", "a,b\n1,2"}}}});
  EXPECT_EQ(words.content.size(), 1u);
  EXPECT_TRUE(words.structured_content.is_object());
  MappedResult only = MapCallToolResult({{"content", json::array()}, {"structuredContent", sc}});
  ASSERT_EQ(only.content.size(), 1u);
  EXPECT_EQ(json::parse(only.content[0]["text"].get<std::string>()), sc);
}

TEST(ContentTest, IsErrorAndEmptyResults) {
  MappedResult e = MapCallToolResult({{"content", {{{"type", "text"}, {"text", "boom"}}}}, {"isError", true}});
  EXPECT_TRUE(e.is_error);
  MappedResult empty = MapCallToolResult({{"content", json::array()}});
  EXPECT_EQ(empty.content.size(), 1u);
  MappedResult bad = MapCallToolResult(json("nope"));
  EXPECT_TRUE(bad.is_error);
}

TEST(ContentTest, OversizedContentIsCutWithAVisibleMarker) {
  json content = json::array({{{"type", "text"}, {"text", std::string(10'000, 'x')}},
                              {{"type", "image"}, {"source", {{"data", std::string(5000, 'A')}}}}});
  EXPECT_TRUE(CapContentSize(content, 2000));
  EXPECT_LE(content.dump().size(), 2000u);
  ASSERT_EQ(content.size(), 2u);
  EXPECT_GT(content[0]["text"].get<std::string>().size(), 1000u);
  EXPECT_THAT(content[1]["text"].get<std::string>(), HasSubstr("[truncated"));
  EXPECT_THAT(content[1]["text"].get<std::string>(), HasSubstr("1 content block(s) left out"));
}

TEST(ContentTest, CuttingKeepsUtf8Whole) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "\xC3\xA9";  // é
  json content = json::array({{{"type", "text"}, {"text", text}}});
  EXPECT_TRUE(CapContentSize(content, 1000));
  // A cut in the middle of a character would make dump() throw on invalid UTF-8.
  EXPECT_NO_THROW(content.dump());
  EXPECT_EQ(content[0]["text"].get<std::string>().size() % 2, 0u);
}

TEST(ContentTest, SmallContentIsLeftAlone) {
  json content = TextContent("short");
  json before = content;
  EXPECT_FALSE(CapContentSize(content, 1000));
  EXPECT_EQ(content, before);
}

}  // namespace
}  // namespace baton::mcp
