// services/loyalty/durable_answer.h: answers a call only once what the
// answer says is durable.
//
// The operations commit with Durability::kBuffered and must not answer
// before the WAL holding the commit (or, for a retried request, the first
// answer's commit) is synced. AnswerWhenDurable hands the result to the
// store's WAL-sync thread, which calls `done` after the next sync: with the
// result, or with the sync's error (then nothing may be acknowledged).
// `done` runs on the WAL-sync thread and must be quick.
//
// AdmitWrite is asked before a write is given to a lane: a server whose
// lanes or WAL-sync waiters are at their limits refuses the call at once,
// before it changed anything.
#pragma once

#include <functional>
#include <utility>

#include "absl/status/statusor.h"
#include "services/common/lanes.h"
#include "storage/store.h"

namespace loyalty {

inline absl::Status AdmitWrite(const Lanes& lanes, const storage::Store& store) {
  if (absl::Status admitted = lanes.Admit(); !admitted.ok()) return admitted;
  return store.AdmitWrite();
}

template <class T>
void AnswerWhenDurable(storage::Store& store, absl::StatusOr<T> result,
                       std::function<void(absl::StatusOr<T>)> done) {
  store.WhenDurable([result = std::move(result), done = std::move(done)](absl::Status synced) mutable {
    if (synced.ok()) {
      done(std::move(result));
    } else {
      done(std::move(synced));
    }
  });
}

}  // namespace loyalty
