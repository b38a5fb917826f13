// edges/http/openapi.cc: the OpenAPI document, built from descriptors.
//
// What is built, in order:
//   document   := {openapi: "3.0.3", info, tags, security, paths, components}
//   paths      := {<path template>: {<verb>: operation}}, one per annotated RPC
//   operation  := {operationId: <Service>_<Method>, tags,
//                  summary, description, parameters (path, then query),
//                  requestBody?, responses: {200, 400 ... 503}}
//   components := {schemas: {Error, <message or enum full name>: schema},
//                  responses: {<status name>: an Error answer},
//                  securitySchemes: {bearerAuth}}
// Messages are referenced by $ref and built once each, after the paths, so
// recursive messages end. A message is inlined only where the path binds some
// of its fields (the body less them).

#include "edges/http/openapi.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cassert>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/str_cat.h"
#include "google/api/annotations.pb.h"
#include "google/api/http.pb.h"

namespace loyalty::http {
namespace {

namespace json = boost::json;
namespace pb = google::protobuf;

// Dotted field paths ("member_id", "sale.ref.store_id"), relative to a message.
using FieldPaths = std::set<std::string>;

// Write RPCs whose 200 answer carries X-Idempotent-Replay. Hand-written
// because the descriptors cannot say it: pos.proto states it in a comment
// (the `x-idempotent-replay` trailing metadata). The unit test checks that
// each name still exists.
constexpr std::string_view kIdempotentReplayMethods[] = {
    "loyalty.v1.PosService.RecordSale",
    "loyalty.v1.PosService.RecordReturn",
    "loyalty.v1.PosService.VoidSale",
};

// Appended to the caller's info.description: how the edge maps JSON, which
// holds for every operation.
constexpr std::string_view kMappingNotes =
    "Generated from the gRPC contract: the protos and their google.api.http "
    "annotations. Request and response bodies are protobuf's proto3 JSON mapping "
    "with the proto field names (snake_case); answers print every field. 64-bit "
    "integers are JSON strings, enums their value names, google.protobuf.Timestamp "
    "RFC 3339 strings, bytes base64. Errors carry the gRPC status as the `Error` "
    "schema.";

// google.rpc.Code names, by number.
constexpr std::string_view kRpcCodeNames[] = {
    "OK",        "CANCELLED",       "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",    "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED",
};

struct ErrorAnswer {
  std::string_view status;  // HTTP
  std::string_view name;    // components/responses key
  std::string_view description;
};
constexpr ErrorAnswer kErrorAnswers[] = {
    {"400", "BadRequest",
     "INVALID_ARGUMENT: a field is wrong; the message names it and says why. Also "
     "FAILED_PRECONDITION (the request does not apply to the current state) and "
     "OUT_OF_RANGE."},
    {"401", "Unauthorized", "UNAUTHENTICATED: no bearer token, or one that is not valid."},
    {"403", "Forbidden",
     "PERMISSION_DENIED: the token may not make this call, or not for this store or member."},
    {"404", "NotFound", "NOT_FOUND: the member, sale or other object named does not exist."},
    {"409", "Conflict",
     "ALREADY_EXISTS: the same idempotency key with other content, or an identifier "
     "taken by another member. Also ABORTED: a concurrent change; retry."},
    {"429", "TooManyRequests",
     "RESOURCE_EXHAUSTED: a limit was exceeded (such as events per backlog upload), or "
     "the server is overloaded."},
    {"500", "InternalServerError",
     "INTERNAL (or UNKNOWN, DATA_LOSS): a server fault; the message gives only an "
     "incident number, the server's log has the details."},
    {"503", "ServiceUnavailable", "UNAVAILABLE: the server cannot serve now; retry with backoff."},
};

constexpr std::string_view kSchemaPrefix = "#/components/schemas/";
constexpr std::string_view kErrorSchema = "Error";

// A bug in the contract (or in the caller's arguments), not in any request:
// the document would be wrong, so loyaltyd must not start with it.
[[noreturn]] void Broken(std::string_view what) {
  LogError(StrCat("OpenAPI document: ", what));
  std::abort();
}

json::object RefTo(std::string_view schema_name) {
  return json::object{{"$ref", StrCat(kSchemaPrefix, schema_name)}};
}

// The suffixes of the paths in `paths` below the field `name`.
FieldPaths Below(const FieldPaths& paths, std::string_view name) {
  FieldPaths below;
  const std::string prefix = StrCat(name, ".");
  for (const std::string& p : paths) {
    if (p.starts_with(prefix)) below.insert(p.substr(prefix.size()));
  }
  return below;
}

// The schema of a non-message, non-enum field type.
json::object ScalarSchema(pb::FieldDescriptor::Type type) {
  using F = pb::FieldDescriptor;
  switch (type) {
    case F::TYPE_DOUBLE:
      return {{"type", "number"}, {"format", "double"}};
    case F::TYPE_FLOAT:
      return {{"type", "number"}, {"format", "float"}};
    // proto3 JSON prints 64-bit integers as strings (JavaScript's numbers
    // hold 53 bits).
    case F::TYPE_INT64:
    case F::TYPE_SINT64:
    case F::TYPE_SFIXED64:
      return {{"type", "string"}, {"format", "int64"}};
    case F::TYPE_UINT64:
    case F::TYPE_FIXED64:
      return {{"type", "string"}, {"format", "uint64"}};
    case F::TYPE_INT32:
    case F::TYPE_SINT32:
    case F::TYPE_SFIXED32:
      return {{"type", "integer"}, {"format", "int32"}};
    case F::TYPE_UINT32:
    case F::TYPE_FIXED32:
      return {{"type", "integer"}, {"format", "uint32"}, {"minimum", 0}, {"maximum", 4294967295u}};
    case F::TYPE_BOOL:
      return {{"type", "boolean"}};
    case F::TYPE_STRING:
      return {{"type", "string"}};
    case F::TYPE_BYTES:
      return {{"type", "string"}, {"format", "byte"}};
    case F::TYPE_ENUM:
    case F::TYPE_MESSAGE:
    case F::TYPE_GROUP:
      break;
  }
  assert(false && "ScalarSchema of a message or enum type");
  return {};
}

// The well-known types whose JSON is not an object of their fields; nullopt
// for every other message.
std::optional<json::object> WellKnownSchema(const pb::Descriptor* message) {
  const std::string& name = message->full_name();
  if (name == "google.protobuf.Timestamp") return json::object{{"type", "string"}, {"format", "date-time"}};
  if (name == "google.protobuf.Duration") {
    return json::object{{"type", "string"}, {"pattern", "^-?[0-9]+(\\.[0-9]{1,9})?s$"}};
  }
  if (name == "google.protobuf.FieldMask") {
    return json::object{{"type", "string"}, {"description", "comma-separated lowerCamelCase field paths"}};
  }
  if (message->file()->name() == "google/protobuf/wrappers.proto") {
    const pb::FieldDescriptor* value = message->FindFieldByName("value");
    assert(value != nullptr);
    json::object schema = ScalarSchema(value->type());
    schema["nullable"] = true;
    return schema;
  }
  if (name == "google.protobuf.Struct")
    return json::object{{"type", "object"}, {"additionalProperties", true}};
  if (name == "google.protobuf.Value")
    return json::object{{"description", "any JSON value"}, {"nullable", true}};
  if (name == "google.protobuf.ListValue") return json::object{{"type", "array"}, {"items", json::object{}}};
  if (name == "google.protobuf.Any") {
    return json::object{{"type", "object"},
                        {"required", json::array{"@type"}},
                        {"properties", json::object{{"@type", json::object{{"type", "string"}}}}},
                        {"additionalProperties", true}};
  }
  return std::nullopt;
}

// True for a message whose JSON is a string, number or bool (it can be a path
// or query parameter).
bool JsonIsScalar(const pb::Descriptor* message) {
  std::optional<json::object> schema = WellKnownSchema(message);
  if (!schema) return false;
  const json::value* type = schema->if_contains("type");
  return type != nullptr && type->is_string() && type->as_string() != "object" &&
         type->as_string() != "array";
}

// The field a dotted path names in `message`, through singular message
// fields; nullptr if there is none.
const pb::FieldDescriptor* FindFieldPath(const pb::Descriptor* message, std::string_view path) {
  for (;;) {
    const size_t dot = path.find('.');
    const pb::FieldDescriptor* field = message->FindFieldByName(std::string(path.substr(0, dot)));
    if (field == nullptr || dot == std::string_view::npos) return field;
    if (field->is_repeated() || field->type() != pb::FieldDescriptor::TYPE_MESSAGE) return nullptr;
    message = field->message_type();
    path.remove_prefix(dot + 1);
  }
}

// The schemas of messages and enums, collected by full name as they are
// referenced, then built once each for components/schemas.
class Schemas {
 public:
  // A field's schema, repeated and map included, less the `excluded` fields
  // below it.
  json::value Field(const pb::FieldDescriptor* field, const FieldPaths& excluded = {}) {
    if (field->is_map()) {
      return json::object{{"type", "object"},
                          {"additionalProperties", Element(field->message_type()->map_value(), {})}};
    }
    json::value element = Element(field, excluded);
    if (!field->is_repeated()) return element;
    return json::object{{"type", "array"}, {"items", std::move(element)}};
  }

