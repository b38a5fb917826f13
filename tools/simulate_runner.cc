// tools/simulate_runner.cc: sends the plan's enrollments and events to
// loyaltyd (see simulate_runner.h), with progress on stderr.
#include "tools/simulate_runner.h"

#include <algorithm>
#include <iostream>
#include <random>

#include "base/str_cat.h"
#include "tools/parallel.h"
#include "tools/progress.h"

namespace loyalty::tools {
namespace {

namespace v1 = loyalty::v1;

constexpr int kMaxSaleAttempts = 8;       // evaluations of one sale whose discounts keep changing
// Half the members redeem rewards: after a sale that leaves them enough
// points, with this chance each time.
constexpr double kRedeemerShare = 0.5;
constexpr double kRedeemChance = 0.3;
constexpr uint64_t kRedeemStream = 0x7265'6465'656d;    // "redeem", + plan index
constexpr uint64_t kRedeemerStream = 0x7265'6465'6d72;  // + member index

const v1::TransactionRef& RefOf(const v1::BacklogEvent& event) {
  if (event.has_sale()) return event.sale().ref();
  if (event.has_return_()) return event.return_().ref();
  return event.void_().ref();
}

std::string RefText(const v1::TransactionRef& ref) {
  return loyalty::StrCat(ref.store_id(), "/", ref.terminal_id(), "/", ref.transaction_id());
}

// "RecordSale store-1/t-2/sim1-s0000042 of 2025-03-04"
std::string Describe(const PlannedEvent& planned) {
  const char* method = planned.event.has_sale()      ? "RecordSale"
                       : planned.event.has_return_() ? "RecordReturn"
                                                     : "VoidSale";
  const auto& ref = RefOf(planned.event);
  return loyalty::StrCat(method, " ", RefText(ref), " of ", UtcDate(planned.at_seconds));
}

bool IsAuthProblem(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAUTHENTICATED || code == grpc::StatusCode::PERMISSION_DENIED;
}

bool Contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

int64_t NetTotal(const v1::Sale& sale) {
  int64_t total = 0;
  for (const auto& line : sale.lines()) total += line.quantity() * line.unit_price_minor() - line.discount_minor();
  return total;
}

// RecordSale refused the total because the loyalty discounts are no longer
// what the evaluation said: evaluate again and record the same transaction.
bool DiscountsChanged(const grpc::Status& status, const v1::Sale& sale) {
  const std::string& message = status.error_message();
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    return Contains(message, "evaluate the basket again") || Contains(message, "has just run out");
  }
  // When the discounts fell to none meanwhile (an offer's budget used up by
  // another member's sale), the server asks for the plain sum of the lines.
  return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && message.rfind("sale.total_minor", 0) == 0 &&
         sale.total_minor() < NetTotal(sale);
}

// The server refused one of the codes (used, expired, unknown, or no line
// left for it).
bool IsCodeRefusal(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
         Contains(status.error_message(), "redemption_codes");
}

// What the member pays, with one tender of it (the plan's kind) if any.
void SetTotal(v1::Sale& sale, int64_t total) {
  const v1::TenderType type = sale.tenders_size() > 0 ? sale.tenders(0).type() : v1::TENDER_TYPE_CARD;
  sale.set_total_minor(total);
  sale.clear_tenders();
  if (total > 0) {
    auto* tender = sale.add_tenders();
    tender->set_type(type);
    tender->set_amount_minor(total);
  }
}

// A random stream for one decision about `index` (a plan position or a
// member index): the same in every run with the same seed.
std::mt19937_64 DecisionStream(uint64_t seed, uint64_t purpose, size_t index) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(purpose),
                    static_cast<uint32_t>(purpose >> 32), static_cast<uint32_t>(index),
                    static_cast<uint32_t>(static_cast<uint64_t>(index) >> 32)};
  return std::mt19937_64(seq);
}

}  // namespace

SimulationRunner::SimulationRunner(const SimulateOptions& options, std::shared_ptr<grpc::Channel> channel,
                                   SaleJournal& journal)
    : options_(options),
      journal_(journal),
      admin_(v1::AdminService::NewStub(channel)),
      pos_(v1::PosService::NewStub(channel)),
      members_(v1::MemberService::NewStub(channel)),
      tracks_(static_cast<size_t>(options.members)) {}

bool SimulationRunner::Fail(const std::string& message) {
  if (!refusal_printed_.exchange(true)) std::cerr << "loyaltyctl: " << message << std::endl;
  return false;
}

