// Unit tests of the OpenAPI document (edges/http/openapi.h): built from the
// real loyalty.v1 services, every annotated RPC is an operation on its verb
// and path with its path parameters, bodies and answers follow the proto3
// JSON mapping, streams have their media types, and the independent
// validator (tests/js/validate_openapi.mjs) accepts the document. Small
// protos built at run time cover what the contract does not use yet (dotted
// path variables, recursion, additional bindings) and the contract bugs that
// must stop the server.
#include "edges/http/openapi.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

// Boost.JSON's definitions are compiled into openapi.cc (see openapi.h).
#include <boost/json.hpp>
#include <google/protobuf/compiler/parser.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "google/api/annotations.pb.h"
#include "loyalty/v1/admin.pb.h"
#include "loyalty/v1/member.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "tests/support/temp_dir.h"

namespace loyalty::http {
namespace {

namespace json = boost::json;
namespace pb = google::protobuf;

constexpr const char* kServices[] = {"loyalty.v1.PosService", "loyalty.v1.MemberService",
                                     "loyalty.v1.AdminService"};

std::vector<const pb::ServiceDescriptor*> LoyaltyServices() {
  // Referencing a message of each file links it, so the generated pool has
  // its services.
  (void)loyalty::v1::Sale::descriptor();
  (void)loyalty::v1::MemberView::descriptor();
  (void)loyalty::v1::Program::descriptor();
  std::vector<const pb::ServiceDescriptor*> services;
  for (const char* name : kServices) {
    services.push_back(pb::DescriptorPool::generated_pool()->FindServiceByName(name));
    EXPECT_NE(services.back(), nullptr) << name;
  }
  return services;
}

const OpenApiInfo kInfo{.title = "loyaltyd", .version = "1.0.0", .description = "Test."};

std::string LoyaltyDocumentText() { return OpenApiDocument(LoyaltyServices(), kInfo); }

json::object Parse(const std::string& text) { return json::parse(text).as_object(); }

const json::object& LoyaltyDocument() {
  static const json::object document = Parse(LoyaltyDocumentText());
  return document;
}

// The operation at document.paths[path][verb]; fails the test if absent.
const json::object& Operation(const json::object& document, const std::string& path, const std::string& verb) {
  static const json::object kNone;
  const json::value* item = document.at("paths").as_object().if_contains(path);
  if (item == nullptr || !item->as_object().contains(verb)) {
    ADD_FAILURE() << "no operation " << verb << " " << path;
    return kNone;
  }
  return item->as_object().at(verb).as_object();
}

const json::object& Schema(const json::object& document, const std::string& name) {
  return document.at("components").at("schemas").at(name).as_object();
}

// The names of the operation's parameters that are `in`.
std::set<std::string> ParameterNames(const json::object& operation, std::string_view in) {
  std::set<std::string> names;
  if (const json::value* parameters = operation.if_contains("parameters")) {
    for (const json::value& p : parameters->as_array()) {
      if (p.at("in").as_string() == in) names.insert(std::string(p.at("name").as_string()));
    }
  }
  return names;
}

json::value BodySchema(const json::object& operation, const std::string& media_type = "application/json") {
  return operation.at("requestBody").at("content").at(media_type).at("schema");
}

json::value OkSchema(const json::object& operation, const std::string& media_type = "application/json") {
  return operation.at("responses").at("200").at("content").at(media_type).at("schema");
}

json::value Ref(std::string_view name) { return json::object{{"$ref", std::string("#/components/schemas/") + std::string(name)}}; }

// Every "$ref" anywhere below `value`.
void CollectRefs(const json::value& value, std::vector<std::string>& refs) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.as_object()) {
      if (key == "$ref") refs.emplace_back(child.as_string());
      CollectRefs(child, refs);
    }
  } else if (value.is_array()) {
    for (const json::value& child : value.as_array()) CollectRefs(child, refs);
  }
}

// Builds `text` as a .proto file in a pool over the generated one (so it can
// import google/api/annotations.proto and the well-known types).
class TestProtos {
 public:
  TestProtos() : pool_(pb::DescriptorPool::generated_pool()) { (void)google::api::http; }

