#include "edges/http/http_api.h"

#include <cassert>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>

#include <google/protobuf/descriptor.h>

#include "base/metrics.h"
#include "base/str_cat.h"
#include "edges/http/openapi.h"
#include "loyalty/v1/admin.pb.h"
#include "loyalty/v1/member.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "loyalty/internal/records.pb.h"
#include "services/common/field_checks.h"
#include "services/common/public_status.h"
#include "services/common/token_buckets.h"
#include "services/common/status_macros.h"
#include "services/pos/validation.h"
#include "web/assets.h"

namespace loyalty::http {
namespace {

using google::protobuf::Message;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kReplayHeader[] = "X-Idempotent-Replay";
// Nesting allowed inside one backlog event of a JSON array (a sale is 4 deep).
constexpr int kMaxJsonDepth = 32;
constexpr char kBacklogMethod[] = "loyalty.v1.PosService.UploadBacklog";
constexpr char kWatchMethod[] = "loyalty.v1.MemberService.WatchMember";

metrics::CounterFamily& RequestsTotal() {
  static auto& f = metrics::DefaultRegistry().AddCounter(
      "loyaltyd_http_requests_total", "HTTP requests answered, by route and HTTP status", {"route", "code"});
  return f;
}
metrics::HistogramFamily& RequestSeconds() {
  static auto& f = metrics::DefaultRegistry().AddHistogram(
      "loyaltyd_http_request_duration_seconds", "HTTP request latency, from a parsed request to its answer",
      {"route"}, metrics::RequestLatencyBuckets());
  return f;
}

const char* CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return "OK";
    case absl::StatusCode::kCancelled: return "CANCELLED";
    case absl::StatusCode::kUnknown: return "UNKNOWN";
    case absl::StatusCode::kInvalidArgument: return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded: return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound: return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists: return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied: return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition: return "FAILED_PRECONDITION";
    case absl::StatusCode::kAborted: return "ABORTED";
    case absl::StatusCode::kOutOfRange: return "OUT_OF_RANGE";
    case absl::StatusCode::kUnimplemented: return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal: return "INTERNAL";
    case absl::StatusCode::kUnavailable: return "UNAVAILABLE";
    case absl::StatusCode::kDataLoss: return "DATA_LOSS";
    case absl::StatusCode::kUnauthenticated: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

// The length of the UTF-8 sequence at the front of `s` (1..4), 0 if there
// is none (a stray or cut sequence, an overlong form, a surrogate).
size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if ((lead & 0xe0) == 0xc0) {
    n = 2, cp = lead & 0x1f, min = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    n = 3, cp = lead & 0x0f, min = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    n = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// A JSON string of `s`. Messages may quote what a client sent (a path, a
// parameter): bytes that are not UTF-8 become U+FFFD, so the body stays
// JSON (RFC 8259 text is UTF-8).
std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const size_t n = Utf8SequenceLength(s.substr(i));
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(s.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[(c >> 4) & 0xf];
          out += hex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

HttpResponse ErrorResponse(const absl::Status& status, Headers headers = {}) {
  HttpResponse r;
  r.status = HttpStatusOf(status.code());
  r.body = ErrorBody(status);
  r.headers = std::move(headers);
  if (r.status == 401) r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"loyaltyd\""});  // RFC 6750
  // A rate limit's hint, in whole seconds (RFC 9110), rounded up.
  if (const int64_t ms = RetryAfterMs(status); ms > 0) r.headers.push_back({"Retry-After", loyalty::StrCat((ms + 999) / 1000)});
  return r;
}

HttpResponse TextResponse(int status, std::string content_type, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

// Answers a unary call and counts it under `route`.
class Answer {
 public:
  Answer(HttpCall& call, std::string route, Headers cors)
      : respond_(std::move(call.respond)),
        route_(std::move(route)),
        cors_(std::move(cors)),
        started_(std::chrono::steady_clock::now()) {}

  void operator()(HttpResponse response) {
    for (auto& h : cors_) response.headers.push_back(h);
    RequestsTotal().WithLabels({route_, loyalty::StrCat(response.status)}).Inc();
    RequestSeconds()
        .WithLabels({route_})
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    respond_(std::move(response));
  }
  void Error(const absl::Status& status) { (*this)(ErrorResponse(ForCaller(status))); }

 private:
  std::function<void(HttpResponse)> respond_;
  const std::string route_;
  const Headers cors_;
  const std::chrono::steady_clock::time_point started_;
};

// Calls `f(who, request)` -> StatusOr<Resp>.
template <class Req, class Resp, class F>
HttpApi::Invoker Sync(F f) {
  return [f](const auth::Principal& who, std::shared_ptr<Message> request, HttpApi::Reply reply) {
    absl::StatusOr<Resp> out = f(who, static_cast<const Req&>(*request));
    if (!out.ok()) return reply(out.status(), false);
    reply(std::unique_ptr<Message>(new Resp(std::move(*out))), false);
  };
}

// Calls `f(who, request, done)`; `done(StatusOr<Resp>)` may run on any
// thread. The request lives until `done` ran (operations may refer to it).
template <class Req, class Resp, class F>
HttpApi::Invoker Async(F f) {
  return [f](const auth::Principal& who, std::shared_ptr<Message> request, HttpApi::Reply reply) {
    const Req& typed = static_cast<const Req&>(*request);
    f(who, typed, [request, reply](absl::StatusOr<Resp> out) {
      if (!out.ok()) return reply(out.status(), false);
      reply(std::unique_ptr<Message>(new Resp(std::move(*out))), false);
    });
  };
}

// A terminal event: EventOutcome, and whether it replays a first answer.
template <class Req, class F>
HttpApi::Invoker Event(F f) {
  return [f](const auth::Principal& who, std::shared_ptr<Message> request, HttpApi::Reply reply) {
    f(who, static_cast<const Req&>(*request), [request, reply](absl::StatusOr<Applied> applied) {
      if (!applied.ok()) return reply(applied.status(), false);
      reply(std::unique_ptr<Message>(new v1::EventOutcome(std::move(applied->outcome))), applied->replayed);
    });
  };
}

}  // namespace

// Splits a backlog body into events: a JSON array, or NDJSON (one event a
// line). The error names the element or line.
absl::StatusOr<std::vector<v1::BacklogEvent>> ParseBacklog(std::string_view body, std::string_view content_type) {
  std::vector<v1::BacklogEvent> events;
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return absl::InvalidArgumentError("body: at least one backlog event is required");
  const bool ndjson = content_type.find("ndjson") != std::string_view::npos || body[first] != '[';
  if (!ndjson) {
    // Split into elements here (strings and nesting tracked), so each is
    // parsed on its own, errors name the element ("events[3].sale..."), and
    // no more than one event past the limit is parsed.
    size_t i = first + 1;
    auto skip_space = [&] { while (i < body.size() && std::strchr(" \t\r\n", body[i]) != nullptr) ++i; };
    skip_space();
    if (i < body.size() && body[i] == ']') return absl::InvalidArgumentError("body: at least one backlog event is required");
    while (i < body.size()) {
      const size_t start = i;
      int depth = 0;
      bool in_string = false;
      for (; i < body.size(); ++i) {
        const char c = body[i];
        if (in_string) {
          if (c == '\\') ++i;
          else if (c == '"') in_string = false;
        } else if (c == '"') {
          in_string = true;
        } else if (c == '{' || c == '[') {
          if (++depth > kMaxJsonDepth) return absl::InvalidArgumentError(loyalty::StrCat("body: events[", events.size(), "] is nested too deeply"));
        } else if (c == '}' || c == ']') {
          if (depth == 0) break;  // the array's own ']'
          --depth;
        } else if (c == ',' && depth == 0) {
          break;
        }
      }
      if (i >= body.size()) return absl::InvalidArgumentError("body: malformed JSON: the array does not end");
      if (events.size() > pos::kMaxBacklogEvents) break;  // enough for the operation to refuse
      v1::BacklogEvent e;
      LOYALTY_RETURN_IF_ERROR(ParseJson(body.substr(start, i - start), e, loyalty::StrCat("events[", events.size(), "]."),
                                        loyalty::StrCat("body: events[", events.size(), "]")));
      events.push_back(std::move(e));
      const char end = body[i++];
      if (end == ']') {
        skip_space();
        if (i != body.size()) return absl::InvalidArgumentError("body: malformed JSON: text after the array");
        return events;
      }
      skip_space();
    }
    return absl::InvalidArgumentError("body: malformed JSON: the array does not end");
  }
  size_t line_no = 0;
  size_t start = 0;
  while (start < body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(start, end - start);
    ++line_no;
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    // One more than an upload may carry is enough for the operation to refuse.
    if (events.size() > pos::kMaxBacklogEvents) break;
    v1::BacklogEvent e;
    LOYALTY_RETURN_IF_ERROR(ParseJson(line, e, loyalty::StrCat("line ", line_no, ": "), loyalty::StrCat("line ", line_no)));
    events.push_back(std::move(e));
  }
  if (events.empty()) return absl::InvalidArgumentError("body: at least one backlog event is required");
  return events;
}

namespace {

std::string SseFrame(std::string_view event, std::string_view data) {
  return loyalty::StrCat("event: ", event, "\ndata: ", data, "\n\n");
}

// Streams a member's watch as Server-Sent Events. The watch is opened before
// the stream (so a refusal is a plain error answer): a view that comes before
// the stream is attached waits in `pending_`. Kept alive by the stream's
// OnClosed callback.
class SseWatch final : public MemberWatch::Sink, public std::enable_shared_from_this<SseWatch> {
 public:
  void Attach(std::shared_ptr<MemberWatch> watch, std::shared_ptr<EventStream> stream) {
    std::optional<std::string> pending, last;
    {
      std::lock_guard<std::mutex> lock(mu_);
      watch_ = std::move(watch);
      stream_ = stream;
      pending.swap(pending_);
      last.swap(pending_last_);
    }
    if (last) {
      stream->Write(std::move(*last), [stream](bool) { stream->End(); });
    } else if (pending) {
      Write(std::move(*pending));
    }
  }

