#!/usr/bin/python3
"""Crash test: loyaltyd is SIGKILLed again and again under load, and no
acknowledged sale may be lost, doubled or changed.

    /usr/bin/python3 tests/e2e/crash_test.py \
        --binary build/server/loyaltyd --stubs build/python_stubs \
        [--cycles 3] [--members 20] [--clients 8] [--seed S] [--keep]

    longer run: --cycles 30 --clients 32 --members 200

C client threads (terminals "t-<client>" of store-1) each send new sales with
unique transaction ids ("<client>-<n>") for random members. A sale whose call
fails without a definite answer (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED,
UNKNOWN, INTERNAL) is retried, unchanged, until it is acknowledged, as a real
terminal would. A killer thread SIGKILLs the server N times at random moments
and restarts it on the same data directory and port.

Then, against the restarted server:
  (a) every acknowledged sale, sent again, is a replay
      (x-idempotent-replay: true) of the answer the client recorded;
  (b) for every member, the EARN entries of its history are exactly its
      acknowledged sales (none missing, none doubled), and its balance equals
      the sum of their points and the sum of its ledger;
  (c) AdminService.VerifyLedger reports no mismatch;
plus: acknowledged sales have distinct event_seq, earned what the base rule
says, no first attempt was answered as a replay, and SIGTERM at the end exits 0.

The last line printed is "N passed, N failed" (one check per acknowledged
sale, per member, per client and per global property); the exit code is 0
only if nothing failed.
"""

import argparse
import concurrent.futures
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loyaltyd_process as lp  # noqa: E402

import grpc  # noqa: E402

ADMIN_TOKEN = "crash-admin-token"
TERMINAL_TOKEN = "crash-terminal-store-1"
STORE = "store-1"
SALE_DEADLINE = 2.0       # seconds per RecordSale attempt
SALE_GIVE_UP = 90.0       # a sale not acknowledged after this long is a failure
VERIFY_TIMEOUT = 30.0     # seconds per call while verifying

# Errors after which the client cannot know whether the sale was recorded:
# it must retry the same request. Anything else is a definite refusal.
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
}

pos_pb2 = pos_grpc = member_pb2 = member_grpc = admin_pb2 = admin_grpc = common_pb2 = None
timestamp_pb2 = None


def load_stubs(stubs_dir):
    global pos_pb2, pos_grpc, member_pb2, member_grpc, admin_pb2, admin_grpc, common_pb2
    global timestamp_pb2
    lp.use_stubs(stubs_dir)
    from google.protobuf import timestamp_pb2 as ts
    from loyalty.v1 import admin_pb2 as a, admin_pb2_grpc as ag
    from loyalty.v1 import common_pb2 as c
    from loyalty.v1 import member_pb2 as m, member_pb2_grpc as mg
    from loyalty.v1 import pos_pb2 as p, pos_pb2_grpc as pg
    pos_pb2, pos_grpc, member_pb2, member_grpc = p, pg, m, mg
    admin_pb2, admin_grpc, common_pb2, timestamp_pb2 = a, ag, c, ts


