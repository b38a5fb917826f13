#include "services/loyalty/member_operations.h"

#include <charconv>

#include "base/str_cat.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/member_store.h"
#include "services/pos/validation.h"
#include "storage/keys.h"

namespace loyalty {

absl::StatusOr<v1::MemberView> MemberOperations::GetMember(const auth::Principal& who,
                                                           const v1::GetMemberRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(pos::ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  return CurrentView(request.member_id());
}

absl::StatusOr<v1::MemberView> MemberOperations::CurrentView(const std::string& member_id) const {
  LOYALTY_ASSIGN_OR_RETURN(internal::MemberRecord member, ReadMember(store_, member_id));
  return ViewOf(member, *programs_.Current(), clock_.NowUnixSeconds());
}

v1::MemberView ViewOf(const internal::MemberRecord& member, const engine::ProgramConfig& program,
                      engine::Seconds now) {
  engine::MemberState state = codec::FromProto(member.engine());
  engine::Refresh(program, state, now);
  const engine::Balance balance = engine::BalanceAt(state, now);
  v1::MemberView view;
  view.set_member_id(member.member_id());
  view.set_display_name(member.display_name());
  view.mutable_balance()->set_available_points(balance.available);
  view.mutable_balance()->set_pending_points(balance.pending);
  *view.mutable_enrolled_at() = member.enrolled_at();
  view.set_last_event_seq(member.last_event_seq());

  const engine::TierProgress tier = engine::TierProgressAt(program, state, now);
  auto* t = view.mutable_tier();
  t->set_current_tier(tier.current);
  t->set_next_tier(tier.keeping ? tier.current : tier.next);
  t->set_spend_needed_minor(tier.spend_needed_minor);
  t->set_visits_needed(tier.visits_needed);
  if (tier.by != 0) t->mutable_by()->set_seconds(tier.by);
  t->set_message(tier.message);

  const engine::StageProgress stage = engine::StageProgressAt(program, state, now);
  auto* st = view.mutable_stage();
  st->set_current_stage(stage.current);
  st->set_next_stage(stage.next);
  st->set_next_step(stage.next_step);
  return view;
}

absl::StatusOr<v1::ListHistoryResponse> MemberOperations::ListHistory(
    const auth::Principal& who, const v1::ListHistoryRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(pos::ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  if (request.page_size() > kMaxHistoryPageSize) {
    return pos::FieldError("page_size", loyalty::StrCat("must be at most ", kMaxHistoryPageSize));
  }
  const uint32_t page_size = request.page_size() == 0 ? kDefaultHistoryPageSize : request.page_size();
  uint64_t below = UINT64_MAX;
  if (!request.page_token().empty()) {
    const std::string& t = request.page_token();
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), below);
    if (ec != std::errc() || end != t.data() + t.size() || below == 0) {
      return pos::FieldError("page_token", "is not a token from an earlier page");
    }
  }
  // Make sure the member exists, so an unknown member is NOT_FOUND, not empty.
  LOYALTY_RETURN_IF_ERROR(ReadMember(store_, request.member_id()).status());

  v1::ListHistoryResponse out;
  const std::string prefix = storage::LedgerPrefix(request.member_id());
  auto it = store_.NewIterator(storage::Cf::kLedger);
  // Newest first: start just below the token and walk backwards.
  for (it->SeekForPrev(storage::LedgerKey(request.member_id(), below - 1));
       it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    if (static_cast<uint32_t>(out.entries_size()) == page_size) {
      out.set_next_page_token(loyalty::StrCat(out.entries(out.entries_size() - 1).entry_id()));
      break;
    }
    if (!out.add_entries()->ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("unparseable ledger entry");
    }
  }
  if (!it->status().ok()) return storage::FromRocks(it->status(), "list history");
  return out;
}

}  // namespace loyalty
