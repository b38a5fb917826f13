// tests/fuzz/fuzz_stored_records.cc: the readers of loyaltyd's own stored
// bytes (RocksDB values and keys), over arbitrary bytes: a damaged record or
// key is refused or read, never a crash, undefined behaviour or a leak.
//
// Input: the first byte picks what the rest is read as (Kind below, modulo
// its count):
//   member record     ParseMemberRecord (CF members), then codec::FromProto of
//                     its points state; what parses is written back the way
//                     the store writes it (ToProto) and must read back the same
//   event record      PeekEventHead (the replay's cheap read of seq, member and
//                     event kind) beside the full parse (CF events); on bytes
//                     the project writes (a parsed record serialized again)
//                     the two must agree
//   txn record        IdempotencyRecord (CF txn; a sale's state inside) and the
//                     older SaleState (CF sales)
//   program record    ProgramRecord (CF meta; read at start without
//                     validation) through codec::FromProto and back
//   other records     AuditRecord (CF audit), RedemptionCode (CF codes, its
//                     reward decoded), LedgerEntry (CF ledger)
//   keys              storage/keys.h: every Decode*Key; a key that decodes
//                     must encode back to the same bytes; the memtable hint
//                     prefix of every column family stays inside the key
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/common.pb.h"
#include "services/common/fingerprint.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/replay.h"
#include "storage/keys.h"
#include "tests/fuzz/fuzz_support.h"

