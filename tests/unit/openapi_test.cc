// Unit tests of the OpenAPI document (edges/http/openapi.h): built from the
// real loyalty.v1 services, every annotated RPC is an operation on its verb
// and path with its path parameters, bodies and answers follow the proto3
// JSON mapping, streams have their media types, and the independent
// validator (tests/js/validate_openapi.mjs) accepts the document. Small
// protos built at run time cover what the contract does not use yet (dotted
// path variables, recursion, body fields with path fields inside) and the
// contract bugs that must stop the server.
#include "edges/http/openapi.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/text_format.h>

#include <boost/json.hpp>

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

const json::value& LoyaltyDocumentValue() {
  static const json::value document = json::parse(LoyaltyDocumentText());
  return document;
}

const json::object& LoyaltyDocument() { return LoyaltyDocumentValue().as_object(); }

// The operation at document.paths[path][verb]; fails the test if absent.
const json::object& Operation(const json::object& document, const std::string& path,
                              const std::string& verb) {
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

json::value Ref(std::string_view name) {
  return json::object{{"$ref", std::string("#/components/schemas/") + std::string(name)}};
}

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

// A .proto file of the package `t`, built at run time in a pool over the
// generated one (so it can use google.api.http and the well-known types).
// Fields are written "[repeated] type name" or "map<k,v> name" and numbered
// in order; rules in google.api.HttpRule's text format.
class TestProto {
 public:
  TestProto() : pool_(pb::DescriptorPool::generated_pool()) {
    (void)google::api::http;  // links annotations.proto into the generated pool
    file_.set_name("test/openapi_test.proto");
    file_.set_package("t");
    file_.set_syntax("proto3");
    for (const char* dependency : {"google/api/annotations.proto", "google/protobuf/timestamp.proto",
                                   "google/protobuf/duration.proto", "google/protobuf/wrappers.proto"}) {
      file_.add_dependency(dependency);
    }
    file_.add_service()->set_name("S");
  }

  TestProto& Message(const std::string& name, const std::vector<std::string>& fields) {
    pb::DescriptorProto* message = file_.add_message_type();
    message->set_name(name);
    for (const std::string& spec : fields) AddField(*message, spec);
    return *this;
  }

  TestProto& Enum(const std::string& name, const std::vector<std::string>& values) {
    pb::EnumDescriptorProto* enum_type = file_.add_enum_type();
    enum_type->set_name(name);
    for (size_t i = 0; i < values.size(); ++i) {
      pb::EnumValueDescriptorProto* value = enum_type->add_value();
      value->set_name(values[i]);
      value->set_number(static_cast<int>(i));
    }
    return *this;
  }

  // An RPC of service S; no annotation when `rule` is empty.
  TestProto& Rpc(const std::string& name, const std::string& request, const std::string& response,
                 const std::string& rule) {
    pb::MethodDescriptorProto* method = file_.mutable_service(0)->add_method();
    method->set_name(name);
    method->set_input_type(".t." + request);
    method->set_output_type(".t." + response);
    if (!rule.empty()) {
      google::api::HttpRule* http = method->mutable_options()->MutableExtension(google::api::http);
      EXPECT_TRUE(pb::TextFormat::ParseFromString(rule, http)) << rule;
    }
    return *this;
  }

  // The service S; valid while this TestProto lives (it owns the pool).
  const pb::ServiceDescriptor* Build() {
    const pb::FileDescriptor* file = pool_.BuildFile(file_);
    EXPECT_NE(file, nullptr) << file_.DebugString();
    return file == nullptr ? nullptr : file->service(0);
  }

 private:
  static void AddField(pb::DescriptorProto& message, std::string spec) {
    pb::FieldDescriptorProto* field = message.add_field();
    field->set_number(message.field_size());
    field->set_label(pb::FieldDescriptorProto::LABEL_OPTIONAL);
    if (spec.starts_with("repeated ")) {
      field->set_label(pb::FieldDescriptorProto::LABEL_REPEATED);
      spec = spec.substr(9);
    }
    const size_t space = spec.rfind(' ');
    const std::string type = spec.substr(0, space);
    field->set_name(spec.substr(space + 1));
    if (type.starts_with("map<")) {  // map<k,v>: a repeated nested entry message
      const size_t comma = type.find(',');
      pb::DescriptorProto* entry = message.add_nested_type();
      std::string entry_name;  // protoc's: "by_name" -> "ByNameEntry"
      bool upper = true;
      for (char c : field->name()) {
        if (c == '_') {
          upper = true;
        } else {
          entry_name += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
          upper = false;
        }
      }
      entry->set_name(entry_name + "Entry");
      entry->mutable_options()->set_map_entry(true);
      AddField(*entry, type.substr(4, comma - 4) + " key");
      AddField(*entry, type.substr(comma + 1, type.size() - comma - 2) + " value");
      field->set_label(pb::FieldDescriptorProto::LABEL_REPEATED);
      field->set_type_name(".t." + message.name() + "." + entry->name());
      return;
    }
    static const std::map<std::string, pb::FieldDescriptorProto::Type> kScalars = {
        {"string", pb::FieldDescriptorProto::TYPE_STRING}, {"bytes", pb::FieldDescriptorProto::TYPE_BYTES},
        {"int64", pb::FieldDescriptorProto::TYPE_INT64},   {"int32", pb::FieldDescriptorProto::TYPE_INT32},
        {"bool", pb::FieldDescriptorProto::TYPE_BOOL},     {"double", pb::FieldDescriptorProto::TYPE_DOUBLE}};
    if (auto scalar = kScalars.find(type); scalar != kScalars.end()) {
      field->set_type(scalar->second);
    } else {  // a message or enum: the pool resolves which
      field->set_type_name(type.starts_with("google.") ? "." + type : ".t." + type);
    }
  }

  pb::DescriptorPool pool_;
  pb::FileDescriptorProto file_;
};

// The document of a test service with what the contract does not use yet:
// dotted path variables, a recursive message, nested and enum query
// parameters, a body field less a path field, maps of messages and
// well-known types.
std::string FeatureDocumentText() {
  TestProto proto;  // owns the descriptors
  const pb::ServiceDescriptor* service =
      proto.Enum("Color", {"COLOR_UNSPECIFIED", "COLOR_RED"})
          .Message("Node", {"string name", "repeated Node children", "Node parent"})
          .Message("Key", {"string shop", "string id"})
          .Message("Filter",
                   {"Color color", "repeated string tags", "Key key", "google.protobuf.Timestamp since"})
          .Message("GetReq", {"Key key", "Filter filter", "repeated Node nodes", "map<string,string> labels",
                              "google.protobuf.Int64Value limit", "Node root"})
          .Message("PutReq", {"Key key", "Node node", "string note"})
          .Message("Resp", {"Node node", "google.protobuf.Duration took", "google.protobuf.BoolValue ok",
                            "bytes raw", "map<string,Node> by_name"})
          .Rpc("Get", "GetReq", "Resp", R"(get: "/v1/shops/{key.shop}/items/{key.id=items/*}")")
          .Rpc("Put", "PutReq", "Resp", R"(post: "/v1/shops/{key.shop}:put" body: "*")")
          .Rpc("PutNode", "PutReq", "Resp", R"(patch: "/v1/nodes/{node.name}" body: "node")")
          .Rpc("NotOnHttp", "PutReq", "Resp", "")
          .Build();
  EXPECT_NE(service, nullptr);
  if (service == nullptr) return "";
  return OpenApiDocument({service}, {.title = "t", .version = "0", .description = ""});
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
  EXPECT_EQ(operations, 31u);
  // A few written out, as a reader of the document sees them.
  Operation(document, "/v1/sales", "post");
  Operation(document, "/v1/backlog", "post");
  Operation(document, "/v1/members:lookup", "post");
  Operation(document, "/v1/members/{member_id}/watch", "get");
  Operation(document, "/v1/program", "get");
  Operation(document, "/v1/program", "put");
  Operation(document, "/v1/program:dry-run", "post");
  Operation(document, "/v1/dry-runs", "post");
  Operation(document, "/v1/dry-runs/{job_id}", "get");
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
  EXPECT_EQ(with_variables, 13u);  // the member paths, a dry run job, a credential rotated or revoked
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
  EXPECT_EQ(outcome.at("applied_offer_ids"),
            (json::object{{"type", "array"}, {"items", {{"type", "string"}}}}));
  const json::object& sale = Schema(document, "loyalty.v1.Sale").at("properties").as_object();
  EXPECT_EQ(sale.at("occurred_at"), (json::object{{"type", "string"}, {"format", "date-time"}}));
  EXPECT_EQ(sale.at("lines").at("items"), Ref("loyalty.v1.LineItem"));
  const json::object& report = Schema(document, "loyalty.v1.DryRunReport").at("properties").as_object();
  EXPECT_EQ(report.at("members_per_tier_after"),
            (json::object{{"type", "object"},
                          {"additionalProperties", {{"type", "string"}, {"format", "uint64"}}}}));
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
  // A body field must be sent; "*" reads an empty body as {}.
  EXPECT_EQ(Operation(document, "/v1/sales", "post").at("requestBody").at("required"), json::value(true));
  EXPECT_FALSE(
      Operation(document, "/v1/expiry:run", "post").at("requestBody").as_object().contains("required"));
  EXPECT_EQ(BodySchema(Operation(document, "/v1/members:lookup", "post")),
            Ref("loyalty.v1.MemberIdentifier"));
  EXPECT_EQ(BodySchema(Operation(document, "/v1/baskets:evaluate", "post")),
            Ref("loyalty.v1.EvaluateBasketRequest"));
  const json::value redeem = BodySchema(Operation(document, "/v1/members/{member_id}/redemptions", "post"));
  EXPECT_EQ(redeem.at("properties"),
            (json::object{{"reward_id", {{"type", "string"}}},
                          {"request_id", {{"type", "string"}}},
                          {"pin", {{"type", "string"}}},
                          {"till_code", {{"type", "string"}}}}));
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
  EXPECT_EQ(BodySchema(backlog),
            (json::object{{"type", "array"}, {"items", Ref("loyalty.v1.BacklogEvent")}}));
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
        const std::string ref(responses.at(status).at("$ref").as_string());
        const json::value& answer = LoyaltyDocumentValue().at_pointer(ref.substr(1));
        EXPECT_EQ(answer.at("content").at("application/json").at("schema"), Ref("Error"));
      }
      if (responses.at("200").as_object().contains("headers")) {
        EXPECT_TRUE(responses.at("200").at("headers").as_object().contains("X-Idempotent-Replay"));
        with_replay.insert(std::string(operation.at("operationId").as_string()));
      }
    }
  }
  EXPECT_EQ(with_replay, (std::set<std::string>{"PosService_RecordSale", "PosService_RecordReturn",
                                                "PosService_VoidSale"}));
  const json::object& error = Schema(document, "Error").at("properties").as_object();
  EXPECT_EQ(error.at("code").at("type"), "integer");
  EXPECT_EQ(error.at("status").at("type"), "string");
  EXPECT_EQ(error.at("message").at("type"), "string");
  EXPECT_EQ(document.at("security"), (json::array{json::object{{"bearerAuth", json::array{}}}}));
  EXPECT_EQ(LoyaltyDocumentValue().at_pointer("/components/securitySchemes/bearerAuth/scheme"), "bearer");
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
    EXPECT_NE(LoyaltyDocumentValue().find_pointer(ref.substr(1), ec), nullptr) << ref;
  }
  for (const auto& [path, item] : document.at("paths").as_object()) {
    EXPECT_EQ(std::string(path).rfind("/v1/", 0), 0u) << path;
  }
}

// The same descriptors give the same text, byte for byte.
TEST(OpenApiTest, Deterministic) { EXPECT_EQ(LoyaltyDocumentText(), LoyaltyDocumentText()); }

// The test service's document: dotted path variables, a recursive message,
// nested and enum query parameters, a body field less a path field, maps and
// well-known types.
TEST(OpenApiTest, AnnotationsTheContractDoesNotUseYet) {
  const json::object document = Parse(FeatureDocumentText());
  const json::object& get = Operation(document, "/v1/shops/{key.shop}/items/{key.id}", "get");
  EXPECT_EQ(get.at("operationId"), "S_Get");
  EXPECT_EQ(ParameterNames(get, "path"), (std::set<std::string>{"key.shop", "key.id"}));
  // Nested messages flatten to dotted names; repeated messages, maps and a
  // message inside itself (root.parent) have no query form.
  EXPECT_EQ(ParameterNames(get, "query"),
            (std::set<std::string>{"filter.color", "filter.tags", "filter.key.shop", "filter.key.id",
                                   "filter.since", "limit", "root.name"}));
  EXPECT_EQ(OkSchema(get), Ref("t.Resp"));

  const json::object& put = Operation(document, "/v1/shops/{key.shop}:put", "post");
  const json::value body = BodySchema(put);
  EXPECT_EQ(body.at("properties").at("key").at("properties"), (json::object{{"id", {{"type", "string"}}}}));
  EXPECT_EQ(body.at("properties").at("node"), Ref("t.Node"));
  EXPECT_FALSE(put.at("requestBody").as_object().contains("required"));  // "*": an empty body is {}
  const json::object& put_node = Operation(document, "/v1/nodes/{node.name}", "patch");
  EXPECT_EQ(BodySchema(put_node).at("properties").as_object().contains("name"), false);
  EXPECT_EQ(put_node.at("requestBody").at("required"), json::value(true));  // a body field must come
  EXPECT_EQ(ParameterNames(put_node, "query"), (std::set<std::string>{"key.shop", "key.id", "note"}));
  EXPECT_EQ(document.at("paths").as_object().size(), 3u);  // NotOnHttp is not on HTTP

  const json::object& node = Schema(document, "t.Node").at("properties").as_object();
  EXPECT_EQ(node.at("children").at("items"), Ref("t.Node"));  // recursion by $ref
  EXPECT_EQ(node.at("parent"), Ref("t.Node"));
  const json::object& resp = Schema(document, "t.Resp").at("properties").as_object();
  EXPECT_EQ(resp.at("took").at("type"), "string");
  EXPECT_EQ(resp.at("ok"), (json::object{{"type", "boolean"}, {"nullable", true}}));
  EXPECT_EQ(resp.at("raw"), (json::object{{"type", "string"}, {"format", "byte"}}));
  EXPECT_EQ(resp.at("by_name"), (json::object{{"type", "object"}, {"additionalProperties", Ref("t.Node")}}));
  EXPECT_EQ(Schema(document, "t.Color").at("enum"), (json::array{"COLOR_UNSPECIFIED", "COLOR_RED"}));
}

// Annotations that disagree with the messages are contract bugs: building
// the document aborts, naming the method and the field.
TEST(OpenApiDeathTest, ContractBugsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // Service S over `message Req { string id = 1; Inner inner = 2; }` with
  // RPCs of the given rules.
  auto document_of = [](const std::vector<std::pair<std::string, std::string>>& rpcs) {
    TestProto proto;
    proto.Message("Inner", {"string a"}).Message("Req", {"string id", "Inner inner"});
    for (const auto& [name, rule] : rpcs) proto.Rpc(name, "Req", "Req", rule);
    const pb::ServiceDescriptor* service = proto.Build();
    ASSERT_NE(service, nullptr);
    OpenApiDocument({service}, {.title = "t", .version = "0", .description = ""});
  };
  EXPECT_DEATH(document_of({{"M", R"(get: "/v1/{member_id}")"}}),
               "S.M: path variable \\{member_id\\} names no field of t.Req");
  EXPECT_DEATH(document_of({{"M", R"(get: "/v1/{inner}")"}}),
               "S.M: path variable \\{inner\\} is not a singular string field");
  EXPECT_DEATH(document_of({{"M", R"(post: "/v1/x" body: "nope")"}}),
               "S.M: body \"nope\" names no singular message field of t.Req");
  EXPECT_DEATH(document_of({{"M", R"(post: "/v1/x" body: "id")"}}),
               "S.M: body \"id\" names no singular message field of t.Req");
  // What the HTTP edge does not serve is not documented either.
  EXPECT_DEATH(document_of({{"M", R"(get: "/v1/x" additional_bindings { get: "/v1/y" })"}}),
               "S.M: additional_bindings are not served");
  EXPECT_DEATH(document_of({{"M", R"(get: "/v1/x" response_body: "inner")"}}),
               "S.M: response_body is not served");
  EXPECT_DEATH(document_of({{"M", R"(custom { kind: "HEAD" path: "/v1/x" })"}}),
               "S.M: custom verb HEAD is not served over HTTP");
  EXPECT_DEATH(document_of({{"M", R"(get: "/v1/x")"}, {"N", R"(get: "/v1/x")"}}),
               "S.M and S.N both map to get /v1/x");
  EXPECT_DEATH(document_of({{"M", R"(get: "/v1/*/x")"}}), "S.M: '\\*' outside a variable");
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