  // One value of the field: its message, enum or scalar.
  json::value Element(const pb::FieldDescriptor* field, const FieldPaths& excluded) {
    switch (field->type()) {
      case pb::FieldDescriptor::TYPE_MESSAGE:
      case pb::FieldDescriptor::TYPE_GROUP:
        return Message(field->message_type(), excluded);
      case pb::FieldDescriptor::TYPE_ENUM:
        enums_.emplace(field->enum_type()->full_name(), field->enum_type());
        return RefTo(field->enum_type()->full_name());
      default:
        return ScalarSchema(field->type());
    }
  }

  // A $ref to the message's schema or, when some of its fields are excluded
  // (bound to the path), the schema inline without them.
  json::value Message(const pb::Descriptor* message, const FieldPaths& excluded = {}) {
    if (std::optional<json::object> known = WellKnownSchema(message)) return std::move(*known);
    if (!excluded.empty()) return ObjectSchema(message, excluded);
    messages_.emplace(message->full_name(), message);
    return RefTo(message->full_name());
  }

  // components/schemas: `extra` (by name) and every message and enum
  // referenced so far, with those they reference, sorted by name.
  json::object Components(std::map<std::string, json::value> extra) {
    std::map<std::string, json::value> built = std::move(extra);
    // Building a message references others: go on until nothing is new.
    for (bool grew = true; grew;) {
      grew = false;
      const std::map<std::string, const pb::Descriptor*> referenced = messages_;
      for (const auto& [name, message] : referenced) {
        if (built.contains(name)) continue;
        built.emplace(name, ObjectSchema(message, {}));
        grew = true;
      }
    }
    for (const auto& [name, enum_type] : enums_) {
      assert(!built.contains(name));
      built.emplace(name, EnumSchema(enum_type));
    }
    assert(built.size() >= messages_.size() + enums_.size());
    json::object schemas;
    for (auto& [name, schema] : built) schemas.emplace(name, std::move(schema));
    return schemas;
  }