  void Send(v1::MemberView view) override {
    std::string frame = SseFrame("member", ToJson(view));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stream_ == nullptr) {
        pending_ = std::move(frame);
        return;
      }
    }
    Write(std::move(frame));
  }

  void End(absl::Status status) override {
    // OK: the server is draining. The stream sends this after a write still
    // outstanding.
    std::string last = status.ok() ? SseFrame("end", "{\"reason\":\"the server is stopping\"}")
                                   : SseFrame("error", ErrorBody(ForCaller(status)));
    std::shared_ptr<EventStream> stream;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stream_ == nullptr) {
        pending_last_ = std::move(last);
        return;
      }
      stream = stream_;
    }
    stream->Write(std::move(last), [stream](bool) { stream->End(); });
  }

  // The stream is over (client left, server stopped): close the watch.
  void Closed() {
    std::shared_ptr<MemberWatch> watch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      watch = std::move(watch_);
    }
    if (watch) watch->Close();
  }

 private:
  void Write(std::string frame) {
    std::shared_ptr<EventStream> stream;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stream = stream_;
    }
    std::weak_ptr<SseWatch> weak = weak_from_this();
    stream->Write(std::move(frame), [weak](bool ok) {
      auto self = weak.lock();
      if (!self || !ok) return;
      std::shared_ptr<MemberWatch> watch;
      {
        std::lock_guard<std::mutex> lock(self->mu_);
        watch = self->watch_;
      }
      if (watch) watch->Sent();
    });
  }

  std::mutex mu_;
  std::shared_ptr<MemberWatch> watch_;
  std::shared_ptr<EventStream> stream_;
  std::optional<std::string> pending_;       // the first view, if it came before the stream
  std::optional<std::string> pending_last_;  // the end, if it came before the stream
};

