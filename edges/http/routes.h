// edges/http/routes.h: the HTTP routes of the API, read at start from the
// `google.api.http` annotations in proto/ (one source of truth with gRPC and
// the OpenAPI document), and the building of a request message from a
// matched route: path parameters, query parameters and the JSON body.
//
//   option (google.api.http) = { get: "/v1/members/{member_id}/offers" };
//   option (google.api.http) = { post: "/v1/sales" body: "sale" };
//
// A template is '/'-separated segments, each a literal (which may contain
// ':' as in "members:lookup") or a "{field.path}" variable naming a string
// field of the request. `body: "*"` fills the whole request from the JSON
// body, `body: "f"` only its field f; without a body, the request's other
// scalar fields come from the query string (dotted names for nested fields).
// JSON is protobuf's proto3 JSON mapping: unknown fields, wrong types and
// malformed JSON are INVALID_ARGUMENT naming the field.
//
// Thread-safety: a RouteTable is immutable after Build().
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "absl/status/statusor.h"

namespace loyalty::http {

struct Route {
  std::string verb;  // "GET", "POST", "PUT", "DELETE", "PATCH"
  std::string path_template;
  std::vector<std::string> segments;  // "{member_id}" or a literal
  std::string custom_verb;            // ":rotate" of ".../{credential_id}:rotate", or empty
  std::string body;                   // "", "*" or a field name
  const google::protobuf::MethodDescriptor* method = nullptr;
};

struct RouteMatch {
  const Route* route = nullptr;
  std::map<std::string, std::string> path_params;  // field path -> decoded value
};

class RouteTable {
 public:
  // Every annotated method of `services`. INVALID_ARGUMENT for a template
  // that names no string field, or two routes with one verb and path.
  static absl::StatusOr<RouteTable> Build(const std::vector<const google::protobuf::ServiceDescriptor*>& services);

  // NOT_FOUND if no route has the path; FAILED_PRECONDITION (the HTTP edge's
  // 405) if routes have the path but not the verb, with `allowed` set.
  absl::StatusOr<RouteMatch> Match(std::string_view verb, std::string_view path,
                                   std::vector<std::string>* allowed) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Fills `request` from the JSON `body` (as the route's body rule says), the
// query string and the path parameters (which win: a path parameter that the
// body sets to another value is INVALID_ARGUMENT).
absl::Status BuildRequest(const RouteMatch& match, std::string_view query, std::string_view body,
                          google::protobuf::Message& request);

// Parses one JSON object into `message`; the error names the field path,
// prefixed with `field_prefix` (e.g. "sale." or "line 3: "), or for JSON
// that does not parse at all, `place` ("body", "line 3", "body: events[3]").
absl::Status ParseJson(std::string_view json, google::protobuf::Message& message, std::string_view field_prefix,
                       std::string_view place = "body");

// The proto3 JSON of `message`: original (snake_case) field names, every
// primitive field printed (zero balances included), int64 as strings.
std::string ToJson(const google::protobuf::Message& message);

// Sets the scalar field at dotted `path` of `message` from its text form
// (path and query parameters). INVALID_ARGUMENT naming `path` on an unknown
// field or a value of the wrong type.
absl::Status SetFieldFromText(google::protobuf::Message& message, std::string_view path, std::string_view text);

}  // namespace loyalty::http
