// A small command-line parser: `--name=value`, `--name value` and `--flag`
// (boolean). Positional arguments are kept in order. Every flag a program reads
// must be declared, so a typo is an error that names the flag.
#ifndef BATON_COMMON_FLAGS_H_
#define BATON_COMMON_FLAGS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace baton {

class Flags {
 public:
  // `bool_flags` never take a value; `value_flags` always do.
  Flags(std::set<std::string> value_flags, std::set<std::string> bool_flags)
      : value_flags_(std::move(value_flags)), bool_flags_(std::move(bool_flags)) {}

  // Parses argv[first..argc). Stops treating words as flags after "--".
  absl::Status Parse(int argc, char** argv, int first = 1);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string GetString(const std::string& name, const std::string& def = "") const;
  // Returns `def` when absent; an unparsable number is reported by Parse's caller
  // through GetInt's `error` (set to a message naming the flag).
  int64_t GetInt(const std::string& name, int64_t def, std::string* error = nullptr) const;
  double GetDouble(const std::string& name, double def, std::string* error = nullptr) const;
  // A period in whole seconds: a non-negative integer with a unit, s, m, h or d
  // ("90s", "12h", "30d"), or without one (seconds). As GetInt otherwise.
  int64_t GetSeconds(const std::string& name, int64_t def, std::string* error = nullptr) const;
  bool GetBool(const std::string& name) const { return Has(name); }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::set<std::string> value_flags_;
  std::set<std::string> bool_flags_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace baton

#endif  // BATON_COMMON_FLAGS_H_
