// Making a gRPC client channel the same way in every Baton process, with the
// credentials of common/tls.h (TLS when configured, plaintext otherwise).
#ifndef BATON_COMMON_GRPC_CHANNEL_H_
#define BATON_COMMON_GRPC_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "common/tls.h"

namespace baton {

struct ChannelOptions {
  // Reconnect backoff after the server went away. gRPC's own default grows to 2 min;
  // Baton's processes restart in seconds and their peers should notice.
  // Default: 100 ms initial, 2 s at most.
  int initial_reconnect_backoff_ms = 100;
  int max_reconnect_backoff_ms = 2000;
  // Largest message received. Default: 64 MiB (journals, transcripts).
  int max_receive_message_bytes = 64 << 20;
  // TLS to the server (CA, optional client certificate). Default: none (plaintext).
  ClientTlsOptions tls;
  // An API key or JWT, sent with every call as "authorization: Bearer <token>"
  // (orchestrator --auth). Default: none.
  std::string bearer_token;
  // A connection of the channel's own. gRPC otherwise shares one connection among the
  // channels of a process to the same address with the same arguments; the benchmark
  // wants several clients, not one multiplexed connection. Default: false (shared).
  bool own_connection = false;
};

// The bearer token of a process that is not told one on its command line (command
// lines are visible in ps): the environment variable BATON_API_KEY, "" when unset.
std::string BearerTokenFromEnvironment();

// A channel to `address` ("127.0.0.1:7233") with `options.tls`.
// REQUIRES: options.tls is complete (ValidateClientTls at start-up); incomplete TLS
// options are a broken invariant and abort rather than fall back to plaintext.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, const ChannelOptions& options = {});

}  // namespace baton

#endif  // BATON_COMMON_GRPC_CHANNEL_H_