// The console's files, built into the binary (web/assets.h). Same-origin
// only: the page calls the JSON API with the admin token the user enters,
// as an Authorization header (no cookie, so no cross-site request forgery).
HttpResponse ConsoleFile(std::string_view verb, std::string_view path) {
  if (verb != "GET") {
    HttpResponse r = ErrorResponse(absl::InvalidArgumentError(loyalty::StrCat(verb, " is not allowed on ", path)));
    r.status = 405;
    r.headers.push_back({"Allow", "GET"});
    return r;
  }
  if (path == "/console") {
    HttpResponse r = TextResponse(308, "text/plain; charset=utf-8", "the console is at /console/\n");
    r.headers.push_back({"Location", "/console/"});
    return r;
  }
  std::string_view file = path.substr(std::string_view("/console/").size());
  if (file.empty()) file = "index.html";
  const web::Asset* asset = web::FindAsset(file);
  if (asset == nullptr) return ErrorResponse(absl::NotFoundError(loyalty::StrCat("no console file ", path)));
  const std::string_view ext = file.substr(file.rfind('.') + 1);
  const char* type = ext == "html" ? "text/html; charset=utf-8"
                     : ext == "js" ? "text/javascript; charset=utf-8"
                     : ext == "css" ? "text/css; charset=utf-8"
                                    : "application/octet-stream";
  HttpResponse r = TextResponse(200, type, std::string(reinterpret_cast<const char*>(asset->data), asset->size));
  r.headers.push_back({"Cache-Control", "no-cache"});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.headers.push_back({"X-Frame-Options", "DENY"});
  r.headers.push_back({"Referrer-Policy", "no-referrer"});
  r.headers.push_back({"Content-Security-Policy",
                       "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"});
  return r;
}

}  // namespace

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnknown: return 500;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kFailedPrecondition: return 400;
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kInternal: return 500;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDataLoss: return 500;
    default: return 500;
  }
}

