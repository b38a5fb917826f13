#include "services/common/fingerprint.h"

#include <cassert>
#include <initializer_list>
#include <memory>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "storage/store.h"

namespace loyalty {

namespace {

// SHA-256 over the concatenation of `parts`, 32 raw bytes. OpenSSL 3's
// one-shot SHA256() looks the algorithm up by name on every call: under
// callgrind that lookup cost more than hashing a sale (docs/BENCHMARKS.md).
// The algorithm is fetched once and each thread keeps one digest context.
std::string Sha256Of(std::initializer_list<std::string_view> parts) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  assert(sha256 != nullptr && ctx != nullptr);
  int ok = EVP_DigestInit_ex(ctx.get(), sha256, nullptr);
  for (std::string_view part : parts) ok &= EVP_DigestUpdate(ctx.get(), part.data(), part.size());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int length = 0;
  ok &= EVP_DigestFinal_ex(ctx.get(), digest, &length);
  assert(ok == 1 && length == sizeof(digest));
  (void)ok;
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace

std::string Sha256(std::string_view data) { return Sha256Of({data}); }

std::string Sha256Hex(std::string_view data) { return absl::BytesToHexString(Sha256(data)); }

std::string DeterministicBytes(const google::protobuf::Message& m) {
  std::string bytes;
  storage::AppendDeterministicBytes(m, bytes);
  return bytes;
}

std::string Fingerprint(std::string_view tag, const google::protobuf::Message& m) {
  // The tag, a NUL, then the message's bytes, as one hashed stream.
  return Sha256Of({tag, std::string_view("\0", 1), DeterministicBytes(m)});
}

}  // namespace loyalty
