#include "workers/model/sse_parser.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::worker {

// Found by argument-dependent lookup, so it lives in SseEvent's namespace.
void PrintTo(const SseEvent& e, std::ostream* os) {
  *os << "{event=" << e.event << " data=" << ::testing::PrintToString(e.data)
      << " id=" << e.id << " retry=" << (e.retry ? std::to_string(*e.retry) : "none") << "}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

SseEvent Event(std::string event, std::string data, std::string id = "",
               std::optional<int64_t> retry = std::nullopt) {
  SseEvent e;
  e.event = std::move(event);
  e.data = std::move(data);
  e.id = std::move(id);
  e.retry = retry;
  return e;
}

std::vector<SseEvent> ParseAll(std::string_view stream) {
  SseParser parser;
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.Feed(stream, &events).ok());
  return events;
}

TEST(SseParserTest, ParsesNamedEvent) {
  EXPECT_THAT(ParseAll("event: message_start\ndata: {\"type\":\"message_start\"}\n\n"),
              ElementsAre(Event("message_start", "{\"type\":\"message_start\"}")));
}

TEST(SseParserTest, EventWithoutNameIsMessage) {
  EXPECT_THAT(ParseAll("data: hello\n\n"), ElementsAre(Event("message", "hello")));
}

TEST(SseParserTest, JoinsMultipleDataLinesWithNewline) {
  EXPECT_THAT(ParseAll("data: first\ndata: second\ndata:\ndata: third\n\n"),
              ElementsAre(Event("message", "first\nsecond\n\nthird")));
}

TEST(SseParserTest, AcceptsCrLfAndCrLineEndings) {
  const std::vector<SseEvent> expected = {Event("a", "1"), Event("b", "2")};
  EXPECT_EQ(ParseAll("event: a\r\ndata: 1\r\n\r\nevent: b\r\ndata: 2\r\n\r\n"), expected);
  EXPECT_EQ(ParseAll("event: a\rdata: 1\r\revent: b\rdata: 2\r\r"), expected);
  EXPECT_EQ(ParseAll("event: a\ndata: 1\r\n\revent: b\rdata: 2\n\n"), expected);
}

TEST(SseParserTest, IgnoresCommentsAndUnknownFields) {
  EXPECT_THAT(ParseAll(": keep-alive\n\n:another\nfoo: bar\ndata: x\n: inside\n\n"),
              ElementsAre(Event("message", "x")));
}

TEST(SseParserTest, DropsEventWithoutData) {
  EXPECT_THAT(ParseAll("event: ping\n\nevent: later\ndata: y\n\n"),
              ElementsAre(Event("later", "y")));
}

TEST(SseParserTest, EventNameDoesNotLeakIntoNextEvent) {
  EXPECT_THAT(ParseAll("event: a\ndata: 1\n\ndata: 2\n\n"),
              ElementsAre(Event("a", "1"), Event("message", "2")));
}

TEST(SseParserTest, StripsOnlyOneLeadingSpaceAndAcceptsFieldWithoutColon) {
  EXPECT_THAT(ParseAll("data:no-space\n\ndata:  two spaces\n\ndata\n\n"),
              ElementsAre(Event("message", "no-space"), Event("message", " two spaces"),
                          Event("message", "")));
}

TEST(SseParserTest, DataKeepsColonsAfterTheFirst) {
  EXPECT_THAT(ParseAll("data: {\"a\": \"b:c\"}\n\n"),
              ElementsAre(Event("message", "{\"a\": \"b:c\"}")));
}

TEST(SseParserTest, IdPersistsAcrossEventsAndIdWithNulIsIgnored) {
  std::string stream = "id: 7\ndata: a\n\ndata: b\n\nid: 8";
  stream.push_back('\0');
  stream.append("x\ndata: c\n\nid\ndata: d\n\n");
  EXPECT_THAT(ParseAll(stream), ElementsAre(Event("message", "a", "7"),
                                            Event("message", "b", "7"),
                                            Event("message", "c", "7"),
                                            Event("message", "d", "")));
}

TEST(SseParserTest, RetryNeedsDigitsOnly) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("retry: 1500\ndata: a\n\nretry: 1.5\ndata: b\n\n"
                          "retry: -3\ndata: c\n\nretry: 99999999999999999999999\ndata: d\n\n",
                          &events)
                  .ok());
  EXPECT_THAT(events, ElementsAre(Event("message", "a", "", 1500), Event("message", "b"),
                                  Event("message", "c"), Event("message", "d")));
  EXPECT_EQ(parser.reconnection_time_ms(), 1500);
}

