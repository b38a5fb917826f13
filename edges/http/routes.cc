#include "edges/http/routes.h"

#include <cassert>
#include <charconv>
#include <set>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <google/protobuf/util/json_util.h>

#include "base/str_cat.h"
#include "google/api/annotations.pb.h"
#include "services/common/status_macros.h"

namespace loyalty::http {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Limits on what a request's path and query may hold.
constexpr size_t kMaxQueryParams = 32;
constexpr size_t kMaxFieldPathDepth = 4;

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 1;  // after the leading '/'
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool IsVariable(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// The field at dotted `path` below `descriptor`, with the messages on the
// way; null if a part names no field or goes through a non-message.
const FieldDescriptor* FindFieldPath(const google::protobuf::Descriptor* descriptor, std::string_view path,
                                     std::vector<const FieldDescriptor*>* parents) {
  size_t depth = 0;
  while (true) {
    if (++depth > kMaxFieldPathDepth) return nullptr;
    const size_t dot = path.find('.');
    const FieldDescriptor* field = descriptor->FindFieldByName(std::string(path.substr(0, dot)));
    if (field == nullptr) return nullptr;
    if (dot == std::string_view::npos) return field;
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated()) return nullptr;
    if (parents != nullptr) parents->push_back(field);
    descriptor = field->message_type();
    path = path.substr(dot + 1);
  }
}

template <class T>
bool ParseNumber(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// "INVALID_ARGUMENT:(lines[0].quantity): invalid value ..." from protobuf's
// JSON parser, as "<prefix>lines[0].quantity: invalid value ...".
std::string JsonProblem(std::string_view message, std::string_view prefix, std::string_view place) {
  std::string_view m = message;
  if (m.substr(0, 1) == "(") {
    const size_t close = m.find(')');
    if (close != std::string_view::npos) {
      std::string_view path = m.substr(1, close - 1);
      std::string_view rest = m.substr(close + 1);
      while (!rest.empty() && (rest.front() == ':' || rest.front() == ' ')) rest.remove_prefix(1);
      // "(lines[0]) quantiti: Cannot find field." names the unknown field
      // after the parenthesis.
      const size_t colon = rest.find(": Cannot find field");
      if (colon != std::string_view::npos) {
        return loyalty::StrCat(prefix, path, path.empty() ? "" : ".", rest.substr(0, colon), ": unknown field");
      }
      if (path.empty()) return loyalty::StrCat(place, ": ", rest);
      return loyalty::StrCat(prefix, path, ": ", rest);
    }
  }
  const size_t colon = m.find(": Cannot find field");
  if (colon != std::string_view::npos) return loyalty::StrCat(prefix, m.substr(0, colon), ": unknown field");
  // Malformed JSON: the parser's text, first line only, under the prefix
  // when it names a place ("line 3: "), else under "body: ".
  std::string_view first = m.substr(0, m.find('\n'));
  if (first.substr(0, 2) == ": ") first.remove_prefix(2);
  return loyalty::StrCat(place, ": malformed JSON: ", first);
}

}  // namespace

absl::StatusOr<RouteTable> RouteTable::Build(
    const std::vector<const google::protobuf::ServiceDescriptor*>& services) {
  RouteTable table;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto* service : services) {
    assert(service != nullptr);
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* method = service->method(i);
      if (!method->options().HasExtension(google::api::http)) continue;
      const google::api::HttpRule& rule = method->options().GetExtension(google::api::http);
      Route r;
      r.method = method;
      r.body = rule.body();
      switch (rule.pattern_case()) {
        case google::api::HttpRule::kGet: r.verb = "GET"; r.path_template = rule.get(); break;
        case google::api::HttpRule::kPost: r.verb = "POST"; r.path_template = rule.post(); break;
        case google::api::HttpRule::kPut: r.verb = "PUT"; r.path_template = rule.put(); break;
        case google::api::HttpRule::kDelete: r.verb = "DELETE"; r.path_template = rule.delete_(); break;
        case google::api::HttpRule::kPatch: r.verb = "PATCH"; r.path_template = rule.patch(); break;
        default:
          return absl::InvalidArgumentError(loyalty::StrCat(method->full_name(), ": unsupported http rule"));
      }
      const std::string where = loyalty::StrCat(method->full_name(), " (", r.verb, " ", r.path_template, ")");
      if (r.path_template.empty() || r.path_template[0] != '/') {
        return absl::InvalidArgumentError(where + ": the path must start with '/'");
      }
      r.segments = SplitPath(r.path_template);
      // A custom verb ends the whole path (google.api.http's template
      // grammar): "/v1/credentials/{credential_id}:rotate".
      if (std::string& last = r.segments.back(); last.find("}:") != std::string::npos) {
        const size_t colon = last.find("}:") + 1;
        r.custom_verb = last.substr(colon);
        last.resize(colon);
      }
      for (const auto& segment : r.segments) {
        if (!IsVariable(segment)) continue;
        const std::string path = segment.substr(1, segment.size() - 2);
        const FieldDescriptor* f = FindFieldPath(method->input_type(), path, nullptr);
        if (f == nullptr || f->cpp_type() != FieldDescriptor::CPPTYPE_STRING || f->is_repeated()) {
          return absl::InvalidArgumentError(where + ": {" + path + "} names no string field of the request");
        }
      }
      if (!r.body.empty() && r.body != "*") {
        const FieldDescriptor* f = method->input_type()->FindFieldByName(r.body);
        if (f == nullptr || f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || f->is_repeated()) {
          return absl::InvalidArgumentError(where + ": body '" + r.body + "' names no message field");
        }
      }
      if (!seen.emplace(r.verb, r.path_template).second) {
        return absl::InvalidArgumentError(where + ": two routes with this verb and path");
      }
      table.routes_.push_back(std::move(r));
    }
  }
  return table;
}

