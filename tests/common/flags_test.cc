#include "common/flags.h"

#include <gtest/gtest.h>

#include "common/status_macros.h"

namespace baton {
namespace {

TEST(FlagsTest, ParsesValuesBooleansAndPositionals) {
  Flags flags({"addr", "n"}, {"json"});
  const char* argv[] = {"prog", "run", "--addr=127.0.0.1:1", "--n", "7", "--json", "file.json"};
  ASSERT_TRUE(flags.Parse(7, const_cast<char**>(argv)).ok());
  EXPECT_EQ(flags.GetString("addr"), "127.0.0.1:1");
  EXPECT_EQ(flags.GetInt("n", 0), 7);
  EXPECT_TRUE(flags.GetBool("json"));
  EXPECT_EQ(flags.positional(), (std::vector<std::string>{"run", "file.json"}));
}

TEST(FlagsTest, UnknownFlagIsNamedInTheError) {
  Flags flags({"addr"}, {});
  const char* argv[] = {"prog", "--adr=x"};
  absl::Status s = flags.Parse(2, const_cast<char**>(argv));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--adr"), std::string::npos);
}

TEST(FlagsTest, BadIntegerIsReported) {
  Flags flags({"n"}, {});
  const char* argv[] = {"prog", "--n=abc"};
  ASSERT_TRUE(flags.Parse(2, const_cast<char**>(argv)).ok());
  std::string error;
  EXPECT_EQ(flags.GetInt("n", 5, &error), 5);
  EXPECT_NE(error.find("--n"), std::string::npos);
}

TEST(FlagsTest, PeriodsTakeAUnitOrSeconds) {
  Flags flags({"a", "b", "c", "d", "e", "bad", "neg", "huge"}, {});
  const char* argv[] = {"prog", "--a=30d", "--b=12h", "--c=90m", "--d=45s", "--e=7",
                        "--bad=3w", "--neg=-1s", "--huge=999999999999999d"};
  ASSERT_TRUE(flags.Parse(9, const_cast<char**>(argv)).ok());
  EXPECT_EQ(flags.GetSeconds("a", 0), 30 * 86400);
  EXPECT_EQ(flags.GetSeconds("b", 0), 12 * 3600);
  EXPECT_EQ(flags.GetSeconds("c", 0), 90 * 60);
  EXPECT_EQ(flags.GetSeconds("d", 0), 45);
  EXPECT_EQ(flags.GetSeconds("e", 0), 7);
  EXPECT_EQ(flags.GetSeconds("missing", 60), 60);
  for (const char* name : {"bad", "neg", "huge"}) {
    std::string error;
    EXPECT_EQ(flags.GetSeconds(name, 5, &error), 5) << name;
    EXPECT_NE(error.find(std::string("--") + name), std::string::npos) << error;
  }
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}
absl::Status UseMacros(int x, int* out) {
  ASSIGN_OR_RETURN(int h, Half(x));
  RETURN_IF_ERROR(h > 100 ? absl::OutOfRangeError("big") : absl::OkStatus());
  *out = h;
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  int out = 0;
  EXPECT_TRUE(UseMacros(4, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(UseMacros(3, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UseMacros(400, &out).code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace baton
