// Comparing JSON trees as the JSON codec's tests need it (tests/common/json_codec_test.cc,
// tests/fuzz/json_codec_fuzz.cc).
#ifndef BATON_TESTS_COMMON_JSON_TREES_H_
#define BATON_TESTS_COMMON_JSON_TREES_H_

#include <cstddef>

#include "nlohmann/json.hpp"

namespace baton::json_testing {

// Equal trees with equal value types: nlohmann's == takes 5u and 5 for equal.
inline bool SameTree(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(), jt = b.begin(); it != a.end(); ++it, ++jt) {
      if (it.key() != jt.key() || !SameTree(it.value(), jt.value())) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!SameTree(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace baton::json_testing

#endif  // BATON_TESTS_COMMON_JSON_TREES_H_
