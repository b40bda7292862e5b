// Encryption at rest: the store's payload records are AES-256-GCM ciphertext on disk,
// readable with the key file, across key rotation, and records written in the clear
// before encryption was turned on stay readable.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "orchestrator/store/rocksdb_backup.h"
#include "orchestrator/store/rocksdb_run_store.h"
#include "orchestrator/store/value_cipher.h"

namespace baton::orchestrator {
namespace {

using ::testing::HasSubstr;

constexpr char kSecret[] = "the-launch-code-is-0000-and-nobody-may-read-it";

std::string Key(char fill) { return absl::Base64Escape(std::string(32, fill)); }

class EncryptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baton_crypt_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteKeys(const std::string& text) {
    const std::string path = (dir_ / "keys").string();
    std::ofstream(path) << text;
    return path;
  }

  RocksDbStoreOptions Options(const std::string& key_file) {
    RocksDbStoreOptions options;
    options.path = (dir_ / "db").string();
    options.block_cache_bytes = 1 << 20;
    options.encryption_key_file = key_file;
    return options;
  }

  std::unique_ptr<RocksDbRunStore> Open(const std::string& key_file) {
    absl::StatusOr<std::unique_ptr<RocksDbRunStore>> store = RocksDbRunStore::Open(Options(key_file));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // A run whose input, output, model turn, tool call, tool result, event and approval
  // all hold `text`.
  static StoreBatch Batch(const std::string& run_id, const std::string& text) {
    StoreBatch batch;
    v1::Run run;
    run.set_run_id(run_id);
    run.set_input(absl::StrCat("input ", text));
    run.set_output(absl::StrCat("output ", text));
    batch.put_runs.push_back(run);
    v1::JournalEntry turn;
    turn.set_seq(1);
    turn.mutable_model_turn()->set_content_json(absl::StrCat(R"([{"type":"text","text":")", text, R"("}])"));
    batch.journal.emplace_back(run_id, turn);
    v1::JournalEntry call;
    call.set_seq(2);
    call.mutable_tool_call()->set_input_json(absl::StrCat(R"({"q":")", text, R"("})"));
    batch.journal.emplace_back(run_id, call);
    v1::JournalEntry result;
    result.set_seq(3);
    result.mutable_tool_result()->set_content_json(absl::StrCat("\"", text, "\""));
    batch.journal.emplace_back(run_id, result);
    v1::RunEvent event;
    event.set_run_id(run_id);
    event.set_seq(1);
    event.mutable_text()->set_text(text);
    batch.events.push_back(event);
    v1::Approval approval;
    approval.set_approval_id(absl::StrCat(run_id, ":0:t"));
    approval.set_run_id(run_id);
    approval.set_input_json(text);
    batch.approvals.push_back(approval);
    return batch;
  }

  // Whether `needle` occurs in the raw bytes of any file under the database directory
  // (SST, WAL, MANIFEST, RocksDB's LOG).
  bool FoundOnDisk(const std::string& needle, const std::string& sub = "db") {
    std::optional<std::filesystem::path> found = FileHolding(needle, sub);
    if (found.has_value()) ADD_FAILURE() << absl::CEscape(needle) << " found in " << *found;
    return found.has_value();
  }
  // The first file under `sub` whose raw bytes hold `needle`.
  std::optional<std::filesystem::path> FileHolding(const std::string& needle, const std::string& sub = "db") {
    for (const auto& file : std::filesystem::recursive_directory_iterator(dir_ / sub)) {
      if (!file.is_regular_file()) continue;
      std::ifstream in(file.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (bytes.find(needle) != std::string::npos) return file.path();
    }
    return std::nullopt;
  }

  std::filesystem::path dir_;
};

TEST_F(EncryptionTest, PayloadsAreNowhereOnDiskInTheClearAndReadBackWithTheKey) {
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit(Batch("run_1", kSecret)).ok());
  }
  EXPECT_FALSE(FoundOnDisk(kSecret));
  std::unique_ptr<RocksDbRunStore> store = Open(keys);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::optional<v1::Run>> run = store->GetRun("run_1");
  ASSERT_TRUE(run.ok() && run->has_value()) << run.status();
  EXPECT_EQ((*run)->input(), absl::StrCat("input ", kSecret));
  absl::StatusOr<std::vector<v1::JournalEntry>> journal = store->ReadJournal("run_1");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 3u);
  EXPECT_THAT((*journal)[2].tool_result().content_json(), HasSubstr(kSecret));
  absl::StatusOr<std::vector<v1::RunEvent>> events = store->ReadEvents("run_1", 0, 0);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].text().text(), kSecret);
  absl::StatusOr<std::optional<v1::Approval>> approval = store->GetApproval("run_1:0:t");
  ASSERT_TRUE(approval.ok() && approval->has_value());
  EXPECT_EQ((*approval)->input_json(), kSecret);
  absl::StatusOr<RunPage> page = store->ListRuns(RunFilter(), 10, "");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->runs.size(), 1u);
}

