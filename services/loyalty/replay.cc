#include "services/loyalty/replay.h"

#include <algorithm>
#include <cassert>
#include <unordered_map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

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

// What the replay's containers hold, estimated: the entry, its node and key.
constexpr size_t kNodeBytes = 64;
size_t StringBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

size_t ApproxBytes(const engine::MemberState& m) {
  size_t bytes = sizeof(m) + m.batches.capacity() * sizeof(engine::Batch) +
                 m.credits.capacity() * sizeof(engine::CreditDay) +
                 m.stage_history.capacity() * sizeof(engine::StageChange) +
                 m.categories.capacity() * sizeof(engine::CategorySeen) + StringBytes(m.birthday_mmdd);
  for (const auto& c : m.categories) bytes += StringBytes(c.category);
  for (const auto& [id, uses] : m.offer_uses) bytes += kNodeBytes + StringBytes(id);
  for (const auto& [id, punches] : m.punches) bytes += kNodeBytes + StringBytes(id);
  for (const auto& [id, at] : m.offer_first_used) bytes += kNodeBytes + StringBytes(id);
  return bytes;
}

size_t ApproxBytes(const internal::SaleState& sale) {
  size_t bytes = sizeof(sale) + static_cast<size_t>(sale.lines_size()) * (sizeof(internal::SaleLineState) + 8) +
                 StringBytes(sale.member_id()) + StringBytes(sale.currency());
  for (const auto& code : sale.redemption_codes()) bytes += sizeof(std::string) + StringBytes(code);
  return bytes;
}

uint64_t SaleRefHash(const std::string& key) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: a collision only keeps one more sale
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

bool PeekEventHead(std::string_view bytes, EventHead& head) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return in.ConsumedEntireMessage();
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (field == internal::EventRecord::kSeqFieldNumber && type == WireFormatLite::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(&head.seq)) return false;
      continue;
    }
    if (field == internal::EventRecord::kMemberIdFieldNumber && type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t size = 0;
      if (!in.ReadVarint32(&size) || !in.ReadString(&head.member_id, static_cast<int>(size))) return false;
      continue;
    }
    if (field >= internal::EventRecord::kSaleFieldNumber && field <= internal::EventRecord::kRedeemFieldNumber) {
      head.event_field = field;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
}

namespace {

// Applies one event to the replay's in-memory state.
class Replayer {
 public:
  Replayer(const storage::Store& store, ReplayResult& out, const ReplayOptions& options)
      : store_(store), out_(out), options_(options), partial_(static_cast<bool>(options.include_member)) {}

  size_t state_bytes() const { return bytes_; }

  absl::Status Apply(const internal::EventRecord& e, const engine::ProgramConfig& program) {
    if (partial_ && !Included(e)) return absl::OkStatus();
    const engine::Seconds now = e.received_at().seconds();
    const ApplyContext ctx{program, now, e.seq(), options_.what_if};
    engine::MemberState* member = nullptr;
    if (!e.member_id().empty() && e.event_case() != internal::EventRecord::kEnroll) {
      auto it = out_.members.find(e.member_id());
      if (it == out_.members.end()) {
        return absl::DataLossError(loyalty::StrCat("event ", e.seq(), " names member ", e.member_id(),
                                                   " before its enrolment"));
      }
      member = &it->second;
    }
    // The member's state grows with its history: count the change.
    const size_t member_bytes_before = member == nullptr ? 0 : ApproxBytes(*member);
    absl::Status applied = ApplyTo(e, program, ctx, member);
    if (member != nullptr) bytes_ = bytes_ + ApproxBytes(*member) - member_bytes_before;
    return applied;
  }

 private:
  // Whether a partial replay applies `e`: the event's member is included, or
  // (returns and voids of sales recorded without a member) its sale is held.
  bool Included(const internal::EventRecord& e) const {
    if (!e.member_id().empty()) return options_.include_member(e.member_id());
    switch (e.event_case()) {
      case internal::EventRecord::kReturn:
        return sales_.count(RefKey(e.return_().original())) != 0;
      case internal::EventRecord::kVoid:
        return sales_.count(RefKey(e.void_().original())) != 0;
      default:
        return false;  // an anonymous sale: held only if an included member claims it
    }
  }

