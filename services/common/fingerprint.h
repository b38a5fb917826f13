// services/common/fingerprint.h: content fingerprints and token hashes.
#pragma once

#include <string>
#include <string_view>

#include <google/protobuf/message.h>

namespace loyalty {

// SHA-256 of `data`, 32 raw bytes.
std::string Sha256(std::string_view data);
// SHA-256 of `data`, 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);
// Deterministic serialization of `m` (equal messages give equal bytes).
std::string DeterministicBytes(const google::protobuf::Message& m);
// SHA-256 over a domain tag and the deterministic bytes of `m`. The tag keeps
// a sale and a return with identical bytes apart.
std::string Fingerprint(std::string_view tag, const google::protobuf::Message& m);

}  // namespace loyalty
