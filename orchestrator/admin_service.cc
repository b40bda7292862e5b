#include "orchestrator/admin_service.h"

#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace baton::orchestrator {

AdminServiceImpl::~AdminServiceImpl() {
  std::thread last;
  {
    absl::MutexLock lock(&mu_);
    last = std::move(backup_);
  }
  if (last.joinable()) last.join();
}

grpc::ServerUnaryReactor* AdminServiceImpl::Backup(grpc::CallbackServerContext* ctx, const v1::BackupRequest* request,
                                                   v1::BackupResponse* reply) {
  if (request->dir().empty()) {
    return FinishNow(ctx, absl::InvalidArgumentError("dir: empty (a directory on the orchestrator's machine)"));
  }
  std::error_code ec;
  const std::string dir = std::filesystem::absolute(request->dir(), ec).lexically_normal().string();
  if (ec) return FinishNow(ctx, absl::InvalidArgumentError(absl::StrCat("dir: ", request->dir(), ": ", ec.message())));
  std::thread previous;
  {
    absl::MutexLock lock(&mu_);
    if (in_progress_) {
      return FinishNow(ctx, absl::FailedPreconditionError("a backup is already in progress; try again when it ends"));
    }
    in_progress_ = true;
    previous = std::move(backup_);
  }
  if (previous.joinable()) previous.join();  // it ended: in_progress_ was false
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::MutexLock lock(&mu_);
  backup_ = std::thread([this, reactor, reply, dir, keep_latest = request->keep_latest()] {
    BATON_LOG(INFO) << "backup into " << dir << " started";
    absl::StatusOr<BackupInfo> info = store_.Backup(dir, keep_latest);
    if (info.ok()) {
      reply->set_backup_id(info->backup_id);
      reply->set_time_ms(info->time_ms);
      reply->set_size_bytes(info->size_bytes);
      reply->set_num_files(info->num_files);
      reply->set_dir(dir);
      for (uint32_t id : info->deleted_backup_ids) reply->add_deleted_backup_ids(id);
      reply->set_backups(info->backups);
      BATON_LOG(INFO) << "backup " << info->backup_id << " into " << dir << " done: " << info->num_files << " files, "
                      << info->size_bytes << " bytes; " << info->deleted_backup_ids.size() << " older deleted, "
                      << info->backups << " kept";
    } else {
      BATON_LOG(WARNING) << "backup into " << dir << " failed: " << info.status();
    }
    {
      absl::MutexLock done(&mu_);
      in_progress_ = false;
    }
    reactor->Finish(ToGrpcStatus(info.status()));
  });
  return reactor;
}

}  // namespace baton::orchestrator
