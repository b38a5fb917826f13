// services/auth/jwt.h: verifies the JSON Web Tokens (RFC 7519) that members'
// apps send as `authorization: Bearer <JWT>` once they signed in with the
// retailer's identity provider, and says which member the token is for.
//
// Accepted: compact JWS (RFC 7515), signed RS256 (RSA PKCS#1 v1.5, SHA-256)
// or ES256 (ECDSA P-256, SHA-256), with a key of the identity provider's key
// set (a JWKS document, RFC 7517) chosen by the header's `kid`. Every other
// algorithm, `none` and HS256 included, is refused, and the header's `alg`
// must be the algorithm of the key it names: a token cannot make an RSA key
// act as an HMAC secret. Keys embedded in a token (jwk, jku, x5c, x5u) are
// never used.
//
// After the signature, the claims: `iss` equal to the issuer, `aud` (a string
// or an array of strings) containing the audience, `exp` required, `nbf` and
// `iat` optional, all within `clock_skew` of the caller's clock, and the
// member claim (`sub` by default) a string of 1 to 64 characters.
// A refusal is UNAUTHENTICATED naming the field and the reason
// ("token: expired at 2026-12-02T10:00:00Z (clock skew 60 s)"); it never
// quotes the token. A bad key set or options are INVALID_ARGUMENT from Create.
//
// Thread-safety: a JwtVerifier is immutable after Create; Verify may be called
// from any thread, concurrently. Copies share the (immutable) keys. ParseJwt
// is pure.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loyalty::auth {

struct JwtOptions {
  std::string issuer;    // required: `iss` must equal it
  std::string audience;  // required: `aud` must be it or an array containing it
  // Tolerated difference between the identity provider's clock and ours, for
  // exp, nbf and iat. 0 to 3600 s.
  std::chrono::seconds clock_skew{60};
  std::string member_claim = "sub";  // the claim naming the member id
  size_t max_token_bytes = 8192;     // longer tokens are refused unread
};

struct VerifiedJwt {
  std::string member_id;
  int64_t expires_at_unix = 0;  // `exp`, seconds since 1970 (UTC)
  std::string key_id;           // the `kid` that verified it
};

// The structure of a compact JWS, before any signature check: what the
// verifier and a fuzz target work on.
struct ParsedJwt {
  std::string header_json;    // the decoded header, a JSON object
  std::string payload_json;   // the decoded payload, not yet parsed
  std::string signing_input;  // "<header part>.<payload part>", as sent
  std::string signature;      // the decoded signature, raw bytes
  std::string alg;            // the header's `alg`
  std::string kid;            // the header's `kid`; empty if it has none
};

// Splits `token` into three base64url parts (RFC 4648 §5, no padding, no
// stray bits), decodes them and reads the header's `alg` and `kid`. Refuses
// tokens longer than `max_bytes`, and headers with `crit` (no extension is
// understood here). UNAUTHENTICATED on any fault.
absl::StatusOr<ParsedJwt> ParseJwt(std::string_view token, size_t max_bytes);

class JwtVerifier {
 public:
  // `jwks_json` is a JWKS document {"keys": [...]}. Used: RSA keys (kty RSA,
  // n, e; at least 2048 bits; alg RS256 or absent) and EC keys (kty EC, crv
  // P-256, x, y; alg ES256 or absent), each with a `kid` of its own. Skipped:
  // keys whose `use` is not "sig", other key types, curves and algorithms.
  // A malformed usable key, or a document without one, is INVALID_ARGUMENT.
  static absl::StatusOr<JwtVerifier> Create(std::string_view jwks_json, JwtOptions options);

  // The member `token` (the JWT itself, without "Bearer ") is for, if it is
  // valid at `now_unix` (seconds since 1970, UTC).
  absl::StatusOr<VerifiedJwt> Verify(std::string_view token, int64_t now_unix) const;

  // The usable keys of the key set.
  size_t key_count() const;

 private:
  struct KeySet;  // kid -> public key; defined in jwt.cc (OpenSSL stays there)
  JwtVerifier(JwtOptions options, std::shared_ptr<const KeySet> keys);

  JwtOptions options_;
  std::shared_ptr<const KeySet> keys_;
};

}  // namespace loyalty::auth
