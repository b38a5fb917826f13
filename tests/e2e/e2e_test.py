#!/usr/bin/python3
"""End-to-end tests of loyaltyd over gRPC, against the real process.

    /usr/bin/python3 tests/e2e/e2e_test.py \
        --binary build/server/loyaltyd --stubs build/python_stubs [-v] [--keep]

Each test class starts its own loyaltyd on a free loopback port with a fresh
data directory. The contract under test is proto/loyalty/v1/*.proto. The
last line printed is "N passed, N failed"; the exit code is 0 only if all
passed. Extra arguments go to unittest (e.g. a test name pattern with -k).
"""

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loyaltyd_process as lp  # noqa: E402

import grpc  # noqa: E402

# Filled in by load_stubs() once --stubs is known.
pos_pb2 = pos_grpc = member_pb2 = member_grpc = admin_pb2 = admin_grpc = common_pb2 = None
timestamp_pb2 = None

ARGS = None             # parsed command line
TEMP_DIRS = []          # removed at the end if everything passed (unless --keep)
RPC_TIMEOUT = 10.0      # seconds; no call in these tests should take long
SERIAL = itertools.count(1)  # unique transaction ids, member ids and cards

ADMIN_TOKEN = "e2e-admin-token"
STORE1_TOKEN = "e2e-terminal-store-1"
STORE2_TOKEN = "e2e-terminal-store-2"
ALICE_TOKEN = "e2e-member-alice"
ALICE = "m-alice"
ALICE_CARD = "4000000000000001"
BOB = "m-bob"
BOB_CARD = "4000000000000002"

CREDENTIALS = [
    lp.Credential("admin", lp.ROLE_ADMIN, ADMIN_TOKEN),
    lp.Credential("store-1/till", lp.ROLE_TERMINAL, STORE1_TOKEN, store_id="store-1"),
    lp.Credential("store-2/till", lp.ROLE_TERMINAL, STORE2_TOKEN, store_id="store-2"),
    lp.Credential("alice-app", lp.ROLE_MEMBER, ALICE_TOKEN, member_id=ALICE),
]


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


# ---- building requests --------------------------------------------------

def ts_ago(seconds=0):
    """A Timestamp `seconds` before now."""
    t = timestamp_pb2.Timestamp()
    t.FromNanoseconds(time.time_ns() - int(seconds * 1e9))
    return t


def ref(txn, store="store-1", terminal="t-1"):
    return common_pb2.TransactionRef(store_id=store, terminal_id=terminal, transaction_id=txn)


def line(qty, price, discount=0, sku="sku-1", category="grocery"):
    return common_pb2.LineItem(sku=sku, category=category, quantity=qty,
                               unit_price_minor=price, discount_minor=discount)


def net(l):
    return l.quantity * l.unit_price_minor - l.discount_minor


def points_for(lines):
    """The base rule: 1 point per 1.00 EUR of each line's net amount, per
    line, rounded down."""
    return sum(net(l) // 100 for l in lines)


def by_card(card):
    return common_pb2.MemberIdentifier(card_number=card)


def sale(txn, lines, member=None, store="store-1", terminal="t-1", tenders=(), ago=0):
    """A valid sale (total computed from the lines) unless the caller
    changes it afterwards."""
    s = pos_pb2.Sale(ref=ref(txn, store, terminal), occurred_at=ts_ago(ago), currency="EUR",
                     lines=lines, total_minor=sum(net(l) for l in lines), tenders=list(tenders))
    if member is not None:
        s.member.CopyFrom(member)
    return s


def return_of(txn, original, lines, store="store-1", terminal="t-1", ago=0):
    """A Return of `original` (a TransactionRef); lines are (index, qty)."""
    return pos_pb2.Return(ref=ref(txn, store, terminal), occurred_at=ts_ago(ago),
                          original=original,
                          lines=[pos_pb2.ReturnLine(line_index=i, quantity=q) for i, q in lines])


def void_of(txn, original, store="store-1", terminal="t-1", reason="customer changed mind", ago=0):
    return pos_pb2.Void(ref=ref(txn, store, terminal), occurred_at=ts_ago(ago),
                        original=original, reason=reason)


def return_request(r):
    # `return` is a Python keyword, hence the ** form.
    return pos_pb2.RecordReturnRequest(**{"return": r})


def void_request(v):
    return pos_pb2.VoidSaleRequest(**{"void": v})


class ServerTestCase(unittest.TestCase):
    """Starts one loyaltyd for the class and enrolls alice and bob."""

    server = None
    EXTRA_CONFIG = ""  # appended to the config (text format)

    @classmethod
    def setUpClass(cls):
        work = tempfile.mkdtemp(prefix=f"loyaltyd-e2e-{cls.__name__}-")
        TEMP_DIRS.append(work)
        cls.server = lp.LoyaltydProcess(ARGS.binary, os.path.join(work, "data"), lp.free_port(),
                                        CREDENTIALS, work_dir=work,
                                        extra_config=lp.BASE_RULE_PROGRAM + cls.EXTRA_CONFIG)
        try:
            cls.server.start()
        except Exception:
            cls.server.kill()
            raise
        cls.channel = cls.server.channel()
        cls.connect_stubs()
        cls.enroll(ALICE, "Alice", ALICE_CARD)
        cls.enroll(BOB, "Bob", BOB_CARD)

    @classmethod
    def connect_stubs(cls):
        cls.pos = pos_grpc.PosServiceStub(cls.channel)
        cls.members = member_grpc.MemberServiceStub(cls.channel)
        cls.admin = admin_grpc.AdminServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "channel", None) is not None:
            cls.channel.close()
        if cls.server is not None:
            cls.server.terminate()

    # ---- helpers ---------------------------------------------------------

    @classmethod
    def enroll(cls, member_id, name, card=""):
        return cls.admin.EnrollMember(
            admin_pb2.EnrollMemberRequest(member_id=member_id, display_name=name, card_number=card),
            metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)

    @staticmethod
    def new_txn(prefix):
        """A transaction id not used before in this run."""
        return f"{prefix}-{next(SERIAL)}"

    def new_member(self, prefix="m"):
        """Enrolls a fresh member with a card; returns (member_id, card)."""
        n = next(SERIAL)
        member_id = f"{prefix}-{n}"
        card = f"5{n:015d}"
        self.enroll(member_id, f"Member {n}", card)
        return member_id, card

    def record_sale(self, s, token=STORE1_TOKEN):
        """RecordSale; returns (outcome, x-idempotent-replay value)."""
        outcome, call = self.pos.RecordSale.with_call(
            pos_pb2.RecordSaleRequest(sale=s), metadata=lp.auth(token), timeout=RPC_TIMEOUT)
        return outcome, lp.replay_flag(call)

    def record_return(self, r, token=STORE1_TOKEN):
        outcome, call = self.pos.RecordReturn.with_call(
            return_request(r), metadata=lp.auth(token), timeout=RPC_TIMEOUT)
        return outcome, lp.replay_flag(call)

    def void_sale(self, v, token=STORE1_TOKEN):
        outcome, call = self.pos.VoidSale.with_call(
            void_request(v), metadata=lp.auth(token), timeout=RPC_TIMEOUT)
        return outcome, lp.replay_flag(call)

    def balance(self, member_id, token=ADMIN_TOKEN):
        view = self.members.GetMember(member_pb2.GetMemberRequest(member_id=member_id),
                                      metadata=lp.auth(token), timeout=RPC_TIMEOUT)
        return view.balance.available_points

    def assertRpcError(self, codes, fn, *args, **kwargs):
        """Calls fn and asserts it fails with one of `codes`; returns the error."""
        if isinstance(codes, grpc.StatusCode):
            codes = (codes,)
        try:
            result = fn(*args, **kwargs)
        except grpc.RpcError as e:
            self.assertIn(e.code(), codes,
                          f"expected {[c.name for c in codes]}, got {e.code().name}: {e.details()}")
            return e
        self.fail(f"expected {[c.name for c in codes]}, but the call succeeded: {result}")


