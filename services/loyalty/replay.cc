#include "services/loyalty/replay.h"

#include <algorithm>
#include <cassert>
#include <unordered_map>

#include "base/str_cat.h"
#include "loyalty/internal/records.pb.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/event_apply.h"
#include "storage/keys.h"

namespace loyalty {
namespace {

std::string RefKey(const v1::TransactionRef& ref) {
  return storage::TxnKey(ref.store_id(), ref.terminal_id(), ref.transaction_id());
}

// Applies one event to the replay's in-memory state.
class Replayer {
 public:
  Replayer(ReplayResult& out, bool what_if) : out_(out), what_if_(what_if) {}

  absl::Status Apply(const internal::EventRecord& e, const engine::ProgramConfig& program) {
    const engine::Seconds now = e.received_at().seconds();
    const ApplyContext ctx{program, now, e.seq(), what_if_};
    engine::MemberState* member = nullptr;
    if (!e.member_id().empty() && e.event_case() != internal::EventRecord::kEnroll) {
      auto it = out_.members.find(e.member_id());
      if (it == out_.members.end()) {
        return absl::DataLossError(loyalty::StrCat("event ", e.seq(), " names member ", e.member_id(),
                                                   " before its enrolment"));
      }
      member = &it->second;
    }
    std::vector<engine::Entry> entries;
    v1::EventOutcome outcome;
    switch (e.event_case()) {
      case internal::EventRecord::kEnroll:
        out_.members[e.member_id()] = engine::EnrolledMember(
            e.enroll().has_enrolled_at() ? e.enroll().enrolled_at().seconds() : now);
        out_.members[e.member_id()].birthday_mmdd = e.enroll().birthday();
        return absl::OkStatus();
      case internal::EventRecord::kSale: {
        internal::SaleState& sale = sales_[RefKey(e.sale().ref())];
        if (member == nullptr) anonymous_sales_[RefKey(e.sale().ref())] = e.sale();  // may be claimed
        std::vector<engine::Reward> values;
        for (const auto& code : e.sale().redemption_codes()) {
          auto it = codes_.find(code);
          if (it == codes_.end()) return absl::DataLossError(loyalty::StrCat("sale uses unknown code ", code));
          values.push_back(it->second);
        }
        std::vector<const engine::Reward*> rewards;
        for (const auto& v : values) rewards.push_back(&v);
        engine::OfferContext offers;
        for (const auto& o : program.offers) {
          if (o.budget_redemptions > 0) offers.budget_used[o.id] = offer_used_[o.id];
        }
        LOYALTY_RETURN_IF_ERROR(ApplySaleEvent(ctx, e.sale(), member, offers, rewards, &sale, &outcome, &entries));
        sale.set_member_id(e.member_id());
        for (const auto& id : outcome.applied_offer_ids()) ++offer_used_[id];
        return absl::OkStatus();
      }
      case internal::EventRecord::kClaim: {
        if (member == nullptr) return absl::DataLossError("claim without a member");
        LOYALTY_ASSIGN_OR_RETURN(internal::SaleState * sale, Sale(e.claim().sale(), e.seq()));
        auto original = anonymous_sales_.find(RefKey(e.claim().sale()));
        if (original == anonymous_sales_.end()) return absl::DataLossError("claim of a sale that was not anonymous");
        return ApplyClaimEvent(ctx, original->second, e.member_id(), *sale, *member, &outcome, &entries);
      }
      case internal::EventRecord::kReturn: {
        LOYALTY_ASSIGN_OR_RETURN(internal::SaleState * sale, Sale(e.return_().original(), e.seq()));
        return ApplyReturnEvent(ctx, e.return_(), *sale, member, &outcome, &entries);
      }
      case internal::EventRecord::kVoid: {
        LOYALTY_ASSIGN_OR_RETURN(internal::SaleState * sale, Sale(e.void_().original(), e.seq()));
        return ApplyVoidEvent(ctx, e.void_(), *sale, member, &outcome, &entries);
      }
      case internal::EventRecord::kRedeem: {
        if (member == nullptr) return absl::DataLossError("redemption without a member");
        if (!engine::Spend(program, *member, e.redeem().points(), now, entries)) {
          if (!what_if_) {
            return absl::DataLossError(loyalty::StrCat("redemption of event ", e.seq(), " does not replay"));
          }
          // Under a proposal the member may have earned less: the points
          // were spent all the same.
          engine::Adjust(program, *member, -e.redeem().points(), storage::LedgerEntryId(e.seq(), 0), now, entries);
        }
        codes_[e.redeem().code()] = codec::FromProto(e.redeem().reward());
        return absl::OkStatus();
      }
      case internal::EventRecord::kAdjust:
        if (member == nullptr) return absl::DataLossError("adjustment without a member");
        engine::Adjust(program, *member, e.adjust().request().points(), storage::LedgerEntryId(e.seq(), 0), now,
                       entries);
        return absl::OkStatus();
      case internal::EventRecord::kExpire:
        if (member == nullptr) return absl::DataLossError("expiry without a member");
        engine::Expire(program, *member, now, entries);
        engine::Refresh(program, *member, now);
        return absl::OkStatus();
      case internal::EventRecord::EVENT_NOT_SET:
        break;
    }
    return absl::DataLossError(loyalty::StrCat("event ", e.seq(), " has no content"));
  }

 private:
  absl::StatusOr<internal::SaleState*> Sale(const v1::TransactionRef& ref, uint64_t seq) {
    auto it = sales_.find(RefKey(ref));
    if (it == sales_.end()) {
      return absl::DataLossError(loyalty::StrCat("event ", seq, " references unknown sale ", RefText(ref)));
    }
    return &it->second;
  }

  ReplayResult& out_;
  const bool what_if_;
  std::unordered_map<std::string, internal::SaleState> sales_;
  std::unordered_map<std::string, v1::Sale> anonymous_sales_;
  std::unordered_map<std::string, engine::Reward> codes_;     // code -> reward
  std::unordered_map<std::string, int64_t> offer_used_;      // offer id -> uses so far
};

}  // namespace

absl::StatusOr<ReplayResult> ReplayEventLog(const storage::Store& store,
                                            const storage::Store::Snapshot* snapshot,
                                            const ProgramFor& program_for, bool what_if) {
  ReplayResult out;
  Replayer replayer(out, what_if);
  auto it = store.NewIterator(storage::Cf::kEvents, snapshot);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    internal::EventRecord e;
    if (!e.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("unparseable event record");
    }
    assert(e.seq() > out.last_seq);
    LOYALTY_ASSIGN_OR_RETURN(ProgramPtr program, program_for(e.program_version()));
    if (absl::Status s = replayer.Apply(e, *program); !s.ok()) {
      return Annotate(s, loyalty::StrCat("replay of event ", e.seq()));
    }
    ++out.events;
    out.last_seq = e.seq();
  }
  if (!it->status().ok()) return storage::FromRocks(it->status(), "replay");
  return out;
}

}  // namespace loyalty