 private:
  json::object ObjectSchema(const pb::Descriptor* message, const FieldPaths& excluded) {
    json::object properties;
    for (int i = 0; i < message->field_count(); ++i) {
      const pb::FieldDescriptor* field = message->field(i);
      if (excluded.contains(field->name())) continue;
      properties.emplace(field->name(), Field(field, Below(excluded, field->name())));
    }
    json::object schema{{"type", "object"}};
    std::string note = OneofNote(message, excluded);
    if (!excluded.empty()) note = StrCat(InlineNote(message, excluded), note.empty() ? "" : " ", note);
    if (!note.empty()) schema["description"] = note;
    if (!properties.empty()) schema["properties"] = std::move(properties);
    return schema;
  }

  // Says what an inline schema is: "loyalty.v1.X without `a` (bound to the path)."
  static std::string InlineNote(const pb::Descriptor* message, const FieldPaths& excluded) {
    std::string names;
    for (const std::string& path : excluded) names += StrCat(names.empty() ? "" : ", ", "`", path, "`");
    return StrCat(message->full_name(), " without ", names, " (bound to the path).");
  }

  // "Only one of `a`, `b` may be set (oneof `x`)." for each real oneof.
  static std::string OneofNote(const pb::Descriptor* message, const FieldPaths& excluded) {
    std::string note;
    for (int i = 0; i < message->real_oneof_decl_count(); ++i) {
      const pb::OneofDescriptor* oneof = message->oneof_decl(i);
      std::string names;
      for (int j = 0; j < oneof->field_count(); ++j) {
        if (excluded.contains(oneof->field(j)->name())) continue;
        names += StrCat(names.empty() ? "" : ", ", "`", oneof->field(j)->name(), "`");
      }
      note += StrCat(note.empty() ? "" : " ", "Only one of ", names, " may be set (oneof `", oneof->name(),
                     "`).");
    }
    return note;
  }

