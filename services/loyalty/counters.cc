#include "services/loyalty/counters.h"

#include <cassert>

namespace loyalty {

absl::StatusOr<std::unique_ptr<Counters>> Counters::Load(const storage::Store& store) {
  auto values = store.ReadCounters();
  if (!values.ok()) return values.status();
  auto counters = std::make_unique<Counters>();
  for (auto& [key, value] : *values) counters->values_[key] = value;
  return counters;
}

int64_t Counters::Get(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(key);
  return it == values_.end() ? 0 : it->second;
}

std::map<std::string, int64_t> Counters::WithPrefix(const std::string& prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int64_t> out;
  for (auto it = values_.lower_bound(prefix); it != values_.end() && it->first.starts_with(prefix); ++it) {
    out[it->first.substr(prefix.size())] = it->second;
  }
  return out;
}

bool Counters::TryReserve(const std::string& key, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t& value = values_[key];
  if (limit > 0 && value >= limit) return false;
  ++value;
  return true;
}

void Counters::Release(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t& value = values_[key];
  assert(value > 0);
  --value;
}

void Counters::Add(const std::string& key, int64_t delta) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[key] += delta;
}

void Counters::AddFigure(const std::string& key, int64_t delta) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[key] += delta;
  unflushed_figures_[key] += delta;
}

absl::Status Counters::FlushFigures(storage::Store& store) {
  std::map<std::string, int64_t> deltas;
  {
    std::lock_guard<std::mutex> lock(mu_);
    deltas.swap(unflushed_figures_);
  }
  if (deltas.empty()) return absl::OkStatus();
  storage::WriteSet writes;
  for (const auto& [key, delta] : deltas) writes.AddToCounter(key, delta);
  absl::Status s = store.Commit(writes, storage::Durability::kBuffered);
  if (!s.ok()) {  // keep them for the next flush
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, delta] : deltas) unflushed_figures_[key] += delta;
  }
  return s;
}

engine::OfferContext OfferContextOf(const engine::ProgramConfig& program, const Counters& counters) {
  engine::OfferContext ctx;
  for (const auto& o : program.offers) {
    if (o.budget_redemptions > 0) ctx.budget_used[o.id] = counters.Get(Counters::OfferUsed(o.id));
  }
  return ctx;
}

}  // namespace loyalty
