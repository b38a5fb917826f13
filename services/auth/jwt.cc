#include "services/auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "base/str_cat.h"

namespace loyalty::auth {
namespace {

namespace json = boost::json;

template <auto Free>
struct OpenSslFree {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree<&EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, OpenSslFree<&EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslFree<&EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, OpenSslFree<&BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, OpenSslFree<&OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, OpenSslFree<&OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, OpenSslFree<&ECDSA_SIG_free>>;

// OpenSSL records why a call failed in the thread's error queue. A refused
// token or key is an answer here, not an error for whoever uses OpenSSL next
// on this thread (a TLS connection reads the queue), so what was queued
// while this is alive is dropped.
class OpenSslErrorScope {
 public:
  OpenSslErrorScope() { ERR_set_mark(); }
  ~OpenSslErrorScope() { ERR_pop_to_mark(); }
  OpenSslErrorScope(const OpenSslErrorScope&) = delete;
  OpenSslErrorScope& operator=(const OpenSslErrorScope&) = delete;
};

enum class Alg { kRs256, kEs256 };

const char* AlgName(Alg alg) { return alg == Alg::kRs256 ? "RS256" : "ES256"; }

// Fetched once: a lookup by name on every call costs more than it should
// (see services/common/fingerprint.cc).
const EVP_MD* Sha256() {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return sha256;
}

constexpr size_t kMaxMemberIdBytes = 64;
constexpr int kMinRsaBits = 2048;   // smaller moduli are factorable in practice
constexpr int kMaxRsaBits = 16384;  // bounds the cost of one verification
constexpr int64_t kMaxSkewSeconds = 3600;
// 9999-12-31T23:59:59Z: dates are printable and `date + skew` cannot overflow.
constexpr int64_t kMaxNumericDate = 253'402'300'799;

absl::Status Unauthenticated(std::string_view message) { return absl::UnauthenticatedError(std::string(message)); }
absl::Status Invalid(std::string_view message) { return absl::InvalidArgumentError(std::string(message)); }

std::string_view View(const json::string& s) { return std::string_view(s.data(), s.size()); }
json::string_view JsonView(std::string_view s) { return json::string_view(s.data(), s.size()); }

// A value from a token or a key set, fit to quote in a message: short
// printable ASCII is quoted, anything else only described.
std::string Quote(std::string_view s) {
  const bool printable = s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
                           return c >= 0x20 && c < 0x7f && c != '\'' && c != '\\';
                         });
  if (printable) return loyalty::StrCat("'", s, "'");
  return loyalty::StrCat("(a value of ", s.size(), " bytes)");
}

// "2026-12-02T10:00:00Z"; `unix_seconds` within 0 .. kMaxNumericDate.
std::string Rfc3339(int64_t unix_seconds) {
  using namespace std::chrono;
  const sys_seconds t{seconds{unix_seconds}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{t - day};
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

// base64url (RFC 4648 §5) without padding, strictly: '=', characters outside
// the alphabet, a length of 4k+1 and non-zero leftover bits are refused, so a
// value has exactly one encoding and a token cannot be varied and stay valid.
std::optional<std::string> Base64UrlDecode(std::string_view in) {
  static constexpr std::array<int8_t, 256> kValues = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 26; ++i) {
      t['A' + i] = static_cast<int8_t>(i);
      t['a' + i] = static_cast<int8_t>(26 + i);
    }
    for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
    t['-'] = 62;
    t['_'] = 63;
    return t;
  }();
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = kValues[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

// The JSON object `text` holds, kept in `storage`; nullptr if it is not one.
const json::object* ParseObject(std::string_view text, json::value& storage, json::error_code& ec) {
  storage = json::parse(JsonView(text), ec);
  if (ec) return nullptr;
  return storage.if_object();
}

// ---- The key set --------------------------------------------------------

struct Key {
  Alg alg;
  PkeyPtr pkey;
  size_t signature_bytes;  // RS256: the modulus' bytes; ES256: 64
};

// The string member `name` of a JWK, or nullptr if absent; an error if it is
// there and not a string.
absl::StatusOr<const json::string*> OptionalString(const json::object& jwk, std::string_view field,
                                                   const char* name) {
  const json::value* v = jwk.if_contains(name);
  if (v == nullptr) return nullptr;
  if (!v->is_string()) return Invalid(loyalty::StrCat(field, ".", name, ": must be a string"));
  return &v->get_string();
}

// The decoded bytes of the base64url member `name` of a JWK.
absl::StatusOr<std::string> KeyBytes(const json::object& jwk, std::string_view field, const char* name) {
  absl::StatusOr<const json::string*> s = OptionalString(jwk, field, name);
  if (!s.ok()) return s.status();
  if (*s == nullptr) return Invalid(loyalty::StrCat(field, ".", name, ": is required"));
  std::optional<std::string> bytes = Base64UrlDecode(View(**s));
  if (!bytes || bytes->empty()) {
    return Invalid(loyalty::StrCat(field, ".", name, ": must be base64url without padding"));
  }
  return *std::move(bytes);
}

// A public key from OSSL_PARAMs, checked by OpenSSL: fromdata takes the
// numbers as given; the check refuses an even modulus or a point off the curve.
absl::StatusOr<PkeyPtr> PublicKeyFromParams(const char* type, OSSL_PARAM_BLD* bld, std::string_view field) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr) return absl::InternalError(loyalty::StrCat(field, ": out of memory"));
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return Invalid(loyalty::StrCat(field, ": not a valid ", type, " public key"));
  }
  PkeyPtr pkey(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return Invalid(loyalty::StrCat(field, ": not a valid ", type, " public key"));
  }
  return pkey;
}

