// tests/fuzz/fuzz_http_request.cc: the HTTP edge's reading of a request,
// without sockets, over arbitrary bytes.
//
// Input: the bytes a client sends on a connection. They go through
//  1. Beast's request parser with the server's limits (http_server.cc:
//     16 KiB of head; the body limit the handler gives, here the largest,
//     a backlog's 32 MiB), then into an HttpRequest as Session::Dispatch
//     fills it (HEAD answered as GET);
//  2. the route table built from the protos' google.api.http annotations
//     (as HttpApi::Create builds it) and RouteTable::Match on the path,
//     Boost.URL decoding its segments;
//  3. for a matched route, what HttpApi::HandleApi does with the rest:
//     ParseBacklog for POST /v1/backlog (JSON array or NDJSON), else
//     BuildRequest (query parameters with Boost.URL, path parameters, the
//     JSON body into the request message with the edge's JSON options);
//  4. for a refusal, the answer's body: ErrorBody (its message names the
//     field).
// Checked: a refusal is INVALID_ARGUMENT (405/404 for routing) and its body
// parses as JSON (RFC 8259: UTF-8); path parameters end up in the request
// as the path said.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "edges/http/http_api.h"
#include "edges/http/routes.h"
#include "loyalty/v1/admin.pb.h"
#include "loyalty/v1/member.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "services/pos/validation.h"
#include "tests/fuzz/fuzz_support.h"

namespace loyalty::http {
namespace {

namespace bhttp = boost::beast::http;

constexpr size_t kMaxHeaderBytes = 16 << 10;      // HttpServerOptions::max_header_bytes
constexpr size_t kMaxBodyBytes = 32 << 20;        // HttpApiOptions::max_backlog_body_bytes
constexpr char kBacklogMethod[] = "loyalty.v1.PosService.UploadBacklog";

// The routes of the three services, as HttpApi::Create builds them.
const RouteTable& Routes() {
  static const RouteTable* table = [] {
    fuzz::QuietProtobufLogs();
    auto services = LoyaltyServices();
    FUZZ_CHECK(services.ok());
    auto built = RouteTable::Build(*services);
    FUZZ_CHECK(built.ok());
    return new RouteTable(std::move(*built));
  }();
  return *table;
}

bool IsJson(std::string_view text) {
  boost::json::error_code ec;
  (void)boost::json::parse(text, ec);
  return !ec;
}

// What the edge answers a refused request with.
void CheckRefusal(const absl::Status& s) {
  FUZZ_CHECK(!s.ok());
  const std::string body = ErrorBody(s);
  FUZZ_CHECK(IsJson(body));
  FUZZ_CHECK(HttpStatusOf(s.code()) >= 400);
}

// Reads one request off `bytes` as the server's session does. False if
// the bytes hold no whole request (the server answers 400, 413 or 431, or
// waits for more).
bool ReadRequest(std::string_view bytes, HttpRequest& out) {
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<uint32_t>(kMaxHeaderBytes));
  parser.body_limit(kMaxBodyBytes);
  parser.eager(true);
  boost::beast::error_code ec;
  // As Beast's read feeds it: everything unconsumed, again only with more
  // bytes after need_more. Here no more come: the client closed.
  while (!parser.is_done()) {
    const size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    bytes.remove_prefix(used);
    if (ec == bhttp::error::need_more) break;
    if (ec) return false;
    if (used == 0) break;
  }
  if (!parser.is_done()) {
    // The client closed: Beast's read ends a body that runs to the end of
    // the connection, and reports end_of_stream if nothing came.
    if (!parser.got_some()) return false;
    ec = {};
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return false;
  }
  bhttp::request<bhttp::string_body> request = parser.release();
  out.method = std::string(request.method_string());
  if (request.method() == bhttp::verb::head) out.method = "GET";
  out.target = std::string(request.target());
  out.authorization = std::string(request[bhttp::field::authorization]);
  out.content_type = std::string(request[bhttp::field::content_type]);
  out.origin = std::string(request[bhttp::field::origin]);
  out.body = std::move(request.body());
  return true;
}

void Handle(const HttpRequest& request) {
  // HttpApi::Handle: the path and the query.
  const std::string& target = request.target;
  const size_t q = target.find('?');
  const std::string_view path = std::string_view(target).substr(0, q);
  const std::string_view query = q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);

  std::vector<std::string> allowed;
  auto match = Routes().Match(request.method, path, &allowed);
  if (!match.ok()) {
    FUZZ_CHECK(absl::IsNotFound(match.status()) || absl::IsFailedPrecondition(match.status()));
    FUZZ_CHECK(absl::IsFailedPrecondition(match.status()) == !allowed.empty());
    CheckRefusal(match.status());
    return;
  }
  FUZZ_CHECK(match->route != nullptr && match->route->verb == request.method);
  for (const auto& [field, value] : match->path_params) FUZZ_CHECK(!value.empty());

  if (match->route->method->full_name() == kBacklogMethod) {
    auto events = ParseBacklog(request.body, request.content_type);
    if (!events.ok()) {
      FUZZ_CHECK(absl::IsInvalidArgument(events.status()));
      return CheckRefusal(events.status());
    }
    FUZZ_CHECK(!events->empty() && events->size() <= pos::kMaxBacklogEvents + 1);
    return;
  }
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(match->route->method->input_type());
  FUZZ_CHECK(prototype != nullptr);
  std::unique_ptr<google::protobuf::Message> message(prototype->New());
  const absl::Status built = BuildRequest(*match, query, request.body, *message);
  if (!built.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(built));
    return CheckRefusal(built);
  }
  // Path parameters win: the request holds them as the path said.
  for (const auto& [field, value] : match->path_params) {
    const auto* descriptor = message->GetDescriptor();
    if (field.find('.') != std::string::npos) continue;  // nested: checked by BuildRequest itself
    const auto* f = descriptor->FindFieldByName(field);
    FUZZ_CHECK(f != nullptr);
    FUZZ_CHECK(message->GetReflection()->GetString(*message, f) == value);
  }
}

}  // namespace
}  // namespace loyalty::http

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loyalty::http;
  (void)Routes();
  HttpRequest request;
  if (!ReadRequest(std::string_view(reinterpret_cast<const char*>(data), size), request)) return 0;
  Handle(request);
  return 0;
}
