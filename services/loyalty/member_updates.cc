#include "services/loyalty/member_updates.h"

#include <cassert>

#include "base/str_cat.h"

namespace loyalty {

absl::StatusOr<uint64_t> MemberUpdates::Subscribe(const std::string& member_id, Listener listener) {
  assert(listener.changed && listener.drained);
  std::lock_guard<std::mutex> lock(mu_);
  if (draining_) return absl::UnavailableError("the server is stopping; watch again on another server or later");
  auto& watchers = listeners_[member_id];
  if (watchers.size() >= kMaxWatchersPerMember) {
    if (watchers.empty()) listeners_.erase(member_id);
    return absl::ResourceExhaustedError(
        loyalty::StrCat("member_id: at most ", kMaxWatchersPerMember, " live watchers per member"));
  }
  if (total_.load(std::memory_order_relaxed) >= kMaxWatchers) {
    if (watchers.empty()) listeners_.erase(member_id);
    return absl::ResourceExhaustedError(
        loyalty::StrCat("at most ", kMaxWatchers, " live watchers on this server; retry later"));
  }
  const uint64_t id = next_id_++;
  watchers.emplace(id, std::move(listener));
  total_.fetch_add(1, std::memory_order_relaxed);
  return id;
}

void MemberUpdates::Unsubscribe(const std::string& member_id, uint64_t subscription) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = listeners_.find(member_id);
  if (it == listeners_.end()) return;
  if (it->second.erase(subscription) == 1) {
    assert(total_.load() > 0);
    total_.fetch_sub(1, std::memory_order_relaxed);
  }
  if (it->second.empty()) listeners_.erase(it);
}

void MemberUpdates::Notify(const std::string& member_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = listeners_.find(member_id);
  if (it == listeners_.end()) return;
  for (auto& [id, listener] : it->second) listener.changed();
}

bool MemberUpdates::Watched(const std::string& member_id) {
  if (total_.load(std::memory_order_relaxed) == 0) return false;  // the common case: no lock
  std::lock_guard<std::mutex> lock(mu_);
  return listeners_.count(member_id) != 0;
}

void MemberUpdates::NotifyWhenDurable(storage::Store& store, const std::string& member_id) {
  if (!Watched(member_id)) return;
  store.WhenDurable([this, member_id](absl::Status synced) {
    if (synced.ok()) Notify(member_id);
  });
}

void MemberUpdates::Drain() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
  for (auto& [member_id, watchers] : listeners_) {
    for (auto& [id, listener] : watchers) listener.drained();
  }
}

}  // namespace loyalty
