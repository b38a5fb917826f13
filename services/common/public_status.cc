#include "services/common/public_status.h"

#include <atomic>
#include <cassert>

#include "base/log.h"
#include "base/status_payloads.h"
#include "base/str_cat.h"

namespace loyalty {

bool IsServerFault(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInternal || s.code() == absl::StatusCode::kDataLoss ||
         s.code() == absl::StatusCode::kUnknown || s.GetPayload(kStorageFaultPayload).has_value();
}

absl::Status ForCaller(const absl::Status& s) {
  if (s.ok() || s.GetPayload(kForCallerPayload).has_value() || !IsServerFault(s)) return s;
  static std::atomic<uint64_t> incidents{0};
  const uint64_t ref = ++incidents;
  LogError(loyalty::StrCat("incident ", ref, ": ", s.ToString()));
  absl::Status told(s.code(), loyalty::StrCat("server error (incident ", ref, " in the server log); retry later"));
  told.SetPayload(kForCallerPayload, absl::Cord("1"));
  assert(told.code() == s.code());
  return told;
}

}  // namespace loyalty
