#!/usr/bin/python3
"""End-to-end tests of loyaltyd's HTTP/JSON edge, against the real process.

    /usr/bin/python3 tests/e2e/http_e2e_test.py \
        --binary build/server/loyaltyd --stubs build/python_stubs [-v] [--keep] [-k NAME]

The client is the standard library's http.client only. Routes come from the
google.api.http annotations of proto/loyalty/v1/*.proto; bodies are the
proto3 JSON mapping (snake_case names, int64 as strings); errors are
{"code", "status", "message"} with the HTTP status of Google's table. Each
test class starts its own loyaltyd (free loopback ports, fresh data folder);
the startup tests start their own processes. The last line printed is
"N passed, N failed"; the exit code is 0 only if all passed.
"""

import argparse
import datetime
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loyaltyd_process as lp  # noqa: E402
from e2e_test import count_results, test_ids  # noqa: E402  (the same runner)

import grpc  # noqa: E402

# Filled in by load_stubs() once --stubs is known.
pos_pb2 = pos_grpc = admin_pb2 = admin_grpc = json_format = None

ARGS = None             # parsed command line
TEMP_DIRS = []          # removed at the end if everything passed (unless --keep)
HTTP_TIMEOUT_S = 10.0   # per request; no call here should take long
RPC_TIMEOUT_S = 10.0
PROMTOOL = "/usr/bin/promtool"
SERIAL = itertools.count(1)  # unique transaction ids, member ids and cards

ADMIN_TOKEN = "http-admin-token"
STORE1_TOKEN = "http-terminal-store-1"
STORE2_TOKEN = "http-terminal-store-2"
# Member tokens: one member per test that needs one, so tests stay independent.
MEMBER_TOKENS = {
    "m-alice": "http-member-alice",
    "m-carol": "http-member-carol",
    "m-dave": "http-member-dave",
    "m-erin": "http-member-erin",
    "m-wendy": "http-member-wendy",
}
BOB = "m-bob"

CREDENTIALS = [
    lp.Credential("admin", lp.ROLE_ADMIN, ADMIN_TOKEN),
    lp.Credential("store-1/till", lp.ROLE_TERMINAL, STORE1_TOKEN, store_id="store-1"),
    lp.Credential("store-2/till", lp.ROLE_TERMINAL, STORE2_TOKEN, store_id="store-2"),
] + [lp.Credential(f"{m}-app", lp.ROLE_MEMBER, t, member_id=m) for m, t in MEMBER_TOKENS.items()]



def program_config(pending_days=0):
    """The initial program: the base rule (1 point per 1.00 EUR per line,
    rounded down), points pending `pending_days` (0: available at once), one
    reward, and one offer on a category no sale here buys (so it is listed to
    every member but never changes what a sale costs or earns)."""
    return f"""
initial_program {{
  currency: "EUR"
  minor_units_per_major: 100
  points_per_major_unit: 1
  pending_days: {pending_days}
  tier_window_days: 365
  stage_window_days: 365
  offers {{ id: "bakery-10" title: "10% off bakery" kind: OFFER_KIND_PERCENT_OFF
           percent_off: 10 categories: "bakery" }}
  rewards {{ id: "free-coffee" title: "A free coffee" cost_points: 30
            categories: "coffee" max_value_minor: 400 }}
}}
"""


OFFER_REASON_NO_AFFINITY = "A little thank-you for shopping with us."


def load_stubs(stubs_dir):
    global pos_pb2, pos_grpc, admin_pb2, admin_grpc, json_format
    lp.use_stubs(stubs_dir)
    from google.protobuf import json_format as jf
    from loyalty.v1 import admin_pb2 as a, admin_pb2_grpc as ag
    from loyalty.v1 import pos_pb2 as p, pos_pb2_grpc as pg
    pos_pb2, pos_grpc, admin_pb2, admin_grpc, json_format = p, pg, a, ag, jf


def serial():
    return next(SERIAL)


def new_txn(prefix):
    """A transaction id not used before in this run."""
    return f"{prefix}-{serial()}"


def new_temp_dir(name):
    d = tempfile.mkdtemp(prefix=f"loyaltyd-http-{name}-")
    TEMP_DIRS.append(d)
    return d


# ---- HTTP ------------------------------------------------------------------

class Reply:
    """One HTTP answer, read whole."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body        # bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name)

    def __repr__(self):
        return f"HTTP {self.status} {self.body[:300]!r}"


def http_request(address, method, path, body=None, token=None, headers=None, timeout=HTTP_TIMEOUT_S):
    """Sends one request on a new connection. `body`: dict or list (sent as
    JSON), str or bytes (sent as is), or None. Returns a Reply."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


# ---- proto3 JSON bodies, by hand ---------------------------------------------