std::string ErrorBody(const absl::Status& status) {
  return loyalty::StrCat("{\"code\":", static_cast<int>(status.code()), ",\"status\":\"", CodeName(status.code()),
                         "\",\"message\":", JsonString(std::string(status.message())), "}");
}

absl::StatusOr<std::vector<const google::protobuf::ServiceDescriptor*>> LoyaltyServices() {
  // Touching a message of each file makes sure its descriptor is in the
  // generated pool.
  (void)v1::Sale::descriptor();
  (void)v1::MemberView::descriptor();
  (void)v1::Program::descriptor();
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  for (const char* name : {"loyalty.v1.PosService", "loyalty.v1.MemberService", "loyalty.v1.AdminService"}) {
    const auto* s = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    if (s == nullptr) return absl::InternalError(loyalty::StrCat("service ", name, " is not linked in"));
    services.push_back(s);
  }
  return services;
}

absl::StatusOr<std::unique_ptr<HttpApi>> HttpApi::Create(Operations ops, const auth::Authenticator& authenticator,
                                                         HttpApiOptions options) {
  std::unique_ptr<HttpApi> api(new HttpApi(ops, authenticator, std::move(options)));
  LOYALTY_ASSIGN_OR_RETURN(const auto services, LoyaltyServices());
  LOYALTY_ASSIGN_OR_RETURN(api->routes_, RouteTable::Build(services));
  api->RegisterInvokers();
  // Every route has its call and every call its route: an RPC added to the
  // contract without an HTTP call (or the reverse) stops the server here.
  for (const Route& r : api->routes_.routes()) {
    const std::string& name = r.method->full_name();
    if (name != kBacklogMethod && name != kWatchMethod && api->invokers_.count(name) == 0) {
      return absl::InternalError(loyalty::StrCat("HTTP: no call for ", name));
    }
  }
  for (const auto* s : services) {
    for (int i = 0; i < s->method_count(); ++i) {
      if (!s->method(i)->options().HasExtension(google::api::http)) {
        return absl::InternalError(loyalty::StrCat("HTTP: ", s->method(i)->full_name(), " has no route"));
      }
    }
  }
  api->openapi_ = OpenApiDocument(services, OpenApiInfo{"loyaltyd", "v1",
                                                        "Loyalty program backend: terminals, member apps, "
                                                        "marketing and operators. JSON over HTTP beside gRPC."});
  return api;
}

