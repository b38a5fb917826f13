// services/loyalty/counters.h: program-wide counters (offer budgets used,
// reward stock issued, offers shown, spend of offer users).
//
// The persisted value lives in CF "counters" and only ever changes by a
// RocksDB Merge that adds a delta, written in the same WriteSet as the event
// that causes it; so concurrent commits never lose an update. The in-memory
// value adds reservations of commits in flight, so a budget or stock limit
// holds exactly across members on different lanes: TryReserve before the
// commit, Release if the commit fails.
//
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "services/loyalty/engine/offers.h"
#include "storage/keys.h"
#include "storage/store.h"

namespace loyalty {

class Counters {
 public:
  static absl::StatusOr<std::unique_ptr<Counters>> Load(const storage::Store& store);

  int64_t Get(const std::string& key) const;
  // All counters whose key starts with `prefix`, keyed without it.
  std::map<std::string, int64_t> WithPrefix(const std::string& prefix) const;
  // Takes one unit if the counter is below `limit` (0: no limit).
  bool TryReserve(const std::string& key, int64_t limit);
  void Release(const std::string& key);
  // In-memory only; the caller writes the same delta with WriteSet::AddToCounter.
  void Add(const std::string& key, int64_t delta);
  // For a figure that may lag (offers shown): added in memory now and
  // persisted by the next FlushFigures, not with the call that caused it. A
  // crash loses at most what was added since the last flush.
  void AddFigure(const std::string& key, int64_t delta);
  // Persists the figures added since the last flush (one buffered commit).
  absl::Status FlushFigures(storage::Store& store);

  // Their keys (storage/keys.h).
  static std::string OfferUsed(const std::string& id) { return storage::CounterKey(storage::CounterKind::kOfferUsed, id); }
  static std::string OfferShown(const std::string& id) { return storage::CounterKey(storage::CounterKind::kOfferShown, id); }
  static std::string OfferSpend(const std::string& id) { return storage::CounterKey(storage::CounterKind::kOfferSpend, id); }
  static std::string RewardIssued(const std::string& id) {
    return storage::CounterKey(storage::CounterKind::kRewardIssued, id);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, int64_t> values_;
  std::map<std::string, int64_t> unflushed_figures_;
};

// The offers' budget use, as the engine needs it.
engine::OfferContext OfferContextOf(const engine::ProgramConfig& program, const Counters& counters);

}  // namespace loyalty
