"""Integration-test harness for the quantcrunch binary (standard library only).

- `Server`: one `quantcrunch serve` subprocess on a free loopback port with its
  own data dir; `start()` waits (bounded) until GET /readyz answers 200 and, if
  the process dies first, fails with its stderr; `stop()` is SIGTERM + bounded
  wait, `kill()` is SIGKILL.
- `ServerTestCase`: a unittest.TestCase whose servers and temp dirs are always
  cleaned up (addCleanup), even when a test fails.
- HTTP helpers returning (status, headers, parsed JSON or None).
- Deterministic, seeded generators of recommendation documents and Polygon
  `AM` minute bars (JSON Lines or CSV).

The binary comes from the environment variable QC_BIN (set by CTest); the
Swagger UI / OpenAPI files from QC_DOCS_DIR when it is set.
"""

import datetime
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import zoneinfo

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
SINGAPORE = datetime.timezone(datetime.timedelta(hours=8))  # no DST since 1982

# SPEC §5: tickers seeded into an empty database, in this order.
DEFAULT_TICKERS = [
    ("AAPL", "NASDAQ", "Apple Inc."),
    ("AMZN", "NASDAQ", "Amazon.com Inc."),
    ("BABA", "NYSE", "Alibaba Group Holdings Limited"),
    ("GOOG", "NASDAQ", "Alphabet Inc."),
    ("SHOP", "NYSE", "Shopify Inc."),
    ("BX", "NYSE", "Blackstone Group Inc."),
    ("C", "NYSE", "Citigroup Inc."),
    ("TLT", "NASDAQ", "iShares 20 Plus Year Treasury Bond ETF"),
    ("NVDA", "NASDAQ", "NVIDIA Corporation"),
    ("BLK", "NYSE", "BlackRock Inc."),
    ("NOK", "NYSE", "Nokia Corporation"),
]
DEFAULT_SYMBOLS = [t[0] for t in DEFAULT_TICKERS]

# Variables the server reads (SPEC §3, docs/decisions.md); removed from the
# environment of every spawned server so the caller's shell cannot leak in.
CONFIG_VARIABLES = [
    "PORT", "HOST", "MONGO_ATLAS_URI", "REDIS_URL", "REDIS_HOST",
    "POLYGON_API_KEY", "POLYGON_API_URL", "POLYGON_WS_URL", "QC_DATA_DIR",
    "QC_API_TOKEN", "QC_CORS_ORIGINS", "QC_FEED", "QC_REPLAY_RATE",
    "QC_SIM_STEP_MS", "QC_SIM_REPLAY_DAYS", "QC_DOCS_DIR", "QC_HTTP_THREADS", "QC_LOG_LEVEL",
    "QC_LOG_FORMAT", "QC_SNAPSHOT_SECONDS", "QC_POLYGON_STALE_SECONDS",
    "QC_POLYGON_BACKOFF_MS", "QC_POLYGON_MAX_BACKOFF_MS", "QC_MAX_CONNECTIONS",
    "QC_REDIS_TLS_VERIFY", "QC_REDIS_TLS_CA_FILE",
    "QC_WEBHOOK_URLS", "QC_WEBHOOK_SECRET", "QC_WEBHOOK_FORMAT", "QC_WEBHOOK_TIMEOUT_MS",
    "QC_WEBHOOK_BACKOFF_MS", "QC_WEBHOOK_MAX_BACKOFF_MS",
    "QC_EVENTS_MAX_SUBSCRIBERS", "QC_EVENTS_HISTORY", "QC_EVENTS_HISTORY_BYTES",
    "QC_EVENTS_QUEUE_BYTES", "QC_EVENTS_HEARTBEAT_MS",
]

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0


# ---------------------------------------------------------------------------
# Environment


def qc_bin():
    path = os.environ.get("QC_BIN", "")
    if not path:
        raise unittest.SkipTest("QC_BIN is not set (run through CTest, or export "
                                "QC_BIN=<path of the quantcrunch binary>)")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"QC_BIN={path!r} is not an executable file")
    return path


def docs_dir():
    """QC_DOCS_DIR if set and existing, else None (the server finds its own)."""
    d = os.environ.get("QC_DOCS_DIR", "")
    return d if d and os.path.isdir(d) else None


