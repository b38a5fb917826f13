// tests/integration/authorization_matrix_test.cc: the authorisation matrix.
// Every RPC of PosService, MemberService and AdminService, called by each of
// seven callers, with the expected status of every cell written out in one
// table (Matrix() below):
//
//   none        no authorization metadata
//   bad         "Bearer not-a-token"
//   terminal    kTerminal, bound to store-1: the store the requests name
//   terminal-2  kTerminal2, bound to store-2: another store
//   member      kMember, member m-1: the member the requests name
//   member-2    kMember2, member m-2: another member (added in Configure)
//   admin       kAdmin
//
// Each cell sends a request that is valid for the right caller and names
// store-1 and member m-1. It is built afresh for the cell (new transaction,
// request, member and checkpoint ids; its own sale to return, void or claim;
// a new till code), so a cell that succeeds changes nothing another cell
// depends on, and the order of the cells does not matter.
//
// Streams: UploadBacklog sends one valid sale and half-closes; its cell is
// the stream's status, or when the stream is accepted, the status of its one
// event (any terminal may upload, each event is then authorised for its
// store). WatchMember's cell is OK once the first view arrives (the watch
// stays open; it is then cancelled), else the stream's status.
//
// A mismatch does not stop the run: all of them are listed at the end, with
// the matrix as observed (in the table's own form). The table must have a
// row for every method of the three services: a new RPC without a row fails
// TableHasARowForEveryRpc. Some rows are checked again over HTTP.
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "edges/http/routes.h"
#include "services/common/fingerprint.h"
#include "tests/support/http_client.h"
#include "tests/support/server_fixture.h"
#include "tools/rpc_call.h"

