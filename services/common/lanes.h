// services/common/lanes.h: per-member ordering without a global lock.
//
// Work is posted with an ordering key (a member id, or for an anonymous sale
// its transaction key). Keys are hashed onto a fixed set of lanes (Asio
// strands over one thread pool): tasks with the same key run one at a time in
// the order posted; tasks on different lanes run in parallel. A task may block
// (a synced RocksDB commit): it holds one pool thread, not the lane's peers,
// and concurrent synced commits share one fsync.
//
// Thread-safety: Post() is safe from any thread until Stop() is called.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

namespace loyalty {

class Lanes {
 public:
  Lanes(size_t threads, size_t lanes);
  ~Lanes();
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;

  // Runs `task` on the lane of `ordering_key`, after the tasks posted to that
  // lane before it.
  void Post(std::string_view ordering_key, std::function<void()> task);
  // Runs `task` on the pool, on no lane (work that needs no ordering).
  void PostUnordered(std::function<void()> task);

  // Waits for every posted task to finish, then joins the threads.
  void Stop();

  size_t lane_count() const { return strands_.size(); }
  size_t LaneOf(std::string_view ordering_key) const;

 private:
  using Strand = boost::asio::strand<boost::asio::thread_pool::executor_type>;
  boost::asio::thread_pool pool_;
  std::vector<Strand> strands_;
  bool stopped_ = false;
};

}  // namespace loyalty
