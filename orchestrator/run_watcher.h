// WatchRun streams.
#ifndef BATON_ORCHESTRATOR_RUN_WATCHER_H_
#define BATON_ORCHESTRATOR_RUN_WATCHER_H_

#include <cstdint>
#include <string>

#include <grpcpp/grpcpp.h>

#include "baton/v1/run.pb.h"
#include "baton/v1/run_service.pb.h"
#include "orchestrator/event_hub.h"
#include "orchestrator/scheduler.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

// A WatchRun stream of `run_id`'s events after `after_seq`, ending after its terminal
// event. With `include_children`, the durable events of every run below it
// (subagents, any depth) come too, each from its first. Owns itself (deleted when
// gRPC is done with it). REQUIRES: the run exists.
grpc::ServerWriteReactor<v1::RunEvent>* NewRunWatcher(Scheduler& scheduler, RunStore& store, EventHub& hub,
                                                      const std::string& run_id, int64_t after_seq,
                                                      bool live_text, bool include_children);

// The same stream for WatchRunBatched: each message carries the events queued when
// it is written (at most 64, and 256 KiB past the first).
grpc::ServerWriteReactor<v1::RunEventBatch>* NewBatchedRunWatcher(Scheduler& scheduler, RunStore& store,
                                                                  EventHub& hub, const std::string& run_id,
                                                                  int64_t after_seq, bool live_text,
                                                                  bool include_children);

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_RUN_WATCHER_H_
