#include "orchestrator/graph/json_value.h"

#include <gtest/gtest.h>

namespace baton::orchestrator::graph {
namespace {

using json = nlohmann::json;

TEST(JsonValueTest, TextIsParsedOnlyWhenItIsAJsonDocument) {
  EXPECT_EQ(ParseJsonOrString(R"({"a": [1, 2]})"), json::parse(R"({"a":[1,2]})"));
  EXPECT_EQ(ParseJsonOrString("42"), json(42));
  EXPECT_EQ(ParseJsonOrString("hello"), json("hello"));
  EXPECT_EQ(ParseJsonOrString(""), json(""));
  // Trailing text makes it prose, not JSON.
  EXPECT_EQ(ParseJsonOrString("{\"a\":1} and more"), json("{\"a\":1} and more"));
}

TEST(JsonValueTest, StringsAreTextAndEverythingElseCompactJson) {
  EXPECT_EQ(JsonToText(json("plain \"quoted\"")), "plain \"quoted\"");
  EXPECT_EQ(JsonToText(json::parse(R"({ "b": [1, 2.5, null] })")), R"({"b":[1,2.5,null]})");
  EXPECT_EQ(JsonToText(json(true)), "true");
}

TEST(JsonValueTest, ProtobufValuesBecomeJsonWithIntegralNumbersAsIntegers) {
  google::protobuf::Value v;
  v.set_number_value(3);
  EXPECT_EQ(CompactJson(ValueToJson(v)), "3");
  EXPECT_EQ(ValueToJson(v), json(3.0));  // equality is numeric
  v.set_number_value(2.5);
  EXPECT_EQ(CompactJson(ValueToJson(v)), "2.5");

  google::protobuf::Value list;
  list.mutable_list_value()->add_values()->set_string_value("x");
  list.mutable_list_value()->add_values()->set_bool_value(false);
  list.mutable_list_value()->add_values()->set_null_value(google::protobuf::NULL_VALUE);
  google::protobuf::Struct s;
  (*s.mutable_fields())["list"] = list;
  (*s.mutable_fields())["n"].set_number_value(-7);
  EXPECT_EQ(StructToJson(s), json::parse(R"({"list": ["x", false, null], "n": -7})"));
  EXPECT_TRUE(ValueToJson(google::protobuf::Value()).is_null());
}

}  // namespace
}  // namespace baton::orchestrator::graph
