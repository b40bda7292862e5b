// Reading a JSON configuration file with errors that name the file.
#ifndef BATON_COMMON_JSON_FILE_H_
#define BATON_COMMON_JSON_FILE_H_

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace baton {

// kNotFound "<path>: cannot open" or kInvalidArgument "<path>: not JSON".
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

}  // namespace baton

#endif  // BATON_COMMON_JSON_FILE_H_