  absl::Status ApplyTo(const internal::EventRecord& e, const engine::ProgramConfig& program, const ApplyContext& ctx,
                       engine::MemberState* member) {
    const engine::Seconds now = ctx.now;
    std::vector<engine::Entry> entries;
    v1::EventOutcome outcome;
    switch (e.event_case()) {
      case internal::EventRecord::kEnroll: {
        engine::MemberState& enrolled = out_.members[e.member_id()];
        enrolled = engine::EnrolledMember(e.enroll().has_enrolled_at() ? e.enroll().enrolled_at().seconds() : now);
        enrolled.birthday_mmdd = e.enroll().birthday();
        bytes_ += kNodeBytes + StringBytes(e.member_id()) + ApproxBytes(enrolled);
        return absl::OkStatus();
      }
      case internal::EventRecord::kSale: {
        const std::string key = RefKey(e.sale().ref());
        // Only a sale a later event refers to needs its state kept.
        const bool keep = options_.referenced_sales == nullptr ||
                          options_.referenced_sales->count(SaleRefHash(key)) != 0;
        internal::SaleState unreferenced;
        internal::SaleState& sale = keep ? sales_[key] : unreferenced;
        if (member == nullptr && keep) anonymous_sales_[key] = e.sale();  // may be claimed
        LOYALTY_RETURN_IF_ERROR(ApplySale(ctx, e.sale(), member, &sale, &outcome, &entries));
        sale.set_member_id(e.member_id());
        if (keep) bytes_ += kNodeBytes + StringBytes(key) + ApproxBytes(sale);
        return absl::OkStatus();
      }
      case internal::EventRecord::kClaim: {
        if (member == nullptr) return absl::DataLossError("claim without a member");
        const std::string key = RefKey(e.claim().sale());
        if (partial_ && sales_.count(key) == 0) {
          // Anonymous sales are not held in a partial replay: the claimed one
          // is read back. It was claimable live, so nothing changed it since.
          LOYALTY_RETURN_IF_ERROR(RecoverAnonymousSale(ctx, e.claim().sale(), key));
        }
        LOYALTY_ASSIGN_OR_RETURN(internal::SaleState * sale, Sale(e.claim().sale(), e.seq()));
        auto original = anonymous_sales_.find(key);
        if (original == anonymous_sales_.end()) return absl::DataLossError("claim of a sale that was not anonymous");
        absl::Status claimed = ApplyClaimEvent(ctx, original->second, e.member_id(), *sale, *member, &outcome, &entries);
        if (partial_) anonymous_sales_.erase(original);  // claimed once only
        return claimed;
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
          if (!options_.what_if) {
            return absl::DataLossError(loyalty::StrCat("redemption of event ", e.seq(), " does not replay"));
          }
          // Under a proposal the member may have earned less: the points
          // were spent all the same.
          engine::Adjust(program, *member, -e.redeem().points(), storage::LedgerEntryId(e.seq(), 0), now, entries);
        }
        codes_[e.redeem().code()] = codec::FromProto(e.redeem().reward());
        bytes_ += kNodeBytes + StringBytes(e.redeem().code()) + sizeof(engine::Reward);
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

  absl::Status ApplySale(const ApplyContext& ctx, const v1::Sale& recorded, engine::MemberState* member,
                         internal::SaleState* sale, v1::EventOutcome* outcome, std::vector<engine::Entry>* entries) {
    std::vector<engine::Reward> values;
    for (const auto& code : recorded.redemption_codes()) {
      auto it = codes_.find(code);
      if (it == codes_.end()) {
        // A partial replay holds only its members' codes; a code made by a
        // member of another part can be used on an anonymous sale only,
        // which earns nothing.
        if (partial_) continue;
        return absl::DataLossError(loyalty::StrCat("sale uses unknown code ", code));
      }
      values.push_back(it->second);
    }
    std::vector<const engine::Reward*> rewards;
    for (const auto& v : values) rewards.push_back(&v);
    engine::OfferContext offers;
    for (const auto& o : ctx.program.offers) {
      if (o.budget_redemptions <= 0) continue;
      if (!partial_) {
        offers.budget_used[o.id] = offer_used_[o.id];
        continue;
      }
      auto cut = options_.offer_exhausted_after.find(o.id);
      const bool exhausted = cut != options_.offer_exhausted_after.end() && ctx.seq > cut->second;
      offers.budget_used[o.id] = exhausted ? o.budget_redemptions : 0;
    }
    LOYALTY_RETURN_IF_ERROR(ApplySaleEvent(ctx, recorded, member, offers, rewards, sale, outcome, entries));
    for (const auto& id : outcome->applied_offer_ids()) {
      ++offer_used_[id];
      if (!partial_) continue;
      const engine::OfferTemplate* offer = nullptr;
      for (const auto& o : ctx.program.offers) {
        if (o.id == id) offer = &o;
      }
      if (offer == nullptr || offer->budget_redemptions <= 0) continue;
      // The earliest uses, one past the budget (whether it ran out); a
      // recovered claimed sale comes out of order.
      std::vector<uint64_t>& uses = out_.budgeted_offer_uses[id];
      uses.insert(std::upper_bound(uses.begin(), uses.end(), ctx.seq), ctx.seq);
      if (uses.size() > static_cast<size_t>(offer->budget_redemptions) + 1) {
        uses.pop_back();
      } else {
        bytes_ += sizeof(uint64_t);
      }
    }
    return absl::OkStatus();
  }

  // Rebuilds the state of an anonymous sale from its stored event.
  absl::Status RecoverAnonymousSale(const ApplyContext& ctx, const v1::TransactionRef& ref, const std::string& key) {
    auto recorded = store_.GetProto<internal::IdempotencyRecord>(storage::Cf::kTxn, key);
    LOYALTY_RETURN_IF_ERROR(recorded.status());
    const uint64_t seq = recorded->has_value() ? (*recorded)->event_seq() : 0;
    if (seq == 0) return absl::DataLossError(loyalty::StrCat("claimed sale ", RefText(ref), " is not recorded"));
    auto event = store_.GetProto<internal::EventRecord>(storage::Cf::kEvents, storage::EventKey(seq));
    LOYALTY_RETURN_IF_ERROR(event.status());
    if (!event->has_value() || !(*event)->has_sale()) {
      return absl::DataLossError(loyalty::StrCat("claimed sale ", RefText(ref), " has no event record"));
    }
    const internal::EventRecord& original = **event;
    const ApplyContext at_sale{ctx.program, original.received_at().seconds(), original.seq(), options_.what_if};
    internal::SaleState& sale = sales_[key];
    v1::EventOutcome outcome;
    std::vector<engine::Entry> entries;
    LOYALTY_RETURN_IF_ERROR(ApplySale(at_sale, original.sale(), nullptr, &sale, &outcome, &entries));
    anonymous_sales_[key] = original.sale();
    bytes_ += kNodeBytes + StringBytes(key) + ApproxBytes(sale);
    return absl::OkStatus();
  }

  absl::StatusOr<internal::SaleState*> Sale(const v1::TransactionRef& ref, uint64_t seq) {
    auto it = sales_.find(RefKey(ref));
    if (it == sales_.end()) {
      return absl::DataLossError(loyalty::StrCat("event ", seq, " references unknown sale ", RefText(ref)));
    }
    return &it->second;
  }

  const storage::Store& store_;
  ReplayResult& out_;
  const ReplayOptions& options_;
  const bool partial_;
  size_t bytes_ = 0;  // estimated, of what the containers below and out_.members hold
  std::unordered_map<std::string, internal::SaleState> sales_;
  std::unordered_map<std::string, v1::Sale> anonymous_sales_;
  std::unordered_map<std::string, engine::Reward> codes_;     // code -> reward
  std::unordered_map<std::string, int64_t> offer_used_;      // offer id -> uses so far
};

// Events between memory checks and progress reports.
constexpr uint64_t kCheckEvery = 256;

absl::Status CheckState(const Replayer& replayer, const ReplayOptions& options, uint64_t seq, ReplayResult& out) {
  out.peak_state_bytes = std::max(out.peak_state_bytes, replayer.state_bytes());
  if (options.memory_limit_bytes == 0 || replayer.state_bytes() <= options.memory_limit_bytes) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(loyalty::StrCat("replay: state of ", replayer.state_bytes(), " bytes at event ",
                                                      seq, " is over the limit of ", options.memory_limit_bytes));
}

}  // namespace

absl::StatusOr<ReplayResult> ReplayEventLog(const storage::Store& store,
                                            const storage::Store::Snapshot* snapshot,
                                            const ProgramFor& program_for, const ReplayOptions& options) {
  ReplayResult out;
  Replayer replayer(store, out, options);
  auto it = store.NewCursor(storage::Cf::kEvents, snapshot);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view bytes = it->value();
    uint64_t seq = 0;
    // A partial replay skips the events of other members (most of them)
    // from their first fields, without parsing the events themselves.
    EventHead head;
    if (options.include_member) {
      if (!PeekEventHead(bytes, head)) return absl::DataLossError("unparseable event record");
    }
    const bool skipped = options.include_member &&
                         (head.member_id.empty() ? head.event_field == internal::EventRecord::kSale
                                                 : !options.include_member(head.member_id));
    if (skipped) {
      seq = head.seq;
    } else {
      internal::EventRecord e;
      if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::DataLossError("unparseable event record");
      }
      seq = e.seq();
      LOYALTY_ASSIGN_OR_RETURN(ProgramPtr program, program_for(e.program_version()));
      if (absl::Status s = replayer.Apply(e, *program); !s.ok()) {
        return Annotate(s, loyalty::StrCat("replay of event ", e.seq()));
      }
    }
    assert(seq > out.last_seq);
    ++out.events;
    out.last_seq = seq;
    if (out.events % kCheckEvery == 0) {
      if (options.progress && !options.progress(seq, replayer.state_bytes())) {
        return absl::CancelledError("replay: cancelled");
      }
      LOYALTY_RETURN_IF_ERROR(CheckState(replayer, options, seq, out));
    }
  }
  if (absl::Status read = it->status("replay"); !read.ok()) return read;
  if (options.progress) options.progress(out.last_seq, replayer.state_bytes());
  LOYALTY_RETURN_IF_ERROR(CheckState(replayer, options, out.last_seq, out));
  return out;
}

