#include "common/reflection_v1.h"

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>

#include "absl/strings/str_cat.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace baton {
namespace {

namespace pb = google::protobuf;
namespace refl = grpc::reflection::v1;

// The reflection service. Thread-safe: each stream is its own reactor, and the
// service list is set once, when the server has finished building.
class ReflectionV1Service final : public refl::ServerReflection::CallbackService {
 public:
  // `services` is the server's own list (it outlives every call).
  void SetServiceList(const std::vector<std::string>* services) { services_.store(services); }

  grpc::ServerBidiReactor<refl::ServerReflectionRequest, refl::ServerReflectionResponse>* ServerReflectionInfo(
      grpc::CallbackServerContext* /*ctx*/) override {
    return new Stream(*this);
  }

 private:
  // One request, one response, in turn, until the client half-closes.
  class Stream final : public grpc::ServerBidiReactor<refl::ServerReflectionRequest, refl::ServerReflectionResponse> {
   public:
    explicit Stream(const ReflectionV1Service& service) : service_(service) { StartRead(&request_); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status::OK);
        return;
      }
      response_ = service_.Answer(request_, &sent_files_);
      StartWrite(&response_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the reflection stream broke"));
        return;
      }
      StartRead(&request_);
    }
    void OnDone() override { delete this; }

   private:
    const ReflectionV1Service& service_;
    refl::ServerReflectionRequest request_;
    refl::ServerReflectionResponse response_;
    std::set<std::string> sent_files_;  // files this stream has sent, by name
  };

  refl::ServerReflectionResponse Answer(const refl::ServerReflectionRequest& request,
                                        std::set<std::string>* sent_files) const;

  std::atomic<const std::vector<std::string>*> services_{nullptr};
};

void SetError(refl::ServerReflectionResponse* response, grpc::StatusCode code, std::string message) {
  response->mutable_error_response()->set_error_code(code);
  response->mutable_error_response()->set_error_message(std::move(message));
}

// `file` (always: the client asked for it), then the files it imports, at any depth,
// that this stream has not sent yet.
void AddFileAndImports(const pb::FileDescriptor* file, std::set<std::string>* sent_files,
                       refl::FileDescriptorResponse* out) {
  std::vector<const pb::FileDescriptor*> todo = {file};
  sent_files->insert(file->name());
  for (size_t i = 0; i < todo.size(); ++i) {
    pb::FileDescriptorProto proto;
    todo[i]->CopyTo(&proto);
    out->add_file_descriptor_proto(proto.SerializeAsString());
    for (int d = 0; d < todo[i]->dependency_count(); ++d) {
      const pb::FileDescriptor* dependency = todo[i]->dependency(d);
      if (sent_files->insert(dependency->name()).second) todo.push_back(dependency);
    }
  }
}

refl::ServerReflectionResponse ReflectionV1Service::Answer(const refl::ServerReflectionRequest& request,
                                                           std::set<std::string>* sent_files) const {
  const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
  refl::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  switch (request.message_request_case()) {
    case refl::ServerReflectionRequest::kListServices: {
      const std::vector<std::string>* services = services_.load();
      refl::ListServiceResponse* list = response.mutable_list_services_response();
      if (services != nullptr) {
        for (const std::string& name : *services) list->add_service()->set_name(name);
      }
      break;
    }
    case refl::ServerReflectionRequest::kFileByFilename: {
      const pb::FileDescriptor* file = pool->FindFileByName(request.file_by_filename());
      if (file == nullptr) {
        SetError(&response, grpc::StatusCode::NOT_FOUND, absl::StrCat("file not found: ", request.file_by_filename()));
        break;
      }
      AddFileAndImports(file, sent_files, response.mutable_file_descriptor_response());
      break;
    }
    case refl::ServerReflectionRequest::kFileContainingSymbol: {
      const pb::FileDescriptor* file = pool->FindFileContainingSymbol(request.file_containing_symbol());
      if (file == nullptr) {
        SetError(&response, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("symbol not found: ", request.file_containing_symbol()));
        break;
      }
      AddFileAndImports(file, sent_files, response.mutable_file_descriptor_response());
      break;
    }
    case refl::ServerReflectionRequest::kFileContainingExtension: {
      const refl::ExtensionRequest& ask = request.file_containing_extension();
      const pb::Descriptor* type = pool->FindMessageTypeByName(ask.containing_type());
      const pb::FieldDescriptor* extension =
          type == nullptr ? nullptr : pool->FindExtensionByNumber(type, ask.extension_number());
      if (extension == nullptr) {
        SetError(&response, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("extension not found: ", ask.containing_type(), " ", ask.extension_number()));
        break;
      }
      AddFileAndImports(extension->file(), sent_files, response.mutable_file_descriptor_response());
      break;
    }
    case refl::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const pb::Descriptor* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        SetError(&response, grpc::StatusCode::NOT_FOUND,
                 absl::StrCat("type not found: ", request.all_extension_numbers_of_type()));
        break;
      }
      std::vector<const pb::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      refl::ExtensionNumberResponse* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const pb::FieldDescriptor* extension : extensions) numbers->add_extension_number(extension->number());
      break;
    }
    case refl::ServerReflectionRequest::MESSAGE_REQUEST_NOT_SET:
      SetError(&response, grpc::StatusCode::UNIMPLEMENTED, "the request names no kind of message_request");
      break;
  }
  return response;
}

// Registers the service when the server is created (so the server owns it) and hands
// it the server's list of services once they are all registered.
class ReflectionV1Plugin final : public grpc::ServerBuilderPlugin {
 public:
  std::string name() override { return "baton_reflection_v1"; }
  void InitServer(grpc::ServerInitializer* si) override { si->RegisterService(service_); }
  void Finish(grpc::ServerInitializer* si) override { service_->SetServiceList(si->GetServiceList()); }
  void ChangeArguments(const std::string& /*name*/, void* /*value*/) override {}

 private:
  std::shared_ptr<ReflectionV1Service> service_ = std::make_shared<ReflectionV1Service>();
};

class ReflectionV1BuilderOption final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ReflectionV1Plugin>());
  }
};

}  // namespace

std::unique_ptr<grpc::ServerBuilderOption> ReflectionV1Option() {
  return std::make_unique<ReflectionV1BuilderOption>();
}

}  // namespace baton
