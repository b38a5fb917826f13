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
#include "services/common/token_buckets.h"

namespace loyalty {

class AttemptLimiter {
 public:
  AttemptLimiter(size_t max_failures, int64_t window_seconds, size_t max_keys)
      : max_failures_(max_failures), window_(window_seconds), max_keys_(max_keys) {}

  // Counts an attempt as failed from the start, so that attempts made at
  // once cannot all pass before the first failure is counted: OK (the
  // attempt is counted), or RESOURCE_EXHAUSTED naming `what` and when to try
  // again (not counted). Call Succeeded when the attempt succeeds.
  absl::Status Begin(const std::string& key, int64_t now, std::string_view what) {
    std::lock_guard<std::mutex> lock(mu_);
    std::deque<int64_t>& times = failures_[key];
    Expire(times, now);
    if (times.size() >= max_failures_) {
      const int64_t retry_in = std::max<int64_t>(1, times.front() + window_ - now);
      return WithRetryAfter(absl::ResourceExhaustedError(loyalty::StrCat(what, ": ", max_failures_, " failed attempts within ",
                                                                         window_, " s; try again in ", retry_in, " s")),
                            retry_in * 1000);
    }
    times.push_back(now);
    if (failures_.size() > max_keys_) {
      auto oldest = failures_.end();
      for (auto it = failures_.begin(); it != failures_.end(); ++it) {
        if (it->first == key) continue;
        if (oldest == failures_.end() || it->second.empty() ||
            (!oldest->second.empty() && it->second.back() < oldest->second.back())) {
          oldest = it;
        }
      }
      if (oldest != failures_.end()) failures_.erase(oldest);
    }
    return absl::OkStatus();
  }

  // The attempt Begin counted succeeded: it is not a failure.
  void Succeeded(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = failures_.find(key);
    if (it == failures_.end()) return;
    if (!it->second.empty()) it->second.pop_back();
    if (it->second.empty()) failures_.erase(it);
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