void HttpApi::RegisterInvokers() {
  auto& pos = ops_.pos;
  auto& member = ops_.member;
  auto& admin = ops_.admin;
  using namespace v1;
  auto add = [this](const char* name, Invoker invoker) {
    const bool inserted = invokers_.emplace(name, std::move(invoker)).second;
    assert(inserted);
    (void)inserted;
  };
  add("loyalty.v1.PosService.RecordSale", Event<RecordSaleRequest>([&pos](auto& who, auto& r, auto done) {
        pos.RecordSale(who, r.sale(), std::move(done));
      }));
  add("loyalty.v1.PosService.RecordReturn", Event<RecordReturnRequest>([&pos](auto& who, auto& r, auto done) {
        pos.RecordReturn(who, r.return_(), std::move(done));
      }));
  add("loyalty.v1.PosService.VoidSale", Event<VoidSaleRequest>([&pos](auto& who, auto& r, auto done) {
        pos.VoidSale(who, r.void_(), std::move(done));
      }));
  add("loyalty.v1.PosService.LookupMember", Sync<LookupMemberRequest, MemberSummary>([&pos](auto& who, auto& r) {
        return pos.LookupMember(who, r);
      }));
  add("loyalty.v1.PosService.EvaluateBasket",
      Sync<EvaluateBasketRequest, BasketEvaluation>([&pos](auto& who, auto& r) { return pos.EvaluateBasket(who, r); }));

  add("loyalty.v1.MemberService.GetMember",
      Sync<GetMemberRequest, MemberView>([&member](auto& who, auto& r) { return member.GetMember(who, r); }));
  add("loyalty.v1.MemberService.ListHistory", Sync<ListHistoryRequest, ListHistoryResponse>(
                                                  [&member](auto& who, auto& r) { return member.ListHistory(who, r); }));
  add("loyalty.v1.MemberService.ListOffers", Sync<ListOffersRequest, ListOffersResponse>(
                                                 [&member](auto& who, auto& r) { return member.ListOffers(who, r); }));
  add("loyalty.v1.MemberService.ListRewards", Sync<ListRewardsRequest, ListRewardsResponse>(
                                                  [&member](auto& who, auto& r) { return member.ListRewards(who, r); }));
  add("loyalty.v1.MemberService.IssueTillCode",
      Sync<IssueTillCodeRequest, TillCode>([&member](auto& who, auto& r) { return member.IssueTillCode(who, r); }));
  add("loyalty.v1.MemberService.SetPin",
      Sync<SetPinRequest, SetPinResponse>([&member](auto& who, auto& r) { return member.SetPin(who, r); }));
  add("loyalty.v1.MemberService.Redeem",
      Async<RedeemRequest, RedeemResponse>([&member](auto& who, auto& r, auto done) { member.Redeem(who, r, done); }));
  add("loyalty.v1.MemberService.ClaimReceipt",
      Async<ClaimReceiptRequest, ClaimReceiptResponse>(
          [&member](auto& who, auto& r, auto done) { member.ClaimReceipt(who, r, done); }));

  add("loyalty.v1.AdminService.EnrollMember",
      Async<EnrollMemberRequest, EnrollMemberResponse>(
          [&admin](auto& who, auto& r, auto done) { admin.EnrollMember(who, r, done); }));
  add("loyalty.v1.AdminService.AdjustPoints",
      Async<AdjustPointsRequest, AdjustPointsResponse>(
          [&admin](auto& who, auto& r, auto done) { admin.AdjustPoints(who, r, done); }));
  add("loyalty.v1.AdminService.GetProgram",
      Sync<GetProgramRequest, Program>([&admin](auto& who, auto&) { return admin.GetProgram(who); }));
  add("loyalty.v1.AdminService.UpdateProgram",
      Sync<UpdateProgramRequest, Program>([&admin](auto& who, auto& r) { return admin.UpdateProgram(who, r); }));
  add("loyalty.v1.AdminService.DryRunProgram",
      Async<UpdateProgramRequest, DryRunReport>(
          [&admin](auto& who, auto& r, auto done) { admin.DryRunProgram(who, r, done); }));
  add("loyalty.v1.AdminService.StartDryRun",
      Sync<UpdateProgramRequest, DryRunJob>([&admin](auto& who, auto& r) { return admin.StartDryRun(who, r); }));
  add("loyalty.v1.AdminService.GetDryRun",
      Sync<GetDryRunRequest, DryRunJob>([&admin](auto& who, auto& r) { return admin.GetDryRun(who, r); }));
  add("loyalty.v1.AdminService.GetFigures",
      Sync<GetFiguresRequest, ProgramFigures>([&admin](auto& who, auto&) { return admin.GetFigures(who); }));
  add("loyalty.v1.AdminService.VerifyLedger", Sync<VerifyLedgerRequest, VerifyLedgerResponse>(
                                                  [&admin](auto& who, auto& r) { return admin.VerifyLedger(who, r); }));
  add("loyalty.v1.AdminService.CreateCheckpoint",
      Sync<CreateCheckpointRequest, CreateCheckpointResponse>(
          [&admin](auto& who, auto& r) { return admin.CreateCheckpoint(who, r); }));
  add("loyalty.v1.AdminService.RunExpiry",
      Async<RunExpiryRequest, RunExpiryResponse>([&admin](auto& who, auto&, auto done) { admin.RunExpiry(who, done); }));
  add("loyalty.v1.AdminService.ListAudit",
      Sync<ListAuditRequest, ListAuditResponse>([&admin](auto& who, auto& r) { return admin.ListAudit(who, r); }));
  add("loyalty.v1.AdminService.CreateCredential",
      Sync<CreateCredentialRequest, IssuedCredential>(
          [&admin](auto& who, auto& r) { return admin.CreateCredential(who, r); }));
  add("loyalty.v1.AdminService.ListCredentials",
      Sync<ListCredentialsRequest, ListCredentialsResponse>(
          [&admin](auto& who, auto& r) { return admin.ListCredentials(who, r); }));
  add("loyalty.v1.AdminService.RotateCredential",
      Sync<RotateCredentialRequest, IssuedCredential>(
          [&admin](auto& who, auto& r) { return admin.RotateCredential(who, r); }));
  add("loyalty.v1.AdminService.RevokeCredential",
      Sync<RevokeCredentialRequest, Credential>([&admin](auto& who, auto& r) { return admin.RevokeCredential(who, r); }));
}

