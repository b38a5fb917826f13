// The HTTP edge through real HTTP on 127.0.0.1:0: every route, the auth
// matrix, error mapping, bad and oversized input, event streams, timeouts and
// connection limits, and agreement with the gRPC edge.
#include <sys/socket.h>

#include <regex>
#include <thread>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include "edges/http/routes.h"
#include "google/api/annotations.pb.h"
#include "services/pos/validation.h"
#include "tests/support/http_client.h"
#include "tests/support/server_fixture.h"

namespace loyalty::testing {
namespace {

using namespace std::chrono_literals;

class HttpServerTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    Enroll("m-1", "4000000000000001");
    Enroll("m-2", "4000000000000002");
  }
  void Configure(internal::ServerConfig& config) const override {
    config.set_http_max_body_bytes(64 << 10);
    config.set_http_max_header_bytes(4 << 10);
    config.set_http_request_timeout_ms(500);
    config.set_http_idle_timeout_ms(1000);
    config.set_http_max_connections(16);
    config.set_http_heartbeat_ms(200);
  }

  int port() const { return server_->http_port(); }
  HttpReply Call(const std::string& method, const std::string& target, const std::string& token = kAdmin,
                 const std::string& body = "") {
    HttpClient client(port());
    return client.Send(method, target, token, body);
  }
  static std::string Json(const google::protobuf::Message& m) { return http::ToJson(m); }
  static std::string SaleJson(const v1::Sale& sale) { return Json(sale); }
};

// The JSON of `m` without the named top-level field (for answers that differ
// only in their event sequence number).
std::string Without(std::string json, const std::string& field) {
  const std::string key = "\"" + field + "\":";
  const size_t at = json.find(key);
  if (at == std::string::npos) return json;
  size_t end = json.find_first_of(",}", json.find('"', at + key.size() + 1) + 1);
  if (json[end] == ',') ++end;
  json.erase(at, end - at);
  return json;
}

// Every RPC of the three services has a route, and every route answers as
// the operation would (never 404 or 405 from the router).
TEST_F(HttpServerTest, EveryRpcHasARouteThatIsServed) {
  (void)v1::Sale::descriptor();
  (void)v1::MemberView::descriptor();
  (void)v1::Program::descriptor();
  int routes = 0;
  for (const char* name : {"loyalty.v1.PosService", "loyalty.v1.MemberService", "loyalty.v1.AdminService"}) {
    const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    ASSERT_NE(service, nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* method = service->method(i);
      ASSERT_TRUE(method->options().HasExtension(google::api::http)) << method->full_name();
      const auto& rule = method->options().GetExtension(google::api::http);
      std::string verb = !rule.get().empty() ? "GET" : !rule.post().empty() ? "POST" : "PUT";
      std::string path = !rule.get().empty() ? rule.get() : !rule.post().empty() ? rule.post() : rule.put();
      if (const size_t at = path.find("{member_id}"); at != std::string::npos) path.replace(at, 11, "m-1");
      // No such credential: the operation answers NOT_FOUND itself (its
      // message names the field; the router's would name the path).
      if (const size_t at = path.find("{credential_id}"); at != std::string::npos) path.replace(at, 15, "cred-999");
      if (const size_t at = path.find("{job_id}"); at != std::string::npos) {
        // A job that exists: started from the current program.
        const HttpReply started = Call("POST", "/v1/dry-runs", kAdmin, "{\"program\": " + Call("GET", "/v1/program", kAdmin, "").body + "}");
        ASSERT_EQ(started.status, 200) << started.body;
        std::smatch id;
        ASSERT_TRUE(std::regex_search(started.body, id, std::regex("\"job_id\":\"(dr-[0-9a-f]+)\""))) << started.body;
        path.replace(at, 8, id[1].str());
      }
      if (method->server_streaming()) continue;  // the event stream has its own test
      std::string body = verb == "GET" ? "" : "{}";
      if (rule.body() != "*" && !rule.body().empty()) body = "{}";
      if (method->name() == "CreateCheckpoint") body = "{\"name\": \"../escape\"}";  // refused, writes nothing
      const HttpReply r = Call(verb, path, kAdmin, body);
      EXPECT_NE(r.status, 0) << method->full_name();
      if (r.status == 404) EXPECT_NE(r.body.find("credential_id: no credential"), std::string::npos) << method->full_name() << " " << r.body;
      EXPECT_NE(r.status, 405) << method->full_name() << " " << r.body;
      ++routes;
    }
  }
  EXPECT_EQ(routes, 30);  // 31 RPCs, one of them the event stream
}