def rfc3339(seconds_ago=0.0):
    t = datetime.datetime.fromtimestamp(time.time() - seconds_ago, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ref(txn, store="store-1", terminal="t-1"):
    return {"store_id": store, "terminal_id": terminal, "transaction_id": txn}


def line(qty, price, discount=0, sku="sku-1", category="grocery"):
    return {"sku": sku, "category": category, "quantity": qty,
            "unit_price_minor": str(price), "discount_minor": str(discount)}


def line_net(l):
    return l["quantity"] * int(l["unit_price_minor"]) - int(l["discount_minor"])


def sale(txn, lines, card=None, store="store-1", terminal="t-1", ago=0, tenders=None):
    """A valid Sale as JSON (total from the lines); anonymous without a card."""
    s = {"ref": ref(txn, store, terminal), "occurred_at": rfc3339(ago), "currency": "EUR",
         "lines": lines, "total_minor": str(sum(line_net(l) for l in lines))}
    if card is not None:
        s["member"] = {"card_number": card}
    if tenders is not None:
        s["tenders"] = tenders
    return s


def return_of(txn, original_ref, lines, ago=0):
    """A Return as JSON; lines are (line_index, quantity)."""
    return {"ref": ref(txn), "occurred_at": rfc3339(ago), "original": original_ref,
            "lines": [{"line_index": i, "quantity": q} for i, q in lines]}


def void_of(txn, original_ref, ago=0, reason="customer changed mind"):
    return {"ref": ref(txn), "occurred_at": rfc3339(ago), "original": original_ref, "reason": reason}


def balance(available, pending=0):
    """A Balance as the server prints it (int64 as strings)."""
    return {"available_points": str(available), "pending_points": str(pending)}


def wait_http_ready(server, timeout_s=10.0):
    """Waits until `server` (a LoyaltydProcess) answers GET /readyz with 200.
    LoyaltydProcess.start() waits for gRPC only, and loyaltyd starts its gRPC
    edge before it listens for HTTP."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if not server.running():
            break
        try:
            r = http_request(server.http_address, "GET", "/readyz", timeout=1.0)
            if r.status == 200:
                return
            last = repr(r)
        except OSError as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.05)
    raise lp.ServerStartError(f"HTTP on {server.http_address} not ready within {timeout_s} s ({last})\n"
                              f"{server.log_tail()}")


# ---- SSE -------------------------------------------------------------------

class SseReader:
    """Reads Server-Sent Events from an http.client response, line by line;
    the socket's timeout bounds each read."""

    def __init__(self, resp):
        self.resp = resp
        self.comments = []   # ": heartbeat" lines seen, in order

    def next_frame(self, deadline):
        """The next frame as (event, data), or ("", text) for a comment-only
        frame such as ": heartbeat"; None when the stream ended (check
        ended_cleanly()). Fails past `deadline` (time.monotonic())."""
        event, data, comments = None, [], []
        while True:
            if time.monotonic() > deadline:
                raise AssertionError("no complete SSE frame before the deadline")
            raw = self.resp.readline()  # http.client decodes the chunks
            if raw == b"":
                if event is not None or data or comments:
                    raise AssertionError(f"stream ended inside a frame: {event} {data} {comments}")
                return None
            text = raw.decode("utf-8").rstrip("\r\n")
            if text == "":
                if event is not None or data:
                    return event or "message", "\n".join(data)
                if comments:
                    return "", "\n".join(comments)
                continue
            if text.startswith(":"):
                comments.append(text)
                self.comments.append(text)
            elif text.startswith("event:"):
                event = text[len("event:"):].strip()
            elif text.startswith("data:"):
                data.append(text[len("data:"):].lstrip(" "))

    def ended_cleanly(self):
        """After next_frame() returned None: whether the chunked body ended
        with its last chunk (http.client then closes the response), rather
        than the connection being cut."""
        return self.resp.isclosed()

    def next_event(self, name, deadline):
        """The next event called `name` (others are skipped); fails if the
        stream ends first."""
        while True:
            frame = self.next_frame(deadline)
            if frame is None:
                raise AssertionError(f"the stream ended before an '{name}' event")
            if frame[0] == name:
                return frame
            if frame[0] not in ("", "member"):
                raise AssertionError(f"unexpected SSE event {frame} while waiting for '{name}'")


# ---- test bases ----------------------------------------------------------

class HttpServerTestCase(unittest.TestCase):
    """Starts one loyaltyd for the class; enrolls the members of MEMBER_TOKENS
    and bob, each with a card."""

    program = program_config()
    extra_config = ""
    cards = {}

    @classmethod
    def setUpClass(cls):
        work = new_temp_dir(cls.__name__)
        cls.server = lp.LoyaltydProcess(ARGS.binary, os.path.join(work, "data"), lp.free_port(),
                                        CREDENTIALS, work_dir=work,
                                        extra_config=cls.program + cls.extra_config)
        try:
            cls.server.start()  # waits for gRPC
            wait_http_ready(cls.server)
            cls.cards = {}
            for member_id in list(MEMBER_TOKENS) + [BOB]:
                cls.cards[member_id] = cls.enroll(member_id)
        except Exception:
            cls.server.kill()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "server", None) is not None:
            cls.server.terminate()

    # ---- helpers ---------------------------------------------------------

    @classmethod
    def http(cls, method, path, body=None, token=None, headers=None):
        return http_request(cls.server.http_address, method, path, body, token, headers)

    @classmethod
    def enroll(cls, member_id, name=None):
        """Enrolls over HTTP with a fresh card; returns the card."""
        card = f"5{serial():015d}"
        r = cls.http("POST", "/v1/members", {"member_id": member_id, "display_name": name or member_id,
                                            "card_number": card}, ADMIN_TOKEN)
        if r.status != 200:
            raise AssertionError(f"enrolling {member_id}: {r}")
        return card

    def new_member(self, prefix="m"):
        """Enrolls a fresh member with a card; returns (member_id, card)."""
        member_id = f"{prefix}-{serial()}"
        return member_id, self.enroll(member_id)

    def ok(self, reply, what=""):
        """Asserts a 200 with a JSON body; returns the body."""
        self.assertEqual(reply.status, 200, f"{what}: {reply}")
        return reply.json()

    def assertError(self, reply, http_status, status_name, grpc_code, names=None):
        """Asserts an error answer {"code", "status", "message"}; `names`: a
        text the message must contain. Returns the message."""
        self.assertEqual(reply.status, http_status, repr(reply))
        content_type = reply.header("Content-Type") or ""
        self.assertTrue(content_type.startswith("application/json"), content_type)
        body = reply.json()
        self.assertEqual(body.get("code"), grpc_code, body)
        self.assertEqual(body.get("status"), status_name, body)
        self.assertIsInstance(body.get("message"), str)
        if names is not None:
            self.assertIn(names, body["message"])
        return body["message"]

    def member(self, member_id, token=ADMIN_TOKEN):
        return self.ok(self.http("GET", f"/v1/members/{member_id}", token=token), f"GET member {member_id}")

    def record_sale(self, s, token=STORE1_TOKEN):
        return self.http("POST", "/v1/sales", s, token)


# ---- terminals -------------------------------------------------------------

