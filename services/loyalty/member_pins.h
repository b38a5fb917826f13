// services/loyalty/member_pins.h: the PIN a member may give at a till instead
// of the app's till code, where the program's till_proof allows it.
//
// A PIN is 4 to 8 digits, neither one digit repeated nor a run (1234, 9876).
// It is stored salted and hashed (PBKDF2-HMAC-SHA256, kPinHashIterations) in
// CF meta under "member-pin/<member_id>", never in the clear, never logged.
// A PIN that short cannot resist offline guessing by someone who holds the
// data folder; what protects it is the online limit: kMaxPinFailures wrong
// PINs in a row lock it, stored (a restart does not reset the count), until
// the member sets a new one in the app. Every write is synced before the
// answer: a wrong PIN that could not be counted is refused as UNAVAILABLE, not
// answered.
//
// Thread-safety: all methods are safe to call concurrently; calls for one
// member are serialised (a stripe lock), so two guesses at once are counted
// as two.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/common/clock.h"
#include "storage/store.h"

namespace loyalty {

inline constexpr uint32_t kPinHashIterations = 20'000;  // about 10 ms on one core
inline constexpr uint32_t kMaxPinFailures = 5;

// INVALID_ARGUMENT naming `field` unless `pin` is an acceptable PIN.
absl::Status ValidatePin(std::string_view field, std::string_view pin);

class MemberPins {
 public:
  MemberPins(storage::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  // Sets the member's PIN (validated; counts reset) or, with an empty pin,
  // removes it. Durable before it returns.
  absl::Status Set(const std::string& member_id, std::string_view pin);

  // Checks a PIN given at a till: OK; FAILED_PRECONDITION if the member has
  // none; PERMISSION_DENIED if wrong (counted) or locked. `who` (the
  // terminal's credential name) is only logged.
  absl::Status Verify(const std::string& member_id, std::string_view pin, std::string_view who);

 private:
  std::mutex& StripeOf(const std::string& member_id);

  storage::Store& store_;
  const Clock& clock_;
  std::array<std::mutex, 64> stripes_;
};

}  // namespace loyalty
