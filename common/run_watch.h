// What the clients that follow a run (the CLI, the console's gateway) share about its
// two streams: WatchRunBatched, several events to a message, and WatchRun, one. They
// watch with the first, which costs both ends a message per delivery rather than per
// event and keeps up with a fan-out (docs/PERFORMANCE.md, W7), and fall back to the
// second on an orchestrator from before it.
#ifndef BATON_COMMON_RUN_WATCH_H_
#define BATON_COMMON_RUN_WATCH_H_

#include <span>

#include <grpcpp/support/status.h>

#include "baton/v1/run_service.pb.h"

namespace baton {

// The events of one message of a watch stream, in order.
inline const google::protobuf::RepeatedPtrField<v1::RunEvent>& EventsOf(const v1::RunEventBatch& batch) {
  return batch.events();
}
inline std::span<const v1::RunEvent> EventsOf(const v1::RunEvent& event) { return {&event, 1}; }

// An orchestrator without WatchRunBatched answers it UNIMPLEMENTED, or PERMISSION_DENIED
// with authentication on (its role table does not know the method). Asked of a stream
// that ended before its first message: the same watch goes again with WatchRun, which
// answers a caller who may not watch the run with PERMISSION_DENIED of its own.
inline bool PredatesBatchedWatch(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
         status.error_code() == grpc::StatusCode::PERMISSION_DENIED;
}

}  // namespace baton

#endif  // BATON_COMMON_RUN_WATCH_H_