// The key that signs page tokens is a secret too: stored encrypted like the payloads,
// and the same after a restart, so the tokens handed out before stay valid.
TEST_F(EncryptionTest, ThePageTokenKeyIsNowhereOnDiskInTheClearAndOutlivesARestart) {
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  std::string page_token_key;
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_NE(store, nullptr);
    page_token_key = store->PageTokenKey();
    ASSERT_EQ(page_token_key.size(), 32u);
  }
  EXPECT_FALSE(FoundOnDisk(page_token_key));
  std::unique_ptr<RocksDbRunStore> store = Open(keys);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->PageTokenKey(), page_token_key);
}

// A store from before encryption was turned on keeps its key, and so its tokens; the
// next open with a key file stores it encrypted and leaves no copy in the clear.
TEST_F(EncryptionTest, APageTokenKeyStoredInTheClearIsEncryptedOnceEncryptionIsOn) {
  std::string page_token_key;
  {
    std::unique_ptr<RocksDbRunStore> store = Open("");
    ASSERT_NE(store, nullptr);
    page_token_key = store->PageTokenKey();
  }
  EXPECT_TRUE(FileHolding(page_token_key).has_value());  // the check below can fail
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->PageTokenKey(), page_token_key);
  }
  EXPECT_FALSE(FoundOnDisk(page_token_key));
  std::unique_ptr<RocksDbRunStore> store = Open(keys);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->PageTokenKey(), page_token_key);
}

// Opened without its key file, a store cannot read its page token key: it makes a new
// one (tokens handed out before are refused) rather than refusing to start.
TEST_F(EncryptionTest, AnEncryptedPageTokenKeyThatDoesNotDecryptIsReplaced) {
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  std::string page_token_key;
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_NE(store, nullptr);
    page_token_key = store->PageTokenKey();
  }
  std::unique_ptr<RocksDbRunStore> store = Open("");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->PageTokenKey().size(), 32u);
  EXPECT_NE(store->PageTokenKey(), page_token_key);
}