// tests/js, or $LOYALTY_TESTS_JS_DIR.
std::filesystem::path JsDir() {
  const char* dir = std::getenv("LOYALTY_TESTS_JS_DIR");
  return dir != nullptr ? std::filesystem::path(dir)
                        : std::filesystem::path(__FILE__).parent_path().parent_path() / "js";
}

// Why tests/js/validate_openapi.mjs cannot run here; empty when it can.
std::string ValidatorMissing() {
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  if (!std::filesystem::exists(JsDir() / "node_modules" / "@seriousme" / "openapi-schema-validator")) {
    return "no " + (JsDir() / "node_modules").string() + ": run tests/js/install.sh";
  }
  return "";
}

struct ValidatorRun {
  int status;          // as from pclose: 0 when valid
  std::string output;  // stdout and stderr
};

ValidatorRun RunValidator(const std::string& document) {
  loyalty::testing::TempDir dir;
  const std::string file = dir.Sub("openapi.json");
  std::ofstream(file) << document;
  const std::string command =
      "node '" + (JsDir() / "validate_openapi.mjs").string() + "' '" + file + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  ValidatorRun run{0, ""};
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) run.output.append(buffer, n);
  run.status = pclose(pipe);
  return run;
}

// The independent validator (official OpenAPI 3.0 JSON schema, $refs, path
// parameter rules) accepts the loyalty document.
TEST(OpenApiTest, IndependentValidatorAccepts) {
  if (std::string missing = ValidatorMissing(); !missing.empty()) GTEST_SKIP() << missing;
  const ValidatorRun run = RunValidator(LoyaltyDocumentText());
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("(OpenAPI 3.0, 31 operations)"), std::string::npos) << run.output;
}