namespace loyalty::testing {
namespace {

// A member credential of m-2 (configured in Configure()).
inline constexpr char kMember2[] = "member-2";
inline constexpr char kCard1[] = "4000000000000001";  // m-1's card
inline constexpr char kCard2[] = "4000000000000002";  // m-2's card
inline constexpr char kReward[] = "coffee";           // costs 10 points

constexpr const char* kPosService = v1::PosService::service_full_name();
constexpr const char* kMemberService = v1::MemberService::service_full_name();
constexpr const char* kAdminService = v1::AdminService::service_full_name();

// The callers, in the table's column order.
struct Caller {
  const char* label;
  const char* token;  // "": no authorization metadata
};
constexpr size_t kCallerCount = 7;
const Caller kCallers[kCallerCount] = {
    {"none", ""},
    {"bad", "not-a-token"},
    {"terminal (store-1)", kTerminal},
    {"terminal-2 (store-2)", kTerminal2},
    {"member (m-1)", kMember},
    {"member-2 (m-2)", kMember2},
    {"admin", kAdmin},
};

// One row of the matrix: an RPC and the status each caller gets.
struct Row {
  const char* service;                      // full service name
  const char* rpc;                          // method name
  std::vector<grpc::StatusCode> expected;   // one per caller, in kCallers' order
};

std::string MethodName(const char* service, const char* rpc) { return std::string(service) + "." + rpc; }
std::string MethodName(const Row& row) { return MethodName(row.service, row.rpc); }

const std::vector<Row>& Matrix() {
  using enum grpc::StatusCode;
  static const std::vector<Row> rows = {
      // Terminal events: the terminal of the event's store, or an admin.
      //                                 none             bad              terminal           terminal-2         member             member-2           admin
      {kPosService, "RecordSale",      {UNAUTHENTICATED, UNAUTHENTICATED, OK,                PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kPosService, "RecordReturn",    {UNAUTHENTICATED, UNAUTHENTICATED, OK,                PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kPosService, "VoidSale",        {UNAUTHENTICATED, UNAUTHENTICATED, OK,                PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      // terminal-2: the stream is accepted (any terminal uploads), its store-1
      // event refused; members: the stream itself is refused.
      {kPosService, "UploadBacklog",   {UNAUTHENTICATED, UNAUTHENTICATED, OK,                PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      // Lookups are for any terminal (not bound to a store) and admins.
      {kPosService, "LookupMember",    {UNAUTHENTICATED, UNAUTHENTICATED, OK,                OK,                PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kPosService, "EvaluateBasket",  {UNAUTHENTICATED, UNAUTHENTICATED, OK,                PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},

      // The member itself, or an admin.
      {kMemberService, "GetMember",     {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, OK,                PERMISSION_DENIED, OK}},
      {kMemberService, "ListHistory",   {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, OK,                PERMISSION_DENIED, OK}},
      {kMemberService, "ListOffers",    {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, OK,                PERMISSION_DENIED, OK}},
      {kMemberService, "ListRewards",   {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, OK,                PERMISSION_DENIED, OK}},
      // Also any terminal (of any store), with the till code the member's app
      // shows; the request carries a fresh one.
      {kMemberService, "Redeem",        {UNAUTHENTICATED, UNAUTHENTICATED, OK,                OK,                OK,                PERMISSION_DENIED, OK}},
      {kMemberService, "IssueTillCode", {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, OK,                PERMISSION_DENIED, OK}},
      // The member only: an admin may clear a PIN, not set one (the request sets one).
      {kMemberService, "SetPin",        {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, OK,                PERMISSION_DENIED, PERMISSION_DENIED}},
      {kMemberService, "ClaimReceipt",  {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, OK,                PERMISSION_DENIED, OK}},
      {kMemberService, "WatchMember",   {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, OK,                PERMISSION_DENIED, OK}},

      // Admins only.
      {kAdminService, "EnrollMember",     {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "AdjustPoints",     {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "GetProgram",       {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "UpdateProgram",    {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "DryRunProgram",    {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "StartDryRun",      {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "GetDryRun",        {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "GetFigures",       {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "VerifyLedger",     {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "CreateCheckpoint", {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "RunExpiry",        {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "ListAudit",        {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "CreateCredential", {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "ListCredentials",  {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "RotateCredential", {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
      {kAdminService, "RevokeCredential", {UNAUTHENTICATED, UNAUTHENTICATED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, PERMISSION_DENIED, OK}},
  };
  return rows;
}

const char* CodeName(grpc::StatusCode code) { return tools::StatusCodeName(code); }

// The HTTP status the HTTP edge answers a code with (HttpStatusOf in
// edges/http/http_api.cc).
int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE: return 400;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED: return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::CANCELLED: return 499;
    case grpc::StatusCode::UNIMPLEMENTED: return 501;
    case grpc::StatusCode::UNAVAILABLE: return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: break;
  }
  return 500;
}

// The constant a row's service is written with, for printing rows.
const char* ServiceConstant(const char* service) {
  const std::string s = service;
  if (s == kPosService) return "kPosService";
  if (s == kMemberService) return "kMemberService";
  if (s == kAdminService) return "kAdminService";
  return "?";
}

// A cell's call: builds the RPC's request afresh and calls it as `token`.
using Call = std::function<grpc::Status(const std::string& token)>;

class AuthorizationMatrixTest : public ServerFixture {
 protected:
  // The plain program and one reward to redeem.
  engine::ProgramConfig Program() const override {
    engine::ProgramConfig program = PlainProgram();
    engine::Reward coffee;
    coffee.id = kReward;
    coffee.title = "Free coffee";
    coffee.cost_points = 10;
    coffee.max_value_minor = 400;
    program.rewards = {coffee};
    return program;
  }

  void Configure(internal::ServerConfig& config) const override {
    // A member credential of m-2, made as the fixture's (private)
    // AddCredential makes the others: only the token's SHA-256 is configured.
    internal::Credential* other_member = config.add_credentials();
    other_member->set_name(kMember2);
    other_member->set_role(internal::ROLE_MEMBER);
    other_member->set_token_sha256(Sha256Hex(kMember2));
    other_member->set_store_id("");
    other_member->set_member_id("m-2");
    // No rate limits: a few hundred calls in a burst, many by one credential.
    config.mutable_terminal_rate_limit()->set_per_second(0);
    config.mutable_member_rate_limit()->set_per_second(0);
    config.mutable_admin_rate_limit()->set_per_second(0);
    config.mutable_member_lookup_rate_limit()->set_per_second(0);
  }

  void SetUp() override {
    ServerFixture::SetUp();
    if (HasFatalFailure()) return;
    Enroll("m-1", kCard1);
    Enroll("m-2", kCard2);
    if (HasFatalFailure()) return;
    // Points for every redemption the cells make (10 each).
    v1::AdjustPointsRequest points;
    points.set_member_id("m-1");
    points.set_points(100'000);
    points.set_reason("points to redeem");
    points.set_request_id("matrix-points");
    v1::AdjustPointsResponse given;
    grpc::Status s = admin_->AdjustPoints(As(kAdmin).get(), points, &given);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // A dry run job, for GetDryRun to read.
    v1::UpdateProgramRequest proposal;
    s = CurrentProgram(proposal.mutable_program());
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::DryRunJob job;
    s = admin_->StartDryRun(As(kAdmin).get(), proposal, &job);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_FALSE(job.job_id().empty());
    dry_run_job_ = job.job_id();
  }

  // A new id for each request ("sale-17").
  std::string Fresh(const std::string& prefix) { return prefix + "-" + std::to_string(++serial_); }

  // A new store-1 terminal credential to create.
  v1::CreateCredentialRequest NewTerminalCredential() {
    v1::CreateCredentialRequest r;
    r.set_name(Fresh("till"));
    r.set_role(v1::CREDENTIAL_ROLE_TERMINAL);
    r.set_store_id("store-1");
    return r;
  }

  // Preparation of a cell, not a cell: a failure is reported as UNKNOWN with
  // what failed, which no cell expects.
  static grpc::Status SetupFailed(const std::string& what, const grpc::Status& s) {
    return grpc::Status(grpc::StatusCode::UNKNOWN,
                        "[test setup] " + what + ": " + CodeName(s.error_code()) + " " + s.error_message());
  }

  // Records `sale` with store-1's own terminal.
  grpc::Status RecordForSetup(const v1::Sale& sale, v1::EventOutcome* out) {
    v1::RecordSaleRequest req;
    *req.mutable_sale() = sale;
    return pos_->RecordSale(As(kTerminal).get(), req, out);
  }

  // A till code for m-1, issued to the member's own app.
  grpc::Status TillCodeForSetup(v1::TillCode* out) {
    v1::IssueTillCodeRequest req;
    req.set_member_id("m-1");
    return member_->IssueTillCode(As(kMember).get(), req, out);
  }

  grpc::Status CurrentProgram(v1::Program* out) {
    return admin_->GetProgram(As(kAdmin).get(), v1::GetProgramRequest(), out);
  }

  // Every RPC's call, by full method name.
  std::map<std::string, Call> Calls() {
    std::map<std::string, Call> calls;
    auto add = [&calls](const char* service, const char* rpc, Call call) {
      calls.emplace(MethodName(service, rpc), std::move(call));
    };

    // PosService.
    add(kPosService, "RecordSale", [this](const std::string& token) -> grpc::Status {
      v1::RecordSaleRequest req;
      *req.mutable_sale() = MakeSale(Fresh("sale"), "m-1", {{1, 1000}});
      v1::EventOutcome out;
      return pos_->RecordSale(As(token).get(), req, &out);
    });
    add(kPosService, "RecordReturn", [this](const std::string& token) -> grpc::Status {
      const std::string sold = Fresh("sold-to-return");
      v1::EventOutcome sale;
      if (grpc::Status s = RecordForSetup(MakeSale(sold, "m-1", {{2, 1000}}), &sale); !s.ok()) {
        return SetupFailed("the sale to return", s);
      }
      v1::RecordReturnRequest req;
      *req.mutable_return_() = MakeReturn(Fresh("return"), Ref(sold), {{0, 1}});
      v1::EventOutcome out;
      return pos_->RecordReturn(As(token).get(), req, &out);
    });
    add(kPosService, "VoidSale", [this](const std::string& token) -> grpc::Status {
      const std::string sold = Fresh("sold-to-void");
      v1::EventOutcome sale;
      if (grpc::Status s = RecordForSetup(MakeSale(sold, "m-1", {{1, 1000}}), &sale); !s.ok()) {
        return SetupFailed("the sale to void", s);
      }
      v1::VoidSaleRequest req;
      *req.mutable_void_() = MakeVoid(Fresh("void"), Ref(sold));
      v1::EventOutcome out;
      return pos_->VoidSale(As(token).get(), req, &out);
    });
    add(kPosService, "UploadBacklog", [this](const std::string& token) -> grpc::Status {
      v1::BacklogEvent event;
      *event.mutable_sale() = MakeSale(Fresh("backlog"), "m-1", {{1, 500}});
      auto ctx = As(token);
      v1::BacklogResult result;
      auto writer = pos_->UploadBacklog(ctx.get(), &result);
      (void)writer->Write(event);  // false once the server refused the stream: Finish says why
      (void)writer->WritesDone();
      grpc::Status s = writer->Finish();
      if (!s.ok()) return s;
      if (result.results_size() != 1) {
        return grpc::Status(grpc::StatusCode::UNKNOWN,
                            "[test] an accepted backlog of one event answered " +
                                std::to_string(result.results_size()) + " results");
      }
      // The stream was accepted: the cell is its one event's answer.
      return grpc::Status(static_cast<grpc::StatusCode>(result.results(0).code()), result.results(0).message());
    });
    add(kPosService, "LookupMember", [this](const std::string& token) -> grpc::Status {
      v1::LookupMemberRequest req;
      req.mutable_member()->set_card_number(kCard1);
      v1::MemberSummary out;
      return pos_->LookupMember(As(token).get(), req, &out);
    });
    add(kPosService, "EvaluateBasket", [this](const std::string& token) -> grpc::Status {
      v1::EvaluateBasketRequest req;
      req.set_store_id("store-1");
      req.mutable_member()->set_member_id("m-1");
      req.set_currency("EUR");
      v1::LineItem* line = req.add_lines();
      line->set_sku("sku-0");
      line->set_category("coffee");
      line->set_quantity(1);
      line->set_unit_price_minor(1000);
      v1::BasketEvaluation out;
      return pos_->EvaluateBasket(As(token).get(), req, &out);
    });

    // MemberService.
    add(kMemberService, "GetMember", [this](const std::string& token) -> grpc::Status {
      v1::GetMemberRequest req;
      req.set_member_id("m-1");
      v1::MemberView out;
      return member_->GetMember(As(token).get(), req, &out);
    });
    add(kMemberService, "ListHistory", [this](const std::string& token) -> grpc::Status {
      v1::ListHistoryRequest req;
      req.set_member_id("m-1");
      v1::ListHistoryResponse out;
      return member_->ListHistory(As(token).get(), req, &out);
    });
    add(kMemberService, "ListOffers", [this](const std::string& token) -> grpc::Status {
      v1::ListOffersRequest req;
      req.set_member_id("m-1");
      v1::ListOffersResponse out;
      return member_->ListOffers(As(token).get(), req, &out);
    });
    add(kMemberService, "ListRewards", [this](const std::string& token) -> grpc::Status {
      v1::ListRewardsRequest req;
      req.set_member_id("m-1");
      v1::ListRewardsResponse out;
      return member_->ListRewards(As(token).get(), req, &out);
    });
    add(kMemberService, "Redeem", [this](const std::string& token) -> grpc::Status {
      // The request a till sends: with the code the member's app shows (a
      // terminal needs it; from the member or an admin it is not checked).
      v1::TillCode till;
      if (grpc::Status s = TillCodeForSetup(&till); !s.ok()) return SetupFailed("the member's till code", s);
      v1::RedeemRequest req;
      req.set_member_id("m-1");
      req.set_reward_id(kReward);
      req.set_request_id(Fresh("redeem"));
      req.set_till_code(till.code());
      v1::RedeemResponse out;
      return member_->Redeem(As(token).get(), req, &out);
    });
    add(kMemberService, "IssueTillCode", [this](const std::string& token) -> grpc::Status {
      v1::IssueTillCodeRequest req;
      req.set_member_id("m-1");
      v1::TillCode out;
      return member_->IssueTillCode(As(token).get(), req, &out);
    });
    add(kMemberService, "SetPin", [this](const std::string& token) -> grpc::Status {
      v1::SetPinRequest req;
      req.set_member_id("m-1");
      req.set_pin("48213907");
      v1::SetPinResponse out;
      return member_->SetPin(As(token).get(), req, &out);
    });
    add(kMemberService, "ClaimReceipt", [this](const std::string& token) -> grpc::Status {
      // An anonymous sale of its own, so each claim is the first of its receipt.
      const std::string sold = Fresh("anonymous");
      v1::EventOutcome sale;
      if (grpc::Status s = RecordForSetup(MakeSale(sold, "", {{1, 1500}}), &sale); !s.ok()) {
        return SetupFailed("the anonymous sale to claim", s);
      }
      if (sale.receipt_code().empty()) {
        return grpc::Status(grpc::StatusCode::UNKNOWN, "[test setup] the anonymous sale has no receipt code");
      }
      v1::ClaimReceiptRequest req;
      req.set_member_id("m-1");
      *req.mutable_sale() = Ref(sold);
      req.set_total_minor(1500);
      req.set_receipt_code(sale.receipt_code());
      v1::ClaimReceiptResponse out;
      return member_->ClaimReceipt(As(token).get(), req, &out);
    });
    add(kMemberService, "WatchMember", [this](const std::string& token) -> grpc::Status {
      v1::WatchMemberRequest req;
      req.set_member_id("m-1");
      auto ctx = As(token);
      ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      auto reader = member_->WatchMember(ctx.get(), req);
      v1::MemberView view;
      if (!reader->Read(&view)) return reader->Finish();  // refused (or no view in 5 s)
      // Watching: the stream stays open; its first view is the answer.
      ctx->TryCancel();
      while (reader->Read(&view)) {
      }
      (void)reader->Finish();  // CANCELLED, by us
      return grpc::Status::OK;
    });

    // AdminService.
    add(kAdminService, "EnrollMember", [this](const std::string& token) -> grpc::Status {
      v1::EnrollMemberRequest req;
      req.set_member_id(Fresh("enrolled"));
      req.set_display_name("Matrix Member");
      v1::EnrollMemberResponse out;
      return admin_->EnrollMember(As(token).get(), req, &out);
    });
    add(kAdminService, "AdjustPoints", [this](const std::string& token) -> grpc::Status {
      v1::AdjustPointsRequest req;
      req.set_member_id("m-1");
      req.set_points(5);
      req.set_reason("authorisation matrix");
      req.set_request_id(Fresh("adjust"));
      v1::AdjustPointsResponse out;
      return admin_->AdjustPoints(As(token).get(), req, &out);
    });
    add(kAdminService, "GetProgram", [this](const std::string& token) -> grpc::Status {
      v1::Program out;
      return admin_->GetProgram(As(token).get(), v1::GetProgramRequest(), &out);
    });
    add(kAdminService, "UpdateProgram", [this](const std::string& token) -> grpc::Status {
      // The current rules again: a new version, nothing else changes.
      v1::UpdateProgramRequest req;
      if (grpc::Status s = CurrentProgram(req.mutable_program()); !s.ok()) return SetupFailed("reading the program", s);
      req.set_expected_version(req.program().version());
      v1::Program out;
      return admin_->UpdateProgram(As(token).get(), req, &out);
    });
    add(kAdminService, "DryRunProgram", [this](const std::string& token) -> grpc::Status {
      v1::UpdateProgramRequest req;
      if (grpc::Status s = CurrentProgram(req.mutable_program()); !s.ok()) return SetupFailed("reading the program", s);
      v1::DryRunReport out;
      return admin_->DryRunProgram(As(token).get(), req, &out);
    });
    add(kAdminService, "StartDryRun", [this](const std::string& token) -> grpc::Status {
      v1::UpdateProgramRequest req;
      if (grpc::Status s = CurrentProgram(req.mutable_program()); !s.ok()) return SetupFailed("reading the program", s);
      v1::DryRunJob out;
      return admin_->StartDryRun(As(token).get(), req, &out);
    });
    add(kAdminService, "GetDryRun", [this](const std::string& token) -> grpc::Status {
      v1::GetDryRunRequest req;
      req.set_job_id(dry_run_job_);
      v1::DryRunJob out;
      return admin_->GetDryRun(As(token).get(), req, &out);
    });
    add(kAdminService, "GetFigures", [this](const std::string& token) -> grpc::Status {
      v1::ProgramFigures out;
      return admin_->GetFigures(As(token).get(), v1::GetFiguresRequest(), &out);
    });
    add(kAdminService, "VerifyLedger", [this](const std::string& token) -> grpc::Status {
      v1::VerifyLedgerResponse out;
      return admin_->VerifyLedger(As(token).get(), v1::VerifyLedgerRequest(), &out);
    });
    add(kAdminService, "CreateCheckpoint", [this](const std::string& token) -> grpc::Status {
      v1::CreateCheckpointRequest req;
      req.set_name(Fresh("checkpoint"));
      v1::CreateCheckpointResponse out;
      return admin_->CreateCheckpoint(As(token).get(), req, &out);
    });
    add(kAdminService, "RunExpiry", [this](const std::string& token) -> grpc::Status {
      v1::RunExpiryResponse out;
      return admin_->RunExpiry(As(token).get(), v1::RunExpiryRequest(), &out);
    });
    add(kAdminService, "CreateCredential", [this](const std::string& token) -> grpc::Status {
      v1::IssuedCredential out;
      return admin_->CreateCredential(As(token).get(), NewTerminalCredential(), &out);
    });
    add(kAdminService, "ListCredentials", [this](const std::string& token) -> grpc::Status {
      v1::ListCredentialsResponse out;
      return admin_->ListCredentials(As(token).get(), v1::ListCredentialsRequest(), &out);
    });
    // Rotating and revoking: a credential of the cell's own, made by the admin.
    add(kAdminService, "RotateCredential", [this](const std::string& token) -> grpc::Status {
      v1::IssuedCredential made, out;
      if (grpc::Status s = admin_->CreateCredential(As(kAdmin).get(), NewTerminalCredential(), &made); !s.ok()) {
        return SetupFailed("create a credential to rotate", s);
      }
      v1::RotateCredentialRequest r;
      r.set_credential_id(made.credential().credential_id());
      return admin_->RotateCredential(As(token).get(), r, &out);
    });
    add(kAdminService, "RevokeCredential", [this](const std::string& token) -> grpc::Status {
      v1::IssuedCredential made;
      v1::Credential out;
      if (grpc::Status s = admin_->CreateCredential(As(kAdmin).get(), NewTerminalCredential(), &made); !s.ok()) {
        return SetupFailed("create a credential to revoke", s);
      }
      v1::RevokeCredentialRequest r;
      r.set_credential_id(made.credential().credential_id());
      return admin_->RevokeCredential(As(token).get(), r, &out);
    });
    add(kAdminService, "ListAudit", [this](const std::string& token) -> grpc::Status {
      v1::ListAuditResponse out;
      return admin_->ListAudit(As(token).get(), v1::ListAuditRequest(), &out);
    });
    return calls;
  }

  std::string dry_run_job_;
  int serial_ = 0;
};

// The table has one row per method of the three services, no more, and
// every row its call: an RPC added to a .proto without a row fails here.
TEST_F(AuthorizationMatrixTest, TableHasARowForEveryRpc) {
  // Touching a message of each file makes sure its descriptors are in the
  // generated pool.
  (void)v1::Sale::descriptor();
  (void)v1::MemberView::descriptor();
  (void)v1::Program::descriptor();
  std::set<std::string> in_services;
  for (const char* name : {kPosService, kMemberService, kAdminService}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name << " is not in the generated pool";
    for (int i = 0; i < service->method_count(); ++i) in_services.insert(service->method(i)->full_name());
  }
  ASSERT_FALSE(in_services.empty());

  std::set<std::string> in_table;
  for (const Row& row : Matrix()) {
    EXPECT_TRUE(in_table.insert(MethodName(row)).second) << MethodName(row) << " has two rows";
    EXPECT_EQ(row.expected.size(), kCallerCount) << MethodName(row) << " needs one code per caller";
  }
  for (const std::string& method : in_services) {
    EXPECT_EQ(in_table.count(method), 1u) << method << ": an RPC without a row in the authorisation matrix";
  }
  for (const std::string& method : in_table) {
    EXPECT_EQ(in_services.count(method), 1u) << method << ": a row for an RPC the services do not have";
  }
  std::set<std::string> with_call;
  for (const auto& entry : Calls()) with_call.insert(entry.first);
  EXPECT_EQ(with_call, in_table) << "every row needs its call in Calls(), and every call its row";
}

// Every cell of the matrix over gRPC.
TEST_F(AuthorizationMatrixTest, EveryRpcByEveryCaller) {
  const std::map<std::string, Call> calls = Calls();
  std::vector<std::string> mismatches;
  std::string observed;  // the matrix as it was, in the table's form
  size_t cells = 0;
  for (const Row& row : Matrix()) {
    const std::string method = MethodName(row);
    const auto call = calls.find(method);
    if (call == calls.end()) {
      mismatches.push_back(method + ": no call in Calls()");
      continue;
    }
    if (row.expected.size() != kCallerCount) {
      mismatches.push_back(method + ": the row has " + std::to_string(row.expected.size()) + " codes, not " +
                           std::to_string(kCallerCount));
      continue;
    }
    observed += std::string("{") + ServiceConstant(row.service) + ", \"" + row.rpc + "\", {";
    for (size_t c = 0; c < kCallerCount; ++c) {
      const grpc::Status got = call->second(kCallers[c].token);
      ++cells;
      observed += std::string(c == 0 ? "" : ", ") + CodeName(got.error_code());
      if (got.error_code() != row.expected[c]) {
        mismatches.push_back(method + " as " + kCallers[c].label + ": expected " + CodeName(row.expected[c]) +
                             ", got " + CodeName(got.error_code()) + " \"" + got.error_message() + "\"");
      }
    }
    observed += "}},\n";
  }
  if (!mismatches.empty()) {
    std::string list;
    for (const std::string& m : mismatches) list += "  " + m + "\n";
    ADD_FAILURE() << mismatches.size() << " of " << cells << " cells differ from the table:\n"
                  << list << "The matrix as observed (none, bad, terminal, terminal-2, member, member-2, admin):\n"
                  << observed;
  }
}

// Some rows again over HTTP: the same codes, as HTTP statuses (401, 403,
// 200, ...). Credentials and roles are gRPC's; the HTTP edge authenticates
// before it reads the request.
TEST_F(AuthorizationMatrixTest, SomeRowsOverHttp) {
  struct HttpOutcome {
    int status;  // 0: no answer
    std::string body;
  };
  using HttpCall = std::function<HttpOutcome(const std::string& token)>;
  const auto send = [this](const std::string& verb, const std::string& target, const std::string& token,
                           const std::string& body) -> HttpOutcome {
    HttpClient client(server_->http_port());
    const HttpReply reply = client.Send(verb, target, token, body);
    return {reply.status, reply.body};
  };
  const std::vector<std::pair<std::string, HttpCall>> rows = {
      {MethodName(kPosService, "RecordSale"),
       [&](const std::string& token) -> HttpOutcome {
         return send("POST", "/v1/sales", token, http::ToJson(MakeSale(Fresh("http-sale"), "m-1", {{1, 1000}})));
       }},
      {MethodName(kPosService, "UploadBacklog"),
       [&](const std::string& token) -> HttpOutcome {
         v1::BacklogEvent event;
         *event.mutable_sale() = MakeSale(Fresh("http-backlog"), "m-1", {{1, 500}});
         HttpOutcome r = send("POST", "/v1/backlog", token, "[" + http::ToJson(event) + "]");
         if (r.status != 200) return r;
         // As over gRPC: an accepted upload's cell is its one event's answer.
         v1::BacklogResult result;
         if (!http::ParseJson(r.body, result, "").ok() || result.results_size() != 1) {
           return {-1, "[test] not a BacklogResult of one event: " + r.body};
         }
         return {HttpStatusFor(static_cast<grpc::StatusCode>(result.results(0).code())), r.body};
       }},
      {MethodName(kPosService, "LookupMember"),
       [&](const std::string& token) -> HttpOutcome {
         return send("POST", "/v1/members:lookup", token, std::string("{\"card_number\":\"") + kCard1 + "\"}");
       }},
      {MethodName(kMemberService, "GetMember"),
       [&](const std::string& token) -> HttpOutcome { return send("GET", "/v1/members/m-1", token, ""); }},
      {MethodName(kMemberService, "Redeem"),
       [&](const std::string& token) -> HttpOutcome {
         v1::TillCode till;
         if (grpc::Status s = TillCodeForSetup(&till); !s.ok()) {
           return {-1, "[test setup] the member's till code: " + s.error_message()};
         }
         return send("POST", "/v1/members/m-1/redemptions", token,
                     std::string("{\"reward_id\":\"") + kReward + "\",\"request_id\":\"" + Fresh("http-redeem") +
                         "\",\"till_code\":\"" + till.code() + "\"}");
       }},
      {MethodName(kMemberService, "WatchMember"),
       [&](const std::string& token) -> HttpOutcome {
         // An allowed watch answers 200 and starts its event stream (the
         // client reads the head only, then closes); a refused one is a
         // plain error answer.
         return send("GET", "/v1/members/m-1/watch", token, "");
       }},
      {MethodName(kAdminService, "AdjustPoints"),
       [&](const std::string& token) -> HttpOutcome {
         return send("POST", "/v1/members/m-1/adjustments", token,
                     "{\"points\":5,\"reason\":\"authorisation matrix\",\"request_id\":\"" + Fresh("http-adjust") +
                         "\"}");
       }},
      {MethodName(kAdminService, "GetProgram"),
       [&](const std::string& token) -> HttpOutcome { return send("GET", "/v1/program", token, ""); }},
  };

  std::map<std::string, const Row*> table;
  for (const Row& row : Matrix()) table[MethodName(row)] = &row;
  std::vector<std::string> mismatches;
  size_t cells = 0;
  for (const auto& [method, call] : rows) {
    const auto row = table.find(method);
    if (row == table.end() || row->second->expected.size() != kCallerCount) {
      mismatches.push_back(method + ": no row (of " + std::to_string(kCallerCount) + " codes) in the table");
      continue;
    }
    for (size_t c = 0; c < kCallerCount; ++c) {
      const int expected = HttpStatusFor(row->second->expected[c]);
      const HttpOutcome got = call(kCallers[c].token);
      ++cells;
      if (got.status != expected) {
        mismatches.push_back(method + " over HTTP as " + kCallers[c].label + ": expected " +
                             std::to_string(expected) + " (" + CodeName(row->second->expected[c]) + "), got " +
                             std::to_string(got.status) + " " + got.body);
      }
    }
  }
  if (!mismatches.empty()) {
    std::string list;
    for (const std::string& m : mismatches) list += "  " + m + "\n";
    ADD_FAILURE() << mismatches.size() << " of " << cells << " HTTP cells differ from the table:\n" << list;
  }
}

}  // namespace
}  // namespace loyalty::testing
