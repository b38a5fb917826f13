// tests/fuzz/fuzz_event_validation.cc: the checks of every request a
// terminal or an admin sends, over arbitrary bytes.
//
// Input: the first byte picks the request kind (Kind below, modulo its
// count), the rest is that request's protobuf encoding, as the gRPC edge
// gets it off the wire. Bytes that do not parse end there (gRPC answers
// them itself). A parsed request goes through the project's validation:
// pos::ValidateSale/Return/Void (RecordSale, RecordReturn, VoidSale and each
// UploadBacklog event), ValidateEnroll, ValidateAdjustment, the identifier
// check of LookupMember, the field checks of EvaluateBasket and
// ProgramStore::Check (UpdateProgram, DryRunProgram, StartDryRun).
//
// What is checked, from the validators' contracts:
//  - a refusal is INVALID_ARGUMENT and names a field ("sale.lines[0]...: ...");
//  - what passes keeps the documented limits, and goes on safely into what
//    the server does next with it: a sale, return or void through the
//    engine (event_apply.h) against a fixed member and recorded sale, a
//    program through the same engine and back through its stored form.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "loyalty/v1/admin.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "services/common/field_checks.h"
#include "services/common/fingerprint.h"
#include "services/loyalty/admin_operations.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/engine/engine.h"
#include "services/loyalty/engine/offers.h"
#include "services/loyalty/event_apply.h"
#include "services/loyalty/program_store.h"
#include "server/demo.h"
#include "services/pos/validation.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/support/events.h"

namespace loyalty {
namespace {

using testing::kNow;

enum Kind : uint8_t {
  kSale,         // RecordSaleRequest
  kReturn,       // RecordReturnRequest
  kVoid,         // VoidSaleRequest
  kBacklog,      // BacklogEvent (one event of UploadBacklog)
  kEnroll,       // EnrollMemberRequest
  kAdjust,       // AdjustPointsRequest
  kLookup,       // LookupMemberRequest
  kBasket,       // EvaluateBasketRequest
  kProgram,      // UpdateProgramRequest
  kKinds,
};

// A refusal: INVALID_ARGUMENT, its message "<field>: <reason>".
void CheckRefusal(const absl::Status& s) {
  FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  const std::string m(s.message());
  FUZZ_CHECK(m.find(": ") != std::string::npos && m.find(": ") > 0);
}

// What the engine is given with a request that passed: the demo program
// (offers of every kind, rewards), a member with a sale (to return and
// void).
struct Fixture {
  engine::ProgramConfig program = server::DemoProgram("EUR");
  engine::MemberState member = engine::EnrolledMember(kNow - 100 * engine::kDay);
  v1::Sale sale = testing::MakeSale("tx-1", "m-1", {{2, 350}, {1, 199, 50}, {3, 1200, 0, "bakery"}}, kNow - 3600);
  internal::SaleState sale_state;

