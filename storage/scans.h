// storage/scans.h: typed walks over whole column families, so that no
// operation decodes keys or checks a cursor's status itself.
//
//   ScanMembers   every enrolled member, in member-key order: its id (decoded
//                 from the key) and its stored record's bytes (parse with
//                 ParseMemberRecord, services/loyalty/member_store.h).
//
// `visit` returns kContinue or kStop, or an error, which ends the scan and
// is returned. A key that does not decode is DATA_LOSS; a failed read is the
// read's error with `context` added.
//
// Thread-safety: as Store's reads.
#pragma once

#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store.h"

namespace loyalty::storage {

enum class ScanStep { kContinue, kStop };

using MemberVisit = std::function<absl::StatusOr<ScanStep>(std::string_view member_id, std::string_view record)>;
absl::Status ScanMembers(const Store& store, const Store::Snapshot* snapshot, std::string_view context,
                         const MemberVisit& visit);

}  // namespace loyalty::storage
