// bench/loadgen.cc: a load generator for loyaltyd over the real gRPC API.
//
//   loadgen --target 127.0.0.1:50051 --admin-token T --terminal-token-prefix P
//           --scenario sale|backlog|evaluate|member-read|checkout (health and
//           backlog-empty: the transport's own cost, unary and streamed)
//           --mode closed --concurrency 64 --duration-s 20
//   loadgen ... --mode open --rate 5000 --duration-s 20
//
// Closed loop: N callers, each starts its next call when the previous one
// finishes. Open loop: one scheduler starts call i at start + i/rate, whether
// or not earlier calls have finished, and latency is measured from that
// intended start (no coordinated omission). Both use gRPC's callback client
// API, so no thread waits on a call.
//
// It enrolls the members it needs first (--members, AdminService.EnrollMember,
// concurrently; --skip-enroll when an earlier run did), then runs the
// scenario, then prints per operation: count, errors, throughput and latency
// percentiles, and one machine-readable line per operation:
//
//   RESULT scenario=sale mode=closed concurrency=64 rate=0 op=RecordSale ok=... errors=...
//          ops_per_s=... items_per_s=... p50_us=... p99_us=... p999_us=... max_us=... mean_us=...
//
// Exit code: 0 when every operation had successful calls and errors stayed
// at or below --max-error-share; 1 otherwise; 2 for bad flags.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "base/str_cat.h"
#include "bench/histogram.h"
#include "bench/workload.h"
#include "loyalty/v1/admin.grpc.pb.h"
#include "loyalty/v1/member.grpc.pb.h"
#include "loyalty/v1/pos.grpc.pb.h"

namespace loyalty::bench {
namespace {

namespace v1 = loyalty::v1;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- options

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string mode = "closed";
  std::string scenario = "sale";
  int concurrency = 16;
  double rate = 1000;
  double duration_s = 10;
  double warmup_s = 1;
  int members = 10000;
  int stores = 20;
  int terminals_per_store = 3;
  std::string admin_token;
  std::string terminal_token_prefix;
  int channels = 4;
  double return_share = 0.05;
  double anonymous_share = 0.05;
  int backlog_min = 1000;
  int backlog_max = 10000;
  int64_t max_events = 0;           // backlog: stop after sending this many events (0: no limit)
  double backlog_spread_days = 0;   // backlog: event times over the last N days (0: last 4 hours)
  double list_offers_share = 0.25;
  int max_inflight = 50000;
  int deadline_ms = 30000;
  uint64_t seed = 0;
  std::string run_id;
  int enroll_concurrency = 64;
  bool skip_enroll = false;
  double max_error_share = 0.01;
  int server_pid = 0;
  std::string label;
};

void Usage() {
  std::cerr <<
      R"(usage: loadgen --admin-token T --terminal-token-prefix P [flags]
  --target HOST:PORT            loyaltyd (default 127.0.0.1:50051)
  --scenario S                  sale | backlog | evaluate | member-read | checkout
                                | health (empty gRPC call: the baseline cost of one call)
                                | backlog-empty (UploadBacklog streams of empty events, each
                                  rejected unrouted: the baseline cost of one streamed event)
  --mode closed|open            closed loop (--concurrency) or open loop (--rate)
  --concurrency N               closed loop callers (default 16)
  --rate R                      open loop: calls (backlog: streams) started per second
  --duration-s S                measured run time (default 10)
  --warmup-s S                  not measured, before the run (default 1)
  --members N                   members to enroll and use (default 10000)
  --skip-enroll                 the members are already enrolled
  --enroll-concurrency N        concurrent EnrollMember calls (default 64)
  --stores N                    stores store-1..store-N (default 20)
  --terminals-per-store N       terminals t-1..t-N (default 3)
  --admin-token T               admin credential
  --terminal-token-prefix P     the terminal credential of store-K is P followed by K
  --channels N                  gRPC connections (default 4)
  --return-share X              sale: share of calls that are returns (default 0.05)
  --anonymous-share X           sale/backlog: sales without a member (default 0.05)
  --backlog-min N --backlog-max N  events per UploadBacklog stream (default 1000..10000)
  --max-events N                backlog: stop once N events were sent (the run then ends
                                when the last stream is answered; for loading a large program)
  --backlog-spread-days D       backlog: event times spread over the last D days (default:
                                the last 4 hours, a terminal coming back after an outage)
  --list-offers-share X         member-read: share of ListOffers calls (default 0.25)
  --max-inflight N              open loop: calls in flight before the generator counts a drop
  --deadline-ms N               per call (default 30000; backlog streams get 4x)
  --seed N --run-id ID          randomness and transaction id prefix (default: from time and pid)
  --max-error-share X           exit 1 above this share of failed calls (default 0.01)
  --server-pid PID              also report loyaltyd's CPU use over the run (from /proc)
  --label TEXT                  added to the RESULT lines
)";
}