  Fixture() {
    fuzz::QuietProtobufLogs();
    const ApplyContext ctx{program, kNow - 3600, 7, /*what_if=*/true};  // the total as the offers make it
    v1::EventOutcome outcome;
    std::vector<engine::Entry> entries;
    const absl::Status s = ApplySaleEvent(ctx, sale, &member, {}, {}, &sale_state, &outcome, &entries);
    FUZZ_CHECK(s.ok());
  }
};
const Fixture& TheFixture() {
  static const Fixture* f = new Fixture();
  return *f;
}

void CheckPassedSale(const v1::Sale& sale) {
  // The limits of validation.h and pos.proto.
  FUZZ_CHECK(sale.has_occurred_at());
  FUZZ_CHECK(sale.lines_size() >= 1 && sale.lines_size() <= pos::kMaxLinesPerSale);
  int64_t net_total = 0;
  for (const auto& line : sale.lines()) {
    FUZZ_CHECK(line.quantity() >= 1 && line.quantity() <= pos::kMaxQuantity);
    FUZZ_CHECK(line.unit_price_minor() >= 0 && line.unit_price_minor() <= pos::kMaxUnitPriceMinor);
    FUZZ_CHECK(line.discount_minor() >= 0 && line.discount_minor() <= line.quantity() * line.unit_price_minor());
    net_total += engine::LineNetMinor(line.quantity(), line.unit_price_minor(), line.discount_minor());
  }
  FUZZ_CHECK(net_total <= kMaxSaleTotalMinor);
  FUZZ_CHECK(sale.total_minor() >= 0 && sale.total_minor() <= net_total);
  FUZZ_CHECK(sale.tenders_size() <= pos::kMaxTendersPerSale);
  FUZZ_CHECK(sale.redemption_codes_size() <= pos::kMaxCodesPerSale);
  std::set<std::string> codes(sale.redemption_codes().begin(), sale.redemption_codes().end());
  FUZZ_CHECK(codes.size() == static_cast<size_t>(sale.redemption_codes_size()));

  // What ingest does next: the fingerprint, then the engine on the member
  // (or anonymously). Its own refusals (a total off by the discounts) are
  // answers, not findings.
  FUZZ_CHECK(Fingerprint("sale", sale).size() == 32);
  const Fixture& f = TheFixture();
  engine::MemberState member = f.member;
  internal::SaleState state;
  v1::EventOutcome outcome;
  std::vector<engine::Entry> entries;
  const ApplyContext ctx{f.program, kNow, 8};
  (void)ApplySaleEvent(ctx, sale, sale.has_member() ? &member : nullptr, {}, {}, &state, &outcome, &entries);
  (void)engine::EvaluateBasket(f.program, f.member, {}, SaleInputOf(sale), {}, kNow);
}

void CheckSale(const v1::Sale& sale) {
  const absl::Status s = pos::ValidateSale(sale, kNow);
  if (!s.ok()) return CheckRefusal(s);
  CheckPassedSale(sale);
}

void CheckReturn(const v1::Return& ret) {
  const absl::Status s = pos::ValidateReturn(ret, kNow);
  if (!s.ok()) return CheckRefusal(s);
  FUZZ_CHECK(ret.has_occurred_at() && ret.has_original());
  FUZZ_CHECK(ret.lines_size() >= 1 && ret.lines_size() <= pos::kMaxLinesPerReturn);
  for (const auto& line : ret.lines()) {
    FUZZ_CHECK(line.line_index() < static_cast<uint32_t>(pos::kMaxLinesPerSale));
    FUZZ_CHECK(line.quantity() >= 1 && line.quantity() <= pos::kMaxQuantity);
  }
  // Against the recorded sale (ingest finds it by ret.original()).
  const Fixture& f = TheFixture();
  engine::MemberState member = f.member;
  internal::SaleState sale = f.sale_state;
  v1::EventOutcome outcome;
  std::vector<engine::Entry> entries;
  const ApplyContext ctx{f.program, kNow, 9};
  const absl::Status applied = ApplyReturnEvent(ctx, ret, sale, &member, &outcome, &entries);
  if (!applied.ok()) {
    FUZZ_CHECK(applied.code() == absl::StatusCode::kInvalidArgument ||
               applied.code() == absl::StatusCode::kFailedPrecondition);
  }
}

void CheckVoid(const v1::Void& v) {
  const absl::Status s = pos::ValidateVoid(v, kNow);
  if (!s.ok()) return CheckRefusal(s);
  FUZZ_CHECK(v.has_occurred_at() && v.has_original());
  FUZZ_CHECK(v.original().store_id() == v.ref().store_id());
  FUZZ_CHECK(v.reason().size() <= kMaxReasonBytes);
  const Fixture& f = TheFixture();
  engine::MemberState member = f.member;
  internal::SaleState sale = f.sale_state;
  v1::EventOutcome outcome;
  std::vector<engine::Entry> entries;
  const ApplyContext ctx{f.program, kNow, 10};
  const absl::Status applied = ApplyVoidEvent(ctx, v, sale, &member, &outcome, &entries);
  if (!applied.ok()) {
    FUZZ_CHECK(applied.code() == absl::StatusCode::kInvalidArgument ||
               applied.code() == absl::StatusCode::kFailedPrecondition);
  }
}

void CheckBacklogEvent(const v1::BacklogEvent& e) {
  switch (e.event_case()) {  // as PosOperations routes each event
    case v1::BacklogEvent::kSale: return CheckSale(e.sale());
    case v1::BacklogEvent::kReturn: return CheckReturn(e.return_());
    case v1::BacklogEvent::kVoid: return CheckVoid(e.void_());
    case v1::BacklogEvent::EVENT_NOT_SET: return;
  }
}

void CheckEnroll(const v1::EnrollMemberRequest& r) {
  const absl::Status s = ValidateEnroll(r, kNow);
  if (!s.ok()) return CheckRefusal(s);
  FUZZ_CHECK(!r.member_id().empty() && r.member_id().size() <= kMaxIdBytes);
  FUZZ_CHECK(r.display_name().size() <= 128);
  if (r.has_enrolled_at()) {
    FUZZ_CHECK(r.enrolled_at().seconds() >= kMinTimeSeconds && r.enrolled_at().seconds() <= kNow + 300);
  }
}

void CheckAdjust(const v1::AdjustPointsRequest& r) {
  const absl::Status s = ValidateAdjustment(r);
  if (!s.ok()) return CheckRefusal(s);
  FUZZ_CHECK(r.points() != 0 && r.points() >= -kMaxAdjustPoints && r.points() <= kMaxAdjustPoints);
  // The engine with the adjustment, as ApplyAdjustment runs it.
  const Fixture& f = TheFixture();
  engine::MemberState member = f.member;
  std::vector<engine::Entry> entries;
  engine::Adjust(f.program, member, r.points(), 11 * 16, kNow, entries);
  FUZZ_CHECK(engine::LedgerTotal(member) == engine::LedgerTotal(f.member) + r.points());
}

void CheckLookup(const v1::LookupMemberRequest& r) {
  const absl::Status s = ValidateMemberIdentifier("member", r.member());
  if (!s.ok()) return CheckRefusal(s);
}

// EvaluateBasket's checks before it reads the member, in its order.
void CheckBasket(const v1::EvaluateBasketRequest& r) {
  absl::Status s = ValidateId("store_id", r.store_id());
  if (s.ok()) s = ValidateMemberIdentifier("member", r.member());
  if (s.ok()) s = ValidateCurrency("currency", r.currency());
  if (s.ok()) s = pos::ValidateLines("lines", r.lines());
  if (s.ok() && r.has_at()) s = pos::ValidateEventTime("at", r.at(), true, kNow);
  if (!s.ok()) return CheckRefusal(s);
  engine::SaleInput input;
  input.store_id = r.store_id();
  input.occurred_at = r.has_at() ? r.at().seconds() : kNow;
  for (const auto& line : r.lines()) {
    input.lines.push_back({line.sku(), line.category(), line.quantity(),
                           engine::LineNetMinor(line.quantity(), line.unit_price_minor(), line.discount_minor())});
  }
  const Fixture& f = TheFixture();
  (void)engine::EvaluateBasket(f.program, f.member, {}, input, {}, kNow);
}

void CheckProgram(const v1::UpdateProgramRequest& r) {
  auto checked = ProgramStore::Check(r.program());
  if (!checked.ok()) return CheckRefusal(checked.status());
  // A published program is stored as ToProto(config) and read back with
  // FromProto: the stored form must pass again and read back the same.
  const v1::Program stored = codec::ToProto(*checked);
  auto again = ProgramStore::Check(stored);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(DeterministicBytes(codec::ToProto(*again)) == DeterministicBytes(stored));
  // A dry run applies the stored history under it: the fixture's sale.
  const Fixture& f = TheFixture();
  const ApplyContext ctx{*checked, kNow, 12, /*what_if=*/true};
  engine::MemberState member = f.member;
  v1::Sale sale = f.sale;
  sale.set_currency(checked->currency);
  internal::SaleState state;
  v1::EventOutcome outcome;
  std::vector<engine::Entry> entries;
  (void)ApplySaleEvent(ctx, sale, &member, {}, {}, &state, &outcome, &entries);
  engine::Refresh(*checked, member, kNow + engine::kDay);
  (void)engine::PersonalOffers(*checked, member, {}, kNow);
  (void)engine::TierProgressAt(*checked, member, kNow);
  (void)engine::StageProgressAt(*checked, member, kNow);
}

template <class Message>
bool Parse(const uint8_t* data, size_t size, Message& m) {
  return m.ParseFromArray(data, static_cast<int>(size));
}

}  // namespace
}  // namespace loyalty

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loyalty;
  if (size < 1) return 0;
  (void)TheFixture();
  const uint8_t kind = data[0] % kKinds;
  ++data;
  --size;
  switch (kind) {
    case kSale: {
      v1::RecordSaleRequest r;
      if (Parse(data, size, r)) CheckSale(r.sale());
      break;
    }
    case kReturn: {
      v1::RecordReturnRequest r;
      if (Parse(data, size, r)) CheckReturn(r.return_());
      break;
    }
    case kVoid: {
      v1::VoidSaleRequest r;
      if (Parse(data, size, r)) CheckVoid(r.void_());
      break;
    }
    case kBacklog: {
      v1::BacklogEvent r;
      if (Parse(data, size, r)) CheckBacklogEvent(r);
      break;
    }
    case kEnroll: {
      v1::EnrollMemberRequest r;
      if (Parse(data, size, r)) CheckEnroll(r);
      break;
    }
    case kAdjust: {
      v1::AdjustPointsRequest r;
      if (Parse(data, size, r)) CheckAdjust(r);
      break;
    }
    case kLookup: {
      v1::LookupMemberRequest r;
      if (Parse(data, size, r)) CheckLookup(r);
      break;
    }
    case kBasket: {
      v1::EvaluateBasketRequest r;
      if (Parse(data, size, r)) CheckBasket(r);
      break;
    }
    case kProgram: {
      v1::UpdateProgramRequest r;
      if (Parse(data, size, r)) CheckProgram(r);
      break;
    }
  }
  return 0;
}
