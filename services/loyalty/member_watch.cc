#include "services/loyalty/member_watch.h"

#include <cassert>

#include "services/loyalty/member_operations.h"

namespace loyalty {

MemberWatch::MemberWatch(const MemberOperations& ops, MemberUpdates& updates, Lanes& lanes, storage::Store& store,
                         std::string member_id, Sink* sink)
    : ops_(ops), updates_(updates), lanes_(lanes), store_(store), member_id_(std::move(member_id)), sink_(sink) {
  assert(sink_ != nullptr);
}

MemberWatch::~MemberWatch() { assert(closed_ || subscription_ == 0); }

absl::Status MemberWatch::Start() {
  std::weak_ptr<MemberWatch> weak = weak_from_this();
  assert(!weak.expired());  // owned by a shared_ptr
  MemberUpdates::Listener listener{
      [weak] {
        if (auto self = weak.lock()) self->Changed();
      },
      [weak] {
        if (auto self = weak.lock()) self->Drained();
      }};
  auto subscription = updates_.Subscribe(member_id_, std::move(listener));
  if (!subscription.ok()) return subscription.status();
  std::lock_guard<std::mutex> lock(mu_);
  subscription_ = *subscription;
  dirty_ = true;  // the current view first
  ScheduleLocked();
  return absl::OkStatus();
}

void MemberWatch::Changed() {
  std::lock_guard<std::mutex> lock(mu_);
  dirty_ = true;
  ScheduleLocked();
}

void MemberWatch::ScheduleLocked() {
  if (closed_ || scheduled_ || in_flight_ || !dirty_) return;
  scheduled_ = true;
  lanes_.PostUnordered([self = shared_from_this()] { self->SendLatest(); });
}

void MemberWatch::Sent() {
  std::lock_guard<std::mutex> lock(mu_);
  assert(in_flight_);
  in_flight_ = false;
  ScheduleLocked();
}

void MemberWatch::SendLatest() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    scheduled_ = false;
    if (closed_ || in_flight_ || !dirty_) return;
    dirty_ = false;
    in_flight_ = true;
  }
  absl::StatusOr<v1::MemberView> view = ops_.CurrentView(member_id_);
  if (!view.ok()) {
    EndWith(view.status());
    return;
  }
  // The view may hold commits made after the sync that announced the
  // change (or, for the first view, not synced yet): it is sent once a sync
  // that started after the read made all of it durable.
  store_.WhenDurable([self = shared_from_this(), view = std::move(*view)](absl::Status synced) mutable {
    if (!synced.ok()) {
      self->EndWith(synced);
      return;
    }
    std::lock_guard<std::mutex> sink_lock(self->sink_mu_);
    if (self->sink_ != nullptr) self->sink_->Send(std::move(view));
  });
}

void MemberWatch::Drained() {
  // Runs under the hub's lock: the sink's End is quick by contract.
  EndWith(absl::OkStatus());
}

void MemberWatch::EndWith(absl::Status status) {
  std::lock_guard<std::mutex> sink_lock(sink_mu_);
  if (sink_ == nullptr) return;
  Sink* sink = sink_;
  sink_ = nullptr;  // End is the sink's last call
  sink->End(std::move(status));
}

void MemberWatch::Close() {
  uint64_t subscription = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    closed_ = true;
    subscription = subscription_;
  }
  if (subscription != 0) updates_.Unsubscribe(member_id_, subscription);
  std::lock_guard<std::mutex> sink_lock(sink_mu_);  // waits out a call in progress
  sink_ = nullptr;
}

}  // namespace loyalty