bool ParseOptions(int argc, char** argv, Options& o) {
  std::map<std::string, std::function<bool(const std::string&)>> with_value = {
      {"--target", [&](const std::string& v) { o.target = v; return true; }},
      {"--mode", [&](const std::string& v) { o.mode = v; return v == "closed" || v == "open"; }},
      {"--scenario", [&](const std::string& v) { o.scenario = v; return true; }},
      {"--concurrency", [&](const std::string& v) { o.concurrency = std::stoi(v); return o.concurrency > 0; }},
      {"--rate", [&](const std::string& v) { o.rate = std::stod(v); return o.rate > 0; }},
      {"--duration-s", [&](const std::string& v) { o.duration_s = std::stod(v); return o.duration_s > 0; }},
      {"--warmup-s", [&](const std::string& v) { o.warmup_s = std::stod(v); return o.warmup_s >= 0; }},
      {"--members", [&](const std::string& v) { o.members = std::stoi(v); return o.members > 0; }},
      {"--enroll-concurrency", [&](const std::string& v) { o.enroll_concurrency = std::stoi(v); return o.enroll_concurrency > 0; }},
      {"--stores", [&](const std::string& v) { o.stores = std::stoi(v); return o.stores > 0; }},
      {"--terminals-per-store", [&](const std::string& v) { o.terminals_per_store = std::stoi(v); return o.terminals_per_store > 0; }},
      {"--admin-token", [&](const std::string& v) { o.admin_token = v; return true; }},
      {"--terminal-token-prefix", [&](const std::string& v) { o.terminal_token_prefix = v; return true; }},
      {"--channels", [&](const std::string& v) { o.channels = std::stoi(v); return o.channels > 0; }},
      {"--return-share", [&](const std::string& v) { o.return_share = std::stod(v); return true; }},
      {"--anonymous-share", [&](const std::string& v) { o.anonymous_share = std::stod(v); return true; }},
      {"--backlog-min", [&](const std::string& v) { o.backlog_min = std::stoi(v); return o.backlog_min > 0; }},
      {"--backlog-max", [&](const std::string& v) { o.backlog_max = std::stoi(v); return o.backlog_max > 0; }},
      {"--max-events", [&](const std::string& v) { o.max_events = std::stoll(v); return o.max_events >= 0; }},
      {"--backlog-spread-days", [&](const std::string& v) { o.backlog_spread_days = std::stod(v); return o.backlog_spread_days >= 0 && o.backlog_spread_days <= 390; }},
      {"--list-offers-share", [&](const std::string& v) { o.list_offers_share = std::stod(v); return true; }},
      {"--max-inflight", [&](const std::string& v) { o.max_inflight = std::stoi(v); return o.max_inflight > 0; }},
      {"--deadline-ms", [&](const std::string& v) { o.deadline_ms = std::stoi(v); return o.deadline_ms > 0; }},
      {"--seed", [&](const std::string& v) { o.seed = std::stoull(v); return true; }},
      {"--run-id", [&](const std::string& v) { o.run_id = v; return !v.empty(); }},
      {"--max-error-share", [&](const std::string& v) { o.max_error_share = std::stod(v); return true; }},
      {"--server-pid", [&](const std::string& v) { o.server_pid = std::stoi(v); return true; }},
      {"--label", [&](const std::string& v) { o.label = v; return true; }},
  };
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") return false;
    if (flag == "--skip-enroll") {
      o.skip_enroll = true;
      continue;
    }
    std::string value;
    const auto eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::cerr << "loadgen: " << flag << " needs a value\n";
      return false;
    }
    const auto it = with_value.find(flag);
    if (it == with_value.end()) {
      std::cerr << "loadgen: unknown flag " << flag << "\n";
      return false;
    }
    bool ok = false;
    try {
      ok = it->second(value);
    } catch (const std::exception&) {
      ok = false;
    }
    if (!ok) {
      std::cerr << "loadgen: bad value for " << flag << ": " << value << "\n";
      return false;
    }
  }
  static const char* kScenarios[] = {"sale", "backlog", "evaluate", "member-read", "checkout", "health",
                                     "backlog-empty"};
  if (std::find(std::begin(kScenarios), std::end(kScenarios), o.scenario) == std::end(kScenarios)) {
    std::cerr << "loadgen: unknown --scenario " << o.scenario << "\n";
    return false;
  }
  if (o.admin_token.empty() || o.terminal_token_prefix.empty()) {
    std::cerr << "loadgen: --admin-token and --terminal-token-prefix are required\n";
    return false;
  }
  if (o.backlog_max < o.backlog_min || o.backlog_max > 10000) {
    std::cerr << "loadgen: need --backlog-min <= --backlog-max <= 10000\n";
    return false;
  }
  if (o.seed == 0) o.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^ getpid();
  if (o.run_id.empty()) {
    // Unique per run, so transaction ids never repeat on one server.
    o.run_id = loyalty::StrCat("lg", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count(),
                               "p", getpid());
  }
  return true;
}

// ------------------------------------------------------------ statistics

const char* CodeName(int code) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                 "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                 "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  if (code >= 0 && code < 17) return kNames[code];
  if (code == 17) return "GENERATOR_DROPPED";
  return "?";
}

struct OpStats {
  explicit OpStats(std::string n) : name(std::move(n)) {
    for (auto& e : errors) e.store(0);
  }
  std::string name;
  LogHistogram latency;  // ns, successful calls only
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> items{0};  // backlog: events accepted
  std::array<std::atomic<uint64_t>, 18> errors;  // by status code; 17: dropped by the generator
  std::mutex mu;
  std::string first_error;

  uint64_t ErrorCount() const {
    uint64_t n = 0;
    for (const auto& e : errors) n += e.load();
    return n;
  }
};

class Recorder {
 public:
  OpStats* Add(const std::string& name) {
    ops_.push_back(std::make_unique<OpStats>(name));
    return ops_.back().get();
  }
  void SetWindow(Clock::time_point from, Clock::time_point to) {
    from_ = from;
    to_ = to;
  }
  bool Measured(Clock::time_point intended) const { return intended >= from_ && intended < to_; }
  // The run ended before its planned end (--max-events): the window ends now.
  void EndWindowAt(Clock::time_point t) { to_ = std::min(to_, t); }

