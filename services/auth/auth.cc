#include "services/auth/auth.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <mutex>
#include <utility>

#include "base/log.h"
#include "base/metrics.h"

#include "base/str_cat.h"
#include "services/auth/credential_store.h"
#include "services/common/field_checks.h"
#include "services/common/fingerprint.h"
#include "services/common/status_macros.h"

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
  const std::string_view token = authorization.substr(kBearer.size());
  // A JWT has two dots; no credential token has one.
  if (jwts_ != nullptr && std::count(token.begin(), token.end(), '.') == 2) {
    return jwts_->Verify(token, now_unix_());
  }
  // Tokens are compared by their hash: the map lookup's timing reveals
  // nothing about the token itself.
  const std::string hash = Sha256Hex(token);
  auto it = by_hash_.find(hash);
  if (it != by_hash_.end()) return it->second;
  if (credentials_ != nullptr) {
    if (auto found = credentials_->Find(hash)) return *found;
  }
  return absl::UnauthenticatedError("authorization: unknown token");
}

absl::StatusOr<std::unique_ptr<MemberJwts>> MemberJwts::Load(std::string jwks_file, JwtOptions options,
                                                             std::chrono::seconds reload_interval) {
  std::unique_ptr<MemberJwts> jwts(new MemberJwts(std::move(jwks_file), std::move(options), reload_interval));
  std::ifstream in(jwts->file_);
  if (!in) return absl::InvalidArgumentError(loyalty::StrCat("member_jwt.jwks_file: cannot read ", jwts->file_));
  std::stringstream text;
  text << in.rdbuf();
  auto verifier = JwtVerifier::Create(text.str(), jwts->options_);
  if (!verifier.ok()) return Annotate(verifier.status(), loyalty::StrCat("member_jwt.jwks_file ", jwts->file_));
  jwts->verifier_ = std::make_shared<const JwtVerifier>(std::move(*verifier));
  jwts->stamp_ = jwts->Stamp();
  jwts->checked_ = std::chrono::steady_clock::now();
  return jwts;
}

std::string MemberJwts::Stamp() const {
  struct stat st {};
  if (stat(file_.c_str(), &st) != 0) return "";
  return loyalty::StrCat(st.st_size, ".", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
}

void MemberJwts::ReloadIfChanged() const {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - checked_ < interval_) return;
    checked_ = now;
  }
  const std::string stamp = Stamp();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stamp.empty() || stamp == stamp_) return;
  }
  std::ifstream in(file_);
  std::stringstream text;
  text << in.rdbuf();
  auto verifier = JwtVerifier::Create(text.str(), options_);
  std::lock_guard<std::mutex> lock(mu_);
  stamp_ = stamp;
  if (!verifier.ok()) {
    LogError(loyalty::StrCat("member_jwt: ", file_, " changed but cannot be used (the keys before stay): ",
                             verifier.status().message()));
    return;
  }
  verifier_ = std::make_shared<const JwtVerifier>(std::move(*verifier));
  LogInfo(loyalty::StrCat("member_jwt: keys reloaded from ", file_, " (", verifier_->key_count(), " keys)"));
}

absl::StatusOr<Principal> MemberJwts::Verify(std::string_view token, int64_t now_unix) const {
  ReloadIfChanged();
  std::shared_ptr<const JwtVerifier> verifier;
  {
    std::lock_guard<std::mutex> lock(mu_);
    verifier = verifier_;
  }
  auto verified = verifier->Verify(token, now_unix);
  if (!verified.ok()) return verified.status();
  // The subject must be a member id this program can hold.
  if (absl::Status id = ValidateId("token subject", verified->member_id); !id.ok()) {
    return absl::UnauthenticatedError(loyalty::StrCat(id.message(), " (it names the member)"));
  }
  Principal p;
  p.role = Role::kMember;
  p.member_id = verified->member_id;
  p.name = loyalty::StrCat("member ", verified->member_id, " (identity provider key ", verified->key_id, ")");
  return p;
}

