#include "services/auth/credential_store.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cassert>

#include "absl/strings/escaping.h"
#include "base/log.h"
#include "base/str_cat.h"
#include "services/common/field_checks.h"
#include "services/common/fingerprint.h"
#include "services/common/status_macros.h"

namespace loyalty::auth {
namespace {

using storage::Cf;

constexpr std::string_view kTokenPrefix = "loy_";

// 32 random bytes, hex: 256 bits no one guesses.
absl::StatusOr<std::string> NewToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return absl::UnavailableError("credential: no random bytes to make a token; retry");
  return loyalty::StrCat(kTokenPrefix,
                         absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes)));
}

// "cred-<n>": credential numbers are never reused (the counter is stored).
std::string IdOf(uint64_t n) { return loyalty::StrCat("cred-", n); }

uint64_t NumberOf(std::string_view id) {
  if (id.substr(0, 5) != "cred-") return 0;
  uint64_t n = 0;
  for (char c : id.substr(5)) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

std::string_view RoleWord(v1::CredentialRole role) { return role == v1::CREDENTIAL_ROLE_ADMIN ? "admin" : "terminal"; }

Principal PrincipalOf(const v1::Credential& c) {
  Principal p;
  p.role = c.role() == v1::CREDENTIAL_ROLE_ADMIN ? Role::kAdmin : Role::kTerminal;
  p.name = loyalty::StrCat(c.name(), " (", c.credential_id(), ")");
  p.store_id = c.store_id();
  return p;
}

std::string Describe(const v1::Credential& c) {
  std::string out = loyalty::StrCat(RoleWord(c.role()), " credential ", c.credential_id(), " '", c.name(), "'");
  if (c.role() == v1::CREDENTIAL_ROLE_TERMINAL) out += loyalty::StrCat(" of store ", c.store_id());
  if (c.has_expires_at()) out += loyalty::StrCat(", expires at unix ", c.expires_at().seconds());
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CredentialStore>> CredentialStore::Open(storage::Store& store, const Clock& clock) {
  std::unique_ptr<CredentialStore> cs(new CredentialStore(store, clock));
  auto it = store.NewCursor(Cf::kMeta);
  for (it->Seek(std::string(storage::kCredentialPrefix)); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, storage::kCredentialPrefix.size()) != storage::kCredentialPrefix) break;
    internal::CredentialRecord record;
    if (!record.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(loyalty::StrCat("unparseable credential record at ", key));
    }
    const std::string id = record.credential().credential_id();
    cs->last_id_ = std::max(cs->last_id_, NumberOf(id));
    if (!record.credential().has_revoked_at()) cs->id_by_hash_[record.token_sha256()] = id;
    cs->by_id_[id] = std::move(record);
  }
  if (absl::Status read = it->status("load credentials"); !read.ok()) return read;
  auto audit = store.NewCursor(Cf::kMeta);
  audit->SeekForPrev(loyalty::StrCat(storage::kCredentialAuditPrefix, std::string(8, '\xff')));
  if (audit->Valid()) {
    std::string_view key(audit->key().data(), audit->key().size());
    if (key.substr(0, storage::kCredentialAuditPrefix.size()) == storage::kCredentialAuditPrefix &&
        key.size() == storage::kCredentialAuditPrefix.size() + 8) {
      for (unsigned char c : key.substr(storage::kCredentialAuditPrefix.size())) cs->last_audit_ = (cs->last_audit_ << 8) | c;
    }
  }
  return cs;
}

size_t CredentialStore::size() const {
  std::shared_lock lock(mu_);
  return id_by_hash_.size();
}

std::optional<absl::StatusOr<Principal>> CredentialStore::Find(const std::string& token_sha256) const {
  std::shared_lock lock(mu_);
  auto id = id_by_hash_.find(token_sha256);
  if (id == id_by_hash_.end()) return std::nullopt;
  const v1::Credential& c = by_id_.at(id->second).credential();
  if (c.has_expires_at() && c.expires_at().seconds() <= clock_.NowUnixSeconds()) {
    return absl::StatusOr<Principal>(absl::UnauthenticatedError(
        loyalty::StrCat("authorization: this credential expired at unix ", c.expires_at().seconds(),
                        "; ask an admin to rotate it")));
  }
  return absl::StatusOr<Principal>(PrincipalOf(c));
}