def swagger_bundle_available():
    d = docs_dir()
    return bool(d) and os.path.isfile(os.path.join(d, "swagger-ui-bundle.js"))


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env.pop("QC_BIN", None)
    # As in the Dockerfile: libmongoc's shared-memory counters file would be
    # left in /dev/shm by every SIGKILL'd server, and a later process reusing
    # that pid prints a warning before main() (see docs/decisions.md).
    env.setdefault("MONGOC_DISABLE_SHM", "1")
    if extra:
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
    return env


def free_port():
    """A loopback TCP port that was free a moment ago (bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, message, interval=0.02):
    """Polls `predicate` until it returns a truthy value; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last_error = e
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.1f} s: {message}{extra}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# HTTP helpers


def _decode_json(body, headers):
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def http_request_raw(port, method, path, body=None, headers=None, host="127.0.0.1",
                     timeout=HTTP_TIMEOUT):
    """One request on a new connection: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data
    finally:
        conn.close()


def raw_http(port, data, timeout=HTTP_TIMEOUT, until=None):
    """Sends raw bytes on a new connection; returns the bytes that came back
    until the server closed it, `until` was seen, or `timeout` passed."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while until is None or until not in out:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    return out


def http_request(port, method, path, body=None, headers=None, **kw):
    """One request: (status, headers, parsed JSON or None)."""
    status, hdrs, data = http_request_raw(port, method, path, body, headers, **kw)
    return status, hdrs, _decode_json(data, hdrs)