bool SimulationRunner::Check(const CallResult& result, const std::string& what, const std::string& hint) {
  retries_ += result.attempts - 1;
  if (result.status.ok()) return true;
  if (!refusal_printed_.exchange(true)) {
    std::cerr << "loyaltyctl: " << what << " failed";
    if (result.attempts > 1) std::cerr << " after " << result.attempts << " attempts";
    std::cerr << ": " << StatusCodeName(result.status.error_code()) << ": "
              << result.status.error_message() << std::endl;
    if (!hint.empty() && IsAuthProblem(result.status.error_code())) {
      std::cerr << "loyaltyctl: (" << hint << ")" << std::endl;
    }
    if (result.status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      std::cerr << "loyaltyctl: (transaction ids depend only on --seed, and event times on the day:"
                << " this server already holds a run with seed " << options_.seed
                << " from another day, or from today with other loyalty discounts than they are now;"
                << " use another --seed or a fresh data directory, or give the runs of one day the same"
                << " --journal)" << std::endl;
    }
  }
  return false;
}

bool SimulationRunner::GetProgram(v1::Program& program) {
  const auto result = CallWithRetry(options_.admin_token, [&](grpc::ClientContext* context) {
    return admin_->GetProgram(context, v1::GetProgramRequest(), &program);
  });
  if (!Check(result, loyalty::StrCat("AdminService.GetProgram on ", options_.target),
             "is --admin-token an admin credential of this loyaltyd?")) {
    return false;
  }
  // Rewards for a category the catalogue does not sell cannot be used.
  rewards_.clear();
  for (const auto& r : program.rewards()) {
    const bool usable = r.categories().empty() ||
                        std::any_of(r.categories().begin(), r.categories().end(),
                                    [](const std::string& c) { return CatalogueLine(c, 0).has_value(); });
    if (usable) rewards_.push_back({r.id(), r.cost_points(), {r.categories().begin(), r.categories().end()}});
  }
  return true;
}

bool SimulationRunner::GetFigures(v1::ProgramFigures& figures) {
  const auto result = CallWithRetry(options_.admin_token, [&](grpc::ClientContext* context) {
    return admin_->GetFigures(context, v1::GetFiguresRequest(), &figures);
  });
  return Check(result, "AdminService.GetFigures");
}

bool SimulationRunner::Enroll(const std::vector<v1::EnrollMemberRequest>& enrollments) {
  ProgressReporter progress([&](double) {
    return loyalty::StrCat("simulate: enrolled ", members_enrolled_.load(), "/", enrollments.size(),
                           " members");
  });
  return ForEachInOrder(enrollments.size(), options_.concurrency, [&](size_t i) {
    v1::EnrollMemberResponse response;
    const auto result = CallWithRetry(options_.admin_token, [&](grpc::ClientContext* context) {
      return admin_->EnrollMember(context, enrollments[i], &response);
    });
    if (!Check(result, "AdminService.EnrollMember " + enrollments[i].member_id())) return false;
    ++members_enrolled_;
    if (response.created()) ++members_created_;
    return true;
  });
}

bool SimulationRunner::SendEvents(const std::vector<PlannedEvent>& events) {
  CompletionBoard board(events.size());
  std::atomic<size_t> latest_started{0};  // for the progress line; tasks start in order
  int64_t acknowledged_at_last_line = 0;
  const auto event_count = std::count_if(events.begin(), events.end(), [](const PlannedEvent& e) {
    return !e.IsAppOpening();
  });
  ProgressReporter progress([&](double seconds) {
    const int64_t acknowledged = events_acknowledged_.load();
    const int64_t per_second = static_cast<int64_t>((acknowledged - acknowledged_at_last_line) / seconds);
    acknowledged_at_last_line = acknowledged;
    const int64_t simulated_day = events.empty() ? 0 : events[latest_started.load()].at_seconds;
    return loyalty::StrCat("simulate: at ", UtcDate(simulated_day), "  ", acknowledged, "/", event_count,
                           " events sent  ", per_second, " events/s");
  });
  return ForEachInOrder(events.size(), options_.concurrency, [&](size_t i) {
    latest_started.store(i);
    const int wait_for = events[i].wait_for;
    if (wait_for >= 0 && !board.WaitDone(static_cast<size_t>(wait_for))) return false;
    if (!SendStep(events[i], i)) {
      board.Abandon();
      return false;
    }
    board.MarkDone(i);
    return true;
  });
}

