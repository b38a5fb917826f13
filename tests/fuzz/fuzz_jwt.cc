// tests/fuzz/fuzz_jwt.cc: the member JWTs a sign-in brings (services/auth/
// jwt.h), over arbitrary bytes: refused or verified, never a crash,
// undefined behaviour or a leak.
//
// Input: the first byte picks what the rest is read as:
//   even  a token: ParseJwt, then JwtVerifier::Verify against a fixed JWKS
//         (one P-256 key "k1"); nobody here holds its private key, so no
//         input may be accepted: a verified token would be a forgery
//   odd   a JWKS document: JwtVerifier::Create; a verifier it makes must
//         refuse a token signed by none of its keys
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "services/auth/jwt.h"
#include "tests/fuzz/fuzz_support.h"

namespace loyalty {
namespace {

constexpr std::string_view kJwks = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig",
  "x":"AAWCiUnq659VwMowlzAEV_kEu4IxMpQoXn5z5lFnpQI","y":"U6zLNCQVvP1nTKIo6nqf4PDrSctRWVgnvtjJ907_yw8"}]})";
constexpr int64_t kNow = 1'796'000'000;  // 2026-11-30

auth::JwtOptions Options() {
  auth::JwtOptions o;
  o.issuer = "https://id.example.test";
  o.audience = "loyalty-app";
  return o;
}

const auth::JwtVerifier& Verifier() {
  static const auth::JwtVerifier* v = [] {
    auto made = auth::JwtVerifier::Create(kJwks, Options());
    FUZZ_CHECK(made.ok());
    return new auth::JwtVerifier(std::move(*made));
  }();
  return *v;
}

// A well-formed ES256 token whose signature is no key's.
constexpr std::string_view kUnsigned =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL2lkLmV4YW1wbGUudGVzdCIsImF1ZCI6ImxveWFsdHkt"
    "YXBwIiwic3ViIjoibS0xIiwiZXhwIjoxNzk2MDAwMzAwfQ.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

}  // namespace
}  // namespace loyalty

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loyalty;
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    (void)auth::ParseJwt(rest, 8192);
    auto verified = Verifier().Verify(rest, kNow);
    FUZZ_CHECK(!verified.ok());  // no input here is signed by k1's private key
    FUZZ_CHECK(verified.status().code() == absl::StatusCode::kUnauthenticated);
  } else {
    auto made = auth::JwtVerifier::Create(rest, Options());
    if (made.ok()) {
      FUZZ_CHECK(made->key_count() > 0);
      FUZZ_CHECK(!made->Verify(kUnsigned, kNow).ok());
    }
  }
  return 0;
}
