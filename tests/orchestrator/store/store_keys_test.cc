#include "orchestrator/store/store_keys.h"

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "orchestrator/store/value_cipher.h"

namespace baton::orchestrator::store_keys {
namespace {

TEST(StoreKeysTest, QueueKeyByteOrderIsDequeueOrder) {
  std::mt19937 rng(1);
  const std::vector<int32_t> priorities = {INT32_MIN, -1000, -1, 0, 1, 7, INT32_MAX};
  const std::vector<int64_t> times = {INT64_MIN, -5, 0, 1, 255, 256, 1700000000000, INT64_MAX};
  const std::vector<std::string> ids = {"a", "ab", "b", "run_1", "run_10"};
  std::vector<QueueEntry> entries;
  for (int32_t p : priorities) {
    for (int64_t t : times) {
      for (const std::string& id : ids) entries.push_back({p, t, id});
    }
  }
  std::shuffle(entries.begin(), entries.end(), rng);
  for (size_t i = 0; i + 1 < entries.size(); ++i) {
    const QueueEntry& a = entries[i];
    const QueueEntry& b = entries[i + 1];
    EXPECT_EQ(QueueKey(a) < QueueKey(b), QueueOrderLess(a, b))
        << a.priority << "/" << a.enqueue_time_ms << "/" << a.run_id << " vs " << b.priority
        << "/" << b.enqueue_time_ms << "/" << b.run_id;
  }
  EXPECT_TRUE(QueueOrderLess({5, 100, "z"}, {4, 0, "a"}));
  EXPECT_TRUE(QueueOrderLess({5, 1, "z"}, {5, 2, "a"}));
  EXPECT_TRUE(QueueOrderLess({5, 1, "a"}, {5, 1, "b"}));
  EXPECT_FALSE(QueueOrderLess({5, 1, "a"}, {5, 1, "a"}));
}

// A record already cut is stored as it is (no copy); anything more goes through
// StoredRecord, so a whole agent, input, graph or wait never reaches the record.
// An events value is told from a one-event record of format 5 and from an encrypted
// value by its first bytes, whatever its events' sizes; a cut one is refused.
TEST(StoreKeysTest, AnEventGroupReadsBackAndIsNeverTakenForAnotherShape) {
  for (size_t size = 0; size < 400; ++size) {
    EventGroup group;
    std::vector<v1::RunEvent> events(2);
    for (int i = 0; i < 2; ++i) {
      events[i].set_run_id("team/run_1");
      events[i].set_seq(7 + i);
      events[i].mutable_text()->set_text(std::string(size, 'a' + i));
      group.Add(events[i]);
    }
    const std::string bytes = group.bytes();
    ASSERT_FALSE(ValueCipher::IsEncrypted(bytes)) << size;
    // The run id is the key's, not stored again.
    EXPECT_EQ(bytes.find("team/run_1"), std::string::npos) << size;
    std::vector<v1::RunEvent> got;
    ASSERT_TRUE(DecodeEvents("team/run_1", bytes, &got)) << size;
    ASSERT_EQ(got.size(), 2u);
    for (int i = 0; i < 2; ++i) EXPECT_EQ(got[i].SerializeAsString(), events[i].SerializeAsString()) << size;
    got.clear();
    EXPECT_FALSE(DecodeEvents("team/run_1", bytes.substr(0, bytes.size() - 1), &got)) << size;
  }
  v1::RunEvent old;
  old.set_run_id("run_old");
  old.set_seq(3);
  old.mutable_state_changed()->set_reason("queued");
  std::vector<v1::RunEvent> got;
  ASSERT_TRUE(DecodeEvents("run_old", old.SerializeAsString(), &got));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].SerializeAsString(), old.SerializeAsString());
}

TEST(StoreKeysTest, IsStoredRecordOnlyForWhatStoredRecordGives) {
  v1::Run run;
  run.set_run_id("run_1");
  run.set_state(v1::RUNNING);
  run.mutable_agent()->set_name("a");
  run.mutable_agent()->set_version(2);
  run.mutable_agent()->set_model("m");
  run.mutable_agent()->set_namespace_("ns");
  run.mutable_graph()->set_name("g");
  run.mutable_graph()->set_version(1);
  EXPECT_TRUE(IsStoredRecord(run));
  EXPECT_TRUE(IsStoredRecord(StoredRecord(run)));

  const auto not_cut = [&](auto edit) {
    v1::Run whole = run;
    edit(whole);
    EXPECT_FALSE(IsStoredRecord(whole)) << whole.ShortDebugString();
    EXPECT_TRUE(IsStoredRecord(StoredRecord(whole))) << whole.ShortDebugString();
  };
  not_cut([](v1::Run& r) { r.mutable_agent()->set_system("a long prompt"); });
  not_cut([](v1::Run& r) { r.mutable_agent()->add_allowed_tools("echo"); });
  not_cut([](v1::Run& r) { r.set_input("hi"); });
  not_cut([](v1::Run& r) { r.add_waits()->set_tool_use_id("t"); });
  not_cut([](v1::Run& r) { r.mutable_graph()->add_nodes()->set_id("n"); });
}

