// ParseJsonFast and DumpJson against nlohmann on arbitrary bytes. Properties: whatever
// the fast parser takes, nlohmann parses to the same tree with the same value types;
// what nlohmann refuses, the fast parser refuses too; ParseJson answers as nlohmann;
// DumpJson writes the bytes of nlohmann's dump, of the parsed tree and of the input
// itself as a string and as a key (which need not be UTF-8).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json_codec.h"
#include "tests/common/json_trees.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using json = nlohmann::json;
using baton::json_testing::SameTree;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const json want = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  const std::optional<json> fast = baton::ParseJsonFast(text);
  if (fast.has_value()) {
    FUZZ_CHECK(!want.is_discarded());
    FUZZ_CHECK(SameTree(*fast, want));
  }
  const json got = baton::ParseJson(text);
  FUZZ_CHECK(got.is_discarded() == want.is_discarded());
  if (!want.is_discarded()) FUZZ_CHECK(SameTree(got, want));

  auto nlohmann_dump = [](const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); };
  if (!want.is_discarded()) FUZZ_CHECK(baton::DumpJson(want) == nlohmann_dump(want));
  const json raw = std::string(text);
  FUZZ_CHECK(baton::DumpJson(raw) == nlohmann_dump(raw));
  const json keyed = {{std::string(text), raw}};
  FUZZ_CHECK(baton::DumpJson(keyed) == nlohmann_dump(keyed));
  return 0;
}
