#include "workers/model/sse_parser.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace baton::worker {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

}  // namespace

absl::Status SseParser::Feed(std::string_view chunk, std::vector<SseEvent>* events) {
  if (failed_) {
    return absl::FailedPreconditionError("SSE parser used after an error; call Reset()");
  }
  if (!started_) {
    // The BOM itself may arrive split across chunks, so collect up to three bytes first.
    const size_t take = std::min(chunk.size(), kBom.size() - bom_prefix_.size());
    bom_prefix_.append(chunk.substr(0, take));
    chunk.remove_prefix(take);
    if (kBom.substr(0, bom_prefix_.size()) == bom_prefix_) {
      if (bom_prefix_.size() < kBom.size()) return absl::OkStatus();  // chunk was all BOM
      started_ = true;  // drop the BOM
      bom_prefix_.clear();
    } else {
      started_ = true;
      std::string head = std::move(bom_prefix_);
      bom_prefix_.clear();
      RETURN_IF_ERROR(Consume(head, events));
    }
  }
  return Consume(chunk, events);
}

absl::Status SseParser::Consume(std::string_view chunk, std::vector<SseEvent>* events) {
  while (!chunk.empty()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (chunk.front() == '\n') {
        chunk.remove_prefix(1);
        continue;
      }
    }
    const size_t end = chunk.find_first_of("\r\n");
    const size_t piece = end == std::string_view::npos ? chunk.size() : end;
    if (line_.size() + piece > max_event_bytes_) {
      failed_ = true;
      return absl::ResourceExhaustedError(
          absl::StrCat("SSE line longer than ", max_event_bytes_, " bytes"));
    }
    if (end == std::string_view::npos) {
      line_.append(chunk);
      return absl::OkStatus();
    }
    skip_lf_ = chunk[end] == '\r';
    absl::Status status;
    if (line_.empty()) {
      status = ProcessLine(chunk.substr(0, end), events);
    } else {
      line_.append(chunk.substr(0, end));
      status = ProcessLine(line_, events);
      line_.clear();
    }
    chunk.remove_prefix(end + 1);
    RETURN_IF_ERROR(status);
  }
  return absl::OkStatus();
}

absl::Status SseParser::ProcessLine(std::string_view line, std::vector<SseEvent>* events) {
  if (line.empty()) {
    Dispatch(events);
    return absl::OkStatus();
  }
  if (line.front() == ':') return absl::OkStatus();  // a comment (often a keep-alive)

  std::string_view field = line;
  std::string_view value;
  if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }

  if (field == "event") {
    event_type_.assign(value);
  } else if (field == "data") {
    if (data_.size() + value.size() + 1 > max_event_bytes_) {
      failed_ = true;
      return absl::ResourceExhaustedError(
          absl::StrCat("SSE event data longer than ", max_event_bytes_, " bytes"));
    }
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_event_id_.assign(value);
  } else if (field == "retry") {
    // ASCII digits only, as the standard says; a value that overflows is ignored too.
    int64_t ms = 0;
    bool valid = !value.empty();
    for (char c : value) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
          ms > (std::numeric_limits<int64_t>::max() - 9) / 10) {
        valid = false;
        break;
      }
      ms = ms * 10 + (c - '0');
    }
    if (valid) {
      reconnection_time_ms_ = ms;
      event_retry_ = ms;
    }
  }
  // Any other field is ignored, as the standard says.
  return absl::OkStatus();
}

void SseParser::Dispatch(std::vector<SseEvent>* events) {
  if (!data_.empty()) {
    data_.pop_back();  // the '\n' after the last data line
    SseEvent& event = events->emplace_back();
    if (!event_type_.empty()) event.event = std::move(event_type_);
    event.data = std::move(data_);
    event.id = last_event_id_;
    event.retry = event_retry_;
  }
  event_type_.clear();
  data_.clear();
  event_retry_.reset();
}

bool SseParser::HasPartialEvent() const {
  return !line_.empty() || !data_.empty() || !event_type_.empty() || !bom_prefix_.empty();
}

void SseParser::Reset() {
  line_.clear();
  skip_lf_ = false;
  started_ = false;
  bom_prefix_.clear();
  failed_ = false;
  event_type_.clear();
  data_.clear();
  event_retry_.reset();
  last_event_id_.clear();
  reconnection_time_ms_.reset();
}

}  // namespace baton::worker
