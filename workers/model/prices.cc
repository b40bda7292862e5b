#include "workers/model/prices.h"


#include "absl/strings/str_cat.h"
#include "common/json_file.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

ModelPrices FromInputOutput(double input, double output) {
  return ModelPrices{input, output, input * 1.25, input * 2, input * 0.1, 200'000};
}

absl::StatusOr<double> Price(const json& entry, const std::string& at, const char* key,
                             std::optional<double> fallback) {
  if (!entry.contains(key)) {
    if (fallback.has_value()) return *fallback;
    return absl::InvalidArgumentError(absl::StrCat(at, ".", key, ": required"));
  }
  const json& v = entry[key];
  if (!v.is_number() || v.get<double>() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(at, ".", key, ": must be a number >= 0"));
  }
  return v.get<double>();
}

}  // namespace

PriceTable PriceTable::Default() {
  PriceTable table;
  for (const char* opus : {"claude-opus-4-5", "claude-opus-4-6", "claude-opus-4-7", "claude-opus-4-8"}) {
    table.models_[opus] = FromInputOutput(5, 25);
  }
  for (const char* sonnet : {"claude-sonnet-4-5", "claude-sonnet-4-6"}) {
    table.models_[sonnet] = FromInputOutput(3, 15);
  }
  table.models_["claude-haiku-4-5"] = FromInputOutput(1, 5);
  return table;
}

absl::StatusOr<PriceTable> PriceTable::FromJson(const json& config) {
  if (!config.is_object() || !config.contains("models") || !config["models"].is_object()) {
    return absl::InvalidArgumentError("models: required, an object of model id -> prices");
  }
  PriceTable table;
  for (const auto& [model, entry] : config["models"].items()) {
    const std::string at = absl::StrCat("models.", model);
    if (model.empty()) return absl::InvalidArgumentError("models: a model id is empty");
    if (!entry.is_object()) return absl::InvalidArgumentError(absl::StrCat(at, ": must be an object"));
    for (const auto& [key, value] : entry.items()) {
      static const char* kKnown[] = {"input", "output", "cache_write_5m", "cache_write_1h", "cache_read",
                                     "context_window"};
      if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown) &&
          (key.empty() || key[0] != '_')) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".", key, ": unknown field"));
      }
    }
    ModelPrices p;
    absl::StatusOr<double> v = Price(entry, at, "input", std::nullopt);
    if (!v.ok()) return v.status();
    p.input = *v;
    if (!(v = Price(entry, at, "output", std::nullopt)).ok()) return v.status();
    p.output = *v;
    if (!(v = Price(entry, at, "cache_write_5m", p.input * 1.25)).ok()) return v.status();
    p.cache_write_5m = *v;
    if (!(v = Price(entry, at, "cache_write_1h", p.input * 2)).ok()) return v.status();
    p.cache_write_1h = *v;
    if (!(v = Price(entry, at, "cache_read", p.input * 0.1)).ok()) return v.status();
    p.cache_read = *v;
    if (entry.contains("context_window")) {
      const json& w = entry["context_window"];
      if (!w.is_number_integer() || w.get<int64_t>() <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".context_window: must be an integer > 0"));
      }
      p.context_window = w.get<int64_t>();
    }
    table.models_[model] = p;
  }
  return table;
}

absl::StatusOr<PriceTable> PriceTable::Load(const std::string& path) {
  absl::StatusOr<json> config = ReadJsonFile(path);
  if (!config.ok()) return config.status();
  absl::StatusOr<PriceTable> table = FromJson(*config);
  if (!table.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", table.status().message()));
  return table;
}

const ModelPrices* PriceTable::Find(const std::string& model) const {
  if (auto it = models_.find(model); it != models_.end()) return &it->second;
  const ModelPrices* best = nullptr;
  size_t best_len = 0;
  for (const auto& [name, prices] : models_) {
    if (model.size() > name.size() && model.compare(0, name.size(), name) == 0 && model[name.size()] == '-' &&
        name.size() > best_len) {
      best = &prices;
      best_len = name.size();
    }
  }
  return best;
}

double PriceTable::Cost(const std::string& model, const TokenCounts& t) const {
  const ModelPrices* p = Find(model);
  if (p == nullptr) return 0;
  return (t.input * p->input + t.output * p->output + t.cache_write_5m * p->cache_write_5m +
          t.cache_write_1h * p->cache_write_1h + t.cache_read * p->cache_read) /
         1e6;
}

}  // namespace baton::worker
