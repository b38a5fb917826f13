// services/auth/credential_store.h: credentials of terminals and admins made
// at run time (AdminService.CreateCredential, ListCredentials,
// RotateCredential, RevokeCredential), beside those of the configuration
// file (which seeds the first admin). A terminal credential is bound to one
// store; a credential may expire.
//
// Storage: CF meta, "credential/<id>" a CredentialRecord each (the token's
// SHA-256 only: the token itself is in the one answer that issues it), and
// "credential-audit/<seq>" a record of every change (who, when, what), which
// ListAudit shows with the program's changes. All credentials are loaded at
// start (they are few: one per store or till, one per admin).
//
// Thread-safety: every method may be called from any thread; lookups share a
// lock, changes are made one at a time and are durable before they answer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/admin.pb.h"
#include "services/auth/auth.h"
#include "services/common/clock.h"
#include "storage/store.h"

namespace loyalty::auth {

class CredentialStore {
 public:
  // At most this many live credentials, so a script gone wrong cannot fill
  // memory.
  static constexpr size_t kMaxCredentials = 100'000;

  static absl::StatusOr<std::unique_ptr<CredentialStore>> Open(storage::Store& store, const Clock& clock);

  // The principal of a token's hex SHA-256: nullopt if no run-time
  // credential has it; UNAUTHENTICATED if it expired or was revoked.
  std::optional<absl::StatusOr<Principal>> Find(const std::string& token_sha256) const;

  // Admin only. Each change is durable and audited before it answers.
  absl::StatusOr<v1::IssuedCredential> Create(const Principal& who, const v1::CreateCredentialRequest& request);
  absl::StatusOr<v1::ListCredentialsResponse> List(const Principal& who, const v1::ListCredentialsRequest& request) const;
  absl::StatusOr<v1::IssuedCredential> Rotate(const Principal& who, const v1::RotateCredentialRequest& request);
  absl::StatusOr<v1::Credential> Revoke(const Principal& who, const v1::RevokeCredentialRequest& request);

  // The newest `limit` changes, newest first.
  absl::StatusOr<std::vector<internal::CredentialAuditRecord>> Audit(uint32_t limit) const;

  size_t size() const;

 private:
  CredentialStore(storage::Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  // Writes `record` and its audit line; updates the maps once durable.
  absl::Status Save(const internal::CredentialRecord& record, const std::string& old_hash, const Principal& who,
                    std::string summary);
  absl::StatusOr<internal::CredentialRecord> Record(const std::string& credential_id) const;
  absl::Status CheckExpiry(std::string_view field, const google::protobuf::Timestamp& expires_at) const;

  storage::Store& store_;
  const Clock& clock_;
  std::mutex write_mu_;  // one change at a time (numbers, audit order)
  uint64_t last_id_ = 0;
  uint64_t last_audit_ = 0;
  mutable std::shared_mutex mu_;
  std::map<std::string, internal::CredentialRecord> by_id_;
  std::unordered_map<std::string, std::string> id_by_hash_;  // token SHA-256 -> credential id
};

}  // namespace loyalty::auth
