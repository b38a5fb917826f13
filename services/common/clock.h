// services/common/clock.h: time is injected, so tests move it explicitly.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <google/protobuf/timestamp.pb.h>

namespace loyalty {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowUnixMicros() const = 0;
  int64_t NowUnixSeconds() const { return NowUnixMicros() / 1'000'000; }
  google::protobuf::Timestamp NowTimestamp() const {
    google::protobuf::Timestamp t;
    const int64_t us = NowUnixMicros();
    t.set_seconds(us / 1'000'000);
    t.set_nanos(static_cast<int32_t>(us % 1'000'000) * 1000);
    return t;
  }
};

class SystemClock final : public Clock {
 public:
  int64_t NowUnixMicros() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t unix_seconds) : micros_(unix_seconds * 1'000'000) {}
  int64_t NowUnixMicros() const override { return micros_.load(); }
  void AdvanceSeconds(int64_t s) { micros_ += s * 1'000'000; }
  void SetUnixSeconds(int64_t s) { micros_ = s * 1'000'000; }

 private:
  std::atomic<int64_t> micros_;
};

}  // namespace loyalty