  const pb::FileDescriptor* Build(const std::string& text) {
    pb::io::ArrayInputStream input(text.data(), static_cast<int>(text.size()));
    Errors errors;
    pb::io::Tokenizer tokenizer(&input, &errors);
    pb::compiler::Parser parser;
    parser.RecordErrorsTo(&errors);
    pb::FileDescriptorProto proto;
    EXPECT_TRUE(parser.Parse(&tokenizer, &proto)) << errors.text;
    proto.set_name("test/file" + std::to_string(++files_) + ".proto");
    const pb::FileDescriptor* file = pool_.BuildFile(proto);
    EXPECT_NE(file, nullptr);
    return file;
  }

  const pb::ServiceDescriptor* Service(const std::string& text) {
    const pb::FileDescriptor* file = Build(text);
    return file == nullptr || file->service_count() == 0 ? nullptr : file->service(0);
  }

 private:
  struct Errors : pb::io::ErrorCollector {
    void AddError(int line, int column, const std::string& message) override {
      text += std::to_string(line) + ":" + std::to_string(column) + ": " + message + "\n";
    }
    std::string text;
  };
  pb::DescriptorPool pool_;
  int files_ = 0;
};

// A service of the package `t` with the given RPCs, over these messages.
std::string TestProto(const std::string& messages, const std::string& rpcs) {
  return "syntax = \"proto3\";\npackage t;\nimport \"google/api/annotations.proto\";\n"
         "import \"google/protobuf/timestamp.proto\";\nimport \"google/protobuf/duration.proto\";\n"
         "import \"google/protobuf/wrappers.proto\";\n" +
         messages + "\nservice S {\n" + rpcs + "\n}\n";
}

// Every method of the three services is an operation on the verb and path of
// its google.api.http annotation, with operationId, tag and summary.
TEST(OpenApiTest, EveryMethodHasItsVerbAndPath) {
  const json::object& document = LoyaltyDocument();
  size_t operations = 0;
  for (const pb::ServiceDescriptor* service : LoyaltyServices()) {
    for (int i = 0; i < service->method_count(); ++i) {
      const pb::MethodDescriptor* method = service->method(i);
      ASSERT_TRUE(method->options().HasExtension(google::api::http)) << method->full_name();
      const google::api::HttpRule& rule = method->options().GetExtension(google::api::http);
      std::string verb, path;
      if (rule.has_get()) verb = "get", path = rule.get();
      if (rule.has_post()) verb = "post", path = rule.post();
      if (rule.has_put()) verb = "put", path = rule.put();
      if (rule.has_delete_()) verb = "delete", path = rule.delete_();
      if (rule.has_patch()) verb = "patch", path = rule.patch();
      const json::object& operation = Operation(document, path, verb);
      EXPECT_EQ(operation.at("operationId"), json::value(service->name() + "_" + method->name()));
      EXPECT_EQ(operation.at("tags"), json::array{json::string(service->name())});
      EXPECT_EQ(operation.at("summary"), json::value(method->name()));
      ++operations;
    }
  }
  EXPECT_EQ(operations, 23u);
  // A few written out, as a reader of the document sees them.
  Operation(document, "/v1/sales", "post");
  Operation(document, "/v1/backlog", "post");
  Operation(document, "/v1/members:lookup", "post");
  Operation(document, "/v1/members/{member_id}/watch", "get");
  Operation(document, "/v1/program", "get");
  Operation(document, "/v1/program", "put");
  Operation(document, "/v1/program:dry-run", "post");
  Operation(document, "/v1/members", "post");
}

// The `me`-style member path exists: GET /v1/members/{member_id} with its
// path parameter, answering a MemberView.
TEST(OpenApiTest, MemberPathExists) {
  const json::object& get_member = Operation(LoyaltyDocument(), "/v1/members/{member_id}", "get");
  EXPECT_EQ(ParameterNames(get_member, "path"), std::set<std::string>{"member_id"});
  EXPECT_EQ(OkSchema(get_member), Ref("loyalty.v1.MemberView"));
  EXPECT_FALSE(get_member.contains("requestBody"));
}

