// edges/http/openapi.h: the HTTP API's OpenAPI 3.0.3 document, generated from
// the gRPC services' descriptors and their google.api.http annotations, so the
// protos stay the one source of truth for routes and bodies.
//
// Usage (once, at server start; serve the text as /openapi.json):
//   const auto* pool = google::protobuf::DescriptorPool::generated_pool();
//   std::string doc = loyalty::http::OpenApiDocument(
//       {pool->FindServiceByName("loyalty.v1.PosService"), ...},
//       {.title = "loyalty", .version = "1", .description = "..."});
//
// What it describes, i.e. how the HTTP edge (routes.h) maps a request:
//  - one operation per annotated method (methods without google.api.http
//    are not on HTTP and are left out);
//  - `{field}` path segments are required string path parameters bound to
//    that (possibly dotted) field of the request; `body: "*"` is the request
//    message less those fields, `body: "field"` that field; fields bound to
//    neither are query parameters (scalars, enums by value name, repeated
//    scalars repeated, nested messages as dotted names);
//  - bodies and answers in protobuf's proto3 JSON mapping with the original
//    (snake_case) field names and every field printed: 64-bit integers are
//    strings, enums their value names, Timestamp RFC 3339, bytes base64;
//    every message is a components/schemas entry named by its full name;
//  - client streaming: a JSON array of the messages or NDJSON; server
//    streaming: Server-Sent Events, one message as JSON per event;
//  - errors as the shared `Error` schema, bearer authentication everywhere.
// The document covers the API only, not /healthz, /metrics and the like.
//
// The annotations must agree with the messages and with what the edge serves:
// a path variable names a singular string field of the request, a body a
// singular message field; no custom verbs, additional_bindings or
// response_body; no two RPCs on one verb and path. A disagreement is a bug in
// the contract, not an input error: it is logged and aborts, at the first
// start or in the unit test that builds the document.
//
// Thread-safety: OpenApiDocument only reads the (immutable) descriptors; it
// may be called from any thread, concurrently.
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

namespace loyalty::http {

// The document's `info` object. Title and version must not be empty.
struct OpenApiInfo {
  std::string title;
  std::string version;      // of the API document, e.g. the server's version
  std::string description;  // Markdown; the document appends how JSON is mapped
};

// The OpenAPI 3.0.3 document, as compact JSON text, for these services'
// annotated methods (in the order given). Each service appears once.
std::string OpenApiDocument(const std::vector<const google::protobuf::ServiceDescriptor*>& services,
                            const OpenApiInfo& info);

}  // namespace loyalty::http