size_t HttpApi::MaxBodyBytes(const std::string& method, const std::string& target,
                             const std::string& authorization) const {
  if (method != "POST") return options_.max_body_bytes;  // the backlog is a POST; reads carry no body
  const std::string_view path = std::string_view(target).substr(0, target.find('?'));
  std::vector<std::string> allowed;
  auto match = routes_.Match(method, path, &allowed);
  if (!match.ok() || match->route->method->full_name() != kBacklogMethod) return options_.max_body_bytes;
  // Only a terminal or an admin may upload a backlog: nobody else makes the
  // server hold its larger body.
  auto who = authenticator_.Authenticate(authorization);
  const bool uploader = who.ok() && (who->role == auth::Role::kTerminal || who->role == auth::Role::kAdmin);
  return uploader ? options_.max_backlog_body_bytes : options_.max_body_bytes;
}

void HttpApi::Handle(HttpCall call) {
  const std::string& target = call.request.target;
  const size_t q = target.find('?');
  const std::string_view path = std::string_view(target).substr(0, q);
  const std::string_view query = q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
  const std::string& verb = call.request.method;

  // CORS: only for the origins the configuration names.
  Headers cors;
  const std::string& origin = call.request.origin;
  const bool origin_allowed =
      !origin.empty() &&
      std::find(options_.cors_origins.begin(), options_.cors_origins.end(), origin) != options_.cors_origins.end();
  if (origin_allowed) {
    cors = {{"Access-Control-Allow-Origin", origin},
            {"Vary", "Origin"},
            {"Access-Control-Expose-Headers", kReplayHeader}};
  }
  if (verb == "OPTIONS") {  // a browser's preflight
    Answer answer(call, "OPTIONS", {});
    if (!origin_allowed) {
      return answer.Error(absl::PermissionDeniedError(
          loyalty::StrCat("origin: '", origin, "' may not call this server from a browser (cors_origins)")));
    }
    HttpResponse r = TextResponse(204, "", "");
    r.headers = cors;
    r.headers.push_back({"Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS"});
    r.headers.push_back({"Access-Control-Allow-Headers", "Authorization, Content-Type"});
    r.headers.push_back({"Access-Control-Max-Age", "600"});
    return answer(std::move(r));
  }

  if (path == "/console" || path.rfind("/console/", 0) == 0) {
    Answer answer(call, "GET /console/", {});
    return answer(ConsoleFile(verb, path));
  }
  if (path == "/healthz" || path == "/readyz" || path == "/metrics" || path == "/openapi.json") {
    Answer answer(call, std::string(path), cors);
    if (verb != "GET" && verb != "HEAD") {
      HttpResponse r = ErrorResponse(absl::InvalidArgumentError(loyalty::StrCat(verb, " is not allowed on ", path)));
      r.status = 405;
      r.headers.push_back({"Allow", "GET"});
      return answer(std::move(r));
    }
    if (path == "/healthz") return answer(TextResponse(200, "text/plain; charset=utf-8", "ok\n"));
    if (path == "/readyz") {
      const absl::Status ready = options_.ready ? options_.ready() : absl::OkStatus();
      if (ready.ok()) return answer(TextResponse(200, "text/plain; charset=utf-8", "ready\n"));
      return answer(TextResponse(503, "text/plain; charset=utf-8", loyalty::StrCat("not ready: ", ready.message(), "\n")));
    }
    if (path == "/metrics") {
      return answer(TextResponse(200, "text/plain; version=0.0.4; charset=utf-8",
                                 options_.metrics ? options_.metrics() : std::string()));
    }
    return answer(TextResponse(200, "application/json", openapi_));
  }
  HandleApi(call, path, query, std::move(cors));
}

