// tests/fuzz/make_corpus.cc: writes the seed corpus of every fuzz target
// from the project's own fixtures (tests/support, the demo program, the
// engine and the codec), so the seeds are what loyaltyd really receives and
// stores:
//
//   build-fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
//
// (tests/fuzz/run.sh --seeds builds and runs it). Each seed is one file
// corpus/<target>/<name>; the same fixtures always give the same bytes.
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "edges/http/http_api.h"
#include "edges/http/routes.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/admin.pb.h"
#include "loyalty/v1/member.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "server/demo.h"
#include "services/common/fingerprint.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/engine/engine.h"
#include "services/loyalty/event_apply.h"
#include "storage/keys.h"
#include "tests/support/events.h"
#include "tests/support/legacy_records.h"
#include "tests/support/programs.h"

namespace loyalty {
namespace {

namespace fs = std::filesystem;
using testing::kNow;
using testing::MakeReturn;
using testing::MakeSale;
using testing::MakeVoid;
using testing::Ref;

fs::path g_out;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

// A seed of a target whose first byte picks the kind.
void WriteKind(const std::string& target, uint8_t kind, const std::string& name,
               const google::protobuf::Message& m) {
  Write(target, name, std::string(1, static_cast<char>(kind)) + DeterministicBytes(m));
}

// fuzz_event_validation: Kind in fuzz_event_validation.cc.
void EventValidationSeeds() {
  const std::string t = "fuzz_event_validation";
  std::vector<std::pair<std::string, v1::Sale>> sales;
  sales.push_back({"sale-member-id", MakeSale("tx-1", "m-0001", {{2, 350}, {1, 199, 50}})});
  v1::Sale card = MakeSale("tx-2", "", {{1, 1200, 0, "bakery"}, {3, 450}});
  card.mutable_member()->set_card_number("4000000000000001");
  sales.push_back({"sale-member-card", card});
  v1::Sale phone = MakeSale("tx-3", "", {{1, 4500, 500, "wine"}});
  phone.mutable_member()->set_phone("+4915100000001");
  sales.push_back({"sale-member-phone", phone});
  sales.push_back({"sale-anonymous", MakeSale("tx-4", "", {{1, 250}})});
  v1::Sale tendered = MakeSale("tx-5", "m-0002", {{2, 350}});
  auto* cash = tendered.add_tenders();
  cash->set_type(v1::TENDER_TYPE_CASH);
  cash->set_amount_minor(500);
  auto* cardpay = tendered.add_tenders();
  cardpay->set_type(v1::TENDER_TYPE_CARD);
  cardpay->set_amount_minor(200);
  sales.push_back({"sale-tenders", tendered});
  v1::Sale coded = MakeSale("tx-6", "m-0003", {{1, 450}, {1, 400, 0, "bakery"}});
  coded.add_redemption_codes("RC-ABCDEF");
  coded.add_redemption_codes("RC-123456");
  sales.push_back({"sale-codes", coded});
  std::vector<testing::LineSpec> many;
  for (int i = 0; i < 12; ++i) many.push_back({1 + i, 100 + 37 * i, i, i % 2 ? "coffee" : "household"});
  sales.push_back({"sale-many-lines", MakeSale("tx-7", "m-0004", many)});
  sales.push_back({"sale-large", MakeSale("tx-8", "m-0005", {{9999, 100'000'000, 0, "gift-cards"}})});
  sales.push_back({"sale-old", MakeSale("tx-9", "m-0006", {{1, 99}}, kNow - 399 * 24 * 3600)});
  sales.push_back({"sale-bad-quantity", MakeSale("tx-10", "m-0007", {{0, 350}})});
  for (const auto& [name, sale] : sales) {
    v1::RecordSaleRequest r;
    *r.mutable_sale() = sale;
    WriteKind(t, 0, name, r);
  }
  const v1::TransactionRef original = Ref("tx-1");
  std::vector<std::pair<std::string, v1::Return>> returns = {
      {"return-one-line", MakeReturn("rt-1", original, {{0, 1}})},
      {"return-two-lines", MakeReturn("rt-2", original, {{0, 2}, {1, 1}})},
      {"return-line-twice", MakeReturn("rt-3", original, {{1, 1}, {1, 1}})},
      {"return-other-store", MakeReturn("rt-4", Ref("tx-1", "store-2"), {{2, 1}})},
  };
  for (const auto& [name, ret] : returns) {
    v1::RecordReturnRequest r;
    *r.mutable_return_() = ret;
    WriteKind(t, 1, name, r);
  }
  std::vector<std::pair<std::string, v1::Void>> voids = {
      {"void", MakeVoid("vd-1", original)},
      {"void-other-store", MakeVoid("vd-2", Ref("tx-1", "store-2"))},
  };
  v1::Void no_reason = MakeVoid("vd-3", Ref("tx-2"));
  no_reason.clear_reason();
  voids.push_back({"void-no-reason", no_reason});
  for (const auto& [name, v] : voids) {
    v1::VoidSaleRequest r;
    *r.mutable_void_() = v;
    WriteKind(t, 2, name, r);
  }
  v1::BacklogEvent e;
  *e.mutable_sale() = sales[0].second;
  WriteKind(t, 3, "backlog-sale", e);
  *e.mutable_return_() = returns[0].second;
  WriteKind(t, 3, "backlog-return", e);
  *e.mutable_void_() = voids[0].second;
  WriteKind(t, 3, "backlog-void", e);

  v1::EnrollMemberRequest enroll;
  enroll.set_member_id("m-0001");
  enroll.set_display_name("Demo Member 1");
  enroll.set_card_number("4000000000000001");
  enroll.set_phone("+4915100000001");
  enroll.set_birthday("02-29");
  enroll.mutable_enrolled_at()->set_seconds(kNow - 86400);
  WriteKind(t, 4, "enroll-full", enroll);
  v1::EnrollMemberRequest minimal;
  minimal.set_member_id("m-0002");
  WriteKind(t, 4, "enroll-minimal", minimal);
  enroll.set_birthday("13-01");
  WriteKind(t, 4, "enroll-bad-birthday", enroll);

  v1::AdjustPointsRequest adjust;
  adjust.set_member_id("m-0001");
  adjust.set_points(250);
  adjust.set_reason("goodwill for a late delivery");
  adjust.set_request_id("adj-1");
  WriteKind(t, 5, "adjust-add", adjust);
  adjust.set_points(-1'000'000);
  WriteKind(t, 5, "adjust-take", adjust);

  v1::LookupMemberRequest lookup;
  lookup.mutable_member()->set_member_id("m-0001");
  WriteKind(t, 6, "lookup-id", lookup);
  lookup.mutable_member()->set_card_number("4000000000000001");
  WriteKind(t, 6, "lookup-card", lookup);
  lookup.mutable_member()->set_phone("+4915100000001");
  WriteKind(t, 6, "lookup-phone", lookup);

  v1::EvaluateBasketRequest basket;
  basket.set_store_id("store-1");
  basket.mutable_member()->set_member_id("m-0001");
  basket.set_currency("EUR");
  *basket.mutable_lines() = sales[6].second.lines();
  WriteKind(t, 7, "basket", basket);
  basket.mutable_at()->set_seconds(kNow - 60);
  basket.add_redemption_codes("RC-ABCDEF");
  WriteKind(t, 7, "basket-at-codes", basket);

  v1::UpdateProgramRequest program;
  *program.mutable_program() = codec::ToProto(server::DemoProgram("EUR"));
  program.set_expected_version(1);
  WriteKind(t, 8, "program-demo", program);
  *program.mutable_program() = codec::ToProto(engine::DefaultProgram("EUR"));
  WriteKind(t, 8, "program-default", program);
  *program.mutable_program() = codec::ToProto(testing::PlainProgram());
  WriteKind(t, 8, "program-plain", program);
  engine::ProgramConfig promo = server::DemoProgram("SEK");
  promo.promotions.push_back({"double-weekend", "Double points", kNow, kNow + 2 * 86400, {"store-1"}, {"coffee"}, 200});
  promo.max_points_per_month = 5000;
  *program.mutable_program() = codec::ToProto(promo);
  WriteKind(t, 8, "program-promotion", program);
}

// fuzz_stored_records: Kind in fuzz_stored_records.cc.
void StoredRecordSeeds() {
  const std::string t = "fuzz_stored_records";
  const engine::ProgramConfig program = server::DemoProgram("EUR");
  // A member with history: enrolled, two sales, a return; its records.
  engine::MemberState member = engine::EnrolledMember(kNow - 200 * 86400);
  member.birthday_mmdd = "03-14";
  const v1::Sale sale1 = MakeSale("tx-1", "m-0001", {{2, 350}, {1, 1200, 0, "bakery"}}, kNow - 30 * 86400);
  const v1::Sale sale2 = MakeSale("tx-2", "m-0001", {{1, 4500, 0, "wine"}, {3, 450}}, kNow - 86400);
  internal::SaleState state1, state2;
  v1::EventOutcome outcome;
  std::vector<engine::Entry> entries;
  (void)ApplySaleEvent({program, kNow - 30 * 86400, 5, true}, sale1, &member, {}, {}, &state1, &outcome, &entries);
  (void)ApplySaleEvent({program, kNow - 86400, 9, true}, sale2, &member, {}, {}, &state2, &outcome, &entries);
  const v1::Return ret = MakeReturn("rt-1", Ref("tx-1"), {{0, 1}});
  (void)ApplyReturnEvent({program, kNow, 12, true}, ret, state1, &member, &outcome, &entries);

  internal::MemberRecord record;
  record.set_member_id("m-0001");
  record.set_display_name("Demo Member 1");
  record.set_card_number("4000000000000001");
  record.set_phone("+4915100000001");
  record.mutable_enrolled_at()->set_seconds(kNow - 200 * 86400);
  record.set_ledger_total_points(engine::LedgerTotal(member));
  record.set_last_event_seq(12);
  record.set_ledger_entries(entries.size());
  internal::MemberRecord packed = record;
  codec::ToProto(member, packed.mutable_engine());
  WriteKind(t, 0, "member-packed", packed);
  internal::MemberRecord legacy = record;
  *legacy.mutable_engine() = testing::LegacyEngineState(member);
  WriteKind(t, 0, "member-legacy", legacy);
  internal::MemberRecord fresh;
  fresh.set_member_id("m-0002");
  codec::ToProto(engine::EnrolledMember(kNow), fresh.mutable_engine());
  WriteKind(t, 0, "member-new", fresh);

  internal::EventRecord event;
  event.set_seq(5);
  event.mutable_received_at()->set_seconds(kNow - 30 * 86400);
  event.set_member_id("m-0001");
  event.set_program_version(1);
  *event.mutable_sale() = sale1;
  WriteKind(t, 1, "event-sale", event);
  *event.mutable_return_() = ret;
  WriteKind(t, 1, "event-return", event);
  *event.mutable_void_() = MakeVoid("vd-1", Ref("tx-2"));
  WriteKind(t, 1, "event-void", event);
  event.mutable_enroll()->set_member_id("m-0001");
  WriteKind(t, 1, "event-enroll", event);
  event.mutable_adjust()->mutable_request()->set_points(100);
  event.mutable_adjust()->set_author("demo admin");
  WriteKind(t, 1, "event-adjust", event);
  event.mutable_expire();
  WriteKind(t, 1, "event-expire", event);
  event.mutable_claim()->set_member_id("m-0001");
  *event.mutable_claim()->mutable_sale() = Ref("tx-4");
  WriteKind(t, 1, "event-claim", event);
  event.mutable_redeem()->set_code("RC-ABCDEF");
  event.mutable_redeem()->set_points(150);
  *event.mutable_redeem()->mutable_reward() = codec::ToProto(program.rewards[0]);
  WriteKind(t, 1, "event-redeem", event);
  internal::EventRecord anonymous;
  anonymous.set_seq(1ull << 40);
  *anonymous.mutable_sale() = MakeSale("tx-4", "", {{1, 250}});
  WriteKind(t, 1, "event-anonymous-sale", anonymous);

  internal::IdempotencyRecord txn;
  txn.set_fingerprint(Fingerprint("sale", sale1));
  txn.set_event_seq(5);
  *txn.mutable_outcome() = outcome;
  *txn.mutable_sale() = state1;
  WriteKind(t, 2, "txn-sale", txn);
  txn.clear_sale();
  WriteKind(t, 2, "txn-return", txn);
  txn.mutable_redeem()->set_code("RC-ABCDEF");
  txn.mutable_redeem()->set_points_spent(150);
  WriteKind(t, 2, "txn-redeem", txn);
  WriteKind(t, 3, "sale-state", state1);
  WriteKind(t, 3, "sale-state-2", state2);

  internal::ProgramRecord stored;
  *stored.mutable_program() = codec::ToProto(program);
  stored.mutable_program()->mutable_published_at()->set_seconds(kNow);
  stored.mutable_program()->set_published_by("loyaltyd");
  WriteKind(t, 4, "program-demo", stored);
  *stored.mutable_program() = codec::ToProto(engine::DefaultProgram("EUR"));
  WriteKind(t, 4, "program-default", stored);
  internal::ProgramRecord damaged;  // a finding: FromProto overflowed on this kind
  damaged.mutable_program()->add_offers()->set_kind(static_cast<v1::OfferKind>(INT_MIN));
  WriteKind(t, 4, "program-offer-kind-min", damaged);

  internal::AuditRecord audit;
  audit.set_version(2);
  audit.set_author("demo admin");
  audit.mutable_at()->set_seconds(kNow);
  audit.set_summary("published version 2");
  WriteKind(t, 5, "audit", audit);

  internal::RedemptionCode code;
  code.set_code("RC-ABCDEF");
  code.set_member_id("m-0001");
  *code.mutable_reward() = codec::ToProto(program.rewards[2]);
  code.set_issued_at(kNow);
  code.set_expires_at(kNow + 60 * 86400);
  *code.mutable_used_by() = Ref("tx-6");
  WriteKind(t, 6, "code-used", code);
  code.clear_used_by();
  *code.mutable_reward() = codec::ToProto(program.rewards[0]);
  WriteKind(t, 6, "code", code);

  v1::LedgerEntry entry;
  entry.set_entry_id(storage::LedgerEntryId(5, 0));
  entry.set_kind(v1::LEDGER_ENTRY_KIND_EARN);
  entry.set_points(18);
  entry.mutable_at()->set_seconds(kNow);
  entry.set_member_id("m-0001");
  *entry.mutable_cause() = Ref("tx-1");
  WriteKind(t, 7, "ledger-earn", entry);
  entry.set_kind(v1::LEDGER_ENTRY_KIND_ADJUST);
  entry.set_points(-100);
  entry.set_reason("correction");
  entry.set_author("demo admin");
  WriteKind(t, 7, "ledger-adjust", entry);

  const auto key = [&](const std::string& name, const std::string& bytes) {
    Write(t, name, std::string(1, 8) + bytes);
  };
  key("key-event", storage::EventKey(5));
  key("key-event-large", storage::EventKey(~0ull >> 4));
  key("key-txn", storage::TxnKey("store-1", "t-1", "tx-1"));
  key("key-member", storage::MemberKey("m-0001"));
  key("key-ledger", storage::LedgerKey("m-0001", storage::LedgerEntryId(5, 1)));
  key("key-identifier", storage::IdentifierKey(storage::IdentifierKind::kCard, "4000000000000001"));
  key("key-program", storage::ProgramVersionKey(3));
  key("key-txn-admin", storage::TxnKey("#admin", "adjust", "adj-1"));
}

// fuzz_http_request: one request per route (its path parameters filled in,
// its body or query from a sample request), and the edge's other paths.
std::string Request(const std::string& verb, const std::string& target, const std::string& body = "",
                    const std::string& extra_headers = "") {
  std::string out = verb + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" +
                    "Authorization: Bearer demo-admin\r\n" + extra_headers;
  if (!body.empty() || verb == "POST" || verb == "PUT") {
    out += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return out + "\r\n" + body;
}

// A sample of each request message the routes take.
std::map<std::string, std::unique_ptr<google::protobuf::Message>> SampleRequests() {
  std::map<std::string, std::unique_ptr<google::protobuf::Message>> out;
  auto add = [&](auto message) {
    using M = decltype(message);
    out[M::descriptor()->full_name()] = std::make_unique<M>(std::move(message));
  };
  const v1::Sale sale = MakeSale("tx-1", "m-0001", {{2, 350}, {1, 199, 50, "bakery"}});
  v1::RecordSaleRequest record_sale;
  *record_sale.mutable_sale() = sale;
  add(record_sale);
  v1::RecordReturnRequest record_return;
  *record_return.mutable_return_() = MakeReturn("rt-1", Ref("tx-1"), {{0, 1}});
  add(record_return);
  v1::VoidSaleRequest void_sale;
  *void_sale.mutable_void_() = MakeVoid("vd-1", Ref("tx-1"));
  add(void_sale);
  v1::LookupMemberRequest lookup;
  lookup.mutable_member()->set_card_number("4000000000000001");
  add(lookup);
  v1::EvaluateBasketRequest basket;
  basket.set_store_id("store-1");
  basket.mutable_member()->set_member_id("m-0001");
  basket.set_currency("EUR");
  *basket.mutable_lines() = sale.lines();
  add(basket);
  v1::ListHistoryRequest history;
  history.set_member_id("m-0001");
  history.set_page_size(10);
  history.set_page_token("20");
  add(history);
  v1::RedeemRequest redeem;
  redeem.set_member_id("m-0001");
  redeem.set_reward_id("free-coffee");
  redeem.set_request_id("rq-1");
  add(redeem);
  v1::ClaimReceiptRequest claim;
  claim.set_member_id("m-0001");
  *claim.mutable_sale() = Ref("tx-4");
  claim.set_total_minor(250);
  claim.set_receipt_code("ABCDEFGHJKMN");
  add(claim);
  v1::EnrollMemberRequest enroll;
  enroll.set_member_id("m-0011");
  enroll.set_display_name("New Member");
  enroll.set_card_number("4000000000000011");
  enroll.set_phone("+4915100000011");
  enroll.set_birthday("07-01");
  add(enroll);
  v1::AdjustPointsRequest adjust;
  adjust.set_member_id("m-0001");
  adjust.set_points(-50);
  adjust.set_reason("correction");
  adjust.set_request_id("adj-1");
  add(adjust);
  v1::UpdateProgramRequest program;
  *program.mutable_program() = codec::ToProto(server::DemoProgram("EUR"));
  program.set_expected_version(1);
  add(program);
  v1::GetDryRunRequest dry_run;
  dry_run.set_job_id("job-1");
  add(dry_run);
  v1::VerifyLedgerRequest verify;
  verify.set_replay_events(true);
  add(verify);
  v1::CreateCheckpointRequest checkpoint;
  checkpoint.set_name("before-upgrade");
  add(checkpoint);
  v1::ListAuditRequest audit;
  audit.set_limit(20);
  add(audit);
  return out;
}

// The query string of a route without a body: the sample's set scalar
// fields that are not in the path.
std::string Query(const google::protobuf::Message& m, const std::map<std::string, std::string>& path) {
  std::string q;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) continue;
    if (path.count(f->name()) != 0) continue;
    std::string value;
    switch (f->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_STRING: value = m.GetReflection()->GetString(m, f); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT32: value = std::to_string(m.GetReflection()->GetUInt32(m, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_BOOL: value = m.GetReflection()->GetBool(m, f) ? "true" : "false"; break;
      default: continue;
    }
    q += (q.empty() ? "?" : "&") + f->name() + "=" + value;
  }
  return q;
}

void HttpSeeds() {
  const std::string t = "fuzz_http_request";
  auto services = http::LoyaltyServices();
  if (!services.ok()) {
    std::fprintf(stderr, "services: %s\n", std::string(services.status().message()).c_str());
    std::exit(1);
  }
  auto routes = http::RouteTable::Build(*services);
  if (!routes.ok()) {
    std::fprintf(stderr, "routes: %s\n", std::string(routes.status().message()).c_str());
    std::exit(1);
  }
  const auto samples = SampleRequests();
  for (const http::Route& r : routes->routes()) {
    std::map<std::string, std::string> path_params;
    std::string path;
    for (const std::string& segment : r.segments) {
      std::string value = segment;
      if (segment.size() > 2 && segment.front() == '{') {
        const std::string field = segment.substr(1, segment.size() - 2);
        value = field == "job_id" ? "job-1" : "m-0001";
        path_params[field] = value;
      }
      path += "/" + value;
    }
    std::unique_ptr<google::protobuf::Message> sample;
    const std::string type = r.method->input_type()->full_name();
    if (auto it = samples.find(type); it != samples.end()) {
      sample.reset(it->second->New());
      sample->CopyFrom(*it->second);
    } else {
      sample.reset(google::protobuf::MessageFactory::generated_factory()->GetPrototype(r.method->input_type())->New());
    }
    std::string body;
    std::string query;
    if (r.body == "*") {
      body = http::ToJson(*sample);
    } else if (!r.body.empty()) {
      const auto* field = sample->GetDescriptor()->FindFieldByName(r.body);
      body = http::ToJson(sample->GetReflection()->GetMessage(*sample, field));
    } else {
      query = Query(*sample, path_params);
    }
    std::string name = r.verb + path;
    for (char& c : name) {
      if (c == '/' || c == ':' || c == '{' || c == '}') c = '-';
    }
    Write(t, name, Request(r.verb, path + query, body));
    if (path_params.count("member_id") != 0) {  // a member's own id, and an escaped one
      std::string me = path;
      me.replace(me.find("m-0001"), 6, "me");
      Write(t, name + "-me", Request(r.verb, me + query, body));
      std::string escaped = path;
      escaped.replace(escaped.find("m-0001"), 6, "m%2D0001");
      Write(t, name + "-escaped", Request(r.verb, escaped + query, body));
    }
  }
  // The backlog: a JSON array, NDJSON, chunked.
  const auto sale_json = http::ToJson(MakeSale("tx-1", "m-0001", {{2, 350}}));
  const auto void_json = http::ToJson(MakeVoid("vd-1", Ref("tx-1")));
  const std::string array = "[{\"sale\":" + sale_json + "},\n {\"void\":" + void_json + "}]";
  Write(t, "backlog-array", Request("POST", "/v1/backlog", array));
  const std::string ndjson = "{\"sale\":" + sale_json + "}\n\n{\"void\":" + void_json + "}\n";
  Write(t, "backlog-ndjson",
        "POST /v1/backlog HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-terminal-store-1\r\n"
        "Content-Type: application/x-ndjson\r\nContent-Length: " + std::to_string(ndjson.size()) + "\r\n\r\n" + ndjson);
  std::string chunked = "POST /v1/backlog HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-terminal-store-1\r\n"
                        "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string half = ndjson.substr(0, ndjson.size() / 2);
  const std::string rest = ndjson.substr(ndjson.size() / 2);
  char size[16];
  std::snprintf(size, sizeof size, "%zx", half.size());
  chunked += std::string(size) + "\r\n" + half + "\r\n";
  std::snprintf(size, sizeof size, "%zx", rest.size());
  chunked += std::string(size) + "\r\n" + rest + "\r\n0\r\n\r\n";
  Write(t, "backlog-chunked", chunked);
  // A last chunk cut short: the harness once fed Beast's parser the same
  // bytes again after need_more (tripping its assertion), as a server never does.
  Write(t, "chunked-cut-last-chunk",
        "POST /v1/sales HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0;\r\n");
  // Refusals the edge words itself, and its other paths.
  Write(t, "sale-unknown-field", Request("POST", "/v1/sales", "{\"ref\":{\"store_id\":\"store-1\"},\"quantiti\":1}"));
  Write(t, "sale-wrong-type", Request("POST", "/v1/sales", "{\"lines\":[{\"quantity\":\"many\"}]}"));
  Write(t, "sale-malformed", Request("POST", "/v1/sales", "{\"ref\": {"));
  Write(t, "history-bad-number", Request("GET", "/v1/members/m-0001/history?page_size=ten&page_token="));
  Write(t, "history-nested-param", Request("GET", "/v1/members/m-0001/history?page_size=1&balance.x=2"));
  Write(t, "path-wrong-verb", Request("DELETE", "/v1/members/m-0001"));
  Write(t, "path-unknown", Request("GET", "/v1/nothing/here"));
  Write(t, "path-percent", Request("GET", "/v1/members/%2B4915100000001"));
  Write(t, "path-not-utf8", Request("GET", "/v1/mem\xe2" "ers/m-0001/rewards"));  // a finding: its 404 body was not JSON
  Write(t, "query-not-utf8", Request("GET", "/v1/members/m-0001/history?%FF%FE=1"));
  Write(t, "head-member", Request("HEAD", "/v1/members/m-0001"));
  Write(t, "healthz", Request("GET", "/healthz"));
  Write(t, "metrics", Request("GET", "/metrics"));
  Write(t, "openapi", Request("GET", "/openapi.json"));
  Write(t, "console", Request("GET", "/console/index.html"));
  Write(t, "options", Request("OPTIONS", "/v1/sales", "", "Origin: https://pos.example\r\n"
                                                           "Access-Control-Request-Method: POST\r\n"));
  Write(t, "pipelined", Request("GET", "/v1/members/m-0001") + Request("GET", "/healthz"));
}

}  // namespace
}  // namespace loyalty

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  loyalty::g_out = argv[1];
  loyalty::EventValidationSeeds();
  loyalty::StoredRecordSeeds();
  loyalty::HttpSeeds();
  return 0;
}