class PosHttpTest(HttpServerTestCase):
    """Sales, returns, voids, lookups and backlogs over HTTP."""

    def test_sale_by_card_retry_and_conflict(self):
        """A sale by card earns per line; its retry replays (X-Idempotent-Replay); other content under its id is 409."""
        member_id, card = self.new_member()
        lines = [line(3, 199),                                   # 597 -> 5
                 line(1, 99, sku="sku-2"),                       # 99 -> 0
                 line(2, 1000, discount=150, sku="sku-3"),       # 1850 -> 18
                 line(4, 1275, sku="sku-4", category="drinks")]  # 5100 -> 51
        s = sale(new_txn("earn"), lines, card,
                 tenders=[{"type": "TENDER_TYPE_CARD", "amount_minor": "7646"}])
        first = self.record_sale(s)
        outcome = self.ok(first, "first sale")
        self.assertIsNone(first.header("X-Idempotent-Replay"), "a first recording is no replay")
        self.assertGreater(int(outcome["event_seq"]), 0)
        self.assertEqual({k: v for k, v in outcome.items() if k != "event_seq"}, {
            "kind": "EVENT_KIND_SALE", "member_id": member_id,
            "points_earned": "74", "points_reversed": "0", "balance": balance(74),
            "net_amount_minor": "7646", "currency": "EUR", "discount_total_minor": "0",
            "applied_offer_ids": [], "receipt_code": ""})  # a code only on anonymous sales

        retry = self.record_sale(s)
        self.assertEqual(retry.status, 200, repr(retry))
        self.assertEqual(retry.header("X-Idempotent-Replay"), "true")
        self.assertEqual(retry.json(), outcome, "a retry gets the first answer unchanged")

        other = json.loads(json.dumps(s))
        other["lines"][0]["quantity"] = 4
        other["total_minor"] = str(int(s["total_minor"]) + 199)
        other["tenders"][0]["amount_minor"] = other["total_minor"]
        self.assertError(self.record_sale(other), 409, "ALREADY_EXISTS", 6)
        self.assertEqual(self.member(member_id)["balance"], balance(74), "nothing earned twice")

    def test_return_and_void(self):
        """A return reverses its lines' points, a void the rest; retries replay; a second void is 400."""
        member_id, card = self.new_member()
        s = sale(new_txn("rv-sale"), [line(4, 250), line(3, 1000, sku="sku-2")], card)
        self.assertEqual(self.ok(self.record_sale(s))["points_earned"], "40")  # 10 + 30

        r = return_of(new_txn("rv-ret"), s["ref"], [(1, 1)])  # 1 of 3 units of line 1: 10
        returned = self.ok(self.http("POST", "/v1/returns", r, STORE1_TOKEN), "return")
        self.assertEqual(returned["kind"], "EVENT_KIND_RETURN")
        self.assertEqual(returned["member_id"], member_id)
        self.assertEqual(returned["points_reversed"], "10")
        self.assertEqual(returned["points_earned"], "0")
        self.assertEqual(returned["net_amount_minor"], "1000")
        self.assertEqual(returned["balance"], balance(30))
        again = self.http("POST", "/v1/returns", r, STORE1_TOKEN)
        self.assertEqual(again.header("X-Idempotent-Replay"), "true")
        self.assertEqual(again.json(), returned)

        v = void_of(new_txn("rv-void"), s["ref"])
        voided_reply = self.http("POST", "/v1/voids", v, STORE1_TOKEN)
        voided = self.ok(voided_reply, "void")
        self.assertIsNone(voided_reply.header("X-Idempotent-Replay"))
        self.assertEqual(voided["kind"], "EVENT_KIND_VOID")
        self.assertEqual(voided["points_reversed"], "30")
        self.assertEqual(voided["balance"], balance(0))
        again = self.http("POST", "/v1/voids", v, STORE1_TOKEN)
        self.assertEqual(again.header("X-Idempotent-Replay"), "true")
        self.assertEqual(again.json(), voided)
        self.assertError(self.http("POST", "/v1/voids", void_of(new_txn("rv-void"), s["ref"]), STORE1_TOKEN),
                         400, "FAILED_PRECONDITION", 9)
        self.assertEqual(self.member(member_id)["balance"], balance(0))

    def test_http_and_grpc_answers_agree(self):
        """A sale's JSON answer equals MessageToDict of the gRPC answer to the same sale (but event_seq)."""
        member_id, card = self.new_member()
        lines = [line(2, 1250), line(1, 480, sku="sku-2", category="drinks")]  # 25 + 4
        http_sale = sale(new_txn("edge-http"), lines, card)
        over_http = self.ok(self.record_sale(http_sale), "HTTP sale")
        self.assertEqual(over_http["points_earned"], "29")
        self.assertEqual(over_http["balance"], balance(29))

        with self.server.channel() as channel:
            pos = pos_grpc.PosServiceStub(channel)
            admin = admin_grpc.AdminServiceStub(channel)
            # Back to a zero balance, so the gRPC sale starts from where the HTTP one did.
            admin.AdjustPoints(admin_pb2.AdjustPointsRequest(member_id=member_id, points=-29, reason="test reset",
                                                             request_id=new_txn("reset")),
                               metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT_S)
            grpc_sale = json_format.ParseDict(dict(http_sale, ref=ref(new_txn("edge-grpc"))), pos_pb2.Sale())
            outcome, call = pos.RecordSale.with_call(pos_pb2.RecordSaleRequest(sale=grpc_sale),
                                                     metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT_S)
            self.assertNotEqual(lp.replay_flag(call), "true")
            over_grpc = json_format.MessageToDict(outcome, preserving_proto_field_name=True,
                                                  including_default_value_fields=True)
            self.assertGreater(int(over_grpc["event_seq"]), int(over_http["event_seq"]))
            self.assertEqual({k: v for k, v in over_http.items() if k != "event_seq"},
                             {k: v for k, v in over_grpc.items() if k != "event_seq"})

            replay, call = pos.RecordSale.with_call(
                pos_pb2.RecordSaleRequest(sale=json_format.ParseDict(http_sale, pos_pb2.Sale())),
                metadata=lp.auth(STORE1_TOKEN), timeout=RPC_TIMEOUT_S)
            self.assertEqual(lp.replay_flag(call), "true")
            self.assertEqual(json_format.MessageToDict(replay, preserving_proto_field_name=True,
                                                       including_default_value_fields=True), over_http)

    def test_other_store_forbidden(self):
        """A store-1 terminal recording a store-2 sale, or a member token recording one, is 403; store-2 may."""
        member_id, card = self.new_member()
        s = sale(new_txn("perm"), [line(1, 500)], card, store="store-2")
        self.assertError(self.record_sale(s, STORE1_TOKEN), 403, "PERMISSION_DENIED", 7)
        self.assertError(self.record_sale(s, MEMBER_TOKENS["m-alice"]), 403, "PERMISSION_DENIED", 7)
        self.assertEqual(self.ok(self.record_sale(s, STORE2_TOKEN))["points_earned"], "5")

    def test_lookup_member(self):
        """POST /v1/members:lookup finds a member by card; an unknown card is 404 NOT_FOUND."""
        member_id, card = self.new_member()
        found = self.ok(self.http("POST", "/v1/members:lookup", {"card_number": card}, STORE1_TOKEN))
        self.assertEqual(found["member_id"], member_id)
        self.assertEqual(found["display_name"], member_id)
        self.assertEqual(found["balance"], balance(0))
        self.assertError(self.http("POST", "/v1/members:lookup", {"card_number": "4999999999999999"}, STORE1_TOKEN),
                         404, "NOT_FOUND", 5)

    def test_backlog_json_array(self):
        """A JSON-array backlog applies sales before their returns and voids and answers in the order sent."""
        member_id, card = self.new_member()
        sale_a = sale(new_txn("bl-a"), [line(4, 250), line(1, 1234, sku="sku-2")], card, ago=60)  # 10 + 12
        sale_b = sale(new_txn("bl-b"), [line(2, 500)], card, ago=50)                            # 10
        events = [{"return": return_of(new_txn("bl-r"), sale_a["ref"], [(0, 1)], ago=30)},     # -2
                  {"void": void_of(new_txn("bl-v"), sale_b["ref"], ago=20)},                   # -10
                  {"sale": sale_a},
                  {"sale": sale_b}]
        result = self.ok(self.http("POST", "/v1/backlog", events, STORE1_TOKEN), "backlog")
        self.assertEqual((result["accepted"], result["rejected"]), (4, 0), result)
        self.assertEqual([r["index"] for r in result["results"]], [0, 1, 2, 3])
        self.assertEqual([r["code"] for r in result["results"]], [0, 0, 0, 0])
        self.assertEqual([r["replayed"] for r in result["results"]], [False] * 4)
        outcomes = [r["outcome"] for r in result["results"]]
        self.assertEqual([o["kind"] for o in outcomes],
                         ["EVENT_KIND_RETURN", "EVENT_KIND_VOID", "EVENT_KIND_SALE", "EVENT_KIND_SALE"])
        self.assertEqual([o["points_reversed"] for o in outcomes], ["2", "10", "0", "0"])
        self.assertEqual([o["points_earned"] for o in outcomes], ["0", "0", "22", "10"])
        self.assertLess(int(outcomes[2]["event_seq"]), int(outcomes[0]["event_seq"]))
        self.assertLess(int(outcomes[3]["event_seq"]), int(outcomes[1]["event_seq"]))
        self.assertEqual(self.member(member_id)["balance"], balance(22 + 10 - 2 - 10))

        again = self.ok(self.http("POST", "/v1/backlog", events, STORE1_TOKEN), "backlog again")
        self.assertEqual([r["replayed"] for r in again["results"]], [True] * 4)
        self.assertEqual([r["outcome"] for r in again["results"]], outcomes)

        with self.subTest("an element of the wrong type fails the whole upload, naming the element"):
            wrong = sale(new_txn("bl-w"), [line(1, 100)], card)
            wrong["lines"][0]["quantity"] = "one"
            reply = self.http("POST", "/v1/backlog",
                              [{"sale": sale(new_txn("bl-ok"), [line(1, 100)], card)}, {"sale": wrong}], STORE1_TOKEN)
            self.assertError(reply, 400, "INVALID_ARGUMENT", 3, "[1].sale.lines[0].quantity")
            self.assertEqual(self.member(member_id)["balance"], balance(20))

    def test_backlog_ndjson_bad_event_alone(self):
        """An NDJSON backlog with one invalid event: that event gets its own error, the others are applied."""
        member_id, card = self.new_member()
        good1 = sale(new_txn("nd-1"), [line(1, 700)], card, ago=10)     # 7
        bad = sale(new_txn("nd-bad"), [line(1, 700)], card, ago=10)
        bad["lines"][0]["quantity"] = 0
        bad["total_minor"] = "0"
        good2 = sale(new_txn("nd-2"), [line(3, 300)], card, ago=5)      # 9
        body = "\n".join(json.dumps({"sale": s}) for s in (good1, bad, good2)) + "\n"
        result = self.ok(self.http("POST", "/v1/backlog", body, STORE1_TOKEN,
                                   {"Content-Type": "application/x-ndjson"}), "NDJSON backlog")
        self.assertEqual((result["accepted"], result["rejected"]), (2, 1), result)
        codes = [r["code"] for r in result["results"]]
        self.assertEqual(codes, [0, 3, 0])  # INVALID_ARGUMENT for the bad one
        self.assertIn("sale.lines[0].quantity", result["results"][1]["message"])
        self.assertEqual(result["results"][0]["outcome"]["points_earned"], "7")
        self.assertEqual(result["results"][2]["outcome"]["points_earned"], "9")
        self.assertEqual(self.member(member_id)["balance"], balance(16))

        with self.subTest("a line with a wrong type fails the whole upload, naming the line and field"):
            wrong = sale(new_txn("nd-4"), [line(1, 100)], card)
            wrong["lines"][0]["quantity"] = "one"
            text = json.dumps({"sale": sale(new_txn("nd-3"), [line(1, 100)], card)}) + "\n" + \
                json.dumps({"sale": wrong}) + "\n"
            self.assertError(self.http("POST", "/v1/backlog", text, STORE1_TOKEN,
                                       {"Content-Type": "application/x-ndjson"}),
                             400, "INVALID_ARGUMENT", 3, "line 2: sale.lines[0].quantity")
            self.assertEqual(self.member(member_id)["balance"], balance(16))
        # Malformed JSON on a line names the line too (it once did not).
        with self.subTest("a line that is not JSON fails the whole upload, naming the line"):
            text = json.dumps({"sale": sale(new_txn("nd-5"), [line(1, 100)], card)}) + "\n{not json\n"
            reply = self.http("POST", "/v1/backlog", text, STORE1_TOKEN, {"Content-Type": "application/x-ndjson"})
            self.assertEqual(self.member(member_id)["balance"], balance(16), "nothing of it applied")
            self.assertError(reply, 400, "INVALID_ARGUMENT", 3, "line 2: malformed JSON")


    def test_backlog_over_event_limit(self):
        """A backlog of 10,001 events (JSON array or NDJSON) is 429 RESOURCE_EXHAUSTED and applies none."""
        member_id, card = self.new_member()
        events = [{"sale": sale(new_txn("cap"), [line(1, 100)], card)}] + [{}] * 10000
        with self.subTest("JSON array"):
            self.assertError(self.http("POST", "/v1/backlog", events, STORE1_TOKEN),
                             429, "RESOURCE_EXHAUSTED", 8)
        with self.subTest("NDJSON"):
            body = "\n".join(json.dumps(e) for e in events) + "\n"
            self.assertError(self.http("POST", "/v1/backlog", body, STORE1_TOKEN,
                                       {"Content-Type": "application/x-ndjson"}),
                             429, "RESOURCE_EXHAUSTED", 8)
        self.assertEqual(self.member(member_id)["balance"], balance(0))


