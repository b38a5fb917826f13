// Unit tests of content fingerprints and deterministic encoding
// (services/common/fingerprint.h, storage::AppendDeterministicBytes): the
// digests are SHA-256 (known vectors), a fingerprint is the hash of the tag,
// a NUL and the deterministic bytes (idempotency records already stored
// depend on that), map fields encode the same whatever their insertion
// order, and hashing from several threads at once agrees with one thread.
#include "services/common/fingerprint.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "loyalty/internal/records.pb.h"
#include "loyalty/v1/pos.pb.h"
#include "storage/store.h"

namespace loyalty {
namespace {

std::string Hex(const std::string& raw) { return absl::BytesToHexString(raw); }

TEST(FingerprintTest, Sha256KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256("abc")), Sha256Hex("abc"));
  EXPECT_EQ(Sha256("abc").size(), 32u);
}

v1::Sale ASale() {
  v1::Sale sale;
  sale.mutable_ref()->set_store_id("s1");
  sale.mutable_ref()->set_terminal_id("t1");
  sale.mutable_ref()->set_transaction_id("x-42");
  sale.set_total_minor(1234);
  auto* line = sale.add_lines();
  line->set_sku("coffee");
  line->set_quantity(2);
  return sale;
}

TEST(FingerprintTest, IsTheHashOfTagNulAndDeterministicBytes) {
  const v1::Sale sale = ASale();
  std::string expected_input("sale");
  expected_input.push_back('\0');
  expected_input += DeterministicBytes(sale);
  EXPECT_EQ(Fingerprint("sale", sale), Sha256(expected_input));
  // Stored idempotency records hold fingerprints: they must not change
  // between versions (this value was computed by the code before this test).
  EXPECT_EQ(Hex(Fingerprint("sale", sale)), "63bc0c7935d46eec6ae46bd146a8c26a2e5b4758cea8105b5947fecca153527b");
  // The tag matters, and so does every field.
  EXPECT_NE(Fingerprint("sale", sale), Fingerprint("return", sale));
  v1::Sale other = sale;
  other.set_total_minor(1235);
  EXPECT_NE(Fingerprint("sale", sale), Fingerprint("sale", other));
}

TEST(FingerprintTest, DeterministicBytesParseBackAndAppend) {
  const v1::Sale sale = ASale();
  const std::string bytes = DeterministicBytes(sale);
  v1::Sale parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(parsed.ref().transaction_id(), "x-42");
  EXPECT_EQ(parsed.total_minor(), 1234);
  EXPECT_EQ(bytes.size(), sale.ByteSizeLong());
  // Appends after what the string held.
  std::string out = "prefix";
  storage::AppendDeterministicBytes(sale, out);
  EXPECT_EQ(out, "prefix" + bytes);
  // An empty message is no bytes.
  std::string empty;
  storage::AppendDeterministicBytes(v1::Sale(), empty);
  EXPECT_TRUE(empty.empty());
}

TEST(FingerprintTest, MapFieldsEncodeTheSameInAnyInsertionOrder) {
  internal::MemberEngineState a;
  internal::MemberEngineState b;
  const std::vector<std::string> ids = {"zeta", "alpha", "mid", "beta", "omega", "kappa"};
  for (size_t i = 0; i < ids.size(); ++i) (*a.mutable_offer_uses())[ids[i]] = static_cast<int32_t>(i);
  for (size_t i = ids.size(); i-- > 0;) (*b.mutable_offer_uses())[ids[i]] = static_cast<int32_t>(i);
  EXPECT_EQ(DeterministicBytes(a), DeterministicBytes(b));
  EXPECT_EQ(Fingerprint("state", a), Fingerprint("state", b));
  (*b.mutable_offer_uses())["alpha"] = 99;
  EXPECT_NE(DeterministicBytes(a), DeterministicBytes(b));
}

// Each thread keeps its own digest context: concurrent hashing agrees with
// hashing on one thread.
TEST(FingerprintTest, ConcurrentHashingAgrees) {
  std::vector<std::string> inputs;
  std::vector<std::string> expected;
  for (int i = 0; i < 64; ++i) {
    inputs.push_back(std::string(static_cast<size_t>(i) * 37, static_cast<char>('a' + i % 26)));
    expected.push_back(Sha256(inputs.back()));
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        for (size_t i = 0; i < inputs.size(); ++i) {
          if (Sha256(inputs[i]) != expected[i]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace loyalty
