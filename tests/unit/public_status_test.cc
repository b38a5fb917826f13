// What a caller is told about an error, apart from what is logged.
#include "services/common/public_status.h"

#include <gtest/gtest.h>

#include <rocksdb/status.h>

#include "services/common/status_macros.h"
#include "storage/rocks_status.h"

namespace loyalty {
namespace {

// A caller's own mistake and a deliberate refusal keep their message.
TEST(PublicStatusTest, CallerMistakesAndRefusalsKeepTheirMessage) {
  const absl::Status field = absl::InvalidArgumentError("sale.lines[0].quantity: must be between 1 and 9999, got 0");
  EXPECT_EQ(ForCaller(field), field);
  const absl::Status stopping = absl::UnavailableError("the server is stopping; watch again on another server or later");
  EXPECT_EQ(ForCaller(stopping), stopping);
}

// A storage error is told as an incident number whatever its code, also
// after a layer added context, and telling it twice changes nothing.
TEST(PublicStatusTest, StorageFaultsAreToldAsIncidents) {
  const absl::Status io = storage::FromRocks(rocksdb::Status::IOError("/srv/data/000042.log: No space left"), "sync WAL");
  const absl::Status annotated = Annotate(io, "backlog event 3");
  EXPECT_NE(annotated.message().find("000042.log"), std::string_view::npos);  // the log keeps the details
  const absl::Status told = ForCaller(annotated);
  EXPECT_EQ(told.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(told.message().find("000042"), std::string_view::npos) << told;
  EXPECT_NE(told.message().find("server error (incident "), std::string_view::npos) << told;
  EXPECT_EQ(ForCaller(told), told);  // an edge after an operation: the same incident

  const absl::Status busy = storage::FromRocks(rocksdb::Status::Busy("lock held on /srv/data/LOCK"), "commit");
  EXPECT_EQ(busy.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(ForCaller(busy).message().find("LOCK"), std::string_view::npos);
  const absl::Status bad = storage::FromRocks(rocksdb::Status::InvalidArgument("column family not found"), "read");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInternal);  // RocksDB refusing us is our fault, not the caller's
  EXPECT_EQ(ForCaller(absl::DataLossError("unparseable value in txn")).message().find("txn"), std::string_view::npos);
}

}  // namespace
}  // namespace loyalty
