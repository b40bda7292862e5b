#include "orchestrator/store/value_cipher.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/openssl_ptr.h"

namespace baton::orchestrator {
namespace {

constexpr char kMagic[] = {'\x00', '\xBE', '\x01'};
constexpr size_t kMagicBytes = sizeof(kMagic);
constexpr size_t kKeyBytes = 32;
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr size_t kHeaderBytes = kMagicBytes + 4;
constexpr char kDefaultNamespace[] = "default";

void PutBE32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t GetBE32(std::string_view in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}


// One context per thread: creating one per record costs more than the encryption.
EVP_CIPHER_CTX* ThreadCtx() {
  thread_local CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  BATON_CHECK(ctx != nullptr) << "EVP_CIPHER_CTX_new failed";
  return ctx.get();
}

// AES-256-GCM, fetched once: given EVP_aes_256_gcm(), OpenSSL 3 looks the cipher up in
// its provider tables on every EVP_*Init_ex (a third of a record's cost).
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  BATON_CHECK(cipher != nullptr) << "OpenSSL has no AES-256-GCM";
  return cipher;
}

// A fresh random nonce from a per-thread pool refilled by one RAND_bytes per 341
// nonces: a RAND_bytes call per record cost more than encrypting it. Still 96 random
// bits per nonce from OpenSSL's CSPRNG. (The orchestrator never forks, so no pool is
// shared with a child.)
void RandomNonce(unsigned char* nonce) {
  thread_local unsigned char pool[kNonceBytes * 341];
  thread_local size_t used = sizeof(pool);
  if (used + kNonceBytes > sizeof(pool)) {
    BATON_CHECK(RAND_bytes(pool, sizeof(pool)) == 1) << "RAND_bytes failed";
    used = 0;
  }
  std::memcpy(nonce, pool + used, kNonceBytes);
  used += kNonceBytes;
}

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// nonce | ciphertext | tag, appended to `out`.
void Seal(const std::string& key, std::string_view aad, std::string_view plaintext, std::string& out) {
  unsigned char nonce[kNonceBytes];
  RandomNonce(nonce);
  EVP_CIPHER_CTX* ctx = ThreadCtx();
  int len = 0;
  BATON_CHECK(EVP_EncryptInit_ex(ctx, Aes256Gcm(), nullptr, Bytes(key), nonce) == 1);
  BATON_CHECK(EVP_EncryptUpdate(ctx, nullptr, &len, Bytes(aad), static_cast<int>(aad.size())) == 1);
  const size_t start = out.size();
  out.append(reinterpret_cast<const char*>(nonce), kNonceBytes);
  out.resize(start + kNonceBytes + plaintext.size() + kTagBytes);
  auto* cipher = reinterpret_cast<unsigned char*>(out.data() + start + kNonceBytes);
  BATON_CHECK(EVP_EncryptUpdate(ctx, cipher, &len, Bytes(plaintext), static_cast<int>(plaintext.size())) == 1);
  int final_len = 0;
  BATON_CHECK(EVP_EncryptFinal_ex(ctx, cipher + len, &final_len) == 1);
  BATON_CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, cipher + plaintext.size()) == 1);
}

// `sealed`: nonce | ciphertext | tag. False when it does not authenticate.
bool Open(const std::string& key, std::string_view aad, std::string_view sealed, std::string& plaintext) {
  if (sealed.size() < kNonceBytes + kTagBytes) return false;
  const size_t text_bytes = sealed.size() - kNonceBytes - kTagBytes;
  EVP_CIPHER_CTX* ctx = ThreadCtx();
  int len = 0;
  if (EVP_DecryptInit_ex(ctx, Aes256Gcm(), nullptr, Bytes(key), Bytes(sealed)) != 1) return false;
  if (EVP_DecryptUpdate(ctx, nullptr, &len, Bytes(aad), static_cast<int>(aad.size())) != 1) return false;
  plaintext.resize(text_bytes);
  if (EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(plaintext.data()), &len,
                        Bytes(sealed.substr(kNonceBytes)), static_cast<int>(text_bytes)) != 1) {
    return false;
  }
  std::string tag(sealed.substr(kNonceBytes + text_bytes));
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1) return false;
  int final_len = 0;
  return EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(plaintext.data()) + len, &final_len) == 1;
}