// A backup copies the records as they are: still encrypted, with their wrapped data
// keys; restored, they read back with the key file and not without it.
TEST_F(EncryptionTest, BackupsStayEncryptedAndRestoreReadableWithTheKeyFileOnly) {
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit(Batch("run_1", kSecret)).ok());
    absl::StatusOr<BackupInfo> backup = store->Backup((dir_ / "backup").string());
    ASSERT_TRUE(backup.ok()) << backup.status();
  }
  EXPECT_FALSE(FoundOnDisk(kSecret, "backup"));
  absl::StatusOr<BackupInfo> restored = RestoreBackup((dir_ / "backup").string(), (dir_ / "restored").string(), false);
  ASSERT_TRUE(restored.ok()) << restored.status();
  RocksDbStoreOptions options = Options(keys);
  options.path = (dir_ / "restored").string();
  {
    absl::StatusOr<std::unique_ptr<RocksDbRunStore>> store = RocksDbRunStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<std::optional<v1::Run>> run = (*store)->GetRun("run_1");
    ASSERT_TRUE(run.ok() && run->has_value()) << run.status();
    EXPECT_EQ((*run)->input(), absl::StrCat("input ", kSecret));
  }
  options.encryption_key_file.clear();
  absl::StatusOr<std::unique_ptr<RocksDbRunStore>> without_key = RocksDbRunStore::Open(options);
  ASSERT_TRUE(without_key.ok()) << without_key.status();
  EXPECT_EQ((*without_key)->GetRun("run_1").status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(EncryptionTest, TheScanFindsPlaintextWhenEncryptionIsOff) {
  // The check above could pass by scanning nothing: without a key, the text is there.
  {
    std::unique_ptr<RocksDbRunStore> store = Open("");
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Commit(Batch("run_1", "plainly-visible-marker")).ok());
  }
  bool found = false;
  for (const auto& file : std::filesystem::recursive_directory_iterator(dir_ / "db")) {
    if (!file.is_regular_file()) continue;
    std::ifstream in(file.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    found = found || bytes.find("plainly-visible-marker") != std::string::npos;
  }
  EXPECT_TRUE(found);
}

TEST_F(EncryptionTest, RecordsWrittenBeforeEncryptionStayReadable) {
  {
    std::unique_ptr<RocksDbRunStore> store = Open("");
    ASSERT_TRUE(store->Commit(Batch("run_old", "old")).ok());
  }
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  std::unique_ptr<RocksDbRunStore> store = Open(keys);
  ASSERT_TRUE(store->Commit(Batch("run_new", "new")).ok());
  EXPECT_EQ((*store->GetRun("run_old"))->input(), "input old");
  EXPECT_EQ((*store->GetRun("run_new"))->input(), "input new");
}

TEST_F(EncryptionTest, RotationKeepsOldRecordsReadableAndLetsTheOldKeyGo) {
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_TRUE(store->Commit(Batch("run_1", "first")).ok());
  }
  // A new key next to the old one: new writes use it, every data key is re-wrapped.
  WriteKeys(absl::StrCat("1 ", Key('a'), "\n2 ", Key('b'), "\n"));
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_TRUE(store->Commit(Batch("run_2", "second")).ok());
    EXPECT_EQ((*store->GetRun("run_1"))->input(), "input first");
  }
  // The old key removed: everything is still readable.
  WriteKeys(absl::StrCat("# rotated\n2 ", Key('b'), "\n"));
  std::unique_ptr<RocksDbRunStore> store = Open(keys);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ((*store->GetRun("run_1"))->input(), "input first");
  EXPECT_EQ((*store->GetRun("run_2"))->input(), "input second");
}

// One data key per namespace: made the first time the namespace is written, kept
// across restarts, re-wrapped by rotation like the others.
TEST_F(EncryptionTest, EachNamespaceGetsItsOwnDataKey) {
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_TRUE(store->Commit(Batch("team-a/run_1", "alpha-secret")).ok());
    ASSERT_TRUE(store->Commit(Batch("team-b/run_1", "beta-secret")).ok());
  }
  WriteKeys(absl::StrCat("1 ", Key('a'), "\n2 ", Key('b'), "\n"));
  { ASSERT_NE(Open(keys), nullptr); }  // rotation re-wraps both namespaces' keys
  WriteKeys(absl::StrCat("2 ", Key('b'), "\n"));
  std::unique_ptr<RocksDbRunStore> store = Open(keys);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ((*store->GetRun("team-a/run_1"))->input(), "input alpha-secret");
  EXPECT_EQ((*store->GetRun("team-b/run_1"))->input(), "input beta-secret");
  EXPECT_FALSE(FoundOnDisk("alpha-secret"));
  EXPECT_FALSE(FoundOnDisk("beta-secret"));
}

TEST_F(EncryptionTest, AMissingOrWrongKeyIsRefusedNotMisread) {
  const std::string keys = WriteKeys(absl::StrCat("1 ", Key('a'), "\n"));
  {
    std::unique_ptr<RocksDbRunStore> store = Open(keys);
    ASSERT_TRUE(store->Commit(Batch("run_1", "x")).ok());
  }
  // A key file that lost the version the data keys are wrapped by.
  WriteKeys(absl::StrCat("2 ", Key('b'), "\n"));
  absl::StatusOr<std::unique_ptr<RocksDbRunStore>> lost = RocksDbRunStore::Open(Options(keys));
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(lost.status().message(), HasSubstr("version 1"));
  // Another key under the same version.
  WriteKeys(absl::StrCat("1 ", Key('z'), "\n"));
  absl::StatusOr<std::unique_ptr<RocksDbRunStore>> wrong = RocksDbRunStore::Open(Options(keys));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss);
  // No key file at all: encrypted records are an error, not garbage.
  std::unique_ptr<RocksDbRunStore> store = Open("");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->GetRun("run_1").status().code(), absl::StatusCode::kDataLoss);
}

