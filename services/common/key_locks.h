// services/common/key_locks.h: striped mutexes keyed by a string.
//
// The idempotency check and the commit of one transaction key must not
// interleave with another request for the same key (a retry racing its
// original on another lane, or the same id reused for another member). Lanes
// order by member, not by transaction key, so this lock covers that gap. It is
// striped, not global: requests for different keys rarely share a stripe.
#pragma once

#include <array>
#include <mutex>
#include <string_view>

namespace loyalty {

class KeyLocks {
 public:
  static constexpr size_t kStripes = 4096;
  std::unique_lock<std::mutex> Lock(std::string_view key) {
    return std::unique_lock<std::mutex>(stripes_[std::hash<std::string_view>{}(key) % kStripes]);
  }

 private:
  std::array<std::mutex, kStripes> stripes_;
};

}  // namespace loyalty
