// tools/simulate_plan.cc: builds the simulation plan (see simulate_plan.h):
// a catalogue, shoppers with heavy-tailed visit rates and favourite
// categories, their baskets, anonymous sales, the returns and voids that
// follow some sales, and the members who open the app about once a week.
//
// Randomness comes from seeded std::mt19937_64 streams, one per member and
// one per other concern, so adding members or changing the return share
// does not change what the other members buy.
#include "tools/simulate_plan.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <tuple>
#include <utility>

#include "base/str_cat.h"

namespace loyalty::tools {
namespace {

namespace v1 = loyalty::v1;

constexpr int64_t kSecondsPerDay = 86400;
constexpr double kDaysPerMonth = 30.4375;
constexpr int kTerminalsPerStore = 3;             // "t-1".."t-3"
constexpr int kEnrollmentSpreadDays = 730;        // members enrolled up to 2 years before
constexpr int64_t kOpensAtSecond = 8 * 3600;      // stores open 08:00..20:00 UTC
constexpr int64_t kClosesAtSecond = 20 * 3600;
constexpr double kAnonymousShare = 0.10;          // of all sales
constexpr double kVoidShare = 0.005;              // of all sales
constexpr double kHomeStoreShare = 0.8;           // visits at the member's usual store
constexpr double kFavouriteCategoryShare = 0.7;   // basket lines from favourite categories
constexpr double kDiscountedLineShare = 0.1;
constexpr double kAppUserShare = 0.2;             // members who open the app ..
constexpr int kAppMinDaysBetween = 5;             // .. every 5 to 9 days
constexpr int kAppMaxDaysBetween = 9;
constexpr int64_t kAppFromSecond = 7 * 3600;      // between 07:00 and 23:00 UTC
constexpr int64_t kAppUntilSecond = 23 * 3600;
constexpr const char* kCurrency = "EUR";

// Visits per month: lognormal with median 0.35 and sigma 1.2. Over six
// months the median member comes about twice; about 2% come weekly or more.
constexpr double kMedianVisitsPerMonth = 0.35;
constexpr double kVisitRateSigma = 1.2;
constexpr double kMaxVisitsPerMonth = 13.0;       // three times a week

// Seed streams, one per concern; members use their index (< 1,000,000).
constexpr uint64_t kAnonymousStream = 1'000'001;
constexpr uint64_t kAftermathStream = 1'000'002;
constexpr uint64_t kAppStreamBase = 2'000'000;    // + member index
constexpr uint64_t kBirthdayStreamBase = 3'000'000;  // + member index
constexpr double kBirthdayShare = 0.7;            // members who give their birthday

struct Product {
  const char* sku;
  int64_t unit_price_minor;
};

struct Category {
  const char* name;
  std::array<Product, 5> products;
};

constexpr std::array<Category, 7> kCatalogue = {{
    {"coffee", {{{"espresso-beans-1kg", 1899}, {"ground-coffee-500g", 749}, {"cappuccino", 320},
                 {"latte", 350}, {"cold-brew", 399}}}},
    {"bakery", {{{"sourdough", 450}, {"croissant", 145}, {"baguette", 189}, {"rye-bread", 329},
                 {"cinnamon-roll", 229}}}},
    {"dairy", {{{"milk-1l", 119}, {"yogurt", 89}, {"butter", 249}, {"cheddar", 399},
                {"eggs-10", 329}}}},
    {"produce", {{{"apples-1kg", 299}, {"bananas", 199}, {"tomatoes", 349}, {"salad", 149},
                  {"avocado", 119}}}},
    {"household", {{{"detergent", 899}, {"paper-towels", 549}, {"dish-soap", 249}, {"sponges", 199},
                    {"trash-bags", 399}}}},
    {"snacks", {{{"chips", 229}, {"chocolate", 179}, {"nuts", 449}, {"cookies", 259},
                 {"gummies", 129}}}},
    {"wine", {{{"rioja", 1299}, {"riesling", 999}, {"prosecco", 1149}, {"bordeaux", 2499},
               {"rose", 849}}}},
}};

// How one member shops.
struct Shopper {
  int member_index = 0;                   // 0-based
  double visits_per_month = 0;
  int home_store = 1;
  std::vector<int> favourite_categories;  // indices into kCatalogue
};

// An event before ordering: its reference is assigned once the order is known.
struct DraftEvent {
  int64_t at_seconds = 0;
  int store = 0;
  int terminal = 0;
  int member_index = -1;   // -1: anonymous
  int original = -1;       // returns and voids: draft index of the sale
  v1::BacklogEvent event;  // unset: the member opens the app
};

std::mt19937_64 Stream(uint64_t seed, uint64_t purpose) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(purpose), static_cast<uint32_t>(purpose >> 32)};
  return std::mt19937_64(seq);
}

