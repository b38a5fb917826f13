"""Runs a real loyaltyd process for the end-to-end tests.

Shared by e2e_test.py and crash_test.py. Uses only the standard library,
Debian's python3-grpcio and the generated stubs (the caller puts the stubs
directory on sys.path before importing this module; see add_common_args()).

    creds = [Credential("admin", ROLE_ADMIN, "admin-token"),
             Credential("till", ROLE_TERMINAL, "till-token", store_id="store-1")]
    server = LoyaltydProcess(binary, data_dir, free_port(), creds)
    server.start()                    # waits until it answers gRPC
    channel = server.channel()
    ...
    server.kill(); server.restart()   # crash and come back on the same data
    code = server.terminate()         # SIGTERM, wait, exit code
"""

import argparse
import atexit
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import grpc

# Roles, by the names of loyalty.internal.Role (config.proto).
ROLE_TERMINAL = "ROLE_TERMINAL"
ROLE_MEMBER = "ROLE_MEMBER"
ROLE_ADMIN = "ROLE_ADMIN"

# Reconnect quickly after a server restart: the default backoff (1 s growing
# to 120 s) would make clients wait far longer than the server is down.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]

# Health service method; there is no Python health stub in Debian's grpcio,
# so it is called raw. An empty HealthCheckRequest is zero bytes; the answer
# HealthCheckResponse{status: SERVING} is b"\x08\x01".
HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"
HEALTH_SERVING = b"\x08\x01"


# A program with only the base rule (1 point per 1.00 EUR, per line, rounded
# down; no tiers, stages or expiry), so tests can compute what a sale earns.
BASE_RULE_PROGRAM = """
initial_program {
  currency: "EUR"
  minor_units_per_major: 100
  points_per_major_unit: 1
  tier_window_days: 365
  stage_window_days: 365
}
"""


def add_common_args(parser):
    """Adds --binary and --stubs, the arguments of every e2e program."""
    parser.add_argument("--binary", required=True, help="path to the loyaltyd binary")
    parser.add_argument("--stubs", required=True,
                        help="directory of the generated Python stubs (build/python_stubs)")


def use_stubs(stubs_dir):
    """Makes `import loyalty.v1.pos_pb2` etc. work."""
    stubs_dir = os.path.abspath(stubs_dir)
    if not os.path.isdir(os.path.join(stubs_dir, "loyalty", "v1")):
        raise SystemExit(f"--stubs {stubs_dir}: no loyalty/v1 stubs there")
    if stubs_dir not in sys.path:
        sys.path.insert(0, stubs_dir)