absl::Status CredentialStore::CheckExpiry(std::string_view field, const google::protobuf::Timestamp& expires_at) const {
  LOYALTY_RETURN_IF_ERROR(ValidateTimestamp(field, expires_at));
  if (expires_at.seconds() <= clock_.NowUnixSeconds()) return FieldError(field, "must be in the future");
  return absl::OkStatus();
}

absl::Status CredentialStore::Save(const internal::CredentialRecord& record, const std::string& old_hash,
                                   const Principal& who, std::string summary) {
  internal::CredentialAuditRecord audit;
  audit.set_credential_id(record.credential().credential_id());
  audit.set_author(who.name);
  *audit.mutable_at() = clock_.NowTimestamp();
  audit.set_summary(std::move(summary));
  storage::WriteSet writes;
  writes.Put(Cf::kMeta, storage::CredentialKey(record.credential().credential_id()), record);
  writes.Put(Cf::kMeta, storage::CredentialAuditKey(last_audit_ + 1), audit);
  LOYALTY_RETURN_IF_ERROR(store_.Commit(writes, storage::Durability::kSynced));
  ++last_audit_;
  LogInfo(loyalty::StrCat("credentials: ", audit.summary(), " by ", who.name));
  std::unique_lock lock(mu_);
  if (!old_hash.empty()) id_by_hash_.erase(old_hash);
  if (!record.credential().has_revoked_at()) id_by_hash_[record.token_sha256()] = record.credential().credential_id();
  by_id_[record.credential().credential_id()] = record;
  return absl::OkStatus();
}

absl::StatusOr<v1::IssuedCredential> CredentialStore::Create(const Principal& who,
                                                             const v1::CreateCredentialRequest& request) {
  LOYALTY_RETURN_IF_ERROR(RequireAdmin(who));
  if (request.name().empty() || request.name().size() > 128) return FieldError("name", "must be 1 to 128 bytes");
  for (unsigned char c : request.name()) {
    if (c < 0x20 || c == 0x7f) return FieldError("name", "must not hold control characters");
  }
  switch (request.role()) {
    case v1::CREDENTIAL_ROLE_TERMINAL:
      LOYALTY_RETURN_IF_ERROR(ValidateId("store_id", request.store_id()));
      break;
    case v1::CREDENTIAL_ROLE_ADMIN:
      if (!request.store_id().empty()) return FieldError("store_id", "an admin credential is bound to no store");
      break;
    default:
      return FieldError("role", "must be CREDENTIAL_ROLE_TERMINAL or CREDENTIAL_ROLE_ADMIN");
  }
  if (request.has_expires_at()) LOYALTY_RETURN_IF_ERROR(CheckExpiry("expires_at", request.expires_at()));
  std::lock_guard<std::mutex> write(write_mu_);
  if (size() >= kMaxCredentials) {
    return absl::ResourceExhaustedError(
        loyalty::StrCat("credentials: at most ", kMaxCredentials, " live credentials; revoke some first"));
  }
  LOYALTY_ASSIGN_OR_RETURN(std::string token, NewToken());
  internal::CredentialRecord record;
  v1::Credential& c = *record.mutable_credential();
  c.set_credential_id(IdOf(last_id_ + 1));
  c.set_name(request.name());
  c.set_role(request.role());
  c.set_store_id(request.store_id());
  *c.mutable_created_at() = clock_.NowTimestamp();
  c.set_created_by(who.name);
  if (request.has_expires_at()) *c.mutable_expires_at() = request.expires_at();
  record.set_token_sha256(Sha256Hex(token));
  LOYALTY_RETURN_IF_ERROR(Save(record, "", who, loyalty::StrCat("created ", Describe(c))));
  ++last_id_;
  v1::IssuedCredential out;
  *out.mutable_credential() = c;
  out.set_token(std::move(token));
  return out;
}

