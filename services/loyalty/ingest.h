// services/loyalty/ingest.h: applies one terminal event to storage, exactly once.
//
// For each event, in one atomic WriteSet: the event log record, the
// idempotency record (for a sale, with the sale's state in it), the member's
// ledger entries and the member's record. The idempotency decision:
//   no record for (store, terminal, transaction)  -> apply, record the answer
//   record with the same content fingerprint     -> return the first answer
//   record with another fingerprint              -> ALREADY_EXISTS
// Durability: with Durability::kSynced an Apply* returns once its commit (or,
// for a replayed answer, the first commit) is durable. With kBuffered it
// returns at once and the caller must wait for Store::WhenDurable before
// answering (the live and backlog paths do that, so no thread waits for an
// fsync). Members are read through the member cache and, after each commit,
// put back into it by the lane that changed them.
//
// Threading: an event's Apply* must run on the lane of its ordering key (see
// OrderingKey*), so one member's events never interleave. Inputs are
// validated (services/pos/validation.h) before they get here. Nothing here
// knows about gRPC.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/member.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "services/common/clock.h"
#include "services/common/key_locks.h"
#include "services/loyalty/counters.h"
#include "services/loyalty/ledger_writer.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/member_updates.h"
#include "services/loyalty/program_store.h"
#include "storage/store.h"

namespace loyalty {

struct Applied {
  v1::EventOutcome outcome;
  bool replayed = false;  // true: an earlier identical request was answered so
};

class Ingest {
 public:
  // `updates`, if given, hears about every member an event changed.
  // `receipt_secret` keys the receipt codes of anonymous sales (see
  // LoadReceiptSecret); empty: a random one for this process (tests).
  Ingest(storage::Store& store, Members& members, const ProgramStore& programs, Counters& counters,
         const Clock& clock, MemberUpdates* updates = nullptr, std::string receipt_secret = "");

  // The key of receipt codes, kept in CF meta; made at the first start.
  static absl::StatusOr<std::string> LoadReceiptSecret(storage::Store& store);
  // The code printed on an anonymous sale's receipt: 12 characters of
  // base32 from an HMAC-SHA256 of its reference.
  std::string ReceiptCode(const v1::TransactionRef& sale) const;

  // `member_id` is the resolved member, empty for an anonymous sale.
  absl::StatusOr<Applied> ApplySale(const v1::Sale& sale, const std::string& member_id,
                                    storage::Durability durability);
  // `routed_key` is the lane the event was routed to (empty: not checked). If
  // the sale was claimed by a member since, the event belongs on the
  // member's lane now: ABORTED, and the caller retries.
  absl::StatusOr<Applied> ApplyReturn(const v1::Return& ret, storage::Durability durability,
                                      const std::string& routed_key = "");
  absl::StatusOr<Applied> ApplyVoid(const v1::Void& v, storage::Durability durability,
                                    const std::string& routed_key = "");
  // Spends points on a reward and issues a one-time code; runs on the
  // member's lane. Idempotent by (member, request_id).
  absl::StatusOr<v1::RedeemResponse> ApplyRedeem(const v1::RedeemRequest& request, storage::Durability durability);

  // Claims an anonymous sale for `member_id`; runs on the member's lane.
  // A retry by the same member returns the same points (replayed).
  absl::StatusOr<Applied> ApplyClaim(const v1::ClaimReceiptRequest& claim, storage::Durability durability);

  // The member's codes `codes`; FAILED_PRECONDITION naming the code
  // (`field`[i]) if one is unknown, used, expired or another member's.
  absl::StatusOr<std::vector<internal::RedemptionCode>> ReadCodes(
      const google::protobuf::RepeatedPtrField<std::string>& codes, std::string_view field,
      const std::string& member_id, engine::Seconds now) const;

  // The lane key of a sale: its member, or for an anonymous sale its own key.
  static std::string OrderingKeyOfSale(const v1::TransactionRef& ref, const std::string& member_id);
  // The lane key of an event that references the recorded sale `original`.
  // FAILED_PRECONDITION naming `field` if that sale is not recorded.
  absl::StatusOr<std::string> OrderingKeyOfRecordedSale(const v1::TransactionRef& original,
                                                        std::string_view field) const;

 private:
  // The first answer if `txn_key` was recorded with the same fingerprint,
  // ALREADY_EXISTS if with another, nullopt if not recorded.
  absl::StatusOr<std::optional<Applied>> FindReplay(const std::string& txn_key,
                                                    const std::string& fingerprint,
                                                    const v1::TransactionRef& ref,
                                                    storage::Durability durability);
  // A recorded sale: its idempotency record, with the sale's state in
  // `record.sale()`. FAILED_PRECONDITION naming `field` if not recorded.
  struct RecordedSale {
    internal::IdempotencyRecord record;
    bool legacy = false;  // the state came from CF sales (written before it moved)
  };
  absl::StatusOr<RecordedSale> ReadSale(const v1::TransactionRef& original, std::string_view field) const;
  // Puts the sale's changed state (`sale.record.sale()`) into `writes`.
  static void PutSale(const v1::TransactionRef& original, const RecordedSale& sale, storage::WriteSet& writes);
  // Applies a return or void (`apply`) to the recorded sale `original`.
  template <class Event, class ApplyFn>
  absl::StatusOr<Applied> ApplyToRecordedSale(const Event& event, const char* tag,
                                              const char* field, ApplyFn apply,
                                              storage::Durability durability,
                                              const std::string& routed_key);
  // Adds the member's changes and the event and idempotency records to
  // `writes`, and commits.
  // `member` (null: anonymous) holds the engine's changes; on success it
  // becomes the member's cached state. `sale` (a sale's new state, null for
  // other events) goes into the idempotency record.
  absl::StatusOr<Applied> Commit(internal::EventRecord event, const std::string& txn_key,
                                 const std::string& fingerprint, v1::EventOutcome outcome, Member* member,
                                 const std::vector<engine::Entry>& entries, const LedgerCause& cause,
                                 internal::SaleState* sale, storage::WriteSet& writes,
                                 storage::Durability durability);
  // `member` committed with `writes`: commits, then updates the cache and
  // tells watchers.


  storage::Store& store_;
  Members& members_;
  const ProgramStore& programs_;
  Counters& counters_;
  const Clock& clock_;
  MemberUpdates* updates_;
  LedgerWriter ledger_{store_, members_, updates_};
  const std::string receipt_secret_;
  KeyLocks txn_locks_;
  // A sale's state is changed by returns and voids (on the sale's lane) and by
  // a claim (on the member's lane): this lock keeps them apart. Always taken
  // after the transaction lock.
  KeyLocks sale_locks_;
};

}  // namespace loyalty
