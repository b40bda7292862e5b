// AdminService: operations on the orchestrator itself (backups), served next to
// RunService. Every call needs the admin role (auth/roles.cc).
#ifndef BATON_ORCHESTRATOR_ADMIN_SERVICE_H_
#define BATON_ORCHESTRATOR_ADMIN_SERVICE_H_

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "baton/v1/admin.grpc.pb.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

// Thread-safe. A backup copies files for as long as it takes, so it runs on a thread
// of its own (never on a gRPC callback thread); one at a time. The destructor waits
// for a backup in progress. `store` must outlive it.
class AdminServiceImpl final : public v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(RunStore& store) : store_(store) {}
  ~AdminServiceImpl() override;
  AdminServiceImpl(const AdminServiceImpl&) = delete;
  AdminServiceImpl& operator=(const AdminServiceImpl&) = delete;

  grpc::ServerUnaryReactor* Backup(grpc::CallbackServerContext* ctx, const v1::BackupRequest* request,
                                   v1::BackupResponse* reply) override;

 private:
  RunStore& store_;
  absl::Mutex mu_;
  bool in_progress_ ABSL_GUARDED_BY(mu_) = false;
  std::thread backup_ ABSL_GUARDED_BY(mu_);  // the last backup's thread
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_ADMIN_SERVICE_H_