absl::StatusOr<Key> RsaKey(const json::object& jwk, std::string_view field) {
  absl::StatusOr<std::string> n = KeyBytes(jwk, field, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = KeyBytes(jwk, field, "e");
  if (!e.ok()) return e.status();
  BnPtr n_bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()), static_cast<int>(n->size()), nullptr));
  BnPtr e_bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()), static_cast<int>(e->size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (n_bn == nullptr || e_bn == nullptr || bld == nullptr) {
    return absl::InternalError(loyalty::StrCat(field, ": out of memory"));
  }
  const int bits = BN_num_bits(n_bn.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return Invalid(loyalty::StrCat(field, ".n: a ", bits, "-bit modulus; RS256 keys must have ", kMinRsaBits, " to ",
                                   kMaxRsaBits, " bits"));
  }
  if (!BN_is_odd(e_bn.get()) || BN_is_one(e_bn.get())) {
    return Invalid(loyalty::StrCat(field, ".e: must be an odd exponent of at least 3"));
  }
  if (OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    return absl::InternalError(loyalty::StrCat(field, ": out of memory"));
  }
  absl::StatusOr<PkeyPtr> pkey = PublicKeyFromParams("RSA", bld.get(), field);
  if (!pkey.ok()) return pkey.status();
  const size_t size = static_cast<size_t>(EVP_PKEY_get_size(pkey->get()));
  return Key{Alg::kRs256, *std::move(pkey), size};
}

absl::StatusOr<Key> EcP256Key(const json::object& jwk, std::string_view field) {
  absl::StatusOr<std::string> x = KeyBytes(jwk, field, "x");
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = KeyBytes(jwk, field, "y");
  if (!y.ok()) return y.status();
  // RFC 7518 §6.2.1.2: each coordinate is the full 32 bytes, leading zeros kept.
  if (x->size() != 32) return Invalid(loyalty::StrCat(field, ".x: a P-256 coordinate is 32 bytes, got ", x->size()));
  if (y->size() != 32) return Invalid(loyalty::StrCat(field, ".y: a P-256 coordinate is 32 bytes, got ", y->size()));
  const std::string point = loyalty::StrCat('\x04', *x, *y);  // uncompressed (SEC 1 §2.3.3)
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return absl::InternalError(loyalty::StrCat(field, ": out of memory"));
  }
  absl::StatusOr<PkeyPtr> pkey = PublicKeyFromParams("EC", bld.get(), field);
  if (!pkey.ok()) return pkey.status();
  return Key{Alg::kEs256, *std::move(pkey), 64};
}

