#include "cli/approvals.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace baton::cli {
namespace {

bool IsInputRequest(const v1::Approval& approval) { return approval.kind() == v1::Approval::ELICITATION; }

// `text` must be a JSON object (an edited tool input, an input request's content).
absl::Status CheckJsonObject(const std::string& flag, const std::string& text) {
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(flag, ": not valid JSON: ", text));
  if (!parsed.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": expected a JSON object, found ", parsed.type_name()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> RequiredMessage(const DecisionFlags& flags, absl::string_view verb) {
  if (!flags.message.has_value() || flags.message->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "`baton ", verb, "` needs --message TEXT (",
        verb == "deny" ? "why; the model reads it" : "what the model gets as the tool's result", ")"));
  }
  return *flags.message;
}

absl::StatusOr<v1::DecideApprovalRequest> ToolCallDecision(const v1::Approval& approval,
                                                           const DecisionFlags& flags,
                                                           v1::DecideApprovalRequest request) {
  switch (flags.verb) {
    case DecisionVerb::kApprove:
      if (flags.content.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("--content answers an input request; ",
                                                       approval.approval_id(),
                                                       " is a tool call (use --edit JSON to change its input)"));
      }
      if (flags.edit.has_value()) {
        if (absl::Status s = CheckJsonObject("--edit", *flags.edit); !s.ok()) return s;
        request.set_decision(v1::EDIT);
        request.set_input_json(*flags.edit);
      } else {
        request.set_decision(v1::APPROVE);
      }
      return request;
    case DecisionVerb::kDeny: {
      auto message = RequiredMessage(flags, "deny");
      if (!message.ok()) return message.status();
      request.set_decision(v1::DENY);
      request.set_message(*message);
      return request;
    }
    case DecisionVerb::kRespond: {
      auto message = RequiredMessage(flags, "respond");
      if (!message.ok()) return message.status();
      request.set_decision(v1::RESPOND);
      request.set_message(*message);
      return request;
    }
  }
  return absl::InternalError("unknown verb");
}

absl::StatusOr<v1::DecideApprovalRequest> InputRequestDecision(const v1::Approval& approval,
                                                               const DecisionFlags& flags,
                                                               v1::DecideApprovalRequest request) {
  switch (flags.verb) {
    case DecisionVerb::kApprove:
      if (flags.edit.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(approval.approval_id(),
                                                       " is an input request, not a tool call: answer it "
                                                       "with --content JSON instead of --edit"));
      }
      request.set_decision(v1::ACCEPT);
      if (flags.content.has_value()) {
        if (absl::Status s = CheckJsonObject("--content", *flags.content); !s.ok()) return s;
        request.set_input_json(*flags.content);
      } else if (NeedsContent(approval)) {
        return absl::InvalidArgumentError(absl::StrCat("input request ", approval.approval_id(),
                                                       " needs --content JSON matching its schema: ",
                                                       approval.input_schema_json()));
      } else {
        request.set_input_json("{}");
      }
      return request;
    case DecisionVerb::kDeny:
      request.set_decision(v1::DECLINE);
      if (flags.message.has_value()) request.set_message(*flags.message);
      return request;
    case DecisionVerb::kRespond:
      return absl::InvalidArgumentError(absl::StrCat(
          approval.approval_id(), " is an input request: answer it with `baton approve ", approval.approval_id(),
          " --content JSON` or decline it with `baton deny ", approval.approval_id(), "`"));
  }
  return absl::InternalError("unknown verb");
}

// A graph's human node: the decision (and message) is the node's output, which the
// nodes after it read; there is no tool input to edit.
absl::StatusOr<v1::DecideApprovalRequest> GraphNodeDecision(const v1::Approval& approval,
                                                            const DecisionFlags& flags,
                                                            v1::DecideApprovalRequest request) {
  if (flags.edit.has_value() || flags.content.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        approval.approval_id(), " is a question from graph node ", approval.tool(),
        ": answer it with `baton approve ", approval.approval_id(), "`, `baton deny ", approval.approval_id(),
        " [--message TEXT]` or `baton respond ", approval.approval_id(), " --message TEXT`"));
  }
  switch (flags.verb) {
    case DecisionVerb::kApprove:
      request.set_decision(v1::APPROVE);
      return request;
    case DecisionVerb::kDeny:
      request.set_decision(v1::DENY);
      if (flags.message.has_value()) request.set_message(*flags.message);
      return request;
    case DecisionVerb::kRespond:
      if (!flags.message.has_value() || flags.message->empty()) {
        return absl::InvalidArgumentError(
            "`baton respond` needs --message TEXT (the answer the graph's next nodes read)");
      }
      request.set_decision(v1::RESPOND);
      request.set_message(*flags.message);
      return request;
  }
  return absl::InternalError("unknown verb");
}

}  // namespace

absl::StatusOr<v1::DecideApprovalRequest> BuildDecideRequest(const v1::Approval& approval,
                                                             const DecisionFlags& flags) {
  if (flags.decided_by.empty()) return absl::InvalidArgumentError("--as must not be empty");
  v1::DecideApprovalRequest request;
  request.set_approval_id(approval.approval_id());
  request.set_decided_by(flags.decided_by);
  switch (approval.kind()) {
    case v1::Approval::ELICITATION:
      return InputRequestDecision(approval, flags, std::move(request));
    case v1::Approval::GRAPH_NODE:
      return GraphNodeDecision(approval, flags, std::move(request));
    default:
      return ToolCallDecision(approval, flags, std::move(request));
  }
}

std::vector<v1::Decision> AllowedDecisions(const v1::Approval& approval) {
  if (!approval.decisions().empty()) {
    std::vector<v1::Decision> out;
    for (int d : approval.decisions()) out.push_back(static_cast<v1::Decision>(d));
    return out;
  }
  if (IsInputRequest(approval)) return {v1::ACCEPT, v1::DECLINE, v1::CANCEL};
  if (approval.kind() == v1::Approval::GRAPH_NODE) return {v1::APPROVE, v1::DENY, v1::RESPOND};
  return {v1::APPROVE, v1::EDIT, v1::DENY, v1::RESPOND};
}

bool NeedsContent(const v1::Approval& approval) {
  if (approval.input_schema_json().empty()) return false;
  auto schema = nlohmann::json::parse(approval.input_schema_json(), nullptr, false);
  if (schema.is_discarded() || !schema.is_object()) return true;
  auto required = schema.find("required");
  return required != schema.end() && required->is_array() && !required->empty();
}

std::string DefaultDecider(const char* user_env) {
  return user_env != nullptr && *user_env != '\0' ? user_env : "cli";
}

}  // namespace baton::cli