absl::StatusOr<RouteMatch> RouteTable::Match(std::string_view verb, std::string_view path,
                                             std::vector<std::string>* allowed) const {
  if (path.empty() || path[0] != '/') return absl::NotFoundError("the path must start with '/'");
  // Decoded segments: "%2B49..." in a path parameter is "+49...".
  auto parsed = boost::urls::parse_origin_form(path);
  if (!parsed) return absl::NotFoundError(loyalty::StrCat("unreadable path '", path, "'"));
  std::vector<std::string> segments;
  for (auto seg : parsed->segments()) segments.push_back(std::string(seg));
  if (path == "/") segments.clear();
  if (allowed != nullptr) allowed->clear();
  const RouteMatch* found = nullptr;
  RouteMatch candidate;
  RouteMatch result;
  for (const Route& r : routes_) {
    if (r.segments.size() != segments.size()) continue;
    candidate.path_params.clear();
    bool same = true;
    for (size_t i = 0; i < segments.size() && same; ++i) {
      std::string_view segment = segments[i];
      if (i + 1 == segments.size() && !r.custom_verb.empty()) {
        // The last segment ends with the verb; what is before it matches.
        const bool ends = segment.size() > r.custom_verb.size() &&
                          segment.substr(segment.size() - r.custom_verb.size()) == r.custom_verb;
        if (!ends) {
          same = false;
          break;
        }
        segment.remove_suffix(r.custom_verb.size());
      }
      if (IsVariable(r.segments[i])) {
        if (segment.empty()) same = false;
        candidate.path_params[r.segments[i].substr(1, r.segments[i].size() - 2)] = std::string(segment);
      } else {
        same = r.segments[i] == segment;
      }
    }
    if (!same) continue;
    if (allowed != nullptr) allowed->push_back(r.verb);
    if (r.verb == verb && found == nullptr) {
      candidate.route = &r;
      result = candidate;
      found = &result;
    }
  }
  if (found != nullptr) return result;
  if (allowed != nullptr && !allowed->empty()) {
    return absl::FailedPreconditionError(loyalty::StrCat(verb, " is not allowed on ", path));
  }
  return absl::NotFoundError(loyalty::StrCat("no route for ", verb, " ", path));
}

absl::Status ParseJson(std::string_view json, Message& message, std::string_view field_prefix,
                       std::string_view place) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // an unknown field is an error naming it
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message, options);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(JsonProblem(status.message().as_string(), field_prefix, place));
}

std::string ToJson(const Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  const auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  // Printing fails only for messages that cannot be represented (an Any of
  // an unknown type); ours are plain.
  assert(status.ok());
  (void)status;
  return out;
}

