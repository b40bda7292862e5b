// What an MCP server writes on stdout, as the bridge's client reads it: bytes →
// LineFramer (the stdio transport's newline framing) → JsonRpcConnection::OnMessage,
// with requests of ours pending so responses match. Properties: no crash; every
// request's callback runs exactly once (by a response or by Close); every message the
// connection sends back (answers to the server's requests, errors) is a JSON-RPC 2.0
// object.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcp-bridge/json_rpc.h"
#include "mcp-bridge/line_framer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using baton::mcp::IncomingRequest;
using baton::mcp::JsonRpcConnection;
using baton::mcp::JsonRpcResponse;
using baton::mcp::Responder;

constexpr size_t kMaxLineBytes = 8 * 1024;
constexpr int kPendingRequests = 3;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::vector<Responder> held;  // requests from the server answered at the end
  JsonRpcConnection rpc(
      [](const std::string& message) {
        nlohmann::json sent = nlohmann::json::parse(message, nullptr, false);
        FUZZ_CHECK(!sent.is_discarded() && sent.is_object());
        FUZZ_CHECK(sent.value("jsonrpc", "") == "2.0");
        return absl::OkStatus();
      },
      JsonRpcConnection::Handlers{
          [](const std::string& method, const nlohmann::json& params) { (void)params.dump(); },
          [&held](IncomingRequest request, Responder respond) {
            if (request.method == "ping") {
              respond(baton::mcp::ResultResponse(nlohmann::json::object()));
            } else if (request.method == "elicitation/create" || request.method == "roots/list") {
              held.push_back(std::move(respond));  // answered later, as a person would
            } else {
              respond(baton::mcp::ErrorResponse(baton::mcp::kMethodNotFound, "no " + request.method));
            }
          }});

  int calls[kPendingRequests] = {0, 0, 0};
  for (int i = 0; i < kPendingRequests; ++i) {
    absl::StatusOr<int64_t> id =
        rpc.SendRequest("tools/call", {{"name", "t"}}, [&calls, i](absl::StatusOr<JsonRpcResponse> r) {
          ++calls[i];
          if (r.ok()) (void)r->result.dump();
        });
    FUZZ_CHECK(id.ok() && *id == i + 1);
  }

  baton::mcp::LineFramer framer(kMaxLineBytes);
  const size_t step = size == 0 ? 1 : 1 + (data[0] % 64);
  for (size_t at = 0; at < size; at += step) {
    framer.Feed(bytes.substr(at, step), [&rpc](std::string_view line) { rpc.OnMessage(line); });
    FUZZ_CHECK(framer.buffered() <= kMaxLineBytes);
  }
  for (Responder& respond : held) respond(baton::mcp::ResultResponse({{"action", "decline"}}));
  rpc.Close(absl::UnavailableError("fuzz: end of input"));
  FUZZ_CHECK(rpc.pending() == 0);
  for (int n : calls) FUZZ_CHECK(n == 1);
  return 0;
}