bool SimulationRunner::SendStep(const PlannedEvent& planned, size_t index) {
  if (planned.IsAppOpening()) return OpenApp(planned);
  if (planned.event.has_sale()) {
    return planned.event.sale().has_member() ? SendMemberSale(planned, index) : SendAnonymousSale(planned);
  }
  if (planned.event.has_return_()) return SendReturn(planned);
  return SendVoid(planned);
}

// Anonymous: no discounts, the plan's total (the sum of the lines).
bool SimulationRunner::SendAnonymousSale(const PlannedEvent& planned) {
  v1::RecordSaleRequest request;
  *request.mutable_sale() = planned.event.sale();
  v1::EventOutcome outcome;
  const auto result = CallWithRetry(TerminalToken(planned.store), [&](grpc::ClientContext* context) {
    return pos_->RecordSale(context, request, &outcome);
  });
  if (!Check(result, Describe(planned), TerminalHint(planned.store))) return false;
  ++sales_;
  ++anonymous_sales_;
  CountOutcome(outcome, result);
  return true;
}

bool SimulationRunner::SendMemberSale(const PlannedEvent& planned, size_t index) {
  MemberTrack& track = tracks_[static_cast<size_t>(planned.member_index)];
  v1::Sale sale;
  bool evaluate = true;
  if (auto journaled = journal_.Find(planned.event.sale().ref())) {
    sale = std::move(*journaled);  // first as sent before: answered as a replay
    evaluate = false;
    ++journal_sales_;
  } else {
    sale = planned.event.sale();
    UseHeldCode(track, sale, index);
  }
  v1::EventOutcome outcome;
  CallResult result;
  for (int attempt = 1;; ++attempt) {
    if (attempt > kMaxSaleAttempts) {
      return Fail(loyalty::StrCat(Describe(planned), ": the loyalty discounts changed between evaluation and ",
                                  "recording ", kMaxSaleAttempts, " times; last answer: ",
                                  StatusCodeName(result.status.error_code()), ": ", result.status.error_message()));
    }
    if (evaluate && !Evaluate(planned, track, sale)) return false;
    evaluate = true;
    if (!journal_.Write(sale)) return Fail(loyalty::StrCat("--journal ", options_.journal, ": write failed"));
    v1::RecordSaleRequest request;
    *request.mutable_sale() = sale;
    outcome.Clear();
    result = CallWithRetry(TerminalToken(planned.store), [&](grpc::ClientContext* context) {
      return pos_->RecordSale(context, request, &outcome);
    });
    if (result.status.ok()) break;
    if (DiscountsChanged(result.status, sale)) {
      CountAttempts(result);
      ++reevaluations_;
      continue;
    }
    if (IsCodeRefusal(result.status) && sale.redemption_codes_size() > 0) {
      CountAttempts(result);
      DropCodes(track, sale, result.status);
      continue;
    }
    return Check(result, Describe(planned), TerminalHint(planned.store));
  }
  CountAttempts(result);
  ++sales_;
  discounts_minor_ += outcome.discount_total_minor();
  if (outcome.applied_offer_ids_size() > 0) ++sales_with_offers_;
  if (sale.redemption_codes_size() > 0) {
    std::vector<HeldCode> used;
    for (const auto& code : sale.redemption_codes()) {
      const auto held = std::find_if(track.codes.begin(), track.codes.end(),
                                     [&](const HeldCode& h) { return h.code == code; });
      if (held == track.codes.end()) continue;  // a journaled sale of codes from elsewhere
      used.push_back(std::move(*held));
      track.codes.erase(held);
    }
    codes_used_ += sale.redemption_codes_size();
    std::lock_guard<std::mutex> lock(codes_mu_);
    codes_of_sale_[RefText(sale.ref())] = std::move(used);
  }
  track.available_points = outcome.balance().available_points();
  CountOutcome(outcome, result);
  return MaybeRedeem(planned, track, index);
}

void SimulationRunner::UseHeldCode(const MemberTrack& track, v1::Sale& sale, size_t index) const {
  if (track.codes.empty()) return;
  const HeldCode& held = track.codes.front();
  const auto& categories = held.reward.categories;
  const bool matched = categories.empty() || std::any_of(sale.lines().begin(), sale.lines().end(), [&](const auto& l) {
                         return std::find(categories.begin(), categories.end(), l.category()) != categories.end();
                       });
  if (!matched) {
    for (const auto& category : categories) {
      if (auto line = CatalogueLine(category, index)) {
        *sale.add_lines() = std::move(*line);
        break;
      }
    }
  }
  sale.add_redemption_codes(held.code);
}