void HttpApi::HandleApi(HttpCall& call, std::string_view path, std::string_view query, Headers cors) {
  std::vector<std::string> allowed;
  auto match = routes_.Match(call.request.method, path, &allowed);
  if (!match.ok()) {
    Answer answer(call, "unmatched", cors);
    if (absl::IsFailedPrecondition(match.status())) {
      HttpResponse r = ErrorResponse(absl::InvalidArgumentError(match.status().message()));
      r.status = 405;
      std::string allow;
      for (const auto& v : allowed) allow += (allow.empty() ? "" : ", ") + v;
      r.headers.push_back({"Allow", allow});
      return answer(std::move(r));
    }
    return answer.Error(match.status());
  }
  const Route& route = *match->route;
  const std::string route_label = loyalty::StrCat(route.verb, " ", route.path_template);
  auto who = authenticator_.AuthenticateCall(call.request.authorization, call.request.peer, call.request.client_cert_cn);
  if (!who.ok()) {
    Answer(call, route_label, cors).Error(who.status());
    return;
  }
  // "me": the member credential's own member.
  if (auto it = match->path_params.find("member_id"); it != match->path_params.end() && it->second == "me") {
    if (who->role != auth::Role::kMember) {
      Answer(call, route_label, cors)
          .Error(absl::InvalidArgumentError("member_id: 'me' stands for the caller's own member and needs a member credential"));
      return;
    }
    it->second = who->member_id;
  }
  const std::string name = route.method->full_name();
  if (name == kWatchMethod) {
    Watch(*who, *match, call, std::move(cors));
    return;
  }
  auto answer = std::make_shared<Answer>(call, route_label, cors);
  Reply reply = [answer](absl::StatusOr<std::unique_ptr<Message>> out, bool replayed) {
    if (!out.ok()) return answer->Error(out.status());
    HttpResponse r = TextResponse(200, "application/json", "");
    std::shared_ptr<const Message> message(std::move(*out));
    r.render = [message] { return ToJson(*message); };
    if (replayed) r.headers.push_back({kReplayHeader, "true"});
    (*answer)(std::move(r));
  };
  // Work that takes long (parsing a backlog of thousands of events, scans of
  // every member) runs on the server's worker pool, not on an HTTP thread:
  // the HTTP threads keep answering probes, reads and event streams.
  static const std::set<std::string, std::less<>> kHeavy = {
      kBacklogMethod, "loyalty.v1.AdminService.GetFigures",
      "loyalty.v1.AdminService.VerifyLedger", "loyalty.v1.AdminService.CreateCheckpoint",
      "loyalty.v1.AdminService.UpdateProgram",
      // a synced commit each
      "loyalty.v1.AdminService.CreateCredential", "loyalty.v1.AdminService.RotateCredential",
      "loyalty.v1.AdminService.RevokeCredential"};
  const bool heavy = kHeavy.count(name) != 0;
  auto run = [this, who = *who, match = *match, query = std::string(query), body = std::move(call.request.body),
              content_type = call.request.content_type, reply = std::move(reply), name]() mutable {
    if (name == kBacklogMethod) {
      UploadBacklog(who, body, content_type, std::move(reply));
      return;
    }
    const Message* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(match.route->method->input_type());
    assert(prototype != nullptr);
    std::shared_ptr<Message> request(prototype->New());
    if (absl::Status built = BuildRequest(match, query, body, *request); !built.ok()) {
      reply(built, false);
      return;
    }
    auto it = invokers_.find(name);
    assert(it != invokers_.end());  // checked in Create
    it->second(who, std::move(request), std::move(reply));
  };
  if (heavy && options_.offload) {
    options_.offload(std::move(run));
  } else {
    run();
  }
}