// Credentials and roles are gRPC's: the expected HTTP status of each cell.
TEST_F(HttpServerTest, AuthMatrixOverHttp) {
  struct Cell {
    const char* method;
    const char* target;
    const char* body;
    int none, bad, terminal, terminal2, member, admin;
  };
  const std::string sale = SaleJson(MakeSale("auth-1", "m-1", {{1, 100}}));
  const std::string sale_admin = SaleJson(MakeSale("auth-2", "m-1", {{1, 100}}));
  const Cell cells[] = {
      // RecordSale of store-1: its terminal and admin only (each cell a new id: 200s).
      {"GET", "/v1/members/m-1", "", 401, 401, 403, 403, 200, 200},
      {"GET", "/v1/members/m-2", "", 401, 401, 403, 403, 403, 200},
      {"GET", "/v1/members/m-1/offers", "", 401, 401, 403, 403, 200, 200},
      {"GET", "/v1/members/m-1/history", "", 401, 401, 403, 403, 200, 200},
      {"GET", "/v1/program", "", 401, 401, 403, 403, 403, 200},
      {"GET", "/v1/figures", "", 401, 401, 403, 403, 403, 200},
      {"POST", "/v1/members:lookup", "{\"card_number\":\"4000000000000001\"}", 401, 401, 200, 200, 403, 200},
  };
  for (const Cell& c : cells) {
    const std::pair<std::string, int> expected[] = {{"", c.none},           {"not-a-token", c.bad},
                                                    {kTerminal, c.terminal}, {kTerminal2, c.terminal2},
                                                    {kMember, c.member},     {kAdmin, c.admin}};
    for (const auto& [token, status] : expected) {
      EXPECT_EQ(Call(c.method, c.target, token, c.body).status, status) << c.method << " " << c.target << " as '" << token << "'";
    }
  }
  EXPECT_EQ(Call("POST", "/v1/sales", kTerminal2, sale).status, 403);  // another store's terminal
  EXPECT_EQ(Call("POST", "/v1/sales", kMember, sale).status, 403);
  EXPECT_EQ(Call("POST", "/v1/sales", kTerminal, sale).status, 200);
  EXPECT_EQ(Call("POST", "/v1/sales", kAdmin, sale_admin).status, 200);
  // "me" is the member credential's own member, and needs one.
  const HttpReply me = Call("GET", "/v1/members/me", kMember);
  EXPECT_EQ(me.status, 200);
  EXPECT_NE(me.body.find("\"member_id\":\"m-1\""), std::string::npos) << me.body;
  const HttpReply admin_me = Call("GET", "/v1/members/me", kAdmin);
  EXPECT_EQ(admin_me.status, 400);
  EXPECT_NE(admin_me.body.find("needs a member credential"), std::string::npos) << admin_me.body;
}

