#include "orchestrator/auth/key_registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/namespaces.h"
#include "common/status_macros.h"
#include "orchestrator/auth/api_key.h"

namespace baton::orchestrator::auth {
namespace {

constexpr size_t kMaxPrincipalBytes = 128;

bool IsPrintable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeyRegistry>> KeyRegistry::Open(KeyStore& store, const Clock& clock) {
  std::unique_ptr<KeyRegistry> registry(new KeyRegistry(store, clock));
  absl::StatusOr<std::vector<v1::StoredApiKey>> keys = store.LoadAll();
  if (!keys.ok()) return keys.status();
  absl::MutexLock lock(&registry->mu_);
  for (v1::StoredApiKey& key : *keys) {
    std::string id = key.key().key_id();
    registry->keys_.emplace(std::move(id), std::move(key));
  }
  return registry;
}

absl::StatusOr<KeyRegistry::CreatedKey> KeyRegistry::Create(std::string_view principal,
                                                            const std::vector<std::string>& roles,
                                                            const std::vector<std::string>& namespaces) {
  if (principal.empty() || principal.size() > kMaxPrincipalBytes || !IsPrintable(principal)) {
    return absl::InvalidArgumentError(
        absl::StrCat("principal: must be 1 to ", kMaxPrincipalBytes, " printable ASCII characters"));
  }
  if (roles.empty()) return absl::InvalidArgumentError("roles: at least one of reader, operator, admin, worker");
  for (const std::string& role : roles) {
    if (!ParseRole(role).has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("roles: unknown role \"", role, "\" (reader, operator, admin, worker)"));
    }
  }
  for (const std::string& ns : namespaces) {
    if (!IsValidNamespace(ns) && ns != kAllNamespaces) {
      return absl::InvalidArgumentError(
          absl::StrCat("namespaces: \"", ns, "\" must be 1 to 63 of [a-z0-9_-], or \"*\" for every namespace"));
    }
  }
  ASSIGN_OR_RETURN(std::string secret, NewSecret());
  v1::StoredApiKey stored;
  v1::ApiKey& key = *stored.mutable_key();
  key.set_principal(std::string(principal));
  for (const std::string& role : roles) key.add_roles(role);
  if (namespaces.empty()) {
    key.add_namespaces(kDefaultNamespace);
  } else {
    for (const std::string& ns : namespaces) key.add_namespaces(ns);
  }
  key.set_create_time_ms(clock_.NowMillis());
  stored.set_secret_sha256(HashSecret(secret));

  absl::MutexLock write_lock(&write_mu_);
  std::string key_id;
  for (;;) {  // 64 random bits: a collision is all but impossible, but cheap to rule out
    ASSIGN_OR_RETURN(key_id, NewKeyId());
    absl::ReaderMutexLock lock(&mu_);
    if (!keys_.contains(key_id)) break;
  }
  key.set_key_id(key_id);
  RETURN_IF_ERROR(store_.Put(stored));
  CreatedKey created{key, FormatApiKey(key_id, secret)};
  {
    absl::MutexLock lock(&mu_);
    keys_.emplace(key_id, std::move(stored));
  }
  return created;
}

absl::StatusOr<v1::ApiKey> KeyRegistry::Revoke(std::string_view key_id) {
  absl::MutexLock write_lock(&write_mu_);
  v1::StoredApiKey stored;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = keys_.find(std::string(key_id));
    if (it == keys_.end()) return absl::NotFoundError(absl::StrCat("key \"", std::string(key_id), "\" not found"));
    stored = it->second;
  }
  if (stored.key().revoked()) return stored.key();
  stored.mutable_key()->set_revoked(true);
  RETURN_IF_ERROR(store_.Put(stored));
  absl::MutexLock lock(&mu_);
  keys_[std::string(key_id)] = stored;
  return stored.key();
}

std::vector<v1::ApiKey> KeyRegistry::List() const {
  std::vector<v1::ApiKey> keys;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, stored] : keys_) keys.push_back(stored.key());
  }
  std::sort(keys.begin(), keys.end(), [](const v1::ApiKey& a, const v1::ApiKey& b) {
    return a.create_time_ms() != b.create_time_ms() ? a.create_time_ms() < b.create_time_ms() : a.key_id() < b.key_id();
  });
  return keys;
}

bool KeyRegistry::Empty() const {
  absl::ReaderMutexLock lock(&mu_);
  return keys_.empty();
}

absl::StatusOr<Principal> KeyRegistry::Authenticate(std::string_view key) const {
  ASSIGN_OR_RETURN(ParsedApiKey parsed, ParseApiKey(key));
  Principal principal;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = keys_.find(parsed.key_id);
    // The same answer for an unknown id and a wrong secret would hide which ids
    // exist, but ids are not secret (they are listed and logged); naming the cause
    // helps the operator.
    if (it == keys_.end()) return absl::UnauthenticatedError(absl::StrCat("API key ", parsed.key_id, " is unknown"));
    if (!SecretMatches(parsed.secret, it->second.secret_sha256())) {
      return absl::UnauthenticatedError(absl::StrCat("API key ", parsed.key_id, ": wrong secret"));
    }
    const v1::ApiKey& stored = it->second.key();
    if (stored.revoked()) return absl::UnauthenticatedError(absl::StrCat("API key ", parsed.key_id, " is revoked"));
    principal.name = stored.principal();
    for (const std::string& role : stored.roles()) {
      if (std::optional<Role> r = ParseRole(role); r.has_value()) principal.roles.push_back(*r);
    }
    principal.namespaces.assign(stored.namespaces().begin(), stored.namespaces().end());
  }
  if (principal.namespaces.empty()) principal.namespaces.push_back(kDefaultNamespace);
  principal.credential = absl::StrCat("api_key:", parsed.key_id);
  return principal;
}

}  // namespace baton::orchestrator::auth