int UniformInt(std::mt19937_64& rng, int min, int max) {
  return std::uniform_int_distribution<int>(min, max)(rng);
}

int64_t UniformInt64(std::mt19937_64& rng, int64_t min, int64_t max) {
  return std::uniform_int_distribution<int64_t>(min, max)(rng);
}

bool Chance(std::mt19937_64& rng, double probability) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < probability;
}

std::string ZeroPadded(int64_t n, size_t width) {
  std::string digits = loyalty::StrCat(n);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

google::protobuf::Timestamp TimestampAt(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

int64_t LineNet(const v1::LineItem& line) {
  return line.quantity() * line.unit_price_minor() - line.discount_minor();
}

// Builds the whole plan; one instance per MakePlan call.
class Planner {
 public:
  Planner(const SimulateOptions& options, int64_t period_end_seconds)
      : options_(options),
        period_end_(period_end_seconds),
        period_days_(static_cast<int>(std::lround(options.months * kDaysPerMonth))),
        period_start_(period_end_seconds - period_days_ * kSecondsPerDay) {}

  SimulationPlan Make() {
    SimulationPlan plan;
    plan.period_start_seconds = period_start_;
    plan.period_end_seconds = period_end_;
    for (int i = 0; i < options_.members; ++i) {
      std::mt19937_64 rng = Stream(options_.seed, static_cast<uint64_t>(i));
      plan.enrollments.push_back(MakeEnrollment(i, rng));
      PlanVisits(MakeShopper(i, rng), rng);
    }
    PlanAnonymousSales();
    PlanReturnsAndVoids();
    for (int i = 0; i < options_.members; ++i) PlanAppOpenings(i);
    plan.events = Ordered();
    for (const auto& e : plan.events) plan.app_openings += e.IsAppOpening() ? 1 : 0;
    return plan;
  }

 private:
  static std::string MemberId(int index) { return "sim-m-" + ZeroPadded(index + 1, 6); }
  static std::string CardNumber(int index) { return "6100" + ZeroPadded(index + 1, 12); }
  static std::string Phone(int index) { return "+49170" + ZeroPadded(index + 1, 8); }

  v1::EnrollMemberRequest MakeEnrollment(int index, std::mt19937_64& rng) const {
    v1::EnrollMemberRequest request;
    request.set_member_id(MemberId(index));
    request.set_display_name("Sim Member " + ZeroPadded(index + 1, 6));
    request.set_card_number(CardNumber(index));
    request.set_phone(Phone(index));
    const int64_t tenure = UniformInt64(rng, kSecondsPerDay, kEnrollmentSpreadDays * kSecondsPerDay);
    *request.mutable_enrolled_at() = TimestampAt(period_start_ - tenure);
    // From its own stream, so that the member's baskets stay the same.
    std::mt19937_64 birthday_rng = Stream(options_.seed, kBirthdayStreamBase + static_cast<uint64_t>(index));
    if (Chance(birthday_rng, kBirthdayShare)) {
      request.set_birthday(ZeroPadded(UniformInt(birthday_rng, 1, 12), 2) + "-" +
                           ZeroPadded(UniformInt(birthday_rng, 1, 28), 2));
    }
    return request;
  }

  Shopper MakeShopper(int index, std::mt19937_64& rng) const {
    Shopper shopper;
    shopper.member_index = index;
    std::lognormal_distribution<double> rate(std::log(kMedianVisitsPerMonth), kVisitRateSigma);
    shopper.visits_per_month = std::min(rate(rng), kMaxVisitsPerMonth);
    shopper.home_store = UniformInt(rng, 1, options_.stores);
    std::vector<int> categories(kCatalogue.size());
    std::iota(categories.begin(), categories.end(), 0);
    std::shuffle(categories.begin(), categories.end(), rng);
    categories.resize(UniformInt(rng, 1, 3));
    shopper.favourite_categories = std::move(categories);
    return shopper;
  }

  void PlanVisits(const Shopper& shopper, std::mt19937_64& rng) {
    std::poisson_distribution<int> visit_count(shopper.visits_per_month * options_.months);
    const int visits = visit_count(rng);
    for (int v = 0; v < visits; ++v) {
      const int store = Chance(rng, kHomeStoreShare) ? shopper.home_store : UniformInt(rng, 1, options_.stores);
      v1::Sale sale = MakeSale(shopper.favourite_categories, rng);
      *sale.mutable_member() = IdentifierOf(shopper.member_index, rng);
      AddSale(OpeningHoursTime(rng), store, shopper.member_index, std::move(sale), rng);
    }
  }

  // 10% of all sales are anonymous: member sales / 0.9 * 0.1 of them.
  void PlanAnonymousSales() {
    std::mt19937_64 rng = Stream(options_.seed, kAnonymousStream);
    const auto count = static_cast<int>(std::lround(drafts_.size() * kAnonymousShare / (1 - kAnonymousShare)));
    for (int i = 0; i < count; ++i) {
      const int store = UniformInt(rng, 1, options_.stores);
      AddSale(OpeningHoursTime(rng), store, -1, MakeSale({}, rng), rng);
    }
  }

  // Each sale is voided soon after with kVoidShare, otherwise followed by a
  // return of some of its lines with the return share. Never both: a voided
  // sale cannot be returned.
  void PlanReturnsAndVoids() {
    std::mt19937_64 rng = Stream(options_.seed, kAftermathStream);
    const double return_share = options_.return_share_percent / 100.0;
    const size_t sales = drafts_.size();
    for (size_t i = 0; i < sales; ++i) {
      const double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      if (draw < kVoidShare) {
        AddVoid(static_cast<int>(i), rng);
      } else if (draw < kVoidShare + return_share) {
        AddReturn(static_cast<int>(i), rng);
      }
    }
  }

  // kAppUserShare of the members open the app (and see their offers) every
  // few days, from their own random stream so the baskets stay the same.
  void PlanAppOpenings(int member_index) {
    std::mt19937_64 rng = Stream(options_.seed, kAppStreamBase + static_cast<uint64_t>(member_index));
    if (!Chance(rng, kAppUserShare)) return;
    for (int day = UniformInt(rng, 0, kAppMaxDaysBetween - 1); day < period_days_;
         day += UniformInt(rng, kAppMinDaysBetween, kAppMaxDaysBetween)) {
      DraftEvent draft;
      draft.at_seconds = period_start_ + day * kSecondsPerDay + UniformInt64(rng, kAppFromSecond, kAppUntilSecond - 1);
      draft.member_index = member_index;
      drafts_.push_back(std::move(draft));
    }
  }

  // A time on one of the period's days, during opening hours.
  int64_t OpeningHoursTime(std::mt19937_64& rng) const {
    const int day = UniformInt(rng, 0, period_days_ - 1);
    return period_start_ + day * kSecondsPerDay + UniformInt64(rng, kOpensAtSecond, kClosesAtSecond - 1);
  }

  // Mostly the card; sometimes the phone number or the member id.
  static v1::MemberIdentifier IdentifierOf(int member_index, std::mt19937_64& rng) {
    v1::MemberIdentifier id;
    const int draw = UniformInt(rng, 1, 100);
    if (draw <= 80) {
      id.set_card_number(CardNumber(member_index));
    } else if (draw <= 95) {
      id.set_phone(Phone(member_index));
    } else {
      id.set_member_id(MemberId(member_index));
    }
    return id;
  }

  // A basket of 1..10 lines (3 on average), mostly from the favourite
  // categories (any category when there are none), paid by card or cash.
  static v1::Sale MakeSale(const std::vector<int>& favourites, std::mt19937_64& rng) {
    v1::Sale sale;
    sale.set_currency(kCurrency);
    const int lines = 1 + std::binomial_distribution<int>(9, 0.25)(rng);
    for (int l = 0; l < lines; ++l) *sale.add_lines() = MakeLine(favourites, rng);
    int64_t total = 0;
    for (const auto& line : sale.lines()) total += LineNet(line);
    sale.set_total_minor(total);
    if (total > 0) {
      auto* tender = sale.add_tenders();
      tender->set_type(Chance(rng, 0.7) ? v1::TENDER_TYPE_CARD : v1::TENDER_TYPE_CASH);
      tender->set_amount_minor(total);
    }
    return sale;
  }

  static v1::LineItem MakeLine(const std::vector<int>& favourites, std::mt19937_64& rng) {
    const bool favourite = !favourites.empty() && Chance(rng, kFavouriteCategoryShare);
    const int category_index = favourite ? favourites[UniformInt(rng, 0, static_cast<int>(favourites.size()) - 1)]
                                         : UniformInt(rng, 0, static_cast<int>(kCatalogue.size()) - 1);
    const Category& category = kCatalogue[category_index];
    const Product& product = category.products[UniformInt(rng, 0, static_cast<int>(category.products.size()) - 1)];
    v1::LineItem line;
    line.set_sku(product.sku);
    line.set_category(category.name);
    line.set_quantity(Quantity(rng));
    line.set_unit_price_minor(product.unit_price_minor);
    if (Chance(rng, kDiscountedLineShare)) {
      const int percent_off = 10 * UniformInt(rng, 1, 3);
      line.set_discount_minor(line.quantity() * line.unit_price_minor() * percent_off / 100);
    }
    return line;
  }

  // 1 unit three times in four, 2 units often, up to 6 rarely.
  static int Quantity(std::mt19937_64& rng) {
    const int draw = UniformInt(rng, 1, 100);
    if (draw <= 75) return 1;
    if (draw <= 92) return 2;
    return UniformInt(rng, 3, 6);
  }

  void AddSale(int64_t at, int store, int member_index, v1::Sale sale, std::mt19937_64& rng) {
    DraftEvent draft;
    draft.at_seconds = at;
    draft.store = store;
    draft.terminal = UniformInt(rng, 1, kTerminalsPerStore);
    draft.member_index = member_index;
    *draft.event.mutable_sale() = std::move(sale);
    drafts_.push_back(std::move(draft));
  }

  // Returns some units of one line (usually) or of several, 1 hour to 14
  // days later, at the same store.
  void AddReturn(int sale_index, std::mt19937_64& rng) {
    const DraftEvent& sale = drafts_[sale_index];
    const auto& sold_lines = sale.event.sale().lines();
    std::vector<int> line_indices(sold_lines.size());
    std::iota(line_indices.begin(), line_indices.end(), 0);
    std::shuffle(line_indices.begin(), line_indices.end(), rng);
    line_indices.resize(Chance(rng, 0.7) ? 1 : UniformInt(rng, 1, static_cast<int>(line_indices.size())));
    std::sort(line_indices.begin(), line_indices.end());

    DraftEvent draft;
    draft.at_seconds = std::min(sale.at_seconds + UniformInt64(rng, 3600, 14 * kSecondsPerDay), period_end_ - 60);
    draft.store = sale.store;
    draft.terminal = UniformInt(rng, 1, kTerminalsPerStore);
    draft.member_index = sale.member_index;
    draft.original = sale_index;
    auto* ret = draft.event.mutable_return_();
    for (int index : line_indices) {
      auto* line = ret->add_lines();
      line->set_line_index(static_cast<uint32_t>(index));
      line->set_quantity(UniformInt(rng, 1, sold_lines[index].quantity()));
    }
    drafts_.push_back(std::move(draft));
  }

  // Cancels the sale 1 to 10 minutes later, at the same till.
  void AddVoid(int sale_index, std::mt19937_64& rng) {
    const DraftEvent& sale = drafts_[sale_index];
    DraftEvent draft;
    draft.at_seconds = sale.at_seconds + UniformInt64(rng, 60, 600);
    draft.store = sale.store;
    draft.terminal = sale.terminal;
    draft.member_index = sale.member_index;
    draft.original = sale_index;
    draft.event.mutable_void_()->set_reason(Chance(rng, 0.5) ? "cashier error" : "customer cancelled");
    drafts_.push_back(std::move(draft));
  }

  // Sorts the drafts by time (a sale before its return or void, which are
  // always later), then gives each its reference, its time and what it waits
  // for. Transaction ids number the events (not the app openings) in time
  // order.
  std::vector<PlannedEvent> Ordered() {
    std::vector<int> order(drafts_.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return std::tie(drafts_[a].at_seconds, a) < std::tie(drafts_[b].at_seconds, b);
    });
    std::vector<int> position_of_draft(drafts_.size());
    std::vector<int> last_event_of_member(options_.members, -1);
    std::vector<PlannedEvent> events;
    events.reserve(drafts_.size());
    int numbered = 0;  // events (not app openings) so far
    for (int draft_index : order) {
      DraftEvent& draft = drafts_[draft_index];
      const int position = static_cast<int>(events.size());
      position_of_draft[draft_index] = position;
      const bool app_opening = draft.event.event_case() == v1::BacklogEvent::EVENT_NOT_SET;
      const v1::TransactionRef ref = app_opening ? v1::TransactionRef() : Ref(draft, numbered++);
      PlannedEvent planned;
      planned.at_seconds = draft.at_seconds;
      planned.store = draft.store;
      planned.member_index = draft.member_index;
      if (draft.member_index >= 0) planned.member_id = MemberId(draft.member_index);
      planned.event = std::move(draft.event);
      const int original = draft.original < 0 ? -1 : position_of_draft[draft.original];
      if (!app_opening) FillRefAndTime(planned, ref, original < 0 ? nullptr : &events[original]);
      if (draft.member_index >= 0) {
        planned.wait_for = std::exchange(last_event_of_member[draft.member_index], position);
      } else {
        planned.wait_for = original;
      }
      events.push_back(std::move(planned));
    }
    return events;
  }

  v1::TransactionRef Ref(const DraftEvent& draft, int position) const {
    const char kind = draft.event.has_sale() ? 's' : draft.event.has_return_() ? 'r' : 'v';
    v1::TransactionRef ref;
    ref.set_store_id(loyalty::StrCat("store-", draft.store));
    ref.set_terminal_id(loyalty::StrCat("t-", draft.terminal));
    ref.set_transaction_id(loyalty::StrCat("sim", options_.seed, "-", kind, ZeroPadded(position + 1, 7)));
    return ref;
  }

  static void FillRefAndTime(PlannedEvent& planned, const v1::TransactionRef& ref,
                             const PlannedEvent* original) {
    const auto at = TimestampAt(planned.at_seconds);
    auto& e = planned.event;
    if (e.has_sale()) {
      *e.mutable_sale()->mutable_ref() = ref;
      *e.mutable_sale()->mutable_occurred_at() = at;
    } else if (e.has_return_()) {
      *e.mutable_return_()->mutable_ref() = ref;
      *e.mutable_return_()->mutable_occurred_at() = at;
      *e.mutable_return_()->mutable_original() = original->event.sale().ref();
    } else {
      *e.mutable_void_()->mutable_ref() = ref;
      *e.mutable_void_()->mutable_occurred_at() = at;
      *e.mutable_void_()->mutable_original() = original->event.sale().ref();
    }
  }

  const SimulateOptions& options_;
  const int64_t period_end_;
  const int period_days_;
  const int64_t period_start_;
  std::vector<DraftEvent> drafts_;  // sales first, then returns and voids
};

}  // namespace

SimulationPlan MakePlan(const SimulateOptions& options, int64_t period_end_seconds) {
  return Planner(options, period_end_seconds).Make();
}

int64_t StartOfTodayUtc() {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return now - now % kSecondsPerDay;
}

std::optional<v1::LineItem> CatalogueLine(const std::string& category, uint64_t n) {
  for (const Category& c : kCatalogue) {
    if (category != c.name) continue;
    const Product& product = c.products[n % c.products.size()];
    v1::LineItem line;
    line.set_sku(product.sku);
    line.set_category(c.name);
    line.set_quantity(1);
    line.set_unit_price_minor(product.unit_price_minor);
    return line;
  }
  return std::nullopt;
}

std::string UtcDate(int64_t seconds) {
  const auto days = std::chrono::sys_days(std::chrono::days(seconds / kSecondsPerDay));
  const std::chrono::year_month_day date(days);
  return loyalty::StrCat(static_cast<int>(date.year()), "-",
                         ZeroPadded(static_cast<unsigned>(date.month()), 2), "-",
                         ZeroPadded(static_cast<unsigned>(date.day()), 2));
}

}  // namespace loyalty::tools
