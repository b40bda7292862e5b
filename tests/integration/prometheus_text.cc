#include "tests/integration/prometheus_text.h"

#include <curl/curl.h>

#include <cmath>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace baton::testing {
namespace {

bool IsNameStart(char c, bool colon) { return absl::ascii_isalpha(c) || c == '_' || (colon && c == ':'); }
bool IsNameChar(char c, bool colon) { return IsNameStart(c, colon) || absl::ascii_isdigit(c); }

// Reads a metric name (colon = true) or a label name at `*pos`.
std::optional<std::string> ReadName(absl::string_view line, size_t* pos, bool colon) {
  const size_t start = *pos;
  if (start >= line.size() || !IsNameStart(line[start], colon)) return std::nullopt;
  size_t end = start + 1;
  while (end < line.size() && IsNameChar(line[end], colon)) ++end;
  *pos = end;
  return std::string(line.substr(start, end - start));
}

// A float as the format writes it: Go's ParseFloat syntax, with +Inf, -Inf and NaN in
// any case.
std::optional<double> ParseValue(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "+inf" || lower == "inf") return std::numeric_limits<double>::infinity();
  if (lower == "-inf") return -std::numeric_limits<double>::infinity();
  if (lower == "nan") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || std::isnan(value) || std::isinf(value)) return std::nullopt;
  return value;
}

// `{a="x",b="y"}` at `*pos` (just after the name). Escapes: \\ \" \n.
absl::Status ReadLabels(absl::string_view line, size_t* pos, MetricLabels* labels) {
  size_t i = *pos + 1;  // past '{'
  while (true) {
    if (i < line.size() && line[i] == '}') break;
    std::optional<std::string> name = ReadName(line, &i, /*colon=*/false);
    if (!name.has_value()) return absl::InvalidArgumentError("bad label name");
    if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
      return absl::InvalidArgumentError(absl::StrCat("label ", *name, ": expected =\""));
    }
    i += 2;
    std::string value;
    while (true) {
      if (i >= line.size()) return absl::InvalidArgumentError(absl::StrCat("label ", *name, ": unterminated value"));
      const char c = line[i++];
      if (c == '"') break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (i >= line.size()) return absl::InvalidArgumentError("escape at the end of the line");
      const char escaped = line[i++];
      if (escaped == '\\' || escaped == '"') {
        value += escaped;
      } else if (escaped == 'n') {
        value += '\n';
      } else {
        return absl::InvalidArgumentError(absl::StrCat("label ", *name, ": bad escape \\", std::string(1, escaped)));
      }
    }
    if (!labels->emplace(*name, std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat("label ", *name, " twice"));
    }
    if (i < line.size() && line[i] == ',') {
      ++i;
      continue;
    }
    if (i < line.size() && line[i] == '}') break;
    return absl::InvalidArgumentError("expected , or } after a label");
  }
  *pos = i + 1;
  return absl::OkStatus();
}

// The family a sample named `name` belongs to, given the declared types.
std::optional<std::string> FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name) > 0) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (!absl::EndsWith(name, suffix)) continue;
    const std::string base = name.substr(0, name.size() - absl::string_view(suffix).size());
    auto it = types.find(base);
    if (it == types.end()) continue;
    if (it->second == "histogram" || (it->second == "summary" && absl::string_view(suffix) != "_bucket")) return base;
  }
  return std::nullopt;
}

