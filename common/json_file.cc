#include "common/json_file.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace baton {

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json parsed = nlohmann::json::parse(text.str(), nullptr, false);
  if (parsed.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));
  return parsed;
}

}  // namespace baton
