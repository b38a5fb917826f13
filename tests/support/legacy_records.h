// tests/support/legacy_records.h: member state in the stored form written
// before the packed columns (one submessage per points batch and per credit
// day), so tests can show such records still read as the same state.
#pragma once

#include "loyalty/internal/records.pb.h"
#include "services/loyalty/codec.h"
#include "services/loyalty/engine/member.h"

namespace loyalty::testing {

inline internal::MemberEngineState LegacyEngineState(const engine::MemberState& state) {
  internal::MemberEngineState legacy = codec::ToProto(state);
  legacy.clear_batch_columns();
  legacy.clear_credit_columns();
  for (const auto& b : state.batches) {
    auto* o = legacy.add_batches();
    o->set_id(b.id);
    o->set_earned_at(b.earned_at);
    o->set_available_at(b.available_at);
    o->set_expires_at(b.expires_at);
    o->set_points(b.points);
    o->set_remaining(b.remaining);
  }
  for (const auto& c : state.credits) {
    auto* o = legacy.add_credits();
    o->set_day(c.day);
    o->set_spend_minor(c.spend_minor);
    o->set_visits(c.visits);
  }
  return legacy;
}

}  // namespace loyalty::testing