// Each {variable} of every path is a required string path parameter of each
// operation on that path, and no path parameter is missing from its path.
TEST(OpenApiTest, PathParametersAreDeclared) {
  const std::regex variable(R"(\{([^}]+)\})");
  size_t with_variables = 0;
  for (const auto& [path, item] : LoyaltyDocument().at("paths").as_object()) {
    std::set<std::string> variables;
    const std::string p(path);
    for (auto it = std::sregex_iterator(p.begin(), p.end(), variable); it != std::sregex_iterator(); ++it) {
      variables.insert((*it)[1]);
    }
    with_variables += !variables.empty();
    for (const auto& [verb, operation] : item.as_object()) {
      EXPECT_EQ(ParameterNames(operation.as_object(), "path"), variables) << verb << " " << p;
      if (const json::value* parameters = operation.as_object().if_contains("parameters")) {
        for (const json::value& parameter : parameters->as_array()) {
          if (parameter.at("in") != "path") continue;
          EXPECT_EQ(parameter.at("required"), json::value(true)) << p;
          EXPECT_EQ(parameter.at("schema").at("type"), "string") << p;
        }
      }
    }
  }
  EXPECT_EQ(with_variables, 8u);  // the member paths
}

// 64-bit integers are JSON strings (int64 / uint64), 32-bit ones integers,
// Timestamps date-time strings, maps objects, repeated fields arrays.
TEST(OpenApiTest, FieldsFollowTheProto3JsonMapping) {
  const json::object& document = LoyaltyDocument();
  const json::object& line = Schema(document, "loyalty.v1.LineItem").at("properties").as_object();
  EXPECT_EQ(line.at("unit_price_minor"), (json::object{{"type", "string"}, {"format", "int64"}}));
  EXPECT_EQ(line.at("quantity"), (json::object{{"type", "integer"}, {"format", "int32"}}));
  EXPECT_EQ(line.at("sku"), (json::object{{"type", "string"}}));
  const json::object& outcome = Schema(document, "loyalty.v1.EventOutcome").at("properties").as_object();
  EXPECT_EQ(outcome.at("event_seq"), (json::object{{"type", "string"}, {"format", "uint64"}}));
  EXPECT_EQ(outcome.at("balance"), Ref("loyalty.v1.Balance"));
  EXPECT_EQ(outcome.at("applied_offer_ids"), (json::object{{"type", "array"}, {"items", {{"type", "string"}}}}));
  const json::object& sale = Schema(document, "loyalty.v1.Sale").at("properties").as_object();
  EXPECT_EQ(sale.at("occurred_at"), (json::object{{"type", "string"}, {"format", "date-time"}}));
  EXPECT_EQ(sale.at("lines").at("items"), Ref("loyalty.v1.LineItem"));
  const json::object& report = Schema(document, "loyalty.v1.DryRunReport").at("properties").as_object();
  EXPECT_EQ(report.at("members_per_tier_after"),
            (json::object{{"type", "object"}, {"additionalProperties", {{"type", "string"}, {"format", "uint64"}}}}));
  EXPECT_EQ(Schema(document, "loyalty.v1.VerifyLedgerRequest").at("properties").at("replay_events"),
            (json::object{{"type", "boolean"}}));
}

// An enum is a string schema listing its value names, referenced by its
// fields.
TEST(OpenApiTest, EnumsListTheirValueNames) {
  const json::object& document = LoyaltyDocument();
  json::array names;
  const pb::EnumDescriptor* tender_type = loyalty::v1::TenderType_descriptor();
  for (int i = 0; i < tender_type->value_count(); ++i) names.emplace_back(tender_type->value(i)->name());
  EXPECT_EQ(Schema(document, "loyalty.v1.TenderType"), (json::object{{"type", "string"}, {"enum", names}}));
  EXPECT_EQ(names.size(), 6u);
  EXPECT_EQ(names.at(1), "TENDER_TYPE_CASH");
  EXPECT_EQ(Schema(document, "loyalty.v1.Tender").at("properties").at("type"), Ref("loyalty.v1.TenderType"));
}

// A oneof's fields are plain properties; the message's description says only
// one of them may be set.
TEST(OpenApiTest, OneofIsDescribed) {
  const json::object& identifier = Schema(LoyaltyDocument(), "loyalty.v1.MemberIdentifier");
  EXPECT_EQ(identifier.at("properties").as_object().size(), 3u);
  EXPECT_EQ(identifier.at("description"),
            "Only one of `member_id`, `card_number`, `phone` may be set (oneof `kind`).");
}

