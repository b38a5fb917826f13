#include "services/loyalty/member_operations.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <charconv>

#include "services/loyalty/engine/offers.h"

#include "base/log.h"
#include "base/metrics.h"
#include "base/str_cat.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/durable_answer.h"
#include "services/loyalty/member_store.h"
#include "services/common/field_checks.h"
#include "storage/keys.h"

namespace loyalty {

absl::StatusOr<v1::MemberView> MemberOperations::GetMember(const auth::Principal& who,
                                                           const v1::GetMemberRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  return CurrentView(request.member_id());
}

absl::StatusOr<v1::MemberView> MemberOperations::CurrentView(const std::string& member_id) const {
  LOYALTY_ASSIGN_OR_RETURN(MemberPtr member, members_.Read(member_id));
  return ViewOf(*member, *programs_.Current(), clock_.NowUnixSeconds());
}

v1::MemberView ViewOf(const Member& member, const engine::ProgramConfig& program, engine::Seconds now) {
  engine::MemberState state = member.state;
  engine::Refresh(program, state, now);
  const engine::Balance balance = engine::BalanceAt(state, now);
  v1::MemberView view;
  view.set_member_id(member.record.member_id());
  view.set_display_name(member.record.display_name());
  view.mutable_balance()->set_available_points(balance.available);
  view.mutable_balance()->set_pending_points(balance.pending);
  *view.mutable_enrolled_at() = member.record.enrolled_at();
  view.set_last_event_seq(member.record.last_event_seq());

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

absl::StatusOr<v1::ListOffersResponse> MemberOperations::ListOffers(const auth::Principal& who,
                                                                   const v1::ListOffersRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  LOYALTY_ASSIGN_OR_RETURN(MemberPtr member, members_.Read(request.member_id()));
  const ProgramPtr program = programs_.Current();
  const engine::Seconds now = clock_.NowUnixSeconds();
  engine::MemberState state = member->state;
  engine::Refresh(*program, state, now);
  v1::ListOffersResponse out;
  for (const auto& po : engine::PersonalOffers(*program, state, OfferContextOf(*program, counters_), now)) {
    auto* o = out.add_offers();
    o->set_offer_id(po.offer->id);
    o->set_title(po.offer->title);
    o->set_reason(po.reason);
    if (po.offer->ends_at != 0) o->mutable_valid_until()->set_seconds(po.offer->ends_at);
    // A figure, not a balance: persisted with the next flush of figures,
    // not with a write of its own per listing.
    counters_.AddFigure(Counters::OfferShown(po.offer->id), 1);
  }
  return out;
}

absl::StatusOr<v1::ListRewardsResponse> MemberOperations::ListRewards(const auth::Principal& who,
                                                                     const v1::ListRewardsRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  LOYALTY_ASSIGN_OR_RETURN(MemberPtr member, members_.Read(request.member_id()));
  const ProgramPtr program = programs_.Current();
  const int64_t available = BalanceOf(*member, clock_.NowUnixSeconds()).available_points();
  v1::ListRewardsResponse out;
  out.set_available_points(available);
  for (const auto& r : program->rewards) {
    auto* v = out.add_rewards();
    v->set_reward_id(r.id);
    v->set_title(r.title);
    v->set_cost_points(r.cost_points);
    v->set_affordable(available >= r.cost_points);
    v->set_points_missing(std::max<int64_t>(0, r.cost_points - available));
    v->set_in_stock(r.stock == 0 || counters_.Get(Counters::RewardIssued(r.id)) < r.stock);
  }
  return out;
}

absl::StatusOr<v1::ListHistoryResponse> MemberOperations::ListHistory(
    const auth::Principal& who, const v1::ListHistoryRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  if (request.page_size() > kMaxHistoryPageSize) {
    return FieldError("page_size", loyalty::StrCat("must be at most ", kMaxHistoryPageSize));
  }
  const uint32_t page_size = request.page_size() == 0 ? kDefaultHistoryPageSize : request.page_size();
  uint64_t below = UINT64_MAX;
  if (!request.page_token().empty()) {
    const std::string& t = request.page_token();
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), below);
    if (ec != std::errc() || end != t.data() + t.size() || below == 0) {
      return FieldError("page_token", "is not a token from an earlier page");
    }
  }
  // Make sure the member exists, so an unknown member is NOT_FOUND, not empty.
  LOYALTY_RETURN_IF_ERROR(members_.Read(request.member_id()).status());

  v1::ListHistoryResponse out;
  const std::string prefix = storage::LedgerPrefix(request.member_id());
  auto it = store_.NewCursor(storage::Cf::kLedger);
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
  if (absl::Status read = it->status("list history"); !read.ok()) return read;
  return out;
}

