#include "orchestrator/graph/template.h"

#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace baton::orchestrator::graph {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

// A scope over a fixed set of node outputs.
class TemplateTest : public ::testing::Test {
 protected:
  TemplateScope Scope() {
    TemplateScope scope;
    scope.input = input_;
    scope.node_output = [this](absl::string_view id) -> const std::string* {
      auto it = outputs_.find(std::string(id));
      return it == outputs_.end() ? nullptr : &it->second;
    };
    return scope;
  }
  std::string Render(const std::string& text, const json* item = nullptr, int index = 0) {
    absl::StatusOr<Template> t = Template::Parse(text);
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return "<parse error>";
    TemplateScope scope = Scope();
    scope.item = item;
    scope.index = index;
    return t->Render(scope);
  }

  std::string input_ = R"({"topic": "tides", "n": 3})";
  std::map<std::string, std::string> outputs_ = {
      {"plan", R"({"tasks": [{"q": "moon"}, {"q": "sun"}], "count": 2, "note": "keep \"it\" short"})"},
      {"writer", "A draft about tides."},
      {"nested", R"({"inner": "{\"deep\": 1}"})"},
  };
};

TEST_F(TemplateTest, PathsParseIntoRootsAndSegments) {
  absl::StatusOr<Path> p = ParsePath("nodes.plan.output.tasks.0.q");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->root, Path::Root::kNodeOutput);
  EXPECT_EQ(p->node, "plan");
  EXPECT_THAT(p->segments, ::testing::ElementsAre("tasks", "0", "q"));
  EXPECT_EQ(ParsePath(" input ")->root, Path::Root::kInput);
  EXPECT_EQ(ParsePath("item.a")->root, Path::Root::kItem);
  EXPECT_EQ(ParsePath("index")->root, Path::Root::kIndex);
}

TEST_F(TemplateTest, BadPathsAreRefusedWithTheReference) {
  EXPECT_THAT(std::string(ParsePath("inptu").status().message()), HasSubstr("unknown root \"inptu\""));
  EXPECT_THAT(std::string(ParsePath("nodes.plan").status().message()), HasSubstr("expected nodes.ID.output"));
  EXPECT_THAT(std::string(ParsePath("nodes.plan.result").status().message()), HasSubstr("expected nodes.ID.output"));
  EXPECT_THAT(std::string(ParsePath("input..a").status().message()), HasSubstr("empty segment"));
  EXPECT_THAT(std::string(ParsePath("index.a").status().message()), HasSubstr("nothing can follow"));
  EXPECT_THAT(std::string(ParsePath("").status().message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(ParsePath("input.a b").status().message()), HasSubstr("bad character"));
}

TEST_F(TemplateTest, InputIsInsertedAsTextAndWalkedIntoAsJson) {
  EXPECT_EQ(Render("Topic: {{input}}"), R"(Topic: {"topic": "tides", "n": 3})");
  EXPECT_EQ(Render("{{input.topic}} x{{ input.n }}"), "tides x3");
  input_ = "plain words";
  EXPECT_EQ(Render("[{{input}}][{{input.topic}}]"), "[plain words][]");
}

TEST_F(TemplateTest, NodeOutputsAreTextUnlessAPathWalksIntoThem) {
  EXPECT_EQ(Render("{{nodes.writer.output}}"), "A draft about tides.");
  EXPECT_EQ(Render("{{nodes.plan.output.tasks.1.q}}"), "sun");
  // Non-string values are compact JSON; strings are raw, quotes and all.
  EXPECT_EQ(Render("{{nodes.plan.output.tasks}}"), R"([{"q":"moon"},{"q":"sun"}])");
  EXPECT_EQ(Render("{{nodes.plan.output.count}}"), "2");
  EXPECT_EQ(Render("{{nodes.plan.output.note}}"), R"(keep "it" short)");
  // A string holding JSON is parsed when the path goes on into it.
  EXPECT_EQ(Render("{{nodes.nested.output.inner.deep}}"), "1");
}

TEST_F(TemplateTest, MissingValuesAndNodesNotRunRenderEmpty) {
  EXPECT_EQ(Render("<{{nodes.plan.output.tasks.7.q}}>"), "<>");
  EXPECT_EQ(Render("<{{nodes.plan.output.missing}}>"), "<>");
  EXPECT_EQ(Render("<{{nodes.writer.output.a}}>"), "<>");  // text has no keys
  EXPECT_EQ(Render("<{{nodes.reviewer.output}}>"), "<>");  // has not run
  EXPECT_EQ(Render("<{{nodes.plan.output.tasks.-1}}>"), "<>");
}

TEST_F(TemplateTest, ItemAndIndexForMapItems) {
  const json item = json::parse(R"({"q": "moon", "depth": 2})");
  EXPECT_EQ(Render("#{{index}}: {{item.q}} ({{item}})", &item, 4), R"(#4: moon ({"depth":2,"q":"moon"}))");
  const json text_item = "just text";
  EXPECT_EQ(Render("{{item}}", &text_item), "just text");
}

TEST_F(TemplateTest, LiteralTextAndLoneBracesPassThrough) {
  EXPECT_EQ(Render("no references } here {"), "no references } here {");
  EXPECT_EQ(Render(""), "");
}

TEST_F(TemplateTest, UnclosedOrBadReferencesAreParseErrors) {
  EXPECT_THAT(std::string(Template::Parse("a {{input").status().message()), HasSubstr("no closing"));
  EXPECT_THAT(std::string(Template::Parse("{{ inputs }}").status().message()), HasSubstr("unknown root"));
  absl::StatusOr<Template> t = Template::Parse("{{input}} and {{nodes.a.output.x}} and {{item}}");
  ASSERT_TRUE(t.ok());
  std::vector<Path> refs = t->references();
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs[1].node, "a");
  EXPECT_EQ(refs[2].root, Path::Root::kItem);
}

TEST_F(TemplateTest, OverResolvesToAnArrayOrSaysWhatItFound) {
  absl::StatusOr<json> tasks = ResolveArray(*ParsePath("nodes.plan.output.tasks"), Scope());
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  EXPECT_EQ(tasks->size(), 2u);
  // A whole output holding a JSON array, and a string inside JSON holding one.
  outputs_["list"] = R"(["a", "b", "c"])";
  outputs_["wrapped"] = R"({"items": "[1, 2]"})";
  EXPECT_EQ(ResolveArray(*ParsePath("nodes.list.output"), Scope())->size(), 3u);
  EXPECT_EQ(ResolveArray(*ParsePath("nodes.wrapped.output.items"), Scope())->size(), 2u);

  absl::Status s = ResolveArray(*ParsePath("nodes.plan.output.count"), Scope()).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "over \"nodes.plan.output.count\" is not an array: found 2");
  EXPECT_EQ(ResolveArray(*ParsePath("nodes.plan.output.nope"), Scope()).status().message(),
            "over \"nodes.plan.output.nope\" is not an array: found nothing");
  EXPECT_EQ(ResolveArray(*ParsePath("nodes.writer.output"), Scope()).status().message(),
            "over \"nodes.writer.output\" is not an array: found \"A draft about tides.\"");
}

}  // namespace
}  // namespace baton::orchestrator::graph