  static json::object EnumSchema(const pb::EnumDescriptor* enum_type) {
    json::array names;
    for (int i = 0; i < enum_type->value_count(); ++i) names.emplace_back(enum_type->value(i)->name());
    return json::object{{"type", "string"}, {"enum", std::move(names)}};
  }

  std::map<std::string, const pb::Descriptor*> messages_;
  std::map<std::string, const pb::EnumDescriptor*> enums_;
};

// A method's google.api.http binding, in OpenAPI's terms.
struct Binding {
  std::string verb;                      // get, put, post, delete or patch
  std::string path;                      // OpenAPI's template: "/v1/members/{member_id}"
  std::vector<std::string> path_fields;  // the request fields the path binds, in order
  std::string body;                      // "", "*" or a top-level request field
};

std::string NameOf(const pb::MethodDescriptor* method) {
  return StrCat(method->service()->name(), ".", method->name());
}

// google.api.http's template ("/" Segments [":" Verb], a variable being
// "{" FieldPath ["=" Segments] "}") to OpenAPI's, which names each variable
// once: "/v1/{name=shelves/*}" -> "/v1/{name}". Literal segments keep their
// ':' ("/v1/members:lookup").
void ParseTemplate(const pb::MethodDescriptor* method, std::string_view tmpl, Binding& binding) {
  if (!tmpl.starts_with('/')) Broken(StrCat(NameOf(method), ": path \"", tmpl, "\" must start with '/'"));
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '{') {
      const size_t close = tmpl.find('}', i);
      if (close == std::string_view::npos) Broken(StrCat(NameOf(method), ": unclosed '{' in ", tmpl));
      const std::string_view variable = tmpl.substr(i + 1, close - i - 1);
      const std::string field(variable.substr(0, variable.find('=')));
      if (field.empty()) Broken(StrCat(NameOf(method), ": a variable without a field in ", tmpl));
      binding.path += StrCat("{", field, "}");
      binding.path_fields.push_back(field);
      i = close + 1;
    } else if (tmpl[i] == '}' || tmpl[i] == '*') {
      // A wildcard outside a variable binds no field: no parameter to declare.
      Broken(StrCat(NameOf(method), ": '", tmpl[i], "' outside a variable in ", tmpl));
    } else {
      binding.path += tmpl[i++];
    }
  }
}

// The rule's verb (OpenAPI's: lower case) and path template.
std::pair<std::string, std::string> VerbAndPath(const pb::MethodDescriptor* method,
                                                const google::api::HttpRule& rule) {
  using Rule = google::api::HttpRule;
  switch (rule.pattern_case()) {
    case Rule::kGet:
      return {"get", rule.get()};
    case Rule::kPut:
      return {"put", rule.put()};
    case Rule::kPost:
      return {"post", rule.post()};
    case Rule::kDelete:
      return {"delete", rule.delete_()};
    case Rule::kPatch:
      return {"patch", rule.patch()};
    case Rule::kCustom:
      break;  // the HTTP edge (routes.h) serves none
    case Rule::PATTERN_NOT_SET:
      Broken(StrCat(NameOf(method), ": google.api.http without a verb and path"));
  }
  Broken(StrCat(NameOf(method), ": custom verb ", rule.custom().kind(), " is not served over HTTP"));
}