# ---- the member app --------------------------------------------------------

class MemberHttpTest(HttpServerTestCase):
    """The mobile app's calls with member tokens, and 'me'."""

    def test_get_me(self):
        """GET /v1/members/me with a member token is that member's view, as GET /v1/members/{its id} is."""
        s = sale(new_txn("me"), [line(1, 4200)], self.cards["m-alice"])
        self.assertEqual(self.ok(self.record_sale(s))["points_earned"], "42")
        token = MEMBER_TOKENS["m-alice"]
        me = self.ok(self.http("GET", "/v1/members/me", token=token), "GET me")
        self.assertEqual(me["member_id"], "m-alice")
        self.assertEqual(me["display_name"], "m-alice")
        self.assertEqual(me["balance"], balance(42))
        self.assertGreater(int(me["last_event_seq"]), 0)
        self.assertEqual(self.ok(self.http("GET", "/v1/members/m-alice", token=token)), me)

    def test_unknown_member_not_found(self):
        """GET /v1/members/{id} of a member never enrolled is 404 NOT_FOUND (admin token)."""
        self.assertError(self.http("GET", "/v1/members/m-nobody", token=ADMIN_TOKEN), 404, "NOT_FOUND", 5)

    def test_other_member_forbidden(self):
        """A member token asking for another member's id (view, history, redeem, watch) is 403 PERMISSION_DENIED."""
        token = MEMBER_TOKENS["m-alice"]
        self.assertError(self.http("GET", f"/v1/members/{BOB}", token=token), 403, "PERMISSION_DENIED", 7)
        self.assertError(self.http("GET", f"/v1/members/{BOB}/history", token=token), 403, "PERMISSION_DENIED", 7)
        self.assertError(self.http("POST", f"/v1/members/{BOB}/redemptions",
                                   {"reward_id": "free-coffee", "request_id": "x-1"}, token),
                         403, "PERMISSION_DENIED", 7)
        # The watch is refused before any stream starts: a plain error answer.
        self.assertError(self.http("GET", f"/v1/members/{BOB}/watch", token=token), 403, "PERMISSION_DENIED", 7)

    def test_me_needs_member_token(self):
        """'me' with an admin or a terminal token is 400 INVALID_ARGUMENT naming member_id."""
        for name, token in (("admin", ADMIN_TOKEN), ("terminal", STORE1_TOKEN)):
            with self.subTest(name):
                self.assertError(self.http("GET", "/v1/members/me", token=token),
                                 400, "INVALID_ARGUMENT", 3, "member_id")

    def test_offers_with_reasons(self):
        """GET /v1/members/me/offers lists the program's offer with its title and reason."""
        offers = self.ok(self.http("GET", "/v1/members/me/offers", token=MEMBER_TOKENS["m-alice"]))
        self.assertEqual(offers, {"offers": [{"offer_id": "bakery-10", "title": "10% off bakery",
                                              "reason": OFFER_REASON_NO_AFFINITY}]})

    def test_history_pages(self):
        """GET history pages newest first with page_size and page_token; page_size=two is 400 naming it."""
        card = self.cards["m-erin"]
        txns = []
        for euros in (1, 2, 3, 4, 5):
            txn = new_txn("hist")
            txns.append(txn)
            self.ok(self.record_sale(sale(txn, [line(1, 100 * euros)], card)))
        token = MEMBER_TOKENS["m-erin"]
        entries, page_token, sizes = [], "", []
        for _ in range(10):
            path = "/v1/members/me/history?page_size=2" + (f"&page_token={page_token}" if page_token else "")
            page = self.ok(self.http("GET", path, token=token), path)
            sizes.append(len(page["entries"]))
            entries.extend(page["entries"])
            page_token = page["next_page_token"]
            if not page_token:
                break
        self.assertEqual(sizes, [2, 2, 1])
        self.assertEqual([e["points"] for e in entries], ["5", "4", "3", "2", "1"])
        self.assertEqual({e["kind"] for e in entries}, {"LEDGER_ENTRY_KIND_EARN"})
        self.assertEqual([e["cause"]["transaction_id"] for e in entries], list(reversed(txns)))
        self.assertEqual({e["member_id"] for e in entries}, {"m-erin"})
        ids = [int(e["entry_id"]) for e in entries]
        self.assertEqual(ids, sorted(ids, reverse=True))
        self.assertError(self.http("GET", "/v1/members/me/history?page_size=two", token=token),
                         400, "INVALID_ARGUMENT", 3, "page_size")

    def test_rewards_and_redeem(self):
        """GET rewards shows what is affordable; POST redemptions spends points for a code; too few points is 400."""
        self.ok(self.record_sale(sale(new_txn("rw"), [line(1, 4000)], self.cards["m-carol"])))  # 40
        token = MEMBER_TOKENS["m-carol"]
        rewards = self.ok(self.http("GET", "/v1/members/me/rewards", token=token))
        self.assertEqual(rewards, {"available_points": "40", "rewards": [
            {"reward_id": "free-coffee", "title": "A free coffee", "cost_points": "30",
             "affordable": True, "points_missing": "0", "in_stock": True}]})

        ask = {"reward_id": "free-coffee", "request_id": "redeem-1"}
        redeemed = self.ok(self.http("POST", "/v1/members/me/redemptions", ask, token), "redeem")
        self.assertTrue(redeemed["code"])
        self.assertEqual(redeemed["points_spent"], "30")
        self.assertEqual(redeemed["balance"], balance(10))
        self.assertIn("expires_at", redeemed)
        again = self.ok(self.http("POST", "/v1/members/me/redemptions", ask, token), "redeem retry")
        self.assertEqual(again["code"], redeemed["code"], "a retry with the same request_id gets the same code")
        self.assertEqual(self.member("m-carol")["balance"], balance(10))

        rewards = self.ok(self.http("GET", "/v1/members/me/rewards", token=token))
        self.assertEqual(rewards["available_points"], "10")
        self.assertEqual((rewards["rewards"][0]["affordable"], rewards["rewards"][0]["points_missing"]),
                         (False, "20"))
        self.assertError(self.http("POST", "/v1/members/me/redemptions",
                                   {"reward_id": "free-coffee", "request_id": "redeem-2"}, token),
                         400, "FAILED_PRECONDITION", 9)

    def test_claim_receipt(self):
        """POST claims earns an anonymous sale's points once, with the receipt's code; another member's claim is 400, a wrong total or code 404."""
        anonymous = sale(new_txn("claim"), [line(1, 2500)])
        sold = self.ok(self.record_sale(anonymous), "anonymous sale")
        self.assertEqual((sold["member_id"], sold["points_earned"]), ("", "0"))
        self.assertRegex(sold["receipt_code"], r"^[A-Z2-9]{12}$", "the code to print on the receipt")
        token = MEMBER_TOKENS["m-dave"]
        claim = {"sale": anonymous["ref"], "total_minor": "2500", "receipt_code": sold["receipt_code"]}
        claimed = self.ok(self.http("POST", "/v1/members/me/claims", claim, token), "claim")
        self.assertEqual(claimed, {"points_earned": "25", "balance": balance(25)})
        again = self.ok(self.http("POST", "/v1/members/me/claims", claim, token), "claim retry")
        self.assertEqual(again["points_earned"], "25")
        self.assertEqual(self.member("m-dave")["balance"], balance(25))
        with self.subTest("bob claims dave's receipt"):
            self.assertError(self.http("POST", f"/v1/members/{BOB}/claims", claim, ADMIN_TOKEN),
                             400, "FAILED_PRECONDITION", 9)
        with self.subTest("a wrong total or code"):
            other = sale(new_txn("claim"), [line(1, 1000)])
            code = self.ok(self.record_sale(other))["receipt_code"]
            for total, guess in (("999", code), ("1000", "AAAAAAAAAAAA")):
                self.assertError(self.http("POST", "/v1/members/me/claims",
                                           {"sale": other["ref"], "total_minor": total, "receipt_code": guess}, token),
                                 404, "NOT_FOUND", 5)
        self.assertEqual(self.member("m-dave")["balance"], balance(25))


