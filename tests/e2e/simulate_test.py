#!/usr/bin/python3
"""End-to-end test of `loyaltyctl simulate` against the real loyaltyd.

    /usr/bin/python3 tests/e2e/simulate_test.py --binary build/server/loyaltyd \
        --ctl build/tools/loyaltyctl --stubs build/python_stubs [--keep] [-v]

Starts loyaltyd with a fresh data directory, an admin credential, one
terminal credential per store and a program with tiers, stages, three offers
(10% off bakery, 2.00 off wine with a budget of WINE_BUDGET uses, bonus points
for new members) and a reward (a free coffee for 150 points); runs a small
simulation (3 stores, 60 members, 3 months, 10% of sales returned), then
checks the figures the simulator printed against the stored state:
  - loyaltyctl exits 0 and prints its machine-readable block;
  - members' sales were evaluated and got discounts: the offers were used
    (their `used` figures add up to more than 0), the wine offer not beyond
    its budget; the offers were shown (ListOffers); reward codes were
    redeemed and used (noted, not failed, if this plan has none);
  - members equals the enrolled count; the members per tier and per stage
    add up to it (an empty map is tolerated, and reported, while the server
    has no tiers or stages);
  - the tier and stage of every member (MemberService.GetMember) agree with
    members_per_tier and members_per_stage;
  - liability_points equals the sum of every member's balance
    (available + pending) and the simulator's acknowledged points earned
    minus reversed minus spent on rewards, and the ledger's redemption
    entries add up to the points spent; the printed figures equal a fresh
    GetFigures;
  - AdminService.VerifyLedger reports no mismatch (with the event-log replay
    when the server offers it);
  - a second run with the same seed and the same --journal is answered
    entirely by replays and changes nothing (the journal gives it each
    member sale as first sent: re-evaluated, a sale whose code has been used
    since would have another total).
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
WINE_BUDGET = 15    # uses of the wine offer, all members together
REWARD_COST = 150

# The default program's tiers and stages, with offers and a reward.
PROGRAM = f"""
initial_program {{
  currency: "EUR"
  minor_units_per_major: 100
  points_per_major_unit: 1
  expiry_days: 365
  tier_window_days: 365
  tier_grace_days: 30
  stage_window_days: 365
  tiers {{ name: "Bronze" earn_multiplier_pct: 100 }}
  tiers {{ name: "Silver" min_spend_minor: 50000 min_visits: 12 earn_multiplier_pct: 125 }}
  tiers {{ name: "Gold" min_spend_minor: 200000 min_visits: 36 earn_multiplier_pct: 150 }}
  stages {{ name: "new" }}
  stages {{ name: "occasional" min_visits: 2 max_days_since_visit: 180 }}
  stages {{ name: "regular" min_visits: 6 min_tenure_days: 60 max_days_since_visit: 90 }}
  stages {{ name: "loyal" min_visits: 12 min_spend_minor: 30000 min_tenure_days: 180 min_categories: 2
            max_days_since_visit: 60 }}
  stages {{ name: "client" min_visits: 24 min_spend_minor: 100000 min_tenure_days: 365 min_categories: 3
            max_days_since_visit: 45 }}
  offers {{ id: "bakery-10" title: "10% off bakery" kind: OFFER_KIND_PERCENT_OFF percent_off: 10
            categories: "bakery" }}
  offers {{ id: "wine-2" title: "2.00 off wine from 10.00" kind: OFFER_KIND_AMOUNT_OFF amount_off_minor: 200
            categories: "wine" min_basket_minor: 1000 budget_redemptions: {WINE_BUDGET} }}
  offers {{ id: "welcome-back" title: "25 bonus points on your next visit" kind: OFFER_KIND_STAGE_NUDGE
            bonus_points: 25 stages: "new" per_member_limit: 1 }}
  rewards {{ id: "free-coffee" title: "Free coffee" cost_points: {REWARD_COST} categories: "coffee"
             max_value_minor: 400 }}
}}
"""
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


def run_simulation(ctl, address, journal):
    """Runs loyaltyctl simulate; returns (exit code, stdout, stderr)."""
    command = [ctl, "simulate", "--target", address, "--admin-token", ADMIN_TOKEN,
               "--terminal-token-prefix", TERMINAL_PREFIX, "--stores", str(STORES),
               "--members", str(MEMBERS), "--months", str(MONTHS), "--seed", str(SEED),
               "--return-share", str(RETURN_SHARE), "--concurrency", "8", "--journal", journal]
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


def offer_figures(figures):
    """{offer_id: {"shown": .., "used": .., ...}} from the offers.N.field lines."""
    by_index = collections.defaultdict(dict)
    for name, value in figures.items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "offers":
            by_index[parts[1]][parts[2]] = value
    return {o.get("offer_id"): o for o in by_index.values()}


def redeemed_points(channel, stubs):
    """Points taken by the members' LEDGER_ENTRY_KIND_REDEEM entries (a positive number)."""
    member_pb2, member_grpc = stubs
    from loyalty.v1 import common_pb2
    members = member_grpc.MemberServiceStub(channel)
    total = 0
    for i in range(1, MEMBERS + 1):
        token = ""
        while True:
            page = members.ListHistory(member_pb2.ListHistoryRequest(member_id=f"sim-m-{i:06d}", page_size=500,
                                                                     page_token=token),
                                       metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
            total -= sum(e.points for e in page.entries if e.kind == common_pb2.LEDGER_ENTRY_KIND_REDEEM)
            token = page.next_page_token
            if not token:
                break
    return total


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


def check_offers(checks, figures, sim):
    """The terminal flow ran: evaluations, discounts, offers used and shown, codes."""
    offers = offer_figures(figures)
    used = sum(o.get("used", 0) for o in offers.values())
    checks.check("the three offers appear in the figures",
                 set(offers) == {"bakery-10", "wine-2", "welcome-back"}, str(offers))
    checks.check("offers were used (sum of offers.used > 0)", used > 0, str(offers))
    checks.check("member sales were evaluated and got discounts",
                 sim.get("evaluations", 0) >= sim.get("sales", 0) - sim.get("anonymous_sales", 0) > 0
                 and sim.get("discounts_minor", 0) > 0 and sim.get("sales_with_offers", 0) > 0,
                 f"evaluations {sim.get('evaluations')}, member sales "
                 f"{sim.get('sales', 0) - sim.get('anonymous_sales', 0)}, discounts {sim.get('discounts_minor')}, "
                 f"sales with offers {sim.get('sales_with_offers')}")
    wine = offers.get("wine-2", {}).get("used", 0)
    checks.check("the wine offer was not used beyond its budget", wine <= WINE_BUDGET,
                 f"used {wine}, budget {WINE_BUDGET}")
    shown = sum(o.get("shown", 0) for o in offers.values())
    checks.check("members opened the app and were shown offers",
                 sim.get("offer_listings", 0) > 0 and shown == sim.get("offers_listed", 0) > 0,
                 f"listings {sim.get('offer_listings')}, offers listed {sim.get('offers_listed')}, "
                 f"figures shown {shown}")
    if sim.get("codes_redeemed", 0) == 0:
        checks.note("no member redeemed a reward in this plan")
    else:
        checks.check("each redemption spent the reward's cost",
                     sim.get("points_spent") == REWARD_COST * sim.get("codes_redeemed"),
                     f"{sim.get('codes_redeemed')} codes, {sim.get('points_spent')} points")
        checks.check("reward codes were used in sales", sim.get("codes_used", 0) > 0,
                     f"redeemed {sim.get('codes_redeemed')}, used {sim.get('codes_used')}")


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
    net = sim.get("points_earned", 0) - sim.get("points_reversed", 0) - sim.get("points_spent", 0)
    checks.check("liability_points equals points earned minus reversed minus spent on rewards",
                 liability == net == sim.get("points_held"),
                 f"liability {liability}, earned {sim.get('points_earned')} - reversed "
                 f"{sim.get('points_reversed')} - spent {sim.get('points_spent')} = {net}, "
                 f"simulator's points_held {sim.get('points_held')}")
    spent = redeemed_points(channel, member_stubs)
    checks.check("the ledger's redemption entries add up to the points spent", spent == sim.get("points_spent"),
                 f"ledger {spent}, simulator {sim.get('points_spent')}")

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


def check_second_run(checks, ctl, address, journal, first_figures, first_sim, day_of_first_run):
    """Same seed, same day, same journal: every event is a replay and nothing changes."""
    code, stdout, stderr = run_simulation(ctl, address, journal)
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
    checks.check("second run: member sales sent as journaled",
                 sim.get("journal_sales") == sim.get("sales", 0) - sim.get("anonymous_sales", 0),
                 f"journaled {sim.get('journal_sales')}, member sales "
                 f"{sim.get('sales', 0) - sim.get('anonymous_sales', 0)}")
    same = ("points_earned", "points_reversed", "points_spent", "codes_redeemed", "codes_used", "discounts_minor")
    checks.check("second run: same points, codes and discounts acknowledged",
                 all(sim.get(k) == first_sim.get(k) for k in same),
                 f"first {[first_sim.get(k) for k in same]}, second {[sim.get(k) for k in same]}")
    first_used = {k: o.get("used") for k, o in offer_figures(first_figures).items()}
    used = {k: o.get("used") for k, o in offer_figures(figures).items()}
    checks.check("second run: offers used unchanged", used == first_used, f"first {first_used}, second {used}")
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
                                work_dir=work, extra_config=PROGRAM)
    journal = os.path.join(work, "sales.journal")
    try:
        server.start()
        day_of_first_run = datetime.datetime.now(datetime.timezone.utc).date()
        code, stdout, stderr = run_simulation(args.ctl, server.address, journal)
        if args.verbose:
            print(stdout)
        figures, sim = check_first_run(checks, code, stdout, stderr)
        check_offers(checks, figures, sim)
        with server.channel() as channel:
            check_state(checks, figures, sim, channel, admin_pb2, admin_pb2_grpc,
                        (member_pb2, member_pb2_grpc))
        check_second_run(checks, args.ctl, server.address, journal, figures, sim, day_of_first_run)
        checks.check("loyaltyd stops cleanly on SIGTERM", server.terminate() == 0)
    except lp.ServerStartError as e:  # its message ends with the log's tail
        checks.check("loyaltyd starts", False, str(e))
    except Exception as e:  # a crash of the test itself is a failure, not a pass
        checks.check("test ran to the end", False, f"{type(e).__name__}: {e}\n{server.log_tail()}")
    finally:
        server.force_kill()

    if checks.failed or args.keep:
        print(f"kept {work} (config, loyaltyd.log, data, sales.journal)")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 and checks.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
