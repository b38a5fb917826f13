// bench/histogram.h: an HDR-like, log-bucketed latency histogram.
//
// Values are nanoseconds (uint64). Values below 128 get one bucket each;
// above, every power of two is split into 128 linear sub-buckets, so a
// reported value is within 1/128 (< 0.8%) of the recorded one. 64-bit range
// needs 128 + 57*128 buckets (about 58 KB of counters).
//
// Record() is lock-free (relaxed atomic increments) and may be called from
// any number of threads; read it (Percentile, Max, Count) after recording
// has stopped, or accept a slightly torn snapshot while it runs.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace loyalty::bench {

class LogHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 128
  static constexpr int kBuckets = static_cast<int>(kSub + (64 - kSubBits) * kSub);

  LogHistogram() {
    for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  }

  static int BucketOf(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    const int shift = std::bit_width(v) - (kSubBits + 1);  // >= 0
    const uint64_t top = v >> shift;                       // in [128, 255]
    return static_cast<int>(kSub + static_cast<uint64_t>(shift) * kSub + (top - kSub));
  }

  // The highest value that falls into bucket `b`.
  static uint64_t UpperBoundOf(int b) {
    if (b < static_cast<int>(kSub)) return static_cast<uint64_t>(b);
    const int shift = (b - static_cast<int>(kSub)) / static_cast<int>(kSub);
    const uint64_t top = kSub + static_cast<uint64_t>((b - kSub) % kSub);
    const uint64_t low = top << shift;
    return low + ((uint64_t{1} << shift) - 1);
  }

  void Record(uint64_t v) {
    counts_[BucketOf(v)].fetch_add(1, std::memory_order_relaxed);
    total_.fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
    uint64_t seen = max_.load(std::memory_order_relaxed);
    while (v > seen && !max_.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
    }
  }

  uint64_t Count() const { return total_.load(std::memory_order_relaxed); }
  uint64_t Max() const { return max_.load(std::memory_order_relaxed); }
  double Mean() const {
    const uint64_t n = Count();
    return n == 0 ? 0.0 : static_cast<double>(sum_.load(std::memory_order_relaxed)) / static_cast<double>(n);
  }

  // The value at quantile q (0 < q <= 1): the upper bound of the bucket
  // holding the ceil(q*n)-th smallest value, capped at the exact maximum.
  uint64_t Percentile(double q) const {
    const uint64_t n = Count();
    if (n == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(n) + 0.999999);
    rank = std::clamp<uint64_t>(rank, 1, n);
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
      seen += counts_[b].load(std::memory_order_relaxed);
      if (seen >= rank) return std::min(UpperBoundOf(b), Max());
    }
    return Max();
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_;
  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> max_{0};
};

}  // namespace loyalty::bench
