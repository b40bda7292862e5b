// API keys from the CLI's side: reading a key file, and the worker key `baton up`
// makes for its workers and bridge through KeyService.
#ifndef BATON_CLI_KEYS_H_
#define BATON_CLI_KEYS_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/tls.h"

namespace baton::cli {

// The key or JWT in `path` (surrounding whitespace dropped). NOT_FOUND or
// INVALID_ARGUMENT naming the file (never its contents).
absl::StatusOr<std::string> ReadApiKeyFile(const std::string& path);

// Principal of the keys `baton up` gives its workers and bridge.
inline constexpr char kStackWorkerPrincipal[] = "baton-up-workers";

// Creates a worker key at `addr` with `admin_key`, then revokes the worker keys of
// earlier `baton up` sessions (same principal). Returns the new key.
absl::StatusOr<std::string> CreateStackWorkerKey(const std::string& addr, const ClientTlsOptions& tls,
                                                 const std::string& admin_key);

}  // namespace baton::cli

#endif  // BATON_CLI_KEYS_H_