class PosFlowTest(ServerTestCase):
    """Terminal, member and admin calls against one running server."""

    def test_enroll_and_lookup_by_card(self):
        # Verifies: EnrollMember creates a member (re-enrolling is a no-op) and
        # LookupMember by card finds it with a zero balance; unknown card is NOT_FOUND.
        r = self.enroll("m-carol", "Carol", "4000000000000003")
        self.assertEqual(r.member_id, "m-carol")
        self.assertTrue(r.created)
        again = self.enroll("m-carol", "Carol", "4000000000000003")
        self.assertFalse(again.created, "re-enrolling with the same content must not create")
        found = self.pos.LookupMember(pos_pb2.LookupMemberRequest(member=by_card("4000000000000003")),
                                      metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual(found.member_id, "m-carol")
        self.assertEqual(found.display_name, "Carol")
        self.assertEqual(found.balance.available_points, 0)
        self.assertRpcError(grpc.StatusCode.NOT_FOUND, self.pos.LookupMember,
                            pos_pb2.LookupMemberRequest(member=by_card("4999999999999999")),
                            metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)

    def test_enroll_card_taken_already_exists(self):
        # Verifies: a card number already held by another member is refused with ALREADY_EXISTS.
        self.assertRpcError(grpc.StatusCode.ALREADY_EXISTS, self.enroll, "m-dave", "Dave", ALICE_CARD)

    def test_sale_earns_points_per_line_rounded_down(self):
        # Verifies: a sale by card earns floor(line net / 100) per line, summed,
        # and the outcome reports member, amounts and the new balance.
        member_id, card = self.new_member()
        lines = [line(3, 199),                         # 597 -> 5
                 line(1, 99, sku="sku-2"),             # 99 -> 0
                 line(2, 1000, discount=150, sku="sku-3"),  # 1850 -> 18
                 line(4, 1275, sku="sku-4", category="drinks")]  # 5100 -> 51
        s = sale(self.new_txn("earn"), lines, member=by_card(card),
                 tenders=[common_pb2.Tender(type=common_pb2.TENDER_TYPE_CARD, amount_minor=7646)])
        outcome, replay = self.record_sale(s)
        self.assertEqual(points_for(lines), 74)
        self.assertEqual(outcome.points_earned, 74)
        self.assertEqual(outcome.kind, pos_pb2.EVENT_KIND_SALE)
        self.assertEqual(outcome.member_id, member_id)
        self.assertEqual(outcome.net_amount_minor, 7646)
        self.assertEqual(outcome.currency, "EUR")
        self.assertEqual(outcome.points_reversed, 0)
        self.assertEqual(outcome.balance.available_points, 74)
        self.assertGreater(outcome.event_seq, 0)
        self.assertNotEqual(replay, "true", "a first recording must not be marked as a replay")
        self.assertEqual(self.balance(member_id), 74)

    def test_retry_returns_identical_outcome_as_replay(self):
        # Verifies: retrying a sale with the same key and content returns the
        # first answer unchanged, with trailing metadata x-idempotent-replay: true,
        # and earns nothing twice.
        member_id, card = self.new_member()
        s = sale(self.new_txn("retry"), [line(2, 550)], member=by_card(card))
        first, replay1 = self.record_sale(s)
        self.assertNotEqual(replay1, "true")
        second, replay2 = self.record_sale(s)
        self.assertEqual(replay2, "true", "a retry must carry x-idempotent-replay: true")
        self.assertEqual(second, first, "a retry must get the first answer unchanged")
        self.assertEqual(self.balance(member_id), 11)

    def test_same_key_different_content_already_exists(self):
        # Verifies: the same (store, terminal, transaction) with other content,
        # of the same or another kind of event, is ALREADY_EXISTS and changes nothing.
        member_id, card = self.new_member()
        txn = self.new_txn("dup")
        s = sale(txn, [line(1, 1000)], member=by_card(card))
        self.record_sale(s)
        other = pos_pb2.Sale()
        other.CopyFrom(s)
        other.lines[0].quantity = 2
        other.total_minor = 2000
        with self.subTest("sale with other lines"):
            self.assertRpcError(grpc.StatusCode.ALREADY_EXISTS, self.record_sale, other)
        with self.subTest("a return under the sale's key"):
            r = return_of(txn, s.ref, [(0, 1)])
            self.assertRpcError(grpc.StatusCode.ALREADY_EXISTS, self.record_return, r)
        self.assertEqual(self.balance(member_id), 10)

    def test_partial_returns_reverse_cumulative_share(self):
        # Verifies: returns reverse floor(line_points * returned_total / qty)
        # minus what was already reversed, per line; a return retry is a replay.
        member_id, card = self.new_member()
        lines = [line(3, 333),               # 999 -> 9 points
                 line(7, 143, sku="sku-2"),  # 1001 -> 10 points
                 line(1, 99, sku="sku-3")]   # 99 -> 0 points
        s = sale(self.new_txn("ret-sale"), lines, member=by_card(card))
        sold, _ = self.record_sale(s)
        self.assertEqual(sold.points_earned, 19)

        # 1 of 3 units of line 0: floor(9*1/3)-0 = 3; 2 of 7 of line 1: floor(10*2/7)-0 = 2.
        r1 = return_of(self.new_txn("ret"), s.ref, [(0, 1), (1, 2)])
        out1, replay1 = self.record_return(r1)
        self.assertEqual(out1.kind, pos_pb2.EVENT_KIND_RETURN)
        self.assertEqual(out1.points_reversed, 5)
        self.assertEqual(out1.points_earned, 0)
        self.assertEqual(out1.member_id, member_id)
        self.assertEqual(out1.balance.available_points, 14)
        self.assertNotEqual(replay1, "true")
        # 3 more of line 1 (5 of 7 in all): floor(10*5/7) - 2 = 5.
        r2 = return_of(self.new_txn("ret"), s.ref, [(1, 3)])
        out2, _ = self.record_return(r2)
        self.assertEqual(out2.points_reversed, 5)
        self.assertEqual(out2.balance.available_points, 9)
        # The last 2 of line 1 and the last 2 of line 0: 10-7 = 3 and 9-3 = 6.
        r3 = return_of(self.new_txn("ret"), s.ref, [(1, 2), (0, 2)])
        out3, _ = self.record_return(r3)
        self.assertEqual(out3.points_reversed, 9)
        self.assertEqual(out3.balance.available_points, 0)
        # A retry of the first return is a replay of its first answer.
        again, replay = self.record_return(r1)
        self.assertEqual(replay, "true")
        self.assertEqual(again, out1)
        self.assertEqual(self.balance(member_id), 0)

    def test_return_more_than_sold_refused(self):
        # Verifies: returning more units than remain unreturned, or returning
        # a sale that is not recorded, is refused and changes nothing.
        member_id, card = self.new_member()
        s = sale(self.new_txn("over-sale"), [line(2, 500)], member=by_card(card))
        self.record_sale(s)
        with self.subTest("more than sold in one return"):
            r = return_of(self.new_txn("over"), s.ref, [(0, 3)])
            self.assertRpcError((grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT),
                                self.record_return, r)
        with self.subTest("more than remains after an earlier return"):
            self.record_return(return_of(self.new_txn("over"), s.ref, [(0, 1)]))
            r = return_of(self.new_txn("over"), s.ref, [(0, 2)])
            self.assertRpcError((grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT),
                                self.record_return, r)
        with self.subTest("line index past the sale's lines"):
            r = return_of(self.new_txn("over"), s.ref, [(1, 1)])
            self.assertRpcError((grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT),
                                self.record_return, r)
        with self.subTest("original sale not recorded"):
            r = return_of(self.new_txn("over"), ref("no-such-sale"), [(0, 1)])
            self.assertRpcError(grpc.StatusCode.FAILED_PRECONDITION, self.record_return, r)
        self.assertEqual(self.balance(member_id), 5)  # 10 earned, 5 reversed by the 1-unit return

    def test_void_reverses_remainder(self):
        # Verifies: VoidSale reverses what returns have not already reversed;
        # voiding twice and returning after a void are FAILED_PRECONDITION.
        member_id, card = self.new_member()
        s = sale(self.new_txn("void-sale"), [line(4, 250), line(3, 1000, sku="sku-2")],
                 member=by_card(card))
        sold, _ = self.record_sale(s)
        self.assertEqual(sold.points_earned, 40)  # 10 + 30
        ret, _ = self.record_return(return_of(self.new_txn("void-ret"), s.ref, [(1, 1)]))
        self.assertEqual(ret.points_reversed, 10)
        v = void_of(self.new_txn("void"), s.ref)
        voided, replay = self.void_sale(v)
        self.assertEqual(voided.kind, pos_pb2.EVENT_KIND_VOID)
        self.assertEqual(voided.points_reversed, 30)
        self.assertEqual(voided.balance.available_points, 0)
        self.assertNotEqual(replay, "true")
        again, replay = self.void_sale(v)
        self.assertEqual(replay, "true")
        self.assertEqual(again, voided)
        with self.subTest("second void"):
            self.assertRpcError(grpc.StatusCode.FAILED_PRECONDITION, self.void_sale,
                                void_of(self.new_txn("void"), s.ref))
        with self.subTest("return after void"):
            self.assertRpcError(grpc.StatusCode.FAILED_PRECONDITION, self.record_return,
                                return_of(self.new_txn("void-ret"), s.ref, [(0, 1)]))
        self.assertEqual(self.balance(member_id), 0)

    def test_invalid_input_names_the_field(self):
        # Verifies: invalid requests are INVALID_ARGUMENT and the message names
        # the offending field path.
        member_id, card = self.new_member()
        good = [line(1, 100), line(2, 300, sku="sku-2")]

        def bad_sale(mutate):
            s = sale(self.new_txn("bad"), good, member=by_card(card))
            mutate(s)
            return s

        def zero_qty(s):
            s.lines[1].quantity = 0
            s.total_minor = 100

        cases = [
            ("sale.lines[1].quantity", bad_sale(zero_qty)),
            ("sale.total_minor", bad_sale(lambda s: setattr(s, "total_minor", 1))),
            ("sale.currency", bad_sale(lambda s: setattr(s, "currency", "eur"))),
            ("sale.ref.transaction_id", bad_sale(lambda s: setattr(s.ref, "transaction_id", "a b"))),
            ("sale.lines", bad_sale(lambda s: (s.ClearField("lines"), setattr(s, "total_minor", 0)))),
            ("sale.occurred_at", bad_sale(lambda s: s.occurred_at.FromSeconds(int(time.time()) + 3600))),
        ]
        for field, s in cases:
            with self.subTest(field):
                e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.record_sale, s)
                self.assertIn(field, e.details() or "", f"the error must name {field}")
        with self.subTest("return.lines[0].quantity"):
            sold = sale(self.new_txn("bad-sale"), good, member=by_card(card))
            self.record_sale(sold)
            r = return_of(self.new_txn("bad"), sold.ref, [(0, 0)])
            e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.record_return, r)
            self.assertIn("return.lines[0].quantity", e.details() or "")
        self.assertEqual(self.balance(member_id), 7)  # only the one valid sale: 1 + 6

    def test_unreadable_request_is_invalid_argument_naming_its_type(self):
        # Finding: bytes that are not the request's message were answered
        # UNIMPLEMENTED with an empty message.
        garbage = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, a length past the end
        before = self.balance(ALICE)
        for method, type_name in (("/loyalty.v1.PosService/RecordSale", "loyalty.v1.RecordSaleRequest"),
                                  ("/loyalty.v1.MemberService/GetMember", "loyalty.v1.GetMemberRequest"),
                                  ("/loyalty.v1.AdminService/AdjustPoints", "loyalty.v1.AdjustPointsRequest")):
            call = self.channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
            e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, call, garbage, metadata=lp.auth(ADMIN_TOKEN),
                                    timeout=RPC_TIMEOUT)
            self.assertEqual(e.details(), f"request: unreadable: the bytes are not a {type_name} (protobuf binary)")
        watch = self.channel.unary_stream("/loyalty.v1.MemberService/WatchMember", request_serializer=lambda b: b,
                                          response_deserializer=lambda b: b)
        e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, lambda: list(watch(garbage, metadata=lp.auth(ADMIN_TOKEN),
                                                                                   timeout=RPC_TIMEOUT)))
        self.assertIn("loyalty.v1.WatchMemberRequest", e.details())
        self.assertEqual(self.balance(ALICE), before)

    def test_missing_or_unknown_token_unauthenticated(self):
        # Verifies: a call without a token, with an unknown token or a
        # malformed authorization header is UNAUTHENTICATED.
        s = sale(self.new_txn("noauth"), [line(1, 100)])
        req = pos_pb2.RecordSaleRequest(sale=s)
        for name, md in [("no metadata", ()),
                         ("unknown token", lp.auth("not-a-configured-token")),
                         ("not Bearer", (("authorization", "Basic " + STORE1_TOKEN),))]:
            with self.subTest(name):
                self.assertRpcError(grpc.StatusCode.UNAUTHENTICATED, self.pos.RecordSale, req,
                                    metadata=md, timeout=RPC_TIMEOUT)
        with self.subTest("GetMember without token"):
            self.assertRpcError(grpc.StatusCode.UNAUTHENTICATED, self.members.GetMember,
                                member_pb2.GetMemberRequest(member_id=ALICE), timeout=RPC_TIMEOUT)

    def test_wrong_store_or_role_permission_denied(self):
        # Verifies: a store-1 terminal may not record for store-2, and roles
        # are enforced (member cannot record, terminal cannot enroll).
        member_id, card = self.new_member()
        s = sale(self.new_txn("perm"), [line(1, 500)], member=by_card(card), store="store-2")
        with self.subTest("store-1 terminal, store-2 sale"):
            self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.record_sale, s, STORE1_TOKEN)
        with self.subTest("member token records a sale"):
            self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.record_sale, s, ALICE_TOKEN)
        with self.subTest("terminal token enrolls"):
            self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.admin.EnrollMember,
                                admin_pb2.EnrollMemberRequest(member_id="m-eve", display_name="Eve"),
                                metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
        # The store-2 terminal may record it.
        outcome, _ = self.record_sale(s, STORE2_TOKEN)
        self.assertEqual(outcome.points_earned, 5)

    def test_member_token_sees_only_its_member(self):
        # Verifies: a member token reads its own member (with the right
        # balance) and gets PERMISSION_DENIED for any other member.
        s = sale(self.new_txn("alice"), [line(1, 4200)], member=by_card(ALICE_CARD))
        self.record_sale(s)
        expected = self.balance(ALICE, ADMIN_TOKEN)
        self.assertGreaterEqual(expected, 42)
        view = self.members.GetMember(member_pb2.GetMemberRequest(member_id=ALICE),
                                      metadata=lp.auth(ALICE_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual(view.member_id, ALICE)
        self.assertEqual(view.balance.available_points, expected)
        looked_up = self.pos.LookupMember(pos_pb2.LookupMemberRequest(member=by_card(ALICE_CARD)),
                                          metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual(looked_up.balance.available_points, expected)
        with self.subTest("GetMember of bob"):
            self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.members.GetMember,
                                member_pb2.GetMemberRequest(member_id=BOB),
                                metadata=lp.auth(ALICE_TOKEN), timeout=RPC_TIMEOUT)
        with self.subTest("ListHistory of bob"):
            self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.members.ListHistory,
                                member_pb2.ListHistoryRequest(member_id=BOB),
                                metadata=lp.auth(ALICE_TOKEN), timeout=RPC_TIMEOUT)

    def test_history_lists_earn_and_reverse_entries(self):
        # Verifies: ListHistory shows the ledger newest first, with causes,
        # and pages through it with page_token; the entries sum to the balance.
        member_id, card = self.new_member()
        sales = [sale(self.new_txn("hist"), [line(1, 100 * (i + 1))], member=by_card(card))
                 for i in range(5)]
        for s in sales:
            self.record_sale(s)
        self.record_return(return_of(self.new_txn("hist-ret"), sales[4].ref, [(0, 1)]))
        entries, token, pages = [], "", 0
        while True:
            page = self.members.ListHistory(
                member_pb2.ListHistoryRequest(member_id=member_id, page_size=2, page_token=token),
                metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
            pages += 1
            self.assertLessEqual(len(page.entries), 2)
            entries.extend(page.entries)
            token = page.next_page_token
            if not token:
                break
            self.assertLess(pages, 20, "paging does not end")
        self.assertEqual(len(entries), 6)
        kinds = [e.kind for e in entries]
        self.assertEqual(kinds, [common_pb2.LEDGER_ENTRY_KIND_REVERSE] + [common_pb2.LEDGER_ENTRY_KIND_EARN] * 5)
        ids = [e.entry_id for e in entries]
        self.assertEqual(ids, sorted(ids, reverse=True), "newest first")
        self.assertEqual([e.cause.transaction_id for e in entries[1:]],
                         [s.ref.transaction_id for s in reversed(sales)])
        self.assertEqual(entries[0].points, -5)
        self.assertEqual(sum(e.points for e in entries), self.balance(member_id))
        self.assertEqual(self.balance(member_id), 1 + 2 + 3 + 4 + 5 - 5)

    def test_backlog_out_of_order_all_accepted(self):
        # Verifies: UploadBacklog applies events sent in any order (returns and
        # voids before their sales) and answers each in stream order; a second
        # upload of the same events is all replays.
        member_id, card = self.new_member()
        sale_a = sale(self.new_txn("bl-a"), [line(4, 250), line(1, 1234, sku="sku-2")],
                      member=by_card(card), ago=60)            # 10 + 12 = 22 points
        sale_b = sale(self.new_txn("bl-b"), [line(2, 500)], member=by_card(card), ago=50)  # 10
        ret_a = return_of(self.new_txn("bl-r"), sale_a.ref, [(0, 1)], ago=30)  # floor(10*1/4) = 2
        void_b = void_of(self.new_txn("bl-v"), sale_b.ref, ago=20)             # 10
        events = [pos_pb2.BacklogEvent(**{"return": ret_a}),
                  pos_pb2.BacklogEvent(**{"void": void_b}),
                  pos_pb2.BacklogEvent(sale=sale_a),
                  pos_pb2.BacklogEvent(sale=sale_b)]
        result = self.pos.UploadBacklog(iter(events), metadata=lp.auth(STORE1_TOKEN),
                                        timeout=RPC_TIMEOUT)
        self.assertEqual(len(result.results), 4)
        for i, r in enumerate(result.results):
            self.assertEqual(r.index, i)
            self.assertEqual(r.code, 0, f"event {i}: {r.message}")
            self.assertFalse(r.replayed)
        self.assertEqual((result.accepted, result.rejected), (4, 0))
        outcomes = [r.outcome for r in result.results]
        self.assertEqual(outcomes[0].kind, pos_pb2.EVENT_KIND_RETURN)
        self.assertEqual(outcomes[0].points_reversed, 2)
        self.assertEqual(outcomes[1].kind, pos_pb2.EVENT_KIND_VOID)
        self.assertEqual(outcomes[1].points_reversed, 10)
        self.assertEqual(outcomes[2].points_earned, 22)
        self.assertEqual(outcomes[3].points_earned, 10)
        # The sales were applied before the return and void that reference them.
        self.assertLess(outcomes[2].event_seq, outcomes[0].event_seq)
        self.assertLess(outcomes[3].event_seq, outcomes[1].event_seq)
        self.assertEqual(self.balance(member_id), 22 + 10 - 2 - 10)

        again = self.pos.UploadBacklog(iter(events), metadata=lp.auth(STORE1_TOKEN),
                                       timeout=RPC_TIMEOUT)
        self.assertEqual((again.accepted, again.rejected), (4, 0))
        for first, second in zip(result.results, again.results):
            self.assertTrue(second.replayed)
            self.assertEqual(second.outcome, first.outcome)
        # And a single RecordSale retry of a backlog sale is a replay too.
        outcome, replay = self.record_sale(sale_a)
        self.assertEqual(replay, "true")
        self.assertEqual(outcome, outcomes[2])
        self.assertEqual(self.balance(member_id), 20)

    def test_backlog_bad_event_rejected_alone(self):
        # Verifies: an invalid backlog event is answered with its own error
        # code and message while the other events are accepted.
        member_id, card = self.new_member()
        good = sale(self.new_txn("bl-good"), [line(1, 700)], member=by_card(card), ago=10)
        bad = sale(self.new_txn("bl-bad"), [line(1, 700)], member=by_card(card), ago=10)
        bad.lines[0].quantity = 0
        bad.total_minor = 0
        result = self.pos.UploadBacklog(iter([pos_pb2.BacklogEvent(sale=bad),
                                              pos_pb2.BacklogEvent(sale=good)]),
                                        metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual((result.accepted, result.rejected), (1, 1))
        self.assertEqual(result.results[0].code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertIn("sale.lines[0].quantity", result.results[0].message)
        self.assertEqual(result.results[1].code, 0)
        self.assertEqual(self.balance(member_id), 7)

    def test_verify_ledger_clean(self):
        # Verifies: after all the other activity, VerifyLedger finds no member
        # whose balance differs from its ledger.
        s = sale(self.new_txn("vl"), [line(1, 300)], member=by_card(BOB_CARD))
        self.record_sale(s)
        report = self.admin.VerifyLedger(admin_pb2.VerifyLedgerRequest(),
                                         metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
        self.assertGreaterEqual(report.members_checked, 2)
        self.assertGreaterEqual(report.ledger_entries, 1)
        self.assertEqual(report.mismatches, 0, list(report.mismatched_member_ids))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for row in f:
            if row.startswith("VmRSS:"):
                return int(row.split()[1])
    return 0


class BacklogStreamTest(ServerTestCase):
    """A backlog stream is applied only if it ended cleanly with every event
    read: the broken streams an attacker (or a bad network) makes apply
    nothing and say why; who may not upload is refused before anything is
    read."""

    def raw_upload(self, chunks, token=STORE1_TOKEN):
        """UploadBacklog with each element of `chunks` sent as the raw bytes of one message."""
        call = self.channel.stream_unary("/loyalty.v1.PosService/UploadBacklog",
                                         request_serializer=lambda b: b,
                                         response_deserializer=pos_pb2.BacklogResult.FromString)
        return call(iter(chunks), metadata=lp.auth(token), timeout=RPC_TIMEOUT)

    def backlog_sale(self, card, prefix="bs", price=500):
        return pos_pb2.BacklogEvent(sale=sale(self.new_txn(prefix), [line(1, price)], member=by_card(card), ago=60))

    def test_unreadable_event_applies_nothing(self):
        # Finding: sale A, unreadable bytes, sale B answered OK with one result; B dropped.
        member_id, card = self.new_member()
        a, b = self.backlog_sale(card), self.backlog_sale(card)
        error = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.raw_upload,
                                    [a.SerializeToString(), b"\xff\xff\xff\xff", b.SerializeToString()])
        self.assertIn("event[1]: unreadable", error.details())
        self.assertEqual(self.balance(member_id), 0, "neither A nor B was applied")
        # The same stream, readable, is applied whole.
        result = self.raw_upload([a.SerializeToString(), b.SerializeToString()])
        self.assertEqual((result.accepted, result.rejected), (2, 0))
        self.assertEqual(self.balance(member_id), 10)

    def test_oversized_event_applies_nothing(self):
        # Finding: sale A then an oversized event: RESOURCE_EXHAUSTED, yet A saved.
        member_id, card = self.new_member()
        a = self.backlog_sale(card)
        for size in (300 << 10, 5 << 20):  # past the backlog's event limit; past gRPC's message limit
            big = self.backlog_sale(card)
            big.sale.lines[0].sku = "x" * size
            error = self.assertRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, self.raw_upload,
                                        [a.SerializeToString(), big.SerializeToString()])
            if size < (4 << 20):
                self.assertIn("event[1]:", error.details())
            self.assertEqual(self.balance(member_id), 0, f"A was not applied ({size} bytes)")

    def test_cancelled_stream_applies_nothing(self):
        # Finding: a stream the client cancels: all 420 events sent were saved.
        member_id, card = self.new_member()
        sent = threading.Event()
        release = threading.Event()

        def events():
            for _ in range(420):
                yield self.backlog_sale(card, price=100)
            sent.set()
            release.wait(10)  # the stream stays open until the test cancels it

        future = self.pos.UploadBacklog.future(events(), metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
        self.assertTrue(sent.wait(10))
        time.sleep(0.5)  # the server has read them
        future.cancel()
        release.set()
        with self.assertRaises(grpc.FutureCancelledError):
            future.result()
        time.sleep(1.0)
        self.assertEqual(self.balance(member_id), 0, "none of the 420 events was applied")

    def test_member_credential_is_refused_before_anything_is_buffered(self):
        # Finding: two member-token streams took the server from 97 MB to 578 MB.
        event = pos_pb2.BacklogEvent(sale=sale(self.new_txn("mem"), [line(1, 100, sku="x" * (200 << 10))]))
        chunk = event.SerializeToString()
        before = rss_kib(self.server.pid())
        for _ in range(2):
            error = self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.raw_upload,
                                        (chunk for _ in range(2000)), token=ALICE_TOKEN)
            self.assertIn("terminal", error.details())
        grown_mib = (rss_kib(self.server.pid()) - before) / 1024
        self.assertLess(grown_mib, 64, f"the server grew by {grown_mib:.0f} MiB for refused streams")

    def test_stream_over_its_byte_limit_applies_nothing(self):
        member_id, card = self.new_member()
        a = self.backlog_sale(card)
        filler = self.backlog_sale(card)
        filler.sale.lines[0].sku = "y" * (200 << 10)
        chunks = [a.SerializeToString()] + [filler.SerializeToString()] * 170  # about 34 MiB
        error = self.assertRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, self.raw_upload, chunks)
        self.assertIn("bytes in one upload", error.details())
        self.assertEqual(self.balance(member_id), 0)


def http_call(port, method, path, token=None, body=None):
    """(status, headers dict with lower-case names, body) of an HTTP call."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=RPC_TIMEOUT)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def retry_delay_s(error):
    return lp.retry_delay_s(error)


class RateLimitTest(ServerTestCase):
    """Every caller has a token bucket (terminal and admin credentials their
    own, a member whatever token it uses), and LookupMember one more per
    terminal credential; past it RESOURCE_EXHAUSTED with RetryInfo over gRPC,
    429 with Retry-After over HTTP. Limits here are tiny so that the test
    reaches them in a few calls."""

    EXTRA_CONFIG = """
terminal_rate_limit { per_second: 4 burst: 6 }
member_rate_limit { per_second: 1 burst: 3 }
admin_rate_limit { per_second: 0 }
member_lookup_rate_limit { per_second: 0.5 burst: 2 }
"""

    def evaluate(self, token, store="store-1"):
        return self.pos.EvaluateBasket(
            pos_pb2.EvaluateBasketRequest(store_id=store, member=by_card(ALICE_CARD), currency="EUR",
                                          lines=[line(1, 500)]),
            metadata=lp.auth(token), timeout=RPC_TIMEOUT)

    def drain(self, fn, limit=50):
        """Calls fn until it is refused; returns the error."""
        for _ in range(limit):
            try:
                fn()
            except grpc.RpcError as e:
                return e
        self.fail(f"no refusal in {limit} calls")

    def test_terminal_over_its_limit_is_told_when_to_retry(self):
        refused = self.drain(lambda: self.evaluate(STORE1_TOKEN))
        self.assertEqual(refused.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, refused.details())
        self.assertIn("rate limit of terminal credential 'store-1/till'", refused.details())
        delay = retry_delay_s(refused)
        self.assertIsNotNone(delay, "RetryInfo in grpc-status-details-bin")
        self.assertGreater(delay, 0)
        self.assertLessEqual(delay, 0.25 + 0.001)  # one token at 4 a second
        # The admin has no limit here (per_second 0).
        for _ in range(20):
            self.admin.VerifyLedger(admin_pb2.VerifyLedgerRequest(), metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
        time.sleep(delay + 0.05)
        self.evaluate(STORE1_TOKEN)  # the hint was right

    def test_member_over_http_gets_429_with_retry_after(self):
        statuses = []
        for _ in range(10):
            status, headers, body = http_call(self.server.http_port, "GET", "/v1/members/me", token=ALICE_TOKEN)
            statuses.append(status)
            if status == 429:
                self.assertEqual(headers.get("retry-after"), "1", headers)
                self.assertIn("rate limit of member 'm-alice'", body)
                break
        self.assertEqual(statuses[-1], 429, statuses)
        self.assertGreaterEqual(len(statuses), 3, statuses)  # the burst passed first
        # The same member over gRPC shares the bucket.
        with self.assertRaises(grpc.RpcError) as e:
            self.members.GetMember(member_pb2.GetMemberRequest(member_id=ALICE), metadata=lp.auth(ALICE_TOKEN),
                                   timeout=RPC_TIMEOUT)
        self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)

    def test_lookups_have_their_own_limit_and_answer_only_what_a_till_needs(self):
        member_id, card = self.new_member("rl")
        looked = self.pos.LookupMember(pos_pb2.LookupMemberRequest(member=by_card(card)),
                                       metadata=lp.auth(STORE2_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual(looked.member_id, member_id)
        self.assertEqual(looked.display_name, "Member")  # "Member <n>": the first name only
        # The admin sees the whole name.
        full = self.pos.LookupMember(pos_pb2.LookupMemberRequest(member=by_card(card)),
                                     metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
        self.assertTrue(full.display_name.startswith("Member "), full.display_name)
        refused = self.drain(lambda: self.lookup_unknown(STORE2_TOKEN))
        self.assertEqual(refused.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, refused.details())
        self.assertIn("member lookups of terminal credential 'store-2/till'", refused.details())
        self.assertIsNotNone(retry_delay_s(refused))
        # Other calls of the same terminal still pass (it has tokens left).
        self.evaluate(STORE2_TOKEN, store="store-2")
        _, metrics = http_get(self.server.http_port, "/metrics")
        self.assertRegex(metrics, r'loyaltyd_member_lookups_total\{result="limited"\} [1-9]')
        self.assertRegex(metrics, r'loyaltyd_member_lookups_total\{result="not_found"\} [1-9]')

    def lookup_unknown(self, token):
        """A lookup of a card nobody has: NOT_FOUND until the limit."""
        try:
            self.pos.LookupMember(pos_pb2.LookupMemberRequest(member=by_card("4111999999999999")),
                                  metadata=lp.auth(token), timeout=RPC_TIMEOUT)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return
            raise


def http_get(port, path):
    """(status, body) of a GET on the server's HTTP port."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=RPC_TIMEOUT)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


class FullDiskTest(unittest.TestCase):
    """The data folder on a small tmpfs the test mounts, filled by a file the
    test writes: writes are refused with UNAVAILABLE while reads go on, the
    server restarts on the full disk (read-only) without aborting, and once
    the file is removed writes go on by themselves; nothing acknowledged is
    lost."""

    MIB = 1 << 20
    RESERVE_MIB = 24

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="loyaltyd-e2e-FullDiskTest-")
        TEMP_DIRS.append(cls.work)
        cls.disk = os.path.join(cls.work, "disk")
        os.makedirs(cls.disk)
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320m", "tmpfs", cls.disk],
                               capture_output=True, text=True)
        if mount.returncode != 0:
            raise unittest.SkipTest(f"cannot mount a tmpfs to fill (needs root): {mount.stderr.strip()}")
        cls.filler = os.path.join(cls.disk, "filler")
        cls.server = lp.LoyaltydProcess(ARGS.binary, os.path.join(cls.disk, "data"), lp.free_port(),
                                        CREDENTIALS, work_dir=cls.work,
                                        extra_config=lp.BASE_RULE_PROGRAM +
                                        f"\nstorage_min_free_mb: {cls.RESERVE_MIB}\n")

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "server", None) is not None:
            cls.server.kill()
        subprocess.run(["umount", "-l", cls.disk], capture_output=True)

    def stubs(self):
        channel = self.server.channel()
        self.addCleanup(channel.close)
        return (pos_grpc.PosServiceStub(channel), member_grpc.MemberServiceStub(channel),
                admin_grpc.AdminServiceStub(channel))

    def fill_disk(self, leave_mib):
        """Grows the filler file until `leave_mib` MiB are free."""
        st = os.statvfs(self.disk)
        free = st.f_bavail * st.f_frsize
        extra = free - leave_mib * self.MIB
        if extra <= 0:
            return
        current = os.path.getsize(self.filler) if os.path.exists(self.filler) else 0
        with open(self.filler, "ab") as f:
            os.posix_fallocate(f.fileno(), 0, current + extra)

    def sale_for(self, card, price):
        return pos_pb2.RecordSaleRequest(sale=sale(ServerTestCase.new_txn("fd"), [line(1, price)], member=by_card(card)))

    def wait_for(self, what, fn, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            last = fn()
            if last is True:
                return
            if time.monotonic() > deadline:
                self.fail(f"{what}: still {last!r} after {timeout} s\n{self.server.log_tail()}")
            time.sleep(0.1)

    def test_full_disk_refuses_writes_keeps_reads_survives_restart_and_resumes(self):
        server = self.server
        server.start()
        pos, members, admin = self.stubs()
        admin.EnrollMember(admin_pb2.EnrollMemberRequest(member_id="m-disk", display_name="Disk", card_number="4999000000000001"),
                           metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
        card = "4999000000000001"
        first = pos.RecordSale(self.sale_for(card, 1200), metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual(first.points_earned, 12)

        def balance():
            return members.GetMember(member_pb2.GetMemberRequest(member_id="m-disk"), metadata=lp.auth(ADMIN_TOKEN),
                                     timeout=RPC_TIMEOUT).balance.available_points

        accepted = []  # sales of 3 points taken before the disk check saw the disk full

        def sale_refused():
            try:
                pos.RecordSale(self.sale_for(card, 300), metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
                accepted.append(3)
                return "a sale was accepted"
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or "disk is nearly full" not in e.details():
                    return f"{e.code().name}: {e.details()}"
                return True

        # The disk fills: writes are refused, reads go on, /readyz says why.
        self.fill_disk(leave_mib=4)
        self.wait_for("a sale on a full disk", sale_refused)
        before = 12 + sum(accepted)
        self.assertEqual(balance(), before)
        status, body = http_get(server.http_port, "/readyz")
        self.assertEqual(status, 503, body)
        self.assertIn("disk is nearly full", body)
        _, metrics = http_get(server.http_port, "/metrics")
        self.assertIn('loyaltyd_storage_writes_refused{reason="disk_low"} 1', metrics)
        free_line = [l for l in metrics.splitlines() if l.startswith("loyaltyd_disk_free_bytes ")]
        self.assertEqual(len(free_line), 1, metrics[:2000])
        self.assertLess(float(free_line[0].split()[1]), self.RESERVE_MIB * self.MIB)
        # Enrolment is a write too.
        with self.assertRaises(grpc.RpcError) as refused:
            admin.EnrollMember(admin_pb2.EnrollMemberRequest(member_id="m-disk-2", display_name="D2"),
                               metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAVAILABLE)

        # A stop and a start on the full disk: no abort, read-only, reads go on.
        self.assertEqual(server.terminate(timeout=10.0), 0, server.log_tail())
        self.fill_disk(leave_mib=2)
        server.start()
        pos, members, admin = self.stubs()
        self.assertEqual(balance(), before)
        accepted.clear()
        self.wait_for("a sale on a read-only start", sale_refused)
        self.assertEqual(accepted, [], "a read-only start took a sale")
        _, metrics = http_get(server.http_port, "/metrics")
        self.assertIn('loyaltyd_storage_writes_refused{reason="read_only"} 1', metrics)
        # A SIGKILL and a start on the full disk: the same.
        server.kill()
        server.start()
        pos, members, admin = self.stubs()
        self.assertEqual(balance(), before)

        # Space returns: writes go on without a restart.
        os.remove(self.filler)

        def sale_accepted():
            try:
                out = pos.RecordSale(self.sale_for(card, 700), metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
                return out.points_earned == 7 or f"earned {out.points_earned}"
            except grpc.RpcError as e:
                return f"{e.code().name}: {e.details()}"

        self.wait_for("a sale after space returned", sale_accepted)
        self.assertEqual(balance(), before + 7)
        status, body = http_get(server.http_port, "/readyz")
        self.assertEqual(status, 200, body)
        self.assertIn("reopened read-write", open(server.log_path, encoding="utf-8", errors="replace").read())
        # And all of it survives a restart.
        self.assertEqual(server.terminate(timeout=10.0), 0, server.log_tail())
        server.start()
        pos, members, admin = self.stubs()
        self.assertEqual(balance(), before + 7)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_cert(dirname, name, cn, ca=None, server=False):
    """A key and a certificate `name`.{key,pem} for common name `cn`, signed
    by `ca` (a name made before) or self-signed (then also a CA)."""
    openssl("req", "-x509" if ca is None else "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem" if ca is None else f"{name}.csr",
            "-subj", "/CN=" + cn.replace("/", "\\/"), "-days", "2", *(["-addext", "basicConstraints=critical,CA:TRUE"] if ca is None else []),
            cwd=dirname)
    if ca is not None:
        ext = os.path.join(dirname, f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if server:
                f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", ext, cwd=dirname)
    return os.path.join(dirname, f"{name}.key"), os.path.join(dirname, f"{name}.pem")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class TlsTest(unittest.TestCase):
    """Both ports speak TLS only, with certificates openssl makes here: gRPC
    and HTTP over TLS, plaintext refused, mutual TLS binding a terminal's
    certificate to its store (required for terminals here; members and
    admins need none), an untrusted client certificate refused, and a
    renewed server certificate served without a restart."""

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="loyaltyd-e2e-TlsTest-")
        TEMP_DIRS.append(cls.work)
        certs = os.path.join(cls.work, "certs")
        os.makedirs(certs)
        cls.certs = certs
        make_cert(certs, "ca", "loyalty test CA")
        make_cert(certs, "server", "localhost", ca="ca", server=True)
        make_cert(certs, "store1", "store-1/till-1", ca="ca")
        make_cert(certs, "store2", "store-2", ca="ca")
        make_cert(certs, "rogue", "store-1")  # self-signed: not of the CA
        # The server reads copies, which the reload test replaces.
        cls.server_key = os.path.join(certs, "live.key")
        cls.server_pem = os.path.join(certs, "live.pem")
        shutil.copy(os.path.join(certs, "server.key"), cls.server_key)
        shutil.copy(os.path.join(certs, "server.pem"), cls.server_pem)
        cls.ca = read_bytes(os.path.join(certs, "ca.pem"))
        cls.server = lp.LoyaltydProcess(
            ARGS.binary, os.path.join(cls.work, "data"), lp.free_port(), CREDENTIALS, work_dir=cls.work,
            extra_config=lp.BASE_RULE_PROGRAM + f"""
tls {{
  cert_chain_file: "{cls.server_pem}"
  private_key_file: "{cls.server_key}"
  client_ca_file: "{os.path.join(certs, 'ca.pem')}"
  require_terminal_certificate: true
  reload_interval_s: 1
}}
""")
        cls.server.channel_credentials = cls.credentials()
        try:
            cls.server.start()
        except Exception:
            cls.server.kill()
            raise
        with cls.server.channel() as ch:
            admin_grpc.AdminServiceStub(ch).EnrollMember(
                admin_pb2.EnrollMemberRequest(member_id=ALICE, display_name="Alice", card_number=ALICE_CARD),
                metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "server", None) is not None:
            cls.server.terminate()

    @classmethod
    def credentials(cls, client=None):
        if client is None:
            return grpc.ssl_channel_credentials(root_certificates=cls.ca)
        key, pem = (os.path.join(cls.certs, f"{client}.{ext}") for ext in ("key", "pem"))
        return grpc.ssl_channel_credentials(root_certificates=cls.ca, private_key=read_bytes(key),
                                            certificate_chain=read_bytes(pem))

    def sale_as(self, client, token=STORE1_TOKEN):
        with self.server.channel(self.credentials(client)) as ch:
            return pos_grpc.PosServiceStub(ch).RecordSale(
                pos_pb2.RecordSaleRequest(sale=sale(ServerTestCase.new_txn("tls"), [line(1, 500)], member=by_card(ALICE_CARD))),
                metadata=lp.auth(token), timeout=RPC_TIMEOUT)

    def https(self, path, token, client=None):
        import http.client
        import ssl
        ctx = ssl.create_default_context(cadata=self.ca.decode())
        if client is not None:
            ctx.load_cert_chain(os.path.join(self.certs, f"{client}.pem"), os.path.join(self.certs, f"{client}.key"))
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.http_port, context=ctx, timeout=RPC_TIMEOUT)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            return r.status, r.read().decode(), conn.sock.getpeercert(binary_form=True)
        finally:
            conn.close()

    def test_grpc_terminal_with_its_stores_certificate(self):
        out = self.sale_as("store1")
        self.assertEqual(out.points_earned, 5)

    def test_grpc_terminal_with_another_stores_certificate_or_none_is_refused(self):
        for client, fragment in (("store2", "it belongs to store 'store-2'"),
                                 (None, "need the client certificate of their store")):
            with self.assertRaises(grpc.RpcError) as e:
                self.sale_as(client)
            self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED, e.exception.details())
            self.assertIn(fragment, e.exception.details())

    def test_grpc_member_needs_no_certificate(self):
        with self.server.channel() as ch:
            view = member_grpc.MemberServiceStub(ch).GetMember(member_pb2.GetMemberRequest(member_id=ALICE),
                                                               metadata=lp.auth(ALICE_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual(view.member_id, ALICE)

    def test_grpc_plaintext_and_untrusted_certificates_are_refused(self):
        with grpc.insecure_channel(self.server.address) as ch:
            with self.assertRaises(grpc.RpcError) as e:
                member_grpc.MemberServiceStub(ch).GetMember(member_pb2.GetMemberRequest(member_id=ALICE),
                                                            metadata=lp.auth(ALICE_TOKEN), timeout=3)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        with self.assertRaises(grpc.RpcError) as e:
            self.sale_as("rogue")
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_http_over_tls_with_and_without_client_certificates(self):
        status, body, _ = self.https("/v1/members/me", ALICE_TOKEN)
        self.assertEqual(status, 200, body)
        self.assertIn('"member_id":"m-alice"', body.replace(" ", ""))
        status, body, _ = self.https(f"/v1/members/{ALICE}", STORE1_TOKEN, client="store2")
        self.assertEqual(status, 403, body)
        self.assertIn("it belongs to store 'store-2'", body)
        status, body, _ = self.https("/readyz", ALICE_TOKEN, client="store1")
        self.assertEqual(status, 200, body)
        # Plaintext to the TLS port gets no answer.
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.server.http_port, timeout=3)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        conn.close()
        import ssl
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.https("/v1/members/me", ALICE_TOKEN, client="rogue")

    def test_zz_renewed_certificate_is_served_without_restart(self):
        _, _, before = self.https("/healthz", ALICE_TOKEN)
        make_cert(self.certs, "renewed", "localhost", ca="ca", server=True)
        # Key first, then the chain: the server may read between the two
        # and keep the old pair (a pair that does not match is not used).
        shutil.copy(os.path.join(self.certs, "renewed.key"), self.server_key + ".new")
        shutil.copy(os.path.join(self.certs, "renewed.pem"), self.server_pem + ".new")
        os.replace(self.server_key + ".new", self.server_key)
        os.replace(self.server_pem + ".new", self.server_pem)
        deadline = time.monotonic() + 10
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.2)
            _, _, after = self.https("/healthz", ALICE_TOKEN)
        self.assertNotEqual(after, before, "HTTP still serves the old certificate after 10 s")
        self.assertEqual(after, ssl_der(os.path.join(self.certs, "renewed.pem")))
        # gRPC took it too, and still works.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.assertEqual(self.sale_as("store1").points_earned, 5)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def ssl_der(pem_path):
    import ssl
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class CredentialsTest(ServerTestCase):
    """Terminal and admin credentials made at run time: the token is shown
    once and stored only as its SHA-256; rotate, revoke and expiry take
    effect at once; every change is audited; all of it survives a restart."""

    def create(self, name, role=None, store="store-1", expires_in=None, token=ADMIN_TOKEN):
        r = admin_pb2.CreateCredentialRequest(name=name, role=role or admin_pb2.CREDENTIAL_ROLE_TERMINAL, store_id=store)
        if expires_in is not None:
            r.expires_at.FromSeconds(int(time.time() + expires_in))
        return self.admin.CreateCredential(r, metadata=lp.auth(token), timeout=RPC_TIMEOUT)

    def sale_with(self, token, store="store-1"):
        return self.pos.RecordSale(pos_pb2.RecordSaleRequest(sale=sale(self.new_txn("cr"), [line(1, 300)],
                                                                       member=by_card(ALICE_CARD), store=store)),
                                   metadata=lp.auth(token), timeout=RPC_TIMEOUT)

    def test_create_use_rotate_revoke_audit_and_restart(self):
        issued = self.create("store-1 till 7")
        self.assertTrue(issued.token.startswith("loy_"), issued.token)
        self.assertEqual(issued.credential.store_id, "store-1")
        self.assertEqual(issued.credential.created_by, "admin")
        self.assertEqual(self.sale_with(issued.token).points_earned, 3)
        # Bound to its store.
        self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.sale_with, issued.token, store="store-2")
        # Listed without any token; the data folder never holds the token.
        listed = self.admin.ListCredentials(admin_pb2.ListCredentialsRequest(), metadata=lp.auth(ADMIN_TOKEN),
                                            timeout=RPC_TIMEOUT)
        ids = [c.credential_id for c in listed.credentials]
        self.assertIn(issued.credential.credential_id, ids)
        self.assertNotIn(issued.token, str(listed))
        self.server_holds_no_token(issued.token)

        rotated = self.admin.RotateCredential(
            admin_pb2.RotateCredentialRequest(credential_id=issued.credential.credential_id),
            metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
        self.assertNotEqual(rotated.token, issued.token)
        e = self.assertRpcError(grpc.StatusCode.UNAUTHENTICATED, self.sale_with, issued.token)
        self.assertIn("unknown token", e.details())
        self.assertEqual(self.sale_with(rotated.token).points_earned, 3)

        kept = self.create("admin robot", role=admin_pb2.CREDENTIAL_ROLE_ADMIN, store="")
        self.admin.VerifyLedger(admin_pb2.VerifyLedgerRequest(), metadata=lp.auth(kept.token), timeout=RPC_TIMEOUT)
        revoked = self.admin.RevokeCredential(
            admin_pb2.RevokeCredentialRequest(credential_id=issued.credential.credential_id),
            metadata=lp.auth(kept.token), timeout=RPC_TIMEOUT)
        self.assertTrue(revoked.HasField("revoked_at"))
        self.assertRpcError(grpc.StatusCode.UNAUTHENTICATED, self.sale_with, rotated.token)
        listed = self.admin.ListCredentials(admin_pb2.ListCredentialsRequest(), metadata=lp.auth(ADMIN_TOKEN),
                                            timeout=RPC_TIMEOUT)
        self.assertNotIn(issued.credential.credential_id, [c.credential_id for c in listed.credentials])

        audit = self.admin.ListAudit(admin_pb2.ListAuditRequest(limit=50), metadata=lp.auth(ADMIN_TOKEN),
                                     timeout=RPC_TIMEOUT)
        mine = [a for a in audit.entries if a.credential_id == issued.credential.credential_id]
        self.assertEqual([a.summary.split(" ")[0] for a in mine], ["revoked", "rotated", "created"])
        self.assertIn("admin robot", mine[0].author)
        self.assertEqual(mine[2].author, "admin")

        # A restart keeps all of it.
        self.channel.close()
        self.assertEqual(self.server.terminate(timeout=10.0), 0, self.server.log_tail())
        self.server.start()
        type(self).channel = self.server.channel()
        self.connect_stubs()
        self.assertRpcError(grpc.StatusCode.UNAUTHENTICATED, self.sale_with, rotated.token)
        self.admin.VerifyLedger(admin_pb2.VerifyLedgerRequest(), metadata=lp.auth(kept.token), timeout=RPC_TIMEOUT)
        again = self.create("store-1 till 8")
        self.assertNotEqual(again.credential.credential_id, kept.credential.credential_id)
        self.assertNotEqual(again.credential.credential_id, issued.credential.credential_id)

    def server_holds_no_token(self, token):
        for root, _, files in os.walk(self.server.data_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    self.assertNotIn(token.encode(), f.read(), f"the token is in {name}")

    def test_expiry_takes_effect_at_once(self):
        issued = self.create("short-lived till", expires_in=2)
        self.sale_with(issued.token)
        time.sleep(2.2)
        e = self.assertRpcError(grpc.StatusCode.UNAUTHENTICATED, self.sale_with, issued.token)
        self.assertIn("expired", e.details())

    def test_bad_requests_name_the_field_and_only_admins_may(self):
        for kwargs, field in ((dict(role=admin_pb2.CREDENTIAL_ROLE_UNSPECIFIED), "role"),
                              (dict(store=""), "store_id"),
                              (dict(role=admin_pb2.CREDENTIAL_ROLE_ADMIN), "store_id"),
                              (dict(expires_in=-60), "expires_at")):
            r = admin_pb2.CreateCredentialRequest(name="x", role=kwargs.get("role", admin_pb2.CREDENTIAL_ROLE_TERMINAL),
                                                  store_id=kwargs.get("store", "store-1"))
            if "expires_in" in kwargs:
                r.expires_at.FromSeconds(int(time.time() + kwargs["expires_in"]))
            if kwargs.get("role") == admin_pb2.CREDENTIAL_ROLE_UNSPECIFIED:
                r.role = admin_pb2.CREDENTIAL_ROLE_UNSPECIFIED
            e = self.assertRpcError(grpc.StatusCode.INVALID_ARGUMENT, self.admin.CreateCredential, r,
                                    metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT)
            self.assertTrue(e.details().startswith(field + ":"), e.details())
        self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.create, "x", token=STORE1_TOKEN)
        # Over HTTP too.
        status, _, body = http_call(self.server.http_port, "POST", "/v1/credentials", token=ADMIN_TOKEN,
                                    body='{"name": "http till", "role": "CREDENTIAL_ROLE_TERMINAL", "store_id": "store-2"}')
        self.assertEqual(status, 200, body)
        import json
        made = json.loads(body)
        self.assertEqual(self.sale_with(made["token"], store="store-2").points_earned, 3)
        status, _, body = http_call(self.server.http_port, "POST",
                                    f"/v1/credentials/{made['credential']['credential_id']}:rotate", token=ADMIN_TOKEN,
                                    body="{}")
        self.assertEqual(status, 200, body)
        self.assertRpcError(grpc.StatusCode.UNAUTHENTICATED, self.sale_with, made["token"], store="store-2")
        self.assertEqual(self.sale_with(json.loads(body)["token"], store="store-2").points_earned, 3)


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class MemberJwtTest(ServerTestCase):
    """Member apps sign in with the retailer's identity provider: the JWT it
    signs (ES256 here, keys made by the test) names the member; signature,
    issuer, audience, expiry, alg and key id are checked, and a new key in
    the JWKS file is taken without a restart."""

    ISSUER = "https://id.example-retailer.test"
    AUDIENCE = "loyalty-app"

    @classmethod
    def setUpClass(cls):
        from cryptography.hazmat.primitives.asymmetric import ec
        cls.ec = ec
        cls.keys = {"k1": ec.generate_private_key(ec.SECP256R1())}
        cls.jwks_dir = tempfile.mkdtemp(prefix="loyaltyd-e2e-jwks-")
        TEMP_DIRS.append(cls.jwks_dir)
        cls.jwks_path = os.path.join(cls.jwks_dir, "jwks.json")
        cls.write_jwks()
        cls.EXTRA_CONFIG = f"""
member_jwt {{ jwks_file: "{cls.jwks_path}" issuer: "{cls.ISSUER}" audience: "{cls.AUDIENCE}" reload_interval_s: 1 }}
"""
        super().setUpClass()

    @classmethod
    def write_jwks(cls):
        import json
        keys = []
        for kid, key in cls.keys.items():
            numbers = key.public_key().public_numbers()
            keys.append({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                         "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))})
        with open(cls.jwks_path + ".new", "w") as f:
            json.dump({"keys": keys}, f)
        os.replace(cls.jwks_path + ".new", cls.jwks_path)

    def token(self, sub=ALICE, kid="k1", key=None, alg="ES256", **claims):
        import json
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        now = int(time.time())
        payload = {"iss": self.ISSUER, "aud": self.AUDIENCE, "sub": sub, "iat": now, "exp": now + 300}
        payload.update(claims)
        header = {"alg": alg, "kid": kid, "typ": "JWT"}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())).encode()
        if alg == "none":
            return signing_input.decode() + "."
        der = (key or self.keys[kid]).sign(signing_input, self.ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input.decode() + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def get_member(self, token, member_id=ALICE):
        return self.members.GetMember(member_pb2.GetMemberRequest(member_id=member_id), metadata=lp.auth(token),
                                      timeout=RPC_TIMEOUT)

    def test_a_valid_token_names_the_member(self):
        self.assertEqual(self.get_member(self.token()).member_id, ALICE)
        # Its own member only.
        self.assertRpcError(grpc.StatusCode.PERMISSION_DENIED, self.get_member, self.token(), member_id=BOB)
        # Over HTTP, as "me".
        status, _, body = http_call(self.server.http_port, "GET", "/v1/members/me", token=self.token())
        self.assertEqual(status, 200, body)

    def test_every_broken_token_is_unauthenticated(self):
        other = self.ec.generate_private_key(self.ec.SECP256R1())
        now = int(time.time())
        cases = {
            "wrong signature": self.token(key=other),
            "wrong issuer": self.token(iss="https://evil.test"),
            "wrong audience": self.token(aud="another-app"),
            "expired": self.token(exp=now - 3600),
            "alg none": self.token(alg="none"),
            "unknown kid": self.token(kid="k9", key=other),
            "not yet valid": self.token(nbf=now + 3600),
        }
        for what, token in cases.items():
            with self.subTest(what):
                e = self.assertRpcError(grpc.StatusCode.UNAUTHENTICATED, self.get_member, token)
                self.assertNotIn(token, e.details())
        _, metrics = http_get(self.server.http_port, "/metrics")
        counted = re.search(r'loyaltyd_authentication_failures_total\{reason="jwt_refused"\} (\d+)', metrics)
        self.assertIsNotNone(counted, "failed JWTs are counted")
        self.assertGreaterEqual(int(counted.group(1)), len(cases))

    def test_a_new_key_in_the_jwks_file_is_taken_without_restart(self):
        type(self).keys["k2"] = self.ec.generate_private_key(self.ec.SECP256R1())
        token = self.token(kid="k2")
        self.write_jwks()
        deadline = time.monotonic() + 10
        while True:
            try:
                self.assertEqual(self.get_member(token).member_id, ALICE)
                break
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAUTHENTICATED or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


class RestartTest(ServerTestCase):
    """Graceful shutdown and restart on the same data directory."""

    def test_sigterm_exits_cleanly_and_state_survives_restart(self):
        # Verifies: SIGTERM makes loyaltyd exit 0 within 10 s; after a restart
        # on the same data the balance is kept, an old sale's retry is still a
        # replay and new events get higher sequence numbers.
        member_id, card = self.new_member()
        s = sale(self.new_txn("rs"), [line(3, 1500)], member=by_card(card))
        first, _ = self.record_sale(s)
        self.assertEqual(first.points_earned, 45)
        before = self.balance(member_id)

        self.channel.close()
        started = time.monotonic()
        code = self.server.terminate(timeout=10.0)
        elapsed = time.monotonic() - started
        self.assertEqual(code, 0, f"exit code after SIGTERM (None: still running after 10 s)\n"
                                  f"{self.server.log_tail()}")
        self.assertLess(elapsed, 10.0)

        self.server.start()
        type(self).channel = self.server.channel()
        self.connect_stubs()
        self.assertEqual(self.balance(member_id), before)
        looked_up = self.pos.LookupMember(pos_pb2.LookupMemberRequest(member=by_card(card)),
                                          metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT)
        self.assertEqual(looked_up.member_id, member_id)
        again, replay = self.record_sale(s)
        self.assertEqual(replay, "true", "a retry after restart must still be a replay")
        self.assertEqual(again, first)
        later, replay = self.record_sale(sale(self.new_txn("rs"), [line(1, 200)], member=by_card(card)))
        self.assertNotEqual(replay, "true")
        self.assertGreater(later.event_seq, first.event_seq)
        self.assertEqual(later.balance.available_points, before + 2)

    def test_sigterm_with_calls_in_flight_keeps_acknowledged_sales(self):
        # Verifies: SIGTERM while terminals are sending exits 0 within 10 s,
        # calls fail only with "try again" codes, and every sale acknowledged
        # before the shutdown is kept (a replay with the same answer) after restart.
        member_id, card = self.new_member()
        acked, errors = [], []
        lock = threading.Lock()

        def terminal(n):
            while True:
                s = sale(f"inflight-{n}-{next(SERIAL)}", [line(1, 100 + n)], member=by_card(card),
                         terminal=f"t-{n}")
                try:
                    outcome, _ = self.pos.RecordSale.with_call(
                        pos_pb2.RecordSaleRequest(sale=s), metadata=lp.auth(STORE1_TOKEN), timeout=5.0)
                except grpc.RpcError as e:
                    with lock:
                        errors.append(e)
                    return
                with lock:
                    acked.append((s, outcome))

        threads = [threading.Thread(target=terminal, args=(n,), daemon=True) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        started = time.monotonic()
        code = self.server.terminate(timeout=10.0)
        elapsed = time.monotonic() - started
        for t in threads:
            t.join(timeout=15)
        self.assertEqual(code, 0, f"exit code after SIGTERM under load\n{self.server.log_tail()}")
        self.assertLess(elapsed, 10.0)
        self.assertGreater(len(acked), 0, "no sale was acknowledged before the shutdown")
        transient = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                     grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNKNOWN}
        for e in errors:
            self.assertIn(e.code(), transient, f"during shutdown: {e.code().name}: {e.details()}")

        self.channel.close()
        self.server.start()
        type(self).channel = self.server.channel()
        self.connect_stubs()
        for s, first in acked:
            again, replay = self.record_sale(s)
            self.assertEqual(replay, "true", f"sale {s.ref.transaction_id} acknowledged before SIGTERM")
            self.assertEqual(again, first)
        self.assertEqual(self.balance(member_id), sum(o.points_earned for _, o in acked))


# ---- runner ---------------------------------------------------------------

def test_ids(suite):
    """The ids of all tests in `suite` (collect before running: a suite
    drops its tests as it runs them)."""
    ids = []
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            ids.extend(test_ids(t))
        else:
            ids.append(t.id())
    return ids


def count_results(all_ids, result):
    """(passed, failed) by test method; a failed setUpClass fails all of its
    class's tests."""
    failed = set()
    for test, _ in result.failures + result.errors:
        test_id = getattr(test, "test_case", test).id()  # a _SubTest names its test
        if test_id in all_ids:
            failed.add(test_id)
        else:  # setUpClass / tearDownClass error: "setUpClass (__main__.PosFlowTest)"
            desc = str(test)
            hit = [t for t in all_ids if "." + t.split(".")[-2] + ")" in desc]
            failed.update(hit or [desc])
    for test in result.unexpectedSuccesses:
        failed.add(test.id())
    skipped = {t.id() for t, _ in result.skipped} - failed
    passed = len(set(all_ids) - failed - skipped)
    return passed, len(failed)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    lp.add_common_args(parser)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-k", dest="patterns", action="append", default=[],
                        help="only tests whose name contains this substring")
    ARGS = parser.parse_args()
    if not os.access(ARGS.binary, os.X_OK):
        print(f"--binary {ARGS.binary}: not an executable file")
        print("0 passed, 1 failed")
        return 1
    load_stubs(ARGS.stubs)

    loader = unittest.TestLoader()
    if ARGS.patterns:
        loader.testNamePatterns = [f"*{p}*" for p in ARGS.patterns]
    suite = unittest.TestSuite()
    for cls in (PosFlowTest, BacklogStreamTest, RateLimitTest, TlsTest, FullDiskTest, CredentialsTest,
                MemberJwtTest, RestartTest):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    all_ids = test_ids(suite)
    result = unittest.TextTestRunner(verbosity=2 if ARGS.verbose else 1, stream=sys.stdout).run(suite)
    passed, failed = count_results(all_ids, result)
    if failed or ARGS.keep:
        for d in TEMP_DIRS:
            print(f"kept {d} (config, loyaltyd.log, data)")
    else:
        for d in TEMP_DIRS:
            shutil.rmtree(d, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