  // A finished call that was meant to start at `intended`.
  void Record(OpStats* op, Clock::time_point intended, const grpc::Status& status, uint64_t items = 1) {
    if (!Measured(intended)) return;
    const auto now = Clock::now();
    NoteCompletion(now);
    if (status.ok()) {
      op->latency.Record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - intended).count()));
      op->ok.fetch_add(1, std::memory_order_relaxed);
      op->items.fetch_add(items, std::memory_order_relaxed);
      return;
    }
    RecordError(op, intended, status.error_code(), status.error_message());
  }
  void RecordError(OpStats* op, Clock::time_point intended, int code, const std::string& message) {
    if (!Measured(intended)) return;
    if (code != 17) NoteCompletion(Clock::now());
    op->errors[std::min(code, 17)].fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(op->mu);
    if (op->first_error.empty()) op->first_error = loyalty::StrCat(CodeName(code), ": ", message);
  }

  const std::vector<std::unique_ptr<OpStats>>& ops() const { return ops_; }
  // Calls are measured when they start in [from, to); throughput divides
  // their count by the time from `from` until the last of them finished (at
  // least to - from), so long calls (backlog streams) that end after `to`
  // count fully, and an open loop the server cannot keep up with shows a
  // rate below the offered one.
  double WindowSeconds() const {
    const auto last = Clock::time_point(Clock::duration(last_completion_.load()));
    return std::chrono::duration<double>(std::max(to_, last) - from_).count();
  }

  void NoteCompletion(Clock::time_point now) {
    const int64_t t = now.time_since_epoch().count();
    int64_t seen = last_completion_.load(std::memory_order_relaxed);
    while (t > seen && !last_completion_.compare_exchange_weak(seen, t, std::memory_order_relaxed)) {
    }
  }

 private:
  std::vector<std::unique_ptr<OpStats>> ops_;
  Clock::time_point from_ = Clock::time_point::max();
  Clock::time_point to_ = Clock::time_point::max();
  std::atomic<int64_t> last_completion_{0};
};

// ---------------------------------------------------------------- clients

struct Clients {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::PosService::Stub>> pos;
  std::vector<std::unique_ptr<v1::MemberService::Stub>> member;
  std::vector<std::unique_ptr<v1::AdminService::Stub>> admin;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic;
  std::atomic<uint64_t> next{0};

  size_t Pick() { return next.fetch_add(1, std::memory_order_relaxed) % channels.size(); }
};

bool Connect(const Options& o, Clients& clients) {
  for (int i = 0; i < o.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one connection per channel
    args.SetInt("loadgen.channel_index", i);
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    auto channel = grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
      std::cerr << "loadgen: cannot connect to " << o.target << "\n";
      return false;
    }
    clients.pos.push_back(v1::PosService::NewStub(channel));
    clients.member.push_back(v1::MemberService::NewStub(channel));
    clients.admin.push_back(v1::AdminService::NewStub(channel));
    clients.generic.push_back(std::make_unique<grpc::GenericStub>(channel));
    clients.channels.push_back(std::move(channel));
  }
  return true;
}

// ---------------------------------------------------------------- scenarios

using Done = std::function<void()>;

class Scenario {
 public:
  Scenario(const Options& o, Clients& c, Workload& w, Recorder& r) : o_(o), clients_(c), work_(w), rec_(r) {}
  virtual ~Scenario() = default;
  // Starts one unit of work meant to start at `intended`; calls `done` once
  // it has finished (on a gRPC thread).
  virtual void Start(Clock::time_point intended, Done done) = 0;
  // The operation whose count is the scenario's throughput.
  virtual OpStats* Main() const = 0;
  // No more work to start (--max-events reached): closed-loop callers stop.
  virtual bool Exhausted() const { return false; }

 protected:
  template <class Call>
  void Prepare(Call* call, const std::string& token, int deadline_ms = 0) {
    call->ctx.AddMetadata("authorization", "Bearer " + token);
    call->ctx.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(deadline_ms > 0 ? deadline_ms : o_.deadline_ms));
  }
  std::string TerminalToken(int store) const { return loyalty::StrCat(o_.terminal_token_prefix, store); }

  const Options& o_;
  Clients& clients_;
  Workload& work_;
  Recorder& rec_;
};

template <class Req, class Resp>
struct Unary {
  grpc::ClientContext ctx;
  Req req;
  Resp resp;
};

// --- sale: durable RecordSale, with a share of returns of earlier sales.
class SaleScenario : public Scenario {
 public:
  SaleScenario(const Options& o, Clients& c, Workload& w, Recorder& r) : Scenario(o, c, w, r) {
    sale_ = r.Add("RecordSale");
    return_ = r.Add("RecordReturn");
  }
  OpStats* Main() const override { return sale_; }

  void Start(Clock::time_point intended, Done done) override {
    if (Chance(o_.return_share)) {
      std::optional<std::pair<int, v1::TransactionRef>> original;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!recorded_.empty()) {
          // Mostly recent sales, sometimes older ones.
          const size_t back = std::min<size_t>(recorded_.size() - 1, static_cast<size_t>(UniformInt(0, 200)));
          const auto it = recorded_.end() - 1 - static_cast<std::ptrdiff_t>(back);
          original = std::move(*it);
          recorded_.erase(it);
        }
      }
      if (original) {
        StartReturn(intended, original->first, original->second, std::move(done));
        return;
      }
    }
    const int member = Chance(o_.anonymous_share) ? -1 : work_.PickMember();
    const int store = work_.PickStore(member);
    auto* call = new Unary<v1::RecordSaleRequest, v1::EventOutcome>;
    *call->req.mutable_sale() = work_.MakeSale(store, member, 0);
    Prepare(call, TerminalToken(store));
    clients_.pos[clients_.Pick()]->async()->RecordSale(
        &call->ctx, &call->req, &call->resp, [this, call, intended, store, done](grpc::Status status) {
          rec_.Record(sale_, intended, status);
          if (status.ok()) {
            std::lock_guard<std::mutex> lock(mu_);
            recorded_.emplace_back(store, call->req.sale().ref());
            if (recorded_.size() > 100000) recorded_.pop_front();
          }
          delete call;
          done();
        });
  }

 private:
  void StartReturn(Clock::time_point intended, int store, const v1::TransactionRef& original, Done done) {
    auto* call = new Unary<v1::RecordReturnRequest, v1::EventOutcome>;
    *call->req.mutable_return_() = work_.MakeReturn(store, original, 0);
    Prepare(call, TerminalToken(store));
    clients_.pos[clients_.Pick()]->async()->RecordReturn(
        &call->ctx, &call->req, &call->resp, [this, call, intended, done](grpc::Status status) {
          rec_.Record(return_, intended, status);
          delete call;
          done();
        });
  }

  OpStats* sale_;
  OpStats* return_;
  std::mutex mu_;
  std::deque<std::pair<int, v1::TransactionRef>> recorded_;
};

