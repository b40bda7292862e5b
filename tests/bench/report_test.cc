#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "bench/report.h"
#include "bench/stack.h"
#include "bench/stats.h"

namespace baton::bench {
namespace {

using json = nlohmann::json;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(StatsTest, PercentileIsNearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(Percentile(v, 50), 50);
  EXPECT_EQ(Percentile(v, 99), 99);
  EXPECT_EQ(Percentile(v, 100), 100);
  EXPECT_EQ(Percentile({7}, 99), 7);
  EXPECT_EQ(Percentile({}, 50), 0);
}

TEST(StatsTest, MedianOfRepeatsTakesEachNumberAcrossRepeatsAndKeepsTheRest) {
  std::vector<json> repeats = {
      {{"rate", 10}, {"nested", {{"p99", 5}}}, {"label", "a"}, {"missing", nullptr}},
      {{"rate", 30}, {"nested", {{"p99", 1}}}, {"label", "b"}, {"missing", nullptr}},
      {{"rate", 20}, {"nested", {{"p99", 3}}}, {"label", "c"}, {"missing", nullptr}},
  };
  json median = MedianOfRepeats(repeats);
  EXPECT_EQ(median["rate"], 20);
  EXPECT_EQ(median["nested"]["p99"], 3);
  EXPECT_EQ(median["label"], "a");
  EXPECT_TRUE(median["missing"].is_null());
  json range = RangeOfRepeats(repeats);
  EXPECT_EQ(range["rate"], json({10, 30}));
  EXPECT_FALSE(range.contains("label"));
}

TEST(ReportTest, TableSaysWhetherEachTargetIsMet) {
  json results;
  results["meta"] = {{"date", "today"}, {"git", "abc"}, {"machine", "2 cores"}};
  results["workloads"]["W6"]["median"] = {{"rss_mb", 250.0}, {"bytes_per_queued_run", 2000.0}};
  results["workloads"]["W6"]["range"] = {{"rss_mb", {240.0, 260.0}}, {"bytes_per_queued_run", {1.0, 2.0}}};
  results["workloads"]["W4"]["median"] = {{"restart_to_serving_s", 3.5}, {"runs_lost", 0.0}};
  results["workloads"]["W4"]["range"] = json::object();
  const std::string table = MarkdownTable(results);
  EXPECT_NE(table.find("| W6 memory | orchestrator RSS, MB (100,000 queued, settled) | ≤ 300 | 250 | 240–260 | yes |"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("| W4 restart | restart → serving, s | ≤ 2 | 3.50 | n/a | **no** |"), std::string::npos)
      << table;
  EXPECT_EQ(table.find("W1 dispatch"), std::string::npos);  // not measured, not shown
}

TEST(ReportTest, SecuredPairsShowBothThroughputsAndWhetherTheRatioMeetsItsTarget) {
  json results;
  results["meta"] = {{"date", "today"}, {"git", "abc"}, {"machine", "2 cores"}};
  json& w1 = results["workloads"]["W1-secure"];
  w1["repeats"] = json::array({json::object(), json::object(), json::object()});
  w1["median"] = {{"secure", {{"full", {{"runs_per_s", 1800.0}, {"cpu_ms_per_run", {{"baton", 0.95}}}}}}},
                  {"plain", {{"full", {{"runs_per_s", 2000.0}, {"cpu_ms_per_run", {{"baton", 0.8}}}}}}},
                  {"ratio", 0.9},
                  {"secured", "TLS, auth and encryption"}};
  w1["range"] = {{"ratio", {0.88, 0.93}}};
  json& w2 = results["workloads"]["W2-secure"];
  w2["median"] = {
      {"secure", {{"steps_per_s", 900.0}}}, {"plain", {{"steps_per_s", 1200.0}}}, {"ratio", 0.75}, {"secured", "TLS"}};
  w2["range"] = json::object();
  results["workloads"]["W2"]["median"] = {{"steps_per_s", 1200.0}};
  results["workloads"]["W2"]["range"] = json::object();
  results["workloads"]["W3"]["median"] = {{"runs_lost", 0.0}};
  const std::string table = MarkdownTable(results);
  EXPECT_NE(table.find("| W1-secure dispatch | completed runs/s (full load) with TLS, auth and encryption / plain "
                       "(paired stacks) | — | 1800 / 2000 | n/a / n/a |  |"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("| W1-secure dispatch | runs/s secured ÷ plain | ≥ 0.85 | 0.90 | 0.88–0.93 | yes |"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("| W2-secure steps | steps/s secured ÷ plain | ≥ 0.85 | 0.75 | n/a | **no** |"),
            std::string::npos)
      << table;
  // The metric names what the secured stacks had on (--secure-parts).
  EXPECT_NE(table.find("| W2-secure steps | durable steps/s with TLS / plain (paired stacks) | — | 900 / 1200 |"),
            std::string::npos)
      << table;
  // Beside W1 and W2: after W2's rows, and first in the sentence saying what ran.
  EXPECT_LT(table.find("| W2 steps |"), table.find("| W1-secure dispatch |"));
  EXPECT_NE(table.find("W2, W1-secure, W2-secure, W3: measured today at abc"), std::string::npos) << table;
}

TEST(ProtectionsTest, ParseNamesWhatIsOn) {
  EXPECT_EQ(Protections::Parse("all")->Describe(), "TLS, auth and encryption");
  EXPECT_EQ(Protections::Parse("encryption,tls")->Describe(), "TLS and encryption");
  EXPECT_EQ(Protections::Parse("auth")->Describe(), "auth");
  EXPECT_EQ(Protections{}.Describe(), "nothing");
  EXPECT_EQ(Protections::Parse("tls,fast").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Protections::Parse("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReportTest, UpdateDocReplacesOnlyTheGeneratedSection) {
  const std::string path = std::filesystem::temp_directory_path() / "baton_report_test.md";
  {
    std::ofstream out(path, std::ios::trunc);
    out << "# Title\n\nhand-written\n\n" << kBeginMarker << "\nold table\n" << kEndMarker << "\n\nafter\n";
  }
  ASSERT_TRUE(UpdateDoc(path, "new table\n").ok());
  const std::string text = Read(path);
  EXPECT_NE(text.find("hand-written"), std::string::npos);
  EXPECT_NE(text.find("new table"), std::string::npos);
  EXPECT_EQ(text.find("old table"), std::string::npos);
  EXPECT_NE(text.find("\nafter\n"), std::string::npos);

  std::filesystem::remove(path);
  ASSERT_TRUE(UpdateDoc(path, "first table\n").ok());  // no file: created with the markers
  const std::string created = Read(path);
  EXPECT_NE(created.find(kBeginMarker), std::string::npos);
  EXPECT_NE(created.find("first table"), std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace baton::bench