def free_port():
    """A loopback TCP port that was free a moment ago (bind to port 0, read, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def auth(token):
    """Call metadata carrying a bearer token."""
    return (("authorization", "Bearer " + token),)


def sha256_hex(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Credential:
    """One configured token. Only its SHA-256 goes into the config file."""

    def __init__(self, name, role, token, store_id="", member_id=""):
        self.name = name
        self.role = role
        self.token = token
        self.store_id = store_id
        self.member_id = member_id


class ServerStartError(RuntimeError):
    pass


# Every process started here, so that none outlives the test program.
_live = set()
_live_lock = threading.Lock()


def _kill_all_at_exit():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        p.force_kill()


atexit.register(_kill_all_at_exit)


class LoyaltydProcess:
    """One loyaltyd server on fixed loopback ports (gRPC and HTTP) and a data
    directory.

    `work_dir` holds the config file and the log (stdout and stderr of every
    start, appended); it defaults to a new temporary directory.
    `extra_config` is appended verbatim to the text-format config.
    """

    def __init__(self, binary, data_dir, port, credentials, work_dir=None, extra_config="", http_port=None):
        self.binary = os.path.abspath(binary)
        self.data_dir = os.path.abspath(data_dir)
        self.port = port
        self.address = f"127.0.0.1:{port}"
        self.http_port = free_port() if http_port is None else http_port
        self.http_address = f"127.0.0.1:{self.http_port}"
        self.credentials = list(credentials)
        self.work_dir = work_dir or tempfile.mkdtemp(prefix="loyaltyd-")
        self.config_path = os.path.join(self.work_dir, "loyaltyd.textproto")
        self.log_path = os.path.join(self.work_dir, "loyaltyd.log")
        self.extra_config = extra_config
        self.starts = 0
        # TLS: grpc.ssl_channel_credentials for channel() and the readiness
        # check (with the name the certificate is for); None: plaintext.
        self.channel_credentials = None
        self.channel_options = list(CHANNEL_OPTIONS)
        self._proc = None
        self._lock = threading.Lock()  # start/kill/terminate from several threads

    # ---- config ---------------------------------------------------------

    def config_text(self):
        """The loyalty.internal.ServerConfig in protobuf text format."""
        from google.protobuf import text_format
        from loyalty.internal import config_pb2

        cfg = config_pb2.ServerConfig(grpc_listen=self.address, data_dir=self.data_dir,
                                      http_listen=self.http_address)
        for c in self.credentials:
            cfg.credentials.add(
                name=c.name,
                role=config_pb2.Role.Value(c.role),
                token_sha256=sha256_hex(c.token),
                store_id=c.store_id,
                member_id=c.member_id,
            )
        return text_format.MessageToString(cfg) + self.extra_config

    def write_config(self):
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write(self.config_text())

    # ---- lifecycle ------------------------------------------------------

    def start(self, timeout=20.0):
        """Starts the server and waits until it answers gRPC."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                raise ServerStartError("loyaltyd is already running")
            self.write_config()
            self.starts += 1
            log = open(self.log_path, "ab")
            log.write(f"\n===== start {self.starts} at {time.strftime('%H:%M:%S')} =====\n".encode())
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    [self.binary, "--config", self.config_path],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            finally:
                log.close()  # the child has its own copy
            with _live_lock:
                _live.add(self)
        self.wait_ready(timeout)

    def wait_ready(self, timeout=20.0):
        """Waits until the health check says SERVING (or, without a health
        service, until the server answers any call). Raises ServerStartError
        with the log's tail if the process exits or the time runs out."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise ServerStartError(
                    f"loyaltyd exited with code {code} while starting\n{self.log_tail()}")
            with self.channel() as ch:
                check = ch.unary_unary(HEALTH_CHECK_METHOD,
                                       request_serializer=lambda _: b"",
                                       response_deserializer=lambda b: b)
                try:
                    answer = check(b"", timeout=1.0)
                    if answer == HEALTH_SERVING:
                        return
                    last = f"health status bytes {answer!r} (not SERVING)"
                except grpc.RpcError as e:
                    if e.code() not in (grpc.StatusCode.UNAVAILABLE,
                                        grpc.StatusCode.DEADLINE_EXCEEDED):
                        # The server answered (e.g. UNIMPLEMENTED: no health
                        # service registered): it is up.
                        return
                    last = f"{e.code().name}: {e.details()}"
            time.sleep(0.1)
        raise ServerStartError(
            f"loyaltyd did not become ready within {timeout} s ({last})\n{self.log_tail()}")

    def running(self):
        return self._proc is not None and self._proc.poll() is None

    def pid(self):
        return None if self._proc is None else self._proc.pid

    def kill(self):
        """SIGKILL: a crash. Waits for the process to be gone."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            with _live_lock:
                _live.discard(self)

    def force_kill(self):
        """SIGKILL without taking the lock (for atexit, when another thread
        may be stuck inside start())."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except Exception:  # best effort at exit
                pass

    def terminate(self, timeout=10.0):
        """SIGTERM, then waits up to `timeout` s. Returns the exit code
        (negative: killed by that signal), or None if it did not exit in time
        (it is then killed)."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                code = None
            with _live_lock:
                _live.discard(self)
            return code

    def restart(self, timeout=20.0):
        """Starts again on the same data dir and port (after kill or terminate)."""
        if self.running():
            self.kill()
        self.start(timeout)

    # ---- clients --------------------------------------------------------

    def channel(self, credentials=None):
        """A channel to the gRPC port: TLS with `credentials` or
        self.channel_credentials if set, else plaintext."""
        credentials = credentials or self.channel_credentials
        if credentials is not None:
            return grpc.secure_channel(self.address, credentials, options=self.channel_options)
        return grpc.insecure_channel(self.address, options=self.channel_options)

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        tail = text.splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)


def retry_delay_s(error):
    """The delay (seconds) a rate limit's refusal asks for: the RetryInfo in
    the google.rpc.Status of grpc-status-details-bin; None if there is none."""
    from google.rpc import error_details_pb2, status_pb2
    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


def replay_flag(call):
    """The value of trailing metadata `x-idempotent-replay` of a finished
    call (from `stub.Method.with_call`), or None if absent."""
    for key, value in call.trailing_metadata() or ():
        if key == "x-idempotent-replay":
            return value
    return None


def common_parser(description):
    parser = argparse.ArgumentParser(description=description)
    add_common_args(parser)
    return parser
