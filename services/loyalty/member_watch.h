// services/loyalty/member_watch.h: one live watch of a member (MemberService.
// WatchMember), independent of the transport. The gRPC edge streams it as
// messages, the HTTP edge as Server-Sent Events; both only write what the
// watch hands them.
//
// Flow control and coalescing: the watch hands its sink one view at a time
// and nothing more until the edge calls Sent(). Changes meanwhile are
// coalesced: when the edge is ready again, it gets the latest view once, not
// every intermediate one. The view is read on the lane pool, never under the
// update hub's lock and never on the WAL-sync thread, and handed over only
// once everything in it is durable: a watcher never sees a state that a
// crash could take back.
//
// Lifetime: MemberOperations::Watch opens it; the edge calls Close() when the
// stream ends for any reason. After Close() returns the sink is never called
// again, so the edge may then destroy it.
//
// Thread-safety: Sent() and Close() may be called from any thread; the sink
// is called from lane pool and WAL-sync threads (never two calls at once).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "loyalty/v1/member.pb.h"
#include "services/common/lanes.h"
#include "services/loyalty/member_updates.h"
#include "storage/store.h"

namespace loyalty {

class MemberOperations;

class MemberWatch : public std::enable_shared_from_this<MemberWatch> {
 public:
  // What an edge does with the watch's output. Calls must be quick: start a
  // write, post work.
  class Sink {
   public:
    virtual ~Sink() = default;
    // The member's latest view; send it, then call Sent().
    virtual void Send(v1::MemberView view) = 0;
    // The watch is over: OK when the server is stopping (end the stream
    // cleanly), else the error (pass it through ForCaller before telling).
    virtual void End(absl::Status status) = 0;
  };

  MemberWatch(const MemberOperations& ops, MemberUpdates& updates, Lanes& lanes, storage::Store& store,
              std::string member_id, Sink* sink);
  ~MemberWatch();
  MemberWatch(const MemberWatch&) = delete;
  MemberWatch& operator=(const MemberWatch&) = delete;

  // Subscribes and schedules the first view. Called once, by Watch().
  absl::Status Start();
  // The edge finished writing the last view; the next one may come.
  void Sent();
  // The stream is over: unsubscribes; the sink is never called again.
  void Close();

  const std::string& member_id() const { return member_id_; }

 private:
  void Changed();
  void Drained();
  // Under mu_: schedules SendLatest on the lane pool unless one is pending
  // or a view is being written.
  void ScheduleLocked();
  void SendLatest();
  void EndWith(absl::Status status);

  const MemberOperations& ops_;
  MemberUpdates& updates_;
  Lanes& lanes_;
  storage::Store& store_;
  const std::string member_id_;

  std::mutex mu_;           // the state below
  bool dirty_ = false;      // a change not yet sent
  bool scheduled_ = false;  // SendLatest is queued
  bool in_flight_ = false;  // the sink is writing a view
  bool closed_ = false;
  uint64_t subscription_ = 0;

  // Held while the sink is called, so Close() can wait out a call.
  std::mutex sink_mu_;
  Sink* sink_;
};

}  // namespace loyalty