# ---- admin -----------------------------------------------------------------

class AdminHttpTest(HttpServerTestCase):
    """Marketing's and operators' calls with the admin token."""

    def test_enroll_and_card_in_use(self):
        """POST /v1/members enrolls (again: created false); a card already in use is 409 naming card_number."""
        member_id = f"m-new-{serial()}"
        card = f"6{serial():015d}"
        body = {"member_id": member_id, "display_name": "New Member", "card_number": card,
                "phone": f"+49151{serial():08d}"}
        self.assertEqual(self.ok(self.http("POST", "/v1/members", body, ADMIN_TOKEN)),
                         {"member_id": member_id, "created": True})
        self.assertEqual(self.ok(self.http("POST", "/v1/members", body, ADMIN_TOKEN)),
                         {"member_id": member_id, "created": False})
        view = self.member(member_id)
        self.assertEqual((view["display_name"], view["balance"]), ("New Member", balance(0)))
        self.assertError(self.http("POST", "/v1/members", {"member_id": f"m-other-{serial()}", "card_number": card},
                                   ADMIN_TOKEN), 409, "ALREADY_EXISTS", 6, "card_number")
        self.assertError(self.http("POST", "/v1/members", {"member_id": f"m-x-{serial()}"}, STORE1_TOKEN),
                         403, "PERMISSION_DENIED", 7)

    def test_adjust_points(self):
        """POST adjustments adds and removes points as ADJUST entries; a retry changes nothing; 0 points is 400."""
        member_id, _ = self.new_member()
        path = f"/v1/members/{member_id}/adjustments"
        added = self.ok(self.http("POST", path, {"points": "25", "reason": "goodwill", "request_id": "adj-1"},
                                  ADMIN_TOKEN), "adjust +25")
        self.assertEqual(added["balance"], balance(25))
        self.assertEqual((added["entry"]["kind"], added["entry"]["points"], added["entry"]["reason"],
                          added["entry"]["member_id"]),
                         ("LEDGER_ENTRY_KIND_ADJUST", "25", "goodwill", member_id))
        taken = self.ok(self.http("POST", path, {"points": "-10", "reason": "correction", "request_id": "adj-2"},
                                  ADMIN_TOKEN), "adjust -10")
        self.assertEqual(taken["balance"], balance(15))
        self.assertEqual(taken["entry"]["points"], "-10")
        retry = self.ok(self.http("POST", path, {"points": "25", "reason": "goodwill", "request_id": "adj-1"},
                                  ADMIN_TOKEN), "adjust retry")
        self.assertEqual(retry["entry"], added["entry"])
        self.assertEqual(self.member(member_id)["balance"], balance(15))
        self.assertError(self.http("POST", path, {"points": "0", "reason": "nothing", "request_id": "adj-3"},
                                   ADMIN_TOKEN), 400, "INVALID_ARGUMENT", 3, "points")

    def test_get_and_update_program(self):
        """GET /v1/program, then PUT with expected_version publishes the next version; a stale one is 400."""
        program = self.ok(self.http("GET", "/v1/program", token=ADMIN_TOKEN))
        version = int(program["version"])
        self.assertGreaterEqual(version, 1)
        self.assertEqual((program["currency"], program["minor_units_per_major"]), ("EUR", "100"))
        self.assertEqual([r["id"] for r in program["rewards"]], ["free-coffee"])
        self.assertEqual([o["id"] for o in program["offers"]], ["bakery-10"])

        proposal = {k: v for k, v in program.items() if k not in ("version", "published_at", "published_by")}
        proposal["points_per_major_unit"] = "3"
        updated = self.ok(self.http("PUT", "/v1/program", {"program": proposal, "expected_version": str(version)},
                                    ADMIN_TOKEN), "update")
        self.assertEqual(updated["version"], str(version + 1))
        self.assertEqual(updated["points_per_major_unit"], "3")
        self.assertEqual(updated["published_by"], "admin")
        self.assertEqual(self.ok(self.http("GET", "/v1/program", token=ADMIN_TOKEN)), updated)
        member_id, card = self.new_member()
        self.assertEqual(self.ok(self.record_sale(sale(new_txn("p3"), [line(1, 1000)], card)))["points_earned"],
                         "30", "10.00 EUR at 3 points per 1.00")

        proposal["points_per_major_unit"] = "1"
        self.assertError(self.http("PUT", "/v1/program", {"program": proposal, "expected_version": str(version)},
                                   ADMIN_TOKEN), 400, "FAILED_PRECONDITION", 9)
        self.assertEqual(self.ok(self.http("GET", "/v1/program", token=ADMIN_TOKEN))["version"], str(version + 1))
        restored = self.ok(self.http("PUT", "/v1/program",
                                     {"program": proposal, "expected_version": str(version + 1)}, ADMIN_TOKEN))
        self.assertEqual(restored["version"], str(version + 2))

    def test_figures(self):
        """GET /v1/figures counts a newly enrolled member and the points given to it."""
        before = self.ok(self.http("GET", "/v1/figures", token=ADMIN_TOKEN))
        member_id, _ = self.new_member()
        self.ok(self.http("POST", f"/v1/members/{member_id}/adjustments",
                          {"points": "7", "reason": "welcome", "request_id": "fig-1"}, ADMIN_TOKEN))
        after = self.ok(self.http("GET", "/v1/figures", token=ADMIN_TOKEN))
        self.assertEqual(int(after["members"]), int(before["members"]) + 1)
        self.assertEqual(int(after["liability_points"]), int(before["liability_points"]) + 7)
        self.assertEqual(int(after["available_points"]), int(before["available_points"]) + 7)
        self.assertEqual(int(after["pending_points"]), int(before["pending_points"]))
        self.assertIsInstance(after["members_per_tier"], dict)
        self.assertIsInstance(after["members_per_stage"], dict)

    def test_audit(self):
        """GET /v1/audit lists program versions newest first, with author and summary; limit=1 gives one."""
        current = self.ok(self.http("GET", "/v1/program", token=ADMIN_TOKEN))
        proposal = {k: v for k, v in current.items() if k not in ("version", "published_at", "published_by")}
        proposal["max_points_per_month"] = str(100000 + serial())
        published = self.ok(self.http("PUT", "/v1/program",
                                      {"program": proposal, "expected_version": current["version"]}, ADMIN_TOKEN))
        audit = self.ok(self.http("GET", "/v1/audit", token=ADMIN_TOKEN))
        versions = [int(e["version"]) for e in audit["entries"]]
        self.assertEqual(versions[0], int(published["version"]))
        self.assertEqual(versions, sorted(versions, reverse=True))
        self.assertIn(1, versions, "version 1 is the initial program")
        top = audit["entries"][0]
        self.assertEqual(top["author"], "admin")
        self.assertTrue(top["summary"])
        self.assertEqual(top["program"]["max_points_per_month"], proposal["max_points_per_month"])
        one = self.ok(self.http("GET", "/v1/audit?limit=1", token=ADMIN_TOKEN))
        self.assertEqual([e["version"] for e in one["entries"]], [published["version"]])