// The independent validator accepts the test service's document too (dotted
// path parameters, inline bodies).
TEST(OpenApiTest, IndependentValidatorAcceptsFeatureDocument) {
  if (std::string missing = ValidatorMissing(); !missing.empty()) GTEST_SKIP() << missing;
  const ValidatorRun run = RunValidator(FeatureDocumentText());
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("3 operations"), std::string::npos) << run.output;
}

// The validator is not a rubber stamp: an undeclared path parameter and a
// wrongly typed field both make it fail, naming the problem.
TEST(OpenApiTest, IndependentValidatorRejects) {
  if (std::string missing = ValidatorMissing(); !missing.empty()) GTEST_SKIP() << missing;
  json::value document = LoyaltyDocumentValue();
  document.at_pointer("/paths/~1v1~1members~1{member_id}/get").as_object().erase("parameters");
  ValidatorRun run = RunValidator(json::serialize(document));
  EXPECT_NE(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("path variable {member_id} is not declared"), std::string::npos) << run.output;

  document = LoyaltyDocumentValue();
  document.at_pointer("/paths/~1v1~1sales/post/responses/200").as_object()["description"] = 5;
  run = RunValidator(json::serialize(document));
  EXPECT_NE(run.status, 0) << run.output;
  EXPECT_NE(run.output.find("must be string"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace loyalty::http
