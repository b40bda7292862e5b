#include "orchestrator/auth/roles.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "baton/v1/namespace.grpc.pb.h"
#include "baton/v1/agent.grpc.pb.h"
#include "baton/v1/auth.grpc.pb.h"
#include "baton/v1/graph.grpc.pb.h"
#include "baton/v1/admin.grpc.pb.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "baton/v1/worker_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"

namespace baton::orchestrator::auth {
namespace {

// Every method of every service the orchestrator serves, from the descriptors.
std::set<std::string> ServedMethods() {
  // Referencing a message of each file links its descriptors into the generated pool.
  for (const google::protobuf::Descriptor* d :
       {v1::CreateRunRequest::descriptor(), v1::PutAgentRequest::descriptor(), v1::PutGraphRequest::descriptor(),
        v1::PollTaskRequest::descriptor(), v1::CreateKeyRequest::descriptor()}) {
    EXPECT_NE(d, nullptr);
  }
  std::set<std::string> methods;
  // Linking a file's message puts its services in the generated pool (the library is
  // static: an object nothing refers to is left out).
  (void)v1::Namespace::descriptor();
  (void)v1::BackupRequest::descriptor();
  for (const char* service : {v1::RunService::service_full_name(), v1::AgentService::service_full_name(),
                              v1::GraphService::service_full_name(), v1::WorkerService::service_full_name(),
                              v1::KeyService::service_full_name(), v1::NamespaceService::service_full_name(),
                              v1::AdminService::service_full_name(), v1::IdentityService::service_full_name()}) {
    const google::protobuf::ServiceDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
    EXPECT_NE(descriptor, nullptr) << service;
    if (descriptor == nullptr) continue;
    for (int i = 0; i < descriptor->method_count(); ++i) {
      methods.insert("/" + descriptor->full_name() + "/" + descriptor->method(i)->name());
    }
  }
  return methods;
}

TEST(RolesTest, EveryMethodOfEveryServiceIsInTheTableAndNothingElse) {
  std::set<std::string> served = ServedMethods();
  EXPECT_GE(served.size(), 30u);
  for (const std::string& method : served) {
    EXPECT_TRUE(RequiredPermission(method).has_value())
        << method << " is not in roles.cc's table: every role is refused it";
  }
  for (std::string_view method : MethodsInTable()) {
    EXPECT_TRUE(served.count(std::string(method))) << method << " is in the table but no service has it";
  }
}

TEST(RolesTest, UnknownMethodsAreDeniedToEveryRole) {
  const Role all[] = {Role::kReader, Role::kOperator, Role::kAdmin, Role::kWorker};
  EXPECT_FALSE(RolesAllow(all, "/baton.v1.RunService/DeleteEverything"));
  EXPECT_FALSE(RolesAllow(all, "/baton.v1.ToolService/CallTool"));
  EXPECT_FALSE(RolesAllow(all, ""));
}

TEST(RolesTest, ReaderReadsOperatorChangesAdminManagesKeysWorkerOnlyWorks) {
  const Role reader[] = {Role::kReader}, op[] = {Role::kOperator}, admin[] = {Role::kAdmin}, worker[] = {Role::kWorker};
  for (const char* m : {"/baton.v1.RunService/GetRun", "/baton.v1.RunService/ListRuns", "/baton.v1.RunService/WatchRun",
                        "/baton.v1.RunService/CountRuns",
                        "/baton.v1.RunService/GetTranscript", "/baton.v1.RunService/ListApprovals",
                        "/baton.v1.RunService/GetApproval", "/baton.v1.AgentService/GetAgent",
                        "/baton.v1.AgentService/ListAgents", "/baton.v1.GraphService/GetGraph",
                        "/baton.v1.GraphService/ListGraphs"}) {
    EXPECT_TRUE(RolesAllow(reader, m)) << m;
    EXPECT_TRUE(RolesAllow(op, m)) << m;
    EXPECT_TRUE(RolesAllow(admin, m)) << m;
    EXPECT_FALSE(RolesAllow(worker, m)) << m;
  }
  for (const char* m : {"/baton.v1.RunService/CreateRun", "/baton.v1.RunService/CancelRun",
                        "/baton.v1.RunService/ForkRun", "/baton.v1.RunService/DecideApproval",
                        "/baton.v1.AgentService/PutAgent", "/baton.v1.GraphService/PutGraph"}) {
    EXPECT_FALSE(RolesAllow(reader, m)) << m;
    EXPECT_TRUE(RolesAllow(op, m)) << m;
    EXPECT_TRUE(RolesAllow(admin, m)) << m;
    EXPECT_FALSE(RolesAllow(worker, m)) << m;
    EXPECT_TRUE(IsAudited(m)) << m;
  }
  for (const char* m : {"/baton.v1.KeyService/CreateKey", "/baton.v1.KeyService/ListKeys",
                        "/baton.v1.KeyService/RevokeKey", "/baton.v1.AdminService/Backup"}) {
    EXPECT_FALSE(RolesAllow(op, m)) << m;
    EXPECT_TRUE(RolesAllow(admin, m)) << m;
    EXPECT_FALSE(RolesAllow(worker, m)) << m;
  }
  for (const char* m : {"/baton.v1.WorkerService/PollTask", "/baton.v1.WorkerService/AppendStep",
                        "/baton.v1.WorkerService/AppendSteps",
                        "/baton.v1.WorkerService/AwaitInput"}) {
    EXPECT_TRUE(RolesAllow(worker, m)) << m;
    EXPECT_FALSE(RolesAllow(admin, m)) << m;
    EXPECT_FALSE(IsAudited(m)) << m;
  }
}

TEST(RolesTest, EveryRoleMayAskWhoItIs) {
  for (Role role : {Role::kReader, Role::kOperator, Role::kAdmin, Role::kWorker}) {
    const Role roles[] = {role};
    EXPECT_TRUE(RolesAllow(roles, "/baton.v1.IdentityService/WhoAmI")) << RoleName(role);
  }
  EXPECT_FALSE(IsAudited("/baton.v1.IdentityService/WhoAmI"));
  EXPECT_FALSE(IsOpenMethod("/baton.v1.IdentityService/WhoAmI")) << "it needs a credential like any call";
}

TEST(RolesTest, HealthAndReflectionAreOpenAndNothingElse) {
  EXPECT_TRUE(IsOpenMethod("/grpc.health.v1.Health/Check"));
  EXPECT_TRUE(IsOpenMethod("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
  EXPECT_TRUE(IsOpenMethod("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
  EXPECT_FALSE(IsOpenMethod("/baton.v1.RunService/GetRun"));
  EXPECT_FALSE(IsOpenMethod("/grpc.health.v1.HealthX/Check"));
}

TEST(RolesTest, RoleNamesRoundTrip) {
  for (Role role : {Role::kReader, Role::kOperator, Role::kAdmin, Role::kWorker}) {
    EXPECT_EQ(ParseRole(RoleName(role)), role);
  }
  EXPECT_FALSE(ParseRole("root").has_value());
  EXPECT_FALSE(ParseRole("Admin").has_value());
}

}  // namespace
}  // namespace baton::orchestrator::auth
