#include "storage/keys.h"

#include <cassert>

#include "absl/status/status.h"
#include "base/str_cat.h"

namespace loyalty::storage {
namespace {

void AppendStr8(std::string* out, std::string_view s) {
  // Callers validate lengths first; an oversize part is a programming error.
  assert(!s.empty() && s.size() <= kMaxKeyPartBytes);
  out->push_back(static_cast<char>(static_cast<uint8_t>(s.size())));
  out->append(s);
}

void AppendFixed64(std::string* out, uint64_t n) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((n >> shift) & 0xff));
  }
}

// Reads str8 from the front of *in and advances it.
absl::StatusOr<std::string> ReadStr8(std::string_view* in, const char* what) {
  if (in->empty()) return absl::DataLossError(loyalty::StrCat("bad key: missing ", what));
  size_t len = static_cast<uint8_t>((*in)[0]);
  if (len == 0) return absl::DataLossError(loyalty::StrCat("bad key: empty ", what));
  if (in->size() < 1 + len) {
    return absl::DataLossError(loyalty::StrCat("bad key: truncated ", what));
  }
  std::string out(in->substr(1, len));
  in->remove_prefix(1 + len);
  return out;
}

absl::StatusOr<uint64_t> ReadFixed64(std::string_view* in, const char* what) {
  if (in->size() < 8) return absl::DataLossError(loyalty::StrCat("bad key: truncated ", what));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n = (n << 8) | static_cast<uint8_t>((*in)[i]);
  in->remove_prefix(8);
  return n;
}