// body "sale" is that field's message; body "*" is the request less the path
// fields; a GET's other fields are query parameters.
TEST(OpenApiTest, BodiesAndQueryParameters) {
  const json::object& document = LoyaltyDocument();
  EXPECT_EQ(BodySchema(Operation(document, "/v1/sales", "post")), Ref("loyalty.v1.Sale"));
  EXPECT_EQ(BodySchema(Operation(document, "/v1/members:lookup", "post")), Ref("loyalty.v1.MemberIdentifier"));
  EXPECT_EQ(BodySchema(Operation(document, "/v1/baskets:evaluate", "post")), Ref("loyalty.v1.EvaluateBasketRequest"));
  const json::value redeem = BodySchema(Operation(document, "/v1/members/{member_id}/redemptions", "post"));
  EXPECT_EQ(redeem.at("properties"),
            (json::object{{"reward_id", {{"type", "string"}}}, {"request_id", {{"type", "string"}}}}));
  const json::object& history = Operation(document, "/v1/members/{member_id}/history", "get");
  EXPECT_EQ(ParameterNames(history, "query"), (std::set<std::string>{"page_size", "page_token"}));
  EXPECT_EQ(ParameterNames(Operation(document, "/v1/audit", "get"), "query"), std::set<std::string>{"limit"});
  EXPECT_EQ(ParameterNames(Operation(document, "/v1/sales", "post"), "query"), std::set<std::string>{});
}

// The client stream takes a JSON array or NDJSON of BacklogEvent; the server
// stream answers Server-Sent Events of MemberView.
TEST(OpenApiTest, StreamsHaveTheirMediaTypes) {
  const json::object& document = LoyaltyDocument();
  const json::object& backlog = Operation(document, "/v1/backlog", "post");
  EXPECT_EQ(BodySchema(backlog), (json::object{{"type", "array"}, {"items", Ref("loyalty.v1.BacklogEvent")}}));
  const json::object& ndjson = backlog.at("requestBody").at("content").at("application/x-ndjson").as_object();
  EXPECT_EQ(ndjson.at("x-itemSchema"), Ref("loyalty.v1.BacklogEvent"));
  EXPECT_EQ(OkSchema(backlog), Ref("loyalty.v1.BacklogResult"));
  const json::object& watch = Operation(document, "/v1/members/{member_id}/watch", "get");
  const json::object& ok = watch.at("responses").at("200").as_object();
  const json::object& events = ok.at("content").at("text/event-stream").as_object();
  EXPECT_EQ(events.at("x-itemSchema"), Ref("loyalty.v1.MemberView"));
  EXPECT_NE(std::string(ok.at("description").as_string()).find("Server-Sent Events"), std::string::npos);
  EXPECT_FALSE(ok.at("content").as_object().contains("application/json"));
}

// Every operation answers the shared Error schema for 400 ... 503; the PoS
// write RPCs (and only they) declare X-Idempotent-Replay; bearer auth applies
// to the whole document.
TEST(OpenApiTest, ErrorsReplayHeaderAndSecurity) {
  const json::object& document = LoyaltyDocument();
  std::set<std::string> with_replay;
  for (const auto& [path, item] : document.at("paths").as_object()) {
    for (const auto& [verb, operation] : item.as_object()) {
      const json::object& responses = operation.at("responses").as_object();
      for (const char* status : {"400", "401", "403", "404", "409", "429", "500", "503"}) {
        ASSERT_TRUE(responses.contains(status)) << path << " " << status;
        const json::value& answer =
            document.at_pointer("/components/responses/" + std::string(responses.at(status).at("$ref").as_string()).substr(sizeof("#/components/responses/") - 1));
        EXPECT_EQ(answer.at("content").at("application/json").at("schema"), Ref("Error"));
      }
      if (responses.at("200").as_object().contains("headers")) {
        EXPECT_TRUE(responses.at("200").at("headers").as_object().contains("X-Idempotent-Replay"));
        with_replay.insert(std::string(operation.at("operationId").as_string()));
      }
    }
  }
  EXPECT_EQ(with_replay,
            (std::set<std::string>{"PosService_RecordSale", "PosService_RecordReturn", "PosService_VoidSale"}));
  const json::object& error = Schema(document, "Error").at("properties").as_object();
  EXPECT_EQ(error.at("code").at("type"), "integer");
  EXPECT_EQ(error.at("status").at("type"), "string");
  EXPECT_EQ(error.at("message").at("type"), "string");
  EXPECT_EQ(document.at("security"), (json::array{json::object{{"bearerAuth", json::array{}}}}));
  EXPECT_EQ(document.at_pointer("/components/securitySchemes/bearerAuth/scheme"), "bearer");
  EXPECT_EQ(document.at("openapi"), "3.0.3");
  EXPECT_EQ(document.at("info").at("title"), "loyaltyd");
}