bool SimulationRunner::Evaluate(const PlannedEvent& planned, MemberTrack& track, v1::Sale& sale) {
  for (;;) {
    v1::EvaluateBasketRequest request;
    request.set_store_id(sale.ref().store_id());
    *request.mutable_member() = sale.member();
    request.set_currency(sale.currency());
    *request.mutable_lines() = sale.lines();
    *request.mutable_at() = sale.occurred_at();
    *request.mutable_redemption_codes() = sale.redemption_codes();
    v1::BasketEvaluation evaluation;
    const auto result = CallWithRetry(TerminalToken(planned.store), [&](grpc::ClientContext* context) {
      return pos_->EvaluateBasket(context, request, &evaluation);
    });
    if (result.status.ok()) {
      CountAttempts(result);
      ++evaluations_;
      SetTotal(sale, evaluation.total_to_pay_minor());
      return true;
    }
    if (IsCodeRefusal(result.status) && sale.redemption_codes_size() > 0) {
      CountAttempts(result);
      DropCodes(track, sale, result.status);
      continue;
    }
    return Check(result, "PosService.EvaluateBasket before " + Describe(planned), TerminalHint(planned.store));
  }
}

void SimulationRunner::DropCodes(MemberTrack& track, v1::Sale& sale, const grpc::Status& status) {
  codes_refused_ += sale.redemption_codes_size();
  // "matches no line of this basket": the code is still good for another one.
  if (!Contains(status.error_message(), "matches no line")) {
    for (const auto& code : sale.redemption_codes()) {
      track.codes.erase(std::remove_if(track.codes.begin(), track.codes.end(),
                                       [&](const HeldCode& h) { return h.code == code; }),
                        track.codes.end());
    }
  }
  sale.clear_redemption_codes();
}

