// Encryption at rest of the store's payload records (runs, journal entries, events,
// approvals): AES-256-GCM through OpenSSL's EVP API.
//
// Two levels of keys, as envelope encryption does it:
//   - key-encryption keys (KEKs) come from a file the operator provides and rotates:
//     one key per line, "<version> <base64 of 32 random bytes>" (`#` starts a
//     comment); the highest version is the current one;
//   - data keys (DEKs), one per namespace and KEK generation, are random, stored in
//     the database wrapped (AES-256-GCM) by the current KEK.
// A value is written as 0x00 0xBE 0x01 | BE32(data key id) | 12-byte nonce |
// ciphertext | 16-byte tag, with the record's column family and key as additional
// authenticated data, so a value moved under another key does not decrypt. A protobuf
// record never starts with 0x00 (field number 0 does not exist), so records written
// before encryption was turned on stay readable as they are.
//
// Rotation: start the orchestrator with a file holding a new, higher version next to
// the old one. New writes use a new data key wrapped by the new KEK; every stored data
// key is re-wrapped by the new KEK at that start, after which the old KEK can be
// removed from the file. Old records stay readable: their data keys are kept.
#ifndef BATON_ORCHESTRATOR_STORE_VALUE_CIPHER_H_
#define BATON_ORCHESTRATOR_STORE_VALUE_CIPHER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace baton::orchestrator {

struct KeyEncryptionKey {
  uint32_t version = 0;
  std::string key;  // 32 bytes
};

// Parses a KEK file. INVALID_ARGUMENT names the line and what is wrong; the file must
// hold at least one key and no version twice. Keys never appear in messages.
absl::StatusOr<std::vector<KeyEncryptionKey>> ReadKeyEncryptionKeys(const std::string& path);

// A data key as stored: wrapped by KEK `kek_version`.
struct StoredDataKey {
  uint32_t id = 0;
  std::string name_space;
  uint32_t kek_version = 0;
  std::string wrapped;  // nonce | ciphertext | tag
};

// Thread-safe after Create.
class ValueCipher {
 public:
  // Unwraps `stored` with `keks`; data keys to (re)write are appended to `to_store`:
  // a new data key per namespace in use when none is wrapped by the current KEK yet,
  // and every stored key not wrapped by the current KEK, re-wrapped. FAILED_PRECONDITION
  // when a stored key's KEK is not in `keks` (the file lost a key still needed).
  static absl::StatusOr<std::unique_ptr<ValueCipher>> Create(std::vector<KeyEncryptionKey> keks,
                                                            const std::vector<StoredDataKey>& stored,
                                                            std::vector<StoredDataKey>* to_store);
  ~ValueCipher();

  // True when writes of `ns` have a data key wrapped by the current KEK.
  bool HasDataKey(std::string_view ns) const;
  // A new data key for `ns`, wrapped by the current KEK, not yet usable: the caller
  // stores it durably, then calls AddDataKey. Never two calls at once.
  StoredDataKey NewDataKey(std::string_view ns);
  // Makes a key from NewDataKey current for its namespace.
  void AddDataKey(const StoredDataKey& key);

  // `aad` binds the value to where it is stored. A namespace without a data key uses
  // the default namespace's.
  std::string Encrypt(std::string_view name_space, std::string_view aad, std::string_view plaintext) const;
  // DATA_LOSS when the value does not decrypt (tampered, moved, unknown data key).
  absl::StatusOr<std::string> Decrypt(std::string_view aad, std::string_view value) const;
  static bool IsEncrypted(std::string_view value);

  // StoredDataKey as the database holds it, and back.
  static std::string EncodeDataKey(const StoredDataKey& key);
  static absl::StatusOr<StoredDataKey> DecodeDataKey(std::string_view bytes);

 private:
  ValueCipher() = default;
  StoredDataKey NewDataKeyLocked(std::string_view ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddDataKeyLocked(const StoredDataKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::string current_kek_;
  uint32_t current_kek_version_ = 0;

  mutable absl::Mutex mu_;
  uint32_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // data key id -> key bytes
  std::map<uint32_t, std::string> keys_ ABSL_GUARDED_BY(mu_);
  // namespace -> id of the data key new writes use
  std::map<std::string, uint32_t, std::less<>> current_ ABSL_GUARDED_BY(mu_);
  // Made by NewDataKey, not yet added: key id -> key bytes.
  std::map<uint32_t, std::string> unsaved_ ABSL_GUARDED_BY(mu_);
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_STORE_VALUE_CIPHER_H_
