#include "services/auth/auth.h"

#include <chrono>
#include <map>
#include <mutex>
#include <utility>

#include "base/log.h"
#include "base/metrics.h"

#include "base/str_cat.h"
#include "services/common/fingerprint.h"

namespace loyalty::auth {
namespace {

bool IsLowerHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kTerminal: return "terminal";
    case Role::kMember: return "member";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

absl::StatusOr<Authenticator> Authenticator::Create(
    const google::protobuf::RepeatedPtrField<internal::Credential>& credentials) {
  Authenticator a;
  for (int i = 0; i < credentials.size(); ++i) {
    const auto& c = credentials[i];
    const std::string field = loyalty::StrCat("credentials[", i, "]");
    if (!IsLowerHex64(c.token_sha256())) {
      return absl::InvalidArgumentError(
          loyalty::StrCat(field, ".token_sha256: must be 64 lower-case hex digits"));
    }
    Principal p;
    p.name = c.name().empty() ? field : c.name();
    switch (c.role()) {
      case internal::ROLE_TERMINAL:
        if (c.store_id().empty()) {
          return absl::InvalidArgumentError(loyalty::StrCat(field, ".store_id: a terminal credential is bound to one store"));
        }
        p.role = Role::kTerminal;
        p.store_id = c.store_id();
        break;
      case internal::ROLE_MEMBER:
        if (c.member_id().empty()) {
          return absl::InvalidArgumentError(loyalty::StrCat(field, ".member_id: a member credential is bound to one member"));
        }
        p.role = Role::kMember;
        p.member_id = c.member_id();
        break;
      case internal::ROLE_ADMIN:
        p.role = Role::kAdmin;
        break;
      default:
        return absl::InvalidArgumentError(loyalty::StrCat(field, ".role: is required"));
    }
    if (!a.by_hash_.emplace(c.token_sha256(), std::move(p)).second) {
      return absl::InvalidArgumentError(loyalty::StrCat(field, ".token_sha256: the same token is configured twice"));
    }
  }
  return a;
}

absl::StatusOr<Principal> Authenticator::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError("authorization: missing; send 'authorization: Bearer <token>' (gRPC metadata or HTTP header)");
  }
  if (authorization.substr(0, kBearer.size()) != kBearer || authorization.size() == kBearer.size()) {
    return absl::UnauthenticatedError("authorization: must be 'Bearer <token>'");
  }
  // Tokens are compared by their hash: the map lookup's timing reveals
  // nothing about the token itself.
  auto it = by_hash_.find(Sha256Hex(authorization.substr(kBearer.size())));
  if (it == by_hash_.end()) return absl::UnauthenticatedError("authorization: unknown token");
  return it->second;
}

namespace {

// The kind of failure, for the metric's label and the log.
std::string_view FailureReason(std::string_view authorization) {
  if (authorization.empty()) return "missing";
  if (authorization.substr(0, 7) != "Bearer " || authorization.size() == 7) return "malformed";
  return "unknown_token";
}

// At most one log line a second per reason; the rest are counted.
class FailureLog {
 public:
  void Note(std::string_view reason, std::string_view peer) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = slots_[std::string(reason)];
    if (now - slot.last_logged < std::chrono::seconds(1)) {
      ++slot.suppressed;
      return;
    }
    const uint64_t suppressed = std::exchange(slot.suppressed, 0);
    slot.last_logged = now;
    LogWarning(loyalty::StrCat("authentication failed (", reason, ") from ", peer.empty() ? "an unknown peer" : peer,
                               suppressed > 0 ? loyalty::StrCat("; ", suppressed, " more failures of this kind not logged")
                                              : std::string()));
  }

 private:
  struct Slot {
    std::chrono::steady_clock::time_point last_logged{};
    uint64_t suppressed = 0;
  };
  std::mutex mu_;
  std::map<std::string, Slot> slots_;
};

}  // namespace

absl::StatusOr<Principal> Authenticator::AuthenticateCall(std::string_view authorization,
                                                          std::string_view peer) const {
  absl::StatusOr<Principal> who = Authenticate(authorization);
  if (who.ok()) return who;
  static metrics::CounterFamily& failures = metrics::DefaultRegistry().AddCounter(
      "loyaltyd_authentication_failures_total", "Calls refused for their credential, by reason.", {"reason"});
  static FailureLog* log = new FailureLog();  // lives until exit, as the registry
  const std::string_view reason = FailureReason(authorization);
  failures.WithLabels({std::string(reason)}).Inc();
  log->Note(reason, peer);
  return who;
}

absl::Status RequireAdmin(const Principal& p) {
  if (p.role == Role::kAdmin) return absl::OkStatus();
  return absl::PermissionDeniedError(loyalty::StrCat("needs an admin credential, this is a ", RoleName(p.role), " credential"));
}

absl::Status RequireTerminalOf(const Principal& p, std::string_view store_id) {
  if (p.role == Role::kAdmin) return absl::OkStatus();
  if (p.role != Role::kTerminal) {
    return absl::PermissionDeniedError(loyalty::StrCat("needs a terminal credential, this is a ", RoleName(p.role), " credential"));
  }
  if (p.store_id != store_id) {
    return absl::PermissionDeniedError(loyalty::StrCat("this terminal credential is bound to store '", p.store_id,
                                                    "' and may not record for store '", store_id, "'"));
  }
  return absl::OkStatus();
}

absl::Status RequireTerminal(const Principal& p) {
  if (p.role == Role::kAdmin || p.role == Role::kTerminal) return absl::OkStatus();
  return absl::PermissionDeniedError(loyalty::StrCat("needs a terminal credential, this is a ", RoleName(p.role), " credential"));
}

absl::Status RequireMemberAccess(const Principal& p, std::string_view member_id) {
  if (p.role == Role::kAdmin) return absl::OkStatus();
  if (p.role == Role::kMember && p.member_id == member_id) return absl::OkStatus();
  if (p.role == Role::kMember) {
    return absl::PermissionDeniedError("a member credential may only see its own member");
  }
  return absl::PermissionDeniedError(loyalty::StrCat("needs a member or admin credential, this is a ", RoleName(p.role), " credential"));
}

}  // namespace loyalty::auth