absl::StatusOr<v1::ListCredentialsResponse> CredentialStore::List(const Principal& who,
                                                                  const v1::ListCredentialsRequest& request) const {
  LOYALTY_RETURN_IF_ERROR(RequireAdmin(who));
  v1::ListCredentialsResponse out;
  std::shared_lock lock(mu_);
  for (const auto& [id, record] : by_id_) {
    if (record.credential().has_revoked_at() && !request.include_revoked()) continue;
    *out.add_credentials() = record.credential();
  }
  return out;
}

absl::StatusOr<internal::CredentialRecord> CredentialStore::Record(const std::string& credential_id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(credential_id);
  if (it == by_id_.end()) return absl::NotFoundError(loyalty::StrCat("credential_id: no credential ", credential_id));
  return it->second;
}

absl::StatusOr<v1::IssuedCredential> CredentialStore::Rotate(const Principal& who,
                                                             const v1::RotateCredentialRequest& request) {
  LOYALTY_RETURN_IF_ERROR(RequireAdmin(who));
  LOYALTY_RETURN_IF_ERROR(ValidateId("credential_id", request.credential_id()));
  if (request.has_expires_at()) LOYALTY_RETURN_IF_ERROR(CheckExpiry("expires_at", request.expires_at()));
  std::lock_guard<std::mutex> write(write_mu_);
  LOYALTY_ASSIGN_OR_RETURN(internal::CredentialRecord record, Record(request.credential_id()));
  if (record.credential().has_revoked_at()) {
    return absl::FailedPreconditionError(loyalty::StrCat("credential_id: ", request.credential_id(), " is revoked"));
  }
  const std::string old_hash = record.token_sha256();
  LOYALTY_ASSIGN_OR_RETURN(std::string token, NewToken());
  v1::Credential& c = *record.mutable_credential();
  *c.mutable_rotated_at() = clock_.NowTimestamp();
  if (request.has_expires_at()) *c.mutable_expires_at() = request.expires_at();
  record.set_token_sha256(Sha256Hex(token));
  LOYALTY_RETURN_IF_ERROR(Save(record, old_hash, who, loyalty::StrCat("rotated ", Describe(c))));
  v1::IssuedCredential out;
  *out.mutable_credential() = c;
  out.set_token(std::move(token));
  return out;
}

absl::StatusOr<v1::Credential> CredentialStore::Revoke(const Principal& who, const v1::RevokeCredentialRequest& request) {
  LOYALTY_RETURN_IF_ERROR(RequireAdmin(who));
  LOYALTY_RETURN_IF_ERROR(ValidateId("credential_id", request.credential_id()));
  std::lock_guard<std::mutex> write(write_mu_);
  LOYALTY_ASSIGN_OR_RETURN(internal::CredentialRecord record, Record(request.credential_id()));
  if (record.credential().has_revoked_at()) return record.credential();  // revoking twice changes nothing
  *record.mutable_credential()->mutable_revoked_at() = clock_.NowTimestamp();
  LOYALTY_RETURN_IF_ERROR(Save(record, record.token_sha256(), who, loyalty::StrCat("revoked ", Describe(record.credential()))));
  return record.credential();
}

absl::StatusOr<std::vector<internal::CredentialAuditRecord>> CredentialStore::Audit(uint32_t limit) const {
  std::vector<internal::CredentialAuditRecord> out;
  auto it = store_.NewCursor(Cf::kMeta);
  for (it->SeekForPrev(loyalty::StrCat(storage::kCredentialAuditPrefix, std::string(8, '\xff')));
       it->Valid() && out.size() < limit; it->Prev()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, storage::kCredentialAuditPrefix.size()) != storage::kCredentialAuditPrefix) break;
    internal::CredentialAuditRecord r;
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(loyalty::StrCat("unparseable credential audit record"));
    }
    out.push_back(std::move(r));
  }
  if (absl::Status read = it->status("read the credential audit"); !read.ok()) return read;
  return out;
}

}  // namespace loyalty::auth