class Checks:
    """Counts passed and failed checks; keeps failure messages. Thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.passed = 0
        self.failures = []  # (category, message)

    def ok(self):
        with self.lock:
            self.passed += 1

    def fail(self, category, message):
        with self.lock:
            self.failures.append((category, message))

    def check(self, condition, category, message):
        if condition:
            self.ok()
        else:
            self.fail(category, message)
        return condition

    def report(self, per_category=10):
        by_cat = {}
        for cat, msg in self.failures:
            by_cat.setdefault(cat, []).append(msg)
        for cat, msgs in by_cat.items():
            print(f"FAILED {cat}: {len(msgs)} failure(s)")
            for msg in msgs[:per_category]:
                print(f"  - {msg}")
            if len(msgs) > per_category:
                print(f"  ... and {len(msgs) - per_category} more")


class Ack:
    """An acknowledged sale: what was sent and what came back."""

    def __init__(self, request, member_id, outcome, replayed, attempts):
        self.request = request
        self.member_id = member_id
        self.outcome = outcome
        self.replayed = replayed      # the acknowledging answer was a replay
        self.attempts = attempts

    @property
    def key(self):
        r = self.request.sale.ref
        return (r.store_id, r.terminal_id, r.transaction_id)


def expected_points(sale):
    """Base rule: 1 point per 1.00 EUR of each line's net, rounded down per line."""
    return sum((l.quantity * l.unit_price_minor - l.discount_minor) // 100 for l in sale.lines)


class CrashTest:
    def __init__(self, args):
        self.args = args
        self.checks = Checks()
        self.work = tempfile.mkdtemp(prefix="loyaltyd-crash-")
        creds = [lp.Credential("admin", lp.ROLE_ADMIN, ADMIN_TOKEN),
                 lp.Credential("store-1/tills", lp.ROLE_TERMINAL, TERMINAL_TOKEN, store_id=STORE)]
        self.server = lp.LoyaltydProcess(args.binary, os.path.join(self.work, "data"),
                                         lp.free_port(), creds, work_dir=self.work,
                                         extra_config=lp.BASE_RULE_PROGRAM)
        self.members = []           # (member_id, card_number)
        self.acks = []              # every Ack, all clients
        self.acks_lock = threading.Lock()
        self.retries = 0
        self.lost_answers = 0       # acknowledged by a replay after a failed attempt
        self.kills = 0
        self.stop = threading.Event()    # clients: finish the current sale, then stop
        self.abort = threading.Event()   # something is badly broken: stop everything

    # ---- setup ------------------------------------------------------------

    def enroll_members(self):
        with self.server.channel() as ch:
            admin = admin_grpc.AdminServiceStub(ch)
            for i in range(self.args.members):
                member_id, card = f"m-{i:05d}", f"6{i:015d}"
                admin.EnrollMember(admin_pb2.EnrollMemberRequest(
                    member_id=member_id, display_name=f"Member {i}", card_number=card),
                    metadata=lp.auth(ADMIN_TOKEN), timeout=VERIFY_TIMEOUT)
                self.members.append((member_id, card))

    # ---- load -------------------------------------------------------------

    def build_sale(self, rng, client, n):
        """A new valid sale of 1-5 lines for a random member, identified by
        member id or card. Returns (request, member_id)."""
        member_id, card = rng.choice(self.members)
        ident = (common_pb2.MemberIdentifier(member_id=member_id) if rng.random() < 0.5
                 else common_pb2.MemberIdentifier(card_number=card))
        lines = []
        for j in range(rng.randint(1, 5)):
            qty = rng.randint(1, 5)
            price = rng.randint(50, 5000)
            discount = rng.choice([0, 0, rng.randint(0, qty * price // 4)])
            lines.append(common_pb2.LineItem(sku=f"sku-{rng.randint(1, 500)}",
                                             category=rng.choice(["grocery", "drinks", "home"]),
                                             quantity=qty, unit_price_minor=price,
                                             discount_minor=discount))
        occurred = timestamp_pb2.Timestamp()
        occurred.GetCurrentTime()
        sale = pos_pb2.Sale(
            ref=common_pb2.TransactionRef(store_id=STORE, terminal_id=f"t-{client}",
                                          transaction_id=f"{client}-{n}"),
            occurred_at=occurred, member=ident, currency="EUR", lines=lines,
            total_minor=sum(l.quantity * l.unit_price_minor - l.discount_minor for l in lines))
        return pos_pb2.RecordSaleRequest(sale=sale), member_id

    def client(self, cid):
        """One terminal: sends sales until told to stop, retrying each one
        unchanged until it is acknowledged."""
        rng = random.Random(f"{self.args.seed}-client-{cid}")
        metadata = lp.auth(TERMINAL_TOKEN)
        refused = False
        with self.server.channel() as ch:
            pos = pos_grpc.PosServiceStub(ch)
            n = 0
            while not self.stop.is_set() and not self.abort.is_set():
                n += 1
                request, member_id = self.build_sale(rng, cid, n)
                txn = request.sale.ref.transaction_id
                first_try = time.monotonic()
                attempts = 0
                while True:
                    attempts += 1
                    try:
                        outcome, call = pos.RecordSale.with_call(
                            request, metadata=metadata, timeout=SALE_DEADLINE)
                    except grpc.RpcError as e:
                        # A rate limit says when to come back: a terminal waits.
                        delay = lp.retry_delay_s(e)
                        if delay is not None and not self.abort.is_set():
                            time.sleep(delay)
                            continue
                        if e.code() not in RETRYABLE:
                            self.checks.fail("definite refusal",
                                             f"client {cid} sale {txn} attempt {attempts}: "
                                             f"{e.code().name}: {e.details()}")
                            refused = True
                            break
                        with self.acks_lock:
                            self.retries += 1
                        if self.abort.is_set():
                            break
                        if time.monotonic() - first_try > SALE_GIVE_UP:
                            self.checks.fail("never acknowledged",
                                             f"client {cid} sale {txn}: still {e.code().name} "
                                             f"after {attempts} attempts / {SALE_GIVE_UP:.0f} s")
                            refused = True
                            break
                        time.sleep(rng.uniform(0.02, 0.2))
                        continue
                    replayed = lp.replay_flag(call) == "true"
                    with self.acks_lock:
                        self.acks.append(Ack(request, member_id, outcome, replayed, attempts))
                        if replayed:
                            self.lost_answers += 1
                    break
                if refused:
                    break
        self.checks.check(not refused, "client", f"client {cid} stopped on a failure")

    def killer(self):
        """SIGKILLs the server `cycles` times at random moments and restarts it."""
        rng = random.Random(f"{self.args.seed}-killer")
        for cycle in range(self.args.cycles):
            if self.abort.is_set():
                return
            time.sleep(rng.uniform(0.3, 1.5))
            self.server.kill()
            self.kills += 1
            try:
                self.server.restart(timeout=30.0)
            except lp.ServerStartError as e:
                self.checks.fail("restart", f"cycle {cycle + 1}: {e}")
                self.abort.set()
                return

    # ---- verification -------------------------------------------------------

    def verify_replays(self):
        """(a) Every acknowledged sale, sent again, is a replay of its answer."""
        def one(ack):
            attempt = 0
            while True:
                try:
                    outcome, call = pos.RecordSale.with_call(
                        ack.request, metadata=lp.auth(TERMINAL_TOKEN), timeout=VERIFY_TIMEOUT)
                    break
                except grpc.RpcError as e:
                    delay = lp.retry_delay_s(e)  # a rate limit: wait as told, not an attempt
                    if delay is not None:
                        time.sleep(delay)
                        continue
                    attempt += 1
                    if e.code() not in RETRYABLE or attempt == 5:
                        self.checks.fail("(a) replay", f"sale {ack.key}: {e.code().name}: {e.details()}")
                        return
                    time.sleep(0.2)
            flag = lp.replay_flag(call)
            problems = []
            if flag != "true":
                problems.append(f"x-idempotent-replay is {flag!r}")
            if outcome.event_seq != ack.outcome.event_seq:
                problems.append(f"event_seq {outcome.event_seq} != acknowledged {ack.outcome.event_seq}")
            if outcome.points_earned != ack.outcome.points_earned:
                problems.append(f"points_earned {outcome.points_earned} != acknowledged "
                                f"{ack.outcome.points_earned}")
            if not problems and outcome != ack.outcome:
                problems.append(f"outcome differs from the first answer: now {{{outcome}}} "
                                f"acknowledged {{{ack.outcome}}}".replace("\n", " "))
            self.checks.check(not problems, "(a) replay", f"sale {ack.key}: " + "; ".join(problems))

        with self.server.channel() as ch:
            pos = pos_grpc.PosServiceStub(ch)
            with concurrent.futures.ThreadPoolExecutor(max_workers=max(4, self.args.clients)) as ex:
                list(ex.map(one, self.acks))

    def verify_acks(self):
        """Each acknowledged answer earned what the base rule says, for the
        right member; no sale was answered as a replay on its first attempt;
        event_seq values are distinct."""
        for ack in self.acks:
            problems = []
            want = expected_points(ack.request.sale)
            if ack.outcome.points_earned != want:
                problems.append(f"points_earned {ack.outcome.points_earned}, base rule says {want}")
            if ack.outcome.member_id != ack.member_id:
                problems.append(f"member_id {ack.outcome.member_id!r}, sent {ack.member_id!r}")
            if ack.replayed and ack.attempts == 1:
                problems.append("the first attempt of a new transaction id was answered as a replay")
            self.checks.check(not problems, "acknowledged answer", f"sale {ack.key}: " + "; ".join(problems))
        seqs = {}
        for ack in self.acks:
            seqs.setdefault(ack.outcome.event_seq, []).append(ack.key)
        dup = {s: keys for s, keys in seqs.items() if len(keys) > 1}
        self.checks.check(not dup, "distinct event_seq",
                          f"{len(dup)} event_seq values were given to several sales, e.g. "
                          f"{list(dup.items())[:5]}")

    def verify_members(self):
        """(b) History and balance of every member match the acknowledged sales."""
        by_member = {m: {} for m, _ in self.members}
        for ack in self.acks:
            by_member[ack.member_id][ack.key] = ack
        with self.server.channel() as ch:
            members = member_grpc.MemberServiceStub(ch)
            md = lp.auth(ADMIN_TOKEN)
            for member_id, _ in self.members:
                problems = []
                try:
                    entries = self.history(members, member_id, md)
                    view = members.GetMember(member_pb2.GetMemberRequest(member_id=member_id),
                                             metadata=md, timeout=VERIFY_TIMEOUT)
                except grpc.RpcError as e:
                    self.checks.fail("(b) member", f"{member_id}: {e.code().name}: {e.details()}")
                    continue
                acked = by_member[member_id]
                expected = {k: a for k, a in acked.items() if a.outcome.points_earned > 0}
                earned = {}
                for e in entries:
                    if e.kind != common_pb2.LEDGER_ENTRY_KIND_EARN:
                        problems.append(f"unexpected {common_pb2.LedgerEntryKind.Name(e.kind)} "
                                        f"entry {e.entry_id}")
                        continue
                    key = (e.cause.store_id, e.cause.terminal_id, e.cause.transaction_id)
                    earned.setdefault(key, []).append(e)
                doubled = [k for k, es in earned.items() if len(es) > 1]
                missing = [k for k in expected if k not in earned]
                extra = [k for k in earned if k not in expected]
                wrong = [(k, earned[k][0].points, a.outcome.points_earned) for k, a in expected.items()
                         if k in earned and earned[k][0].points != a.outcome.points_earned]
                if doubled:
                    problems.append(f"{len(doubled)} sales earned twice, e.g. {doubled[:3]}")
                if missing:
                    problems.append(f"{len(missing)} acknowledged sales have no EARN entry, "
                                    f"e.g. {missing[:3]}")
                if extra:
                    problems.append(f"{len(extra)} EARN entries for sales never acknowledged, "
                                    f"e.g. {extra[:3]}")
                if wrong:
                    problems.append(f"{len(wrong)} EARN entries with other points than acknowledged "
                                    f"(key, ledger, acknowledged), e.g. {wrong[:3]}")
                want = sum(a.outcome.points_earned for a in acked.values())
                ledger = sum(e.points for e in entries)
                balance = view.balance.available_points + view.balance.pending_points
                if not (balance == want == ledger):
                    problems.append(f"balance {balance}, acknowledged points {want}, ledger sum {ledger}")
                self.checks.check(not problems, "(b) member", f"{member_id}: " + "; ".join(problems))

    def balances(self):
        """member_id -> (available, pending), read with the admin token."""
        out = {}
        with self.server.channel() as ch:
            members = member_grpc.MemberServiceStub(ch)
            for member_id, _ in self.members:
                try:
                    view = members.GetMember(member_pb2.GetMemberRequest(member_id=member_id),
                                             metadata=lp.auth(ADMIN_TOKEN), timeout=VERIFY_TIMEOUT)
                    out[member_id] = (view.balance.available_points, view.balance.pending_points)
                except grpc.RpcError as e:
                    out[member_id] = e.code().name
        return out

    @staticmethod
    def history(members, member_id, md):
        entries, token = [], ""
        for _ in range(100000):
            page = members.ListHistory(
                member_pb2.ListHistoryRequest(member_id=member_id, page_size=500, page_token=token),
                metadata=md, timeout=VERIFY_TIMEOUT)
            entries.extend(page.entries)
            token = page.next_page_token
            if not token:
                return entries
        raise RuntimeError(f"{member_id}: history paging does not end")

    def verify_ledger(self):
        """(c) VerifyLedger finds no mismatch."""
        with self.server.channel() as ch:
            admin = admin_grpc.AdminServiceStub(ch)
            try:
                report = admin.VerifyLedger(admin_pb2.VerifyLedgerRequest(),
                                            metadata=lp.auth(ADMIN_TOKEN), timeout=120.0)
            except grpc.RpcError as e:
                self.checks.fail("(c) VerifyLedger", f"{e.code().name}: {e.details()}")
                return
        self.checks.check(report.mismatches == 0, "(c) VerifyLedger",
                          f"{report.mismatches} mismatches: {list(report.mismatched_member_ids)[:10]}")
        self.checks.check(report.members_checked >= self.args.members, "(c) VerifyLedger",
                          f"members_checked {report.members_checked} < {self.args.members} enrolled")
        print(f"VerifyLedger: {report.members_checked} members, {report.ledger_entries} entries, "
              f"{report.mismatches} mismatches")

    # ---- run ----------------------------------------------------------------

    def run(self):
        started = time.monotonic()
        a = self.args
        print(f"crash test: cycles={a.cycles} members={a.members} clients={a.clients} seed={a.seed}")
        print(f"work dir {self.work}, server {self.server.address}")
        self.server.start()
        self.enroll_members()

        clients = [threading.Thread(target=self.client, args=(c,), name=f"client-{c}", daemon=True)
                   for c in range(a.clients)]
        killer = threading.Thread(target=self.killer, name="killer", daemon=True)
        for t in clients:
            t.start()
        killer.start()
        killer.join()
        load_done = time.monotonic()
        # The server is up again: let every client finish its sale in flight.
        self.stop.set()
        for t in clients:
            t.join(timeout=SALE_GIVE_UP + 30)
            if t.is_alive():
                self.checks.fail("client", f"{t.name} did not finish its last sale")
                self.abort.set()
        print(f"load: {len(self.acks)} sales acknowledged in {load_done - started:.1f} s, "
              f"{self.kills} kills, {self.retries} retried attempts, "
              f"{self.lost_answers} answers lost and recovered by replay")

        if self.server.running() and not self.abort.is_set():
            self.verify_acks()
            # History and balances first: re-sending the sales in (a) would
            # record any lost one anew and hide the loss.
            self.verify_members()
            self.verify_ledger()
            balances = self.balances()
            self.verify_replays()
            self.checks.check(self.balances() == balances, "replays changed nothing",
                              "member balances changed while re-sending acknowledged sales")
            # A clean shutdown after all this still exits 0.
            code = self.server.terminate(timeout=10.0)
            self.checks.check(code == 0, "SIGTERM", f"exit code {code} (None: not exited in 10 s)")
        else:
            self.checks.fail("setup", "server not running or test aborted; not verified")

        elapsed = time.monotonic() - started
        self.checks.report()
        print(f"summary: cycles {self.kills}/{a.cycles}, acknowledged sales {len(self.acks)}, "
              f"retries {self.retries}, lost answers replayed {self.lost_answers}, "
              f"time {elapsed:.1f} s")
        return not self.checks.failures


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    lp.add_common_args(parser)
    parser.add_argument("--cycles", type=int, default=3, help="SIGKILL/restart cycles")
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8, help="concurrent terminal threads")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir even on success")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = int(time.time()) % 1000000
    if not os.access(args.binary, os.X_OK):
        print(f"--binary {args.binary}: not an executable file")
        print("0 passed, 1 failed")
        return 1
    load_stubs(args.stubs)

    test = CrashTest(args)
    try:
        ok = test.run()
    except Exception as e:  # e.g. the server does not start: report, do not hang
        test.checks.fail("error", f"{type(e).__name__}: {e}")
        test.checks.report()
        ok = False
    finally:
        test.stop.set()
        test.abort.set()
        test.server.kill()
    if ok and not args.keep:
        shutil.rmtree(test.work, ignore_errors=True)
    else:
        print(f"kept {test.work} (config, loyaltyd.log, data); rerun with --seed {args.seed}")
    print(f"{test.checks.passed} passed, {len(test.checks.failures)} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