Binding ParseRule(const pb::MethodDescriptor* method, const google::api::HttpRule& rule) {
  // Neither is served by the HTTP edge (routes.h): documenting them would
  // promise routes that answer 404.
  if (rule.additional_bindings_size() > 0)
    Broken(StrCat(NameOf(method), ": additional_bindings are not served"));
  if (!rule.response_body().empty()) Broken(StrCat(NameOf(method), ": response_body is not served"));
  Binding binding;
  std::string tmpl;
  std::tie(binding.verb, tmpl) = VerbAndPath(method, rule);
  ParseTemplate(method, tmpl, binding);
  binding.body = rule.body();
  return binding;
}

// Checks the binding against the request message, by the HTTP edge's rules
// (routes.h): a path variable names a singular string field, a body field is
// a singular message.
void CheckBinding(const pb::MethodDescriptor* method, const Binding& binding) {
  const pb::Descriptor* request = method->input_type();
  std::set<std::string_view> seen;
  for (const std::string& path : binding.path_fields) {
    const pb::FieldDescriptor* field = FindFieldPath(request, path);
    if (field == nullptr) {
      Broken(StrCat(NameOf(method), ": path variable {", path, "} names no field of ", request->full_name()));
    }
    if (field->is_repeated() || field->cpp_type() != pb::FieldDescriptor::CPPTYPE_STRING) {
      Broken(StrCat(NameOf(method), ": path variable {", path, "} is not a singular string field"));
    }
    if (!seen.insert(path).second) Broken(StrCat(NameOf(method), ": path variable {", path, "} twice"));
  }
  if (binding.verb == "get" && !binding.body.empty()) Broken(StrCat(NameOf(method), ": a GET with a body"));
  if (binding.body.empty() || binding.body == "*") return;
  const pb::FieldDescriptor* body = request->FindFieldByName(binding.body);
  if (body == nullptr || body->is_repeated() || body->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    Broken(StrCat(NameOf(method), ": body \"", binding.body, "\" names no singular message field of ",
                  request->full_name()));
  }
}

// The method's binding; nullopt without an annotation (not on HTTP).
std::optional<Binding> BindingOf(const pb::MethodDescriptor* method) {
  if (!method->options().HasExtension(google::api::http)) return std::nullopt;
  Binding binding = ParseRule(method, method->options().GetExtension(google::api::http));
  CheckBinding(method, binding);
  return binding;
}

// The query parameters of the fields of `message` bound neither by the path
// nor the body (`bound`, dotted from the request): scalars and enums by their
// dotted path, repeated ones repeated. Nested messages are flattened, each
// message type once along a path (so recursive ones end); repeated messages
// and maps have no query form.
void AddQueryParameters(const pb::Descriptor* message, const std::string& prefix, const FieldPaths& bound,
                        std::vector<const pb::Descriptor*>& enclosing, Schemas& schemas,
                        json::array& parameters) {
  enclosing.push_back(message);
  for (int i = 0; i < message->field_count(); ++i) {
    const pb::FieldDescriptor* field = message->field(i);
    const std::string path = prefix + field->name();
    if (bound.contains(path) || field->is_map()) continue;
    if (field->type() == pb::FieldDescriptor::TYPE_MESSAGE && !JsonIsScalar(field->message_type())) {
      const bool recursive =
          std::find(enclosing.begin(), enclosing.end(), field->message_type()) != enclosing.end();
      if (!field->is_repeated() && !recursive) {
        AddQueryParameters(field->message_type(), path + ".", bound, enclosing, schemas, parameters);
      }
      continue;
    }
    json::object parameter{{"name", path}, {"in", "query"}, {"schema", schemas.Field(field)}};
    if (field->is_repeated()) {
      parameter["description"] = "Repeat the parameter for each value.";
      parameter["style"] = "form";
      parameter["explode"] = true;
    }
    parameters.emplace_back(std::move(parameter));
  }
  enclosing.pop_back();
}

json::array Parameters(const pb::MethodDescriptor* method, const Binding& binding, Schemas& schemas) {
  json::array parameters;
  for (const std::string& path : binding.path_fields) {
    const pb::FieldDescriptor* field = FindFieldPath(method->input_type(), path);
    parameters.emplace_back(json::object{
        {"name", path}, {"in", "path"}, {"required", true}, {"schema", schemas.Element(field, {})}});
  }
  if (binding.body == "*") return parameters;  // every other field is in the body
  FieldPaths bound(binding.path_fields.begin(), binding.path_fields.end());
  if (!binding.body.empty()) bound.insert(binding.body);
  std::vector<const pb::Descriptor*> enclosing;
  AddQueryParameters(method->input_type(), "", bound, enclosing, schemas, parameters);
  return parameters;
}