// What a wrapped data key is bound to.
std::string WrapAad(uint32_t id, std::string_view name_space, uint32_t kek_version) {
  return absl::StrCat("baton data key ", id, " ", absl::string_view(name_space.data(), name_space.size()), " ",
                      kek_version);
}

}  // namespace

absl::StatusOr<std::vector<KeyEncryptionKey>> ReadKeyEncryptionKeys(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot be read"));
  std::vector<KeyEncryptionKey> keys;
  std::set<uint32_t> versions;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string uncommented = line.substr(0, line.find('#'));
    absl::string_view text = absl::StripAsciiWhitespace(uncommented);
    if (text.empty()) continue;
    std::vector<absl::string_view> parts = absl::StrSplit(text, ' ', absl::SkipWhitespace());
    const std::string at = absl::StrCat(path, ":", number, ": ");
    uint32_t version = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &version) || version == 0) {
      return absl::InvalidArgumentError(absl::StrCat(at, "expected \"<version> <base64 key>\" with a version >= 1"));
    }
    std::string key;
    if (!absl::Base64Unescape(parts[1], &key) || key.size() != kKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat(at, "the key must be 32 bytes in base64 (openssl rand -base64 32)"));
    }
    if (!versions.insert(version).second) {
      return absl::InvalidArgumentError(absl::StrCat(at, "version ", version, " appears twice"));
    }
    keys.push_back({version, std::move(key)});
  }
  if (keys.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": holds no key"));
  return keys;
}

absl::StatusOr<std::unique_ptr<ValueCipher>> ValueCipher::Create(std::vector<KeyEncryptionKey> keks,
                                                                const std::vector<StoredDataKey>& stored,
                                                                std::vector<StoredDataKey>* to_store) {
  if (keks.empty()) return absl::InvalidArgumentError("no key-encryption key");
  std::map<uint32_t, std::string> kek_by_version;
  for (KeyEncryptionKey& kek : keks) kek_by_version[kek.version] = std::move(kek.key);
  const uint32_t current_version = kek_by_version.rbegin()->first;
  const std::string& current_kek = kek_by_version.rbegin()->second;

  std::unique_ptr<ValueCipher> cipher(new ValueCipher());
  cipher->current_kek_ = current_kek;
  cipher->current_kek_version_ = current_version;
  absl::MutexLock lock(&cipher->mu_);
  uint32_t next_id = 1;
  std::set<std::string> namespaces = {kDefaultNamespace};
  for (const StoredDataKey& key : stored) {
    next_id = std::max(next_id, key.id + 1);
    namespaces.insert(key.name_space);
    auto kek = kek_by_version.find(key.kek_version);
    if (kek == kek_by_version.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data key ", key.id, " is wrapped by key-encryption key version ", key.kek_version,
          ", which the key file no longer holds: put it back (the next start re-wraps every data key by the "
          "newest version, after which it can go)"));
    }
    std::string plain;
    if (!Open(kek->second, WrapAad(key.id, key.name_space, key.kek_version), key.wrapped, plain) ||
        plain.size() != kKeyBytes) {
      return absl::DataLossError(absl::StrCat("data key ", key.id, " does not unwrap with key-encryption key version ",
                                              key.kek_version, " (a different key under the same version?)"));
    }
    if (key.kek_version != current_version) {
      StoredDataKey rewrapped = key;
      rewrapped.kek_version = current_version;
      rewrapped.wrapped.clear();
      Seal(current_kek, WrapAad(key.id, key.name_space, current_version), plain, rewrapped.wrapped);
      to_store->push_back(std::move(rewrapped));
    } else {
      // Keys wrapped by the current KEK were made under it: new writes use the newest.
      auto& current = cipher->current_[key.name_space];
      current = std::max(current, key.id);
    }
    cipher->keys_[key.id] = std::move(plain);
  }
  cipher->next_id_ = next_id;
  // A namespace whose data keys all predate the current KEK gets a new one.
  for (const std::string& name_space : namespaces) {
    if (cipher->current_.contains(name_space)) continue;
    StoredDataKey key = cipher->NewDataKeyLocked(name_space);
    cipher->AddDataKeyLocked(key);
    to_store->push_back(std::move(key));
  }
  return cipher;
}

