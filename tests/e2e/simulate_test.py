#!/usr/bin/python3
"""End-to-end test of `loyaltyctl simulate` against the real loyaltyd.

    /usr/bin/python3 tests/e2e/simulate_test.py --binary build/server/loyaltyd \
        --ctl build/tools/loyaltyctl --stubs build/python_stubs [--keep] [-v]

Starts loyaltyd with a fresh data directory, an admin credential and one
terminal credential per store, runs a small simulation (3 stores, 60
members, 3 months, 10% of sales returned), then checks the figures the simulator printed against
the stored state:
  - loyaltyctl exits 0 and prints its machine-readable block;
  - members equals the enrolled count; the members per tier and per stage
    add up to it (an empty map is tolerated, and reported, while the server
    has no tiers or stages);
  - the tier and stage of every member (MemberService.GetMember) agree with
    members_per_tier and members_per_stage;
  - liability_points equals the sum of every member's balance
    (available + pending) and the simulator's acknowledged points earned
    minus reversed; the printed figures equal a fresh GetFigures;
  - AdminService.VerifyLedger reports no mismatch (with the event-log replay
    when the server offers it);
  - a second run with the same seed is answered entirely by replays and
    changes nothing.
The last line printed is "N passed, N failed"; the exit code is 0 only if
nothing failed.
"""

import argparse
import collections
import datetime
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loyaltyd_process as lp  # noqa: E402

ADMIN_TOKEN = "sim-test-admin"
TERMINAL_PREFIX = "sim-test-terminal-store-"
STORES = 3
MEMBERS = 60
MONTHS = 3
SEED = 1
RETURN_SHARE = 10   # percent of sales; more than the default 3 so a small run has returns
RPC_TIMEOUT = 30.0
CTL_TIMEOUT = 240.0