// Each error maps by Google's table, with {code, status, message} naming
// the field; nothing is recorded by a refused request.
TEST_F(HttpServerTest, ErrorsMapToHttpWithTheField) {
  const v1::Sale sale = MakeSale("err-1", "m-1", {{2, 350}});
  ASSERT_EQ(Call("POST", "/v1/sales", kTerminal, SaleJson(sale)).status, 200);
  v1::Sale other = sale;
  other.mutable_lines(0)->set_category("bakery");  // same id, other content
  const HttpReply conflict = Call("POST", "/v1/sales", kTerminal, SaleJson(other));
  EXPECT_EQ(conflict.status, 409);
  EXPECT_NE(conflict.body.find("\"status\":\"ALREADY_EXISTS\""), std::string::npos) << conflict.body;

  v1::Sale bad = MakeSale("err-2", "m-1", {{2, 350}});
  bad.mutable_lines(0)->set_quantity(0);
  const HttpReply invalid = Call("POST", "/v1/sales", kTerminal, SaleJson(bad));
  EXPECT_EQ(invalid.status, 400);
  EXPECT_EQ(invalid.body,
            "{\"code\":3,\"status\":\"INVALID_ARGUMENT\",\"message\":\"sale.lines[0].quantity: must be between 1 and "
            "9999, got 0\"}");

  const HttpReply unknown_field = Call("POST", "/v1/sales", kTerminal, "{\"ref\":{\"store\":\"x\"}}");
  EXPECT_EQ(unknown_field.status, 400);
  EXPECT_NE(unknown_field.body.find("sale.ref.store: unknown field"), std::string::npos) << unknown_field.body;
  const HttpReply wrong_type = Call("POST", "/v1/sales", kTerminal, "{\"lines\":[{\"quantity\":\"many\"}]}");
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_NE(wrong_type.body.find("sale.lines[0].quantity"), std::string::npos) << wrong_type.body;
  const HttpReply malformed = Call("POST", "/v1/sales", kTerminal, "{\"ref\": ");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.body.find("body: malformed JSON"), std::string::npos) << malformed.body;
  const HttpReply query = Call("GET", "/v1/members/m-1/history?page_size=lots");
  EXPECT_EQ(query.status, 400);
  EXPECT_NE(query.body.find("page_size: must be an unsigned 32-bit integer"), std::string::npos) << query.body;
  const HttpReply unknown_param = Call("GET", "/v1/members/m-1/history?colour=red");
  EXPECT_EQ(unknown_param.status, 400);
  EXPECT_NE(unknown_param.body.find("colour: unknown parameter"), std::string::npos) << unknown_param.body;

  EXPECT_EQ(Call("GET", "/v1/members/nobody").status, 404);
  EXPECT_EQ(Call("GET", "/v1/nothing-here").status, 404);
  const HttpReply anonymous = Call("GET", "/v1/members/m-1", "");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.Header("www-authenticate"), "Bearer realm=\"loyaltyd\"");
  const HttpReply verb = Call("DELETE", "/v1/program");
  EXPECT_EQ(verb.status, 405);
  EXPECT_EQ(verb.Header("allow"), "GET, PUT");
  v1::UpdateProgramRequest stale;
  *stale.mutable_program() = codec::ToProto(Program());
  stale.set_expected_version(7);
  const HttpReply precondition = Call("PUT", "/v1/program", kAdmin, Json(stale));
  EXPECT_EQ(precondition.status, 400);
  EXPECT_NE(precondition.body.find("\"status\":\"FAILED_PRECONDITION\""), std::string::npos) << precondition.body;

  // None of the refused sales was recorded: m-1 holds only err-1's points.
  const v1::Balance b = View("m-1").balance();
  EXPECT_EQ(b.available_points() + b.pending_points(), 7);
}

// A replayed write says so in a header, and answers what it answered first.
TEST_F(HttpServerTest, ReplayedWriteSaysSo) {
  const std::string sale = SaleJson(MakeSale("rep-1", "m-1", {{3, 500}}));
  const HttpReply first = Call("POST", "/v1/sales", kTerminal, sale);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.Header("x-idempotent-replay"), "");
  const HttpReply again = Call("POST", "/v1/sales", kTerminal, sale);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.Header("x-idempotent-replay"), "true");
  EXPECT_EQ(again.body, first.body);
}

