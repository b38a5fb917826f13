// services/loyalty/member_updates.h: tells live watchers (MemberWatch, under
// MemberService.WatchMember on every edge) that a member changed. The ledger
// writers call NotifyWhenDurable after a commit: watchers hear of a change
// only once it is durable, so no watcher ever sees a state that a crash then
// loses. A notification carries no data; each watcher reads the member's new
// view itself, off the hub's lock, so a slow watcher simply sends the latest
// state once, never a backlog.
//
// Limits: kMaxWatchersPerMember per member and kMaxWatchers in all;
// Subscribe refuses more with RESOURCE_EXHAUSTED. After Drain() (the server
// is stopping) every watcher has been told to end and Subscribe refuses with
// UNAVAILABLE.
//
// Thread-safety: all methods are safe to call concurrently. Listeners run
// under the hub's lock: they must be quick (post work, set a flag), must not
// read storage and must not call back into the hub.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "storage/store.h"

namespace loyalty {

class MemberUpdates {
 public:
  static constexpr size_t kMaxWatchersPerMember = 8;
  static constexpr size_t kMaxWatchers = 10'000;

  struct Listener {
    std::function<void()> changed;  // the member changed (durably)
    std::function<void()> drained;  // the server is stopping: end the watch
  };
  absl::StatusOr<uint64_t> Subscribe(const std::string& member_id, Listener listener);
  void Unsubscribe(const std::string& member_id, uint64_t subscription);

  // Tells the member's watchers now. For a commit made kSynced.
  void Notify(const std::string& member_id);
  // Tells the member's watchers once every commit so far is durable (after
  // the store's next WAL sync; not at all if that sync fails). For commits
  // made kBuffered. Costs nothing when nobody watches the member.
  void NotifyWhenDurable(storage::Store& store, const std::string& member_id);

  // Ends every watch (their `drained` runs) and refuses new ones.
  void Drain();

  size_t watchers() const { return total_.load(std::memory_order_relaxed); }

 private:
  bool Watched(const std::string& member_id);

  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::atomic<size_t> total_{0};
  bool draining_ = false;
  std::unordered_map<std::string, std::map<uint64_t, Listener>> listeners_;
};

}  // namespace loyalty
