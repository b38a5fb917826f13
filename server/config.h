// server/config.h: loyaltyd's configuration: a protobuf text file
// (schema: proto/loyalty/internal/config.proto), then command-line flags, then
// defaults for whatever is still unset.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loyalty/internal/config.pb.h"

namespace loyalty::server {

// Parses the text-format file at `path`. INVALID_ARGUMENT with line and column
// on a syntax error.
absl::StatusOr<internal::ServerConfig> LoadConfigFile(const std::string& path);

// Fills unset fields with the documented defaults.
void ApplyDefaults(internal::ServerConfig& config);

// Checks values (ranges, currency) after defaults are applied.
absl::Status ValidateConfig(const internal::ServerConfig& config);

}  // namespace loyalty::server