namespace loyalty {
namespace {

enum Kind : uint8_t {
  kMemberRecord,
  kEventRecord,
  kTxnRecord,
  kLegacySale,
  kProgramRecord,
  kAuditRecord,
  kRedemptionCode,
  kLedgerEntry,
  kKeys,
  kKinds,
};

template <class Message>
bool Parse(std::string_view bytes, Message& m) {
  return m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

void MemberRecord(std::string_view bytes) {
  internal::MemberRecord record;
  const absl::Status parsed = ParseMemberRecord(bytes, record);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.code() == absl::StatusCode::kDataLoss);
    return;
  }
  FUZZ_CHECK(codec::WellFormed(record.engine()));
  const engine::MemberState state = codec::FromProto(record.engine());
  // Written back as PutMember writes it (the record, then the packed state),
  // the record reads back as the same state.
  internal::MemberRecord identity = record;
  identity.clear_engine();
  internal::MemberRecord state_only;
  codec::ToProto(state, state_only.mutable_engine());
  std::string stored = identity.SerializeAsString();
  state_only.AppendToString(&stored);
  internal::MemberRecord reread;
  FUZZ_CHECK(ParseMemberRecord(stored, reread).ok());
  FUZZ_CHECK(DeterministicBytes(codec::ToProto(codec::FromProto(reread.engine()))) ==
             DeterministicBytes(state_only.engine()));
}

void EventRecord(std::string_view bytes) {
  EventHead head;
  const bool peeked = PeekEventHead(bytes, head);
  internal::EventRecord e;
  if (!Parse(bytes, e)) return;
  // Damaged bytes may peek differently from the full parse (a field of the
  // wrong wire type is skipped by one and kept as unknown by the other);
  // what the project writes may not.
  (void)peeked;
  e.DiscardUnknownFields();
  const std::string written = e.SerializeAsString();
  EventHead written_head;
  FUZZ_CHECK(PeekEventHead(written, written_head));
  FUZZ_CHECK(written_head.seq == e.seq());
  FUZZ_CHECK(written_head.member_id == e.member_id());
  FUZZ_CHECK(written_head.event_field == static_cast<int>(e.event_case()));
}

void TxnRecord(std::string_view bytes) {
  internal::IdempotencyRecord record;
  if (!Parse(bytes, record)) return;
  if (record.has_sale()) {
    const internal::SaleState& sale = record.sale();
    for (const auto& code : sale.redemption_codes()) (void)code.size();
  }
  (void)Fingerprint("txn", record);
}

void LegacySale(std::string_view bytes) {
  internal::SaleState sale;
  if (!Parse(bytes, sale)) return;
  internal::IdempotencyRecord moved;  // what Ingest::ReadSale makes of it
  *moved.mutable_sale() = sale;
  FUZZ_CHECK(moved.sale().lines_size() == sale.lines_size());
}

void ProgramRecord(std::string_view bytes) {
  internal::ProgramRecord record;
  if (!Parse(bytes, record)) return;
  // ProgramStore::Open and ::Version read stored programs like this.
  const engine::ProgramConfig config = codec::FromProto(record.program());
  const v1::Program back = codec::ToProto(config);
  FUZZ_CHECK(DeterministicBytes(codec::ToProto(codec::FromProto(back))) == DeterministicBytes(back));
}

void AuditRecord(std::string_view bytes) {
  internal::AuditRecord audit;
  if (!Parse(bytes, audit)) return;
  (void)storage::AuditKey(audit.version());
}

void RedemptionCode(std::string_view bytes) {
  internal::RedemptionCode code;
  if (!Parse(bytes, code)) return;
  const engine::Reward reward = codec::FromProto(code.reward());
  FUZZ_CHECK(reward.code_valid_days != 0);
  FUZZ_CHECK(DeterministicBytes(codec::ToProto(codec::FromProto(codec::ToProto(reward)))) ==
             DeterministicBytes(codec::ToProto(reward)));
}

void LedgerEntry(std::string_view bytes) {
  v1::LedgerEntry entry;
  if (!Parse(bytes, entry)) return;
  (void)entry.points();
}

void Keys(std::string_view key) {
  using namespace storage;
  if (auto seq = DecodeEventKey(key); seq.ok()) {
    FUZZ_CHECK(EventKey(*seq) == key);
  } else {
    FUZZ_CHECK(seq.status().code() == absl::StatusCode::kDataLoss);
  }
  if (auto version = DecodeAuditKey(key); version.ok()) FUZZ_CHECK(AuditKey(*version) == key);
  if (auto txn = DecodeTxnKey(key); txn.ok()) {
    FUZZ_CHECK(TxnKey(txn->store_id, txn->terminal_id, txn->transaction_id) == key);
    FUZZ_CHECK(InsertHintPrefixLength(Cf::kTxn, key) == 2 + txn->store_id.size() + txn->terminal_id.size());
  } else {
    FUZZ_CHECK(txn.status().code() == absl::StatusCode::kDataLoss);
  }
  if (auto member = DecodeMemberKey(key); member.ok()) {
    FUZZ_CHECK(MemberKey(*member) == key);
    FUZZ_CHECK(LedgerPrefix(*member) == key);
  } else {
    FUZZ_CHECK(member.status().code() == absl::StatusCode::kDataLoss);
  }
  if (auto ledger = DecodeLedgerKey(key); ledger.ok()) {
    FUZZ_CHECK(LedgerKey(ledger->member_id, ledger->entry_id) == key);
    FUZZ_CHECK(key.substr(0, key.size() - 8) == LedgerPrefix(ledger->member_id));
  } else {
    FUZZ_CHECK(ledger.status().code() == absl::StatusCode::kDataLoss);
  }
  for (int cf = 0; cf < static_cast<int>(Cf::kCount); ++cf) {
    FUZZ_CHECK(InsertHintPrefixLength(static_cast<Cf>(cf), key) <= key.size());
  }
}

}  // namespace
}  // namespace loyalty

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  loyalty::fuzz::QuietProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loyalty;
  if (size < 1) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % kKinds) {
    case kMemberRecord: MemberRecord(bytes); break;
    case kEventRecord: EventRecord(bytes); break;
    case kTxnRecord: TxnRecord(bytes); break;
    case kLegacySale: LegacySale(bytes); break;
    case kProgramRecord: ProgramRecord(bytes); break;
    case kAuditRecord: AuditRecord(bytes); break;
    case kRedemptionCode: RedemptionCode(bytes); break;
    case kLedgerEntry: LedgerEntry(bytes); break;
    case kKeys: Keys(bytes); break;
  }
  return 0;
}
