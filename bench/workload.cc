// bench/workload.cc: see workload.h.
#include "bench/workload.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <thread>

#include "base/str_cat.h"

namespace loyalty::bench {
namespace {

constexpr int kSkusPerCategory = 40;
constexpr double kHomeStoreShare = 0.8;
constexpr double kDiscountedLineShare = 0.1;  // store's own line discounts
constexpr double kVisitRateSigma = 1.2;
// Discounted by the benchmark program (bench/run.sh): only in baskets that
// are evaluated first.
constexpr const char* kDiscountedCategory = "deli";
constexpr std::array<const char*, 7> kCategories = {"coffee",    "bakery", "dairy", "produce",
                                                    "household", "snacks", "wine"};
// Lines per basket 1..10: mostly small baskets (mean about 3.4).
constexpr std::array<int, 10> kLineWeights = {22, 20, 16, 12, 9, 7, 5, 4, 3, 2};

std::atomic<uint64_t> g_seed{1};
std::atomic<uint64_t> g_thread_counter{0};

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string ZeroPadded(int64_t n, size_t width) {
  std::string digits = loyalty::StrCat(n);
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  return digits;
}

int64_t PriceOf(int category, int sku) {
  const uint64_t h = Mix(static_cast<uint64_t>(category) * 1000 + static_cast<uint64_t>(sku));
  const int64_t base = category == 6 ? 600 : 80;  // wine is dearer
  return base + static_cast<int64_t>(h % 1900);
}

void FillLine(int category_index, const char* category, v1::LineItem* line) {
  const int sku = UniformInt(1, kSkusPerCategory);
  line->set_sku(loyalty::StrCat(category, "-", sku));
  line->set_category(category);
  const int roll = UniformInt(1, 100);
  line->set_quantity(roll <= 75 ? 1 : roll <= 93 ? 2 : UniformInt(3, 5));
  line->set_unit_price_minor(PriceOf(category_index, sku));
  if (Chance(kDiscountedLineShare)) {
    line->set_discount_minor(line->quantity() * line->unit_price_minor() / 10);
  }
}

}  // namespace

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng(Mix(g_seed.load() * 7919 + g_thread_counter.fetch_add(1)));
  return rng;
}

bool Chance(double probability) { return std::uniform_real_distribution<double>(0.0, 1.0)(Rng()) < probability; }

int UniformInt(int min, int max) { return std::uniform_int_distribution<int>(min, max)(Rng()); }

Workload::Workload(const WorkloadOptions& options) : options_(options) {
  g_seed.store(options.seed);
  cumulative_weight_.resize(static_cast<size_t>(std::max(1, options_.members)));
  double total = 0;
  for (size_t m = 0; m < cumulative_weight_.size(); ++m) {
    // Lognormal visit rate from a per-member deterministic normal draw.
    std::mt19937_64 member_rng(Mix(m + 12345));
    const double z = std::normal_distribution<double>(0.0, 1.0)(member_rng);
    total += std::exp(kVisitRateSigma * z);
    cumulative_weight_[m] = total;
  }
}

int Workload::PickMember() const {
  const double x = std::uniform_real_distribution<double>(0.0, cumulative_weight_.back())(Rng());
  const auto it = std::upper_bound(cumulative_weight_.begin(), cumulative_weight_.end(), x);
  return static_cast<int>(std::min<size_t>(it - cumulative_weight_.begin(), cumulative_weight_.size() - 1));
}

int Workload::HomeStore(int member) const {
  return 1 + static_cast<int>(Mix(static_cast<uint64_t>(member) + 777) % static_cast<uint64_t>(options_.stores));
}

int Workload::PickStore(int member) const {
  if (member >= 0 && Chance(kHomeStoreShare)) return HomeStore(member);
  return UniformInt(1, options_.stores);
}

int Workload::PickTerminal() const { return UniformInt(1, options_.terminals_per_store); }