// For a sale, a return, a member read and an evaluation, the JSON answer
// equals the gRPC answer converted to JSON.
TEST_F(HttpServerTest, JsonAnswersEqualGrpcAnswers) {
  v1::EventOutcome grpc_sale;
  v1::RecordSaleRequest request;
  *request.mutable_sale() = MakeSale("eq-1", "m-1", {{2, 350}, {1, 1200, 0, "bakery"}});
  ASSERT_TRUE(pos_->RecordSale(As(kTerminal).get(), request, &grpc_sale).ok());
  const HttpReply http_sale = Call("POST", "/v1/sales", kTerminal, SaleJson(MakeSale("eq-2", "m-2", {{2, 350}, {1, 1200, 0, "bakery"}})));
  ASSERT_EQ(http_sale.status, 200) << http_sale.body;
  v1::EventOutcome expected = grpc_sale;
  expected.set_member_id("m-2");
  EXPECT_EQ(Without(http_sale.body, "event_seq"), Without(Json(expected), "event_seq"));

  v1::RecordReturnRequest ret;
  *ret.mutable_return_() = MakeReturn("eq-r1", Ref("eq-1"), {{0, 1}});
  v1::EventOutcome grpc_return;
  ASSERT_TRUE(pos_->RecordReturn(As(kTerminal).get(), ret, &grpc_return).ok());
  const HttpReply http_return = Call("POST", "/v1/returns", kTerminal, Json(MakeReturn("eq-r2", Ref("eq-2"), {{0, 1}})));
  ASSERT_EQ(http_return.status, 200) << http_return.body;
  expected = grpc_return;
  expected.set_member_id("m-2");
  EXPECT_EQ(Without(http_return.body, "event_seq"), Without(Json(expected), "event_seq"));

  const v1::MemberView view = View("m-1");
  EXPECT_EQ(Call("GET", "/v1/members/m-1").body, Json(view));

  v1::EvaluateBasketRequest evaluate;
  evaluate.set_store_id("store-1");
  evaluate.mutable_member()->set_card_number("4000000000000001");
  evaluate.set_currency("EUR");
  *evaluate.mutable_lines() = MakeSale("x", "", {{4, 250}}).lines();
  evaluate.mutable_at()->set_seconds(kNow);
  v1::BasketEvaluation grpc_eval;
  ASSERT_TRUE(pos_->EvaluateBasket(As(kTerminal).get(), evaluate, &grpc_eval).ok());
  const HttpReply http_eval = Call("POST", "/v1/baskets:evaluate", kTerminal, Json(evaluate));
  EXPECT_EQ(http_eval.status, 200);
  EXPECT_EQ(http_eval.body, Json(grpc_eval));
}

// A backlog as a JSON array and as NDJSON: each event answered, a bad one
// with its own error, the rest applied.
TEST_F(HttpServerTest, BacklogAsJsonArrayAndNdjson) {
  v1::BacklogEvent good, bad;
  *good.mutable_sale() = MakeSale("bl-1", "m-1", {{1, 1000}});
  *bad.mutable_sale() = MakeSale("bl-2", "m-1", {{1, 1000}});
  bad.mutable_sale()->mutable_ref()->set_terminal_id("");
  const HttpReply array = Call("POST", "/v1/backlog", kTerminal, "[" + Json(good) + "," + Json(bad) + "]");
  ASSERT_EQ(array.status, 200) << array.body;
  EXPECT_NE(array.body.find("\"accepted\":1,\"rejected\":1"), std::string::npos) << array.body;
  EXPECT_NE(array.body.find("sale.ref.terminal_id: is required"), std::string::npos) << array.body;

  v1::BacklogEvent next;
  *next.mutable_sale() = MakeSale("bl-3", "m-2", {{2, 1000}});
  HttpClient client(port());
  const HttpReply ndjson = client.Send("POST", "/v1/backlog", kTerminal, Json(good) + "\n" + Json(next) + "\n",
                                       {{"X-Unused", "1"}});
  ASSERT_EQ(ndjson.status, 200) << ndjson.body;
  EXPECT_NE(ndjson.body.find("\"replayed\":true"), std::string::npos) << ndjson.body;  // bl-1 again
  EXPECT_NE(ndjson.body.find("\"accepted\":2,\"rejected\":0"), std::string::npos) << ndjson.body;
  const v1::Balance b = View("m-2").balance();
  EXPECT_EQ(b.available_points() + b.pending_points(), 20);
  const HttpReply broken = Call("POST", "/v1/backlog", kTerminal, Json(good) + "\n{\"sale\": {\"lines\": 5}}\n");
  EXPECT_EQ(broken.status, 400);
  EXPECT_NE(broken.body.find("line 2: sale.lines"), std::string::npos) << broken.body;
}

