// Unit tests of the JWT verifier: real RSA-2048 and EC P-256 keys made here,
// their public parts as the JWKS, tokens signed here.
#include "services/auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <atomic>
#include <boost/json.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace loyalty::auth {
namespace {

namespace json = boost::json;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

constexpr int64_t kNow = 1'796'205'600;  // 2026-12-02T10:00:00Z
constexpr const char* kIssuer = "https://id.example-retail.com";
constexpr const char* kAudience = "loyalty-app";

std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

std::string BnBytes(const EVP_PKEY* pkey, const char* name, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(pkey, name, &bn), 1) << name;
  std::string out(pad_to > 0 ? pad_to : BN_num_bytes(bn), '\0');
  EXPECT_GT(BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())), 0);
  BN_free(bn);
  return out;
}

json::object RsaJwk(const EVP_PKEY* pkey, std::string_view kid) {
  return {{"kty", "RSA"},
          {"kid", kid},
          {"use", "sig"},
          {"alg", "RS256"},
          {"n", Base64Url(BnBytes(pkey, OSSL_PKEY_PARAM_RSA_N))},
          {"e", Base64Url(BnBytes(pkey, OSSL_PKEY_PARAM_RSA_E))}};
}

json::object EcJwk(const EVP_PKEY* pkey, std::string_view kid) {
  return {{"kty", "EC"},
          {"kid", kid},
          {"crv", "P-256"},
          {"x", Base64Url(BnBytes(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", Base64Url(BnBytes(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

std::string Jwks(std::initializer_list<json::object> keys) {
  json::array a;
  for (const auto& k : keys) a.push_back(k);
  return json::serialize(json::object{{"keys", a}});
}

// The JWS signature of `input` with `pkey`: PKCS#1 v1.5 for RSA, R || S for EC.
std::string Sign(EVP_PKEY* pkey, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey), 1);
  size_t size = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &size, in, input.size()), 1);
  std::string sig(size, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &size, in, input.size()), 1);
  sig.resize(size);
  if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC) return sig;
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size()));
  EXPECT_NE(ecdsa, nullptr);
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(ecdsa);
  return raw;
}

std::string Token(const json::object& header, const json::object& claims, EVP_PKEY* pkey) {
  const std::string input = Base64Url(json::serialize(header)) + "." + Base64Url(json::serialize(claims));
  return input + "." + Base64Url(Sign(pkey, input));
}

json::object Header(std::string_view alg, std::string_view kid) {
  return {{"alg", alg}, {"kid", kid}, {"typ", "JWT"}};
}

json::object Claims() {
  return {{"iss", kIssuer}, {"aud", kAudience}, {"sub", "m-1"}, {"exp", kNow + 600}, {"iat", kNow - 10}};
}

JwtOptions Options() {
  JwtOptions o;
  o.issuer = kIssuer;
  o.audience = kAudience;
  return o;
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_ = EVP_RSA_gen(2048);
    rsa_other_ = EVP_RSA_gen(2048);
    ec_ = EVP_EC_gen("P-256");
    ec_other_ = EVP_EC_gen("P-256");
    ASSERT_TRUE(rsa_ && rsa_other_ && ec_ && ec_other_);
  }
  static void TearDownTestSuite() {
    for (EVP_PKEY* k : {rsa_, rsa_other_, ec_, ec_other_}) EVP_PKEY_free(k);
  }

  void SetUp() override {
    json::object oct{{"kty", "oct"}, {"kid", "hmac-1"}, {"k", "c2VjcmV0"}};   // skipped: symmetric
    json::object enc = RsaJwk(rsa_other_, "enc-1");                           // skipped: for encryption
    enc["use"] = "enc";
    enc.erase("alg");
    json::object ps = RsaJwk(rsa_other_, "ps-1");                             // skipped: another algorithm
    ps["alg"] = "PS256";
    jwks_ = Jwks({RsaJwk(rsa_, "rsa-1"), EcJwk(ec_, "ec-1"), oct, enc, ps});
    auto v = JwtVerifier::Create(jwks_, Options());
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_.emplace(*std::move(v));
  }

  absl::StatusOr<VerifiedJwt> Verify(const std::string& token, int64_t now = kNow) {
    return verifier_->Verify(token, now);
  }
  // Signed with rsa-1, with these claims.
  absl::StatusOr<VerifiedJwt> VerifyClaims(const json::object& claims, int64_t now = kNow) {
    return Verify(Token(Header("RS256", "rsa-1"), claims, rsa_), now);
  }

  static EVP_PKEY* rsa_;
  static EVP_PKEY* rsa_other_;
  static EVP_PKEY* ec_;
  static EVP_PKEY* ec_other_;
  std::string jwks_;
  std::optional<JwtVerifier> verifier_;
};
EVP_PKEY* JwtTest::rsa_ = nullptr;
EVP_PKEY* JwtTest::rsa_other_ = nullptr;
EVP_PKEY* JwtTest::ec_ = nullptr;
EVP_PKEY* JwtTest::ec_other_ = nullptr;

