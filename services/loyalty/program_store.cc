#include "services/loyalty/program_store.h"

#include "services/common/field_checks.h"

#include <cassert>

#include "base/str_cat.h"
#include "loyalty/internal/records.pb.h"
#include "services/common/status_macros.h"
#include "services/loyalty/codec.h"
#include "storage/keys.h"

namespace loyalty {

using storage::Cf;

absl::StatusOr<std::unique_ptr<ProgramStore>> ProgramStore::Open(storage::Store& store,
                                                                 engine::ProgramConfig initial,
                                                                 const Clock& clock) {
  std::unique_ptr<ProgramStore> ps(new ProgramStore(store, clock));
  auto current = store.GetProto<internal::ProgramRecord>(Cf::kMeta, storage::kCurrentProgramKey);
  if (!current.ok()) return current.status();
  if (current->has_value()) {
    ps->current_ = std::make_shared<const engine::ProgramConfig>(codec::FromProto((*current)->program()));
    ps->current_published_ = (*current)->program();
    return ps;
  }
  initial.version = 1;
  if (std::string problem = engine::Validate(initial); !problem.empty()) {
    return absl::InvalidArgumentError(loyalty::StrCat("initial program: ", problem));
  }
  LOYALTY_ASSIGN_OR_RETURN(ps->current_published_, ps->Write(initial, "loyaltyd", "initial program"));
  ps->current_ = std::make_shared<const engine::ProgramConfig>(std::move(initial));
  return ps;
}

ProgramPtr ProgramStore::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

absl::StatusOr<ProgramPtr> ProgramStore::Version(uint64_t version) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_->version == version) return current_;
    if (auto it = versions_.find(version); it != versions_.end()) return it->second;
  }
  auto record = store_.GetProto<internal::ProgramRecord>(Cf::kMeta, storage::ProgramVersionKey(version));
  if (!record.ok()) return record.status();
  if (!record->has_value()) return absl::NotFoundError(loyalty::StrCat("program version ", version));
  auto config = std::make_shared<const engine::ProgramConfig>(codec::FromProto((*record)->program()));
  std::lock_guard<std::mutex> lock(mu_);
  versions_[version] = config;
  return ProgramPtr(config);
}

absl::StatusOr<engine::ProgramConfig> ProgramStore::Check(const v1::Program& proposed) {
  // What the engine's form of the program cannot tell: enum values this
  // build does not know, times out of range.
  for (int i = 0; i < proposed.promotions_size(); ++i) {
    const v1::Promotion& p = proposed.promotions(i);
    const std::string f = loyalty::StrCat("program.promotions[", i, "]");
    LOYALTY_RETURN_IF_ERROR(ValidateTimestamp(f + ".starts_at", p.starts_at()));
    LOYALTY_RETURN_IF_ERROR(ValidateTimestamp(f + ".ends_at", p.ends_at()));
  }
  if (!v1::TillProof_IsValid(proposed.till_proof())) {
    return FieldError("program.till_proof", loyalty::StrCat("must be one of TILL_PROOF_APP_CODE, TILL_PROOF_PIN, "
                                                            "TILL_PROOF_APP_CODE_OR_PIN, got ",
                                                            static_cast<int>(proposed.till_proof())));
  }
  for (int i = 0; i < proposed.offers_size(); ++i) {
    const v1::OfferTemplate& o = proposed.offers(i);
    const std::string f = loyalty::StrCat("program.offers[", i, "]");
    if (o.kind() == v1::OFFER_KIND_UNSPECIFIED || !v1::OfferKind_IsValid(o.kind())) {
      return FieldError(f + ".kind", loyalty::StrCat("must be one of OFFER_KIND_PERCENT_OFF .. OFFER_KIND_STAGE_NUDGE, got ",
                                                     static_cast<int>(o.kind())));
    }
    if (o.has_starts_at()) LOYALTY_RETURN_IF_ERROR(ValidateTimestamp(f + ".starts_at", o.starts_at()));
    if (o.has_ends_at()) LOYALTY_RETURN_IF_ERROR(ValidateTimestamp(f + ".ends_at", o.ends_at()));
  }
  engine::ProgramConfig config = codec::FromProto(proposed);
  if (std::string problem = engine::Validate(config); !problem.empty()) {
    return absl::InvalidArgumentError(loyalty::StrCat("program.", problem));
  }
  return config;
}

