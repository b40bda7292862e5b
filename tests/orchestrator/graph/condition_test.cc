#include "orchestrator/graph/condition.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "orchestrator/graph/json_value.h"

namespace baton::orchestrator::graph {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

v1::Condition When(const std::string& condition_json) {
  v1::Condition c;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(condition_json, &c).ok()) << condition_json;
  return c;
}

bool Holds(const std::string& condition_json, const std::string& output) {
  return ConditionHolds(When(condition_json), ParseJsonOrString(output));
}

const char kReview[] = R"({"approved": false, "score": 3, "tags": ["draft", "long"], "a/b": {"m~n": "x"},
                           "meta": null})";

TEST(JsonPointerTest, WalksKeysIndexesAndEscapes) {
  const json doc = json::parse(kReview);
  EXPECT_EQ(*JsonPointer::Parse("")->Find(doc), doc);
  EXPECT_EQ(*JsonPointer::Parse("/score")->Find(doc), json(3));
  EXPECT_EQ(*JsonPointer::Parse("/tags/1")->Find(doc), json("long"));
  EXPECT_EQ(*JsonPointer::Parse("/a~1b/m~0n")->Find(doc), json("x"));
  EXPECT_TRUE(JsonPointer::Parse("/meta")->Find(doc)->is_null());  // present, null
  EXPECT_EQ(JsonPointer::Parse("/tags/2")->Find(doc), nullptr);
  EXPECT_EQ(JsonPointer::Parse("/tags/01")->Find(doc), nullptr);  // not canonical
  EXPECT_EQ(JsonPointer::Parse("/tags/-")->Find(doc), nullptr);
  EXPECT_EQ(JsonPointer::Parse("/score/x")->Find(doc), nullptr);
  EXPECT_EQ(JsonPointer::Parse("/missing")->Find(doc), nullptr);
  const json with_empty_key = json::parse(R"({"": 1})");
  EXPECT_EQ(*JsonPointer::Parse("/")->Find(with_empty_key), json(1));
}

TEST(JsonPointerTest, BadPointersAreRefused) {
  EXPECT_THAT(std::string(JsonPointer::Parse("approved").status().message()), HasSubstr("start with \"/\""));
  EXPECT_THAT(std::string(JsonPointer::Parse("/a~2").status().message()), HasSubstr("followed by 0 or 1"));
  EXPECT_THAT(std::string(JsonPointer::Parse("/a~").status().message()), HasSubstr("followed by 0 or 1"));
}

TEST(ConditionTest, EqComparesJsonValuesNumerically) {
  EXPECT_TRUE(Holds(R"({"pointer": "/approved", "op": "EQ", "value": false})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/approved", "op": "EQ", "value": true})", kReview));
  EXPECT_TRUE(Holds(R"({"pointer": "/score", "op": "EQ", "value": 3.0})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/score", "op": "EQ", "value": "3"})", kReview));
  EXPECT_TRUE(Holds(R"({"pointer": "/tags", "op": "EQ", "value": ["draft", "long"]})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/missing", "op": "EQ", "value": null})", kReview));
  EXPECT_TRUE(Holds(R"({"pointer": "/meta", "op": "EQ", "value": null})", kReview));
}

TEST(ConditionTest, TextOutputIsTheJsonStringOfItsText) {
  EXPECT_TRUE(Holds(R"({"pointer": "", "op": "EQ", "value": "billing"})", "billing"));
  EXPECT_FALSE(Holds(R"({"pointer": "/x", "op": "EXISTS"})", "billing"));
  EXPECT_TRUE(Holds(R"({"pointer": "", "op": "GT", "value": 10})", "42"));  // a JSON number
}

TEST(ConditionTest, NeHoldsForOtherValuesAndForMissingOnes) {
  EXPECT_TRUE(Holds(R"({"pointer": "/approved", "op": "NE", "value": true})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/score", "op": "NE", "value": 3})", kReview));
  EXPECT_TRUE(Holds(R"({"pointer": "/missing", "op": "NE", "value": true})", kReview));
}

TEST(ConditionTest, InLooksForThePointedValueInTheArray) {
  EXPECT_TRUE(Holds(R"({"pointer": "/score", "op": "IN", "value": [1, 3.0, 5]})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/score", "op": "IN", "value": [1, 5]})", kReview));
  EXPECT_TRUE(Holds(R"({"pointer": "/tags/0", "op": "IN", "value": ["final", "draft"]})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/missing", "op": "IN", "value": [null]})", kReview));
}

TEST(ConditionTest, ExistsOnlyAsksWhetherThePointerResolves) {
  EXPECT_TRUE(Holds(R"({"pointer": "/meta", "op": "EXISTS"})", kReview));
  EXPECT_TRUE(Holds(R"({"pointer": "/tags/1", "op": "EXISTS", "value": "ignored"})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/tags/2", "op": "EXISTS"})", kReview));
}

TEST(ConditionTest, LtAndGtCompareNumbersOnly) {
  EXPECT_TRUE(Holds(R"({"pointer": "/score", "op": "LT", "value": 3.5})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/score", "op": "LT", "value": 3})", kReview));
  EXPECT_TRUE(Holds(R"({"pointer": "/score", "op": "GT", "value": 2})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/score", "op": "GT", "value": 3})", kReview));
  // Not numbers on either side: false, never an error.
  EXPECT_FALSE(Holds(R"({"pointer": "/tags/0", "op": "GT", "value": 1})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/score", "op": "LT", "value": "9"})", kReview));
  EXPECT_FALSE(Holds(R"({"pointer": "/missing", "op": "LT", "value": 9})", kReview));
}

TEST(ConditionTest, ValidationNamesWhatIsWrong) {
  EXPECT_TRUE(ValidateCondition(When(R"({"pointer": "/a", "op": "EQ", "value": 1})")).ok());
  EXPECT_THAT(std::string(ValidateCondition(When(R"({"pointer": "/a"})")).message()), HasSubstr("op must be"));
  EXPECT_THAT(std::string(ValidateCondition(When(R"({"pointer": "a", "op": "EXISTS"})")).message()),
              HasSubstr("not a JSON Pointer"));
  EXPECT_THAT(std::string(ValidateCondition(When(R"({"pointer": "/a", "op": "IN", "value": "x"})")).message()),
              HasSubstr("IN needs an array value"));
  // What validation refuses never holds at run time.
  EXPECT_FALSE(Holds(R"({"pointer": "approved", "op": "EXISTS"})", kReview));
}

}  // namespace
}  // namespace baton::orchestrator::graph