void HttpApi::UploadBacklog(const auth::Principal& who, const std::string& body, const std::string& content_type,
                            Reply reply) {
  // Who first: nothing of the body is read for a caller who may not upload.
  if (absl::Status terminal = auth::RequireTerminal(who); !terminal.ok()) {
    reply(terminal, false);
    return;
  }
  auto events = ParseBacklog(body, content_type);
  if (!events.ok()) {
    reply(events.status(), false);
    return;
  }
  ops_.pos.UploadBacklog(who, std::move(*events), [reply](absl::StatusOr<v1::BacklogResult> result) {
    if (!result.ok()) return reply(result.status(), false);
    reply(std::unique_ptr<Message>(new v1::BacklogResult(std::move(*result))), false);
  });
}

void HttpApi::Watch(const auth::Principal& who, const RouteMatch& match, HttpCall& call, Headers cors) {
  const std::string route_label = loyalty::StrCat(match.route->verb, " ", match.route->path_template);
  v1::WatchMemberRequest request;
  const size_t q = call.request.target.find('?');
  const std::string query = q == std::string::npos ? "" : call.request.target.substr(q + 1);
  if (absl::Status built = BuildRequest(match, query, call.request.body, request); !built.ok()) {
    Answer(call, route_label, cors).Error(built);
    return;
  }
  // Opened before the stream starts, so a refusal is a plain error answer.
  auto sse = std::make_shared<SseWatch>();
  auto watch = ops_.member.Watch(who, request, sse.get());
  if (!watch.ok()) {
    Answer(call, route_label, cors).Error(watch.status());
    return;
  }
  HttpResponse head = TextResponse(200, "text/event-stream", "");
  head.headers = cors;
  head.headers.push_back({"Cache-Control", "no-store"});
  std::shared_ptr<EventStream> stream = call.start_stream(std::move(head));
  if (stream == nullptr) {  // the client is gone
    (*watch)->Close();
    return;
  }
  RequestsTotal().WithLabels({route_label, "200"}).Inc();
  stream->OnClosed([sse] { sse->Closed(); });
  sse->Attach(std::move(*watch), std::move(stream));
}

}  // namespace loyalty::http