// The schema of one request message's body: the message or the body field,
// less the fields the path binds.
json::value BodyElement(const pb::MethodDescriptor* method, const Binding& binding, Schemas& schemas) {
  const FieldPaths path_fields(binding.path_fields.begin(), binding.path_fields.end());
  if (binding.body == "*") return schemas.Message(method->input_type(), path_fields);
  const pb::FieldDescriptor* field = method->input_type()->FindFieldByName(binding.body);
  return schemas.Field(field, Below(path_fields, binding.body));
}

json::object RequestBody(const pb::MethodDescriptor* method, const Binding& binding, Schemas& schemas) {
  json::value element = BodyElement(method, binding, schemas);
  const std::string& type = method->input_type()->full_name();
  if (!method->client_streaming()) {
    json::object body{{"content", json::object{{"application/json", json::object{{"schema", element}}}}}};
    // The edge refuses an empty body for a body field; "*" reads it as {}.
    if (binding.body != "*") body["required"] = true;
    return body;
  }
  // x-itemSchema: the element of a sequence, as OpenAPI 3.2's itemSchema.
  json::object ndjson{{"schema", json::object{{"type", "string"}}}, {"x-itemSchema", element}};
  return json::object{
      {"description", StrCat("The stream's messages (at least one): a JSON array of ", type,
                             ", or newline-delimited JSON with one ", type, " per line.")},
      {"required", true},
      {"content",
       json::object{{"application/json",
                     json::object{{"schema", json::object{{"type", "array"}, {"items", element}}}}},
                    {"application/x-ndjson", std::move(ndjson)}}}};
}

bool AnswersReplayHeader(const pb::MethodDescriptor* method) {
  return std::find(std::begin(kIdempotentReplayMethods), std::end(kIdempotentReplayMethods),
                   method->full_name()) != std::end(kIdempotentReplayMethods);
}

json::object OkAnswer(const pb::MethodDescriptor* method, Schemas& schemas) {
  const std::string& type = method->output_type()->full_name();
  json::value element = schemas.Message(method->output_type());
  json::object answer;
  if (method->server_streaming()) {
    answer["description"] =
        StrCat("Server-Sent Events. Each event's data is the JSON of one ", type,
               ", in the order the server sends them. The server may close the stream with an `end` event "
               "(data `{\"reason\": ...}`) when it stops, or an `error` event whose data is an `Error`; "
               "lines starting with ':' are keep-alive comments.");
    answer["content"] =
        json::object{{"text/event-stream",
                      json::object{{"schema", json::object{{"type", "string"}}}, {"x-itemSchema", element}}}};
  } else {
    answer["description"] = StrCat("The ", type, ".");
    answer["content"] = json::object{{"application/json", json::object{{"schema", element}}}};
  }
  if (AnswersReplayHeader(method)) {
    answer["headers"] =
        json::object{{"X-Idempotent-Replay",
                      json::object{{"description",
                                    "true when this is the first answer to an earlier identical request "
                                    "(a retry); absent otherwise."},
                                   {"schema", json::object{{"type", "boolean"}}}}}};
  }
  return answer;
}

json::object Operation(const pb::MethodDescriptor* method, const Binding& binding, Schemas& schemas) {
  const std::string& service = method->service()->name();
  const std::string id = StrCat(service, "_", method->name());
  json::object operation{
      {"operationId", id},
      {"tags", json::array{json::string(service)}},
      {"summary", method->name()},
      {"description", StrCat("gRPC method /", method->service()->full_name(), "/", method->name(), ".")}};
  json::array parameters = Parameters(method, binding, schemas);
  if (!parameters.empty()) operation["parameters"] = std::move(parameters);
  if (!binding.body.empty()) operation["requestBody"] = RequestBody(method, binding, schemas);
  json::object responses{{"200", OkAnswer(method, schemas)}};
  for (const ErrorAnswer& error : kErrorAnswers) {
    responses.emplace(error.status, json::object{{"$ref", StrCat("#/components/responses/", error.name)}});
  }
  operation["responses"] = std::move(responses);
  return operation;
}

