// A run's journal as the orchestrator accepts it and a worker resumes from it: the
// input's tail parsed as protobuf (an AppendStepRequest: the entries a worker appends),
// ValidateJournalEntry on each entry (AppendStep), then RebuildConversation and
// HistoryMessages (GetTranscript, resume, sessions) on the entries that passed and on
// all of them (the orchestrator writes entries it does not validate). Properties: no
// crash, no sanitizer report; a rebuilt conversation serialises (it is sent to the API);
// the one-pass ScanContentJson (AppendStep's check and event text) agrees with
// TextOfContent on the parsed tree and refuses exactly what the parser refuses.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "baton/v1/worker_service.pb.h"
#include "common/transcript.h"
#include "orchestrator/validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool IsUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

void Rebuild(const std::string& input, const std::vector<baton::v1::JournalEntry>& journal) {
  absl::StatusOr<baton::RebuiltConversation> conv = baton::RebuildConversation(input, journal);
  if (conv.ok()) {
    FUZZ_CHECK(conv->messages.is_array());
    (void)conv->messages.dump();
    FUZZ_CHECK(conv->steps >= 0);
  } else {
    FUZZ_CHECK(conv.status().code() == absl::StatusCode::kDataLoss);
  }
  baton::v1::PriorRun prior;
  prior.set_run_id("run_0");
  prior.set_input(input);
  for (const baton::v1::JournalEntry& entry : journal) *prior.add_journal() = entry;
  absl::StatusOr<nlohmann::json> history = baton::HistoryMessages(std::vector<baton::v1::PriorRun>{prior});
  if (history.ok()) (void)history->dump();
}

void CheckScan(const std::string& json) {
  const baton::ContentScan scan = baton::ScanContentJson(json);
  const nlohmann::json parsed = nlohmann::json::parse(json, nullptr, false);
  FUZZ_CHECK(scan.valid == !parsed.is_discarded());
  if (parsed.is_discarded()) return;
  FUZZ_CHECK(scan.is_array == parsed.is_array());
  FUZZ_CHECK(scan.text == baton::TextOfContent(parsed));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Protobuf logs every string field that is not UTF-8; the parse failing is enough.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  FuzzedDataProvider provider(data, size);
  const std::string input = provider.ConsumeRandomLengthString(256);
  // A run's input is a proto3 string: gRPC delivers only valid UTF-8.
  if (!IsUtf8(input)) return 0;
  const std::string bytes = provider.ConsumeRemainingBytesAsString();
  baton::v1::AppendStepRequest request;
  if (!request.ParseFromString(bytes)) return 0;

  std::vector<baton::v1::JournalEntry> all(request.entries().begin(), request.entries().end());
  std::vector<baton::v1::JournalEntry> valid;
  for (const baton::v1::JournalEntry& entry : all) {
    if (entry.has_model_turn()) CheckScan(entry.model_turn().content_json());
    if (entry.has_tool_result()) CheckScan(entry.tool_result().content_json());
    if (baton::orchestrator::ValidateJournalEntry(entry).ok()) valid.push_back(entry);
  }
  Rebuild(input, valid);
  if (valid.size() != all.size()) Rebuild(input, all);
  return 0;
}
