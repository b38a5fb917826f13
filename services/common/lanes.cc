#include "services/common/lanes.h"

#include <cassert>
#include <string>

namespace loyalty {

Lanes::Lanes(size_t threads, size_t lanes) : pool_(threads) {
  assert(threads > 0 && lanes > 0);
  strands_.reserve(lanes);
  for (size_t i = 0; i < lanes; ++i) strands_.push_back(boost::asio::make_strand(pool_));
}

Lanes::~Lanes() { Stop(); }

size_t Lanes::LaneOf(std::string_view ordering_key) const {
  return std::hash<std::string_view>{}(ordering_key) % strands_.size();
}

void Lanes::Post(std::string_view ordering_key, std::function<void()> task) {
  assert(!stopped_);
  boost::asio::post(strands_[LaneOf(ordering_key)], std::move(task));
}

void Lanes::PostUnordered(std::function<void()> task) {
  assert(!stopped_);
  boost::asio::post(pool_, std::move(task));
}

void Lanes::Stop() {
  if (stopped_) return;
  stopped_ = true;
  pool_.join();  // Without stop(), join() waits for all outstanding work.
}

}  // namespace loyalty
