// storage/rocks_status.h: RocksDB's status as an absl::Status, for storage's
// own code and its tests; nothing above storage/ sees a RocksDB type.
#pragma once

#include <string_view>

#include <rocksdb/status.h>

#include "absl/status/status.h"

namespace loyalty::storage {

// Maps a RocksDB status to an absl::Status, adding what was being done; an
// error is marked a storage fault (base/status_payloads.h).
absl::Status FromRocks(const rocksdb::Status& s, std::string_view context);

}  // namespace loyalty::storage
