#include "services/loyalty/member_updates.h"

#include <cassert>

#include "base/str_cat.h"

namespace loyalty {

absl::StatusOr<uint64_t> MemberUpdates::Subscribe(const std::string& member_id, Listener listener) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& watchers = listeners_[member_id];
  if (watchers.size() >= kMaxWatchersPerMember) {
    return absl::ResourceExhaustedError(
        loyalty::StrCat("member_id: at most ", kMaxWatchersPerMember, " live watchers per member"));
  }
  if (total_ >= kMaxWatchers) {
    return absl::ResourceExhaustedError("too many live watchers on this server; retry later");
  }
  const uint64_t id = next_id_++;
  watchers.emplace(id, std::move(listener));
  ++total_;
  return id;
}

void MemberUpdates::Unsubscribe(const std::string& member_id, uint64_t subscription) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = listeners_.find(member_id);
  if (it == listeners_.end()) return;
  if (it->second.erase(subscription) == 1) {
    assert(total_ > 0);
    --total_;
  }
  if (it->second.empty()) listeners_.erase(it);
}

void MemberUpdates::Notify(const std::string& member_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = listeners_.find(member_id);
  if (it == listeners_.end()) return;
  for (auto& [id, listener] : it->second) listener();
}

}  // namespace loyalty
