// services/common/public_status.h: what a caller is told about an error,
// kept apart from what is logged. Every edge (gRPC, HTTP) and every answer
// that carries a status inside a message (a backlog event's result) passes
// its errors through ForCaller before they leave the process.
//
// A caller's own mistake (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED,
// ...) and a deliberate refusal ("UNAVAILABLE: the server is stopping") keep
// their message: it names the field and the reason. A server fault
// (INTERNAL, DATA_LOSS, UNKNOWN, or any error storage mapped from RocksDB,
// marked by kStorageFaultPayload) describes the server's insides (RocksDB
// paths, parse failures): the log gets the details under an incident number,
// the caller the same code with "server error (incident N ...)". Passing a
// told status through again changes nothing (kForCallerPayload).
//
// Thread-safety: safe to call from any thread.
#pragma once

#include "absl/status/status.h"

namespace loyalty {

// True for an error whose message describes the server, not the request.
bool IsServerFault(const absl::Status& s);

// The status to send: `s` itself, or for a server fault the same code with
// a message that only quotes an incident number (and the incident logged).
absl::Status ForCaller(const absl::Status& s);

}  // namespace loyalty
