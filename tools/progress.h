// tools/progress.h: prints a progress line on stderr once a second while a
// long step runs, from a callback that says where the step is.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

namespace loyalty::tools {

class ProgressReporter {
 public:
  // `line(seconds_since_last)` returns the text to print (without newline).
  explicit ProgressReporter(std::function<std::string(double)> line)
      : line_(std::move(line)), thread_([this] { Run(); }) {}

  ~ProgressReporter() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    stop_.notify_all();
    thread_.join();
  }

  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

 private:
  void Run() {
    using Clock = std::chrono::steady_clock;
    auto last = Clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; })) {
      const auto now = Clock::now();
      std::cerr << line_(std::chrono::duration<double>(now - last).count()) << std::endl;
      last = now;
    }
  }

  std::function<std::string(double)> line_;
  std::mutex mu_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace loyalty::tools
