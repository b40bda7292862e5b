#include "mcp-bridge/line_framer.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::mcp {
namespace {

using ::testing::ElementsAre;

class LineFramerTest : public ::testing::Test {
 protected:
  int Feed(std::string_view chunk) {
    return framer_.Feed(chunk, [this](std::string_view line) { lines_.emplace_back(line); });
  }

  LineFramer framer_{8};
  std::vector<std::string> lines_;
};

TEST_F(LineFramerTest, LinesSplitAcrossChunksComeOutWholeWithoutCrOrEmptyLines) {
  Feed("{\"a\"");
  Feed(":1}\r\n\n{}");
  Feed("\n");
  EXPECT_THAT(lines_, ElementsAre("{\"a\":1}", "{}"));
  EXPECT_EQ(framer_.buffered(), 0u);
}

TEST_F(LineFramerTest, ALineOverTheLimitIsDroppedUpToItsNewline) {
  EXPECT_EQ(Feed("0123456789"), 1);  // over 8 bytes: dropped, not buffered
  EXPECT_EQ(framer_.buffered(), 0u);
  EXPECT_EQ(Feed("more of it\nok\n"), 0);
  EXPECT_THAT(lines_, ElementsAre("ok"));
}

}  // namespace
}  // namespace baton::mcp