TEST(StoreKeysTest, QueueKeyRoundTrips) {
  for (QueueEntry e : {QueueEntry{INT32_MIN, INT64_MIN, "x"}, QueueEntry{INT32_MAX, INT64_MAX, "r"},
                       QueueEntry{-3, -7, std::string("a\0b", 3)}, QueueEntry{0, 0, "run_1"}}) {
    auto parsed = ParseQueueKey(QueueKey(e));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->priority, e.priority);
    EXPECT_EQ(parsed->enqueue_time_ms, e.enqueue_time_ms);
    EXPECT_EQ(parsed->run_id, e.run_id);
  }
  EXPECT_FALSE(ParseQueueKey("short").has_value());
}

TEST(StoreKeysTest, RunSeqKeysSortNumericallyAndStayInsideTheirRun) {
  EXPECT_LT(RunSeqKey("r", 2), RunSeqKey("r", 256));
  EXPECT_LT(RunSeqKey("r", 255), RunSeqKey("r", 256));
  EXPECT_LT(RunSeqKey("r", 0), RunSeqKey("r", INT64_MAX));
  // "r" is a prefix of "r0" and "r\x01": their keys must not fall in r's range.
  for (const std::string other : {"r0", "r\x01", "ra", "r\xff"}) {
    const std::string key = RunSeqKey(other, 0);
    EXPECT_FALSE(key >= RunSeqPrefix("r") && key < RunSeqUpperBound("r")) << other;
  }
  EXPECT_TRUE(RunSeqKey("r", INT64_MAX) < RunSeqUpperBound("r"));
  EXPECT_TRUE(RunSeqKey("r", 0).starts_with(RunSeqPrefix("r")));
  EXPECT_EQ(SeqOfRunSeqKey(RunSeqKey("run_1", 65536)), 65536);
  EXPECT_FALSE(SeqOfRunSeqKey("run_1").has_value());
}

TEST(StoreKeysTest, AgentKeysSortByVersionWithinName) {
  EXPECT_LT(AgentKey("ns", "a", 2), AgentKey("ns", "a", 256));
  EXPECT_LT(AgentKey("ns", "a", INT32_MAX), AgentUpperBound("ns", "a"));
  EXPECT_LT(AgentUpperBound("ns", "a"), AgentKey("ns", "a.b", 1));
  EXPECT_LT(AgentUpperBound("ns", "a"), AgentKey("ns", "a0", 1));
  EXPECT_EQ(AgentNameOfKey(AgentKey("ns", "alpha.v2", 7)), "alpha.v2");
  EXPECT_EQ(AgentNameOfKey("x"), "");
}

TEST(StoreKeysTest, ANamespaceBoundsItsKeys) {
  // "a" is a prefix of "ab": the 0x00 after the namespace keeps their keys apart.
  EXPECT_LT(AgentKey("a", "zzz", INT32_MAX), NamespaceUpperBound("a"));
  EXPECT_LT(NamespaceUpperBound("a"), AgentKey("ab", "a", 1));
  EXPECT_TRUE(AgentKey("a", "x", 1).starts_with(NamespacePrefix("a")));
  EXPECT_EQ(ScopedKey("team-a", "req-1"), std::string("team-a\0req-1", 12));
}

TEST(StoreKeysTest, RunIndexKeysSortByCreationWithinTheirIndex) {
  v1::Run older;
  older.set_run_id("team-a/run_0000000000010000000a");
  older.set_state(v1::QUEUED);
  older.mutable_agent()->set_name("writer");
  older.set_parent_run_id("team-a/run_000000000001ffffffff");
  v1::Run newer = older;
  newer.set_run_id("team-a/run_0000000000020000000b");
  const std::vector<std::string> old_keys = RunIndexKeys(older);
  const std::vector<std::string> new_keys = RunIndexKeys(newer);
  ASSERT_EQ(old_keys.size(), 4u);  // all, state, agent, parent
  for (size_t i = 0; i < old_keys.size(); ++i) EXPECT_LT(old_keys[i], new_keys[i]) << i;
  // Each key starts with the prefix ListRuns walks for the matching filter.
  EXPECT_TRUE(old_keys[0].starts_with(RunIndexPrefix(RunFilter{.ns = "team-a"})));
  EXPECT_TRUE(old_keys[1].starts_with(RunIndexPrefix(RunFilter{.state = v1::QUEUED, .ns = "team-a"})));
  EXPECT_TRUE(old_keys[2].starts_with(RunIndexPrefix(RunFilter{.agent_name = "writer", .ns = "team-a"})));
  EXPECT_TRUE(old_keys[3].starts_with(
      RunIndexPrefix(RunFilter{.parent_run_id = "team-a/run_000000000001ffffffff", .ns = "team-a"})));
  EXPECT_FALSE(old_keys[0].starts_with(RunIndexPrefix(RunFilter{.ns = "team-b"})));
  // An id from before namespaces belongs to "default" and sorts among its new ids.
  v1::Run legacy = older;
  legacy.set_run_id("run_00000000000180000000");
  EXPECT_TRUE(RunIndexKeys(legacy)[0].starts_with(RunIndexPrefix(RunFilter{})));
  EXPECT_LT(RunIndexKeys(legacy)[0], absl::StrCat(RunIndexPrefix(RunFilter{}), "run_00000000000200000000"));
  EXPECT_EQ(RunStateIndexKey(older.run_id(), v1::QUEUED), old_keys[1]);
}

