#include "orchestrator/run_view.h"

#include <string>

#include "orchestrator/store/store_keys.h"

namespace baton::orchestrator {
namespace {

void Cut(std::string* text) {
  if (text->size() > kBasicViewTextBytes) text->resize(Utf8Prefix(*text, kBasicViewTextBytes).size());
}

}  // namespace

std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Back off over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

void ApplyBasicView(v1::Run* run) {
  Cut(run->mutable_input());
  Cut(run->mutable_output());
  Cut(run->mutable_error());
  Cut(run->mutable_cancel_reason());
  if (run->has_agent()) *run->mutable_agent() = store_keys::AgentSummary(run->agent());
  if (run->has_graph()) *run->mutable_graph() = store_keys::GraphSummary(run->graph());
  for (v1::Wait& wait : *run->mutable_waits()) wait.clear_results();
  run->set_view(v1::BASIC);
}

}  // namespace baton::orchestrator