// Every $ref points at a schema that exists; the document holds no route
// outside the services (no /healthz, /metrics, /openapi.json).
TEST(OpenApiTest, RefsResolveAndOnlyApiPaths) {
  const json::object& document = LoyaltyDocument();
  std::vector<std::string> refs;
  CollectRefs(document, refs);
  EXPECT_GT(refs.size(), 100u);
  for (const std::string& ref : refs) {
    ASSERT_EQ(ref.rfind("#/", 0), 0u) << ref;
    std::error_code ec;
    EXPECT_NE(json::value(document).find_pointer(ref.substr(1), ec), nullptr) << ref;
  }
  for (const auto& [path, item] : document.at("paths").as_object()) {
    EXPECT_EQ(std::string(path).rfind("/v1/", 0), 0u) << path;
  }
}

// The same descriptors give the same text, byte for byte.
TEST(OpenApiTest, Deterministic) { EXPECT_EQ(LoyaltyDocumentText(), LoyaltyDocumentText()); }

// Dotted path variables, a recursive message, nested and enum query
// parameters, additional bindings, response_body and well-known types.
TEST(OpenApiTest, AnnotationsTheContractDoesNotUseYet) {
  TestProtos protos;
  const pb::ServiceDescriptor* service = protos.Service(TestProto(
      R"(
      enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; }
      message Node { string name = 1; repeated Node children = 2; Node parent = 3; }
      message Key { string shop = 1; string id = 2; }
      message Filter { Color color = 1; repeated string tags = 2; Key key = 3; google.protobuf.Timestamp since = 4; }
      message GetReq { Key key = 1; Filter filter = 2; repeated Node nodes = 3; map<string, string> labels = 4;
                       google.protobuf.Int64Value limit = 5; Node root = 6; }
      message PutReq { Key key = 1; Node node = 2; string note = 3; }
      message Resp { Node node = 1; google.protobuf.Duration took = 2; google.protobuf.BoolValue ok = 3; bytes raw = 4; }
      )",
      R"(
      rpc Get(GetReq) returns (Resp) {
        option (google.api.http) = { get: "/v1/shops/{key.shop}/items/{key.id=items/*}" response_body: "node"
                                     additional_bindings { get: "/v1/items/{key.id}" } };
      }
      rpc Put(PutReq) returns (Resp) { option (google.api.http) = { post: "/v1/shops/{key.shop}:put" body: "*" }; }
      rpc PutNode(PutReq) returns (Resp) { option (google.api.http) = { patch: "/v1/nodes/{node.name}" body: "node" }; }
      rpc NotOnHttp(PutReq) returns (Resp);
      )"));
  ASSERT_NE(service, nullptr);
  const json::object document = Parse(OpenApiDocument({service}, {.title = "t", .version = "0"}));

  const json::object& get = Operation(document, "/v1/shops/{key.shop}/items/{key.id}", "get");
  EXPECT_EQ(get.at("operationId"), "S_Get");
  EXPECT_EQ(ParameterNames(get, "path"), (std::set<std::string>{"key.shop", "key.id"}));
  // Nested messages flatten to dotted names; repeated messages, maps and a
  // recursive message's repeats have no query form.
  EXPECT_EQ(ParameterNames(get, "query"),
            (std::set<std::string>{"filter.color", "filter.tags", "filter.key.shop", "filter.key.id", "filter.since",
                                   "limit", "root.name", "root.parent.name"}));
  EXPECT_EQ(OkSchema(get), Ref("t.Node"));  // response_body
  const json::object& more = Operation(document, "/v1/items/{key.id}", "get");
  EXPECT_EQ(more.at("operationId"), "S_Get_2");
  EXPECT_EQ(ParameterNames(more, "query").count("key.shop"), 1u);

  const json::object& put = Operation(document, "/v1/shops/{key.shop}:put", "post");
  const json::value body = BodySchema(put);
  EXPECT_EQ(body.at("properties").at("key").at("properties"), (json::object{{"id", {{"type", "string"}}}}));
  EXPECT_EQ(body.at("properties").at("node"), Ref("t.Node"));
  const json::object& put_node = Operation(document, "/v1/nodes/{node.name}", "patch");
  EXPECT_EQ(BodySchema(put_node).at("properties").as_object().contains("name"), false);
  EXPECT_EQ(ParameterNames(put_node, "query"), (std::set<std::string>{"key.shop", "key.id", "note"}));
  EXPECT_EQ(document.at("paths").as_object().size(), 4u);  // NotOnHttp is not on HTTP

  const json::object& node = Schema(document, "t.Node").at("properties").as_object();
  EXPECT_EQ(node.at("children").at("items"), Ref("t.Node"));  // recursion by $ref
  EXPECT_EQ(node.at("parent"), Ref("t.Node"));
  const json::object& resp = Schema(document, "t.Resp").at("properties").as_object();
  EXPECT_EQ(resp.at("took").at("type"), "string");
  EXPECT_EQ(resp.at("ok"), (json::object{{"type", "boolean"}, {"nullable", true}}));
  EXPECT_EQ(resp.at("raw"), (json::object{{"type", "string"}, {"format", "byte"}}));
  EXPECT_EQ(Schema(document, "t.Color").at("enum"), (json::array{"COLOR_UNSPECIFIED", "COLOR_RED"}));
}