// An upload over the backlog's event limit is refused whole with 429, by the
// same operation rule as over gRPC; nothing is recorded.
TEST_F(HttpServerTest, BacklogOverTheEventLimitIsRefusedWhole) {
  v1::BacklogEvent good;
  *good.mutable_sale() = MakeSale("lim-1", "m-1", {{1, 1000}});
  std::string body = Json(good) + "\n";
  for (size_t i = 0; i < pos::kMaxBacklogEvents; ++i) body += "{\"sale\":{}}\n";
  const HttpReply r = Call("POST", "/v1/backlog", kTerminal, body);
  EXPECT_EQ(r.status, 429);
  EXPECT_NE(r.body.find("at most 10000 events; nothing was recorded"), std::string::npos) << r.body;
  const v1::Balance b = View("m-1").balance();
  EXPECT_EQ(b.available_points() + b.pending_points(), 0);
}

// A body over the limit is 413 and a header block over the limit is 431;
// both close the connection and record nothing.
TEST_F(HttpServerTest, OversizedBodyAndHeadersAreRefused) {
  v1::Sale sale = MakeSale("big-1", "m-1", {{1, 100}});
  std::string json = SaleJson(sale);
  json.insert(json.size() - 1, ",\"currency\":\"EUR\"" + std::string(70 << 10, ' '));
  HttpClient client(port());
  const HttpReply big = client.Send("POST", "/v1/sales", kTerminal, json);
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("body: at most 65536 bytes"), std::string::npos) << big.body;
  const v1::Balance b = View("m-1").balance();
  EXPECT_EQ(b.available_points() + b.pending_points(), 0);

  HttpClient headers(port());
  const HttpReply huge = headers.Send("GET", "/v1/members/m-1", kAdmin, "", {{"X-Padding", std::string(8 << 10, 'x')}});
  EXPECT_EQ(huge.status, 431);
}

// A client that sends one byte at a time is cut off by the request timeout,
// an idle kept-alive connection by the idle timeout; the server goes on.
TEST_F(HttpServerTest, SlowAndIdleClientsAreCutOff) {
  HttpClient slow(port());
  ASSERT_TRUE(slow.Connect());
  const std::string request = "GET /v1/members/m-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\n\r\n";
  const auto started = std::chrono::steady_clock::now();
  bool cut = false;
  for (size_t i = 0; i < request.size() && !cut; ++i) {
    if (!slow.SendRaw(request.substr(i, 1))) break;
    cut = slow.ClosedByServer(100ms);
  }
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(cut) << "still connected after the whole request";
  EXPECT_LT(took, 3s);

  HttpClient idle(port());
  ASSERT_EQ(idle.Send("GET", "/healthz").status, 200);
  EXPECT_TRUE(idle.ClosedByServer(3s));  // idle timeout 1 s
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

// Past max_connections a new connection is told 503 and closed; once others
// close, new ones are served again.
TEST_F(HttpServerTest, ConnectionLimitAnswers503) {
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 16; ++i) {
    held.push_back(std::make_unique<HttpClient>(port()));
    ASSERT_EQ(held.back()->Send("GET", "/healthz").status, 200);
  }
  HttpClient extra(port());
  const HttpReply refused = extra.Send("GET", "/healthz");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.Header("retry-after"), "1");
  EXPECT_NE(refused.body.find("at most 16"), std::string::npos) << refused.body;
  held.clear();
  // The server notices the closes asynchronously.
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    std::this_thread::sleep_for(20ms);
    status = Call("GET", "/healthz").status;
  }
  EXPECT_EQ(status, 200);
}

