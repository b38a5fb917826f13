// services/common/attempt_limiter.h: limits failed attempts per key (a
// member's receipt claims): at most `max_failures` failures within `window`;
// past that, attempts are refused until the oldest failure leaves the window.
// A proof that must not be guessed stays unguessable within these limits.
//
// Memory: at most `max_keys` keys are tracked; past it the key whose latest
// failure is oldest is forgotten.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "base/str_cat.h"

namespace loyalty {

class AttemptLimiter {
 public:
  AttemptLimiter(size_t max_failures, int64_t window_seconds, size_t max_keys)
      : max_failures_(max_failures), window_(window_seconds), max_keys_(max_keys) {}

  // OK, or RESOURCE_EXHAUSTED naming `what` and when to try again.
  absl::Status Check(const std::string& key, int64_t now, std::string_view what) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = failures_.find(key);
    if (it == failures_.end()) return absl::OkStatus();
    Expire(it->second, now);
    if (it->second.size() < max_failures_) return absl::OkStatus();
    const int64_t retry_in = std::max<int64_t>(1, it->second.front() + window_ - now);
    return absl::ResourceExhaustedError(loyalty::StrCat(what, ": ", max_failures_, " failed attempts within ", window_,
                                                        " s; try again in ", retry_in, " s"));
  }

  void Failed(const std::string& key, int64_t now) {
    std::lock_guard<std::mutex> lock(mu_);
    std::deque<int64_t>& times = failures_[key];
    Expire(times, now);
    times.push_back(now);
    while (times.size() > max_failures_) times.pop_front();
    if (failures_.size() > max_keys_) {
      auto oldest = std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
        return a.second.back() < b.second.back();
      });
      failures_.erase(oldest);
    }
  }

 private:
  void Expire(std::deque<int64_t>& times, int64_t now) const {
    while (!times.empty() && times.front() <= now - window_) times.pop_front();
  }

  const size_t max_failures_;
  const int64_t window_;
  const size_t max_keys_;
  std::mutex mu_;
  std::map<std::string, std::deque<int64_t>> failures_;
};

}  // namespace loyalty
