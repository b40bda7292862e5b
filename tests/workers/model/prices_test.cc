#include "workers/model/prices.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

namespace baton::worker {
namespace {

using json = nlohmann::json;

TEST(PriceTableTest, DefaultHasTheReferencePricesAndCacheMultipliers) {
  PriceTable table = PriceTable::Default();
  const ModelPrices* opus = table.Find("claude-opus-4-5");
  ASSERT_NE(opus, nullptr);
  EXPECT_DOUBLE_EQ(opus->input, 5);
  EXPECT_DOUBLE_EQ(opus->cache_write_5m, 6.25);
  EXPECT_DOUBLE_EQ(opus->cache_write_1h, 10);
  EXPECT_DOUBLE_EQ(opus->cache_read, 0.5);
  EXPECT_DOUBLE_EQ(opus->output, 25);
  const ModelPrices* sonnet = table.Find("claude-sonnet-4-6");
  ASSERT_NE(sonnet, nullptr);
  EXPECT_DOUBLE_EQ(sonnet->cache_write_5m, 3.75);
  EXPECT_DOUBLE_EQ(sonnet->cache_read, 0.3);
  const ModelPrices* haiku = table.Find("claude-haiku-4-5");
  ASSERT_NE(haiku, nullptr);
  EXPECT_DOUBLE_EQ(haiku->cache_write_1h, 2);
  EXPECT_DOUBLE_EQ(haiku->output, 5);
}

TEST(PriceTableTest, DatedModelIdsUseTheirFamilyAndUnknownModelsCostNothing) {
  PriceTable table = PriceTable::Default();
  EXPECT_EQ(table.Find("claude-opus-4-5-20251101"), table.Find("claude-opus-4-5"));
  EXPECT_EQ(table.Find("claude-opus-4-55"), nullptr);
  EXPECT_EQ(table.Find("gpt-4"), nullptr);
  EXPECT_EQ(table.Cost("gpt-4", TokenCounts{1000, 1000, 0, 0, 0}), 0);
}

TEST(PriceTableTest, CostCountsEveryKindOfToken) {
  PriceTable table = PriceTable::Default();
  // Sonnet: 1M input $3, 1M output $15, 1M 5m-write $3.75, 1M 1h-write $6, 1M read $0.30.
  TokenCounts t{1'000'000, 1'000'000, 1'000'000, 1'000'000, 1'000'000};
  EXPECT_NEAR(table.Cost("claude-sonnet-4-5", t), 3 + 15 + 3.75 + 6 + 0.3, 1e-9);
  EXPECT_NEAR(table.Cost("claude-haiku-4-5", TokenCounts{1000, 200, 0, 0, 0}), 0.001 + 0.001, 1e-12);
}

TEST(PriceTableTest, JsonConfigDefaultsCachePricesFromInput) {
  absl::StatusOr<PriceTable> table = PriceTable::FromJson(json::parse(R"({"models": {
      "my-model": {"input": 2, "output": 10, "context_window": 1000},
      "other": {"input": 1, "output": 1, "cache_read": 0.5, "_comment": "ok"}}})"));
  ASSERT_TRUE(table.ok()) << table.status();
  const ModelPrices* p = table->Find("my-model");
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->cache_write_5m, 2.5);
  EXPECT_DOUBLE_EQ(p->cache_write_1h, 4);
  EXPECT_DOUBLE_EQ(p->cache_read, 0.2);
  EXPECT_EQ(p->context_window, 1000);
  EXPECT_DOUBLE_EQ(table->Find("other")->cache_read, 0.5);
  EXPECT_EQ(table->Find("claude-opus-4-5"), nullptr);  // a file replaces the default table
}

TEST(PriceTableTest, BadConfigsNameTheField) {
  auto bad = [](const char* text) {
    absl::StatusOr<PriceTable> t = PriceTable::FromJson(json::parse(text));
    EXPECT_FALSE(t.ok()) << text;
    return std::string(t.status().message());
  };
  EXPECT_EQ(bad(R"({})"), "models: required, an object of model id -> prices");
  EXPECT_EQ(bad(R"({"models": {"m": {"output": 1}}})"), "models.m.input: required");
  EXPECT_EQ(bad(R"({"models": {"m": {"input": -1, "output": 1}}})"), "models.m.input: must be a number >= 0");
  EXPECT_EQ(bad(R"({"models": {"m": {"input": 1, "output": 1, "inptu": 2}}})"), "models.m.inptu: unknown field");
  EXPECT_EQ(bad(R"({"models": {"m": {"input": 1, "output": 1, "context_window": 0}}})"),
            "models.m.context_window: must be an integer > 0");
}

TEST(PriceTableTest, LoadReadsAFile) {
  std::string path = ::testing::TempDir() + "/prices.json";
  std::ofstream(path) << R"({"models": {"m": {"input": 1, "output": 2}}})";
  absl::StatusOr<PriceTable> t = PriceTable::Load(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_DOUBLE_EQ(t->Find("m")->output, 2);
  std::remove(path.c_str());
  EXPECT_EQ(PriceTable::Load(path).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace baton::worker
