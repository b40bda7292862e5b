#include "common/flags.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace baton {

absl::Status Flags::Parse(int argc, char** argv, int first) {
  bool only_positional = false;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (only_positional || arg.size() < 3 || arg.rfind("--", 0) != 0) {
      if (arg == "--") {
        only_positional = true;
        continue;
      }
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (bool_flags_.count(name)) {
      if (has_value) return absl::InvalidArgumentError(absl::StrCat("flag --", name, " takes no value"));
      values_[name] = "true";
    } else if (value_flags_.count(name)) {
      if (!has_value) {
        if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
        value = argv[++i];
      }
      values_[name] = value;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return absl::OkStatus();
}

std::string Flags::GetString(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

int64_t Flags::GetInt(const std::string& name, int64_t def, std::string* error) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  int64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v)) {
    if (error) *error = absl::StrCat("flag --", name, ": '", it->second, "' is not an integer");
    return def;
  }
  return v;
}

double Flags::GetDouble(const std::string& name, double def, std::string* error) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  double v = 0;
  if (!absl::SimpleAtod(it->second, &v)) {
    if (error) *error = absl::StrCat("flag --", name, ": '", it->second, "' is not a number");
    return def;
  }
  return v;
}

int64_t Flags::GetSeconds(const std::string& name, int64_t def, std::string* error) const {
  auto it = values_.find(name);
  if (it == values_.end()) return def;
  std::string_view text = it->second;
  int64_t unit = 1;
  if (!text.empty()) {
    switch (text.back()) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      default: unit = 0; break;
    }
    if (unit != 0) text.remove_suffix(1);
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &v) || v < 0 ||
      v > INT64_MAX / (unit == 0 ? 1 : unit)) {
    if (error) *error = absl::StrCat("flag --", name, ": '", it->second, "' is not a period (like 90s, 12h, 30d, or seconds)");
    return def;
  }
  return v * (unit == 0 ? 1 : unit);
}

}  // namespace baton
