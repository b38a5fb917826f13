// base/log.h: one-line operator logs on stderr:
//   2026-11-22T07:51:43.123Z INFO  loyaltyd: serving gRPC on 127.0.0.1:50051
#pragma once

#include <string_view>

namespace loyalty {

enum class LogLevel { kInfo, kWarning, kError };
void Log(LogLevel level, std::string_view message);
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

}  // namespace loyalty
