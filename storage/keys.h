// storage/keys.h: the one place that encodes and decodes RocksDB keys.
//
// Every key in every column family is built here. Keys sort so that the scans
// we need are prefix scans: a member's ledger is contiguous and ordered by
// entry id; the event log is ordered by sequence number.
//
// Grammar (all integers big-endian so that byte order is numeric order):
//
//   str8(s)         := len: uint8 (1..255)  bytes[len]
//   fixed64(n)      := 8 bytes, big-endian
//
//   CF "events"      event_key      := fixed64(seq)
//   CF "txn"         txn_key        := str8(store_id) str8(terminal_id) str8(transaction_id)
//                                     (a sale's record also holds the sale's state)
//                    member_request := txn_key("#member", member_id, request_id)  a redemption
//                    admin_request  := txn_key("#admin", kind, request_id)        e.g. "adjust"
//                                     ('#' is no id character: no terminal can use these)
//   CF "sales"       txn_key        the sale's state, for sales recorded before
//                                     it moved into the txn record (read, then moved)
//   CF "members"     member_key     := str8(member_id)
//   CF "ledger"      ledger_key     := str8(member_id) fixed64(entry_id)
//   CF "identifiers" identifier_key := kind: uint8 ('c' card | 'p' phone) str8(value)
//   CF "meta"        program_key    := "program/" fixed64(version)   every published program
//                    "program/current"                               the newest one
//                    "secret/receipt-codes"                          32 random bytes: the key of
//                                                                    receipt codes (claims)
//                    "credential/<id>", "credential-audit/" fixed64  run-time credentials
//                    "member-pin/<member_id>"                        a member's till PIN, hashed
//   CF "audit"       audit_key      := fixed64(version)              who published it, when
//   CF "codes"       code_key       := ascii code                     one-time reward codes
//   CF "counters"    counter_key    := ascii kind "/" id, e.g. "offer-used/coffee10"
//                                     (kind: offer-used, offer-shown, offer-spend, reward-issued);
//                    value fixed64 little-endian, updated only by Merge (adds)
//
// Values are protobuf messages from proto/loyalty/internal/records.proto.
//
// Thread-safety: all functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loyalty::storage {

// Column families, in the order they are opened. kDefault is RocksDB's own.
enum class Cf : int {
  kDefault = 0,
  kEvents,
  kTxn,
  kSales,
  kMembers,
  kLedger,
  kIdentifiers,
  kMeta,
  kAudit,
  kCodes,
  kCounters,
  kCount,
};
const char* CfName(Cf cf);

// The longest string str8 can hold. Validation limits identifiers to 64.
inline constexpr size_t kMaxKeyPartBytes = 255;

struct TxnKeyParts {
  std::string store_id;
  std::string terminal_id;
  std::string transaction_id;
};

struct LedgerKeyParts {
  std::string member_id;
  uint64_t entry_id = 0;
};

enum class IdentifierKind : char { kCard = 'c', kPhone = 'p' };

std::string EventKey(uint64_t seq);
absl::StatusOr<uint64_t> DecodeEventKey(std::string_view key);

std::string TxnKey(std::string_view store_id, std::string_view terminal_id,
                   std::string_view transaction_id);
absl::StatusOr<TxnKeyParts> DecodeTxnKey(std::string_view key);

std::string MemberKey(std::string_view member_id);
absl::StatusOr<std::string> DecodeMemberKey(std::string_view key);

std::string LedgerKey(std::string_view member_id, uint64_t entry_id);
// The prefix shared by all ledger keys of one member.
std::string LedgerPrefix(std::string_view member_id);
absl::StatusOr<LedgerKeyParts> DecodeLedgerKey(std::string_view key);

std::string IdentifierKey(IdentifierKind kind, std::string_view value);

// The idempotency keys of requests that come from no terminal (CF txn).
inline constexpr std::string_view kMemberRequestStore = "#member";
inline constexpr std::string_view kAdminRequestStore = "#admin";
std::string MemberRequestKey(std::string_view member_id, std::string_view request_id);
std::string AdminRequestKey(std::string_view kind, std::string_view request_id);

// A one-time reward code's key (CF codes): the code itself.
std::string CodeKey(std::string_view code);

// Counters (CF counters), by kind.
enum class CounterKind { kOfferUsed, kOfferShown, kOfferSpend, kRewardIssued };
std::string CounterKey(CounterKind kind, std::string_view id);

inline constexpr std::string_view kCurrentProgramKey = "program/current";
inline constexpr std::string_view kReceiptCodeSecretKey = "secret/receipt-codes";
std::string ProgramVersionKey(uint64_t version);
// Run-time credentials (services/auth/credential_store.h): "credential/<id>"
// each, "credential-audit/<fixed64 seq>" each change.
inline constexpr std::string_view kCredentialPrefix = "credential/";
inline constexpr std::string_view kCredentialAuditPrefix = "credential-audit/";
std::string CredentialKey(std::string_view credential_id);
std::string CredentialAuditKey(uint64_t seq);
// A member's till PIN (services/loyalty/member_pins.h): "member-pin/<member_id>".
inline constexpr std::string_view kMemberPinPrefix = "member-pin/";
std::string MemberPinKey(std::string_view member_id);
std::string AuditKey(uint64_t version);
absl::StatusOr<uint64_t> DecodeAuditKey(std::string_view key);

// The store and terminal of a transaction key, for RocksDB's
// memtable insert hints (storage/store.cc): a terminal's next transaction
// usually sorts right after its last one, so the memtable keeps an insert
// position per terminal instead of searching its whole skiplist. 0: no hint
// (other families, malformed keys; CF sales is only read and emptied now). Members and their ledgers get none: a
// hint costs about 250 bytes of memtable per prefix, and with a million
// members most prefixes are new in every memtable.
size_t InsertHintPrefixLength(Cf cf, std::string_view key);

// Ledger entry ids are derived from the event that wrote them, so they are
// unique and increasing without a second counter: seq * 16 + index.
inline constexpr uint64_t kMaxLedgerEntriesPerEvent = 16;
uint64_t LedgerEntryId(uint64_t event_seq, uint32_t index_in_event);

}  // namespace loyalty::storage