// Asserts UNAUTHENTICATED with `fragment` in the message.
#define EXPECT_REFUSED(result, fragment)                                                  \
  do {                                                                                    \
    const auto& r_ = (result);                                                            \
    ASSERT_FALSE(r_.ok()) << "accepted, expected: " << (fragment);                        \
    EXPECT_EQ(r_.status().code(), absl::StatusCode::kUnauthenticated) << r_.status();     \
    EXPECT_NE(std::string(r_.status().message()).find(fragment), std::string::npos)       \
        << r_.status();                                                                   \
  } while (0)

// Create with `jwks` fails with INVALID_ARGUMENT and `fragment` in the message.
#define EXPECT_BAD_JWKS(jwks, fragment)                                                   \
  do {                                                                                    \
    auto v_ = JwtVerifier::Create((jwks), Options());                                     \
    ASSERT_FALSE(v_.ok()) << "accepted, expected: " << (fragment);                        \
    EXPECT_EQ(v_.status().code(), absl::StatusCode::kInvalidArgument) << v_.status();     \
    EXPECT_NE(std::string(v_.status().message()).find(fragment), std::string::npos)       \
        << v_.status();                                                                   \
  } while (0)

TEST_F(JwtTest, SkipsKeysItDoesNotUse) { EXPECT_EQ(verifier_->key_count(), 2u); }

TEST_F(JwtTest, AcceptsValidRs256) {
  auto v = VerifyClaims(Claims());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->member_id, "m-1");
  EXPECT_EQ(v->expires_at_unix, kNow + 600);
  EXPECT_EQ(v->key_id, "rsa-1");
}

TEST_F(JwtTest, AcceptsValidEs256) {
  auto v = Verify(Token(Header("ES256", "ec-1"), Claims(), ec_));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->member_id, "m-1");
  EXPECT_EQ(v->key_id, "ec-1");
}

// A configured member claim other than `sub`.
TEST_F(JwtTest, ReadsTheConfiguredMemberClaim) {
  JwtOptions o = Options();
  o.member_claim = "loyalty_member";
  auto verifier = JwtVerifier::Create(jwks_, o);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  json::object claims = Claims();
  claims["loyalty_member"] = "m-77";
  auto v = verifier->Verify(Token(Header("RS256", "rsa-1"), claims, rsa_), kNow);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->member_id, "m-77");
  claims.erase("loyalty_member");
  EXPECT_REFUSED(verifier->Verify(Token(Header("RS256", "rsa-1"), claims, rsa_), kNow),
                 "payload.loyalty_member: must be a non-empty string");
}

TEST_F(JwtTest, RefusesSignatureOfAnotherKeyWithTheSameKid) {
  EXPECT_REFUSED(Verify(Token(Header("RS256", "rsa-1"), Claims(), rsa_other_)),
                 "token: the signature does not verify with key 'rsa-1'");
  EXPECT_REFUSED(Verify(Token(Header("ES256", "ec-1"), Claims(), ec_other_)),
                 "token: the signature does not verify with key 'ec-1'");
}

