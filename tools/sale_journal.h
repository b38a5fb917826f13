// tools/sale_journal.h: the simulator's record of the member sales it sent,
// as a terminal keeps its receipts.
//
// A member sale's total depends on the loyalty discounts at the moment it is
// recorded (offers used up, punch cards, reward codes). Sent again later, a
// fresh evaluation could give another total, and the server would refuse the
// same transaction id with different content. With the journal, a later run
// sends exactly what was sent before, and is answered with the first answer.
//
// File format: one sale per line, in protobuf text format on a single line
// (`ref { store_id: "store-1" ... } total_minor: 1234 ...`). A sale is
// written before each attempt to record it; the last line of a transaction
// wins when the file is read back.
#pragma once

#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "loyalty/v1/pos.pb.h"

namespace loyalty::tools {

class SaleJournal {
 public:
  // A journal that keeps nothing (no --journal).
  SaleJournal() = default;

  // Reads `path` if it exists and appends to it from then on. On failure
  // returns false and sets `error`.
  bool Open(const std::string& path, std::string& error);

  bool enabled() const { return out_.is_open(); }
  size_t loaded() const { return sales_.size(); }

  // The sale last written for `ref` by an earlier run, if any.
  std::optional<loyalty::v1::Sale> Find(const loyalty::v1::TransactionRef& ref) const;

  // Appends `sale` (no-op when not enabled). Thread-safe. False if the
  // write failed.
  bool Write(const loyalty::v1::Sale& sale);

 private:
  static std::string Key(const loyalty::v1::TransactionRef& ref);

  std::map<std::string, loyalty::v1::Sale> sales_;  // read at Open, then read-only
  std::mutex mu_;
  std::ofstream out_;
};

}  // namespace loyalty::tools
