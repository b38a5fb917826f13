// services/loyalty/member_updates.h: tells live watchers (MemberService.
// WatchMember) that a member changed. Ingest and the admin operations call
// Notify after a commit; each watcher then reads and sends the member's new
// view. A notification carries no data, so a slow watcher simply sends the
// latest state once, never a backlog.
//
// Limits: kMaxWatchersPerMember per member and kMaxWatchers in all;
// Subscribe refuses more with RESOURCE_EXHAUSTED.
//
// Thread-safety: all methods are safe to call concurrently. Listeners run
// under the hub's lock: they must be quick and must not call back into it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"

namespace loyalty {

class MemberUpdates {
 public:
  static constexpr size_t kMaxWatchersPerMember = 8;
  static constexpr size_t kMaxWatchers = 10'000;

  using Listener = std::function<void()>;
  absl::StatusOr<uint64_t> Subscribe(const std::string& member_id, Listener listener);
  void Unsubscribe(const std::string& member_id, uint64_t subscription);
  void Notify(const std::string& member_id);

 private:
  std::mutex mu_;
  uint64_t next_id_ = 1;
  size_t total_ = 0;
  std::unordered_map<std::string, std::map<uint64_t, Listener>> listeners_;
};

}  // namespace loyalty