json::object ErrorSchema() {
  json::array names;
  for (std::string_view name : kRpcCodeNames) names.emplace_back(name);
  json::object properties{
      {"code", json::object{{"type", "integer"},
                            {"format", "int32"},
                            {"description", "The google.rpc.Code number, e.g. 3 for INVALID_ARGUMENT."}}},
      {"status",
       json::object{
           {"type", "string"}, {"enum", std::move(names)}, {"description", "The google.rpc.Code name."}}},
      {"message", json::object{{"type", "string"},
                               {"description",
                                "For the caller: the field and the reason, e.g. "
                                "\"sale.lines[0].quantity: must be between 1 and 9999, got 0\"."}}}};
  return json::object{{"type", "object"},
                      {"required", json::array{"code", "status", "message"}},
                      {"properties", std::move(properties)}};
}

json::object Components(Schemas& schemas) {
  std::map<std::string, json::value> extra;
  extra.emplace(kErrorSchema, ErrorSchema());
  json::object responses;
  for (const ErrorAnswer& error : kErrorAnswers) {
    responses.emplace(
        error.name,
        json::object{
            {"description", error.description},
            {"content", json::object{{"application/json", json::object{{"schema", RefTo(kErrorSchema)}}}}}});
  }
  json::object bearer{{"type", "http"},
                      {"scheme", "bearer"},
                      {"description", "`Authorization: Bearer <token>`: a terminal, member or admin token."}};
  return json::object{{"schemas", schemas.Components(std::move(extra))},
                      {"responses", std::move(responses)},
                      {"securitySchemes", json::object{{"bearerAuth", std::move(bearer)}}}};
}

// Adds the service's operations to `paths`; `routes` maps "VERB path" to the
// method that has it, to refuse a second one.
void AddService(const pb::ServiceDescriptor* service, Schemas& schemas, json::object& paths,
                std::map<std::string, std::string>& routes) {
  for (int i = 0; i < service->method_count(); ++i) {
    const pb::MethodDescriptor* method = service->method(i);
    const std::optional<Binding> binding = BindingOf(method);
    if (!binding) continue;
    auto [route, added] = routes.emplace(StrCat(binding->verb, " ", binding->path), NameOf(method));
    if (!added) Broken(StrCat(route->second, " and ", NameOf(method), " both map to ", route->first));
    json::value& item = paths[binding->path];
    if (!item.is_object()) item = json::object{};
    item.as_object().emplace(binding->verb, Operation(method, *binding, schemas));
  }
}

}  // namespace

std::string OpenApiDocument(const std::vector<const pb::ServiceDescriptor*>& services,
                            const OpenApiInfo& info) {
  if (info.title.empty() || info.version.empty()) Broken("info.title and info.version must not be empty");
  Schemas schemas;
  json::object paths;
  json::array tags;
  std::map<std::string, std::string> routes;
  std::set<std::string> service_names;  // short names: tags and operationIds must be unique
  for (const pb::ServiceDescriptor* service : services) {
    if (service == nullptr) Broken("a null service descriptor (FindServiceByName found none?)");
    if (!service_names.insert(service->name()).second) Broken(StrCat("two services named ", service->name()));
    tags.emplace_back(json::object{{"name", service->name()},
                                   {"description", StrCat("gRPC service ", service->full_name(), ".")}});
    AddService(service, schemas, paths, routes);
  }
  assert(routes.size() >= paths.size());
  json::object document{
      {"openapi", "3.0.3"},
      {"info", json::object{{"title", info.title},
                            {"version", info.version},
                            {"description", info.description.empty()
                                                ? std::string(kMappingNotes)
                                                : StrCat(info.description, "\n\n", kMappingNotes)}}},
      {"tags", std::move(tags)},
      {"security", json::array{json::object{{"bearerAuth", json::array{}}}}},
      {"paths", std::move(paths)},
  };
  document["components"] = Components(schemas);
  return json::serialize(document);
}

}  // namespace loyalty::http