// --- backlog: UploadBacklog client streams of backlog_min..backlog_max events.
// backlog-empty: the same streams of empty events, which the server answers
// "one of sale, return or void is required" without routing or storing them:
// what the transport costs per streamed event (the streaming twin of health).
class BacklogScenario;

class BacklogStream : public grpc::ClientWriteReactor<v1::BacklogEvent> {
 public:
  BacklogStream(BacklogScenario* owner, Clock::time_point intended, Done done, std::vector<v1::BacklogEvent> events)
      : owner_(owner), intended_(intended), done_(std::move(done)), events_(std::move(events)) {}

  grpc::ClientContext ctx;
  v1::BacklogResult result;

  void Begin() {
    NextWrite();
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return;  // the stream is broken; OnDone tells why
    NextWrite();
  }
  void OnDone(const grpc::Status& status) override;

 private:
  // Every event but the last with gRPC's buffer hint, as a terminal
  // uploading its backlog would: gRPC then buffers events until its
  // per-stream write buffer fills or a write without the hint comes, and
  // sends them in one write instead of a syscall per event (gRPC's C++
  // performance notes). Measured with
  // --scenario backlog-empty: 78-106K empty events/s without the hint,
  // 237-257K/s with it (docs/BENCHMARKS.md). The last write flushes.
  void NextWrite() {
    if (next_ + 1 == events_.size()) {
      StartWriteLast(&events_[next_++], grpc::WriteOptions());
    } else if (next_ < events_.size()) {
      StartWrite(&events_[next_++], grpc::WriteOptions().set_buffer_hint());
    }
  }

  BacklogScenario* owner_;
  Clock::time_point intended_;
  Done done_;
  std::vector<v1::BacklogEvent> events_;
  size_t next_ = 0;
};

class BacklogScenario : public Scenario {
 public:
  BacklogScenario(const Options& o, Clients& c, Workload& w, Recorder& r, bool empty_events)
      : Scenario(o, c, w, r), empty_events_(empty_events) {
    stream_ = r.Add("UploadBacklog");
    events_ = r.Add(empty_events ? "empty-backlog-event" : "backlog-event");
  }
  OpStats* Main() const override { return stream_; }

  bool Exhausted() const override { return o_.max_events > 0 && sent_.load() >= o_.max_events; }

  void Start(Clock::time_point intended, Done done) override {
    // One store's terminal comes back online with what it collected offline:
    // sales over the last hours (or --backlog-spread-days) and returns of some of them.
    const int store = UniformInt(1, o_.stores);
    int count = UniformInt(o_.backlog_min, o_.backlog_max);
    if (o_.max_events > 0) {
      const int64_t before = sent_.fetch_add(count);
      if (before >= o_.max_events) {
        done();
        return;
      }
      count = static_cast<int>(std::min<int64_t>(count, o_.max_events - before));
    }
    const int64_t span_s = o_.backlog_spread_days > 0 ? static_cast<int64_t>(o_.backlog_spread_days * 86400) : 4 * 3600;
    // A spread-out backlog is a stretch of the program's history: each stream
    // covers a random stretch of up to a day, so time moves on across streams.
    const int64_t end_ago = o_.backlog_spread_days > 0 ? UniformInt(0, static_cast<int>(span_s - std::min<int64_t>(span_s, 86400))) : 0;
    const int64_t stream_span_s = std::min<int64_t>(span_s, o_.backlog_spread_days > 0 ? 86400 : span_s);
    std::vector<v1::BacklogEvent> events(static_cast<size_t>(count));
    std::vector<int> sales;
    for (int i = 0; i < count && !empty_events_; ++i) {
      const int64_t ago = end_ago + stream_span_s - static_cast<int64_t>(i) * stream_span_s / count;
      if (!sales.empty() && Chance(o_.return_share)) {
        const size_t pick = static_cast<size_t>(UniformInt(0, static_cast<int>(sales.size()) - 1));
        const int s = sales[pick];
        sales.erase(sales.begin() + static_cast<std::ptrdiff_t>(pick));
        *events[i].mutable_return_() = work_.MakeReturn(store, events[s].sale().ref(), ago);
        continue;
      }
      int member = Chance(o_.anonymous_share) ? -1 : work_.PickMember();
      *events[i].mutable_sale() = work_.MakeSale(store, member, ago);
      sales.push_back(i);
    }
    auto* stream = new BacklogStream(this, intended, std::move(done), std::move(events));
    Prepare(stream, TerminalToken(store), o_.deadline_ms * 4);
    clients_.pos[clients_.Pick()]->async()->UploadBacklog(&stream->ctx, &stream->result, stream);
    stream->Begin();
  }

  void Finished(Clock::time_point intended, const grpc::Status& status, const v1::BacklogResult& result) {
    if (empty_events_) {
      FinishedEmpty(intended, status, result);
      return;
    }
    rec_.Record(stream_, intended, status, result.accepted());
    if (!status.ok() || !rec_.Measured(intended)) return;
    // Per-event outcomes: accepted events count as items of backlog-event
    // (its latency is the stream's); rejected ones as its errors.
    events_->items.fetch_add(result.accepted(), std::memory_order_relaxed);
    events_->ok.fetch_add(result.accepted(), std::memory_order_relaxed);
    if (result.rejected() > 0) {
      for (const auto& r : result.results()) {
        if (r.code() != 0) rec_.RecordError(events_, intended, r.code(), r.message());
      }
    }
  }

 private:
  // Every empty event must come back rejected as INVALID_ARGUMENT; those
  // are the items. An accepted one, or another code, is an error.
  void FinishedEmpty(Clock::time_point intended, const grpc::Status& status, const v1::BacklogResult& result) {
    uint64_t rejected_as_expected = 0;
    for (const auto& r : result.results()) {
      if (r.code() == static_cast<int32_t>(grpc::StatusCode::INVALID_ARGUMENT)) ++rejected_as_expected;
    }
    rec_.Record(stream_, intended, status, rejected_as_expected);
    if (!status.ok() || !rec_.Measured(intended)) return;
    events_->items.fetch_add(rejected_as_expected, std::memory_order_relaxed);
    events_->ok.fetch_add(rejected_as_expected, std::memory_order_relaxed);
    if (rejected_as_expected != static_cast<uint64_t>(result.results_size())) {
      rec_.RecordError(events_, intended, static_cast<int>(grpc::StatusCode::INTERNAL),
                       "an empty backlog event was not rejected as INVALID_ARGUMENT");
    }
  }

