#include "common/schema_validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

TEST(SchemaValidatorTest, AcceptsMatchingArgumentsAndNamesTheWrongField) {
  json schema = json::parse(R"({"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
      "properties":{"message":{"type":"string"},"count":{"type":"integer","minimum":1}},
      "required":["message"],"additionalProperties":false})");
  auto v = SchemaValidator::Compile(schema);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE((*v)->Validate({{"message", "hi"}, {"count", 2}}).ok());
  absl::Status missing = (*v)->Validate(json::object());
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("message"));
  absl::Status wrong_type = (*v)->Validate({{"message", 5}});
  EXPECT_THAT(std::string(wrong_type.message()), HasSubstr("/message"));
  EXPECT_FALSE((*v)->Validate({{"message", "x"}, {"count", 0}}).ok());
  EXPECT_FALSE((*v)->Validate({{"message", "x"}, {"extra", true}}).ok());
}

TEST(SchemaValidatorTest, AcceptsA2020SchemaWithDefs) {
  json schema = json::parse(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
      "properties":{"p":{"$ref":"#/$defs/point"}},"$defs":{"point":{"type":"object","required":["x"]}}})");
  auto v = SchemaValidator::Compile(schema);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE((*v)->Validate({{"p", {{"x", 1}}}}).ok());
  EXPECT_FALSE((*v)->Validate({{"p", json::object()}}).ok());
}

TEST(SchemaValidatorTest, AnUnusableSchemaIsAnErrorNotACrash) {
  EXPECT_FALSE(SchemaValidator::Compile(json::parse(R"({"type":"object","properties":{"a":{"$ref":"#/nowhere"}}})")).ok());
  EXPECT_FALSE(SchemaValidator::Compile(json::parse(R"({"type": 5})")).ok());
  EXPECT_FALSE(SchemaValidator::Compile(json("string")).ok());
}

}  // namespace
}  // namespace baton
