// services/auth/auth.h: who is calling, and may they do this.
//
// Every call carries `authorization: Bearer <token>`. A token is one of:
//   - a credential of the configuration file (only its SHA-256 is there),
//   - a credential made at run time (CredentialStore; SHA-256 only),
//   - a member's JWT from the retailer's identity provider (MemberJwts:
//     signature, issuer, audience and expiry checked; the subject is the
//     member id). Static member tokens stay for the demo and tests.
// Three roles:
//   terminal  bound to one store: may record and query that store's events
//   member    bound to one member: may see and act for that member only
//   admin     marketing and operators: everything
// No or unknown token: UNAUTHENTICATED. Wrong role, store or member:
// PERMISSION_DENIED, saying which.
//
// Rate limits. Every authenticated call takes a token from its caller's
// bucket: a terminal or admin credential's own, a member's (whatever token
// the member uses). Past it: RESOURCE_EXHAUSTED with a retry hint, counted
// (loyaltyd_rate_limited_total) and logged at most once a second per role.
// The credential is checked first, so an unknown caller spends nobody's
// budget.
//
// Thread-safety: an Authenticator's credentials are immutable after
// Create(); SetRateLimits before it is shared; AuthenticateCall from any
// thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <google/protobuf/repeated_ptr_field.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loyalty/internal/config.pb.h"
#include "services/auth/jwt.h"
#include "services/common/token_buckets.h"

namespace loyalty::auth {

enum class Role { kTerminal, kMember, kAdmin };
const char* RoleName(Role role);

struct Principal {
  Role role = Role::kTerminal;
  std::string name;       // credential name, for logs and the audit trail
  std::string store_id;   // kTerminal only
  std::string member_id;  // kMember only
};

class CredentialStore;

// The identity provider's keys (a JWKS file) and the rules its tokens must
// meet; the file is re-read when it changes (checked at most every
// `reload_interval`, by the call that notices), and a file that no longer
// parses keeps the keys before it.
class MemberJwts {
 public:
  static absl::StatusOr<std::unique_ptr<MemberJwts>> Load(std::string jwks_file, JwtOptions options,
                                                          std::chrono::seconds reload_interval);
  absl::StatusOr<Principal> Verify(std::string_view token, int64_t now_unix) const;

 private:
  MemberJwts(std::string file, JwtOptions options, std::chrono::seconds interval)
      : file_(std::move(file)), options_(std::move(options)), interval_(interval) {}
  std::string Stamp() const;
  void ReloadIfChanged() const;
  const std::string file_;
  const JwtOptions options_;
  const std::chrono::seconds interval_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<const JwtVerifier> verifier_;
  mutable std::string stamp_;
  mutable std::chrono::steady_clock::time_point checked_{};
};

struct CallRateLimits {
  RateLimit terminal{500, 1000};  // per terminal credential (a store's tills share one)
  RateLimit member{10, 40};       // per member
  RateLimit admin{200, 400};      // per admin credential
  size_t max_keys = 100'000;      // buckets kept per role
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
  // `client_cert_cn`: the common name of the client certificate the
  // connection verified (mutual TLS), empty without one. A terminal
  // credential must match its store (see SetTerminalCertificates).
  absl::StatusOr<Principal> AuthenticateCall(std::string_view authorization, std::string_view peer,
                                             std::string_view client_cert_cn = {}) const;

  size_t size() const { return by_hash_.size(); }

  void SetRateLimits(const CallRateLimits& limits);
  // Terminal credentials need a client certificate of their store (its
  // common name is the store id, or "<store id>/<anything>"). Without this a
  // certificate is still checked when one is presented.
  void SetTerminalCertificates(bool required) { terminal_certificates_required_ = required; }
  // Run-time credentials (after the configuration's), and member JWTs.
  // Both must outlive the authenticator; `now_unix` dates the JWTs.
  void SetCredentialStore(const CredentialStore* credentials) { credentials_ = credentials; }
  void SetMemberJwts(const MemberJwts* jwts, std::function<int64_t()> now_unix) {
    jwts_ = jwts;
    now_unix_ = std::move(now_unix);
  }
  // The rate-limit check AuthenticateCall makes, for a principal found
  // another way.
  absl::Status Admit(const Principal& p) const;

 private:
  struct Buckets {
    explicit Buckets(const CallRateLimits& l)
        : terminal(l.terminal, l.max_keys), member(l.member, l.max_keys), admin(l.admin, l.max_keys) {}
    TokenBuckets terminal, member, admin;
  };
  std::unordered_map<std::string, Principal> by_hash_;  // hex SHA-256 -> principal
  std::shared_ptr<Buckets> buckets_;  // null: no limits
  bool terminal_certificates_required_ = false;
  const CredentialStore* credentials_ = nullptr;
  const MemberJwts* jwts_ = nullptr;
  std::function<int64_t()> now_unix_;
};

absl::Status RequireAdmin(const Principal& p);
// A terminal of `store_id` (the event's store), or an admin.
absl::Status RequireTerminalOf(const Principal& p, std::string_view store_id);
// The member itself, or an admin.
absl::Status RequireMemberAccess(const Principal& p, std::string_view member_id);
// Any terminal or admin (for lookups that are not bound to one store).
absl::Status RequireTerminal(const Principal& p);

}  // namespace loyalty::auth