// WatchMember as Server-Sent Events: the current view, then a new one after
// a sale, heartbeats while idle.
TEST_F(HttpServerTest, EventStreamSendsAViewAfterASale) {
  HttpClient watch(port());
  ASSERT_TRUE(watch.Connect());
  ASSERT_TRUE(watch.SendRaw("GET /v1/members/me/watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer member\r\n\r\n"));
  const HttpReply head = watch.ReadReply(5s);
  ASSERT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-type"), "text/event-stream");
  auto first = watch.ReadChunk(5s);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->rfind("event: member\ndata: {\"member_id\":\"m-1\"", 0), 0u) << *first;
  EXPECT_NE(first->find("\"pending_points\":\"0\""), std::string::npos) << *first;

  ASSERT_EQ(Call("POST", "/v1/sales", kTerminal, SaleJson(MakeSale("w-1", "m-1", {{1, 2500}}))).status, 200);
  std::string update;
  for (int i = 0; i < 20 && update.find("event: member") == std::string::npos; ++i) {
    auto chunk = watch.ReadChunk(5s);
    ASSERT_TRUE(chunk.has_value());
    update = *chunk;
  }
  EXPECT_NE(update.find("\"available_points\":\"25\""), std::string::npos) << update;
  auto heartbeat = watch.ReadChunk(2s);
  ASSERT_TRUE(heartbeat.has_value());
  EXPECT_EQ(*heartbeat, ": heartbeat\n\n");
  // HEAD gets the stream's head and no stream.
  HttpClient head_only(port());
  const HttpReply head_reply = head_only.Send("HEAD", "/v1/members/me/watch", kMember);
  EXPECT_EQ(head_reply.status, 200);
  EXPECT_EQ(head_reply.Header("content-type"), "text/event-stream");
  EXPECT_EQ(head_reply.Header("content-length"), "0");
  // A watch the member may not see is refused before any stream starts.
  EXPECT_EQ(Call("GET", "/v1/members/m-2/watch", kMember).status, 403);
  EXPECT_EQ(Call("GET", "/v1/members/nobody/watch").status, 404);
}

// Stopping the server ends an open event stream with "event: end" and the
// last chunk, not a reset.
TEST_F(HttpServerTest, EventStreamEndsCleanlyWhenTheServerStops) {
  HttpClient watch(port());
  ASSERT_TRUE(watch.Connect());
  ASSERT_TRUE(watch.SendRaw("GET /v1/members/m-1/watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\n\r\n"));
  ASSERT_EQ(watch.ReadReply(5s).status, 200);
  ASSERT_TRUE(watch.ReadChunk(5s).has_value());
  std::thread stopper([this] { ASSERT_TRUE(server_->Shutdown(2s).ok()); });
  std::string last;
  for (int i = 0; i < 10; ++i) {
    auto chunk = watch.ReadChunk(5s);
    ASSERT_TRUE(chunk.has_value());
    if (chunk->rfind("event: end", 0) == 0) {
      last = *chunk;
      break;
    }
  }
  EXPECT_NE(last.find("the server is stopping"), std::string::npos);
  auto end = watch.ReadChunk(5s);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(*end, "");  // the terminating chunk
  stopper.join();
}