// The key `jwk` describes; nullopt for a key this verifier does not use.
absl::StatusOr<std::optional<Key>> UsableKey(const json::object& jwk, std::string_view field) {
  absl::StatusOr<const json::string*> use = OptionalString(jwk, field, "use");
  if (!use.ok()) return use.status();
  if (*use != nullptr && View(**use) != "sig") return std::optional<Key>();  // an encryption key
  absl::StatusOr<const json::string*> kty = OptionalString(jwk, field, "kty");
  if (!kty.ok()) return kty.status();
  if (*kty == nullptr) return Invalid(loyalty::StrCat(field, ".kty: is required"));
  absl::StatusOr<const json::string*> alg = OptionalString(jwk, field, "alg");
  if (!alg.ok()) return alg.status();
  if (View(**kty) == "RSA") {
    if (*alg != nullptr && View(**alg) != "RS256") return std::optional<Key>();
    absl::StatusOr<Key> key = RsaKey(jwk, field);
    if (!key.ok()) return key.status();
    return std::optional<Key>(*std::move(key));
  }
  if (View(**kty) == "EC") {
    absl::StatusOr<const json::string*> crv = OptionalString(jwk, field, "crv");
    if (!crv.ok()) return crv.status();
    if (*crv == nullptr) return Invalid(loyalty::StrCat(field, ".crv: is required for an EC key"));
    if (View(**crv) != "P-256") return std::optional<Key>();
    if (*alg != nullptr && View(**alg) != "ES256") return std::optional<Key>();
    absl::StatusOr<Key> key = EcP256Key(jwk, field);
    if (!key.ok()) return key.status();
    return std::optional<Key>(*std::move(key));
  }
  return std::optional<Key>();  // "oct" (never an HMAC secret here), "OKP", ...
}

// ---- Signatures ----------------------------------------------------------

// JWS carries an ECDSA signature as R || S, 32 bytes each (RFC 7518 §3.4);
// OpenSSL verifies the DER form (SEQUENCE of two INTEGERs).
std::optional<std::string> EcdsaRawToDer(std::string_view raw) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BnPtr r(BN_bin2bn(bytes, 32, nullptr));
  BnPtr s(BN_bin2bn(bytes + 32, 32, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || sig == nullptr || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return std::nullopt;
  }
  r.release();  // owned by `sig` now
  s.release();
  const int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != size) return std::nullopt;
  return der;
}

absl::Status VerifySignature(const Key& key, std::string_view kid, std::string_view signing_input,
                             std::string_view signature) {
  if (signature.size() != key.signature_bytes) {
    return Unauthenticated(loyalty::StrCat("token: an ", AlgName(key.alg), " signature with key ", Quote(kid), " is ",
                                           key.signature_bytes, " bytes, got ", signature.size()));
  }
  OpenSslErrorScope errors;
  std::string der;
  if (key.alg == Alg::kEs256) {
    std::optional<std::string> converted = EcdsaRawToDer(signature);
    if (!converted) return absl::InternalError("token: could not convert the ES256 signature");
    der = *std::move(converted);
    signature = der;
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (Sha256() == nullptr || ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), &pctx, Sha256(), nullptr, key.pkey.get()) != 1 ||
      (key.alg == Alg::kRs256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)) {
    return absl::InternalError("token: could not set up the signature check");
  }
  const int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                                  signature.size(), reinterpret_cast<const unsigned char*>(signing_input.data()),
                                  signing_input.size());
  if (ok != 1) return Unauthenticated(loyalty::StrCat("token: the signature does not verify with key ", Quote(kid)));
  return absl::OkStatus();
}