absl::StatusOr<v1::Program> ProgramStore::Publish(const v1::Program& proposed, uint64_t expected_version,
                                                  const std::string& author) {
  LOYALTY_ASSIGN_OR_RETURN(engine::ProgramConfig config, Check(proposed));
  std::lock_guard<std::mutex> publishing(publish_mu_);
  const ProgramPtr current = Current();
  if (expected_version != current->version) {
    return absl::FailedPreconditionError(loyalty::StrCat(
        "expected_version: the program is at version ", current->version, ", not ", expected_version,
        "; read it again and re-apply your change"));
  }
  if (config.currency != current->currency) {
    return absl::InvalidArgumentError(loyalty::StrCat("program.currency: the program runs in ", current->currency,
                                                      "; changing the currency needs a new program"));
  }
  config.version = current->version + 1;
  LOYALTY_ASSIGN_OR_RETURN(v1::Program stored,
                           Write(config, author, loyalty::StrCat("published version ", config.version)));
  auto published = std::make_shared<const engine::ProgramConfig>(std::move(config));
  {
    std::lock_guard<std::mutex> lock(mu_);
    versions_[current->version] = current;
    current_ = published;
    current_published_ = stored;
  }
  assert(stored.version() == published->version && stored.has_published_at());
  return stored;
}

v1::Program ProgramStore::CurrentPublished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_published_;
}

absl::StatusOr<v1::Program> ProgramStore::Write(const engine::ProgramConfig& config, const std::string& author,
                                                const std::string& summary) {
  assert(config.version > 0);
  const google::protobuf::Timestamp now = clock_.NowTimestamp();
  internal::ProgramRecord record;
  *record.mutable_program() = codec::ToProto(config);
  *record.mutable_program()->mutable_published_at() = now;
  record.mutable_program()->set_published_by(author);
  internal::AuditRecord audit;
  audit.set_version(config.version);
  audit.set_author(author);
  *audit.mutable_at() = now;
  audit.set_summary(summary);
  storage::WriteSet writes;
  writes.Put(Cf::kMeta, storage::ProgramVersionKey(config.version), record);
  writes.Put(Cf::kMeta, storage::kCurrentProgramKey, record);
  writes.Put(Cf::kAudit, storage::AuditKey(config.version), audit);
  LOYALTY_RETURN_IF_ERROR(store_.Commit(writes, storage::Durability::kSynced));
  return record.program();
}

absl::StatusOr<v1::ListAuditResponse> ProgramStore::ListAudit(uint32_t limit) const {
  if (limit == 0) limit = 50;
  if (limit > 500) return absl::InvalidArgumentError("limit: must be at most 500");
  v1::ListAuditResponse out;
  auto it = store_.NewCursor(Cf::kAudit);
  for (it->SeekToLast(); it->Valid() && static_cast<uint32_t>(out.entries_size()) < limit; it->Prev()) {
    internal::AuditRecord audit;
    if (!audit.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError("unparseable audit record");
    }
    auto* e = out.add_entries();
    e->set_version(audit.version());
    e->set_author(audit.author());
    *e->mutable_at() = audit.at();
    e->set_summary(audit.summary());
    auto program = store_.GetProto<internal::ProgramRecord>(Cf::kMeta, storage::ProgramVersionKey(audit.version()));
    if (program.ok() && program->has_value()) *e->mutable_program() = (*program)->program();
  }
  if (absl::Status read = it->status("list audit"); !read.ok()) return read;
  return out;
}

}  // namespace loyalty