TEST_F(JwtTest, RefusesAModifiedPayload) {
  const std::string token = Token(Header("RS256", "rsa-1"), Claims(), rsa_);
  json::object forged = Claims();
  forged["sub"] = "m-2";
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  const std::string modified =
      token.substr(0, dot1 + 1) + Base64Url(json::serialize(forged)) + token.substr(dot2);
  EXPECT_REFUSED(Verify(modified), "token: the signature does not verify with key 'rsa-1'");
  // Also for ES256, and for a flipped bit of the signature.
  const std::string es = Token(Header("ES256", "ec-1"), Claims(), ec_);
  const size_t es1 = es.find('.'), es2 = es.rfind('.');
  EXPECT_REFUSED(Verify(es.substr(0, es1 + 1) + Base64Url(json::serialize(forged)) + es.substr(es2)),
                 "does not verify with key 'ec-1'");
  std::string flipped = token;
  flipped[dot2 + 5] = flipped[dot2 + 5] == 'A' ? 'B' : 'A';
  EXPECT_REFUSED(Verify(flipped), "does not verify");
  // A signature of the wrong size for the key is refused before any check.
  EXPECT_REFUSED(Verify(token.substr(0, dot2 + 1) + Base64Url(std::string(64, 'x'))),
                 "token: an RS256 signature with key 'rsa-1' is 256 bytes, got 64");
  EXPECT_REFUSED(Verify(es.substr(0, es2 + 1) + Base64Url(std::string(72, 'x'))),
                 "token: an ES256 signature with key 'ec-1' is 64 bytes, got 72");
}

TEST_F(JwtTest, RefusesWrongIssuer) {
  json::object c = Claims();
  c["iss"] = "https://evil.example";
  EXPECT_REFUSED(VerifyClaims(c),
                 "payload.iss: 'https://evil.example' is not the accepted issuer 'https://id.example-retail.com'");
  c.erase("iss");
  EXPECT_REFUSED(VerifyClaims(c), "payload.iss: is required");
}

TEST_F(JwtTest, RefusesWrongAudience) {
  json::object c = Claims();
  c["aud"] = "another-app";
  EXPECT_REFUSED(VerifyClaims(c), "payload.aud: does not name the audience 'loyalty-app'");
  c.erase("aud");
  EXPECT_REFUSED(VerifyClaims(c), "payload.aud: is required");
  c["aud"] = 7;
  EXPECT_REFUSED(VerifyClaims(c), "payload.aud: must be a string or an array of strings");
}

TEST_F(JwtTest, AudienceMayBeAnArray) {
  json::object c = Claims();
  c["aud"] = json::array{"web", kAudience};
  EXPECT_TRUE(VerifyClaims(c).ok()) << VerifyClaims(c).status();
  c["aud"] = json::array{"web", "pos"};
  EXPECT_REFUSED(VerifyClaims(c), "payload.aud: does not name the audience 'loyalty-app'");
  c["aud"] = json::array{};
  EXPECT_REFUSED(VerifyClaims(c), "payload.aud: does not name the audience");
  c["aud"] = json::array{kAudience, 3};
  EXPECT_REFUSED(VerifyClaims(c), "payload.aud: must be a string or an array of strings");
}

TEST_F(JwtTest, ExpiryAllowsTheClockSkewOnly) {
  json::object c = Claims();
  c["exp"] = kNow - 61;
  c["iat"] = kNow - 3600;
  EXPECT_REFUSED(VerifyClaims(c), "token: expired at 2026-12-02T09:58:59Z (clock skew 60 s)");
  EXPECT_REFUSED(VerifyClaims(c, kNow + 3600), "token: expired at");
  c["exp"] = kNow;
  EXPECT_REFUSED(VerifyClaims(c, kNow + 61), "token: expired at 2026-12-02T10:00:00Z (clock skew 60 s)");
  EXPECT_TRUE(VerifyClaims(c, kNow + 60).ok());
  c["exp"] = kNow - 60;
  auto v = VerifyClaims(c);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->expires_at_unix, kNow - 60);
}

TEST_F(JwtTest, RefusesNotYetValidTokens) {
  json::object c = Claims();
  c["nbf"] = kNow + 61;
  EXPECT_REFUSED(VerifyClaims(c), "token: not valid before 2026-12-02T10:01:01Z (clock skew 60 s)");
  c["nbf"] = kNow + 60;
  EXPECT_TRUE(VerifyClaims(c).ok());
  c.erase("nbf");
  c["iat"] = kNow + 61;
  EXPECT_REFUSED(VerifyClaims(c), "token: issued in the future, at 2026-12-02T10:01:01Z (clock skew 60 s)");
  c["iat"] = kNow + 60;
  EXPECT_TRUE(VerifyClaims(c).ok());
  c["nbf"] = "soon";
  EXPECT_REFUSED(VerifyClaims(c), "payload.nbf: must be a number of seconds since 1970 (NumericDate)");
}