class Checks:
    """Collects named checks; each passes or fails with a message."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            if self.verbose:
                print(f"ok    {name}" + (f": {detail}" if detail else ""))
        else:
            self.failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""))
        return ok

    def note(self, text):
        print(f"note  {text}")


def credentials():
    creds = [lp.Credential("admin", lp.ROLE_ADMIN, ADMIN_TOKEN)]
    for k in range(1, STORES + 1):
        creds.append(lp.Credential(f"store-{k}/tills", lp.ROLE_TERMINAL, f"{TERMINAL_PREFIX}{k}",
                                   store_id=f"store-{k}"))
    return creds


def run_simulation(ctl, address):
    """Runs loyaltyctl simulate; returns (exit code, stdout, stderr)."""
    command = [ctl, "simulate", "--target", address, "--admin-token", ADMIN_TOKEN,
               "--terminal-token-prefix", TERMINAL_PREFIX, "--stores", str(STORES),
               "--members", str(MEMBERS), "--months", str(MONTHS), "--seed", str(SEED),
               "--return-share", str(RETURN_SHARE), "--concurrency", "8"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=CTL_TIMEOUT)
    return done.returncode, done.stdout, done.stderr


def parse_machine_block(stdout):
    """{"figure": {name: value}, "sim": {name: value}} from the lines between
    '--- machine-readable ---' and '--- end ---'. Integer values become ints."""
    parsed = {"figure": {}, "sim": {}}
    inside = False
    for line in stdout.splitlines():
        if line == "--- machine-readable ---":
            inside = True
        elif line == "--- end ---":
            inside = False
        elif inside:
            kind, name, value = line.split(" ", 2)
            try:
                value = int(value)
            except ValueError:
                pass
            parsed[kind][name] = value
    return parsed


def map_figure(figures, field):
    """{key: count} of a map field flattened as field.key."""
    prefix = field + "."
    return {name[len(prefix):]: value for name, value in figures.items() if name.startswith(prefix)}


def member_views(channel, stubs):
    """MemberService.GetMember of every simulated member (admin token)."""
    member_pb2, member_grpc = stubs
    members = member_grpc.MemberServiceStub(channel)
    views = []
    for i in range(1, MEMBERS + 1):
        views.append(members.GetMember(member_pb2.GetMemberRequest(member_id=f"sim-m-{i:06d}"),
                                       metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT))
    return views


def check_counts_of(checks, label, per_key, members, views_keys):
    """members_per_<label> adds up to members and, key by key, equals the
    count of members whose GetMember shows that <label> (the server holds only
    the simulated members)."""
    if not per_key:
        checks.note(f"members_per_{label} is empty (server without {label}s yet): tolerated")
        return
    checks.check(f"members_per_{label} adds up to members", sum(per_key.values()) == members,
                 f"{per_key} sums to {sum(per_key.values())}, members {members}")
    if all(k == "" for k in views_keys):
        checks.note(f"GetMember shows no {label} yet: not compared with members_per_{label}")
        return
    seen = dict(collections.Counter(views_keys))
    nonzero = {k: v for k, v in per_key.items() if v}
    checks.check(f"members_per_{label} equals the {label}s GetMember shows", nonzero == seen,
                 f"figures {nonzero}, GetMember {seen}")


def check_first_run(checks, code, stdout, stderr):
    checks.check("loyaltyctl simulate exits 0", code == 0, f"exit {code}\n{stderr[-2000:]}")
    parsed = parse_machine_block(stdout)
    figures, sim = parsed["figure"], parsed["sim"]
    checks.check("machine-readable block has members, events and liability_points",
                 all(k in figures for k in ("members", "events", "liability_points")), str(figures))
    checks.check("plan line on stderr", "plan:" in stderr, stderr.splitlines()[0] if stderr else "")
    return figures, sim


def check_state(checks, figures, sim, channel, admin_pb2, admin_grpc, member_stubs):
    admin = admin_grpc.AdminServiceStub(channel)
    members = figures.get("members")
    checks.check("members figure equals the enrolled count",
                 members == MEMBERS == sim.get("members_enrolled"),
                 f"figure {members}, enrolled {sim.get('members_enrolled')}, asked {MEMBERS}")
    checks.check("the simulation sent sales and returns, earned and reversed points",
                 sim.get("sales", 0) > 0 and sim.get("returns", 0) > 0
                 and sim.get("points_earned", 0) > 0 and sim.get("points_reversed", 0) > 0, str(sim))
    if sim.get("voids", 0) == 0:
        checks.note("this plan has no void (about 0.5% of sales are voided)")
    checks.check("events figure counts every enrollment and event",
                 figures.get("events", 0) >= MEMBERS + sim.get("events", 0),
                 f"events {figures.get('events')}, enrolled {MEMBERS} + sent {sim.get('events')}")

    views = member_views(channel, member_stubs)
    balances = sum(v.balance.available_points + v.balance.pending_points for v in views)
    liability = figures.get("liability_points")
    checks.check("liability_points equals the sum of the members' balances", liability == balances,
                 f"liability {liability}, sum of balances {balances}")
    net = sim.get("points_earned", 0) - sim.get("points_reversed", 0)
    checks.check("liability_points equals points earned minus reversed", liability == net,
                 f"liability {liability}, earned {sim.get('points_earned')} - reversed "
                 f"{sim.get('points_reversed')} = {net}")

    check_counts_of(checks, "tier", map_figure(figures, "members_per_tier"), members,
                    [v.tier.current_tier for v in views])
    check_counts_of(checks, "stage", map_figure(figures, "members_per_stage"), members,
                    [v.stage.current_stage for v in views])

    fresh = admin.GetFigures(admin_pb2.GetFiguresRequest(), metadata=lp.auth(ADMIN_TOKEN),
                             timeout=RPC_TIMEOUT)
    checks.check("printed figures equal a fresh GetFigures",
                 (fresh.members, fresh.events, fresh.liability_points)
                 == (members, figures.get("events"), liability),
                 f"fresh {fresh.members}/{fresh.events}/{fresh.liability_points}")

    request = admin_pb2.VerifyLedgerRequest()
    replay_offered = "replay_events" in request.DESCRIPTOR.fields_by_name
    if replay_offered:
        request.replay_events = True
    verified = admin.VerifyLedger(request, metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
    checks.check("VerifyLedger: 0 mismatches", verified.mismatches == 0 and verified.members_checked == members,
                 f"{verified.mismatches} mismatches of {verified.members_checked} members "
                 f"{list(verified.mismatched_member_ids)}")
    if replay_offered:
        checks.check("VerifyLedger event-log replay: 0 mismatches", verified.replay_mismatches == 0,
                     f"{verified.replay_mismatches} replay mismatches "
                     f"{list(verified.replay_mismatched_member_ids)}")


def check_second_run(checks, ctl, address, first_figures, first_sim, day_of_first_run):
    """Same seed, same day: every event is a replay and nothing changes."""
    code, stdout, stderr = run_simulation(ctl, address)
    if datetime.datetime.now(datetime.timezone.utc).date() != day_of_first_run:
        checks.note("the UTC day changed between the runs: event times differ, replay check skipped")
        return
    checks.check("second run with the same seed exits 0", code == 0, f"exit {code}\n{stderr[-2000:]}")
    parsed = parse_machine_block(stdout)
    sim, figures = parsed["sim"], parsed["figure"]
    checks.check("second run: every event answered as a replay",
                 sim.get("replays") == sim.get("events") == first_sim.get("events")
                 and sim.get("members_created") == 0,
                 f"replays {sim.get('replays')}, events {sim.get('events')}, "
                 f"first run {first_sim.get('events')}, members created {sim.get('members_created')}")
    checks.check("second run: same points acknowledged",
                 (sim.get("points_earned"), sim.get("points_reversed"))
                 == (first_sim.get("points_earned"), first_sim.get("points_reversed")))
    checks.check("second run: figures unchanged",
                 all(figures.get(k) == first_figures.get(k) for k in ("members", "events", "liability_points")),
                 f"first {first_figures}, second {figures}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lp.add_common_args(parser)
    parser.add_argument("--ctl", required=True, help="path to the loyaltyctl binary")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    for flag, path in (("--binary", args.binary), ("--ctl", args.ctl)):
        if not os.access(path, os.X_OK):
            print(f"{flag} {path}: not an executable file")
            print("0 passed, 1 failed")
            return 1
    lp.use_stubs(args.stubs)
    from loyalty.v1 import admin_pb2, admin_pb2_grpc, member_pb2, member_pb2_grpc

    checks = Checks(args.verbose)
    work = tempfile.mkdtemp(prefix="loyaltyd-simulate-")
    server = lp.LoyaltydProcess(args.binary, os.path.join(work, "data"), lp.free_port(), credentials(),
                                work_dir=work)
    try:
        server.start()
        day_of_first_run = datetime.datetime.now(datetime.timezone.utc).date()
        code, stdout, stderr = run_simulation(args.ctl, server.address)
        if args.verbose:
            print(stdout)
        figures, sim = check_first_run(checks, code, stdout, stderr)
        with server.channel() as channel:
            check_state(checks, figures, sim, channel, admin_pb2, admin_pb2_grpc,
                        (member_pb2, member_pb2_grpc))
        check_second_run(checks, args.ctl, server.address, figures, sim, day_of_first_run)
        checks.check("loyaltyd stops cleanly on SIGTERM", server.terminate() == 0)
    except lp.ServerStartError as e:  # its message ends with the log's tail
        checks.check("loyaltyd starts", False, str(e))
    except Exception as e:  # a crash of the test itself is a failure, not a pass
        checks.check("test ran to the end", False, f"{type(e).__name__}: {e}\n{server.log_tail()}")
    finally:
        server.force_kill()

    if checks.failed or args.keep:
        print(f"kept {work} (config, loyaltyd.log, data)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
