// services/common/lanes.h: per-member ordering without a global lock.
//
// Work is given with an ordering key (a member id, or for an anonymous sale
// its transaction key). Keys are hashed onto a fixed set of lanes: tasks on
// one lane run one at a time, in the order given; tasks on different lanes run
// in parallel. A lane is a small queue with a "busy" flag, not a thread:
//
//   Run(key, task)   the caller's thread runs `task` at once if the lane is
//                    idle (the common case: no hand-off to another thread, no
//                    wake-up), else queues it behind the lane's work.
//   Post(key, task)  always queues; a pool thread ("lane-N") runs it. For
//                    bulk work (backlog phases, expiry runs) that must not
//                    hold the caller's thread.
//
// Whoever finds the lane idle becomes its runner and runs queued tasks until
// the queue is empty; a caller of Run hands any tasks queued meanwhile to the
// pool rather than running them, so a gRPC thread never works off other
// calls' backlog. Tasks must not block on I/O: durable commits are buffered
// and answered by the WAL-sync thread (storage/store.h).
//
// Back-pressure: at most `max_queued_tasks` tasks wait in the lanes. A call
// asks Admit() before it gives a lane work; past the limit it is refused at
// once (UNAVAILABLE with a retry hint) and has changed nothing, instead of
// memory growing with the queue. Bulk work a call already accepted (a
// backlog's phases) is not refused half way. A soft bound: calls admitted at
// the same moment may pass it by as many.
//
// Thread-safety: Run() and Post() are safe from any thread, also from inside
// a task while Stop() waits for the work to finish; not after Stop() returned.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "absl/status/status.h"

namespace loyalty {

class Lanes {
 public:
  using Task = std::function<void()>;

  // max_queued_tasks 0: no limit.
  Lanes(size_t threads, size_t lanes, size_t max_queued_tasks = 0);
  ~Lanes();
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;

  // Runs `task` on the lane of `ordering_key` after the tasks given to that
  // lane before it: here and now if the lane is idle.
  void Run(std::string_view ordering_key, Task task);
  // Queues `task` on the lane of `ordering_key`; a pool thread runs it.
  void Post(std::string_view ordering_key, Task task);
  // Runs `task` on the pool, on no lane (work that needs no ordering).
  void PostUnordered(Task task);

  // OK if a new call may give the lanes work now (see Back-pressure).
  absl::Status Admit() const;
  size_t max_queued_tasks() const { return max_queued_; }
  // Calls Admit refused so far.
  uint64_t refusals() const { return refusals_.load(std::memory_order_relaxed); }

  // Waits for every task to finish (also those they queue), then joins the
  // threads.
  void Stop();

  size_t lane_count() const { return lanes_.size(); }
  // Tasks waiting in lanes (not yet running), and unordered tasks waiting
  // for a pool thread: what /metrics shows as queue depth.
  size_t queued_tasks() const { return queued_.load(std::memory_order_relaxed); }
  size_t queued_unordered_tasks() const { return unordered_.load(std::memory_order_relaxed); }
  size_t LaneOf(std::string_view ordering_key) const;

 private:
  struct Lane {
    std::mutex mu;
    std::deque<Task> queue;
    bool busy = false;  // a runner owns the lane (running a task or about to)
  };
  // Queues `task`; true if the caller became the lane's runner (lane was idle).
  bool Enqueue(Lane& lane, Task task);
  // As the lane's runner: runs queued tasks; after `max_tasks` it hands the
  // rest to the pool. Frees the lane when its queue is empty.
  void Drain(Lane& lane, size_t max_tasks);

  // Tasks a pool thread runs from one lane before it lets other lanes in.
  static constexpr size_t kDrainBatch = 64;

  std::vector<std::unique_ptr<Lane>> lanes_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;             // Stop was called (tasks may still give work)
  std::atomic<bool> joined_{false};   // Stop returned: no more work may come
  std::atomic<size_t> queued_{0};
  std::atomic<size_t> unordered_{0};
  const size_t max_queued_;
  mutable std::atomic<uint64_t> refusals_{0};

};

}  // namespace loyalty
