// Page tokens clients cannot forge. A listing's position (the store's cursor: the last
// run id, agent name or approval id of a page) is handed out only bound to the listing
// and to the request it answered (namespace and filter) by an HMAC-SHA256 under a key
// that never leaves the orchestrator. A token the orchestrator did not make, or made
// for another listing, namespace or filter, is refused with INVALID_ARGUMENT naming
// page_token, instead of being read as a position (which answered a made-up token with
// an empty page, or with the whole list).
//
// The key is kept in the store (RunStore::PageTokenKey), so tokens stay valid across
// orchestrator restarts. Tokens do not expire: a position in a listing ordered by id or
// name stays meaningful. Pure: OpenSSL's HMAC, no gRPC, no store.
#ifndef BATON_ORCHESTRATOR_PAGE_TOKENS_H_
#define BATON_ORCHESTRATOR_PAGE_TOKENS_H_

#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace baton::orchestrator {

// What a token is bound to besides its listing: the request's namespace and every
// filter field, in a fixed order. Fields are length-prefixed, so ("a", "bc") and
// ("ab", "c") differ. The page size is not part of it: a client may change it between
// pages.
std::string PageScope(std::initializer_list<std::string_view> fields);

// Thread-safe (immutable). Holds the key; never prints it.
class PageTokens {
 public:
  // REQUIRES: `key` has at least 32 bytes.
  explicit PageTokens(std::string key);
  PageTokens(const PageTokens&) = delete;
  PageTokens& operator=(const PageTokens&) = delete;

  // The token that resumes `listing` ("ListRuns") for `scope` after `cursor`. An empty
  // cursor (the end of the listing) is an empty token.
  std::string Seal(std::string_view listing, std::string_view scope, std::string_view cursor) const;
  // The cursor `token` holds, when Seal made it for the same listing and scope; "" for
  // "" (the first page). Otherwise INVALID_ARGUMENT:
  //   page_token: not a token that ListRuns returned for this namespace and filter
  absl::StatusOr<std::string> Open(std::string_view listing, std::string_view scope, std::string_view token) const;

 private:
  std::string Mac(std::string_view listing, std::string_view scope, std::string_view cursor) const;

  const std::string key_;
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_PAGE_TOKENS_H_