TEST(ValueCipherTest, ARecordMovedUnderAnotherKeyOrTamperedDoesNotDecrypt) {
  std::vector<StoredDataKey> to_store;
  absl::StatusOr<std::unique_ptr<ValueCipher>> cipher =
      ValueCipher::Create({{1, std::string(32, 'k')}}, {}, &to_store);
  ASSERT_TRUE(cipher.ok()) << cipher.status();
  ASSERT_EQ(to_store.size(), 1u);
  const std::string sealed = (*cipher)->Encrypt("default", "runs/run_1", "hello");
  EXPECT_TRUE(ValueCipher::IsEncrypted(sealed));
  EXPECT_EQ(sealed.find("hello"), std::string::npos);
  EXPECT_EQ(*(*cipher)->Decrypt("runs/run_1", sealed), "hello");
  EXPECT_EQ((*cipher)->Decrypt("runs/run_2", sealed).status().code(), absl::StatusCode::kDataLoss);
  std::string tampered = sealed;
  tampered[tampered.size() - 20] ^= 1;
  EXPECT_EQ((*cipher)->Decrypt("runs/run_1", tampered).status().code(), absl::StatusCode::kDataLoss);
  // Two encryptions of the same text differ (random nonces).
  EXPECT_NE((*cipher)->Encrypt("default", "a", "same"), (*cipher)->Encrypt("default", "a", "same"));
}

TEST(ValueCipherTest, ANewNamespaceEncryptsWithItsOwnKeyOnceAdded) {
  std::vector<StoredDataKey> to_store;
  absl::StatusOr<std::unique_ptr<ValueCipher>> cipher =
      ValueCipher::Create({{1, std::string(32, 'k')}}, {}, &to_store);
  ASSERT_TRUE(cipher.ok()) << cipher.status();
  EXPECT_FALSE((*cipher)->HasDataKey("team-a"));
  // The data key id follows the 3-byte magic.
  auto key_id = [](const std::string& sealed) { return sealed.substr(3, 4); };
  const std::string before = (*cipher)->Encrypt("team-a", "aad", "x");
  EXPECT_EQ(key_id(before), key_id((*cipher)->Encrypt("default", "aad", "x")));  // default's, until added
  StoredDataKey key = (*cipher)->NewDataKey("team-a");
  EXPECT_FALSE((*cipher)->HasDataKey("team-a"));  // not usable before it is stored
  (*cipher)->AddDataKey(key);
  EXPECT_TRUE((*cipher)->HasDataKey("team-a"));
  const std::string after = (*cipher)->Encrypt("team-a", "aad", "x");
  EXPECT_NE(key_id(after), key_id(before));
  EXPECT_EQ(*(*cipher)->Decrypt("aad", after), "x");
  EXPECT_EQ(*(*cipher)->Decrypt("aad", before), "x");
}

TEST(ValueCipherTest, KeyFilesWithMistakesAreRefusedNamingTheLine) {
  const std::string path = (std::filesystem::temp_directory_path() / "baton_kek_test").string();
  auto error_of = [&](const std::string& text) {
    std::ofstream(path) << text;
    absl::StatusOr<std::vector<KeyEncryptionKey>> keys = ReadKeyEncryptionKeys(path);
    return keys.ok() ? std::string("ok") : std::string(keys.status().message());
  };
  EXPECT_THAT(error_of(""), HasSubstr("holds no key"));
  EXPECT_THAT(error_of("1 short\n"), HasSubstr(":1: the key must be 32 bytes"));
  EXPECT_THAT(error_of(absl::StrCat("# c\n0 ", Key('a'), "\n")), HasSubstr(":2: expected"));
  EXPECT_THAT(error_of(absl::StrCat("1 ", Key('a'), "\n1 ", Key('b'), "\n")), HasSubstr("appears twice"));
  EXPECT_EQ(error_of(absl::StrCat("1 ", Key('a'), "  # first\n\n3 ", Key('b'), "\n")), "ok");
  // The key itself never appears in an error.
  EXPECT_THAT(error_of(absl::StrCat("x ", Key('q'), "\n")), ::testing::Not(HasSubstr(Key('q'))));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace baton::orchestrator
