#include "common/grpc_status.h"

#include <string>

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/status.pb.h"

namespace baton {
namespace {

constexpr char kRetryInfoType[] = "type.googleapis.com/google.rpc.RetryInfo";

google::rpc::RetryInfo RetryInfoOf(absl::Duration delay) {
  google::rpc::RetryInfo info;
  const int64_t nanos = absl::ToInt64Nanoseconds(delay);
  info.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return info;
}

absl::Duration DelayOf(const google::rpc::RetryInfo& info) {
  return absl::Seconds(info.retry_delay().seconds()) + absl::Nanoseconds(info.retry_delay().nanos());
}

}  // namespace

absl::Status WithRetryDelay(absl::Status status, absl::Duration delay) {
  status.SetPayload(kRetryInfoType, absl::Cord(RetryInfoOf(delay).SerializeAsString()));
  return status;
}

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kRetryInfoType);
  google::rpc::RetryInfo info;
  if (!payload.has_value() || !info.ParseFromString(std::string(*payload))) return std::nullopt;
  return DelayOf(info);
}

std::optional<absl::Duration> RetryDelay(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) return std::nullopt;
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.type_url() == kRetryInfoType && info.ParseFromString(any.value())) return DelayOf(info);
  }
  return std::nullopt;
}

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(s.code());
  std::optional<absl::Duration> delay = RetryDelay(s);
  if (!delay.has_value()) return grpc::Status(code, std::string(s.message()));
  google::rpc::Status details;
  details.set_code(static_cast<int32_t>(s.code()));
  details.set_message(std::string(s.message()));
  google::protobuf::Any* any = details.add_details();
  any->set_type_url(kRetryInfoType);
  any->set_value(RetryInfoOf(*delay).SerializeAsString());
  return grpc::Status(code, absl::StrCat(s.message(), " (retry after ", absl::FormatDuration(*delay), ")"),
                      details.SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  absl::Status status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  if (std::optional<absl::Duration> delay = RetryDelay(s); delay.has_value()) {
    return WithRetryDelay(std::move(status), *delay);
  }
  return status;
}

void ToRpcStatus(const absl::Status& s, google::rpc::Status* out) {
  const grpc::Status status = ToGrpcStatus(s);
  out->Clear();
  if (status.ok()) return;
  if (!status.error_details().empty()) out->ParseFromString(status.error_details());
  out->set_code(static_cast<int32_t>(status.error_code()));
  out->set_message(status.error_message());
}

grpc::Status FromRpcStatus(const google::rpc::Status& s) {
  if (s.code() == 0) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message(),
                      s.details_size() > 0 ? s.SerializeAsString() : std::string());
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace baton
