// tools/sale_journal.cc: reads and appends the simulator's sale journal (see
// sale_journal.h).
#include "tools/sale_journal.h"

#include <google/protobuf/text_format.h>

#include "base/str_cat.h"

namespace loyalty::tools {

std::string SaleJournal::Key(const loyalty::v1::TransactionRef& ref) {
  return loyalty::StrCat(ref.store_id(), "/", ref.terminal_id(), "/", ref.transaction_id());
}

bool SaleJournal::Open(const std::string& path, std::string& error) {
  {
    std::ifstream in(path);
    std::string line;
    int number = 0;
    while (in && std::getline(in, line)) {
      ++number;
      if (line.empty()) continue;
      loyalty::v1::Sale sale;
      if (!google::protobuf::TextFormat::ParseFromString(line, &sale) || !sale.has_ref()) {
        // A line cut short by a crash can only be the last one.
        if (in.peek() == std::char_traits<char>::eof()) break;
        error = loyalty::StrCat("--journal ", path, ": line ", number, " is not a sale");
        return false;
      }
      sales_[Key(sale.ref())] = std::move(sale);
    }
  }
  out_.open(path, std::ios::app);
  if (!out_) {
    error = loyalty::StrCat("--journal ", path, ": cannot open for appending");
    return false;
  }
  return true;
}

std::optional<loyalty::v1::Sale> SaleJournal::Find(const loyalty::v1::TransactionRef& ref) const {
  const auto it = sales_.find(Key(ref));
  if (it == sales_.end()) return std::nullopt;
  return it->second;
}

bool SaleJournal::Write(const loyalty::v1::Sale& sale) {
  if (!enabled()) return true;
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  std::string text;
  if (!printer.PrintToString(sale, &text)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  out_ << text << '\n';
  out_.flush();
  return static_cast<bool>(out_);
}

}  // namespace loyalty::tools