// Annotations that disagree with the messages are contract bugs: building
// the document aborts, naming the method and the field.
TEST(OpenApiDeathTest, ContractBugsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::string messages = "message Req { string id = 1; Inner inner = 2; }\nmessage Inner { string a = 1; }\n";
  auto document_of = [&](const std::string& rpcs) {
    TestProtos protos;
    const pb::ServiceDescriptor* service = protos.Service(TestProto(messages, rpcs));
    ASSERT_NE(service, nullptr);
    OpenApiDocument({service}, {.title = "t", .version = "0"});
  };
  EXPECT_DEATH(document_of(R"(rpc M(Req) returns (Req) { option (google.api.http) = { get: "/v1/{member_id}" }; })"),
               "S.M: path variable \\{member_id\\} names no field of t.Req");
  EXPECT_DEATH(document_of(R"(rpc M(Req) returns (Req) { option (google.api.http) = { get: "/v1/{inner}" }; })"),
               "S.M: path variable \\{inner\\} is not a singular scalar field");
  EXPECT_DEATH(document_of(R"(rpc M(Req) returns (Req) { option (google.api.http) = { post: "/v1/x" body: "nope" }; })"),
               "S.M: body \"nope\" names no field of t.Req");
  EXPECT_DEATH(document_of(R"(rpc M(Req) returns (Req) { option (google.api.http) = { get: "/v1/x" };
                              rpc N(Req) returns (Req) { option (google.api.http) = { get: "/v1/x" }; })"),
               "S.M and S.N both map to get /v1/x");
  EXPECT_DEATH(document_of(R"(rpc M(Req) returns (Req) { option (google.api.http) = { get: "/v1/*/x" }; })"),
               "S.M: '\\*' outside a variable");
  EXPECT_DEATH(OpenApiDocument({nullptr}, kInfo), "a null service descriptor");
}

// The PoS write RPCs that the replay header names still exist.
TEST(OpenApiTest, ReplayHeaderMethodsExist) {
  LoyaltyServices();
  for (const char* name : {"loyalty.v1.PosService.RecordSale", "loyalty.v1.PosService.RecordReturn",
                           "loyalty.v1.PosService.VoidSale"}) {
    EXPECT_NE(pb::DescriptorPool::generated_pool()->FindMethodByName(name), nullptr) << name;
  }
}

// The independent validator (official OpenAPI 3.0 JSON schema, $refs, path
// parameter rules) accepts the document.
TEST(OpenApiTest, IndependentValidatorAccepts) {
  const char* js_env = std::getenv("LOYALTY_TESTS_JS_DIR");
  const std::filesystem::path js =
      js_env != nullptr ? std::filesystem::path(js_env) : std::filesystem::path(__FILE__).parent_path().parent_path() / "js";
  if (std::system("node --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
  if (!std::filesystem::exists(js / "node_modules" / "@seriousme" / "openapi-schema-validator")) {
    GTEST_SKIP() << "no " << (js / "node_modules") << ": run tests/js/install.sh";
  }
  loyalty::testing::TempDir dir;
  const std::string file = dir.Sub("openapi.json");
  std::ofstream(file) << LoyaltyDocumentText();
  const std::string command = "node '" + (js / "validate_openapi.mjs").string() + "' '" + file + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("valid: "), std::string::npos) << output;
  EXPECT_NE(output.find("23 operations"), std::string::npos) << output;
}

}  // namespace
}  // namespace loyalty::http