// ---- Claims --------------------------------------------------------------

enum class Round { kDown, kUp };

// The NumericDate claim `name` (RFC 7519 §2: seconds since 1970, a JSON
// number), or nullopt if absent. A fraction is rounded the stricter way:
// `exp` down, `nbf` and `iat` up.
absl::StatusOr<std::optional<int64_t>> NumericDate(const json::object& claims, const char* name, Round round) {
  const json::value* v = claims.if_contains(name);
  if (v == nullptr) return std::optional<int64_t>();
  const auto out_of_range = [&] {
    return Unauthenticated(loyalty::StrCat("payload.", name, ": must be between 1970 and 9999"));
  };
  int64_t seconds = 0;
  if (v->is_int64()) {
    seconds = v->get_int64();
  } else if (v->is_uint64()) {
    return out_of_range();  // above INT64_MAX
  } else if (v->is_double()) {
    const double d = v->get_double();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(kMaxNumericDate)) return out_of_range();
    seconds = static_cast<int64_t>(round == Round::kDown ? std::floor(d) : std::ceil(d));
  } else {
    return Unauthenticated(loyalty::StrCat("payload.", name, ": must be a number of seconds since 1970 (NumericDate)"));
  }
  if (seconds < 0 || seconds > kMaxNumericDate) return out_of_range();
  return std::optional<int64_t>(seconds);
}

absl::Status CheckIssuer(const json::object& claims, const std::string& issuer) {
  const json::value* iss = claims.if_contains("iss");
  if (iss == nullptr) return Unauthenticated("payload.iss: is required");
  if (!iss->is_string()) return Unauthenticated("payload.iss: must be a string");
  if (View(iss->get_string()) != issuer) {
    return Unauthenticated(loyalty::StrCat("payload.iss: ", Quote(View(iss->get_string())),
                                           " is not the accepted issuer ", Quote(issuer)));
  }
  return absl::OkStatus();
}

absl::Status CheckAudience(const json::object& claims, const std::string& audience) {
  const json::value* aud = claims.if_contains("aud");
  if (aud == nullptr) return Unauthenticated("payload.aud: is required");
  bool found = false;
  if (aud->is_string()) {
    found = View(aud->get_string()) == audience;
  } else if (aud->is_array()) {
    for (const json::value& v : aud->get_array()) {
      if (!v.is_string()) return Unauthenticated("payload.aud: must be a string or an array of strings");
      found = found || View(v.get_string()) == audience;
    }
  } else {
    return Unauthenticated("payload.aud: must be a string or an array of strings");
  }
  if (!found) return Unauthenticated(loyalty::StrCat("payload.aud: does not name the audience ", Quote(audience)));
  return absl::OkStatus();
}

}  // namespace

// ---- ParseJwt ------------------------------------------------------------

absl::StatusOr<ParsedJwt> ParseJwt(std::string_view token, size_t max_bytes) {
  if (token.empty()) return Unauthenticated("token: is empty");
  if (token.size() > max_bytes) {
    return Unauthenticated(loyalty::StrCat("token: ", token.size(), " bytes, more than the ", max_bytes, " accepted"));
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthenticated(loyalty::StrCat("token: must be three base64url parts separated by '.', got ",
                                           std::count(token.begin(), token.end(), '.') + 1));
  }
  std::optional<std::string> header = Base64UrlDecode(token.substr(0, dot1));
  std::optional<std::string> payload = Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  std::optional<std::string> signature = Base64UrlDecode(token.substr(dot2 + 1));
  const char* bad_part = !header ? "header" : !payload ? "payload" : !signature ? "signature" : nullptr;
  if (bad_part != nullptr) {
    return Unauthenticated(loyalty::StrCat("token: the ", bad_part, " is not base64url without padding"));
  }

  json::value storage;
  json::error_code ec;
  const json::object* h = ParseObject(*header, storage, ec);
  if (h == nullptr) return Unauthenticated("token: the header is not a JSON object");
  // RFC 7515 §4.1.11: extensions listed in `crit` must be understood, and
  // none are here (b64=false, for one, would change what is signed).
  if (h->contains("crit")) return Unauthenticated("header.crit: no extension is supported");
  const json::value* alg = h->if_contains("alg");
  if (alg == nullptr) return Unauthenticated("header.alg: is required");
  if (!alg->is_string()) return Unauthenticated("header.alg: must be a string");
  ParsedJwt out;
  out.alg = std::string(View(alg->get_string()));
  if (const json::value* kid = h->if_contains("kid"); kid != nullptr) {
    if (!kid->is_string()) return Unauthenticated("header.kid: must be a string");
    out.kid = std::string(View(kid->get_string()));
  }
  out.header_json = *std::move(header);
  out.payload_json = *std::move(payload);
  out.signing_input = std::string(token.substr(0, dot2));
  out.signature = *std::move(signature);
  return out;
}

