#include "services/common/public_status.h"

#include <atomic>
#include <cassert>

#include "base/log.h"
#include "base/str_cat.h"

namespace loyalty {

bool IsServerFault(absl::StatusCode code) {
  return code == absl::StatusCode::kInternal || code == absl::StatusCode::kDataLoss ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kUnavailable;
}

absl::Status ForCaller(const absl::Status& s) {
  if (s.ok() || !IsServerFault(s.code())) return s;
  static std::atomic<uint64_t> incidents{0};
  const uint64_t ref = ++incidents;
  LogError(loyalty::StrCat("incident ", ref, ": ", s.ToString()));
  absl::Status told(s.code(), loyalty::StrCat("server error (incident ", ref, " in the server log); retry later"));
  assert(told.code() == s.code());
  return told;
}

}  // namespace loyalty