# ---- bad input -----------------------------------------------------------------

class BadInputHttpTest(HttpServerTestCase):
    """Requests the server must refuse, and how."""

    def good_sale(self):
        return sale(new_txn("bad"), [line(1, 100), line(2, 300, sku="sku-2")], self.cards[BOB])

    def test_malformed_json(self):
        """A body that is not JSON is 400 INVALID_ARGUMENT naming body."""
        self.assertError(self.record_sale('{"ref": {"store_id": "store-1"'), 400, "INVALID_ARGUMENT", 3, "body")
        self.assertError(self.record_sale("not json at all"), 400, "INVALID_ARGUMENT", 3, "body")

    def test_unknown_field(self):
        """An unknown field is 400 naming its path in the request (sale.colour, sale.lines[1].colour)."""
        s = self.good_sale()
        s["colour"] = "red"
        self.assertError(self.record_sale(s), 400, "INVALID_ARGUMENT", 3, "sale.colour")
        s = self.good_sale()
        s["lines"][1]["colour"] = "red"
        self.assertError(self.record_sale(s), 400, "INVALID_ARGUMENT", 3, "sale.lines[1].colour")

    def test_wrong_type(self):
        """A value of the wrong JSON type is 400 naming the field."""
        s = self.good_sale()
        s["lines"][0]["quantity"] = "three"
        self.assertError(self.record_sale(s), 400, "INVALID_ARGUMENT", 3, "sale.lines[0].quantity")
        s = self.good_sale()
        s["lines"] = {"sku": "sku-1"}
        self.assertError(self.record_sale(s), 400, "INVALID_ARGUMENT", 3, "sale.lines")

    def test_invalid_value_names_field(self):
        """A well-formed sale that breaks a rule is 400 naming the field, as over gRPC."""
        s = self.good_sale()
        s["lines"][1]["quantity"] = 0
        s["total_minor"] = "100"
        self.assertError(self.record_sale(s), 400, "INVALID_ARGUMENT", 3, "sale.lines[1].quantity")

    def test_no_token(self):
        """No token, an unknown token or a non-Bearer authorization is 401 UNAUTHENTICATED."""
        s = self.good_sale()
        cases = [("no token", {}), ("unknown token", {"Authorization": "Bearer not-a-configured-token"}),
                 ("not Bearer", {"Authorization": "Basic " + STORE1_TOKEN})]
        for name, headers in cases:
            with self.subTest(name):
                self.assertError(self.http("POST", "/v1/sales", s, headers=headers), 401, "UNAUTHENTICATED", 16)
        self.assertError(self.http("GET", f"/v1/members/{BOB}"), 401, "UNAUTHENTICATED", 16)
        self.assertError(self.http("GET", "/v1/members/me/watch"), 401, "UNAUTHENTICATED", 16)

    def test_unknown_route(self):
        """A path no route has is 404 NOT_FOUND."""
        for path in ("/v1/nope", "/v2/sales", "/v1/members/m-bob/nothing", "/"):
            with self.subTest(path):
                self.assertError(self.http("GET", path, token=ADMIN_TOKEN), 404, "NOT_FOUND", 5)

    def test_wrong_verb(self):
        """A known path with another verb is 405 with an Allow header listing the verbs it takes."""
        cases = [("DELETE", "/v1/sales", {"POST"}), ("GET", "/v1/sales", {"POST"}),
                 ("PUT", f"/v1/members/{BOB}", {"GET"}), ("POST", "/v1/program", {"GET", "PUT"}),
                 ("POST", "/healthz", {"GET"})]
        for verb, path, allowed in cases:
            with self.subTest(f"{verb} {path}"):
                r = self.http(verb, path, token=ADMIN_TOKEN)
                self.assertEqual(r.status, 405, repr(r))
                self.assertEqual({v.strip() for v in (r.header("Allow") or "").split(",")}, allowed)
                self.assertEqual(r.json().get("status"), "INVALID_ARGUMENT")


class LimitsHttpTest(HttpServerTestCase):
    """http_max_body_bytes and http_max_header_bytes, set small."""

    extra_config = "http_max_body_bytes: 2048\nhttp_max_header_bytes: 2048\n"

    def test_body_over_limit(self):
        """A body over http_max_body_bytes is 413 naming body; smaller ones, and a larger backlog, are served."""
        s = sale(new_txn("big"), [line(1, 100)], self.cards[BOB])
        s["ref"]["transaction_id"] = "x"  # then padded past the limit with spaces
        padded = json.dumps(s) + " " * 3000
        r = self.record_sale(padded)
        self.assertEqual(r.status, 413, repr(r))
        self.assertEqual(r.json()["status"], "INVALID_ARGUMENT")
        self.assertIn("body", r.json()["message"])
        self.assertIn("2048", r.json()["message"])
        small = sale(new_txn("small"), [line(1, 100)], self.cards[BOB])
        self.assertEqual(self.ok(self.record_sale(small))["points_earned"], "1")
        events = [{"sale": sale(new_txn("bl-big"), [line(1, 100)], self.cards[BOB])} for _ in range(12)]
        body = json.dumps(events)
        self.assertGreater(len(body), 2048)
        self.assertEqual(self.ok(self.http("POST", "/v1/backlog", body, STORE1_TOKEN))["accepted"], 12)

    def test_header_over_limit(self):
        """Request headers over http_max_header_bytes are 431; the server goes on serving."""
        r = self.http("GET", f"/v1/members/{BOB}", token=ADMIN_TOKEN, headers={"X-Padding": "a" * 3000})
        self.assertEqual(r.status, 431, repr(r))
        self.assertIn("headers", r.json()["message"])
        self.assertEqual(self.member(BOB)["member_id"], BOB)


