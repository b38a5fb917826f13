// base/str_cat.h: string concatenation that takes std::string_view.
//
// Debian's Abseil is built with its own absl::string_view (not an alias of
// std::string_view), so absl::StrCat does not accept std::string_view. This
// small replacement does, plus integers.
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

namespace loyalty {

namespace str_cat_internal {

inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, char c) { out.push_back(c); }
template <std::integral Int>
  requires(!std::same_as<Int, char> && !std::same_as<Int, bool>)
void Append(std::string& out, Int n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
  out.append(buf, end);
}
// Types with an explicit conversion to std::string (absl::string_view).
template <class T>
  requires(!std::convertible_to<T, std::string_view> && !std::integral<T> &&
           std::constructible_from<std::string, T>)
void Append(std::string& out, const T& s) {
  out.append(std::string(s));
}

}  // namespace str_cat_internal

template <class... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (str_cat_internal::Append(out, args), ...);
  return out;
}

}  // namespace loyalty
