// server/config.h: loyaltyd's configuration: a protobuf text file
// (schema: proto/loyalty/internal/config.proto), then command-line flags, then
// defaults for whatever is still unset.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "loyalty/internal/config.pb.h"

namespace loyalty::server {

// Parses the text-format file at `path`. INVALID_ARGUMENT with line and column
// on a syntax error.
absl::StatusOr<internal::ServerConfig> LoadConfigFile(const std::string& path);

// Fills unset fields with the documented defaults.
void ApplyDefaults(internal::ServerConfig& config);

// Whether a listen address ("HOST:PORT") is on the loopback interface.
bool IsLoopback(std::string_view listen);

// Checks values (ranges, currency, plaintext only on loopback unless allowed)
// after defaults are applied.
absl::Status ValidateConfig(const internal::ServerConfig& config);

}  // namespace loyalty::server