// Probes and documents: /healthz, /readyz, /metrics, /openapi.json.
TEST_F(HttpServerTest, ProbesMetricsAndOpenApi) {
  EXPECT_EQ(Call("GET", "/healthz", "").body, "ok\n");
  EXPECT_EQ(Call("GET", "/readyz", "").status, 200);
  ASSERT_EQ(Call("GET", "/v1/members/m-1").status, 200);
  const HttpReply metrics = Call("GET", "/metrics", "");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("loyaltyd_http_requests_total{route=\"GET /v1/members/{member_id}\",code=\"200\"}"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("loyaltyd_grpc_requests_total{method=\"/loyalty.v1.AdminService/EnrollMember\",code=\"OK\"}"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("loyaltyd_events_applied_total{kind=\"enroll\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("loyaltyd_rocksdb_live_table_bytes{cf=\"members\"}"), std::string::npos);
  EXPECT_NE(metrics.body.find("process_resident_memory_bytes"), std::string::npos);
  const HttpReply openapi = Call("GET", "/openapi.json", "");
  EXPECT_EQ(openapi.status, 200);
  EXPECT_EQ(openapi.body.rfind("{\"openapi\":\"3.0.3\"", 0), 0u);
}

// Failed authentications are counted by reason, over HTTP and gRPC alike
// (and logged with the peer, never the token).
TEST_F(HttpServerTest, FailedAuthenticationsAreCounted) {
  const auto count = [this](const std::string& reason) {
    const std::string body = Call("GET", "/metrics", "").body;
    const std::string key = "loyaltyd_authentication_failures_total{reason=\"" + reason + "\"} ";
    const size_t at = body.find(key);
    return at == std::string::npos ? 0.0 : std::stod(body.substr(at + key.size()));
  };
  const double unknown = count("unknown_token"), missing = count("missing");
  EXPECT_EQ(Call("GET", "/v1/members/m-1", "not-a-token").status, 401);
  EXPECT_EQ(Call("GET", "/v1/members/m-1", "another-guess").status, 401);
  EXPECT_EQ(Call("GET", "/v1/members/m-1", "").status, 401);
  v1::GetMemberRequest get;
  get.set_member_id("m-1");
  v1::MemberView view;
  EXPECT_EQ(member_->GetMember(As("guessed-over-grpc").get(), get, &view).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(count("unknown_token"), unknown + 3);
  EXPECT_EQ(count("missing"), missing + 1);
  EXPECT_EQ(Call("GET", "/v1/members/m-1").status, 200);
  EXPECT_EQ(count("unknown_token"), unknown + 3) << "a good credential is not a failure";
}

// The console's files are served from the binary, with a content security
// policy that lets the page talk to this server only.
TEST_F(HttpServerTest, ConsoleIsServedFromTheBinary) {
  const HttpReply moved = Call("GET", "/console", "");
  EXPECT_EQ(moved.status, 308);
  EXPECT_EQ(moved.Header("location"), "/console/");
  const HttpReply index = Call("GET", "/console/", "");
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(index.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(index.body.find("<script src=\"console.js\" defer></script>"), std::string::npos);
  EXPECT_NE(index.Header("content-security-policy").find("connect-src 'self'"), std::string::npos);
  EXPECT_EQ(index.Header("x-frame-options"), "DENY");
  const HttpReply chart = Call("GET", "/console/chart.min.js", "");
  EXPECT_EQ(chart.status, 200);
  EXPECT_EQ(chart.Header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_NE(chart.body.find("Chart.js v3"), std::string::npos);
  EXPECT_EQ(Call("GET", "/console/../metrics", "").status, 404);
  EXPECT_EQ(Call("GET", "/console/nothing.js", "").status, 404);
  EXPECT_EQ(Call("POST", "/console/", "", "{}").status, 405);
}

// Browsers on other origins get CORS headers only for configured origins
// (none here): a preflight from an unknown origin is refused.
TEST_F(HttpServerTest, CorsOnlyForConfiguredOrigins) {
  HttpClient client(port());
  const HttpReply preflight = client.Send("OPTIONS", "/v1/program", "", "", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(preflight.status, 403);
  EXPECT_EQ(preflight.Header("access-control-allow-origin"), "");
  HttpClient get(port());
  const HttpReply r = get.Send("GET", "/v1/program", kAdmin, "", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("access-control-allow-origin"), "");
}

class HttpCorsTest : public HttpServerTest {
 protected:
  void Configure(internal::ServerConfig& config) const override {
    config.add_http_cors_origins("https://console.example");
  }
};

// A configured origin gets its preflight and the allow-origin header.
TEST_F(HttpCorsTest, ConfiguredOriginMayCall) {
  HttpClient client(port());
  const HttpReply preflight = client.Send("OPTIONS", "/v1/program", "", "", {{"Origin", "https://console.example"}});
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.Header("access-control-allow-origin"), "https://console.example");
  EXPECT_NE(preflight.Header("access-control-allow-headers").find("Authorization"), std::string::npos);
}

// A second server on a port already bound fails at start, naming the
// address, for gRPC and for HTTP (no SO_REUSEPORT split of connections).
TEST_F(HttpServerTest, SecondServerOnABoundPortFailsAtStart) {
  for (const bool same_http : {false, true}) {
    TempDir other;
    internal::ServerConfig config;
    config.set_data_dir(other.Sub("db"));
    config.set_grpc_listen(same_http ? "127.0.0.1:0" : "127.0.0.1:" + std::to_string(server_->grpc_port()));
    config.set_http_listen(same_http ? "127.0.0.1:" + std::to_string(port()) : "127.0.0.1:0");
    server::ApplyDefaults(config);
    auto second = server::LoyaltyServer::Start(config, clock_);
    ASSERT_FALSE(second.ok()) << (same_http ? "HTTP" : "gRPC") << " port shared";
    EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(second.status().message().find(same_http ? "cannot listen for HTTP on 127.0.0.1:"
                                                        : "cannot listen for gRPC on 127.0.0.1:"),
              std::string::npos)
        << second.status();
  }
  EXPECT_EQ(Call("GET", "/healthz", "").status, 200);
}

}  // namespace
}  // namespace loyalty::testing