  const bool empty_events_;
  OpStats* stream_;
  OpStats* events_;
  std::atomic<int64_t> sent_{0};
};

void BacklogStream::OnDone(const grpc::Status& status) {
  owner_->Finished(intended_, status, result);
  Done done = std::move(done_);
  delete this;
  done();
}

// --- evaluate: EvaluateBasket (read-only).
class EvaluateScenario : public Scenario {
 public:
  EvaluateScenario(const Options& o, Clients& c, Workload& w, Recorder& r) : Scenario(o, c, w, r) {
    op_ = r.Add("EvaluateBasket");
  }
  OpStats* Main() const override { return op_; }

  void Start(Clock::time_point intended, Done done) override {
    const int member = work_.PickMember();
    const int store = work_.PickStore(member);
    auto* call = new Unary<v1::EvaluateBasketRequest, v1::BasketEvaluation>;
    call->req.set_store_id(Workload::StoreId(store));
    work_.Identify(member, call->req.mutable_member());
    call->req.set_currency("EUR");
    work_.FillBasket(true, call->req.mutable_lines());
    Prepare(call, TerminalToken(store));
    clients_.pos[clients_.Pick()]->async()->EvaluateBasket(
        &call->ctx, &call->req, &call->resp, [this, call, intended, done](grpc::Status status) {
          rec_.Record(op_, intended, status);
          delete call;
          done();
        });
  }

 private:
  OpStats* op_;
};

// --- member-read: MemberService.GetMember, and ListOffers (admin token).
class MemberReadScenario : public Scenario {
 public:
  MemberReadScenario(const Options& o, Clients& c, Workload& w, Recorder& r) : Scenario(o, c, w, r) {
    get_ = r.Add("GetMember");
    offers_ = r.Add("ListOffers");
    all_ = r.Add("member-read");
  }
  OpStats* Main() const override { return all_; }

  void Start(Clock::time_point intended, Done done) override {
    const int member = work_.PickMember();
    if (Chance(o_.list_offers_share)) {
      auto* call = new Unary<v1::ListOffersRequest, v1::ListOffersResponse>;
      call->req.set_member_id(Workload::MemberId(member));
      Prepare(call, o_.admin_token);
      clients_.member[clients_.Pick()]->async()->ListOffers(
          &call->ctx, &call->req, &call->resp, [this, call, intended, done](grpc::Status status) {
            rec_.Record(offers_, intended, status);
            rec_.Record(all_, intended, status);
            delete call;
            done();
          });
      return;
    }
    auto* call = new Unary<v1::GetMemberRequest, v1::MemberView>;
    call->req.set_member_id(Workload::MemberId(member));
    Prepare(call, o_.admin_token);
    clients_.member[clients_.Pick()]->async()->GetMember(
        &call->ctx, &call->req, &call->resp, [this, call, intended, done](grpc::Status status) {
          rec_.Record(get_, intended, status);
          rec_.Record(all_, intended, status);
          delete call;
          done();
        });
  }

 private:
  OpStats* get_;
  OpStats* offers_;
  OpStats* all_;
};

// --- checkout: EvaluateBasket, then RecordSale paying total_to_pay_minor.
class CheckoutScenario : public Scenario {
 public:
  CheckoutScenario(const Options& o, Clients& c, Workload& w, Recorder& r) : Scenario(o, c, w, r) {
    eval_ = r.Add("EvaluateBasket");
    sale_ = r.Add("RecordSale");
    checkout_ = r.Add("checkout");
    busy_ = std::make_unique<std::atomic<bool>[]>(static_cast<size_t>(o.members));
    for (int m = 0; m < o.members; ++m) busy_[m].store(false);
  }
  OpStats* Main() const override { return checkout_; }

  void Start(Clock::time_point intended, Done done) override {
    // A member stands at one till at a time: between EvaluateBasket and
    // RecordSale nothing else changes their offers (punch cards, limits).
    int member = work_.PickMember();
    bool claimed = false;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      if (!busy_[member].exchange(true)) {
        claimed = true;
        break;
      }
      member = attempt < 20 ? work_.PickMember() : UniformInt(0, o_.members - 1);
    }
    if (claimed) {
      done = [this, member, done = std::move(done)] {
        busy_[member].store(false);
        done();
      };
    }
    const int store = work_.PickStore(member);
    auto* call = new Unary<v1::EvaluateBasketRequest, v1::BasketEvaluation>;
    call->req.set_store_id(Workload::StoreId(store));
    work_.Identify(member, call->req.mutable_member());
    call->req.set_currency("EUR");
    work_.FillBasket(true, call->req.mutable_lines());
    Prepare(call, TerminalToken(store));
    clients_.pos[clients_.Pick()]->async()->EvaluateBasket(
        &call->ctx, &call->req, &call->resp, [this, call, intended, store, done](grpc::Status status) {
          rec_.Record(eval_, intended, status);
          if (!status.ok()) {
            rec_.Record(checkout_, intended, status);
            delete call;
            done();
            return;
          }
          Pay(intended, store, call, done);
        });
  }

 private:
  void Pay(Clock::time_point intended, int store, Unary<v1::EvaluateBasketRequest, v1::BasketEvaluation>* eval,
           Done done) {
    const Clock::time_point started = Clock::now();
    auto* call = new Unary<v1::RecordSaleRequest, v1::EventOutcome>;
    v1::Sale* sale = call->req.mutable_sale();
    sale->mutable_ref()->set_store_id(Workload::StoreId(store));
    sale->mutable_ref()->set_terminal_id(Workload::TerminalId(work_.PickTerminal()));
    sale->mutable_ref()->set_transaction_id(work_.NextTransactionId());
    Workload::SetTimestamp(0, sale->mutable_occurred_at());
    *sale->mutable_member() = eval->req.member();
    sale->set_currency("EUR");
    sale->mutable_lines()->Swap(eval->req.mutable_lines());
    sale->set_total_minor(eval->resp.total_to_pay_minor());
    if (sale->total_minor() > 0) {
      auto* tender = sale->add_tenders();
      tender->set_type(v1::TENDER_TYPE_CARD);
      tender->set_amount_minor(sale->total_minor());
    }
    delete eval;
    Prepare(call, TerminalToken(store));
    clients_.pos[clients_.Pick()]->async()->RecordSale(
        &call->ctx, &call->req, &call->resp, [this, call, intended, started, done](grpc::Status status) {
          if (rec_.Measured(intended)) rec_.Record(sale_, started < intended ? intended : started, status);
          rec_.Record(checkout_, intended, status);
          delete call;
          done();
        });
  }

  OpStats* eval_;
  OpStats* sale_;
  OpStats* checkout_;
  std::unique_ptr<std::atomic<bool>[]> busy_;
};