void MemberOperations::Redeem(const auth::Principal& who, const v1::RedeemRequest& request,
                           std::function<void(absl::StatusOr<v1::RedeemResponse>)> done) {
  absl::Status checked = [&]() -> absl::Status {
    LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
    // The member in the app, or a terminal the member stands at with the
    // till code the app shows (the reward's code is then used in the sale
    // being rung up), or an admin.
    if (who.role != auth::Role::kTerminal) {
      LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
    }
    LOYALTY_RETURN_IF_ERROR(ValidateId("reward_id", request.reward_id()));
    LOYALTY_RETURN_IF_ERROR(ValidateId("request_id", request.request_id()));
    // Admitted before the proof is checked: an overloaded server spends no
    // PIN hashing and counts no attempt for a call it refuses.
    LOYALTY_RETURN_IF_ERROR(AdmitWrite(lanes_, store_));
    if (who.role == auth::Role::kTerminal) return CheckTillProof(who, request);
    return absl::OkStatus();
  }();
  if (!checked.ok()) {
    done(checked);
    return;
  }
  // The PIN proved the member; it is not kept with the redemption (the event
  // log stores the request).
  v1::RedeemRequest redemption = request;
  redemption.clear_pin();
  lanes_.Run(request.member_id(), [this, redemption = std::move(redemption), done = std::move(done)]() mutable {
    AnswerWhenDurable(store_, ingest_.ApplyRedeem(redemption, storage::Durability::kBuffered), std::move(done));
  });
}

absl::StatusOr<v1::SetPinResponse> MemberOperations::SetPin(const auth::Principal& who,
                                                            const v1::SetPinRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  if (who.role != auth::Role::kMember && !request.pin().empty()) {
    return absl::PermissionDeniedError(
        "pin: only the member sets a PIN (in the app); an admin may clear one with an empty pin");
  }
  LOYALTY_RETURN_IF_ERROR(members_.Read(request.member_id()).status());
  LOYALTY_RETURN_IF_ERROR(pins_.Set(request.member_id(), request.pin()));
  LogInfo(loyalty::StrCat("till PIN: ", request.pin().empty() ? "cleared" : "set", " for member ", request.member_id(),
                          " by ", who.name));
  v1::SetPinResponse out;
  out.set_pin_set(!request.pin().empty());
  *out.mutable_updated_at() = clock_.NowTimestamp();
  return out;
}

namespace {

constexpr int64_t kTillCodeSeconds = 120;
constexpr size_t kMaxTillCodes = 100'000;

}  // namespace

absl::StatusOr<v1::TillCode> MemberOperations::IssueTillCode(const auth::Principal& who,
                                                            const v1::IssueTillCodeRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  LOYALTY_RETURN_IF_ERROR(members_.Read(request.member_id()).status());
  uint32_t random = 0;
  const int ok = RAND_bytes(reinterpret_cast<unsigned char*>(&random), sizeof(random));
  assert(ok == 1);
  (void)ok;
  char digits[8];
  std::snprintf(digits, sizeof(digits), "%06u", random % 1'000'000);
  const int64_t now = clock_.NowUnixSeconds();
  v1::TillCode out;
  out.set_code(digits);
  out.mutable_expires_at()->set_seconds(now + kTillCodeSeconds);
  std::lock_guard<std::mutex> lock(till_mu_);
  if (till_codes_.size() >= kMaxTillCodes) {
    std::erase_if(till_codes_, [now](const auto& entry) { return entry.second.expires_at <= now; });
    if (till_codes_.size() >= kMaxTillCodes) {
      return absl::ResourceExhaustedError("till codes: too many members hold one now; try again in a minute");
    }
  }
  till_codes_[request.member_id()] = TillCodeEntry{digits, now + kTillCodeSeconds, ""};
  return out;
}

absl::Status MemberOperations::CheckTillProof(const auth::Principal& terminal, const v1::RedeemRequest& request) {
  using TillProof = engine::ProgramConfig::TillProof;
  static metrics::CounterFamily& proofs = metrics::DefaultRegistry().AddCounter(
      "loyaltyd_till_proofs_total",
      "Proofs of the member given by terminals redeeming, by proof (app_code, pin) and result (accepted, refused, "
      "limited, error)",
      {"proof", "result"});
  const TillProof wanted = programs_.Current()->till_proof;
  const bool pin_given = !request.pin().empty();
  if (pin_given && !request.till_code().empty()) return FieldError("pin", "give either till_code or pin, not both");
  if (!pin_given && request.till_code().empty()) {
    switch (wanted) {
      case TillProof::kAppCode:
        return FieldError("till_code", "is required when a terminal redeems: the member's app shows one");
      case TillProof::kPin:
        return FieldError("pin", "is required when a terminal redeems: the PIN the member set");
      case TillProof::kAppCodeOrPin:
        return FieldError("till_code", "or pin is required when a terminal redeems: the code the member's app shows, "
                                       "or the PIN the member set");
    }
  }
  if (pin_given && wanted == TillProof::kAppCode) {
    return FieldError("pin", "is not taken by this program: give the till code the member's app shows (till_code)");
  }
  if (!pin_given && wanted == TillProof::kPin) {
    return FieldError("till_code", "is not taken by this program: give the PIN the member set (pin)");
  }
  const absl::Status checked =
      pin_given ? pins_.Verify(request.member_id(), request.pin(), terminal.name) : CheckTillCode(terminal, request);
  const char* result = checked.ok()                          ? "accepted"
                       : absl::IsResourceExhausted(checked)  ? "limited"
                       : absl::IsUnavailable(checked) || absl::IsInternal(checked) || absl::IsDataLoss(checked)
                           ? "error"
                           : "refused";
  proofs.WithLabels({pin_given ? "pin" : "app_code", result}).Inc();
  return checked;
}

