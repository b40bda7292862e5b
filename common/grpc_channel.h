// Making a gRPC client channel the same way in every Baton process. One place, so the
// security issue's credentials (TLS, keys) land here once.
#ifndef BATON_COMMON_GRPC_CHANNEL_H_
#define BATON_COMMON_GRPC_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

namespace baton {

struct ChannelOptions {
  // Reconnect backoff after the server went away. gRPC's own default grows to 2 min;
  // Baton's processes restart in seconds and their peers should notice.
  // Default: 100 ms initial, 2 s at most.
  int initial_reconnect_backoff_ms = 100;
  int max_reconnect_backoff_ms = 2000;
  // Largest message received. Default: 64 MiB (journals, transcripts).
  int max_receive_message_bytes = 64 << 20;
};

// A channel to `address` ("127.0.0.1:7233"). Insecure for now.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, const ChannelOptions& options = {});

}  // namespace baton

#endif  // BATON_COMMON_GRPC_CHANNEL_H_