namespace {

// The kind of failure, for the metric's label and the log.
std::string_view FailureReason(std::string_view authorization, const absl::Status& refusal) {
  if (authorization.empty()) return "missing";
  if (authorization.substr(0, 7) != "Bearer " || authorization.size() == 7) return "malformed";
  if (std::count(authorization.begin(), authorization.end(), '.') == 2) return "jwt_refused";
  if (refusal.message().find("expired") != std::string_view::npos) return "expired";
  return "unknown_token";
}

// At most one log line a second per reason; the rest are counted.
class FailureLog {
 public:
  // "<what> (<reason>) from <who>".
  void Note(std::string_view reason, std::string_view who, std::string_view what) {
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = slots_[std::string(reason)];
    if (now - slot.last_logged < std::chrono::seconds(1)) {
      ++slot.suppressed;
      return;
    }
    const uint64_t suppressed = std::exchange(slot.suppressed, 0);
    slot.last_logged = now;
    LogWarning(loyalty::StrCat(what, " (", reason, ") from ", who,
                               suppressed > 0 ? loyalty::StrCat("; ", suppressed, " more of this kind not logged")
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

metrics::CounterFamily& AuthenticationFailures() {
  static metrics::CounterFamily& failures = metrics::DefaultRegistry().AddCounter(
      "loyaltyd_authentication_failures_total", "Calls refused for their credential, by reason.", {"reason"});
  return failures;
}

}  // namespace

void Authenticator::SetRateLimits(const CallRateLimits& limits) { buckets_ = std::make_shared<Buckets>(limits); }

absl::Status Authenticator::Admit(const Principal& p) const {
  if (!buckets_) return absl::OkStatus();
  absl::Status admitted;
  switch (p.role) {
    case Role::kTerminal:
      admitted = buckets_->terminal.Take(p.name, loyalty::StrCat("rate limit of terminal credential '", p.name, "'"));
      break;
    case Role::kMember:
      admitted = buckets_->member.Take(p.member_id, loyalty::StrCat("rate limit of member '", p.member_id, "'"));
      break;
    case Role::kAdmin:
      admitted = buckets_->admin.Take(p.name, loyalty::StrCat("rate limit of admin credential '", p.name, "'"));
      break;
  }
  if (admitted.ok()) return admitted;
  static metrics::CounterFamily& limited = metrics::DefaultRegistry().AddCounter(
      "loyaltyd_rate_limited_total", "Calls refused by their caller's rate limit, by role.", {"role"});
  static FailureLog* log = new FailureLog();  // lives until exit, as the registry
  limited.WithLabels({RoleName(p.role)}).Inc();
  log->Note(RoleName(p.role), loyalty::StrCat("'", p.role == Role::kMember ? p.member_id : p.name, "'"),
            "rate limit reached");
  return admitted;
}

absl::StatusOr<Principal> Authenticator::AuthenticateCall(std::string_view authorization, std::string_view peer,
                                                          std::string_view client_cert_cn) const {
  absl::StatusOr<Principal> who = Authenticate(authorization);
  if (who.ok() && who->role == Role::kTerminal) {
    const std::string_view cert_store = client_cert_cn.substr(0, client_cert_cn.find('/'));
    absl::Status bound;
    if (client_cert_cn.empty() && terminal_certificates_required_) {
      bound = absl::PermissionDeniedError(loyalty::StrCat(
          "client certificate: terminal credentials need the client certificate of their store ('", who->store_id,
          "') on the connection (mutual TLS)"));
    } else if (!client_cert_cn.empty() && cert_store != who->store_id) {
      bound = absl::PermissionDeniedError(loyalty::StrCat("client certificate: it belongs to store '", cert_store,
                                                          "', the terminal credential to store '", who->store_id, "'"));
    }
    if (!bound.ok()) {
      AuthenticationFailures().WithLabels({"wrong_certificate"}).Inc();
      return bound;
    }
  }
  if (who.ok()) {
    if (absl::Status admitted = Admit(*who); !admitted.ok()) return admitted;
    return who;
  }
  static FailureLog* log = new FailureLog();  // lives until exit, as the registry
  const std::string_view reason = FailureReason(authorization, who.status());
  AuthenticationFailures().WithLabels({std::string(reason)}).Inc();
  log->Note(reason, peer.empty() ? "an unknown peer" : peer, "authentication failed");
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