absl::Status ExpectEnd(std::string_view rest, const char* what) {
  if (!rest.empty()) {
    return absl::DataLossError(loyalty::StrCat("bad ", what, " key: ", rest.size(), " trailing bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* CfName(Cf cf) {
  switch (cf) {
    case Cf::kDefault: return "default";
    case Cf::kEvents: return "events";
    case Cf::kTxn: return "txn";
    case Cf::kSales: return "sales";
    case Cf::kMembers: return "members";
    case Cf::kLedger: return "ledger";
    case Cf::kIdentifiers: return "identifiers";
    case Cf::kMeta: return "meta";
    case Cf::kAudit: return "audit";
    case Cf::kCodes: return "codes";
    case Cf::kCounters: return "counters";
    case Cf::kCount: break;
  }
  assert(false && "unknown column family");
  return "?";
}

std::string EventKey(uint64_t seq) {
  std::string out;
  AppendFixed64(&out, seq);
  return out;
}

absl::StatusOr<uint64_t> DecodeEventKey(std::string_view key) {
  auto seq = ReadFixed64(&key, "event seq");
  if (!seq.ok()) return seq.status();
  if (auto s = ExpectEnd(key, "event"); !s.ok()) return s;
  return *seq;
}

std::string TxnKey(std::string_view store_id, std::string_view terminal_id,
                   std::string_view transaction_id) {
  std::string out;
  out.reserve(3 + store_id.size() + terminal_id.size() + transaction_id.size());
  AppendStr8(&out, store_id);
  AppendStr8(&out, terminal_id);
  AppendStr8(&out, transaction_id);
  return out;
}

absl::StatusOr<TxnKeyParts> DecodeTxnKey(std::string_view key) {
  TxnKeyParts parts;
  auto store = ReadStr8(&key, "store_id");
  if (!store.ok()) return store.status();
  auto terminal = ReadStr8(&key, "terminal_id");
  if (!terminal.ok()) return terminal.status();
  auto txn = ReadStr8(&key, "transaction_id");
  if (!txn.ok()) return txn.status();
  if (auto s = ExpectEnd(key, "txn"); !s.ok()) return s;
  parts.store_id = std::move(*store);
  parts.terminal_id = std::move(*terminal);
  parts.transaction_id = std::move(*txn);
  return parts;
}

std::string MemberKey(std::string_view member_id) {
  std::string out;
  AppendStr8(&out, member_id);
  return out;
}

absl::StatusOr<std::string> DecodeMemberKey(std::string_view key) {
  auto id = ReadStr8(&key, "member_id");
  if (!id.ok()) return id.status();
  if (auto s = ExpectEnd(key, "member"); !s.ok()) return s;
  return *id;
}

size_t InsertHintPrefixLength(Cf cf, std::string_view key) {
  // The length of the str8 field starting at `at`, 0 if it runs past the key.
  auto str8_end = [&](size_t at) -> size_t {
    if (at >= key.size()) return 0;
    const size_t end = at + 1 + static_cast<uint8_t>(key[at]);
    return end <= key.size() ? end : 0;
  };
  switch (cf) {
    case Cf::kTxn: {
      const size_t store_end = str8_end(0);
      return store_end == 0 ? 0 : str8_end(store_end);  // store and terminal
    }
    default:
      return 0;
  }
}

std::string LedgerPrefix(std::string_view member_id) { return MemberKey(member_id); }

std::string LedgerKey(std::string_view member_id, uint64_t entry_id) {
  std::string out = LedgerPrefix(member_id);
  AppendFixed64(&out, entry_id);
  return out;
}

absl::StatusOr<LedgerKeyParts> DecodeLedgerKey(std::string_view key) {
  LedgerKeyParts parts;
  auto id = ReadStr8(&key, "member_id");
  if (!id.ok()) return id.status();
  auto entry = ReadFixed64(&key, "entry_id");
  if (!entry.ok()) return entry.status();
  if (auto s = ExpectEnd(key, "ledger"); !s.ok()) return s;
  parts.member_id = std::move(*id);
  parts.entry_id = *entry;
  return parts;
}

std::string IdentifierKey(IdentifierKind kind, std::string_view value) {
  std::string out(1, static_cast<char>(kind));
  AppendStr8(&out, value);
  return out;
}

std::string ProgramVersionKey(uint64_t version) {
  std::string out = "program/";
  AppendFixed64(&out, version);
  return out;
}

std::string CredentialKey(std::string_view credential_id) { return loyalty::StrCat(kCredentialPrefix, credential_id); }

std::string MemberRequestKey(std::string_view member_id, std::string_view request_id) {
  return TxnKey(kMemberRequestStore, member_id, request_id);
}

std::string AdminRequestKey(std::string_view kind, std::string_view request_id) {
  return TxnKey(kAdminRequestStore, kind, request_id);
}

std::string CodeKey(std::string_view code) { return std::string(code); }

std::string CounterKey(CounterKind kind, std::string_view id) {
  std::string_view prefix;
  switch (kind) {
    case CounterKind::kOfferUsed: prefix = "offer-used/"; break;
    case CounterKind::kOfferShown: prefix = "offer-shown/"; break;
    case CounterKind::kOfferSpend: prefix = "offer-spend/"; break;
    case CounterKind::kRewardIssued: prefix = "reward-issued/"; break;
  }
  return loyalty::StrCat(prefix, id);
}

std::string MemberPinKey(std::string_view member_id) { return loyalty::StrCat(kMemberPinPrefix, member_id); }

std::string CredentialAuditKey(uint64_t seq) {
  std::string out(kCredentialAuditPrefix);
  AppendFixed64(&out, seq);
  return out;
}

std::string AuditKey(uint64_t version) { return EventKey(version); }
absl::StatusOr<uint64_t> DecodeAuditKey(std::string_view key) { return DecodeEventKey(key); }

uint64_t LedgerEntryId(uint64_t event_seq, uint32_t index_in_event) {
  assert(index_in_event < kMaxLedgerEntriesPerEvent);
  assert(event_seq < (UINT64_MAX / kMaxLedgerEntriesPerEvent));
  return event_seq * kMaxLedgerEntriesPerEvent + index_in_event;
}

}  // namespace loyalty::storage