bool SimulationRunner::MaybeRedeem(const PlannedEvent& planned, MemberTrack& track, size_t index) {
  if (!track.codes.empty()) return true;  // one code at a time
  std::mt19937_64 redeemer = DecisionStream(options_.seed, kRedeemerStream, static_cast<size_t>(planned.member_index));
  if (std::uniform_real_distribution<double>(0.0, 1.0)(redeemer) >= kRedeemerShare) return true;
  std::vector<const Reward*> affordable;
  for (const auto& r : rewards_) {
    if (r.cost_points <= track.available_points) affordable.push_back(&r);
  }
  if (affordable.empty()) return true;
  std::mt19937_64 rng = DecisionStream(options_.seed, kRedeemStream, index);
  if (std::uniform_real_distribution<double>(0.0, 1.0)(rng) >= kRedeemChance) return true;
  const Reward& reward =
      *affordable[std::uniform_int_distribution<size_t>(0, affordable.size() - 1)(rng)];
  v1::RedeemRequest request;
  request.set_member_id(planned.member_id);
  request.set_reward_id(reward.id);
  // The same decision in a later run gets the same code back.
  request.set_request_id(planned.event.sale().ref().transaction_id() + "-redeem");
  v1::RedeemResponse response;
  const auto result = CallWithRetry(options_.admin_token, [&](grpc::ClientContext* context) {
    return members_->Redeem(context, request, &response);
  });
  if (result.status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {  // points or stock short
    CountAttempts(result);
    ++redemptions_refused_;
    return true;
  }
  if (!Check(result, loyalty::StrCat("MemberService.Redeem ", reward.id, " for ", planned.member_id),
             "is --admin-token an admin credential of this loyaltyd?")) {
    return false;
  }
  ++codes_redeemed_;
  points_spent_ += response.points_spent();
  track.available_points = response.balance().available_points();
  track.codes.push_back({response.code(), reward});
  return true;
}

bool SimulationRunner::OpenApp(const PlannedEvent& planned) {
  v1::ListOffersRequest request;
  request.set_member_id(planned.member_id);
  v1::ListOffersResponse response;
  const auto result = CallWithRetry(options_.admin_token, [&](grpc::ClientContext* context) {
    return members_->ListOffers(context, request, &response);
  });
  if (!Check(result, "MemberService.ListOffers for " + planned.member_id,
             "is --admin-token an admin credential of this loyaltyd?")) {
    return false;
  }
  ++offer_listings_;
  offers_listed_ += response.offers_size();
  return true;
}

bool SimulationRunner::SendReturn(const PlannedEvent& planned) {
  v1::RecordReturnRequest request;
  *request.mutable_return_() = planned.event.return_();
  v1::EventOutcome outcome;
  const auto result = CallWithRetry(TerminalToken(planned.store), [&](grpc::ClientContext* context) {
    return pos_->RecordReturn(context, request, &outcome);
  });
  if (!Check(result, Describe(planned), TerminalHint(planned.store))) return false;
  ++returns_;
  if (planned.member_index >= 0) {
    tracks_[static_cast<size_t>(planned.member_index)].available_points = outcome.balance().available_points();
  }
  CountOutcome(outcome, result);
  return true;
}

bool SimulationRunner::SendVoid(const PlannedEvent& planned) {
  v1::VoidSaleRequest request;
  *request.mutable_void_() = planned.event.void_();
  v1::EventOutcome outcome;
  const auto result = CallWithRetry(TerminalToken(planned.store), [&](grpc::ClientContext* context) {
    return pos_->VoidSale(context, request, &outcome);
  });
  if (!Check(result, Describe(planned), TerminalHint(planned.store))) return false;
  ++voids_;
  if (planned.member_index >= 0) {
    // The void gave back the codes the sale used.
    MemberTrack& track = tracks_[static_cast<size_t>(planned.member_index)];
    track.available_points = outcome.balance().available_points();
    std::vector<HeldCode> given_back;
    {
      std::lock_guard<std::mutex> lock(codes_mu_);
      const auto it = codes_of_sale_.find(RefText(request.void_().original()));
      if (it != codes_of_sale_.end()) given_back = std::move(it->second);
    }
    codes_given_back_ += static_cast<int64_t>(given_back.size());
    for (auto& held : given_back) track.codes.push_back(std::move(held));
  }
  CountOutcome(outcome, result);
  return true;
}

void SimulationRunner::CountOutcome(const v1::EventOutcome& outcome, const CallResult& result) {
  points_earned_ += outcome.points_earned();
  points_reversed_ += outcome.points_reversed();
  if (result.replayed) ++replays_;
  ++events_acknowledged_;
}

std::string SimulationRunner::TerminalToken(int store) const {
  return loyalty::StrCat(options_.terminal_token_prefix, store);
}

std::string SimulationRunner::TerminalHint(int store) const {
  return loyalty::StrCat("store-", store, " calls with --terminal-token-prefix followed by '", store,
                         "'; is that a terminal credential of store-", store, " in this loyaltyd?");
}

std::vector<CountLine> SimulationRunner::Counts() const {
  return {
      {"members_enrolled", "members enrolled", members_enrolled_.load()},
      {"members_created", "  of them new", members_created_.load()},
      {"events", "events acknowledged", events_acknowledged_.load()},
      {"sales", "sales", sales_.load()},
      {"anonymous_sales", "  of them anonymous", anonymous_sales_.load()},
      {"returns", "returns", returns_.load()},
      {"voids", "voids", voids_.load()},
      {"points_earned", "points earned (acknowledged)", points_earned_.load()},
      {"points_reversed", "points reversed (acknowledged)", points_reversed_.load()},
      {"points_net", "points earned - reversed", points_earned_.load() - points_reversed_.load()},
      {"replays", "replayed answers", replays_.load()},
      {"retries", "retried calls", retries_.load()},
      {"evaluations", "basket evaluations", evaluations_.load()},
      {"reevaluations", "  again, as the discounts had changed", reevaluations_.load()},
      {"journal_sales", "member sales sent as journaled", journal_sales_.load()},
      {"sales_with_offers", "sales with offers applied", sales_with_offers_.load()},
      {"discounts_minor", "loyalty discounts given (minor units)", discounts_minor_.load()},
      {"codes_redeemed", "reward codes redeemed", codes_redeemed_.load()},
      {"redemptions_refused", "  redemptions refused (points, stock)", redemptions_refused_.load()},
      {"points_spent", "points spent on rewards", points_spent_.load()},
      {"codes_used", "reward codes used in sales", codes_used_.load()},
      {"codes_given_back", "  given back by voids", codes_given_back_.load()},
      {"codes_refused", "codes refused at the terminal", codes_refused_.load()},
      {"points_held", "points earned - reversed - spent",
       points_earned_.load() - points_reversed_.load() - points_spent_.load()},
      {"offer_listings", "offer listings (app openings)", offer_listings_.load()},
      {"offers_listed", "  offers listed in them", offers_listed_.load()},
  };
}

}  // namespace loyalty::tools
