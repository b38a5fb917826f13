#include "services/common/lanes.h"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <cassert>
#include <string>

#include "base/status_payloads.h"
#include "base/str_cat.h"

namespace loyalty {

Lanes::Lanes(size_t threads, size_t lanes, size_t max_queued_tasks)
    : io_(static_cast<int>(threads)), max_queued_(max_queued_tasks) {
  assert(threads > 0 && lanes > 0);
  lanes_.reserve(lanes);
  for (size_t i = 0; i < lanes; ++i) lanes_.push_back(std::make_unique<Lane>());
  work_.emplace(io_.get_executor());
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] {
      // Named, so `top -H` and profiles show where the time goes.
      pthread_setname_np(pthread_self(), ("lane-" + std::to_string(i)).c_str());
      io_.run();
    });
  }
}

Lanes::~Lanes() { Stop(); }

absl::Status Lanes::Admit() const {
  const size_t queued = queued_.load(std::memory_order_relaxed);
  if (max_queued_ == 0 || queued < max_queued_) return absl::OkStatus();
  refusals_.fetch_add(1, std::memory_order_relaxed);
  return WithRetryAfter(absl::UnavailableError(loyalty::StrCat("server busy: ", queued,
                                                               " events wait in the member lanes (lane_queue_limit ",
                                                               max_queued_, "); retry shortly")),
                        50);
}

size_t Lanes::LaneOf(std::string_view ordering_key) const {
  return std::hash<std::string_view>{}(ordering_key) % lanes_.size();
}

bool Lanes::Enqueue(Lane& lane, Task task) {
  std::lock_guard<std::mutex> lock(lane.mu);
  lane.queue.push_back(std::move(task));
  queued_.fetch_add(1, std::memory_order_relaxed);
  if (lane.busy) return false;
  lane.busy = true;
  return true;
}

void Lanes::Drain(Lane& lane, size_t max_tasks) {
  for (size_t done = 0;; ++done) {
    Task task;
    {
      std::lock_guard<std::mutex> lock(lane.mu);
      assert(lane.busy);
      if (lane.queue.empty()) {
        lane.busy = false;
        return;
      }
      if (done == max_tasks) break;  // still busy: the pool takes over below
      task = std::move(lane.queue.front());
      lane.queue.pop_front();
      queued_.fetch_sub(1, std::memory_order_relaxed);
    }
    task();
  }
  boost::asio::post(io_, [this, &lane] { Drain(lane, kDrainBatch); });
}

void Lanes::Run(std::string_view ordering_key, Task task) {
  assert(!joined_ && "lane work after Stop returned");
  Lane& lane = *lanes_[LaneOf(ordering_key)];
  if (Enqueue(lane, std::move(task))) Drain(lane, /*max_tasks=*/1);
}

void Lanes::Post(std::string_view ordering_key, Task task) {
  assert(!joined_ && "lane work after Stop returned");
  Lane& lane = *lanes_[LaneOf(ordering_key)];
  if (Enqueue(lane, std::move(task))) boost::asio::post(io_, [this, &lane] { Drain(lane, kDrainBatch); });
}

void Lanes::PostUnordered(Task task) {
  assert(!joined_ && "lane work after Stop returned");
  unordered_.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(io_, [this, task = std::move(task)] {
    unordered_.fetch_sub(1, std::memory_order_relaxed);
    task();
  });
}

void Lanes::Stop() {
  if (stopping_) return;
  stopping_ = true;
  // run() returns once no work is left: queued lane tasks are always backed
  // by a posted Drain, and tasks still running on callers' threads (Run)
  // finished before the caller's own shutdown let Stop be called.
  work_.reset();
  for (auto& t : threads_) t.join();
  joined_ = true;
}

}  // namespace loyalty