// NumericDate may have a fraction (RFC 7519 §2); it is rounded the stricter way.
TEST_F(JwtTest, DatesWithFractions) {
  json::object c = Claims();
  c["exp"] = static_cast<double>(kNow - 60) + 0.9;  // counts as kNow - 60
  auto v = VerifyClaims(c);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->expires_at_unix, kNow - 60);
  EXPECT_REFUSED(VerifyClaims(c, kNow + 1), "token: expired at");
  c["exp"] = kNow + 600;
  c["nbf"] = static_cast<double>(kNow + 60) + 0.1;  // counts as kNow + 61
  EXPECT_REFUSED(VerifyClaims(c), "token: not valid before 2026-12-02T10:01:01Z");
  c.erase("nbf");
  c["exp"] = 1e300;
  EXPECT_REFUSED(VerifyClaims(c), "payload.exp: must be between 1970 and 9999");
  c["exp"] = -5;
  EXPECT_REFUSED(VerifyClaims(c), "payload.exp: must be between 1970 and 9999");
  c["exp"] = json::value(18446744073709551615ull);
  EXPECT_REFUSED(VerifyClaims(c), "payload.exp: must be between 1970 and 9999");
}

TEST_F(JwtTest, RefusesAlgNone) {
  json::object h{{"alg", "none"}, {"kid", "rsa-1"}};
  const std::string token = Base64Url(json::serialize(h)) + "." + Base64Url(json::serialize(Claims())) + ".";
  EXPECT_REFUSED(Verify(token), "header.alg: 'none' is not accepted; RS256 or ES256");
  h["alg"] = "None";
  EXPECT_REFUSED(Verify(Base64Url(json::serialize(h)) + "." + Base64Url(json::serialize(Claims())) + "."),
                 "header.alg: 'None' is not accepted");
}

// The classic confusion: the RSA public key, which anyone has, used as an
// HMAC secret.
TEST_F(JwtTest, RefusesHs256WithThePublicKeyAsSecret) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), rsa_), 1);
  char* pem = nullptr;
  const long pem_size = BIO_get_mem_data(bio.get(), &pem);
  const std::string input = Base64Url(json::serialize(Header("HS256", "rsa-1"))) + "." +
                            Base64Url(json::serialize(Claims()));
  unsigned char mac[32];
  size_t mac_size = 0;
  ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, pem, static_cast<size_t>(pem_size),
                      reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof(mac), &mac_size),
            nullptr);
  const std::string token = input + "." + Base64Url(std::string(reinterpret_cast<char*>(mac), mac_size));
  EXPECT_REFUSED(Verify(token), "header.alg: 'HS256' is not accepted; RS256 or ES256");
  // Other algorithms of the same families are refused as well.
  for (const char* alg : {"RS384", "RS512", "PS256", "ES384", "EdDSA", "HS512", ""}) {
    EXPECT_REFUSED(Verify(Token(Header(alg, "rsa-1"), Claims(), rsa_)), "is not accepted; RS256 or ES256");
  }
}

// The header's alg must be the key's: no EC verification of an RSA key's
// token, nor the other way round.
TEST_F(JwtTest, RefusesAnAlgOtherThanTheKeys) {
  EXPECT_REFUSED(Verify(Token(Header("ES256", "rsa-1"), Claims(), ec_)),
                 "header.alg: ES256 does not match key 'rsa-1', an RS256 key");
  EXPECT_REFUSED(Verify(Token(Header("RS256", "ec-1"), Claims(), rsa_)),
                 "header.alg: RS256 does not match key 'ec-1', an ES256 key");
}

