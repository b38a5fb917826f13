// tests/fuzz/fuzz_support.h: what every libFuzzer target here shares.
//
// A target is one file fuzz_<name>.cc defining LLVMFuzzerTestOneInput over
// real project code, plus one line in tests/fuzz/CMakeLists.txt; run.sh runs
// every fuzz_*.cc it finds. FUZZ_CHECK states a property of the code under
// test (never of the input): when it fails, the run stops with a crash
// report and the input that broke it.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <google/protobuf/stubs/logging.h>

// Aborts (a crash for libFuzzer) with the failed condition, in every build.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace loyalty::fuzz {

// Protobuf logs an error for every string field that is not UTF-8 while
// parsing: millions of lines in a run, and no finding. Discard them.
inline void QuietProtobufLogs() { google::protobuf::SetLogHandler(nullptr); }

}  // namespace loyalty::fuzz