# ---- operations endpoints ------------------------------------------------------

class OpsEndpointsHttpTest(HttpServerTestCase):
    """/metrics, /healthz, /readyz, /openapi.json and keep-alive."""

    def test_metrics(self):
        """GET /metrics is Prometheus text with both edges' request counters, and promtool accepts it."""
        with self.server.channel() as channel:
            admin_grpc.AdminServiceStub(channel).GetProgram(admin_pb2.GetProgramRequest(),
                                                            metadata=lp.auth(ADMIN_TOKEN), timeout=RPC_TIMEOUT_S)
        self.ok(self.http("GET", "/v1/program", token=ADMIN_TOKEN))
        r = self.http("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"), r.header("Content-Type"))
        text = r.body.decode("utf-8")
        for name in ("loyaltyd_http_requests_total", "loyaltyd_grpc_requests_total"):
            self.assertRegex(text, rf"(?m)^# TYPE {name} counter$")
            self.assertRegex(text, rf"(?m)^{name}\{{.*\}} \d")
        if not os.access(PROMTOOL, os.X_OK):
            self.skipTest(f"{PROMTOOL} is absent (Debian package 'prometheus'): promtool check metrics not run")
        checked = subprocess.run([PROMTOOL, "check", "metrics"], input=r.body, capture_output=True, timeout=20)
        self.assertEqual(checked.returncode, 0,
                         f"promtool check metrics: {checked.stdout.decode()}{checked.stderr.decode()}")

    def test_health_and_ready(self):
        """GET /healthz and GET /readyz are 200 without a token."""
        for path in ("/healthz", "/readyz"):
            with self.subTest(path):
                self.assertEqual(self.http("GET", path).status, 200)

    def test_openapi(self):
        """GET /openapi.json is an OpenAPI 3.0.3 document with the annotated routes."""
        r = self.http("GET", "/openapi.json")
        doc = self.ok(r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))
        self.assertEqual(doc["openapi"], "3.0.3")
        self.assertIn("post", doc["paths"]["/v1/sales"])
        self.assertIn("get", doc["paths"]["/v1/members/{member_id}"])
        self.assertIn("get", doc["paths"]["/v1/program"])
        self.assertIn("put", doc["paths"]["/v1/program"])
        self.assertIn("get", doc["paths"]["/v1/members/{member_id}/watch"])

    def test_keep_alive(self):
        """Two requests on one HTTP/1.1 connection are both answered on it."""
        host, port = self.server.http_address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=HTTP_TIMEOUT_S)
        try:
            conn.request("GET", "/healthz")
            first = conn.getresponse()
            first.read()
            sock = conn.sock
            self.assertIsNotNone(sock, "the server closed a keep-alive connection")
            conn.request("GET", f"/v1/members/{BOB}", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
            second = conn.getresponse()
            self.assertEqual((first.status, second.status), (200, 200))
            self.assertEqual(json.loads(second.read())["member_id"], BOB)
            self.assertIs(conn.sock, sock, "the second request went on a new connection")
        finally:
            conn.close()


# ---- Server-Sent Events ----------------------------------------------------------

class WatchSseTest(HttpServerTestCase):
    """GET /v1/members/me/watch as Server-Sent Events, on a server of its own
    (this test stops it)."""

    program = program_config(pending_days=14)
    extra_config = "http_heartbeat_ms: 200\nshutdown_grace_ms: 3000\n"

    def test_watch_views_heartbeat_and_end_on_sigterm(self):
        """The SSE watch sends views (more pending after a sale), heartbeats, and on SIGTERM 'end' and a clean close."""
        host, port = self.server.http_address.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=5.0)  # bounds every read
        try:
            conn.request("GET", "/v1/members/me/watch",
                         headers={"Authorization": "Bearer " + MEMBER_TOKENS["m-wendy"],
                                  "Accept": "text/event-stream"})
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertTrue(resp.getheader("Content-Type", "").startswith("text/event-stream"))
            events = SseReader(resp)

            _, data = events.next_event("member", time.monotonic() + 5)
            first = json.loads(data)
            self.assertEqual(first["member_id"], "m-wendy")
            self.assertEqual(first["balance"], balance(0, 0))

            s = sale(new_txn("watch"), [line(1, 1200)], self.cards["m-wendy"])  # 12 points, pending
            self.assertEqual(self.ok(self.record_sale(s))["balance"], balance(0, 12))
            deadline = time.monotonic() + 5
            while True:
                _, data = events.next_event("member", deadline)
                view = json.loads(data)
                if view["balance"] != first["balance"]:
                    break
            self.assertEqual(view["balance"], balance(0, 12), "pending points grew by the sale's 12")
            self.assertGreater(int(view["last_event_seq"]), int(first["last_event_seq"]))

            # Idle now: a heartbeat comment every 200 ms (http_heartbeat_ms).
            deadline = time.monotonic() + 3
            frame = events.next_frame(deadline)
            while frame is not None and frame[0] == "member":
                frame = events.next_frame(deadline)
            self.assertEqual(frame, ("", ": heartbeat"))

            os.kill(self.server.pid(), signal.SIGTERM)
            _, data = events.next_event("end", time.monotonic() + 5)
            self.assertIsInstance(json.loads(data), dict)
            self.assertIsNone(events.next_frame(time.monotonic() + 5), "after 'end' the stream closes")
            self.assertTrue(events.ended_cleanly(), "the chunked body ends with its last chunk, not a cut")
        finally:
            conn.close()
        code = self.server.terminate(timeout=10)
        self.assertEqual(code, 0, f"exit code after SIGTERM\n{self.server.log_tail()}")


# ---- startup and flags ---------------------------------------------------------

def grpc_health_ok(address):
    """Whether the gRPC health check at `address` says SERVING."""
    with grpc.insecure_channel(address) as ch:
        check = ch.unary_unary(lp.HEALTH_CHECK_METHOD, request_serializer=lambda _: b"",
                               response_deserializer=lambda b: b)
        try:
            return check(b"", timeout=3.0) == lp.HEALTH_SERVING
        except grpc.RpcError:
            return False