TEST(StoreKeysTest, LeaseRoundTripsAndRejectsCorruption) {
  LeaseRecord lease{"run_1", std::string(300, 'l'), 12, -4, "worker-a"};
  const std::string value = EncodeLease(lease);
  auto decoded = DecodeLease("run_1", value);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->run_id, "run_1");
  EXPECT_EQ(decoded->lease_id, lease.lease_id);
  EXPECT_EQ(decoded->epoch, 12);
  EXPECT_EQ(decoded->deadline_ms, -4);
  EXPECT_EQ(decoded->worker_id, "worker-a");

  for (size_t cut = 0; cut < value.size(); ++cut) {
    EXPECT_EQ(DecodeLease("run_1", value.substr(0, cut)).status().code(),
              absl::StatusCode::kDataLoss)
        << cut;
  }
  EXPECT_FALSE(DecodeLease("run_1", value + "x").ok());
  std::string other_version = value;
  other_version[0] = 2;
  EXPECT_EQ(DecodeLease("run_1", other_version).status().code(), absl::StatusCode::kDataLoss);
}

TEST(StoreKeysTest, EffectivePageSize) {
  EXPECT_EQ(EffectivePageSize(0), 50);
  EXPECT_EQ(EffectivePageSize(-3), 50);
  EXPECT_EQ(EffectivePageSize(7), 7);
  EXPECT_EQ(EffectivePageSize(1000), 1000);
  EXPECT_EQ(EffectivePageSize(1001), 1000);
}

TEST(StoreKeysTest, ApprovalPageTokenRoundTrips) {
  for (const std::string& id : {std::string("run_0018bcfe5c1b0000000007:3:toolu_01"),
                               std::string("a"), std::string("with\0nul", 8),
                               std::string(500, '\xff')}) {
    const std::string token = EncodeApprovalPageToken(id);
    EXPECT_EQ(token.find(id), std::string::npos) << "opaque: the id does not show";
    auto decoded = DecodeApprovalPageToken(token);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, id);
  }
  auto first_page = DecodeApprovalPageToken("");
  ASSERT_TRUE(first_page.ok());
  EXPECT_EQ(*first_page, "");
}

TEST(StoreKeysTest, ApprovalPageTokenRefusesEveryTruncationAndEdit) {
  const std::string token = EncodeApprovalPageToken("run_0018bcfe5c1b0000000007:3:toolu_01");
  for (size_t cut = 1; cut < token.size(); ++cut) {
    EXPECT_EQ(DecodeApprovalPageToken(token.substr(0, cut)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << cut;
  }
  // Every character but the last, which may carry only padding bits, matters.
  for (size_t i = 0; i + 1 < token.size(); ++i) {
    std::string edited = token;
    edited[i] = edited[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(DecodeApprovalPageToken(edited).status().code(),
              absl::StatusCode::kInvalidArgument)
        << i;
  }
  for (const char* garbage : {"x", "garbage", "run_1", "AAAAAAAAAAAA", "%%%%"}) {
    EXPECT_EQ(DecodeApprovalPageToken(garbage).status().code(),
              absl::StatusCode::kInvalidArgument)
        << garbage;
  }
  // The token of an empty id is never issued; decoding one would mean "from the start".
  EXPECT_FALSE(DecodeApprovalPageToken(EncodeApprovalPageToken("")).ok());
}

TEST(StoreKeysTest, ApprovalFilterDecidedMeansEveryFinalState) {
  v1::Approval approval;
  approval.set_run_id("run_1");
  approval.set_agent_name("writer");
  using States = ApprovalFilter::States;
  const std::vector<std::pair<v1::Approval::State, std::vector<States>>> cases = {
      {v1::Approval::PENDING, {States::kPending, States::kAll}},
      {v1::Approval::DECIDED, {States::kDecided, States::kAll}},
      {v1::Approval::EXPIRED, {States::kDecided, States::kAll}},
      {v1::Approval::ABANDONED, {States::kDecided, States::kAll}},
      {v1::Approval::STATE_UNSPECIFIED, {States::kAll}},
  };
  for (const auto& [state, matching] : cases) {
    approval.set_state(state);
    for (States states : {States::kPending, States::kDecided, States::kAll}) {
      const bool expected =
          std::find(matching.begin(), matching.end(), states) != matching.end();
      EXPECT_EQ(MatchesFilter(ApprovalFilter{"", "", states}, approval), expected)
          << v1::Approval::State_Name(state) << " " << static_cast<int>(states);
    }
  }
}

}  // namespace
}  // namespace baton::orchestrator::store_keys