// --- health: grpc.health.v1.Health/Check, an empty unary call with no
// authentication and no storage: what one gRPC call costs here (baseline).
class HealthScenario : public Scenario {
 public:
  HealthScenario(const Options& o, Clients& c, Workload& w, Recorder& r) : Scenario(o, c, w, r) {
    op_ = r.Add("HealthCheck");
  }
  OpStats* Main() const override { return op_; }

  void Start(Clock::time_point intended, Done done) override {
    auto* call = new Unary<grpc::ByteBuffer, grpc::ByteBuffer>;
    grpc::Slice empty("", 0);  // an empty HealthCheckRequest is zero bytes
    call->req = grpc::ByteBuffer(&empty, 1);
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(o_.deadline_ms));
    clients_.generic[clients_.Pick()]->UnaryCall(
        &call->ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &call->req, &call->resp,
        [this, call, intended, done](grpc::Status status) {
          rec_.Record(op_, intended, status);
          delete call;
          done();
        });
  }

 private:
  OpStats* op_;
};

std::unique_ptr<Scenario> MakeScenario(const Options& o, Clients& c, Workload& w, Recorder& r) {
  if (o.scenario == "sale") return std::make_unique<SaleScenario>(o, c, w, r);
  if (o.scenario == "backlog") return std::make_unique<BacklogScenario>(o, c, w, r, /*empty_events=*/false);
  if (o.scenario == "backlog-empty") return std::make_unique<BacklogScenario>(o, c, w, r, /*empty_events=*/true);
  if (o.scenario == "evaluate") return std::make_unique<EvaluateScenario>(o, c, w, r);
  if (o.scenario == "health") return std::make_unique<HealthScenario>(o, c, w, r);
  if (o.scenario == "member-read") return std::make_unique<MemberReadScenario>(o, c, w, r);
  return std::make_unique<CheckoutScenario>(o, c, w, r);
}

// ---------------------------------------------------------------- drivers

// Counts outstanding work; Wait() returns when it reaches zero or times out.
class Outstanding {
 public:
  void Add() { n_.fetch_add(1); }
  void Done() {
    if (n_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
  }
  int64_t Count() const { return n_.load(); }
  bool Wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return n_.load() == 0; });
  }

 private:
  std::atomic<int64_t> n_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

// Runs closures on one thread: a caller whose calls keep completing inline
// (e.g. failing at once) continues there instead of growing the stack.
class Trampoline {
 public:
  Trampoline() : thread_([this] { Run(); }) {}
  ~Trampoline() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(f));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto f = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      f();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

thread_local int t_depth = 0;

void RunClosed(const Options& o, Scenario& scenario, Clock::time_point end, Outstanding& outstanding,
               Trampoline& trampoline) {
  struct Caller {
    Scenario* scenario;
    Clock::time_point end;
    Outstanding* outstanding;
    Trampoline* trampoline;
    void Next() {
      if (Clock::now() >= end || scenario->Exhausted()) {
        outstanding->Done();
        return;
      }
      scenario->Start(Clock::now(), [this] {
        if (t_depth > 16) {
          trampoline->Post([this] { Next(); });
          return;
        }
        ++t_depth;
        Next();
        --t_depth;
      });
    }
  };
  static std::vector<std::unique_ptr<Caller>> callers;  // live until exit
  for (int i = 0; i < o.concurrency; ++i) {
    callers.push_back(std::make_unique<Caller>(Caller{&scenario, end, &outstanding, &trampoline}));
    outstanding.Add();
  }
  for (auto& c : callers) c->Next();
}

void SleepUntil(Clock::time_point t) {
  // No spinning: on 2 cores a spinning scheduler takes a core from the
  // server. A start a few tens of microseconds late (timer slack) is
  // measured anyway: latency counts from the intended start.
  const auto now = Clock::now();
  if (t - now > std::chrono::microseconds(20)) std::this_thread::sleep_until(t);
}

// Starts call i at start + i/rate. Returns the worst lag of a start behind
// its schedule.
std::chrono::nanoseconds RunOpen(const Options& o, Scenario& scenario, Recorder& rec, Clock::time_point start,
                                 Clock::time_point end, Outstanding& outstanding) {
  const double period_ns = 1e9 / o.rate;
  std::chrono::nanoseconds worst_lag{0};
  for (uint64_t i = 0;; ++i) {
    const auto intended = start + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(i) * period_ns));
    if (intended >= end) break;
    SleepUntil(intended);
    worst_lag = std::max(worst_lag, std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - intended));
    if (outstanding.Count() >= o.max_inflight) {
      rec.RecordError(scenario.Main(), intended, 17, "too many calls in flight (--max-inflight)");
      continue;
    }
    outstanding.Add();
    scenario.Start(intended, [&outstanding] { outstanding.Done(); });
  }
  return worst_lag;
}

// ---------------------------------------------------------------- enrollment