StoredDataKey ValueCipher::NewDataKeyLocked(std::string_view ns) {
  std::string plain(kKeyBytes, '\0');
  BATON_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(plain.data()), kKeyBytes) == 1) << "RAND_bytes failed";
  StoredDataKey key;
  key.id = next_id_++;
  key.name_space = std::string(ns);
  key.kek_version = current_kek_version_;
  Seal(current_kek_, WrapAad(key.id, key.name_space, current_kek_version_), plain, key.wrapped);
  unsaved_[key.id] = std::move(plain);
  return key;
}

void ValueCipher::AddDataKeyLocked(const StoredDataKey& key) {
  auto unsaved = unsaved_.find(key.id);
  BATON_CHECK(unsaved != unsaved_.end()) << "data key " << key.id << " was not made by NewDataKey";
  keys_[key.id] = std::move(unsaved->second);
  unsaved_.erase(unsaved);
  current_[key.name_space] = key.id;
}

bool ValueCipher::HasDataKey(std::string_view ns) const {
  absl::ReaderMutexLock lock(&mu_);
  return current_.find(ns) != current_.end();
}

StoredDataKey ValueCipher::NewDataKey(std::string_view ns) {
  absl::MutexLock lock(&mu_);
  return NewDataKeyLocked(ns);
}

void ValueCipher::AddDataKey(const StoredDataKey& key) {
  absl::MutexLock lock(&mu_);
  AddDataKeyLocked(key);
}

ValueCipher::~ValueCipher() {
  absl::MutexLock lock(&mu_);
  for (auto& [id, key] : unsaved_) OPENSSL_cleanse(key.data(), key.size());
  for (auto& [id, key] : keys_) OPENSSL_cleanse(key.data(), key.size());
}

std::string ValueCipher::Encrypt(std::string_view name_space, std::string_view aad, std::string_view plaintext) const {
  absl::ReaderMutexLock lock(&mu_);
  auto current = current_.find(name_space);
  if (current == current_.end()) current = current_.find(kDefaultNamespace);
  BATON_CHECK(current != current_.end()) << "no data key for the default namespace";
  std::string out;
  out.reserve(kHeaderBytes + kNonceBytes + plaintext.size() + kTagBytes);
  out.append(kMagic, kMagicBytes);
  PutBE32(out, current->second);
  Seal(keys_.at(current->second), aad, plaintext, out);
  return out;
}

absl::StatusOr<std::string> ValueCipher::Decrypt(std::string_view aad, std::string_view value) const {
  if (!IsEncrypted(value) || value.size() < kHeaderBytes) {
    return absl::DataLossError("not an encrypted record");
  }
  const uint32_t id = GetBE32(value.substr(kMagicBytes));
  absl::ReaderMutexLock lock(&mu_);
  auto key = keys_.find(id);
  if (key == keys_.end()) return absl::DataLossError(absl::StrCat("encrypted with unknown data key ", id));
  std::string plaintext;
  if (!Open(key->second, aad, value.substr(kHeaderBytes), plaintext)) {
    return absl::DataLossError("an encrypted record does not authenticate (tampered, or moved from another key)");
  }
  return plaintext;
}

bool ValueCipher::IsEncrypted(std::string_view value) {
  return value.size() >= kMagicBytes && value.substr(0, kMagicBytes) == std::string_view(kMagic, kMagicBytes);
}

std::string ValueCipher::EncodeDataKey(const StoredDataKey& key) {
  std::string out;
  PutBE32(out, key.id);
  PutBE32(out, key.kek_version);
  PutBE32(out, static_cast<uint32_t>(key.name_space.size()));
  out.append(key.name_space);
  out.append(key.wrapped);
  return out;
}

absl::StatusOr<StoredDataKey> ValueCipher::DecodeDataKey(std::string_view bytes) {
  if (bytes.size() < 12) return absl::DataLossError("data key record too short");
  StoredDataKey key;
  key.id = GetBE32(bytes);
  key.kek_version = GetBE32(bytes.substr(4));
  const uint32_t ns_bytes = GetBE32(bytes.substr(8));
  if (bytes.size() < 12 + ns_bytes) return absl::DataLossError("data key record too short");
  key.name_space = std::string(bytes.substr(12, ns_bytes));
  key.wrapped = std::string(bytes.substr(12 + ns_bytes));
  return key;
}

}  // namespace baton::orchestrator