TEST_F(JwtTest, RefusesKidNotInTheKeySet) {
  EXPECT_REFUSED(Verify(Token(Header("RS256", "rsa-9"), Claims(), rsa_)), "header.kid: 'rsa-9' is not in the key set");
  // Skipped keys are not in it either.
  EXPECT_REFUSED(Verify(Token(Header("RS256", "enc-1"), Claims(), rsa_other_)), "header.kid: 'enc-1' is not in");
  EXPECT_REFUSED(Verify(Token(Header("RS256", "ps-1"), Claims(), rsa_other_)), "header.kid: 'ps-1' is not in");
  // A kid that is not fit to quote is described, not repeated.
  EXPECT_REFUSED(Verify(Token(Header("RS256", "a\nb"), Claims(), rsa_)),
                 "header.kid: (a value of 3 bytes) is not in the key set");
}

TEST_F(JwtTest, RefusesMissingKid) {
  EXPECT_REFUSED(Verify(Token(json::object{{"alg", "RS256"}}, Claims(), rsa_)),
                 "header.kid: is required to choose the key");
  EXPECT_REFUSED(Verify(Token(Header("RS256", ""), Claims(), rsa_)), "header.kid: is required");
  EXPECT_REFUSED(Verify(Token(json::object{{"alg", "RS256"}, {"kid", 1}}, Claims(), rsa_)),
                 "header.kid: must be a string");
}

TEST_F(JwtTest, RefusesMissingExp) {
  json::object c = Claims();
  c.erase("exp");
  EXPECT_REFUSED(VerifyClaims(c), "payload.exp: is required");
}

TEST_F(JwtTest, RefusesExpAsAString) {
  json::object c = Claims();
  c["exp"] = std::to_string(kNow + 600);
  EXPECT_REFUSED(VerifyClaims(c), "payload.exp: must be a number of seconds since 1970 (NumericDate)");
  c["exp"] = true;
  EXPECT_REFUSED(VerifyClaims(c), "payload.exp: must be a number");
}

TEST_F(JwtTest, MemberClaimIsANonEmptyStringOfAtMost64) {
  json::object c = Claims();
  c["sub"] = "";
  EXPECT_REFUSED(VerifyClaims(c), "payload.sub: must be a non-empty string naming the member");
  c["sub"] = 42;
  EXPECT_REFUSED(VerifyClaims(c), "payload.sub: must be a non-empty string naming the member");
  c.erase("sub");
  EXPECT_REFUSED(VerifyClaims(c), "payload.sub: must be a non-empty string naming the member");
  c["sub"] = std::string(65, 'm');
  EXPECT_REFUSED(VerifyClaims(c), "payload.sub: must be at most 64 characters, got 65");
  c["sub"] = std::string(64, 'm');
  auto v = VerifyClaims(c);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->member_id, std::string(64, 'm'));
}

TEST_F(JwtTest, RefusesTokensWithoutThreeParts) {
  const std::string token = Token(Header("RS256", "rsa-1"), Claims(), rsa_);
  EXPECT_REFUSED(Verify(token.substr(0, token.rfind('.'))),
                 "token: must be three base64url parts separated by '.', got 2");
  EXPECT_REFUSED(Verify(token + ".e30"), "token: must be three base64url parts separated by '.', got 4");
  EXPECT_REFUSED(Verify("nodots"), "got 1");
  EXPECT_REFUSED(Verify(""), "token: is empty");
}

TEST_F(JwtTest, RefusesOversizedTokens) {
  json::object c = Claims();
  c["pad"] = std::string(8192, 'x');
  EXPECT_REFUSED(VerifyClaims(c), "more than the 8192 accepted");
  const std::string token = std::string(8193, 'a');
  EXPECT_REFUSED(Verify(token), "token: 8193 bytes, more than the 8192 accepted");
}