TEST(SseParserTest, SkipsLeadingBomOnlyAtStreamStart) {
  EXPECT_THAT(ParseAll("\xEF\xBB\xBF" "data: a\n\n"), ElementsAre(Event("message", "a")));
  // A BOM later in the stream is ordinary data (here it makes an unknown field name).
  EXPECT_THAT(ParseAll("data: a\n\n\xEF\xBB\xBF" "data: b\n\n"),
              ElementsAre(Event("message", "a")));
  // A prefix of the BOM followed by something else is kept.
  EXPECT_THAT(ParseAll("\xEF" "data: a\n\ndata: b\n\n"), ElementsAre(Event("message", "b")));
}

TEST(SseParserTest, IncompleteEventAtEndIsNotDispatched) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("data: a\n\ndata: b\n", &events).ok());
  EXPECT_THAT(events, ElementsAre(Event("message", "a")));
  EXPECT_TRUE(parser.HasPartialEvent());
  events.clear();
  ASSERT_TRUE(parser.Feed("\n", &events).ok());
  EXPECT_THAT(events, ElementsAre(Event("message", "b")));
  EXPECT_FALSE(parser.HasPartialEvent());
}

TEST(SseParserTest, LongLineFailsInsteadOfGrowingWithoutBound) {
  SseParser parser(/*max_event_bytes=*/16);
  std::vector<SseEvent> events;
  EXPECT_TRUE(parser.Feed("data: 0123456789\n", &events).ok());
  absl::Status status = parser.Feed("data: 0123456789abcdef", &events);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(parser.Feed("\n\n", &events).code(), absl::StatusCode::kFailedPrecondition);
  parser.Reset();
  EXPECT_TRUE(parser.Feed("data: ok\n\n", &events).ok());
  EXPECT_THAT(events, ElementsAre(Event("message", "ok")));
}

TEST(SseParserTest, DataAcrossManyLinesCountsTowardTheLimit) {
  SseParser parser(/*max_event_bytes=*/16);
  std::vector<SseEvent> events;
  EXPECT_EQ(parser.Feed("data: 01234\ndata: 56789\ndata: abcde\n", &events).code(),
            absl::StatusCode::kResourceExhausted);
}

// A stream with every feature, including "\r\n" and lone "\r" endings and a BOM, gives the
// same events however it is cut: at every single byte boundary, and byte by byte.
TEST(SseParserTest, ChunkBoundariesAtEveryByteGiveTheSameEvents) {
  const std::string stream =
      "\xEF\xBB\xBF"
      ": comment\r\n"
      "event: message_start\r\n"
      "data: {\"type\":\"message_start\"}\r\n"
      "\r\n"
      "id: 42\r"
      "data: line one\r"
      "data: line two\r"
      "\r"
      "event: ping\n"
      "data: {}\n"
      "retry: 250\n"
      "\n"
      "data:x\r\n\r\n";
  const std::vector<SseEvent> expected = {
      Event("message_start", "{\"type\":\"message_start\"}"),
      Event("message", "line one\nline two", "42"),
      Event("ping", "{}", "42", 250),
      Event("message", "x", "42"),
  };
  ASSERT_EQ(ParseAll(stream), expected);

  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser parser;
    std::vector<SseEvent> events;
    ASSERT_TRUE(parser.Feed(std::string_view(stream).substr(0, cut), &events).ok());
    ASSERT_TRUE(parser.Feed(std::string_view(stream).substr(cut), &events).ok());
    EXPECT_EQ(events, expected) << "cut at byte " << cut;
  }

  SseParser parser;
  std::vector<SseEvent> events;
  for (char c : stream) ASSERT_TRUE(parser.Feed(std::string_view(&c, 1), &events).ok());
  EXPECT_EQ(events, expected);
  EXPECT_FALSE(parser.HasPartialEvent());
}

TEST(SseParserTest, EmptyChunksAreHarmless) {
  SseParser parser;
  std::vector<SseEvent> events;
  ASSERT_TRUE(parser.Feed("", &events).ok());
  ASSERT_TRUE(parser.Feed("data: a\r", &events).ok());
  ASSERT_TRUE(parser.Feed("", &events).ok());
  ASSERT_TRUE(parser.Feed("\n\n", &events).ok());
  EXPECT_THAT(events, ElementsAre(Event("message", "a")));
  events.clear();
  ASSERT_TRUE(parser.Feed("", &events).ok());
  EXPECT_THAT(events, IsEmpty());
}

}  // namespace
}  // namespace baton::worker
