#include "workers/model/message_assembler.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json_codec.h"

namespace baton::worker {
namespace {

using nlohmann::json;

const json* StringMember(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return &*it;
}

// Appends `text` to the string member `key` of `object` in place (a long answer arrives
// as thousands of small deltas; rebuilding the string each time would be quadratic).
void AppendToString(json& object, const char* key, const std::string& text) {
  json& field = object[key];
  if (!field.is_string()) field = "";
  field.get_ref<std::string&>().append(text);
}

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(absl::StrCat("malformed Messages API stream: ", what));
}

}  // namespace

MessageAssembler::MessageAssembler(TextCallback on_text) : on_text_(std::move(on_text)) {}

absl::Status MessageAssembler::OnEvent(std::string_view event_type, std::string_view data) {
  const json parsed = ParseJson(data);
  std::string type(event_type);
  if (type.empty() || type == "message") {
    if (!parsed.is_discarded() && parsed.is_object()) {
      if (const json* t = StringMember(parsed, "type")) type = t->get<std::string>();
    }
  }

  const bool known = type == "message_start" || type == "content_block_start" ||
                     type == "content_block_delta" || type == "content_block_stop" ||
                     type == "message_delta" || type == "message_stop" || type == "error";
  if (!known) return absl::OkStatus();  // ping, and event types added after this code
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Malformed(absl::StrCat(type, " data is not a JSON object"));
  }

  if (type == "error") return OnError(parsed);
  if (type == "message_start") return OnMessageStart(parsed);
  if (!started_) return Malformed(absl::StrCat(type, " before message_start"));
  if (type == "content_block_start") return OnBlockStart(parsed);
  if (type == "content_block_delta") return OnBlockDelta(parsed);
  if (type == "content_block_stop") return OnBlockStop(parsed);
  if (type == "message_delta") return OnMessageDelta(parsed);
  done_ = true;  // message_stop
  return absl::OkStatus();
}

absl::Status MessageAssembler::OnMessageStart(const json& data) {
  auto it = data.find("message");
  if (it == data.end() || !it->is_object()) {
    return Malformed("message_start without a message object");
  }
  message_ = *it;
  if (!message_.contains("content") || !message_["content"].is_array()) {
    message_["content"] = json::array();
  }
  const size_t blocks = message_["content"].size();
  partial_json_.assign(blocks, std::string());
  has_partial_json_.assign(blocks, false);
  invalid_input_blocks_.clear();
  started_ = true;
  return absl::OkStatus();
}

absl::StatusOr<size_t> MessageAssembler::BlockIndex(const json& data) const {
  auto it = data.find("index");
  if (it == data.end() || !it->is_number_unsigned()) {
    return Malformed("content block event without an index");
  }
  const size_t index = it->get<size_t>();
  if (index >= message_["content"].size()) {
    return Malformed(absl::StrCat("content block ", index, " was never started"));
  }
  return index;
}

absl::Status MessageAssembler::OnBlockStart(const json& data) {
  auto index_it = data.find("index");
  auto block_it = data.find("content_block");
  if (index_it == data.end() || !index_it->is_number_unsigned() || block_it == data.end() ||
      !block_it->is_object()) {
    return Malformed("content_block_start without index and content_block");
  }
  json& content = message_["content"];
  const size_t index = index_it->get<size_t>();
  if (index > content.size()) {
    return Malformed(absl::StrCat("content block ", index, " started after ",
                                  content.size(), " blocks"));
  }
  if (index == content.size()) {
    content.push_back(*block_it);
    partial_json_.emplace_back();
    has_partial_json_.push_back(false);
  } else {
    content[index] = *block_it;
    partial_json_[index].clear();
    has_partial_json_[index] = false;
  }
  return absl::OkStatus();
}

