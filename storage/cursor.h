// storage/cursor.h: a walk over the keys of one column family, in key order,
// as Store::NewCursor hands it out. Keys and values are the stored bytes
// (storage/keys.h decodes keys); they stay valid until the cursor moves.
// RocksDB stays inside storage/: a failed read shows as status(), an
// absl::Status with what the caller was doing.
//
// Thread-safety: one cursor is used by one thread at a time.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"

namespace loyalty::storage {

class Cursor {
 public:
  ~Cursor();
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  void SeekToFirst();
  void SeekToLast();
  // The first key at or after `key`.
  void Seek(std::string_view key);
  // The last key at or before `key`.
  void SeekForPrev(std::string_view key);
  void Next();
  void Prev();

  bool Valid() const;
  std::string_view key() const;
  std::string_view value() const;
  // OK, or the read's error with `context` ("list history") added. A cursor
  // that stops being Valid() before the end of its range says why here.
  absl::Status status(std::string_view context) const;

 private:
  friend class Store;
  struct Impl;
  explicit Cursor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::storage
