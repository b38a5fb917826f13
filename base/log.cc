#include "base/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace loyalty {

void Log(LogLevel level, std::string_view message) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  const char* name = level == LogLevel::kInfo ? "INFO " : level == LogLevel::kWarning ? "WARN " : "ERROR";
  // One fprintf per line keeps concurrent lines whole.
  std::fprintf(stderr, "%s.%03dZ %s %.*s\n", stamp, millis, name, static_cast<int>(message.size()),
               message.data());
}

}  // namespace loyalty
