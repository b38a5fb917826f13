// services/loyalty/program_store.h: the published program configuration,
// versioned and audited.
//
// Every published version is kept (events record the version they were
// applied with, so replay uses the same rules). Publishing validates the
// proposal (engine::Validate names the field and the reason), checks the
// caller's expected version (optimistic concurrency), stores the new version
// and an audit record in one synced commit, then makes it current.
//
// Thread-safety: all methods are safe to call concurrently. Current() is a
// cheap shared_ptr copy; an event holds its program for as long as it runs.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "loyalty/v1/admin.pb.h"
#include "services/common/clock.h"
#include "services/loyalty/engine/program.h"
#include "storage/store.h"

namespace loyalty {

using ProgramPtr = std::shared_ptr<const engine::ProgramConfig>;

class ProgramStore {
 public:
  // Loads the newest program, or publishes `initial` as version 1.
  static absl::StatusOr<std::unique_ptr<ProgramStore>> Open(storage::Store& store,
                                                            engine::ProgramConfig initial,
                                                            const Clock& clock);

  ProgramPtr Current() const;
  // The current version as published: with published_at and published_by.
  v1::Program CurrentPublished() const;
  // A published version (for replay). NOT_FOUND if never published.
  absl::StatusOr<ProgramPtr> Version(uint64_t version) const;

  // Validates and publishes `proposed` as the next version.
  // FAILED_PRECONDITION if `expected_version` is not the current one.
  absl::StatusOr<v1::Program> Publish(const v1::Program& proposed, uint64_t expected_version,
                                      const std::string& author);

  // Validation only, for dry runs: INVALID_ARGUMENT naming the field.
  static absl::StatusOr<engine::ProgramConfig> Check(const v1::Program& proposed);

  absl::StatusOr<v1::ListAuditResponse> ListAudit(uint32_t limit) const;

 private:
  ProgramStore(storage::Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  // Stores `config` as published now by `author`; returns it as stored.
  absl::StatusOr<v1::Program> Write(const engine::ProgramConfig& config, const std::string& author,
                                    const std::string& summary);

  storage::Store& store_;
  const Clock& clock_;
  mutable std::mutex mu_;
  ProgramPtr current_;
  v1::Program current_published_;  // current_ as stored, with who and when
  mutable std::map<uint64_t, ProgramPtr> versions_;  // cache of older versions
  std::mutex publish_mu_;  // one publication at a time
};

}  // namespace loyalty