class KeepAliveClient:
    """Several requests on one HTTP/1.1 connection."""

    def __init__(self, port, host="127.0.0.1", timeout=HTTP_TIMEOUT):
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def request_raw(self, method, path, body=None, headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        self.conn.request(method, path, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, resp.headers, data

    def request(self, method, path, body=None, headers=None):
        status, hdrs, data = self.request_raw(method, path, body, headers)
        return status, hdrs, _decode_json(data, hdrs)

    @property
    def sock(self):
        return self.conn.sock

    def close(self):
        self.conn.close()


# ---------------------------------------------------------------------------
# Server process


class ServerExited(AssertionError):
    pass


class Server:
    """A `quantcrunch serve` subprocess.

    feed: "none", "sim" or "replay:PATH". port=None picks a free port and passes
    it with --port; pass_port=False leaves --port out (the port then comes from
    the environment / .env, and `port` must say where to expect it).
    """

    def __init__(self, data_dir, feed="none", token=None, port=None, replay_rate=None,
                 extra_args=(), env=None, cwd=None, pass_port=True, pass_host=True,
                 docs=True):
        self.data_dir = data_dir
        self.feed = feed
        self.token = token
        self.port = port
        self.replay_rate = replay_rate
        self.extra_args = list(extra_args)
        self.env_extra = dict(env or {})
        self.cwd = cwd or data_dir
        self.pass_port = pass_port
        self.pass_host = pass_host
        self.docs = docs
        self.proc = None
        self._stderr_path = None
        self._stdout_path = None
        self.returncode = None

    # -- lifecycle ----------------------------------------------------------

    def command(self):
        cmd = [qc_bin(), "serve"]
        if self.pass_host:
            cmd += ["--host", "127.0.0.1"]
        if self.pass_port:
            cmd += ["--port", str(self.port)]
        cmd += ["--data-dir", self.data_dir]
        if self.feed is not None:
            cmd += ["--feed", self.feed]
        if self.replay_rate is not None:
            cmd += ["--replay-rate", str(self.replay_rate)]
        if self.docs and docs_dir():
            cmd += ["--docs-dir", docs_dir()]
        return cmd + self.extra_args

    def start(self, timeout=STARTUP_TIMEOUT):
        """Starts the process and waits until /readyz answers 200."""
        os.makedirs(self.data_dir, exist_ok=True)
        for attempt in range(3):
            if self.port is None or (attempt > 0 and self.pass_port):
                self.port = free_port()
            self._spawn()
            try:
                self.wait_ready(timeout)
                return self
            except ServerExited:
                # Another process may have taken the port between free_port()
                # and bind(); retry with a new one.
                if self.pass_port and "in use" in self.stderr_text().lower() and attempt < 2:
                    continue
                raise

    def _spawn(self):
        env = clean_env({"QC_API_TOKEN": self.token, **self.env_extra})
        if self.token is None:
            env.pop("QC_API_TOKEN", None)
        if not getattr(self, "_log_dir", None):
            self._log_dir = tempfile.mkdtemp(prefix="qc-log-")
        log_dir = self._log_dir
        self._stdout_path = os.path.join(log_dir, "stdout.log")
        self._stderr_path = os.path.join(log_dir, "stderr.log")
        with open(self._stdout_path, "wb") as out, open(self._stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, cwd=self.cwd, env=env)
        self.returncode = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        if not self._stderr_path or not os.path.exists(self._stderr_path):
            return ""
        with open(self._stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stdout_text(self):
        if not self._stdout_path or not os.path.exists(self._stdout_path):
            return ""
        with open(self._stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _died_message(self, what):
        return (f"quantcrunch server {what} (exit status {self.proc.returncode}); "
                f"command: {' '.join(self.command())}\n--- stderr ---\n{self.stderr_text()}"
                f"--- end of stderr ---")

    def wait_ready(self, timeout=STARTUP_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise ServerExited(self._died_message("exited before /readyz answered 200"))
            try:
                status, _, body = http_request(self.port, "GET", "/readyz", timeout=2)
                if status == 200:
                    return body
                last = f"/readyz answered {status}: {body}"
            except OSError as e:
                last = repr(e)
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError(
                    f"server on port {self.port} not ready within {timeout:.0f} s "
                    f"(last: {last})\n--- stderr ---\n{self.stderr_text()}--- end of stderr ---")
            time.sleep(0.02)

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then a bounded wait; returns the exit status (SIGKILL on timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"server did not exit within {timeout:.0f} s of SIGTERM; "
                                     f"killed\n--- stderr ---\n{self.stderr_text()}")
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        """SIGKILL (a crash); returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        self.returncode = self.proc.returncode
        return self.returncode

    def cleanup(self):
        self.kill()
        if getattr(self, "_log_dir", None):
            shutil.rmtree(self._log_dir, ignore_errors=True)

    # -- HTTP -----------------------------------------------------------------

    def get(self, path, headers=None):
        return http_request(self.port, "GET", path, headers=headers)

    def get_raw(self, path, headers=None):
        return http_request_raw(self.port, "GET", path, headers=headers)

    def request(self, method, path, body=None, headers=None):
        return http_request(self.port, method, path, body=body, headers=headers)

    def request_raw(self, method, path, body=None, headers=None):
        return http_request_raw(self.port, method, path, body=body, headers=headers)

    def post_document(self, doc, token=None):
        """POST /api/recommendations with the bearer token; (status, headers, json)."""
        tok = token if token is not None else self.token
        headers = {"Content-Type": "application/json"}
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        body = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
        return self.request("POST", "/api/recommendations", body=body, headers=headers)

    def readyz(self):
        """/readyz, which must answer 200 (ready)."""
        status, _, body = self.get("/readyz")
        if status != 200:
            raise AssertionError(f"/readyz answered {status}: {body}")
        return body

    def status(self):
        """/readyz's body whether ready (200) or not (503): counters and states."""
        status, _, body = self.get("/readyz")
        if status not in (200, 503) or not isinstance(body, dict):
            raise AssertionError(f"/readyz answered {status}: {body}")
        return body

    def wait_exhausted(self, timeout=60.0):
        """Waits until /readyz says the replay feed is exhausted; returns /readyz."""
        def check():
            if self.proc.poll() is not None:
                raise AssertionError(self._died_message("exited during the replay"))
            r = self.status()
            return r if r.get("feed", {}).get("exhausted") else None
        return wait_until(check, timeout, f"replay feed on port {self.port} did not report "
                                          f"feed.exhausted")


# ---------------------------------------------------------------------------
# Test case base


class ServerTestCase(unittest.TestCase):
    """Helpers to start servers that are always killed after the test."""

    def make_temp_dir(self, prefix="qc-test-"):
        d = tempfile.mkdtemp(prefix=prefix)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def start_server(self, data_dir=None, **kw):
        if data_dir is None:
            data_dir = os.path.join(self.make_temp_dir(), "data")
        server = Server(data_dir, **kw)
        self.addCleanup(server.cleanup)
        server.start()
        return server

    def restart(self, server, **changes):
        """Stops (SIGTERM, asserting exit 0) and starts a new server on the same data dir."""
        code = server.stop()
        self.assertEqual(code, 0, f"SIGTERM'd server exited {code}\n{server.stderr_text()}")
        kw = dict(feed=server.feed, token=server.token, replay_rate=server.replay_rate,
                  extra_args=server.extra_args, env=server.env_extra)
        kw.update(changes)
        return self.start_server(server.data_dir, **kw)


# ---------------------------------------------------------------------------
# Synthetic data


def ny_date(unix_seconds):
    """`us-date` text (New York local time) for a UNIX time."""
    dt = datetime.datetime.fromtimestamp(unix_seconds, NEW_YORK)
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def sg_date(unix_seconds):
    dt = datetime.datetime.fromtimestamp(unix_seconds, SINGAPORE)
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def ny_unix(text):
    """UNIX seconds of a New York local time "YYYY-MM-DD HH:MM:SS" (not DST-edge safe)."""
    dt = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=NEW_YORK)
    return int(dt.timestamp())


def make_document(unix_seconds, items):
    """A §5 recommendation document; items: [(symbol, targetPrice, currentPrice)]."""
    return {
        "us-date": ny_date(unix_seconds),
        "sg-date": sg_date(unix_seconds),
        "recommendations": [
            {"symbol": s, "targetPrice": t, "currentPrice": c} for s, t, c in items
        ],
    }


def am_bar(symbol, start_ms, o, h, l, c, v=1000, end_ms=None):
    """A Polygon `AM` event (one minute unless end_ms says otherwise)."""
    e = start_ms + 60_000 if end_ms is None else end_ms
    return {"ev": "AM", "sym": symbol, "v": v, "av": v * 10, "op": o,
            "vw": round((o + c) / 2, 4), "o": o, "c": c, "h": h, "l": l,
            "a": round((o + h + l + c) / 4, 4), "z": 100, "s": start_ms, "e": e}


class SyntheticMarket:
    """A deterministic random walk for the default tickers and recommendation
    documents priced from it, so that some targets and some stops are reached
    and some positions stay open.

    bars: list of AM events, time-ordered, `e = s + 60 s`; docs: list of §5
    documents (time-ordered, distinct us-dates within the bar range).
    """

    def __init__(self, seed, n_bars, n_docs, start_unix=1626096600, step_minutes=10,
                 symbols=DEFAULT_SYMBOLS, volatility=0.004, items_per_doc=(2, 5),
                 gap_probability=0.03):
        rng = random.Random(seed)
        self.symbols = list(symbols)
        prices = {s: round(rng.uniform(20, 400), 2) for s in self.symbols}
        self.bars = []
        self.price_at = {}  # (step, symbol) -> open price of that step's bar
        self.step_start = []
        step = 0
        while len(self.bars) < n_bars:
            t = start_unix + step * step_minutes * 60
            self.step_start.append(t)
            for s in self.symbols:
                if len(self.bars) >= n_bars:
                    break
                p = prices[s]
                if rng.random() < gap_probability:
                    # quiet minute for this symbol: no bar, price drifts anyway
                    prices[s] = round(max(1.0, p * (1 + rng.gauss(0, volatility))), 2)
                    continue
                o = round(p * (1 + rng.gauss(0, volatility / 4)), 2)
                c = round(max(1.0, o * (1 + rng.gauss(0, volatility))), 2)
                h = round(max(o, c) * (1 + abs(rng.gauss(0, volatility / 2))), 2)
                l = round(min(o, c) * (1 - abs(rng.gauss(0, volatility / 2))), 2)
                self.price_at[(step, s)] = o
                self.bars.append(am_bar(s, t * 1000, o, h, l, c, v=rng.randint(100, 50_000)))
                prices[s] = c
            step += 1
        n_steps = step
        # Documents on distinct steps; late ones tend to stay open.
        candidates = list(range(1, max(2, int(n_steps * 0.97))))
        chosen = sorted(rng.sample(candidates, min(n_docs, len(candidates))))
        self.docs = []
        for st in chosen:
            t = self.step_start[st]
            # Some documents at a bar start exactly, others a few seconds into the step.
            if rng.random() < 0.5:
                t += rng.randint(1, step_minutes * 60 - 1)
            k = rng.randint(*items_per_doc)
            items = []
            for s in rng.sample(self.symbols, k):
                cur = self.price_at.get((st, s)) or round(rng.uniform(20, 400), 2)
                target = round(cur * (1 + rng.uniform(0.005, 0.12)), 2)
                if target <= cur:
                    target = round(cur + 0.01, 2)
                items.append((s, target, cur))
            self.docs.append(make_document(t, items))

    def bars_jsonl(self):
        return "".join(json.dumps(b, separators=(",", ":")) + "\n" for b in self.bars)

    def bars_csv(self, header=True, time_unit="s"):
        lines = ["symbol,time,open,high,low,close,volume\n"] if header else []
        for b in self.bars:
            t = b["s"] // 1000 if time_unit == "s" else b["s"]
            lines.append(f"{b['sym']},{t},{b['o']!r},{b['h']!r},{b['l']!r},{b['c']!r},{b['v']}\n")
        return "".join(lines)

    def docs_jsonl(self):
        return "".join(json.dumps(d) + "\n" for d in self.docs)


def write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def write_bars_jsonl(path, bars):
    return write_text(path, "".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bars))


def post_all(testcase, server, docs):
    """POSTs each document and asserts 201 (or 200 for a duplicate)."""
    for i, doc in enumerate(docs):
        status, _, body = server.post_document(doc)
        testcase.assertIn(status, (200, 201), f"POST of document {i} answered {status}: {body}")


def run_backtest(recommendations, bars, timeout=120, extra_args=()):
    """Runs `quantcrunch backtest`; returns the CompletedProcess (text mode)."""
    cmd = [qc_bin(), "backtest", "--recommendations", recommendations, "--bars", bars,
           *extra_args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=clean_env(), stdin=subprocess.DEVNULL)


class ClosingScenario:
    """A small hand-made case whose expected /api/performance is known.

    Documents (New York time):
      2021-07-12 10:59:00  AAPL T 150.2 C 145.1, AMZN T 3800 C 3700
      2021-08-02 10:00:00  NVDA T 200 C 190, C T 70 C 68
    Bars close AAPL at its target (h >= T), AMZN at its stop (l <= stop),
    NVDA on a gap up (o >= T, exit at o); C stays open. One AAPL bar starts
    before the position existed and must not close it (no look-ahead).
    """

    def __init__(self):
        self.ts1 = ny_unix("2021-07-12 10:59:00")  # 1626101940
        self.ts2 = ny_unix("2021-08-02 10:00:00")  # 1627912800
        self.doc1 = make_document(self.ts1, [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700)])
        self.doc2 = make_document(self.ts2, [("NVDA", 200, 190), ("C", 70, 68)])
        self.docs = [self.doc1, self.doc2]
        t1, t2 = self.ts1 * 1000, self.ts2 * 1000
        self.bars = [
            am_bar("AAPL", t1 - 60_000, 146.0, 160.0, 100.0, 147.0),   # before open: ignored
            am_bar("AAPL", t1, 145.5, 151.0, 145.0, 150.9),            # target 150.2
            am_bar("AMZN", t1 + 120_000, 3600.0, 3650.0, 3300.0, 3400.0),  # stop 3330
            am_bar("NVDA", t2 + 60_000, 205.0, 206.0, 204.0, 205.5),   # gap up, exit 205
            am_bar("C", t2 + 60_000, 68.5, 69.0, 68.0, 68.7),          # stays open
        ]
        july, august = 1625097600, 1627776000  # 2021-07-01, 2021-08-01 00:00 UTC
        aapl = self._closed("AAPL", 150.2, 145.1, self.ts1, 150.2, "Reached target price",
                            self.ts1 + 60)
        amzn = self._closed("AMZN", 3800, 3700, self.ts1, 3700 * 0.9, "Reached stop loss",
                            self.ts1 + 180)
        nvda = self._closed("NVDA", 200, 190, self.ts2, 205.0, "Reached target price",
                            self.ts2 + 120)
        self.expected = {"performance": [
            {"month": july, "realized_pnl": aapl["pnl"] + amzn["pnl"], "positions": [aapl, amzn]},
            {"month": august, "realized_pnl": nvda["pnl"], "positions": [nvda]},
        ]}
        self.open_after = 1  # C

    @staticmethod
    def _closed(symbol, target, entry, opened, exit_price, notes, closed):
        return {"symbol": symbol, "target_price": target, "entry_price": entry,
                "open_timestamp": opened, "stop_loss": entry * 0.9,
                "pnl": (exit_price - entry) / entry * 100, "notes": notes,
                "close_timestamp": closed, "exit_price": exit_price}


def number_tokens(raw):
    """The text of every number token in a JSON body."""
    found = []
    json.loads(raw, parse_float=lambda s: found.append(s) or float(s),
               parse_int=lambda s: found.append(s) or int(s))
    return found