absl::Status MessageAssembler::OnBlockDelta(const json& data) {
  auto index_or = BlockIndex(data);
  if (!index_or.ok()) return index_or.status();
  const size_t index = *index_or;
  auto delta_it = data.find("delta");
  if (delta_it == data.end() || !delta_it->is_object()) {
    return Malformed("content_block_delta without a delta object");
  }
  const json& delta = *delta_it;
  const json* delta_type = StringMember(delta, "type");
  if (delta_type == nullptr) return Malformed("content_block_delta without a delta type");
  json& block = message_["content"][index];

  const std::string& kind = delta_type->get_ref<const std::string&>();
  if (kind == "text_delta") {
    const json* text = StringMember(delta, "text");
    if (text == nullptr) return Malformed("text_delta without text");
    const std::string& piece = text->get_ref<const std::string&>();
    AppendToString(block, "text", piece);
    if (on_text_) on_text_(static_cast<int>(index), piece);
  } else if (kind == "input_json_delta") {
    const json* partial = StringMember(delta, "partial_json");
    if (partial == nullptr) return Malformed("input_json_delta without partial_json");
    partial_json_[index].append(partial->get_ref<const std::string&>());
    has_partial_json_[index] = true;
  } else if (kind == "thinking_delta") {
    const json* thinking = StringMember(delta, "thinking");
    if (thinking == nullptr) return Malformed("thinking_delta without thinking");
    AppendToString(block, "thinking", thinking->get_ref<const std::string&>());
  } else if (kind == "signature_delta") {
    const json* signature = StringMember(delta, "signature");
    if (signature == nullptr) return Malformed("signature_delta without signature");
    block["signature"] = *signature;
  } else if (kind == "citations_delta") {
    auto citation = delta.find("citation");
    if (citation == delta.end()) return Malformed("citations_delta without citation");
    json& citations = block["citations"];
    if (!citations.is_array()) citations = json::array();
    citations.push_back(*citation);
  }
  // Other delta types are newer than this code; the block keeps what it has.
  return absl::OkStatus();
}

absl::Status MessageAssembler::OnBlockStop(const json& data) {
  auto index_or = BlockIndex(data);
  if (!index_or.ok()) return index_or.status();
  const size_t index = *index_or;
  if (!has_partial_json_[index]) return absl::OkStatus();
  json& block = message_["content"][index];
  const std::string& buffered = partial_json_[index];
  if (buffered.empty()) {
    block["input"] = json::object();
  } else {
    json input = ParseJson(buffered);
    if (input.is_discarded()) {
      block["input"] = json::object();
      invalid_input_blocks_.push_back(index);
    } else {
      block["input"] = std::move(input);
    }
  }
  partial_json_[index].clear();
  partial_json_[index].shrink_to_fit();
  has_partial_json_[index] = false;
  return absl::OkStatus();
}

absl::Status MessageAssembler::OnMessageDelta(const json& data) {
  if (auto delta = data.find("delta"); delta != data.end() && delta->is_object()) {
    for (const auto& [key, value] : delta->items()) message_[key] = value;
  }
  if (auto usage = data.find("usage"); usage != data.end() && usage->is_object()) {
    json& total = message_["usage"];
    if (!total.is_object()) total = json::object();
    for (const auto& [key, value] : usage->items()) {
      if (!value.is_null()) total[key] = value;  // cumulative: overwrite, never add
    }
  }
  return absl::OkStatus();
}

absl::Status MessageAssembler::OnError(const json& data) {
  ApiError error;
  if (auto inner = data.find("error"); inner != data.end() && inner->is_object()) {
    if (const json* type = StringMember(*inner, "type")) error.type = type->get<std::string>();
    if (const json* message = StringMember(*inner, "message")) {
      error.message = message->get<std::string>();
    }
  }
  if (const json* request_id = StringMember(data, "request_id")) {
    error.request_id = request_id->get<std::string>();
  }
  error_ = std::move(error);
  return error_->ToStatus();
}

absl::StatusOr<json> MessageAssembler::Finish() {
  if (error_.has_value()) return error_->ToStatus();
  if (!started_) {
    return absl::UnavailableError("Messages API stream ended before message_start");
  }
  if (!done_) return absl::UnavailableError("Messages API stream ended before message_stop");
  if (!invalid_input_blocks_.empty()) {
    const json* stop_reason = StringMember(message_, "stop_reason");
    if (stop_reason == nullptr || *stop_reason != "max_tokens") {
      return Malformed(absl::StrCat("the input of content block ", invalid_input_blocks_[0],
                                    " is not valid JSON"));
    }
  }
  return std::move(message_);
}

}  // namespace baton::worker