bool Enroll(const Options& o, Clients& clients, Workload& work) {
  const auto t0 = Clock::now();
  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::atomic<int> created{0};
  Outstanding outstanding;
  std::mutex mu;
  std::string first_error;
  Trampoline trampoline;
  std::function<void()> launch = [&] {
    const int m = next.fetch_add(1);
    if (m >= o.members) {
      outstanding.Done();
      return;
    }
    auto* call = new Unary<v1::EnrollMemberRequest, v1::EnrollMemberResponse>;
    call->req = work.Enrollment(m);
    call->ctx.AddMetadata("authorization", "Bearer " + o.admin_token);
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    clients.admin[clients.Pick()]->async()->EnrollMember(
        &call->ctx, &call->req, &call->resp, [&, call](grpc::Status status) {
          if (status.ok()) {
            if (call->resp.created()) ++created;
          } else {
            ++failed;
            std::lock_guard<std::mutex> lock(mu);
            if (first_error.empty()) {
              first_error = loyalty::StrCat(call->req.member_id(), ": ", CodeName(status.error_code()), ": ",
                                            status.error_message());
            }
          }
          delete call;
          trampoline.Post(launch);
        });
  };
  const int lanes = std::min(o.enroll_concurrency, o.members);
  for (int i = 0; i < lanes; ++i) {
    outstanding.Add();
    launch();
  }
  if (!outstanding.Wait(std::chrono::minutes(10))) {
    std::cerr << "loadgen: enrollment did not finish in 10 minutes\n";
    return false;
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("enrolled %d members (%d new) in %.2f s (%.0f/s), %d failed\n", o.members, created.load(), s,
              o.members / s, failed.load());
  if (failed > 0) {
    std::fprintf(stderr, "loadgen: enrollment failed: %s\n", first_error.c_str());
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- CPU use

struct CpuSample {
  Clock::time_point at;
  double self_s = 0;          // this process, user+system
  double server_s = -1;       // --server-pid, user+system; -1 unknown
  double busy_s = 0, idle_s = 0, iowait_s = 0;  // whole machine
};

CpuSample SampleCpu(int server_pid) {
  CpuSample s;
  s.at = Clock::now();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  s.self_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (server_pid > 0) {
    std::ifstream f(loyalty::StrCat("/proc/", server_pid, "/stat"));
    std::string line;
    if (std::getline(f, line)) {
      const auto close = line.rfind(')');
      std::istringstream rest(line.substr(close + 2));
      std::string field;
      std::vector<std::string> fields;
      while (rest >> field) fields.push_back(field);
      // fields[0] is state (field 3); utime is field 14, stime 15.
      if (fields.size() > 13) s.server_s = (std::stod(fields[11]) + std::stod(fields[12])) / tick;
    }
  }
  std::ifstream stat("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  stat >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
  s.busy_s = (user + nice + sys + irq + softirq + steal) / tick;
  s.idle_s = idle / tick;
  s.iowait_s = iowait / tick;
  return s;
}

// ---------------------------------------------------------------- report

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }
uint64_t Us(uint64_t ns) { return (ns + 500) / 1000; }

int Report(const Options& o, const Recorder& rec, const CpuSample& a, const CpuSample& b,
           std::chrono::nanoseconds worst_lag) {
  const double window = rec.WindowSeconds();
  const double cpu_wall = std::max(1e-3, std::chrono::duration<double>(b.at - a.at).count());
  std::printf("\n%-15s %9s %7s %11s %12s %9s %9s %9s %9s\n", "operation", "ok", "errors", "ops/s", "items/s",
              "p50 ms", "p99 ms", "p99.9 ms", "max ms");
  int exit_code = 0;
  for (const auto& op : rec.ops()) {
    const uint64_t ok = op->ok.load();
    const uint64_t errors = op->ErrorCount();
    if (ok == 0 && errors == 0 && op->items.load() == 0) continue;  // not used in this run
    const auto& h = op->latency;
    if (h.Count() == 0) {  // counted only (backlog events: their latency is the stream's)
      std::printf("%-15s %9llu %7llu %11.1f %12.1f %9s %9s %9s %9s\n", op->name.c_str(),
                  static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors), ok / window,
                  op->items.load() / window, "-", "-", "-", "-");
    } else {
      std::printf("%-15s %9llu %7llu %11.1f %12.1f %9.3f %9.3f %9.3f %9.3f\n", op->name.c_str(),
                  static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors), ok / window,
                  op->items.load() / window, Ms(h.Percentile(0.50)), Ms(h.Percentile(0.99)),
                  Ms(h.Percentile(0.999)), Ms(h.Max()));
    }
    if (errors > 0) {
      std::printf("  errors of %s:", op->name.c_str());
      for (int c = 0; c < 18; ++c) {
        if (op->errors[c].load() > 0) std::printf(" %s=%llu", CodeName(c), static_cast<unsigned long long>(op->errors[c].load()));
      }
      std::printf("\n  first: %s\n", op->first_error.c_str());
    }
    if (ok == 0 || static_cast<double>(errors) > o.max_error_share * static_cast<double>(ok + errors)) exit_code = 1;
  }
  const double wall = cpu_wall;
  const double busy = b.busy_s - a.busy_s, idle = b.idle_s - a.idle_s, iowait = b.iowait_s - a.iowait_s;
  std::printf("\nthroughput window %.2f s (calls started in the %.1f s run, until the last finished)\n", window,
              o.duration_s);
  std::printf("CPU over the run (%.1f s): loadgen %.2f cores", wall, (b.self_s - a.self_s) / wall);
  if (a.server_s >= 0 && b.server_s >= 0) std::printf(", loyaltyd %.2f cores", (b.server_s - a.server_s) / wall);
  std::printf(", machine busy %.2f idle %.2f iowait %.2f cores\n", busy / wall, idle / wall, iowait / wall);
  if (o.mode == "open") {
    std::printf("open loop: offered %.1f/s, worst start lag behind schedule %.3f ms\n", o.rate,
                static_cast<double>(worst_lag.count()) / 1e6);
  }
  for (const auto& op : rec.ops()) {
    const uint64_t ok = op->ok.load();
    const uint64_t errors = op->ErrorCount();
    if (ok == 0 && errors == 0 && op->items.load() == 0) continue;
    const auto& h = op->latency;
    std::printf(
        "RESULT scenario=%s mode=%s concurrency=%d rate=%.0f op=%s ok=%llu errors=%llu dropped=%llu "
        "ops_per_s=%.1f items_per_s=%.1f p50_us=%llu p99_us=%llu p999_us=%llu max_us=%llu mean_us=%.0f "
        "loadgen_cores=%.2f server_cores=%.2f server_cpu_us_per_item=%.1f window_s=%.2f label=%s\n",
        o.scenario.c_str(), o.mode.c_str(), o.mode == "closed" ? o.concurrency : 0, o.mode == "open" ? o.rate : 0.0,
        op->name.c_str(), static_cast<unsigned long long>(ok), static_cast<unsigned long long>(errors),
        static_cast<unsigned long long>(op->errors[17].load()), ok / window, op->items.load() / window,
        static_cast<unsigned long long>(Us(h.Percentile(0.50))), static_cast<unsigned long long>(Us(h.Percentile(0.99))),
        static_cast<unsigned long long>(Us(h.Percentile(0.999))), static_cast<unsigned long long>(Us(h.Max())),
        h.Mean() / 1000.0, (b.self_s - a.self_s) / cpu_wall,
        a.server_s >= 0 ? (b.server_s - a.server_s) / cpu_wall : -1.0,
        // loyaltyd CPU per item of this operation, as if it did nothing else
        // (over the run; items counted over the throughput window).
        a.server_s >= 0 && op->items.load() > 0
            ? (b.server_s - a.server_s) / cpu_wall * 1e6 / (static_cast<double>(op->items.load()) / window)
            : -1.0,
        window, o.label.empty() ? "-" : o.label.c_str());
  }
  std::fflush(stdout);
  return exit_code;
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseOptions(argc, argv, o)) {
    Usage();
    return 2;
  }
  // As in loyaltyd (server/main.cc): Debian's Abseil checks every mutex
  // acquisition for deadlock cycles, and gRPC's client takes many; the
  // generator shares the machine with the server it measures.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  WorkloadOptions wo;
  wo.members = o.members;
  wo.stores = o.stores;
  wo.terminals_per_store = o.terminals_per_store;
  wo.anonymous_share = o.anonymous_share;
  wo.run_id = o.run_id;
  wo.seed = o.seed;
  Workload work(wo);
  Clients clients;
  if (!Connect(o, clients)) return 1;
  if (!o.skip_enroll && !Enroll(o, clients, work)) return 1;

  Recorder rec;
  auto scenario = MakeScenario(o, clients, work, rec);
  std::printf("loadgen: scenario=%s mode=%s %s duration=%.1fs warmup=%.1fs members=%d stores=%d channels=%d run_id=%s\n",
              o.scenario.c_str(), o.mode.c_str(),
              o.mode == "closed" ? loyalty::StrCat("concurrency=", o.concurrency).c_str()
                                 : loyalty::StrCat("rate=", static_cast<int64_t>(o.rate), "/s").c_str(),
              o.duration_s, o.warmup_s, o.members, o.stores, o.channels, o.run_id.c_str());
  std::fflush(stdout);

  const auto start = Clock::now();
  const auto measure_from = start + std::chrono::nanoseconds(static_cast<int64_t>(o.warmup_s * 1e9));
  const auto end = measure_from + std::chrono::nanoseconds(static_cast<int64_t>(o.duration_s * 1e9));
  rec.SetWindow(measure_from, end);
  Outstanding outstanding;
  Trampoline trampoline;
  std::chrono::nanoseconds worst_lag{0};

  // CPU is sampled at the window's edges by a helper thread (the end edge
  // comes early when --max-events ends the run).
  CpuSample cpu_a, cpu_b;
  std::mutex run_mu;
  std::condition_variable run_cv;
  bool run_over = false;
  std::thread sampler([&] {
    std::this_thread::sleep_until(measure_from);
    cpu_a = SampleCpu(o.server_pid);
    {
      std::unique_lock<std::mutex> lock(run_mu);
      run_cv.wait_until(lock, end, [&] { return run_over; });
    }
    cpu_b = SampleCpu(o.server_pid);
  });
  if (o.mode == "closed") {
    RunClosed(o, *scenario, end, outstanding, trampoline);
    if (o.max_events > 0) {
      // Ends when the last event is answered, usually well before `end`.
      auto last_report = Clock::now();
      while (!outstanding.Wait(std::chrono::seconds(1)) && Clock::now() < end) {
        if (Clock::now() - last_report >= std::chrono::seconds(30)) {
          last_report = Clock::now();
          const uint64_t items = scenario->Main()->items.load();
          std::printf("progress: %llu events accepted, %.0f/s since the start\n",
                      static_cast<unsigned long long>(items),
                      static_cast<double>(items) / std::chrono::duration<double>(last_report - measure_from).count());
          std::fflush(stdout);
        }
      }
      rec.EndWindowAt(Clock::now());
      {
        std::lock_guard<std::mutex> lock(run_mu);
        run_over = true;
      }
      run_cv.notify_all();
    }
  } else {
    worst_lag = RunOpen(o, *scenario, rec, start, end, outstanding);
  }
  sampler.join();
  const auto drain = std::chrono::milliseconds(o.deadline_ms * 4 + 5000);
  if (!outstanding.Wait(drain)) {
    std::fprintf(stderr, "loadgen: %lld calls still in flight after %lld ms; giving up\n",
                 static_cast<long long>(outstanding.Count()), static_cast<long long>(drain.count()));
    Report(o, rec, cpu_a, cpu_b, worst_lag);
    std::fflush(nullptr);
    std::_Exit(1);
  }
  const int code = Report(o, rec, cpu_a, cpu_b, worst_lag);
  std::fflush(nullptr);
  // Channels and stubs are torn down by exit; calls are all done.
  return code;
}

}  // namespace
}  // namespace loyalty::bench

int main(int argc, char** argv) { return loyalty::bench::Main(argc, argv); }