std::string Workload::MemberId(int member) { return loyalty::StrCat("bm-", ZeroPadded(member, 7)); }
std::string Workload::Card(int member) { return loyalty::StrCat("6", ZeroPadded(member, 15)); }
std::string Workload::Phone(int member) { return loyalty::StrCat("+49179", ZeroPadded(member, 8)); }
std::string Workload::StoreId(int store) { return loyalty::StrCat("store-", store); }
std::string Workload::TerminalId(int terminal) { return loyalty::StrCat("t-", terminal); }

v1::EnrollMemberRequest Workload::Enrollment(int member) const {
  v1::EnrollMemberRequest request;
  request.set_member_id(MemberId(member));
  request.set_display_name(loyalty::StrCat("Bench Member ", member));
  request.set_card_number(Card(member));
  request.set_phone(Phone(member));
  // A fixed time (2025-06-01): re-enrolling in a later run is then the same
  // content, a no-op.
  request.mutable_enrolled_at()->set_seconds(1748736000);
  return request;
}

void Workload::Identify(int member, v1::MemberIdentifier* out) const {
  const int roll = UniformInt(1, 10);
  if (roll <= 7) {
    out->set_card_number(Card(member));
  } else if (roll <= 9) {
    out->set_member_id(MemberId(member));
  } else {
    out->set_phone(Phone(member));
  }
}

int64_t Workload::FillBasket(bool discounted, google::protobuf::RepeatedPtrField<v1::LineItem>* lines) const {
  int roll = UniformInt(1, 100);
  int count = 1;
  for (int i = 0; i < 10; ++i) {
    roll -= kLineWeights[i];
    if (roll <= 0) {
      count = i + 1;
      break;
    }
  }
  int64_t net = 0;
  for (int i = 0; i < count; ++i) {
    v1::LineItem* line = lines->Add();
    if (discounted && Chance(0.25)) {
      FillLine(7, kDiscountedCategory, line);
    } else {
      const int c = UniformInt(0, static_cast<int>(kCategories.size()) - 1);
      FillLine(c, kCategories[c], line);
    }
    net += line->quantity() * line->unit_price_minor() - line->discount_minor();
  }
  return net;
}

std::string Workload::NextTransactionId() {
  return loyalty::StrCat(options_.run_id, "-", next_txn_.fetch_add(1, std::memory_order_relaxed));
}

void Workload::SetTimestamp(int64_t seconds_ago, google::protobuf::Timestamp* out) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  out->set_seconds(ns / 1'000'000'000 - seconds_ago);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

v1::Sale Workload::MakeSale(int store, int member, int64_t seconds_ago) {
  v1::Sale sale;
  auto* ref = sale.mutable_ref();
  ref->set_store_id(StoreId(store));
  ref->set_terminal_id(TerminalId(PickTerminal()));
  ref->set_transaction_id(NextTransactionId());
  SetTimestamp(seconds_ago, sale.mutable_occurred_at());
  if (member >= 0) Identify(member, sale.mutable_member());
  sale.set_currency("EUR");
  const int64_t net = FillBasket(false, sale.mutable_lines());
  sale.set_total_minor(net);
  if (net > 0) {
    auto* tender = sale.add_tenders();
    tender->set_type(Chance(0.7) ? v1::TENDER_TYPE_CARD : v1::TENDER_TYPE_CASH);
    tender->set_amount_minor(net);
  }
  return sale;
}

v1::Return Workload::MakeReturn(int store, const v1::TransactionRef& original, int64_t seconds_ago) {
  v1::Return ret;
  auto* ref = ret.mutable_ref();
  ref->set_store_id(StoreId(store));
  ref->set_terminal_id(TerminalId(PickTerminal()));
  ref->set_transaction_id(NextTransactionId());
  SetTimestamp(seconds_ago, ret.mutable_occurred_at());
  *ret.mutable_original() = original;
  auto* line = ret.add_lines();
  line->set_line_index(0);
  line->set_quantity(1);
  return ret;
}

}  // namespace loyalty::bench