absl::Status SetFieldFromText(Message& message, std::string_view path, std::string_view text) {
  std::vector<const FieldDescriptor*> parents;
  const FieldDescriptor* field = FindFieldPath(message.GetDescriptor(), path, &parents);
  const std::string name(path);
  if (field == nullptr || field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    return absl::InvalidArgumentError(loyalty::StrCat(name, ": unknown parameter"));
  }
  Message* target = &message;
  for (const FieldDescriptor* p : parents) target = target->GetReflection()->MutableMessage(target, p);
  const auto* reflection = target->GetReflection();
  const auto bad = [&](std::string_view what) {
    return absl::InvalidArgumentError(loyalty::StrCat(name, ": must be ", what, ", got '", text, "'"));
  };
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      repeated ? reflection->AddString(target, field, std::string(text))
               : reflection->SetString(target, field, std::string(text));
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!ParseNumber(text, v)) return bad("a 32-bit integer");
      repeated ? reflection->AddInt32(target, field, v) : reflection->SetInt32(target, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!ParseNumber(text, v)) return bad("a 64-bit integer");
      repeated ? reflection->AddInt64(target, field, v) : reflection->SetInt64(target, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!ParseNumber(text, v)) return bad("an unsigned 32-bit integer");
      repeated ? reflection->AddUInt32(target, field, v) : reflection->SetUInt32(target, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!ParseNumber(text, v)) return bad("an unsigned 64-bit integer");
      repeated ? reflection->AddUInt64(target, field, v) : reflection->SetUInt64(target, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      if (text != "true" && text != "false") return bad("true or false");
      repeated ? reflection->AddBool(target, field, text == "true")
               : reflection->SetBool(target, field, text == "true");
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* value = field->enum_type()->FindValueByName(std::string(text));
      if (value == nullptr) return bad(loyalty::StrCat("a value of ", field->enum_type()->name()));
      repeated ? reflection->AddEnum(target, field, value) : reflection->SetEnum(target, field, value);
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(loyalty::StrCat(name, ": cannot be set from a query parameter"));
  }
}

absl::Status BuildRequest(const RouteMatch& match, std::string_view query, std::string_view body,
                          Message& request) {
  const Route& route = *match.route;
  const google::protobuf::Descriptor* descriptor = request.GetDescriptor();
  assert(descriptor == route.method->input_type());
  if (route.body.empty()) {
    if (!body.empty()) return absl::InvalidArgumentError("body: this route takes no body; use query parameters");
  } else if (route.body == "*") {
    LOYALTY_RETURN_IF_ERROR(ParseJson(body.empty() ? "{}" : body, request, ""));
  } else {
    const FieldDescriptor* field = descriptor->FindFieldByName(route.body);
    assert(field != nullptr);
    Message* part = request.GetReflection()->MutableMessage(&request, field);
    if (body.empty()) return absl::InvalidArgumentError(loyalty::StrCat("body: a JSON ", route.body, " is required"));
    LOYALTY_RETURN_IF_ERROR(ParseJson(body, *part, loyalty::StrCat(route.body, ".")));
  }
  if (!query.empty()) {
    if (!route.body.empty() && route.body == "*") {
      return absl::InvalidArgumentError("query: this route takes its fields in the body, not the query string");
    }
    const std::string target = loyalty::StrCat("/?", query);
    auto url = boost::urls::parse_origin_form(target);
    if (!url) return absl::InvalidArgumentError("query: unreadable query string");
    size_t count = 0;
    for (auto param : url->params()) {
      if (++count > kMaxQueryParams) {
        return absl::InvalidArgumentError(loyalty::StrCat("query: at most ", kMaxQueryParams, " parameters"));
      }
      const std::string key(param.key);
      if (match.path_params.count(key) != 0) {
        return absl::InvalidArgumentError(loyalty::StrCat(key, ": is given in the path"));
      }
      if (!param.has_value) return absl::InvalidArgumentError(loyalty::StrCat(key, ": needs a value (", key, "=...)"));
      LOYALTY_RETURN_IF_ERROR(SetFieldFromText(request, key, std::string(param.value)));
    }
  }
  for (const auto& [path, value] : match.path_params) {
    std::vector<const FieldDescriptor*> parents;
    const FieldDescriptor* field = FindFieldPath(descriptor, path, &parents);
    assert(field != nullptr && field->cpp_type() == FieldDescriptor::CPPTYPE_STRING);
    const Message* holder = &request;
    for (const FieldDescriptor* p : parents) holder = &holder->GetReflection()->GetMessage(*holder, p);
    const std::string in_body = holder->GetReflection()->GetString(*holder, field);
    if (!in_body.empty() && in_body != value) {
      return absl::InvalidArgumentError(
          loyalty::StrCat(path, ": the body says '", in_body, "' but the path says '", value, "'"));
    }
    LOYALTY_RETURN_IF_ERROR(SetFieldFromText(request, path, value));
  }
  return absl::OkStatus();
}

}  // namespace loyalty::http
