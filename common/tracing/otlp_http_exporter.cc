#include "common/tracing/otlp_http_exporter.h"

#include <curl/curl.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/tracing/otlp_json.h"

namespace baton::tracing {
namespace {

std::atomic<bool> g_capture_content{false};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// "k1=v1,k2=v2" (the W3C Baggage form the OTEL_* lists use), values percent-decoded.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseList(const char* variable,
                                                                          absl::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
    const size_t eq = item.find('=');
    std::string key(absl::StripAsciiWhitespace(item.substr(0, eq)));
    if (eq == absl::string_view::npos || key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(variable, ": \"", absl::StripAsciiWhitespace(item), "\" is not key=value"));
    }
    out.emplace_back(PercentDecode(key), PercentDecode(absl::StripAsciiWhitespace(item.substr(eq + 1))));
  }
  return out;
}

absl::Status ParseMillis(const char* variable, const char* value, absl::Duration* out) {
  int64_t ms = 0;
  if (!absl::SimpleAtoi(value, &ms) || ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat(variable, ": \"", value, "\" is not a number of milliseconds"));
  }
  if (ms > 0) *out = absl::Milliseconds(ms);
  return absl::OkStatus();
}

absl::Status ParseCount(const char* variable, const char* value, size_t* out) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 1) {
    return absl::InvalidArgumentError(absl::StrCat(variable, ": \"", value, "\" is not a positive number"));
  }
  *out = static_cast<size_t>(n);
  return absl::OkStatus();
}

size_t DiscardBody(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

absl::StatusOr<std::optional<OtlpHttpExporterOptions>> OtlpHttpExporterOptions::FromEnvironment(
    const std::string& default_service_name, const std::function<const char*(const char*)>& getenv) {
  auto get = [&](const char* name) -> std::string {
    const char* v = getenv(name);
    return v == nullptr ? "" : std::string(absl::StripAsciiWhitespace(v));
  };
  if (absl::AsciiStrToLower(get("OTEL_SDK_DISABLED")) == "true") return std::nullopt;
  const std::string exporter = absl::AsciiStrToLower(get("OTEL_TRACES_EXPORTER"));
  if (exporter == "none") return std::nullopt;
  if (!exporter.empty() && exporter != "otlp") {
    return absl::InvalidArgumentError(
        absl::StrCat("OTEL_TRACES_EXPORTER: \"", exporter, "\" is not supported (otlp or none)"));
  }
  OtlpHttpExporterOptions options;
  if (std::string url = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); !url.empty()) {
    options.url = url;
  } else if (std::string base = get("OTEL_EXPORTER_OTLP_ENDPOINT"); !base.empty()) {
    options.url = absl::StrCat(absl::StripSuffix(base, "/"), "/v1/traces");
  } else {
    return std::nullopt;
  }
  if (!absl::StartsWith(options.url, "http://") && !absl::StartsWith(options.url, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat("OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT: \"", options.url,
                                                   "\" is not an http:// or https:// URL"));
  }
  for (const char* variable : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> headers = ParseList(variable, get(variable));
    if (!headers.ok()) return headers.status();
    for (auto& [k, v] : *headers) {
      // The traces-specific variable wins over the general one.
      bool replaced = false;
      for (auto& [hk, hv] : options.headers) {
        if (absl::AsciiStrToLower(hk) == absl::AsciiStrToLower(k)) {
          hv = v;
          replaced = true;
        }
      }
      if (!replaced) options.headers.emplace_back(k, v);
    }
  }
  for (const char* variable : {"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"}) {
    if (const std::string v = get(variable); !v.empty()) {
      if (absl::Status s = ParseMillis(variable, v.c_str(), &options.timeout); !s.ok()) return s;
    }
  }
  if (const std::string v = get("OTEL_BSP_SCHEDULE_DELAY"); !v.empty()) {
    if (absl::Status s = ParseMillis("OTEL_BSP_SCHEDULE_DELAY", v.c_str(), &options.schedule_delay); !s.ok()) return s;
  }
  if (const std::string v = get("OTEL_BSP_MAX_QUEUE_SIZE"); !v.empty()) {
    if (absl::Status s = ParseCount("OTEL_BSP_MAX_QUEUE_SIZE", v.c_str(), &options.max_queue_size); !s.ok()) return s;
  }
  if (const std::string v = get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"); !v.empty()) {
    if (absl::Status s = ParseCount("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", v.c_str(), &options.max_batch_size); !s.ok()) {
      return s;
    }
  }
  options.max_batch_size = std::min(options.max_batch_size, options.max_queue_size);

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> resource =
      ParseList("OTEL_RESOURCE_ATTRIBUTES", get("OTEL_RESOURCE_ATTRIBUTES"));
  if (!resource.ok()) return resource.status();
  std::string service_name = get("OTEL_SERVICE_NAME");
  for (auto& [k, v] : *resource) {
    if (k == "service.name") {
      if (service_name.empty()) service_name = v;  // OTEL_SERVICE_NAME wins
      continue;
    }
    options.resource.emplace_back(k, v);
  }
  options.resource.insert(options.resource.begin(),
                          {"service.name", service_name.empty() ? default_service_name : service_name});
  options.resource.emplace_back("telemetry.sdk.name", std::string("baton"));
  options.resource.emplace_back("telemetry.sdk.language", std::string("cpp"));
  return options;
}