TEST_F(JwtTest, RefusesGarbageBase64) {
  const std::string token = Token(Header("RS256", "rsa-1"), Claims(), rsa_);
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  EXPECT_REFUSED(Verify("$$$." + token.substr(dot1 + 1)), "token: the header is not base64url without padding");
  EXPECT_REFUSED(Verify(token.substr(0, dot1 + 1) + "a+b/" + token.substr(dot2)),
                 "token: the payload is not base64url without padding");
  // Padding is refused, always (a 256-byte signature would need "==").
  EXPECT_REFUSED(Verify(token + "=="), "token: the signature is not base64url without padding");
  // A length no encoding has, and leftover bits that are not zero: a value
  // has one encoding only.
  EXPECT_REFUSED(Verify(token.substr(0, dot2 + 1) + "AAAAA"), "token: the signature is not base64url");
  EXPECT_REFUSED(Verify(token.substr(0, dot2 + 1) + "AB"), "token: the signature is not base64url");
  // 256 signature bytes are 342 characters; the last one's low 4 bits are spare.
  std::string last_changed = token;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  last_changed.back() = alphabet[alphabet.find(last_changed.back()) | 1];
  EXPECT_REFUSED(Verify(last_changed), "token: the signature is not base64url");
  // Base64 that is not JSON.
  EXPECT_REFUSED(Verify(Base64Url("{not json") + token.substr(dot1)), "token: the header is not a JSON object");
  EXPECT_REFUSED(Verify(Base64Url("[1]") + token.substr(dot1)), "token: the header is not a JSON object");
  const std::string not_json = Base64Url(json::serialize(Header("RS256", "rsa-1"))) + "." + Base64Url("garbage");
  EXPECT_REFUSED(Verify(not_json + "." + Base64Url(Sign(rsa_, not_json))), "token: the payload is not a JSON object");
}

// RFC 7515 §4.1.11: no `crit` extension is understood, so none is accepted.
TEST_F(JwtTest, RefusesCriticalExtensions) {
  json::object h = Header("RS256", "rsa-1");
  h["crit"] = json::array{"b64"};
  h["b64"] = false;
  EXPECT_REFUSED(Verify(Token(h, Claims(), rsa_)), "header.crit: no extension is supported");
}

// A refusal leaves nothing in OpenSSL's error queue for the thread's next user.
TEST_F(JwtTest, LeavesNoOpenSslErrors) {
  ERR_clear_error();
  EXPECT_FALSE(Verify(Token(Header("RS256", "rsa-1"), Claims(), rsa_other_)).ok());
  EXPECT_FALSE(Verify(Token(Header("ES256", "ec-1"), Claims(), ec_other_)).ok());
  json::object off_curve = EcJwk(ec_, "ec-1");
  off_curve["y"] = Base64Url(std::string(32, '\1'));
  EXPECT_FALSE(JwtVerifier::Create(Jwks({off_curve}), Options()).ok());
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// One verifier, shared by threads.
TEST_F(JwtTest, VerifiesConcurrently) {
  const std::string rs = Token(Header("RS256", "rsa-1"), Claims(), rsa_);
  const std::string es = Token(Header("ES256", "ec-1"), Claims(), ec_);
  const std::string bad = Token(Header("RS256", "rsa-1"), Claims(), rsa_other_);
  const JwtVerifier shared = *verifier_;  // copies share the keys
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!shared.Verify(rs, kNow).ok() || !shared.Verify(es, kNow).ok() || shared.Verify(bad, kNow).ok()) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(JwtParseTest, SplitsAndDecodes) {
  const std::string header = R"({"alg":"ES256","kid":"k"})";
  const std::string token = Base64Url(header) + "." + Base64Url("{}") + "." + Base64Url("sig");
  auto p = ParseJwt(token, 100);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->header_json, header);
  EXPECT_EQ(p->payload_json, "{}");
  EXPECT_EQ(p->signing_input, token.substr(0, token.rfind('.')));
  EXPECT_EQ(p->signature, "sig");
  EXPECT_EQ(p->alg, "ES256");
  EXPECT_EQ(p->kid, "k");
  EXPECT_EQ(ParseJwt(token, token.size() - 1).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseJwt(Base64Url(R"({"kid":"k"})") + ".e30.", 100).status().message(), "header.alg: is required");
  EXPECT_EQ(ParseJwt(Base64Url(R"({"alg":1})") + ".e30.", 100).status().message(), "header.alg: must be a string");
}

TEST_F(JwtTest, CreateRefusesAKeySetWithNoUsableKey) {
  EXPECT_BAD_JWKS(R"({"keys":[]})", "jwks: no usable key among 0");
  json::object enc = RsaJwk(rsa_, "rsa-1");
  enc["use"] = "enc";
  json::object p384{{"kty", "EC"}, {"kid", "p384"}, {"crv", "P-384"}, {"x", "AA"}, {"y", "AA"}};
  EXPECT_BAD_JWKS(Jwks({enc, p384, json::object{{"kty", "oct"}, {"kid", "h"}, {"k", "AA"}}}),
                  "jwks: no usable key among 3; RSA (RS256) or EC P-256 (ES256) signing keys are used");
}

