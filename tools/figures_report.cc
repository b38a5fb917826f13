// tools/figures_report.cc: flattens a protobuf message by reflection and
// prints the simulation report (see figures_report.h).
#include "tools/figures_report.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <iomanip>

#include "base/str_cat.h"

namespace loyalty::tools {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using Flat = std::vector<std::pair<std::string, std::string>>;

void FlattenInto(const Message& message, const std::string& prefix, Flat& out);

// The value of a singular field, or of element `index` of a repeated one.
std::string ScalarText(const Message& message, const FieldDescriptor* field, int index) {
  const auto* r = message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return loyalty::StrCat(repeated ? r->GetRepeatedInt32(message, field, index) : r->GetInt32(message, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return loyalty::StrCat(repeated ? r->GetRepeatedInt64(message, field, index) : r->GetInt64(message, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return loyalty::StrCat(repeated ? r->GetRepeatedUInt32(message, field, index) : r->GetUInt32(message, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return loyalty::StrCat(repeated ? r->GetRepeatedUInt64(message, field, index) : r->GetUInt64(message, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return std::to_string(repeated ? r->GetRepeatedDouble(message, field, index) : r->GetDouble(message, field));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return std::to_string(repeated ? r->GetRepeatedFloat(message, field, index) : r->GetFloat(message, field));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return (repeated ? r->GetRepeatedEnum(message, field, index) : r->GetEnum(message, field))->name();
    case FieldDescriptor::CPPTYPE_STRING:
      return repeated ? r->GetRepeatedString(message, field, index) : r->GetString(message, field);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;  // handled by the callers
  }
  return "";
}

// Element `index` of repeated field `field`, or the singular field.
void FlattenValue(const Message& message, const FieldDescriptor* field, int index, const std::string& name,
                  Flat& out) {
  if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
    out.emplace_back(name, ScalarText(message, field, index));
    return;
  }
  const auto* r = message.GetReflection();
  FlattenInto(field->is_repeated() ? r->GetRepeatedMessage(message, field, index) : r->GetMessage(message, field),
              name + ".", out);
}

std::string KeyText(const Message& entry, const FieldDescriptor* key_field) {
  std::string key = ScalarText(entry, key_field, 0);
  std::replace(key.begin(), key.end(), ' ', '_');
  return key;
}

void FlattenMap(const Message& message, const FieldDescriptor* field, const std::string& name, Flat& out) {
  const auto* r = message.GetReflection();
  const auto* key_field = field->message_type()->map_key();
  const auto* value_field = field->message_type()->map_value();
  Flat entries;
  for (int i = 0; i < r->FieldSize(message, field); ++i) {
    const Message& entry = r->GetRepeatedMessage(message, field, i);
    FlattenValue(entry, value_field, 0, name + "." + KeyText(entry, key_field), entries);
  }
  std::sort(entries.begin(), entries.end());
  out.insert(out.end(), entries.begin(), entries.end());
}

void FlattenInto(const Message& message, const std::string& prefix, Flat& out) {
  const auto* descriptor = message.GetDescriptor();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const FieldDescriptor* field = descriptor->field(f);
    const std::string name = prefix + field->name();
    if (!field->is_repeated()) {
      FlattenValue(message, field, 0, name, out);
      continue;
    }
    const int size = message.GetReflection()->FieldSize(message, field);
    if (size == 0) {
      out.emplace_back(name, "");
    } else if (field->is_map()) {
      FlattenMap(message, field, name, out);
    } else {
      for (int i = 0; i < size; ++i) FlattenValue(message, field, i, loyalty::StrCat(name, ".", i), out);
    }
  }
}

void PrintFiguresForPeople(std::ostream& out, const Flat& figures) {
  out << "program figures (AdminService.GetFigures):\n";
  for (const auto& [name, value] : figures) {
    out << "  " << std::left << std::setw(40) << name << (value.empty() ? "(none)" : value) << "\n";
  }
}

void PrintCountsForPeople(std::ostream& out, const std::vector<CountLine>& counts) {
  out << "simulator counts:\n";
  for (const auto& count : counts) {
    out << "  " << std::left << std::setw(40) << count.label << count.value << "\n";
  }
}

void PrintMachineReadable(std::ostream& out, const Flat& figures, const std::vector<CountLine>& counts) {
  out << "--- machine-readable ---\n";
  for (const auto& [name, value] : figures) {
    if (!value.empty()) out << "figure " << name << " " << value << "\n";
  }
  for (const auto& count : counts) out << "sim " << count.key << " " << count.value << "\n";
  out << "--- end ---\n";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> FlattenFields(const Message& message) {
  Flat out;
  FlattenInto(message, "", out);
  return out;
}

void PrintReport(std::ostream& out, const Message& figures, const std::vector<CountLine>& counts) {
  const Flat flat_figures = FlattenFields(figures);
  PrintFiguresForPeople(out, flat_figures);
  PrintCountsForPeople(out, counts);
  PrintMachineReadable(out, flat_figures, counts);
  out.flush();
}

}  // namespace loyalty::tools