OtlpHttpExporter::OtlpHttpExporter(OtlpHttpExporterOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { Loop(); });
}

OtlpHttpExporter::~OtlpHttpExporter() { Shutdown(); }

void OtlpHttpExporter::Export(SpanData span) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.max_queue_size) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queue_.push_back(std::move(span));
}

void OtlpHttpExporter::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    flush_deadline_ = absl::Now() + options_.timeout;
  }
  thread_.join();
  ReportLosses(/*final=*/true);
}

void OtlpHttpExporter::Loop() {
  curl_ = curl_easy_init();
  while (true) {
    std::vector<SpanData> batch;
    bool stopping;
    absl::Duration timeout = options_.timeout;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || queue_.size() >= options_.max_batch_size;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), options_.schedule_delay);
      stopping = stopping_;
      const absl::Duration left = flush_deadline_ - absl::Now();
      timeout = std::min(timeout, left);
      if (stopping && left <= absl::Milliseconds(1)) {
        // The collector is too slow to take the rest before the process ends.
        dropped_.fetch_add(static_cast<int64_t>(queue_.size()), std::memory_order_relaxed);
        queue_.clear();
      }
      while (!queue_.empty() && batch.size() < options_.max_batch_size) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      const int64_t n = static_cast<int64_t>(batch.size());
      if (absl::Status s = Post(EncodeOtlpJson(options_.resource, batch), timeout); s.ok()) {
        sent_.fetch_add(n, std::memory_order_relaxed);
      } else {
        // The first failure says why; later ones are counted (ReportLosses).
        if (failed_.fetch_add(n, std::memory_order_relaxed) == 0) {
          BATON_LOG(WARNING) << "tracing: " << n << " spans not exported to " << options_.url << ": " << s.message();
        }
      }
    } else if (stopping) {
      break;
    }
    ReportLosses(/*final=*/false);
  }
  curl_easy_cleanup(static_cast<CURL*>(curl_));
  curl_ = nullptr;
}

absl::Status OtlpHttpExporter::Post(const std::string& body, absl::Duration timeout) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  curl_easy_reset(curl);
  struct curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  for (const auto& [k, v] : options_.headers) headers = curl_slist_append(headers, absl::StrCat(k, ": ", v).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, std::max<long>(1, static_cast<long>(absl::ToInt64Milliseconds(timeout))));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, DiscardBody);
  const CURLcode code = curl_easy_perform(curl);
  long http_status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) return absl::UnavailableError(curl_easy_strerror(code));
  if (http_status < 200 || http_status >= 300) {
    return absl::UnavailableError(absl::StrCat("the collector answered HTTP ", http_status));
  }
  return absl::OkStatus();
}

void OtlpHttpExporter::ReportLosses(bool final) {
  const absl::Time now = absl::Now();
  if (!final && now - last_report_ < absl::Minutes(1)) return;
  const int64_t dropped = dropped_.load(std::memory_order_relaxed);
  const int64_t failed = failed_.load(std::memory_order_relaxed);
  if (dropped == reported_dropped_ && failed == reported_failed_) return;
  last_report_ = now;
  BATON_LOG(WARNING) << "tracing: so far " << dropped << " spans dropped (the queue of " << options_.max_queue_size
                     << " was full, or they were not sent by shutdown) and " << failed << " not accepted by "
                     << options_.url;
  reported_dropped_ = dropped;
  reported_failed_ = failed;
}

bool CaptureMessageContent() { return g_capture_content.load(std::memory_order_relaxed); }
void SetCaptureMessageContent(bool capture) { g_capture_content = capture; }

}  // namespace baton::tracing