// ---- JwtVerifier ---------------------------------------------------------

struct JwtVerifier::KeySet {
  std::map<std::string, Key, std::less<>> by_kid;
};

JwtVerifier::JwtVerifier(JwtOptions options, std::shared_ptr<const KeySet> keys)
    : options_(std::move(options)), keys_(std::move(keys)) {}

size_t JwtVerifier::key_count() const { return keys_->by_kid.size(); }

absl::StatusOr<JwtVerifier> JwtVerifier::Create(std::string_view jwks_json, JwtOptions options) {
  if (options.issuer.empty()) return Invalid("issuer: is required");
  if (options.audience.empty()) return Invalid("audience: is required");
  if (options.clock_skew.count() < 0 || options.clock_skew.count() > kMaxSkewSeconds) {
    // More than that would keep expired tokens alive for hours.
    return Invalid(loyalty::StrCat("clock_skew: must be 0 to ", kMaxSkewSeconds, " s, got ",
                                   options.clock_skew.count(), " s"));
  }
  if (options.member_claim.empty()) return Invalid("member_claim: is required");
  if (options.max_token_bytes == 0) return Invalid("max_token_bytes: must be positive");

  OpenSslErrorScope errors;
  json::value storage;
  json::error_code ec;
  storage = json::parse(JsonView(jwks_json), ec);
  if (ec) return Invalid(loyalty::StrCat("jwks: not JSON (", ec.message(), ")"));
  const json::object* doc = storage.if_object();
  const json::value* keys = doc == nullptr ? nullptr : doc->if_contains("keys");
  if (keys == nullptr || !keys->is_array()) return Invalid("jwks: must be an object {\"keys\": [...]}");

  auto set = std::make_shared<KeySet>();
  const json::array& entries = keys->get_array();
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string field = loyalty::StrCat("jwks.keys[", i, "]");
    const json::object* jwk = entries[i].if_object();
    if (jwk == nullptr) return Invalid(loyalty::StrCat(field, ": must be an object"));
    absl::StatusOr<std::optional<Key>> key = UsableKey(*jwk, field);
    if (!key.ok()) return key.status();
    if (!key->has_value()) continue;
    absl::StatusOr<const json::string*> kid = OptionalString(*jwk, field, "kid");
    if (!kid.ok()) return kid.status();
    // The token's `kid` picks the key: without one a key could never be used.
    if (*kid == nullptr || (*kid)->empty()) return Invalid(loyalty::StrCat(field, ".kid: is required"));
    if (!set->by_kid.emplace(std::string(View(**kid)), **std::move(key)).second) {
      return Invalid(loyalty::StrCat(field, ".kid: ", Quote(View(**kid)), " names two keys"));
    }
  }
  if (set->by_kid.empty()) {
    return Invalid(loyalty::StrCat("jwks: no usable key among ", entries.size(),
                                   "; RSA (RS256) or EC P-256 (ES256) signing keys are used"));
  }
  return JwtVerifier(std::move(options), std::move(set));
}

