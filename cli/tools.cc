#include "cli/tools.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <grpcpp/client_context.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "baton/v1/tool_service.grpc.pb.h"
#include "cli/format.h"
#include "cli/stack.h"
#include "common/grpc_channel.h"

namespace baton::cli {
namespace {

using json = nlohmann::json;

constexpr size_t kDescriptionChars = 70;

std::unique_ptr<v1::ToolService::Stub> Stub(const std::string& addr, const ClientTlsOptions& tls) {
  ChannelOptions options;
  options.tls = tls;
  return v1::ToolService::NewStub(NewChannel(addr, options));
}

int RpcError(const std::string& addr, const grpc::Status& status, std::ostream& err) {
  err << "error: " << absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())) << ": "
      << status.error_message() << std::endl;
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    err << "hint: is baton-mcp-bridge running at " << addr
        << "? `baton up --mcp-config FILE` starts one; point --bridge / BATON_BRIDGE_ADDR at another." << std::endl;
  }
  return 1;
}

std::string Hints(const v1::ToolInfo& t) {
  std::string out;
  if (t.read_only()) absl::StrAppend(&out, out.empty() ? "" : ",", "read-only");
  if (t.idempotent()) absl::StrAppend(&out, out.empty() ? "" : ",", "idempotent");
  if (!t.read_only() && t.destructive()) absl::StrAppend(&out, out.empty() ? "" : ",", "destructive");
  return out.empty() ? "-" : out;
}

}  // namespace

std::string ResolveBridgeAddr(const std::string& flag, const std::string& data_dir) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("BATON_BRIDGE_ADDR"); env != nullptr && *env != '\0') return env;
  std::ifstream in(data_dir + "/stack.json");
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<StackFile> stack = StackFileFromJson(text.str());
    if (stack.ok() && !stack->bridge_addr.empty()) return stack->bridge_addr;
  }
  return kDefaultBridgeAddr;
}

std::string FormatToolTable(const v1::ListToolsResponse& response) {
  std::string out;
  if (response.tools().empty()) {
    out = "no tools\n";
  } else {
    size_t width = 4;
    for (const v1::ToolInfo& t : response.tools()) width = std::max(width, t.name().size());
    absl::StrAppend(&out, absl::StrFormat("%-*s  %-22s  %s\n", width, "NAME", "HINTS", "DESCRIPTION"));
    for (const v1::ToolInfo& t : response.tools()) {
      absl::StrAppend(&out, absl::StrFormat("%-*s  %-22s  %s\n", width, t.name(), Hints(t),
                                            Preview(t.description(), kDescriptionChars)));
    }
  }
  if (!response.servers().empty()) absl::StrAppend(&out, "\n");
  for (const v1::ServerStatus& s : response.servers()) {
    if (s.connected()) {
      absl::StrAppend(&out, absl::StrFormat("server %s (%s): %d tools, %s %s, protocol %s%s\n", s.name(), s.transport(),
                                            s.tool_count(), s.server_name(), s.server_version(), s.protocol_version(),
                                            s.restarts() > 0 ? absl::StrCat(", ", s.restarts(), " restarts") : ""));
    } else {
      absl::StrAppend(&out, absl::StrFormat("server %s (%s): NOT CONNECTED: %s\n", s.name(), s.transport(),
                                            s.last_error()));
    }
  }
  return out;
}

std::string FormatToolResult(const v1::CallToolResponse& response) {
  std::string out;
  json content = json::parse(response.content_json(), nullptr, false);
  if (content.is_string()) {
    out = content.get<std::string>() + "\n";
  } else if (content.is_array()) {
    for (const json& block : content) {
      const std::string type = block.value("type", "");
      if (type == "text") {
        absl::StrAppend(&out, block.value("text", ""), "\n");
      } else if ((type == "image" || type == "document") && block.contains("source")) {
        const json& source = block["source"];
        absl::StrAppend(&out, "[", type, " ", source.value("media_type", ""), ", ",
                        source.value("data", "").size() / 4 * 3, " bytes]\n");
      } else {
        absl::StrAppend(&out, block.dump(), "\n");
      }
    }
  } else {
    out = response.content_json() + "\n";
  }
  if (!response.structured_content_json().empty()) absl::StrAppend(&out, "structured: ", response.structured_content_json(), "\n");
  if (response.truncated()) absl::StrAppend(&out, "(truncated from ", response.result_bytes(), " bytes)\n");
  return out;
}

int RunToolsList(const ToolsOptions& options, std::ostream& out, std::ostream& err) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
  v1::ListToolsRequest request;
  v1::ListToolsResponse response;
  grpc::Status status = Stub(options.bridge_addr, options.tls)->ListTools(&ctx, request, &response);
  if (!status.ok()) return RpcError(options.bridge_addr, status, err);
  out << (options.json ? ToJsonLine(response) + "\n" : FormatToolTable(response));
  return 0;
}

int RunToolsCall(const ToolsOptions& options, const std::string& name, const std::string& arguments_json,
                 std::ostream& out, std::ostream& err) {
  json args = json::parse(arguments_json, nullptr, false);
  if (args.is_discarded() || !args.is_object()) {
    err << "error: the arguments must be a JSON object, e.g. '{\"message\": \"hi\"}'" << std::endl;
    return 2;
  }
  v1::CallToolRequest request;
  request.set_name(name);
  request.set_arguments_json(args.dump());
  request.add_allowed_tools("*");  // an operator may call any tool
  request.set_timeout_ms(absl::ToInt64Milliseconds(options.timeout));
  request.set_max_duration_ms(absl::ToInt64Milliseconds(options.timeout));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options.timeout + absl::Seconds(10)));
  v1::CallToolResponse response;
  grpc::Status status = Stub(options.bridge_addr, options.tls)->CallTool(&ctx, request, &response);
  if (!status.ok()) return RpcError(options.bridge_addr, status, err);
  if (options.json) {
    out << ToJsonLine(response) << "\n";
  } else {
    (response.is_error() ? err : out) << FormatToolResult(response);
  }
  return response.is_error() ? 1 : 0;
}

}  // namespace baton::cli