absl::StatusOr<SaleRefHashes> ReferencedSales(const storage::Store& store, const storage::Store::Snapshot* snapshot,
                                              const std::function<bool(uint64_t seq)>& progress) {
  SaleRefHashes referenced;
  auto it = store.NewCursor(storage::Cf::kEvents, snapshot);
  uint64_t events = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view bytes = it->value();
    EventHead head;
    if (!PeekEventHead(bytes, head)) return absl::DataLossError("unparseable event record");
    const int kind = head.event_field;
    if (kind == internal::EventRecord::kReturn || kind == internal::EventRecord::kVoid ||
        kind == internal::EventRecord::kClaim) {
      internal::EventRecord e;
      if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::DataLossError("unparseable event record");
      }
      const v1::TransactionRef& ref = kind == internal::EventRecord::kReturn ? e.return_().original()
                                      : kind == internal::EventRecord::kVoid ? e.void_().original()
                                                                             : e.claim().sale();
      referenced.insert(SaleRefHash(RefKey(ref)));
    }
    if (++events % kCheckEvery == 0 && progress && !progress(head.seq)) {
      return absl::CancelledError("replay: cancelled");
    }
  }
  if (absl::Status read = it->status("scan for referenced sales"); !read.ok()) return read;
  return referenced;
}

}  // namespace loyalty