absl::Status MemberOperations::CheckTillCode(const auth::Principal& terminal, const v1::RedeemRequest& request) {
  assert(!request.till_code().empty());  // CheckTillProof asked for it
  const int64_t now = clock_.NowUnixSeconds();
  // Failures count per member and terminal credential: one terminal's
  // wrong guesses do not lock the member out at every other till.
  const std::string attempts_key = loyalty::StrCat(request.member_id(), "\n", terminal.name);
  LOYALTY_RETURN_IF_ERROR(till_failures_.Begin(attempts_key, now, "till codes"));
  std::lock_guard<std::mutex> lock(till_mu_);
  auto it = till_codes_.find(request.member_id());
  const bool matches = it != till_codes_.end() && it->second.expires_at > now &&
                       it->second.code.size() == request.till_code().size() &&
                       CRYPTO_memcmp(it->second.code.data(), request.till_code().data(), it->second.code.size()) == 0 &&
                       (it->second.used_by_request.empty() || it->second.used_by_request == request.request_id());
  if (!matches) {
    return absl::PermissionDeniedError(
        "till_code: wrong, expired or already used; ask the member to show a new one in the app");
  }
  till_failures_.Succeeded(attempts_key);
  it->second.used_by_request = request.request_id();  // spent: only this redemption's retries pass
  return absl::OkStatus();
}

void MemberOperations::ClaimReceipt(const auth::Principal& who, const v1::ClaimReceiptRequest& claim,
                                    std::function<void(absl::StatusOr<v1::ClaimReceiptResponse>)> done) {
  absl::Status checked = [&]() -> absl::Status {
    LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", claim.member_id()));
    LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, claim.member_id()));
    LOYALTY_RETURN_IF_ERROR(ValidateTransactionRef("sale", claim.sale()));
    if (claim.total_minor() < 0 || claim.total_minor() > kMaxSaleTotalMinor) {
      return FieldError("total_minor", "is out of range");
    }
    if (claim.receipt_code().empty()) return FieldError("receipt_code", "is required (printed on the receipt)");
    if (claim.receipt_code().size() > 32) return FieldError("receipt_code", "must be at most 32 characters");
    LOYALTY_RETURN_IF_ERROR(members_.Read(claim.member_id()).status());
    // Admitted before the attempt is counted against the member's claims.
    LOYALTY_RETURN_IF_ERROR(AdmitWrite(lanes_, store_));
    return claim_failures_.Begin(claim.member_id(), clock_.NowUnixSeconds(), "receipt claims");
  }();
  if (!checked.ok()) {
    done(checked);
    return;
  }
  lanes_.Run(claim.member_id(), [this, claim, done = std::move(done)]() mutable {
    absl::StatusOr<v1::ClaimReceiptResponse> answer = [&]() -> absl::StatusOr<v1::ClaimReceiptResponse> {
      absl::StatusOr<Applied> claimed = ingest_.ApplyClaim(claim, storage::Durability::kBuffered);
      if (!absl::IsNotFound(claimed.status())) {
        claim_failures_.Succeeded(claim.member_id());  // only a wrong reference, code or total counts
      } else {
        LogWarning(loyalty::StrCat("receipt claim refused for member ", claim.member_id(), ": ",
                                   claimed.status().message()));
      }
      LOYALTY_ASSIGN_OR_RETURN(Applied applied, std::move(claimed));
      v1::ClaimReceiptResponse out;
      out.set_points_earned(applied.outcome.points_earned());
      *out.mutable_balance() = applied.outcome.balance();
      return out;
    }();
    AnswerWhenDurable(store_, std::move(answer), std::move(done));
  });
}

absl::StatusOr<std::shared_ptr<MemberWatch>> MemberOperations::Watch(const auth::Principal& who,
                                                                    const v1::WatchMemberRequest& request,
                                                                    MemberWatch::Sink* sink) const {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireMemberAccess(who, request.member_id()));
  // An unknown member is NOT_FOUND before the stream starts.
  LOYALTY_RETURN_IF_ERROR(members_.Read(request.member_id()).status());
  auto watch = std::make_shared<MemberWatch>(*this, updates_, lanes_, store_, request.member_id(), sink);
  LOYALTY_RETURN_IF_ERROR(watch->Start());
  return watch;
}

}  // namespace loyalty