absl::Status CheckHistograms(const std::map<std::string, std::string>& types, const std::vector<MetricSample>& samples) {
  for (const auto& [family, type] : types) {
    if (type != "histogram") continue;
    // Per series (labels without le): buckets in order, then _count.
    std::map<MetricLabels, std::vector<std::pair<double, double>>> buckets;
    std::map<MetricLabels, double> counts;
    for (const MetricSample& s : samples) {
      if (s.name == family + "_bucket") {
        MetricLabels labels = s.labels;
        auto le = labels.find("le");
        if (le == labels.end()) return absl::InvalidArgumentError(absl::StrCat(s.name, ": a bucket without le"));
        std::optional<double> bound = ParseValue(le->second);
        if (!bound.has_value()) return absl::InvalidArgumentError(absl::StrCat(s.name, ": le=\"", le->second, "\""));
        labels.erase(le);
        buckets[labels].emplace_back(*bound, s.value);
      } else if (s.name == family + "_count") {
        counts[s.labels] = s.value;
      }
    }
    for (const auto& [labels, series] : buckets) {
      for (size_t i = 1; i < series.size(); ++i) {
        if (series[i].first <= series[i - 1].first || series[i].second < series[i - 1].second) {
          return absl::InvalidArgumentError(absl::StrCat(family, ": buckets not cumulative in increasing le"));
        }
      }
      if (series.empty() || !std::isinf(series.back().first)) {
        return absl::InvalidArgumentError(absl::StrCat(family, ": no +Inf bucket"));
      }
      auto count = counts.find(labels);
      if (count == counts.end() || count->second != series.back().second) {
        return absl::InvalidArgumentError(absl::StrCat(family, ": _count differs from the +Inf bucket"));
      }
    }
  }
  return absl::OkStatus();
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

absl::StatusOr<Exposition> Exposition::Parse(const std::string& text) {
  Exposition out;
  std::set<std::pair<std::string, MetricLabels>> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_number, " (", line, "): ", why));
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::vector<absl::string_view> words = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (words.size() >= 2 && words[1] == "TYPE") {
        if (words.size() != 4) return error("expected # TYPE NAME TYPE");
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (kTypes.count(std::string(words[3])) == 0) return error("unknown type");
        if (!out.types_.emplace(std::string(words[2]), std::string(words[3])).second) return error("typed twice");
      }
      continue;  // # HELP and other comments
    }
    size_t pos = 0;
    std::optional<std::string> name = ReadName(line, &pos, /*colon=*/true);
    if (!name.has_value()) return error("bad metric name");
    MetricSample sample;
    sample.name = *name;
    if (pos < line.size() && line[pos] == '{') {
      if (absl::Status s = ReadLabels(line, &pos, &sample.labels); !s.ok()) return error(s.message());
    }
    if (pos >= line.size() || line[pos] != ' ') return error("expected a space before the value");
    std::vector<absl::string_view> rest = absl::StrSplit(line.substr(pos + 1), ' ', absl::SkipEmpty());
    if (rest.empty() || rest.size() > 2) return error("expected VALUE [TIMESTAMP]");
    std::optional<double> value = ParseValue(rest[0]);
    if (!value.has_value()) return error("bad value");
    int64_t timestamp = 0;
    if (rest.size() == 2 && !absl::SimpleAtoi(rest[1], &timestamp)) return error("bad timestamp");
    sample.value = *value;
    if (!FamilyOf(sample.name, out.types_).has_value()) return error("sample before its # TYPE line");
    if (!seen.emplace(sample.name, sample.labels).second) return error("the same series twice");
    out.samples_.push_back(std::move(sample));
  }
  if (absl::Status s = CheckHistograms(out.types_, out.samples_); !s.ok()) return s;
  return out;
}

std::optional<std::string> Exposition::Type(const std::string& family) const {
  auto it = types_.find(family);
  if (it == types_.end()) return std::nullopt;
  return it->second;
}

std::optional<double> Exposition::Value(const std::string& name, const MetricLabels& labels) const {
  for (const MetricSample& s : samples_) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

std::vector<MetricSample> Exposition::Samples(const std::string& name) const {
  std::vector<MetricSample> out;
  for (const MetricSample& s : samples_) {
    if (s.name == name) out.push_back(s);
  }
  return out;
}

absl::StatusOr<Exposition> ScrapeMetrics(int port) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string body;
  const std::string url = absl::StrCat("http://127.0.0.1:", port, "/metrics");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  char* content_type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
  const std::string type = content_type == nullptr ? "" : content_type;
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat("GET ", url, ": ", curl_easy_strerror(rc)));
  if (status != 200) return absl::UnavailableError(absl::StrCat("GET ", url, ": HTTP ", status));
  // The text format's content type: text/plain; version=0.0.4.
  if (!absl::StartsWith(type, "text/plain")) {
    return absl::UnavailableError(absl::StrCat("GET ", url, ": content type \"", type, "\""));
  }
  return Exposition::Parse(body);
}

}  // namespace baton::testing
