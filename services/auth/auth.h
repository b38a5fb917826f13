// services/auth/auth.h: who is calling, and may they do this.
//
// Every call carries `authorization: Bearer <token>`. Tokens come from the
// server configuration, which stores only their SHA-256. Three roles:
//   terminal  bound to one store: may record and query that store's events
//   member    bound to one member: may see and act for that member only
//   admin     marketing and operators: everything
// No or unknown token: UNAUTHENTICATED. Wrong role, store or member:
// PERMISSION_DENIED, saying which.
//
// Thread-safety: an Authenticator is immutable after Create().
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>

#include <google/protobuf/repeated_ptr_field.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loyalty/internal/config.pb.h"

namespace loyalty::auth {

enum class Role { kTerminal, kMember, kAdmin };
const char* RoleName(Role role);

struct Principal {
  Role role = Role::kTerminal;
  std::string name;       // credential name, for logs and the audit trail
  std::string store_id;   // kTerminal only
  std::string member_id;  // kMember only
};

class Authenticator {
 public:
  // Validates the credentials (role, hash format, binding, no duplicates).
  static absl::StatusOr<Authenticator> Create(
      const google::protobuf::RepeatedPtrField<internal::Credential>& credentials);

  // `authorization` is the metadata value, "Bearer <token>".
  absl::StatusOr<Principal> Authenticate(std::string_view authorization) const;
  // Authenticate for a call from `peer` (its address): a failure is also
  // counted (loyaltyd_authentication_failures_total, by reason) and logged
  // with the peer and the reason, never the token; at most one line a second
  // per reason, with the number of failures not logged since.
  absl::StatusOr<Principal> AuthenticateCall(std::string_view authorization, std::string_view peer) const;

  size_t size() const { return by_hash_.size(); }

 private:
  std::unordered_map<std::string, Principal> by_hash_;  // hex SHA-256 -> principal
};

absl::Status RequireAdmin(const Principal& p);
// A terminal of `store_id` (the event's store), or an admin.
absl::Status RequireTerminalOf(const Principal& p, std::string_view store_id);
// The member itself, or an admin.
absl::Status RequireMemberAccess(const Principal& p, std::string_view member_id);
// Any terminal or admin (for lookups that are not bound to one store).
absl::Status RequireTerminal(const Principal& p);

}  // namespace loyalty::auth