TEST_F(JwtTest, CreateRefusesAKeySetThatIsNotJson) {
  EXPECT_BAD_JWKS("not json", "jwks: not JSON");
  EXPECT_BAD_JWKS("", "jwks: not JSON");
  EXPECT_BAD_JWKS(R"([1,2])", "jwks: must be an object {\"keys\": [...]}");
  EXPECT_BAD_JWKS(R"({"keys":{}})", "jwks: must be an object {\"keys\": [...]}");
  EXPECT_BAD_JWKS(R"({"keys":[1]})", "jwks.keys[0]: must be an object");
}

// A key it would use must be complete and sound.
TEST_F(JwtTest, CreateRefusesMalformedKeys) {
  json::object no_kid = RsaJwk(rsa_, "x");
  no_kid.erase("kid");
  EXPECT_BAD_JWKS(Jwks({EcJwk(ec_, "ec-1"), no_kid}), "jwks.keys[1].kid: is required");
  EXPECT_BAD_JWKS(Jwks({RsaJwk(rsa_, "k"), EcJwk(ec_, "k")}), "jwks.keys[1].kid: 'k' names two keys");
  json::object no_n = RsaJwk(rsa_, "r");
  no_n.erase("n");
  EXPECT_BAD_JWKS(Jwks({no_n}), "jwks.keys[0].n: is required");
  json::object padded = RsaJwk(rsa_, "r");
  padded["e"] = "AQAB==";
  EXPECT_BAD_JWKS(Jwks({padded}), "jwks.keys[0].e: must be base64url without padding");
  json::object even_e = RsaJwk(rsa_, "r");
  even_e["e"] = Base64Url(std::string("\x01\x00\x00", 3));
  EXPECT_BAD_JWKS(Jwks({even_e}), "jwks.keys[0].e: must be an odd exponent of at least 3");
  EVP_PKEY* small = EVP_RSA_gen(1024);
  ASSERT_NE(small, nullptr);
  EXPECT_BAD_JWKS(Jwks({RsaJwk(small, "small")}), "jwks.keys[0].n: a 1024-bit modulus; RS256 keys must have 2048");
  EVP_PKEY_free(small);
  json::object short_x = EcJwk(ec_, "e");
  short_x["x"] = Base64Url(std::string(31, '\1'));
  EXPECT_BAD_JWKS(Jwks({short_x}), "jwks.keys[0].x: a P-256 coordinate is 32 bytes, got 31");
  json::object off_curve = EcJwk(ec_, "e");
  off_curve["y"] = Base64Url(std::string(32, '\1'));
  EXPECT_BAD_JWKS(Jwks({off_curve}), "jwks.keys[0]: not a valid EC public key");
  EXPECT_BAD_JWKS(R"({"keys":[{"kid":"a","n":"AQAB"}]})", "jwks.keys[0].kty: is required");
  EXPECT_BAD_JWKS(R"({"keys":[{"kty":"EC","kid":"a"}]})", "jwks.keys[0].crv: is required for an EC key");
  EXPECT_BAD_JWKS(R"({"keys":[{"kty":"RSA","use":1}]})", "jwks.keys[0].use: must be a string");
}

TEST_F(JwtTest, CreateRefusesBadOptions) {
  const auto code_and_message = [&](JwtOptions o) {
    absl::Status s = JwtVerifier::Create(jwks_, std::move(o)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };
  JwtOptions o = Options();
  o.issuer.clear();
  EXPECT_EQ(code_and_message(o), "issuer: is required");
  o = Options();
  o.audience.clear();
  EXPECT_EQ(code_and_message(o), "audience: is required");
  o = Options();
  o.clock_skew = std::chrono::seconds(-1);
  EXPECT_EQ(code_and_message(o), "clock_skew: must be 0 to 3600 s, got -1 s");
  o = Options();
  o.member_claim.clear();
  EXPECT_EQ(code_and_message(o), "member_claim: is required");
}

}  // namespace
}  // namespace loyalty::auth
