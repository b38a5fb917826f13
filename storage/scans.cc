#include "storage/scans.h"

#include "base/str_cat.h"
#include "storage/keys.h"

namespace loyalty::storage {

absl::Status ScanMembers(const Store& store, const Store::Snapshot* snapshot, std::string_view context,
                         const MemberVisit& visit) {
  auto it = store.NewCursor(Cf::kMembers, snapshot);
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<std::string> id = DecodeMemberKey(it->key());
    if (!id.ok()) return absl::DataLossError(loyalty::StrCat(context, ": ", id.status().message()));
    absl::StatusOr<ScanStep> step = visit(*id, it->value());
    if (!step.ok()) return step.status();
    if (*step == ScanStep::kStop) return absl::OkStatus();
  }
  return it->status(context);
}

}  // namespace loyalty::storage
