// bench/workload.h: what the load generator sends: members with
// heavy-tailed visit frequencies and home stores, a catalogue, baskets of
// 1..10 lines, sales, returns and member enrollments.
//
// Every thread draws from its own random stream (Rng()); everything about a
// member (visit weight, home store, identifiers) is a pure function of its
// index, so separate loadgen runs against one server agree on the members.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "loyalty/v1/admin.pb.h"
#include "loyalty/v1/pos.pb.h"

namespace loyalty::bench {

struct WorkloadOptions {
  int members = 10000;
  int stores = 20;
  int terminals_per_store = 3;
  double anonymous_share = 0.05;  // of sales: no member identified
  std::string run_id;             // prefix of every transaction id of this run
  uint64_t seed = 1;
};

// The thread's random stream (seeded from the workload seed and a thread counter).
std::mt19937_64& Rng();
bool Chance(double probability);
int UniformInt(int min, int max);

class Workload {
 public:
  explicit Workload(const WorkloadOptions& options);

  const WorkloadOptions& options() const { return options_; }

  // A member index in [0, members), weighted by visit frequency (lognormal,
  // sigma 1.2: a few members come very often, most rarely).
  int PickMember() const;
  int HomeStore(int member) const;   // 1..stores
  int PickStore(int member) const;   // the home store 80% of the time
  int PickTerminal() const;          // 1..terminals_per_store

  static std::string MemberId(int member);  // "bm-0000042"
  static std::string Card(int member);      // 16 digits
  static std::string Phone(int member);     // E.164
  static std::string StoreId(int store);    // "store-7"
  static std::string TerminalId(int terminal);  // "t-2"

  v1::EnrollMemberRequest Enrollment(int member) const;
  // By card (70%), member id (20%) or phone (10%).
  void Identify(int member, v1::MemberIdentifier* out) const;

  // 1..10 lines (mostly small baskets). With `discounted` the basket may
  // hold lines of the "deli" category, which the benchmark program
  // discounts (so the total to pay is only known after EvaluateBasket).
  // Returns the sum of line net amounts.
  int64_t FillBasket(bool discounted, google::protobuf::RepeatedPtrField<v1::LineItem>* lines) const;

  std::string NextTransactionId();

  // A sale at `store` (member < 0: anonymous), occurred `seconds_ago` ago,
  // total = net (no loyalty discounts: baskets without "deli"), paid by card.
  v1::Sale MakeSale(int store, int member, int64_t seconds_ago);
  // A return of one unit of line 0 of `original`.
  v1::Return MakeReturn(int store, const v1::TransactionRef& original, int64_t seconds_ago);

  static void SetTimestamp(int64_t seconds_ago, google::protobuf::Timestamp* out);

 private:
  WorkloadOptions options_;
  std::vector<double> cumulative_weight_;
  std::atomic<uint64_t> next_txn_{0};
};

}  // namespace loyalty::bench
