// web/assets.h: the console's files (web/console/, Chart.js from Debian's
// libjs-chart.js), built into loyaltyd by web/embed.cmake and served by the
// HTTP edge under /console/.
#pragma once

#include <cstddef>
#include <string_view>

namespace loyalty::web {

struct Asset {
  const char* path;          // URL path below /console/, e.g. "index.html"
  const unsigned char* data; // the file's bytes (NUL-terminated, not counted)
  size_t size;
};

extern const Asset kAssets[];
extern const size_t kAssetCount;

// The asset at `path`, or null.
inline const Asset* FindAsset(std::string_view path) {
  for (size_t i = 0; i < kAssetCount; ++i) {
    if (path == kAssets[i].path) return &kAssets[i];
  }
  return nullptr;
}

}  // namespace loyalty::web
