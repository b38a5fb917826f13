// tools/parallel.h: running numbered tasks on a few threads, in order of
// their numbers, and letting a task wait until an earlier one is done.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace loyalty::tools {

// Runs task(0), task(1), .. task(count - 1) on `workers` threads. Tasks are
// started in index order (each thread takes the next index). Once a task
// returns false no new task starts; returns whether all succeeded.
inline bool ForEachInOrder(size_t count, int workers, const std::function<bool(size_t)>& task) {
  std::atomic<size_t> next_index{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    while (!failed.load()) {
      const size_t index = next_index.fetch_add(1);
      if (index >= count) return;
      if (!task(index)) failed.store(true);
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  return !failed.load();
}

// Which of `count` numbered tasks are done. A task may wait for an earlier
// one: since ForEachInOrder starts tasks in index order, the earlier one is
// already running on another thread, so the wait always ends.
class CompletionBoard {
 public:
  explicit CompletionBoard(size_t count) : done_(count, false) {}

  void MarkDone(size_t index) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_[index] = true;
    }
    changed_.notify_all();
  }

  // Wakes every waiter for good: the run is being abandoned.
  void Abandon() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      abandoned_ = true;
    }
    changed_.notify_all();
  }

  // Blocks until task `index` is done (true) or the run is abandoned (false).
  bool WaitDone(size_t index) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return done_[index] || abandoned_; });
    return done_[index];
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<bool> done_;
  bool abandoned_ = false;
};

}  // namespace loyalty::tools
