// tests/support/server_fixture.h: a real LoyaltyServer in-process on
// 127.0.0.1:0 with RocksDB in a temporary folder, a manual clock, and stubs
// that call it through a real gRPC channel. Tests derive from it and override
// Program() to choose the rules.
//
// Credentials: kTerminal (store-1), kTerminal2 (store-2), kMember (m-1), kAdmin.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "loyalty/v1/admin.grpc.pb.h"
#include "loyalty/v1/member.grpc.pb.h"
#include "loyalty/v1/pos.grpc.pb.h"
#include "server/config.h"
#include "server/loyalty_server.h"
#include "services/common/fingerprint.h"
#include "services/loyalty/codec.h"
#include "tests/support/events.h"
#include "tests/support/programs.h"
#include "tests/support/temp_dir.h"

namespace loyalty::testing {

inline constexpr char kTerminal[] = "terminal";
inline constexpr char kTerminal2[] = "terminal-2";
inline constexpr char kMember[] = "member";
inline constexpr char kAdmin[] = "admin";

class ServerFixture : public ::testing::Test {
 protected:
  virtual engine::ProgramConfig Program() const { return PlainProgram(); }
  virtual uint32_t WorkerThreads() const { return 8; }
  // Last word on the configuration (limits a test wants lower).
  virtual void Configure(internal::ServerConfig& config) const {}

  void SetUp() override {
    internal::ServerConfig config;
    config.set_grpc_listen("127.0.0.1:0");
    config.set_http_listen("127.0.0.1:0");
    config.set_data_dir(dir_.Sub("db"));
    config.set_worker_threads(WorkerThreads());
    config.set_member_strands(64);
    AddCredential(config, kTerminal, internal::ROLE_TERMINAL, "store-1", "");
    AddCredential(config, kTerminal2, internal::ROLE_TERMINAL, "store-2", "");
    AddCredential(config, kMember, internal::ROLE_MEMBER, "", "m-1");
    AddCredential(config, kAdmin, internal::ROLE_ADMIN, "", "");
    *config.mutable_initial_program() = codec::ToProto(Program());
    Configure(config);
    server::ApplyDefaults(config);
    auto server = server::LoyaltyServer::Start(config, clock_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                       grpc::InsecureChannelCredentials());
    pos_ = v1::PosService::NewStub(channel);
    member_ = v1::MemberService::NewStub(channel);
    admin_ = v1::AdminService::NewStub(channel);
  }

  // A call context carrying `token` (none if empty), with a 10 s deadline.
  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return ctx;
  }

  void Enroll(const std::string& id, const std::string& card = "", int64_t enrolled_at = 0) {
    v1::EnrollMemberRequest r;
    r.set_member_id(id);
    r.set_card_number(card);
    if (enrolled_at != 0) r.mutable_enrolled_at()->set_seconds(enrolled_at);
    v1::EnrollMemberResponse out;
    grpc::Status s = admin_->EnrollMember(As(kAdmin).get(), r, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  v1::MemberView View(const std::string& member_id, const std::string& token = kAdmin) {
    v1::GetMemberRequest r;
    r.set_member_id(member_id);
    v1::MemberView view;
    grpc::Status s = member_->GetMember(As(token).get(), r, &view);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return view;
  }

  // VerifyLedger with replay: every balance equals its ledger and the event
  // log rebuilds every member exactly.
  void ExpectLedgerAndReplayAgree() {
    v1::VerifyLedgerRequest verify;
    verify.set_replay_events(true);
    v1::VerifyLedgerResponse result;
    ASSERT_TRUE(admin_->VerifyLedger(As(kAdmin).get(), verify, &result).ok());
    EXPECT_EQ(result.mismatches(), 0u);
    EXPECT_EQ(result.replay_mismatches(), 0u);
  }

  TempDir dir_;
  ManualClock clock_{kNow};
  std::unique_ptr<server::LoyaltyServer> server_;
  std::unique_ptr<v1::PosService::Stub> pos_;
  std::unique_ptr<v1::MemberService::Stub> member_;
  std::unique_ptr<v1::AdminService::Stub> admin_;

 private:
  static void AddCredential(internal::ServerConfig& config, const char* token, internal::Role role,
                            const char* store, const char* member) {
    auto* c = config.add_credentials();
    c->set_name(token);
    c->set_role(role);
    c->set_token_sha256(Sha256Hex(token));
    c->set_store_id(store);
    c->set_member_id(member);
  }
};

}  // namespace loyalty::testing