class StartupTest(unittest.TestCase):
    """Flags, --help, and a second server on a port already bound."""

    def run_binary(self, args, timeout_s=10.0):
        return subprocess.run([ARGS.binary] + args, capture_output=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)

    def serve_with_flags(self, equals_form):
        """Starts loyaltyd on flags alone (`--flag=value` or `--flag value`),
        checks both edges, the port files and the demo, then SIGTERM: exit 0."""
        work = new_temp_dir("flags")
        grpc_port, http_port = lp.free_port(), lp.free_port()
        flags = [("--data_dir", f"{work}/data"), ("--grpc_listen", f"127.0.0.1:{grpc_port}"),
                 ("--http_listen", f"127.0.0.1:{http_port}"), ("--port_file", f"{work}/grpc.port"),
                 ("--http_port_file", f"{work}/http.port")]
        args = []
        for name, value in flags:
            args += [f"{name}={value}"] if equals_form else [name, value]
        with open(os.path.join(work, "loyaltyd.log"), "wb") as log:
            # From another folder: without --data_dir it would use ./data there.
            proc = subprocess.Popen([ARGS.binary] + args + ["--demo"], cwd=work,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            # The port files are written once serving (after the demo is
            # seeded): the signal to go on.
            port_files = {f"{work}/grpc.port": grpc_port, f"{work}/http.port": http_port}
            deadline = time.monotonic() + 15
            while not all(os.path.exists(f) for f in port_files) and proc.poll() is None:
                self.assertLess(time.monotonic(), deadline, "no port files within 15 s")
                time.sleep(0.05)
            self.assertIsNone(proc.poll(), f"loyaltyd exited with {proc.returncode}")
            for path, port in port_files.items():
                with open(path) as f:
                    self.assertEqual(f.read().strip(), str(port), path)
            address = f"127.0.0.1:{http_port}"
            self.assertEqual(http_request(address, "GET", "/healthz").status, 200, "--http_listen")
            self.assertTrue(grpc_health_ok(f"127.0.0.1:{grpc_port}"), "gRPC health on --grpc_listen")
            r = http_request(address, "GET", "/v1/members/m-0001", token="demo-admin")
            self.assertEqual(r.status, 200, f"--demo member and token: {r}")
            self.assertEqual(r.json()["member_id"], "m-0001")
            self.assertTrue(os.path.isdir(os.path.join(work, "data")), "--data_dir used")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=10), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_equals_form_flags_start_and_serve(self):
        """Flags as --flag=value (data_dir, both listens, both port files, --demo) start a server serving both edges."""
        self.serve_with_flags(equals_form=True)

    def test_space_form_flags_start_and_serve(self):
        """The same flags as `--flag value` start a server serving both edges."""
        self.serve_with_flags(equals_form=False)

    def test_help(self):
        """--help exits 0 and lists --http_listen with its default 127.0.0.1:8080."""
        done = self.run_binary(["--help"])
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertRegex(done.stdout.decode(), r"--http_listen\b[^\n]*127\.0\.0\.1:8080")

    def test_unknown_flag(self):
        """An unknown flag exits non-zero and names the flag."""
        done = self.run_binary(["--no_such_flag=1"])
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("--no_such_flag", (done.stdout + done.stderr).decode())

    def test_no_config_and_no_demo_refuses_to_start(self):
        """Without --config the public demo credentials exist only with --demo: otherwise loyaltyd exits 2 saying so."""
        work = new_temp_dir("noconfig")
        done = self.run_binary([f"--data_dir={work}/data", "--grpc_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0"])
        output = (done.stdout + done.stderr).decode()
        self.assertEqual(done.returncode, 2, output)
        self.assertIn("no --config FILE", output)
        self.assertIn("--demo", output)
        self.assertNotIn("demo-admin", output)
        self.assertFalse(os.path.exists(f"{work}/data"), "nothing was created")

    def test_plaintext_beyond_loopback_needs_the_flag(self):
        """Listening on 0.0.0.0 without TLS is refused naming the address; --allow_plaintext permits it."""
        work = new_temp_dir("plaintext")
        for name, listens in (("grpc_listen", [f"--grpc_listen=0.0.0.0:{lp.free_port()}", "--http_listen=127.0.0.1:0"]),
                              ("http_listen", ["--grpc_listen=127.0.0.1:0", f"--http_listen=0.0.0.0:{lp.free_port()}"])):
            args = [f"--data_dir={work}/data", "--demo"] + listens
            done = self.run_binary(args)
            output = (done.stdout + done.stderr).decode()
            self.assertEqual(done.returncode, 2, output)
            self.assertIn(f"{name}: 0.0.0.0:", output)
            self.assertIn("allow_plaintext_beyond_loopback", output)
        grpc_port = lp.free_port()
        proc = subprocess.Popen([ARGS.binary, f"--data_dir={work}/data", "--demo", "--allow_plaintext",
                                 f"--grpc_listen=0.0.0.0:{grpc_port}", "--http_listen=127.0.0.1:0"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            served = False
            while time.monotonic() < deadline and proc.poll() is None and not served:
                try:
                    socket.create_connection(("127.0.0.1", grpc_port), timeout=0.2).close()
                    served = True
                except OSError:
                    time.sleep(0.1)
            self.assertTrue(served, "with --allow_plaintext it serves on 0.0.0.0")
        finally:
            proc.terminate()
            proc.communicate(timeout=15)

    def test_second_server_on_a_bound_port_fails(self):
        """A second loyaltyd on a bound gRPC or HTTP port exits non-zero within 5 s naming it; the first goes on."""
        work = new_temp_dir("ports")
        first = lp.LoyaltydProcess(ARGS.binary, os.path.join(work, "data"), lp.free_port(), CREDENTIALS,
                                   work_dir=work, extra_config=program_config())
        first.start()
        try:
            wait_http_ready(first)
            cases = [("gRPC", first.address, f"127.0.0.1:{lp.free_port()}"),
                     ("HTTP", f"127.0.0.1:{lp.free_port()}", first.http_address)]
            for n, (edge, grpc_listen, http_listen) in enumerate(cases):
                with self.subTest(edge):
                    taken = grpc_listen if edge == "gRPC" else http_listen
                    started = time.monotonic()
                    try:
                        done = self.run_binary([f"--data_dir={work}/second-{n}", f"--grpc_listen={grpc_listen}",
                                                f"--http_listen={http_listen}", "--demo"], timeout_s=5.0)
                    except subprocess.TimeoutExpired:
                        self.fail(f"a second loyaltyd on the {edge} address {taken} still runs after 5 s")
                    elapsed = time.monotonic() - started
                    output = (done.stdout + done.stderr).decode("utf-8", "replace")
                    self.assertNotEqual(done.returncode, 0, f"second server on {edge} {taken}:\n{output}")
                    self.assertLess(elapsed, 5.0)
                    # loyaltyd's own message, not only gRPC's log line.
                    self.assertRegex(output, rf"loyaltyd: [^\n]*{re.escape(taken)}",
                                     "loyaltyd's message names the address in use")
                    self.assertEqual(http_request(first.http_address, "GET", "/healthz").status, 200)
                    self.assertTrue(grpc_health_ok(first.address), "the first server still serves gRPC")
        finally:
            first.terminate()


# ---- runner ------------------------------------------------------------------------

TEST_CLASSES = (PosHttpTest, MemberHttpTest, AdminHttpTest, BadInputHttpTest, LimitsHttpTest,
                OpsEndpointsHttpTest, WatchSseTest, StartupTest)


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
    ARGS.binary = os.path.abspath(ARGS.binary)  # some tests run it from another folder
    if not os.access(ARGS.binary, os.X_OK):
        print(f"--binary {ARGS.binary}: not an executable file")
        print("0 passed, 1 failed")
        return 1
    load_stubs(ARGS.stubs)

    loader = unittest.TestLoader()
    if ARGS.patterns:
        loader.testNamePatterns = [f"*{p}*" for p in ARGS.patterns]
    suite = unittest.TestSuite()
    for cls in TEST_CLASSES:
        suite.addTests(loader.loadTestsFromTestCase(cls))
    all_ids = test_ids(suite)
    started = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2 if ARGS.verbose else 1, stream=sys.stdout).run(suite)
    passed, failed = count_results(all_ids, result)
    if failed or ARGS.keep:
        for d in TEMP_DIRS:
            print(f"kept {d} (config, loyaltyd.log, data)")
    else:
        for d in TEMP_DIRS:
            shutil.rmtree(d, ignore_errors=True)
    for test, reason in result.skipped:
        print(f"skipped {test.id()}: {reason}")
    print(f"{passed} passed, {failed} failed ({time.monotonic() - started:.1f} s)")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
