#include "services/pos/pos_operations.h"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <memory>
#include <mutex>

#include "base/metrics.h"
#include "base/str_cat.h"
#include "services/common/public_status.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/durable_answer.h"
#include "services/loyalty/event_apply.h"
#include "services/loyalty/member_operations.h"
#include "services/loyalty/member_store.h"
#include "services/pos/validation.h"

namespace loyalty::pos {

using storage::Durability;

namespace {

int64_t Micros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000 + t.nanos() / 1000;
}

// Phase of a backlog event: sales first, so returns and voids find them.
int PhaseOf(const v1::BacklogEvent& e) {
  switch (e.event_case()) {
    case v1::BacklogEvent::kSale: return 0;
    case v1::BacklogEvent::kReturn: return 1;
    case v1::BacklogEvent::kVoid: return 2;
    case v1::BacklogEvent::EVENT_NOT_SET: break;
  }
  return -1;
}

}  // namespace

PosOperations::PosOperations(Ingest& ingest, Lanes& lanes, storage::Store& store, const Members& members,
                             const ProgramStore& programs, const Counters& counters, const Clock& clock,
                             RateLimit lookup_limit)
    : ingest_(ingest),
      lanes_(lanes),
      store_(store),
      members_(members),
      programs_(programs),
      counters_(counters),
      clock_(clock),
      lookups_(lookup_limit, /*max_keys=*/100'000) {}

absl::StatusOr<PosOperations::Routed> PosOperations::RouteSale(const auth::Principal& who,
                                                               const v1::Sale& sale) {
  // Who first: a caller learns nothing of a request it may not make.
  LOYALTY_RETURN_IF_ERROR(auth::RequireTerminalOf(who, sale.ref().store_id()));
  LOYALTY_RETURN_IF_ERROR(ValidateSale(sale, clock_.NowUnixSeconds()));
  std::string member_id;
  if (sale.has_member()) {
    LOYALTY_ASSIGN_OR_RETURN(MemberPtr member, members_.Resolve(sale.member(), "sale.member"));
    member_id = member->record.member_id();
  }
  Routed r;
  r.ordering_key = Ingest::OrderingKeyOfSale(sale.ref(), member_id);
  r.occurred_at_micros = Micros(sale.occurred_at());
  r.apply = [this, &sale, member_id](Durability d) { return ingest_.ApplySale(sale, member_id, d); };
  return r;
}

absl::StatusOr<PosOperations::Routed> PosOperations::RouteReturn(const auth::Principal& who,
                                                                 const v1::Return& ret) {
  // Who first: a caller learns nothing of a request it may not make.
  LOYALTY_RETURN_IF_ERROR(auth::RequireTerminalOf(who, ret.ref().store_id()));
  LOYALTY_RETURN_IF_ERROR(ValidateReturn(ret, clock_.NowUnixSeconds()));
  if (ret.original().store_id() != ret.ref().store_id() && !programs_.Current()->returns_at_any_store) {
    return FieldError("return.original.store_id",
                      "a sale can only be returned in its own store (the program does not allow returns at any "
                      "store)");
  }
  Routed r;
  LOYALTY_ASSIGN_OR_RETURN(r.ordering_key,
                           ingest_.OrderingKeyOfRecordedSale(ret.original(), "return.original"));
  r.occurred_at_micros = Micros(ret.occurred_at());
  r.apply = [this, &ret, key = r.ordering_key](Durability d) { return ingest_.ApplyReturn(ret, d, key); };
  return r;
}

absl::StatusOr<PosOperations::Routed> PosOperations::RouteVoid(const auth::Principal& who,
                                                               const v1::Void& v) {
  // Who first: a caller learns nothing of a request it may not make.
  LOYALTY_RETURN_IF_ERROR(auth::RequireTerminalOf(who, v.ref().store_id()));
  LOYALTY_RETURN_IF_ERROR(ValidateVoid(v, clock_.NowUnixSeconds()));
  Routed r;
  LOYALTY_ASSIGN_OR_RETURN(r.ordering_key,
                           ingest_.OrderingKeyOfRecordedSale(v.original(), "void.original"));
  r.occurred_at_micros = Micros(v.occurred_at());
  r.apply = [this, &v, key = r.ordering_key](Durability d) { return ingest_.ApplyVoid(v, d, key); };
  return r;
}

absl::StatusOr<PosOperations::Routed> PosOperations::RouteBacklogEvent(
    const auth::Principal& who, const v1::BacklogEvent& e) {
  switch (e.event_case()) {
    case v1::BacklogEvent::kSale: return RouteSale(who, e.sale());
    case v1::BacklogEvent::kReturn: return RouteReturn(who, e.return_());
    case v1::BacklogEvent::kVoid: return RouteVoid(who, e.void_());
    case v1::BacklogEvent::EVENT_NOT_SET: break;
  }
  return FieldError("event", "one of sale, return or void is required");
}

void PosOperations::Dispatch(absl::StatusOr<Routed> routed, Done done) {
  if (!routed.ok()) {
    done(routed.status());
    return;
  }
  if (absl::Status admitted = AdmitWrite(lanes_, store_); !admitted.ok()) {
    done(admitted);
    return;
  }
  lanes_.Run(routed->ordering_key, [this, apply = std::move(routed->apply), done = std::move(done)]() mutable {
    AnswerWhenDurable(store_, apply(Durability::kBuffered), std::move(done));
  });
}

void PosOperations::RecordSale(const auth::Principal& who, const v1::Sale& sale, Done done) {
  Dispatch(RouteSale(who, sale), std::move(done));
}

void PosOperations::RecordReturn(const auth::Principal& who, const v1::Return& ret, Done done) {
  Dispatch(RouteReturn(who, ret), std::move(done));
}

void PosOperations::VoidSale(const auth::Principal& who, const v1::Void& v, Done done) {
  Dispatch(RouteVoid(who, v), std::move(done));
}

namespace {

// Events of a backlog phase routed by one pool task.
constexpr size_t kRouteChunk = 256;

// Shared state of one backlog upload while its phases run.
struct BacklogRun {
  std::vector<v1::BacklogEvent> events;
  std::vector<absl::StatusOr<Applied>> results;
  std::vector<std::vector<size_t>> phases{3};  // event indices per phase, in time order
  PosOperations::BacklogDone done;
  std::atomic<size_t> outstanding{0};
};

v1::BacklogResult Summarise(const BacklogRun& run, const absl::Status& sync) {
  v1::BacklogResult out;
  for (size_t i = 0; i < run.results.size(); ++i) {
    auto* r = out.add_results();
    r->set_index(static_cast<uint32_t>(i));
    // If the final sync failed, nothing applied may be acknowledged. A
    // server fault is told as an incident number, as every edge tells it.
    const absl::Status s = ForCaller(!run.results[i].ok() ? run.results[i].status() : sync);
    if (s.ok()) {
      *r->mutable_outcome() = run.results[i]->outcome;
      r->set_replayed(run.results[i]->replayed);
      out.set_accepted(out.accepted() + 1);
    } else {
      r->set_code(static_cast<int32_t>(s.code()));
      r->set_message(std::string(s.message()));
      out.set_rejected(out.rejected() + 1);
    }
  }
  return out;
}

}  // namespace

void PosOperations::UploadBacklog(const auth::Principal& who, std::vector<v1::BacklogEvent> events,
                                  BacklogDone done) {
  // Before any event is looked at, on every edge.
  if (absl::Status terminal = auth::RequireTerminal(who); !terminal.ok()) {
    done(terminal);
    return;
  }
  if (events.size() > kMaxBacklogEvents) {
    done(absl::ResourceExhaustedError(loyalty::StrCat(
        "a backlog upload carries at most ", kMaxBacklogEvents,
        " events; nothing was recorded, send it in smaller uploads")));
    return;
  }
  // Admitted whole or not at all: a backlog is never refused half way.
  if (absl::Status admitted = AdmitWrite(lanes_, store_); !admitted.ok()) {
    done(admitted);
    return;
  }
  auto run = std::make_shared<BacklogRun>();
  run->events = std::move(events);
  run->done = std::move(done);
  run->results.assign(run->events.size(), absl::UnknownError("not applied"));

  // Sort each phase by event time; ties keep stream order.
  std::vector<int64_t> times(run->events.size(), 0);
  for (size_t i = 0; i < run->events.size(); ++i) {
    const int phase = PhaseOf(run->events[i]);
    if (phase < 0) {
      run->results[i] = FieldError("event", "one of sale, return or void is required");
      continue;
    }
    const auto& e = run->events[i];
    times[i] = Micros(phase == 0 ? e.sale().occurred_at()
                                 : phase == 1 ? e.return_().occurred_at() : e.void_().occurred_at());
    run->phases[phase].push_back(i);
  }
  for (auto& phase : run->phases) {
    std::stable_sort(phase.begin(), phase.end(),
                     [&](size_t a, size_t b) { return times[a] < times[b]; });
  }

  // Runs phase `p`; when its last event is applied, the next phase starts.
  // Routing happens at the start of a phase, so a return finds a sale
  // applied in the phase before. Routing (validation, resolving the member:
  // at a million members often a RocksDB read) runs in chunks on the pool,
  // in parallel; the routed events then go to their lanes in the phase's
  // time order, so each member's events still apply in time order.
  auto run_phase = std::make_shared<std::function<void(size_t)>>();
  *run_phase = [this, who, run, run_phase](size_t p) {
    if (p == run->phases.size()) {
      // Everything applied with buffered commits: one fsync makes it durable.
      store_.WhenDurable([run](absl::Status synced) { run->done(Summarise(*run, synced)); });
      *run_phase = nullptr;  // break the self-reference cycle
      return;
    }
    const std::vector<size_t>& phase = run->phases[p];
    if (phase.empty()) {
      (*run_phase)(p + 1);
      return;
    }
    auto routed = std::make_shared<std::vector<absl::StatusOr<Routed>>>(phase.size());
    auto route = [this, who, run, routed, p](size_t begin, size_t end) {
      const std::vector<size_t>& phase = run->phases[p];
      for (size_t j = begin; j < end; ++j) (*routed)[j] = RouteBacklogEvent(who, run->events[phase[j]]);
    };
    // Once every event of the phase is routed: hands them to their lanes.
    auto dispatch = [this, run, run_phase, routed, p] {
      const std::vector<size_t>& phase = run->phases[p];
      size_t valid = 0;
      for (size_t j = 0; j < phase.size(); ++j) {
        if ((*routed)[j].ok()) {
          ++valid;
        } else {
          run->results[phase[j]] = (*routed)[j].status();
        }
      }
      if (valid == 0) {
        (*run_phase)(p + 1);
        return;
      }
      run->outstanding.store(valid);
      for (size_t j = 0; j < phase.size(); ++j) {
        if (!(*routed)[j].ok()) continue;
        Routed& r = *(*routed)[j];
        lanes_.Post(r.ordering_key, [run, run_phase, p, i = phase[j], apply = std::move(r.apply)] {
          run->results[i] = apply(Durability::kBuffered);
          if (run->outstanding.fetch_sub(1) == 1) (*run_phase)(p + 1);
        });
      }
    };
    const size_t chunks = (phase.size() + kRouteChunk - 1) / kRouteChunk;
    if (chunks == 1) {  // a short upload: no hand-off
      route(0, phase.size());
      dispatch();
      return;
    }
    auto chunks_left = std::make_shared<std::atomic<size_t>>(chunks);
    for (size_t c = 0; c < chunks; ++c) {
      lanes_.PostUnordered([route, dispatch, chunks_left, c, n = phase.size()] {
        route(c * kRouteChunk, std::min(n, (c + 1) * kRouteChunk));
        // The last chunk to finish sees every other chunk's results.
        if (chunks_left->fetch_sub(1, std::memory_order_acq_rel) == 1) dispatch();
      });
    }
  };
  (*run_phase)(0);
}

absl::StatusOr<v1::BasketEvaluation> PosOperations::EvaluateBasket(const auth::Principal& who,
                                                                    const v1::EvaluateBasketRequest& request) {
  LOYALTY_RETURN_IF_ERROR(ValidateId("store_id", request.store_id()));
  LOYALTY_RETURN_IF_ERROR(auth::RequireTerminalOf(who, request.store_id()));
  LOYALTY_RETURN_IF_ERROR(ValidateMemberIdentifier("member", request.member()));
  LOYALTY_RETURN_IF_ERROR(ValidateCurrency("currency", request.currency()));
  LOYALTY_RETURN_IF_ERROR(ValidateLines("lines", request.lines()));
  // The basket as if sold at `at`: the same bounds as a sale's time.
  if (request.has_at()) LOYALTY_RETURN_IF_ERROR(ValidateEventTime("at", request.at(), true, clock_.NowUnixSeconds()));
  if (request.redemption_codes_size() > kMaxCodesPerSale) {
    return FieldError("redemption_codes", loyalty::StrCat("at most ", kMaxCodesPerSale, " codes"));
  }
  LOYALTY_ASSIGN_OR_RETURN(MemberPtr member, members_.Resolve(request.member(), "member"));
  const std::string& member_id = member->record.member_id();
  const ProgramPtr program = programs_.Current();
  if (request.currency() != program->currency) {
    return FieldError("currency", loyalty::StrCat("the program runs in ", program->currency));
  }
  const engine::Seconds now = clock_.NowUnixSeconds();
  LOYALTY_ASSIGN_OR_RETURN(std::vector<internal::RedemptionCode> codes,
                           ingest_.ReadCodes(request.redemption_codes(), "redemption_codes", member_id, now));
  std::vector<engine::Reward> values;
  for (const auto& c : codes) values.push_back(codec::FromProto(c.reward()));
  std::vector<const engine::Reward*> rewards;
  for (const auto& v : values) rewards.push_back(&v);

  v1::Sale as_sale;  // the same conversion RecordSale uses
  as_sale.mutable_ref()->set_store_id(request.store_id());
  *as_sale.mutable_occurred_at() = request.has_at() ? request.at() : clock_.NowTimestamp();
  *as_sale.mutable_lines() = request.lines();
  const engine::SaleInput input = SaleInputOf(as_sale);
  const engine::BasketResult basket = engine::EvaluateBasket(*program, member->state,
                                                             OfferContextOf(*program, counters_), input, rewards, now);
  if (basket.unusable_rewards > 0) {
    return absl::FailedPreconditionError("redemption_codes: a code matches no line of this basket that is still to pay");
  }
  v1::BasketEvaluation out;
  out.set_member_id(member_id);
  out.set_points_to_earn(basket.points_total);
  out.set_bonus_points(basket.bonus_points);
  int64_t net = 0;
  for (const auto& line : input.lines) net += line.net_minor;
  out.set_net_total_minor(net);
  out.set_discount_total_minor(basket.discount_total_minor);
  out.set_total_to_pay_minor(net - basket.discount_total_minor);
  for (const auto& d : basket.discounts) {
    auto* ld = out.add_discounts();
    ld->set_line_index(static_cast<uint32_t>(d.line));
    ld->set_discount_minor(d.discount_minor);
    ld->set_offer_id(d.source_id);
  }
  for (const auto& id : basket.applied_offer_ids) out.add_applicable_offer_ids(id);
  return out;
}

absl::StatusOr<v1::MemberSummary> PosOperations::LookupMember(
    const auth::Principal& who, const v1::LookupMemberRequest& request) {
  LOYALTY_RETURN_IF_ERROR(auth::RequireTerminal(who));
  static metrics::CounterFamily& lookups = metrics::DefaultRegistry().AddCounter(
      "loyaltyd_member_lookups_total", "LookupMember calls, by result (found, not_found, refused, limited)", {"result"});
  if (who.role == auth::Role::kTerminal) {
    if (absl::Status admitted = lookups_.Take(who.name, loyalty::StrCat("member lookups of terminal credential '", who.name, "'"));
        !admitted.ok()) {
      lookups.WithLabels({"limited"}).Inc();
      return admitted;
    }
  }
  if (absl::Status valid = ValidateMemberIdentifier("member", request.member()); !valid.ok()) {
    lookups.WithLabels({"refused"}).Inc();
    return valid;
  }
  absl::StatusOr<MemberPtr> resolved = members_.Resolve(request.member(), "member");
  if (!resolved.ok()) {
    lookups.WithLabels({absl::IsNotFound(resolved.status()) ? "not_found" : "refused"}).Inc();
    return resolved.status();
  }
  lookups.WithLabels({"found"}).Inc();
  const MemberPtr& member = *resolved;
  v1::MemberSummary out;
  out.set_member_id(member->record.member_id());
  const v1::MemberView view = ViewOf(*member, *programs_.Current(), clock_.NowUnixSeconds());
  if (who.role == auth::Role::kAdmin) {
    out.set_display_name(member->record.display_name());
    *out.mutable_balance() = view.balance();
  } else {
    // The first name greets; the rest of the name and the balance's history
    // stay with the member.
    const std::string& name = member->record.display_name();
    out.set_display_name(name.substr(0, name.find(' ')));
    out.mutable_balance()->set_available_points(view.balance().available_points());
  }
  out.set_tier(view.tier().current_tier());
  out.set_stage(view.stage().current_stage());
  return out;
}

}  // namespace loyalty::pos