absl::StatusOr<VerifiedJwt> JwtVerifier::Verify(std::string_view token, int64_t now_unix) const {
  absl::StatusOr<ParsedJwt> parsed = ParseJwt(token, options_.max_token_bytes);
  if (!parsed.ok()) return parsed.status();

  // Only the algorithms of the keys, and each only with its own kind of key:
  // `none` and HMAC (a public key used as the shared secret) never verify.
  Alg alg;
  if (parsed->alg == "RS256") {
    alg = Alg::kRs256;
  } else if (parsed->alg == "ES256") {
    alg = Alg::kEs256;
  } else {
    return Unauthenticated(loyalty::StrCat("header.alg: ", Quote(parsed->alg), " is not accepted; RS256 or ES256"));
  }
  if (parsed->kid.empty()) return Unauthenticated("header.kid: is required to choose the key");
  auto it = keys_->by_kid.find(parsed->kid);
  if (it == keys_->by_kid.end()) {
    return Unauthenticated(loyalty::StrCat("header.kid: ", Quote(parsed->kid), " is not in the key set"));
  }
  const Key& key = it->second;
  if (key.alg != alg) {
    return Unauthenticated(loyalty::StrCat("header.alg: ", parsed->alg, " does not match key ", Quote(parsed->kid),
                                           ", an ", AlgName(key.alg), " key"));
  }
  if (absl::Status s = VerifySignature(key, parsed->kid, parsed->signing_input, parsed->signature); !s.ok()) return s;

  // The claims are read only once the signature shows who wrote them.
  json::value storage;
  json::error_code ec;
  const json::object* claims = ParseObject(parsed->payload_json, storage, ec);
  if (claims == nullptr) return Unauthenticated("token: the payload is not a JSON object");
  if (absl::Status s = CheckIssuer(*claims, options_.issuer); !s.ok()) return s;
  if (absl::Status s = CheckAudience(*claims, options_.audience); !s.ok()) return s;

  absl::StatusOr<std::optional<int64_t>> exp = NumericDate(*claims, "exp", Round::kDown);
  if (!exp.ok()) return exp.status();
  if (!exp->has_value()) return Unauthenticated("payload.exp: is required");
  absl::StatusOr<std::optional<int64_t>> nbf = NumericDate(*claims, "nbf", Round::kUp);
  if (!nbf.ok()) return nbf.status();
  absl::StatusOr<std::optional<int64_t>> iat = NumericDate(*claims, "iat", Round::kUp);
  if (!iat.ok()) return iat.status();
  // The dates are at most kMaxNumericDate and the skew at most an hour, so
  // none of these overflows (and `now_unix` takes no arithmetic).
  const int64_t skew = options_.clock_skew.count();
  if (now_unix > **exp + skew) {
    return Unauthenticated(loyalty::StrCat("token: expired at ", Rfc3339(**exp), " (clock skew ", skew, " s)"));
  }
  if (nbf->has_value() && **nbf - skew > now_unix) {
    return Unauthenticated(loyalty::StrCat("token: not valid before ", Rfc3339(**nbf), " (clock skew ", skew, " s)"));
  }
  if (iat->has_value() && **iat - skew > now_unix) {
    return Unauthenticated(
        loyalty::StrCat("token: issued in the future, at ", Rfc3339(**iat), " (clock skew ", skew, " s)"));
  }

  const std::string field = loyalty::StrCat("payload.", options_.member_claim);
  const json::value* member = claims->if_contains(JsonView(options_.member_claim));
  if (member == nullptr || !member->is_string() || member->get_string().empty()) {
    return Unauthenticated(loyalty::StrCat(field, ": must be a non-empty string naming the member"));
  }
  if (member->get_string().size() > kMaxMemberIdBytes) {
    return Unauthenticated(loyalty::StrCat(field, ": must be at most ", kMaxMemberIdBytes, " characters, got ",
                                           member->get_string().size()));
  }
  return VerifiedJwt{std::string(View(member->get_string())), **exp, parsed->kid};
}

}  // namespace loyalty::auth
