#include "services/loyalty/admin_operations.h"

#include "services/loyalty/durable_answer.h"
#include "storage/scans.h"

#include <cassert>
#include <cctype>
#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <tuple>

#include "base/log.h"
#include "base/str_cat.h"
#include "loyalty/internal/records.pb.h"
#include "services/common/fingerprint.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/event_apply.h"
#include "services/loyalty/member_store.h"
#include "services/loyalty/replay.h"
#include "services/common/field_checks.h"
#include "storage/keys.h"

namespace loyalty {

using storage::Cf;

namespace {

// Enrolments may be carried over from an older program (enrolled_at in the
// past), never dated ahead of the clock.
constexpr int64_t kMaxEnrolmentSkewSeconds = 5 * 60;

}  // namespace

absl::Status ValidateEnroll(const v1::EnrollMemberRequest& r, int64_t now) {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", r.member_id()));
  if (r.display_name().size() > 128) return FieldError("display_name", "must be at most 128 bytes");
  if (!r.card_number().empty()) LOYALTY_RETURN_IF_ERROR(ValidateCardNumber("card_number", r.card_number()));
  if (!r.phone().empty()) LOYALTY_RETURN_IF_ERROR(ValidatePhone("phone", r.phone()));
  if (!r.birthday().empty()) LOYALTY_RETURN_IF_ERROR(ValidateBirthday("birthday", r.birthday()));
  if (r.has_enrolled_at()) {
    LOYALTY_RETURN_IF_ERROR(ValidateTimestamp("enrolled_at", r.enrolled_at()));
    if (r.enrolled_at().seconds() > now + kMaxEnrolmentSkewSeconds) {
      return FieldError("enrolled_at", loyalty::StrCat("is ", r.enrolled_at().seconds() - now,
                                                       " s in the future (more than 300 s of clock skew)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAdjustment(const v1::AdjustPointsRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateId("member_id", request.member_id()));
  LOYALTY_RETURN_IF_ERROR(ValidateId("request_id", request.request_id()));
  if (request.points() == 0 || request.points() > kMaxAdjustPoints || request.points() < -kMaxAdjustPoints) {
    return FieldError("points", loyalty::StrCat("must be non-zero and at most ", kMaxAdjustPoints,
                                                " either way, got ", request.points()));
  }
  if (request.reason().empty() || request.reason().size() > kMaxReasonBytes) {
    return FieldError("reason", "is required, at most 256 bytes");
  }
  return absl::OkStatus();
}

AdminOperations::AdminOperations(storage::Store& store, Members& members, Lanes& lanes, const Clock& clock,
                                 ProgramStore& programs, DryRuns& dry_runs, const Counters* counters,
                                 MemberUpdates* updates)
    : store_(store),
      members_(members),
      lanes_(lanes),
      clock_(clock),
      programs_(programs),
      dry_runs_(dry_runs),
      counters_(counters),
      updates_(updates) {}

absl::StatusOr<v1::EnrollMemberResponse> AdminOperations::EnrollMember(
    const auth::Principal& who, const v1::EnrollMemberRequest& request) {
  std::promise<absl::StatusOr<v1::EnrollMemberResponse>> answered;
  auto result = answered.get_future();
  EnrollMember(who, request, [&answered](absl::StatusOr<v1::EnrollMemberResponse> r) {
    answered.set_value(std::move(r));
  });
  return result.get();
}

void AdminOperations::EnrollMember(const auth::Principal& who, const v1::EnrollMemberRequest& request,
                                   std::function<void(absl::StatusOr<v1::EnrollMemberResponse>)> done) {
  absl::StatusOr<v1::EnrollMemberResponse> committed = [&]() -> absl::StatusOr<v1::EnrollMemberResponse> {
    LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
    LOYALTY_RETURN_IF_ERROR(ValidateEnroll(request, clock_.NowUnixSeconds()));
    LOYALTY_RETURN_IF_ERROR(AdmitWrite(lanes_, store_));
    return CommitEnrollment(request);
  }();
  if (!committed.ok()) {
    done(committed.status());
    return;
  }
  // Answered after the WAL sync, outside the lock: concurrent enrollments
  // share one fsync. An unchanged retry waits too (its first answer may not
  // be synced yet).
  store_.WhenDurable([out = std::move(*committed), done = std::move(done)](absl::Status synced) {
    done(synced.ok() ? absl::StatusOr<v1::EnrollMemberResponse>(out) : synced);
  });
}

absl::StatusOr<v1::EnrollMemberResponse> AdminOperations::CommitEnrollment(const v1::EnrollMemberRequest& request) {
  // One enrollment at a time: the member id and identifier checks and the
  // commit must not interleave with another enrollment's.
  std::lock_guard<std::mutex> lock(enroll_mu_);

  v1::EnrollMemberResponse out;
  out.set_member_id(request.member_id());
  auto existing = ReadMember(store_, request.member_id());
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  if (existing.ok()) {
    const internal::MemberRecord& m = *existing;
    if (m.display_name() == request.display_name() && m.card_number() == request.card_number() &&
        m.phone() == request.phone() && m.engine().birthday_mmdd() == request.birthday()) {
      out.set_created(false);
      return out;
    }
    return absl::AlreadyExistsError(loyalty::StrCat("member_id: member '", request.member_id(),
                                                 "' is already enrolled with other details"));
  }
  storage::WriteSet writes;
  auto claim = [&](storage::IdentifierKind kind, const std::string& value,
                   std::string_view field) -> absl::Status {
    if (value.empty()) return absl::OkStatus();
    const std::string key = storage::IdentifierKey(kind, value);
    auto owner = store_.Get(Cf::kIdentifiers, key);
    if (owner.ok()) {
      return absl::AlreadyExistsError(loyalty::StrCat(field, ": already belongs to another member"));
    }
    if (!absl::IsNotFound(owner.status())) return owner.status();
    writes.PutRaw(Cf::kIdentifiers, key, request.member_id());
    return absl::OkStatus();
  };
  LOYALTY_RETURN_IF_ERROR(claim(storage::IdentifierKind::kCard, request.card_number(), "card_number"));
  LOYALTY_RETURN_IF_ERROR(claim(storage::IdentifierKind::kPhone, request.phone(), "phone"));

  internal::EventRecord event = ledger_.NewEvent(clock_.NowTimestamp(), programs_.Current()->version);
  const uint64_t seq = event.seq();
  internal::MemberRecord member;
  member.set_member_id(request.member_id());
  member.set_display_name(request.display_name());
  member.set_card_number(request.card_number());
  member.set_phone(request.phone());
  *member.mutable_enrolled_at() = request.has_enrolled_at() ? request.enrolled_at() : clock_.NowTimestamp();
  member.set_last_event_seq(seq);
  engine::MemberState state = engine::EnrolledMember(member.enrolled_at().seconds());
  state.birthday_mmdd = request.birthday();
  PutMember(writes, member, state);

  event.set_member_id(request.member_id());
  *event.mutable_enroll() = request;
  // Not cached yet: the member's first read loads it.
  LOYALTY_RETURN_IF_ERROR(ledger_.Commit(writes, event, /*member=*/nullptr, storage::Durability::kBuffered));
  out.set_created(true);
  return out;
}

void AdminOperations::AdjustPoints(const auth::Principal& who, const v1::AdjustPointsRequest& request,
                                   std::function<void(absl::StatusOr<v1::AdjustPointsResponse>)> done) {
  absl::Status checked = [&]() -> absl::Status {
    LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
    return ValidateAdjustment(request);
  }();
  if (!checked.ok()) {
    done(checked);
    return;
  }
  if (absl::Status admitted = AdmitWrite(lanes_, store_); !admitted.ok()) {
    done(admitted);
    return;
  }
  lanes_.Run(request.member_id(), [this, who, request, done = std::move(done)] {
    auto result = std::make_shared<absl::StatusOr<v1::AdjustPointsResponse>>(ApplyAdjustment(who, request));
    // Answered once durable (the commit, or a retry's first answer).
    store_.WhenDurable([result, done](absl::Status synced) {
      done(synced.ok() ? std::move(*result) : absl::StatusOr<v1::AdjustPointsResponse>(synced));
    });
  });
}

absl::StatusOr<v1::AdjustPointsResponse> AdminOperations::ApplyAdjustment(
    const auth::Principal& who, const v1::AdjustPointsRequest& request) {
  const std::string txn_key = storage::AdminRequestKey("adjust", request.request_id());
  const std::string fingerprint = Fingerprint("adjust", request);
  auto lock = request_locks_.Lock(txn_key);
  // Answered after a WAL sync (AdjustPoints), so the lookup need not sync.
  LOYALTY_ASSIGN_OR_RETURN(
      auto first, ledger_.FindRequest(
                      txn_key, fingerprint,
                      [](uint64_t) { return std::string("request_id: already used for a different adjustment"); },
                      storage::Durability::kBuffered));
  if (first.has_value()) {
    // Replay: answer with the entry and the member's current balance.
    LOYALTY_ASSIGN_OR_RETURN(MemberPtr member, members_.Read(request.member_id()));
    auto entry = store_.GetProto<v1::LedgerEntry>(
        Cf::kLedger, storage::LedgerKey(request.member_id(), storage::LedgerEntryId(first->event_seq(), 0)));
    if (!entry.ok()) return entry.status();
    v1::AdjustPointsResponse out;
    if (entry->has_value()) *out.mutable_entry() = **entry;
    *out.mutable_balance() = BalanceOf(*member, clock_.NowUnixSeconds());
    return out;
  }
  LOYALTY_ASSIGN_OR_RETURN(MemberPtr current, members_.Read(request.member_id()));
  Member member = *current;
  const ProgramPtr program = programs_.Current();
  const google::protobuf::Timestamp received_at = clock_.NowTimestamp();
  internal::EventRecord event = ledger_.NewEvent(received_at, program->version);
  const uint64_t seq = event.seq();
  const engine::Seconds now = received_at.seconds();
  std::vector<engine::Entry> entries;
  engine::Adjust(*program, member.state, request.points(), storage::LedgerEntryId(seq, 0), now, entries);
  storage::WriteSet writes;
  CommitMemberChanges(member, writes, seq, entries, LedgerCause{received_at, nullptr, request.reason(), who.name});

  event.set_member_id(member.record.member_id());
  event.mutable_adjust()->set_author(who.name);
  *event.mutable_adjust()->mutable_request() = request;
  internal::IdempotencyRecord record;
  record.set_fingerprint(fingerprint);
  record.set_event_seq(seq);
  LedgerWriter::PutRequestRecord(writes, txn_key, record);
  v1::AdjustPointsResponse out;
  *out.mutable_balance() = BalanceOf(member, now);
  const std::string member_id = member.record.member_id();
  LOYALTY_RETURN_IF_ERROR(ledger_.Commit(writes, event, &member, storage::Durability::kBuffered));

  auto entry = store_.GetProto<v1::LedgerEntry>(Cf::kLedger, storage::LedgerKey(member_id, storage::LedgerEntryId(seq, 0)));
  if (entry.ok() && entry->has_value()) *out.mutable_entry() = **entry;
  return out;
}

absl::StatusOr<v1::Program> AdminOperations::GetProgram(const auth::Principal& who) const {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  return programs_.CurrentPublished();
}

absl::StatusOr<v1::Program> AdminOperations::UpdateProgram(const auth::Principal& who,
                                                           const v1::UpdateProgramRequest& request) {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  if (!request.has_program()) return FieldError("program", "is required");
  return programs_.Publish(request.program(), request.expected_version(), who.name);
}

absl::StatusOr<v1::ListAuditResponse> AdminOperations::ListAudit(const auth::Principal& who,
                                                                 const v1::ListAuditRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  LOYALTY_ASSIGN_OR_RETURN(v1::ListAuditResponse programs, programs_.ListAudit(request.limit()));
  if (credentials_ == nullptr) return programs;
  const uint32_t limit = request.limit() == 0 ? 50 : request.limit();
  LOYALTY_ASSIGN_OR_RETURN(auto changes, credentials_->Audit(limit));
  // Both newest first: merge by time, keep `limit`.
  v1::ListAuditResponse out;
  int p = 0;
  size_t c = 0;
  auto later = [](const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
    return a.seconds() != b.seconds() ? a.seconds() > b.seconds() : a.nanos() >= b.nanos();
  };
  while (static_cast<uint32_t>(out.entries_size()) < limit && (p < programs.entries_size() || c < changes.size())) {
    if (c == changes.size() || (p < programs.entries_size() && later(programs.entries(p).at(), changes[c].at()))) {
      *out.add_entries() = programs.entries(p++);
      continue;
    }
    auto* e = out.add_entries();
    e->set_author(changes[c].author());
    *e->mutable_at() = changes[c].at();
    e->set_summary(changes[c].summary());
    e->set_credential_id(changes[c].credential_id());
    ++c;
  }
  return out;
}

namespace {
absl::Status NoCredentialStore() {
  return absl::FailedPreconditionError("credentials: this server keeps no run-time credentials");
}
}  // namespace

absl::StatusOr<v1::IssuedCredential> AdminOperations::CreateCredential(const auth::Principal& who,
                                                                       const v1::CreateCredentialRequest& request) {
  if (credentials_ == nullptr) return NoCredentialStore();
  return credentials_->Create(who, request);
}
absl::StatusOr<v1::ListCredentialsResponse> AdminOperations::ListCredentials(
    const auth::Principal& who, const v1::ListCredentialsRequest& request) const {
  if (credentials_ == nullptr) return NoCredentialStore();
  return credentials_->List(who, request);
}
absl::StatusOr<v1::IssuedCredential> AdminOperations::RotateCredential(const auth::Principal& who,
                                                                       const v1::RotateCredentialRequest& request) {
  if (credentials_ == nullptr) return NoCredentialStore();
  return credentials_->Rotate(who, request);
}
absl::StatusOr<v1::Credential> AdminOperations::RevokeCredential(const auth::Principal& who,
                                                                 const v1::RevokeCredentialRequest& request) {
  if (credentials_ == nullptr) return NoCredentialStore();
  return credentials_->Revoke(who, request);
}

absl::StatusOr<v1::ProgramFigures> AdminOperations::GetFigures(const auth::Principal& who) const {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  const ProgramPtr program = programs_.Current();
  const engine::Seconds now = clock_.NowUnixSeconds();
  v1::ProgramFigures f;
  for (size_t i = 0; i < std::max<size_t>(1, program->tiers.size()); ++i) {
    (*f.mutable_members_per_tier())[engine::TierName(*program, static_cast<int32_t>(i))] = 0;
  }
  for (size_t i = 0; i < std::max<size_t>(1, program->stages.size()); ++i) {
    (*f.mutable_members_per_stage())[engine::StageName(*program, static_cast<int32_t>(i))] = 0;
  }
  // Per offer: members who used it and moved up a stage at or after their first use.
  std::map<std::string, uint64_t> moved_up;
  // (week, from, to) -> members, weeks as days since epoch of their Monday.
  std::map<std::tuple<int64_t, int32_t, int32_t>, uint64_t> moves;
  auto clamp_tier = [&](int32_t t) { return std::clamp<int32_t>(t, 0, std::max<int32_t>(0, static_cast<int32_t>(program->tiers.size()) - 1)); };
  auto clamp_stage = [&](int32_t s) { return std::clamp<int32_t>(s, 0, std::max<int32_t>(0, static_cast<int32_t>(program->stages.size()) - 1)); };
  LOYALTY_RETURN_IF_ERROR(storage::ScanMembers(store_, nullptr, "figures", [&](std::string_view id, std::string_view bytes) -> absl::StatusOr<storage::ScanStep> {
    internal::MemberRecord m;
    LOYALTY_RETURN_IF_ERROR(ParseMemberRecord(bytes, m, id));
    engine::MemberState state = codec::FromProto(m.engine());
    engine::Refresh(*program, state, now);  // as the member would see it now
    const engine::Balance b = engine::BalanceAt(state, now);
    f.set_members(f.members() + 1);
    f.set_available_points(f.available_points() + b.available);
    f.set_pending_points(f.pending_points() + b.pending);
    ++(*f.mutable_members_per_tier())[engine::TierName(*program, clamp_tier(state.tier))];
    ++(*f.mutable_members_per_stage())[engine::StageName(*program, clamp_stage(state.stage))];
    for (const auto& [offer_id, first_used] : state.offer_first_used) {
      // Captured by copy: clang 14 (the fuzz build) cannot capture a structured binding.
      const bool up = std::any_of(state.stage_history.begin(), state.stage_history.end(),
                                  [first_used = first_used](const engine::StageChange& c) {
                                    return c.to > c.from && c.at >= first_used;
                                  });
      if (up) ++moved_up[offer_id];
    }
    for (const auto& change : state.stage_history) {
      const int64_t day = change.at / engine::kDay;
      const int64_t monday = day - ((day + 3) % 7);  // 1970-01-01 was a Thursday
      ++moves[{monday, clamp_stage(change.from), clamp_stage(change.to)}];
    }
    return storage::ScanStep::kContinue;
  }));
  f.set_liability_points(f.available_points() + f.pending_points());
  f.set_events(store_.LastAllocatedEventSeq());
  for (const auto& offer : program->offers) {
    auto* o = f.add_offers();
    o->set_offer_id(offer.id);
    if (counters_ != nullptr) {
      o->set_shown(static_cast<uint64_t>(counters_->Get(Counters::OfferShown(offer.id))));
      o->set_used(static_cast<uint64_t>(counters_->Get(Counters::OfferUsed(offer.id))));
      o->set_spend_minor(counters_->Get(Counters::OfferSpend(offer.id)));
    }
    o->set_members_moved_up(moved_up[offer.id]);
  }
  for (const auto& [key, members] : moves) {
    auto* m = f.add_stage_movements();
    m->set_week_start(engine::FormatDate(std::get<0>(key) * engine::kDay));
    m->set_from_stage(engine::StageName(*program, std::get<1>(key)));
    m->set_to_stage(engine::StageName(*program, std::get<2>(key)));
    m->set_members(members);
  }
  return f;
}

absl::StatusOr<v1::VerifyLedgerResponse> AdminOperations::VerifyLedger(
    const auth::Principal& who, const v1::VerifyLedgerRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  // One snapshot: members, ledger and events as of one moment, even while
  // terminals keep recording.
  const auto snapshot = store_.GetSnapshot();
  std::optional<ReplayResult> replayed;
  if (request.replay_events()) {
    LOYALTY_ASSIGN_OR_RETURN(replayed, ReplayEventLog(store_, snapshot.get(), [this](uint64_t version) {
                               return programs_.Version(version);
                             }));
  }
  v1::VerifyLedgerResponse out;
  LOYALTY_RETURN_IF_ERROR(storage::ScanMembers(store_, snapshot.get(), "verify ledger", [&](std::string_view id, std::string_view bytes) -> absl::StatusOr<storage::ScanStep> {
    internal::MemberRecord m;
    LOYALTY_RETURN_IF_ERROR(ParseMemberRecord(bytes, m, id));
    LOYALTY_ASSIGN_OR_RETURN(LedgerSum sum, SumLedger(store_, m.member_id(), snapshot.get()));
    out.set_members_checked(out.members_checked() + 1);
    out.set_ledger_entries(out.ledger_entries() + sum.entries);
    const engine::MemberState state = codec::FromProto(m.engine());
    const int64_t engine_total = engine::LedgerTotal(state);
    if (sum.points != m.ledger_total_points() || sum.points != engine_total ||
        sum.entries != m.ledger_entries()) {
      out.set_mismatches(out.mismatches() + 1);
      if (out.mismatched_member_ids_size() < 100) out.add_mismatched_member_ids(m.member_id());
    }
    if (replayed) {
      auto r = replayed->members.find(m.member_id());
      const bool same = r != replayed->members.end() &&
                        DeterministicBytes(codec::ToProto(r->second)) == DeterministicBytes(codec::ToProto(state));
      if (!same) {
        out.set_replay_mismatches(out.replay_mismatches() + 1);
        if (out.replay_mismatched_member_ids_size() < 100) out.add_replay_mismatched_member_ids(m.member_id());
      }
    }
    return storage::ScanStep::kContinue;
  }));
  if (replayed) out.set_events_replayed(replayed->events);
  return out;
}

absl::StatusOr<ProgramPtr> AdminOperations::CheckProposal(const v1::UpdateProgramRequest& request) const {
  if (!request.has_program()) return FieldError("program", "is required");
  LOYALTY_ASSIGN_OR_RETURN(engine::ProgramConfig proposed, ProgramStore::Check(request.program()));
  proposed.version = programs_.Current()->version + 1;
  return std::make_shared<const engine::ProgramConfig>(std::move(proposed));
}

void AdminOperations::DryRunProgram(const auth::Principal& who, const v1::UpdateProgramRequest& request,
                                    std::function<void(absl::StatusOr<v1::DryRunReport>)> done) {
  if (absl::Status s = auth::RequireAdmin(who); !s.ok()) return done(s);
  absl::StatusOr<ProgramPtr> proposed = CheckProposal(request);
  if (!proposed.ok()) return done(proposed.status());
  auto started = dry_runs_.Start(std::move(*proposed), who.name, done);
  if (!started.ok()) done(started.status());
}

absl::StatusOr<v1::DryRunJob> AdminOperations::StartDryRun(const auth::Principal& who,
                                                           const v1::UpdateProgramRequest& request) {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  LOYALTY_ASSIGN_OR_RETURN(ProgramPtr proposed, CheckProposal(request));
  return dry_runs_.Start(std::move(proposed), who.name);
}

absl::StatusOr<v1::DryRunJob> AdminOperations::GetDryRun(const auth::Principal& who,
                                                         const v1::GetDryRunRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  if (request.job_id().empty()) return FieldError("job_id", "is required");
  return dry_runs_.Get(request.job_id());
}

void AdminOperations::RunExpiry(const auth::Principal& who,
                                std::function<void(absl::StatusOr<v1::RunExpiryResponse>)> done) {
  if (absl::Status s = auth::RequireAdmin(who); !s.ok()) {
    done(s);
    return;
  }
  std::vector<std::string> members;
  // A failed read answers the whole run: no member is skipped unnoticed.
  if (absl::Status listed = storage::ScanMembers(store_, nullptr, "expiry run",
                                                 [&](std::string_view id, std::string_view) -> absl::StatusOr<storage::ScanStep> {
                                                   members.emplace_back(id);
                                                   return storage::ScanStep::kContinue;
                                                 });
      !listed.ok()) {
    done(listed);
    return;
  }
  struct Run {
    std::mutex mu;
    v1::RunExpiryResponse totals;
    absl::Status first_error;
    size_t outstanding = 0;
    std::function<void(absl::StatusOr<v1::RunExpiryResponse>)> done;
  };
  auto run = std::make_shared<Run>();
  run->outstanding = members.size();
  run->done = std::move(done);
  if (members.empty()) {
    run->done(run->totals);
    return;
  }
  for (auto& id : members) {
    lanes_.Post(id, [this, run, id] {
      absl::StatusOr<int64_t> expired = ExpireMember(id);
      std::lock_guard<std::mutex> lock(run->mu);
      run->totals.set_members_checked(run->totals.members_checked() + 1);
      if (!expired.ok()) {
        if (run->first_error.ok()) run->first_error = expired.status();
      } else if (*expired > 0) {
        run->totals.set_members_expired(run->totals.members_expired() + 1);
        run->totals.set_points_expired(run->totals.points_expired() + *expired);
      }
      if (--run->outstanding == 0) {
        // Expiry commits are buffered: one WAL sync makes the run durable.
        store_.WhenDurable([run](absl::Status synced) {
          if (!synced.ok()) {
            run->done(synced);
          } else if (run->first_error.ok()) {
            run->done(run->totals);
          } else {
            run->done(run->first_error);
          }
        });
      }
    });
  }
}

absl::StatusOr<int64_t> AdminOperations::ExpireMember(const std::string& member_id) {
  LOYALTY_ASSIGN_OR_RETURN(MemberPtr current, members_.Read(member_id));
  const ProgramPtr program = programs_.Current();
  const google::protobuf::Timestamp received_at = clock_.NowTimestamp();
  const engine::Seconds now = received_at.seconds();
  const engine::MemberState& before = current->state;
  Member member = *current;
  engine::MemberState& state = member.state;
  std::vector<engine::Entry> entries;
  engine::Expire(*program, state, now, entries);
  engine::Refresh(*program, state, now);
  const bool changed = !entries.empty() || state.tier != before.tier || state.stage != before.stage ||
                       state.grace_until != before.grace_until;
  if (!changed) return 0;
  internal::EventRecord event = ledger_.NewEvent(received_at, program->version);
  storage::WriteSet writes;
  CommitMemberChanges(member, writes, event.seq(), entries, LedgerCause{received_at, nullptr, "expiry", "loyaltyd"});
  event.set_member_id(member_id);
  event.mutable_expire();
  LOYALTY_RETURN_IF_ERROR(ledger_.Commit(writes, event, &member, storage::Durability::kBuffered));
  return entries.empty() ? 0 : -entries[0].points;
}

absl::StatusOr<v1::CreateCheckpointResponse> AdminOperations::CreateCheckpoint(
    const auth::Principal& who, const v1::CreateCheckpointRequest& request) {
  LOYALTY_RETURN_IF_ERROR(auth::RequireAdmin(who));
  v1::CreateCheckpointResponse out;
  out.set_last_event_seq(store_.LastAllocatedEventSeq());
  LOYALTY_ASSIGN_OR_RETURN(std::string dir, store_.Checkpoint(request.name()));
  LogInfo(loyalty::StrCat("checkpoint ", request.name(), " written to ", dir, " by ", who.name));
  out.set_dir(std::move(dir));
  return out;
}

}  // namespace loyalty
