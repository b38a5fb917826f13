// services/loyalty/codec.h: converts between the engine's plain values and
// their protobuf forms (stored records and the admin contract). Field by
// field, nothing else: the engine itself never sees a protobuf.
#pragma once

#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/admin.pb.h"
#include "services/loyalty/engine/member.h"
#include "services/loyalty/engine/program.h"

namespace loyalty::codec {

// False if the packed columns are cut short or the record mixes them with
// the older per-batch form (a damaged record): FromProto would then decode a
// different state, so callers that read stored records check this first and
// report DATA_LOSS.
bool WellFormed(const internal::MemberEngineState& p);
engine::MemberState FromProto(const internal::MemberEngineState& p);
internal::MemberEngineState ToProto(const engine::MemberState& s);
// The same into `out` (cleared first), e.g. a message on an arena.
void ToProto(const engine::MemberState& s, internal::MemberEngineState* out);

engine::ProgramConfig FromProto(const v1::Program& p);
v1::Program ToProto(const engine::ProgramConfig& c);

engine::Reward FromProto(const v1::Reward& r);
v1::Reward ToProto(const engine::Reward& r);

}  // namespace loyalty::codec
