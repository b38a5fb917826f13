#include "services/loyalty/member_pins.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cassert>
#include <functional>

#include "base/log.h"
#include "base/str_cat.h"
#include "loyalty/internal/records.pb.h"
#include "services/common/field_checks.h"
#include "services/common/status_macros.h"
#include "storage/keys.h"

namespace loyalty {
namespace {

constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

std::string HashPin(std::string_view pin, std::string_view salt, uint32_t iterations) {
  std::string out(kHashBytes, '\0');
  const int ok = PKCS5_PBKDF2_HMAC(pin.data(), static_cast<int>(pin.size()),
                                   reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                                   static_cast<int>(iterations), EVP_sha256(), static_cast<int>(out.size()),
                                   reinterpret_cast<unsigned char*>(out.data()));
  assert(ok == 1);  // fails only on bad arguments or no memory
  (void)ok;
  return out;
}

}  // namespace

absl::Status ValidatePin(std::string_view field, std::string_view pin) {
  if (pin.size() < 4 || pin.size() > 8) return FieldError(field, "must be 4 to 8 digits");
  for (char c : pin) {
    if (c < '0' || c > '9') return FieldError(field, "must be digits only");
  }
  // One digit repeated (1111), or a run up or down (1234, 9876, 8901): the
  // first PINs anyone tries.
  const int step = (pin[1] - pin[0] + 10) % 10;
  bool run = step == 0 || step == 1 || step == 9;
  for (size_t i = 2; run && i < pin.size(); ++i) run = (pin[i] - pin[i - 1] + 10) % 10 == step;
  if (run) return FieldError(field, "is too easy to guess (one digit repeated, or a run such as 1234)");
  return absl::OkStatus();
}

std::mutex& MemberPins::StripeOf(const std::string& member_id) {
  return stripes_[std::hash<std::string>{}(member_id) % stripes_.size()];
}

absl::Status MemberPins::Set(const std::string& member_id, std::string_view pin) {
  storage::WriteSet writes;
  if (pin.empty()) {
    writes.Delete(storage::Cf::kMeta, storage::MemberPinKey(member_id));
  } else {
    LOYALTY_RETURN_IF_ERROR(ValidatePin("pin", pin));
    internal::MemberPinRecord record;
    std::string salt(kSaltBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) != 1) {
      return absl::InternalError("pin: no random bytes for the salt");
    }
    record.set_hash(HashPin(pin, salt, kPinHashIterations));
    record.set_salt(std::move(salt));
    record.set_iterations(kPinHashIterations);
    *record.mutable_set_at() = clock_.NowTimestamp();
    writes.Put(storage::Cf::kMeta, storage::MemberPinKey(member_id), record);
  }
  std::lock_guard<std::mutex> lock(StripeOf(member_id));
  return store_.Commit(writes, storage::Durability::kSynced);
}

absl::Status MemberPins::Verify(const std::string& member_id, std::string_view pin, std::string_view who) {
  if (pin.size() > 8) return FieldError("pin", "must be 4 to 8 digits");
  std::lock_guard<std::mutex> lock(StripeOf(member_id));
  const std::string key = storage::MemberPinKey(member_id);
  LOYALTY_ASSIGN_OR_RETURN(auto stored, store_.GetProto<internal::MemberPinRecord>(storage::Cf::kMeta, key));
  if (!stored.has_value()) {
    return absl::FailedPreconditionError(
        "pin: the member has not set a PIN; the member sets one in the app, or shows the app's till code");
  }
  internal::MemberPinRecord& record = *stored;
  if (record.failed_attempts() >= kMaxPinFailures) {
    return absl::PermissionDeniedError(loyalty::StrCat("pin: locked after ", kMaxPinFailures,
                                                       " wrong PINs in a row; the member sets a new one in the app"));
  }
  const std::string hash = HashPin(pin, record.salt(), record.iterations());
  const bool right = hash.size() == record.hash().size() &&
                     CRYPTO_memcmp(hash.data(), record.hash().data(), hash.size()) == 0;
  if (right && record.failed_attempts() == 0) return absl::OkStatus();
  record.set_failed_attempts(right ? 0 : record.failed_attempts() + 1);
  if (record.failed_attempts() >= kMaxPinFailures) *record.mutable_locked_at() = clock_.NowTimestamp();
  storage::WriteSet writes;
  writes.Put(storage::Cf::kMeta, key, record);
  // A wrong PIN is answered only once it is counted: otherwise guesses
  // during a storage fault would be free.
  if (absl::Status saved = store_.Commit(writes, storage::Durability::kSynced); !saved.ok()) {
    return absl::Status(saved.code(), loyalty::StrCat("pin: could not be checked now: ", saved.message()));
  }
  if (right) return absl::OkStatus();
  LogWarning(loyalty::StrCat("till PIN: wrong PIN for member ", member_id, " from '", who, "' (",
                             record.failed_attempts(), " of ", kMaxPinFailures, " in a row)"));
  if (record.failed_attempts() >= kMaxPinFailures) {
    return absl::PermissionDeniedError(loyalty::StrCat("pin: wrong; locked now after ", kMaxPinFailures,
                                                       " wrong PINs in a row; the member sets a new one in the app"));
  }
  return absl::PermissionDeniedError(loyalty::StrCat("pin: wrong; ", kMaxPinFailures - record.failed_attempts(),
                                                     " more wrong and it locks"));
}

}  // namespace loyalty
