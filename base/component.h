// base/component.h: a part of the running server with a start and a stop.
// server/loyalty_server.cc starts storage, the services and each edge (gRPC,
// HTTP with its probes and metrics) in order, as a list of components, and
// stops them in the reverse order: the shutdown order is written once.
//
// Thread-safety: Stop is called once, from the thread that stops the server.
#pragma once

#include <chrono>
#include <string_view>

namespace loyalty {

class Component {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  virtual ~Component() = default;
  virtual std::string_view name() const = 0;
  // Stops taking work, lets work in flight finish until `deadline`, then
  // releases what it holds. Idempotent.
  virtual void Stop(Deadline deadline) = 0;
};

}  // namespace loyalty
