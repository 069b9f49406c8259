#!/usr/bin/env python3
"""Local stand-in for Polygon.io / Massive, for integration tests (standard library only).

It speaks the real protocols over real loopback sockets (127.0.0.1 only):

* a WebSocket server (RFC 6455, written by hand: HTTP Upgrade handshake,
  masked client frames, unmasked server frames, fragmentation, ping/pong,
  close handshake, 7/16/64-bit payload lengths) on ``ws://127.0.0.1:PORT/stocks``
  that follows the stocks protocol of ``shared/polygon-protocol.md`` §1
  (status frames, auth, subscribe/unsubscribe acks, ``AM`` arrays,
  ``max_connections`` eviction of the older connection);
* a REST server (``http.server.ThreadingHTTPServer``, HTTP/1.1 keep-alive) with
  the aggregates (``next_url`` pagination), ticker snapshot and market status
  endpoints, key check (Bearer header or ``apiKey`` query), fault injection,
  requests held until released, and a request log;
* ``ConnectionRecorder``: a bare TCP listener that records every connection
  and the bytes sent to it, to prove that nothing (and no key) reaches a host
  (e.g. a ``next_url`` pointing elsewhere, see ``next_url_base``).

Use from unittest::

    from polygon_standin import PolygonStandIn
    with PolygonStandIn(api_key="k") as pg:
        ... start the server with POLYGON_WS_URL=pg.ws_url, POLYGON_API_URL=pg.rest_url
        assert pg.wait_for_subscription(["AM.AAPL"], timeout=5)
        pg.push_am([{"sym": "AAPL", "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 100, "s": 1717767000000}])

Every method is thread-safe and every wait is bounded by its ``timeout``.

Standalone (manual testing)::

    python3 tests/support/polygon_standin.py --ws-port 0 --rest-port 0 --key K \
        [--bars bars.jsonl] [--script am.jsonl --rate 2 --loop]

prints ``POLYGON_WS_URL=...``, ``POLYGON_API_URL=...``, ``POLYGON_API_KEY=...``
and runs until SIGINT/SIGTERM. In that mode a small control API is also served
on the REST port under ``/_standin/`` (see ``_CONTROL_METHODS``).
"""

from __future__ import annotations

import argparse
import base64
import calendar
import datetime as _dt
import hashlib
import http.server
import json
import os
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid

__all__ = ["PolygonStandIn", "ConnectionRecorder", "make_am_event", "RATE_LIMIT_MESSAGE", "main"]

HOST = "127.0.0.1"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

RATE_LIMIT_MESSAGE = ("You've exceeded the maximum requests per minute, please wait or "
                      "upgrade your subscription to continue.")
MAX_CONNECTIONS_MESSAGE = "Maximum number of connections exceeded."

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA_OPS = (OP_CONT, OP_TEXT, OP_BINARY)
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)

AM_FIELDS = ("ev", "sym", "v", "av", "op", "vw", "o", "c", "h", "l", "a", "z", "s", "e")
_BAR_FIELDS = ("v", "vw", "o", "c", "h", "l", "t", "n")
_TIMESPANS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
_AGGS_RE = re.compile(r"^/v2/aggs/ticker/([^/]+)/range/([^/]+)/([^/]+)/([^/]+)/([^/]+)/?$")
_SNAPSHOT_PATH = "/v2/snapshot/locale/us/markets/stocks/tickers"
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")

_HTTP_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                 426: "Upgrade Required", 431: "Request Header Fields Too Large",
                 500: "Internal Server Error", 502: "Bad Gateway",
                 503: "Service Unavailable", 504: "Gateway Timeout"}


def _json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _request_id() -> str:
    return uuid.uuid4().hex


# ---------------------------------------------------------------------------
# US Eastern time (zoneinfo if the tz database is there, else the post-2007 US rules)

try:
    import zoneinfo as _zoneinfo
    _ET = _zoneinfo.ZoneInfo("America/New_York")
except Exception:  # noqa: BLE001 - no tz database: fall back to fixed rules
    _ET = None


def _nth_sunday(year: int, month: int, n: int) -> _dt.date:
    first = _dt.date(year, month, 1)
    return first + _dt.timedelta(days=(6 - first.weekday()) % 7 + 7 * (n - 1))


def _et_offset_seconds(utc_seconds: float) -> int:
    if _ET is not None:
        t = _dt.datetime.fromtimestamp(utc_seconds, _ET)
        return int(t.utcoffset().total_seconds())
    year = time.gmtime(utc_seconds).tm_year
    dst_start = calendar.timegm(_nth_sunday(year, 3, 2).timetuple()) + 7 * 3600
    dst_end = calendar.timegm(_nth_sunday(year, 11, 1).timetuple()) + 6 * 3600
    return -4 * 3600 if dst_start <= utc_seconds < dst_end else -5 * 3600


def _et_midnight_ms(d: _dt.date) -> int:
    """Unix ms of 00:00 America/New_York on date d."""
    base = calendar.timegm(d.timetuple())
    off = _et_offset_seconds(base + 5 * 3600)  # 00:00/01:00 local, before any 02:00 switch
    return (base - off) * 1000


def _et_date_of_ms(ms: int) -> _dt.date:
    s = ms / 1000.0
    return _dt.datetime.fromtimestamp(s + _et_offset_seconds(s), _dt.timezone.utc).date()


def _et_rfc3339_now() -> str:
    now = time.time()
    off = _et_offset_seconds(now)
    t = _dt.datetime.fromtimestamp(now, _dt.timezone(_dt.timedelta(seconds=off)))
    return t.replace(microsecond=0).isoformat()


# ---------------------------------------------------------------------------
# WebSocket framing

def _mask_bytes(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = False) -> bytes:
    """One WebSocket frame (server frames are unmasked)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = os.urandom(4)
        return hdr + key + _mask_bytes(payload, key)
    return hdr + payload


def _encode_message(opcode: int, payload: bytes, fragment_size=None, interleave_ping=False) -> bytes:
    """A data message, optionally split into fragments of fragment_size bytes
    (with a ping between the first two fragments if interleave_ping)."""
    if not fragment_size or fragment_size <= 0 or len(payload) <= fragment_size:
        return encode_frame(opcode, payload)
    parts = [payload[i:i + fragment_size] for i in range(0, len(payload), fragment_size)]
    out = []
    for i, part in enumerate(parts):
        out.append(encode_frame(opcode if i == 0 else OP_CONT, part, fin=(i == len(parts) - 1)))
        if i == 0 and interleave_ping:
            out.append(encode_frame(OP_PING, b"standin-mid-message"))
    return b"".join(out)


def _close_payload(code, reason: str = "") -> bytes:
    if code is None:
        return b""
    return struct.pack("!H", code) + reason.encode("utf-8")[:120]


class _ProtocolError(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _parse_frame(buf: bytearray, max_size: int):
    """Parse one frame from the front of buf. Returns None if incomplete, else
    (fin, rsv, opcode, masked, payload) and removes the frame from buf."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    fin = bool(b0 & 0x80)
    rsv = (b0 >> 4) & 0x7
    opcode = b0 & 0xF
    masked = bool(b1 & 0x80)
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n = struct.unpack_from("!H", buf, 2)[0]
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n = struct.unpack_from("!Q", buf, 2)[0]
        pos = 10
        if n >> 63:
            raise _ProtocolError(1002, "invalid payload length")
    if n > max_size:
        raise _ProtocolError(1009, "message too big")
    key = None
    if masked:
        if len(buf) < pos + 4:
            return None
        key = bytes(buf[pos:pos + 4])
        pos += 4
    if len(buf) < pos + n:
        return None
    payload = bytes(buf[pos:pos + n])
    del buf[:pos + n]
    if masked:
        payload = _mask_bytes(payload, key)
    return fin, rsv, opcode, masked, payload


# ---------------------------------------------------------------------------
# AM events

def make_am_event(bar: dict) -> dict:
    """A complete AM event (fields ev,sym,v,av,op,vw,o,c,h,l,a,z,s,e) from a partial
    dict: only `sym` is required; given values are kept as they are (no type
    coercion), missing ones get plausible defaults. Extra keys (otc, dv, ...) are kept."""
    if "sym" not in bar:
        raise ValueError("an AM bar needs 'sym'")
    b = dict(bar)
    c = b.get("c", b.get("o", 100.0))
    o = b.get("o", c)
    h = b.get("h", max(o, c))
    l = b.get("l", min(o, c))  # noqa: E741
    v = b.get("v", 100)
    vw = b.get("vw", round((o + h + l + c) / 4.0, 4))
    s = b.get("s")
    if s is None:
        now_ms = int(time.time() * 1000)
        s = now_ms - now_ms % 60000
    ev = {
        "ev": b.get("ev", "AM"), "sym": b["sym"], "v": v, "av": b.get("av", v),
        "op": b.get("op", o), "vw": vw, "o": o, "c": c, "h": h, "l": l,
        "a": b.get("a", vw), "z": b.get("z", 100), "s": s,
        "e": b.get("e", s + 60000 if isinstance(s, int) else s),
    }
    for k, val in b.items():
        if k not in ev:
            ev[k] = val
    return ev


# ---------------------------------------------------------------------------
# Connection state

class _WSConn:
    def __init__(self, cid: int, sock: socket.socket, addr):
        self.id = cid
        self.sock = sock
        self.addr = addr
        self.write_lock = threading.Lock()
        self.state = "handshake"          # handshake -> open -> closing -> closed
        self.authenticated = False
        self.key = None
        self.subscriptions = {}           # topic -> None (insertion ordered)
        self.opened_at = None
        self.path = None
        self.headers = {}
        self.close_sent = False
        self.close_deadline = None
        self.close_received = None        # (code, reason) from the client
        self.end_reason = None
        self.thread = None

    def info(self) -> dict:
        return {"id": self.id, "state": self.state, "authenticated": self.authenticated,
                "key": self.key, "subscriptions": list(self.subscriptions),
                "path": self.path, "headers": dict(self.headers),
                "close_received": self.close_received, "end_reason": self.end_reason}


class _RestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, standin, addr):
        self.standin = standin
        self._clients = set()
        self._clients_lock = threading.Lock()
        super().__init__(addr, _RestHandler)

    def process_request(self, request, client_address):
        with self._clients_lock:
            self._clients.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._clients_lock:
            self._clients.discard(request)
        super().shutdown_request(request)

    def close_clients(self):
        with self._clients_lock:
            clients = list(self._clients)
        for s in clients:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PolygonStandIn/1.0"
    sys_version = ""
    timeout = 30  # idle keep-alive connections; stop() closes them anyway

    def log_message(self, fmt, *args):  # quiet unless verbose
        if self.server.standin.verbose:
            sys.stderr.write("[standin rest] " + (fmt % args) + "\n")

    def do_GET(self):
        self.server.standin._handle_rest(self, "GET")

    def do_POST(self):
        self.server.standin._handle_rest(self, "POST")

    def do_HEAD(self):
        self.server.standin._handle_rest(self, "HEAD")

    def do_PUT(self):
        self.server.standin._handle_rest(self, "PUT")

    def do_DELETE(self):
        self.server.standin._handle_rest(self, "DELETE")


# ---------------------------------------------------------------------------
# The stand-in

class PolygonStandIn:
    """Polygon/Massive stand-in: stocks WebSocket + REST on 127.0.0.1.

    Settable attributes (also constructor keywords; may be changed while running):
      api_key, connect_status ("connected" | "success" | None = send nothing),
      evict_older (bool), max_connections_per_key (int), evict_close_code (int | None =
      abrupt TCP close), auth_failed_close_code (int | None), ping_interval (s | None),
      page_size (int | None = only `limit`), aggs_status ("OK"), omit_empty_results (bool),
      next_url_base (str | None = the Host the request came to, e.g. "http://127.0.0.1:9"
      to make every next_url point at another origin), hold_timeout (s a held request
      waits at most),
      send_timeout, close_timeout, handshake_timeout, max_message_size, verbose.
    """

    def __init__(self, api_key: str = "test-key", ws_port: int = 0, rest_port: int = 0, *,
                 connect_status="connected", evict_older: bool = True,
                 max_connections_per_key: int = 1, evict_close_code=1008,
                 auth_failed_close_code=1008, ping_interval=None, page_size=2,
                 aggs_status: str = "OK", omit_empty_results: bool = True,
                 ws_path: str = "/stocks", send_timeout: float = 5.0,
                 close_timeout: float = 1.0, handshake_timeout: float = 5.0,
                 max_message_size: int = 16 * 1024 * 1024, enable_control: bool = False,
                 next_url_base=None, hold_timeout: float = 60.0, verbose: bool = False):
        self.api_key = api_key
        self.connect_status = connect_status
        self.evict_older = evict_older
        self.max_connections_per_key = max_connections_per_key
        self.evict_close_code = evict_close_code
        self.auth_failed_close_code = auth_failed_close_code
        self.ping_interval = ping_interval
        self.page_size = page_size
        self.aggs_status = aggs_status
        self.omit_empty_results = omit_empty_results
        self.ws_path = ws_path
        self.send_timeout = send_timeout
        self.close_timeout = close_timeout
        self.handshake_timeout = handshake_timeout
        self.max_message_size = max_message_size
        self.enable_control = enable_control
        self.next_url_base = next_url_base
        self.hold_timeout = hold_timeout
        self.verbose = verbose

        self._req_ws_port = ws_port
        self._req_rest_port = rest_port
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._started = False

        # WebSocket state
        self._ws_sock = None
        self._ws_thread = None
        self._ws_port = None
        self._conns = {}            # id -> _WSConn (every conn with a live thread)
        self._next_id = 1
        self._ws_log = []
        self._connections_total = 0
        self._auth_total = 0
        self._refused_total = 0
        self._refuse = None         # None | "close" | "503"
        self._unresponsive = False

        # REST state
        self._httpd = None
        self._rest_thread = None
        self._rest_port = None
        self._rest_log = []
        self._faults = []           # [remaining, spec]
        self._rest_delay = 0.0
        self._holds = []            # path prefixes whose requests wait for release_requests()
        self._held = 0              # requests waiting now
        self._bars = {}             # sym -> {t: bar}
        self._snapshots = {}        # sym -> ticker dict
        self._market_status = {
            "market": "open", "earlyHours": False, "afterHours": False, "serverTime": None,
            "exchanges": {"nasdaq": "open", "nyse": "open", "otc": "open"},
            "currencies": {"fx": "open", "crypto": "open"},
        }
        self._upcoming = []

    # ----- lifecycle -----------------------------------------------------

    def start(self) -> "PolygonStandIn":
        with self._lock:
            if self._started:
                return self
            self._started = True
        self._stopping.clear()
        ws = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ws.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ws.bind((HOST, self._req_ws_port))
        ws.listen(64)
        self._ws_sock = ws
        self._ws_port = ws.getsockname()[1]
        self._ws_thread = threading.Thread(target=self._accept_loop, name="standin-ws-accept",
                                           daemon=True)
        self._ws_thread.start()

        self._httpd = _RestServer(self, (HOST, self._req_rest_port))
        self._rest_port = self._httpd.server_address[1]
        self._rest_thread = threading.Thread(target=self._httpd.serve_forever,
                                             kwargs={"poll_interval": 0.1},
                                             name="standin-rest", daemon=True)
        self._rest_thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops both servers; open WebSocket connections are cut (no close frame)."""
        with self._lock:
            if not self._started:
                return
            self._started = False
        deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._ws_thread:
            self._ws_thread.join(max(0.0, deadline - time.monotonic()))
        try:
            self._ws_sock.close()
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            self._abort(c, "server stopped")
        for c in conns:
            if c.thread is not None:
                c.thread.join(max(0.0, deadline - time.monotonic()))
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_clients()
            self._httpd.server_close()
            if self._rest_thread:
                self._rest_thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._cond.notify_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def ws_port(self) -> int:
        return self._ws_port

    @property
    def rest_port(self) -> int:
        return self._rest_port

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self._ws_port}{self.ws_path}"

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self._rest_port}"

    def env(self) -> dict:
        """POLYGON_* variables pointing a server at this stand-in."""
        return {"POLYGON_API_KEY": self.api_key, "POLYGON_API_URL": self.rest_url,
                "POLYGON_WS_URL": self.ws_url}

    def _debug(self, msg: str) -> None:
        if self.verbose:
            sys.stderr.write("[standin ws] " + msg + "\n")

    def _log_ws(self, conn_id, kind: str, **fields) -> None:
        entry = {"t": time.time(), "conn": conn_id, "kind": kind}
        entry.update(fields)
        with self._cond:
            self._ws_log.append(entry)
            self._cond.notify_all()

    # ----- WebSocket: accept + per-connection thread ------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                r, _, _ = select.select([self._ws_sock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                sock, addr = self._ws_sock.accept()
            except OSError:
                continue
            with self._lock:
                refuse = self._refuse
                cid = self._next_id
                self._next_id += 1
            if refuse == "close":
                with self._cond:
                    self._refused_total += 1
                self._log_ws(cid, "refused", mode="close")
                try:
                    sock.close()
                except OSError:
                    pass
                continue
            conn = _WSConn(cid, sock, addr)
            with self._lock:
                self._conns[cid] = conn
            conn.thread = threading.Thread(target=self._conn_main, args=(conn,),
                                           name=f"standin-ws-{cid}", daemon=True)
            conn.thread.start()

    def _conn_main(self, conn: _WSConn) -> None:
        try:
            leftover = self._handshake(conn)
            if leftover is None:
                return
            self._conn_loop(conn, leftover)
        except Exception as e:  # noqa: BLE001 - never kill the stand-in
            conn.end_reason = conn.end_reason or f"error: {e!r}"
            self._debug(f"conn {conn.id} error {e!r}")
        finally:
            self._finish(conn)

    def _http_reply(self, conn: _WSConn, code: int, extra_headers=None, body: str = "") -> None:
        data = body.encode()
        lines = [f"HTTP/1.1 {code} {_HTTP_REASONS.get(code, 'Error')}",
                 "Content-Type: text/plain; charset=utf-8",
                 f"Content-Length: {len(data)}", "Connection: close"]
        lines += list(extra_headers or [])
        try:
            conn.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        except OSError:
            pass

    def _handshake(self, conn: _WSConn):
        sock = conn.sock
        sock.settimeout(self.send_timeout)
        deadline = time.monotonic() + self.handshake_timeout
        data = b""
        while b"\r\n\r\n" not in data:
            if len(data) > 65536:
                self._http_reply(conn, 431)
                conn.end_reason = "handshake too large"
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                conn.end_reason = "handshake timeout"
                return None
            r, _, _ = select.select([sock], [], [], min(remaining, 0.1))
            if not r:
                continue
            chunk = sock.recv(65536)
            if not chunk:
                conn.end_reason = "eof during handshake"
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        conn.headers = headers
        method = parts[0] if parts else ""
        target = parts[1] if len(parts) > 1 else ""
        conn.path = urllib.parse.urlsplit(target).path

        def reject(code, why, extra=None):
            self._http_reply(conn, code, extra, why + "\n")
            conn.end_reason = f"handshake rejected {code}: {why}"
            self._log_ws(conn.id, "rejected", status=code, reason=why, path=conn.path,
                         headers=dict(headers))
            return None

        with self._lock:
            refuse = self._refuse
        if refuse == "503":
            with self._cond:
                self._refused_total += 1
            return reject(503, "refusing connections")
        if len(parts) != 3 or method != "GET":
            return reject(405 if len(parts) == 3 else 400, "expected GET")
        if conn.path != self.ws_path:
            return reject(404, f"unknown path {conn.path}")
        conn_tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
        if headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in conn_tokens:
            return reject(400, "not a websocket upgrade")
        if headers.get("sec-websocket-version", "") != "13":
            return reject(426, "unsupported websocket version", ["Sec-WebSocket-Version: 13"])
        key = headers.get("sec-websocket-key", "")
        try:
            ok_key = len(base64.b64decode(key, validate=True)) == 16
        except Exception:  # noqa: BLE001
            ok_key = False
        if not ok_key:
            return reject(400, "bad Sec-WebSocket-Key")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
        with conn.write_lock:
            sock.sendall(resp.encode())
            with self._cond:
                conn.state = "open"
                conn.opened_at = time.time()
                self._connections_total += 1
                self._ws_log.append({"t": time.time(), "conn": conn.id, "kind": "open",
                                     "path": conn.path, "headers": dict(headers)})
                self._cond.notify_all()
            status = self.connect_status
            if status:
                self._send_locked(conn, OP_TEXT, _json([{
                    "ev": "status", "status": status, "message": "Connected Successfully"}]).encode())
        self._debug(f"conn {conn.id} open")
        return bytearray(rest)

    def _conn_loop(self, conn: _WSConn, buf: bytearray) -> None:
        sock = conn.sock
        frag_op = None
        frag_parts = []
        frag_len = 0
        last_ping = time.monotonic()
        while True:
            if self._stopping.is_set():
                conn.end_reason = conn.end_reason or "server stopped"
                return
            if conn.state == "closed":
                return
            now = time.monotonic()
            if conn.state == "closing" and conn.close_deadline and now > conn.close_deadline:
                conn.end_reason = conn.end_reason or "close timeout"
                return
            pi = self.ping_interval
            if pi and conn.state == "open" and now - last_ping >= pi:
                last_ping = now
                self._send(conn, OP_PING, b"standin")
            # Parse whatever is buffered first (handshake leftovers), then read.
            while True:
                try:
                    fr = _parse_frame(buf, self.max_message_size)
                except _ProtocolError as e:
                    self._protocol_fail(conn, e.code, e.reason)
                    return
                if fr is None:
                    break
                fin, rsv, opcode, masked, payload = fr
                if rsv:
                    self._protocol_fail(conn, 1002, "reserved bits set")
                    return
                if not masked:
                    self._protocol_fail(conn, 1002, "client frame not masked")
                    return
                if opcode in _CONTROL_OPS:
                    if not fin or len(payload) > 125:
                        self._protocol_fail(conn, 1002, "bad control frame")
                        return
                    if opcode == OP_CLOSE:
                        self._on_close_frame(conn, payload)
                        return
                    if opcode == OP_PING:
                        self._log_ws(conn.id, "ping", payload=payload)
                        if not self._unresponsive and conn.state == "open":
                            self._send(conn, OP_PONG, payload)
                    else:
                        self._log_ws(conn.id, "pong", payload=payload)
                    continue
                if opcode not in _DATA_OPS:
                    self._protocol_fail(conn, 1002, f"unknown opcode {opcode}")
                    return
                if opcode == OP_CONT:
                    if frag_op is None:
                        self._protocol_fail(conn, 1002, "continuation without start")
                        return
                    frag_parts.append(payload)
                    frag_len += len(payload)
                else:
                    if frag_op is not None:
                        self._protocol_fail(conn, 1002, "new message inside fragmented one")
                        return
                    frag_op = opcode
                    frag_parts = [payload]
                    frag_len = len(payload)
                if frag_len > self.max_message_size:
                    self._protocol_fail(conn, 1009, "message too big")
                    return
                if not fin:
                    continue
                op, data = frag_op, b"".join(frag_parts)
                fragments = len(frag_parts)
                frag_op, frag_parts, frag_len = None, [], 0
                if conn.state != "open":
                    continue  # after our close frame: ignore data
                if op == OP_TEXT:
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        self._protocol_fail(conn, 1007, "invalid utf-8")
                        return
                    self._on_text(conn, text, fragments)
                else:
                    self._log_ws(conn.id, "binary", payload=data, fragments=fragments)
            try:
                r, _, _ = select.select([sock], [], [], 0.1)
            except (OSError, ValueError):
                conn.end_reason = conn.end_reason or "socket closed"
                return
            if not r:
                continue
            try:
                chunk = sock.recv(262144)
            except socket.timeout:
                continue
            except OSError as e:
                conn.end_reason = conn.end_reason or f"recv error {e!r}"
                return
            if not chunk:
                conn.end_reason = conn.end_reason or "eof"
                return
            buf += chunk

    # ----- sending ---------------------------------------------------------

    def _send_locked(self, conn: _WSConn, opcode: int, payload: bytes, raw: bytes = None) -> bool:
        """Caller holds conn.write_lock."""
        if conn.close_sent or conn.state not in ("open", "closing"):
            return False
        data = raw if raw is not None else encode_frame(opcode, payload)
        try:
            conn.sock.sendall(data)
            return True
        except (OSError, ValueError) as e:
            # Could not write in send_timeout: behave like a killed slow consumer.
            conn.end_reason = conn.end_reason or f"send failed {e!r}"
            self._abort(conn, conn.end_reason)
            return False

    def _send(self, conn: _WSConn, opcode: int, payload: bytes, raw: bytes = None) -> bool:
        with conn.write_lock:
            return self._send_locked(conn, opcode, payload, raw)

    def _send_json_locked(self, conn: _WSConn, events: list) -> bool:
        return self._send_locked(conn, OP_TEXT, _json(events).encode())

    def _start_close(self, conn: _WSConn, code, reason: str = "") -> None:
        """Server-initiated close: close frame, then wait (bounded) for the client's."""
        with conn.write_lock:
            if conn.close_sent or conn.state == "closed":
                return
            if conn.state == "open":
                with self._cond:
                    conn.state = "closing"
                    self._cond.notify_all()
            data = encode_frame(OP_CLOSE, _close_payload(code, reason))
            try:
                conn.sock.sendall(data)
            except OSError:
                pass
            conn.close_sent = True
            conn.close_deadline = time.monotonic() + self.close_timeout
        self._log_ws(conn.id, "close_sent", code=code, reason=reason)

    def _abort(self, conn: _WSConn, reason: str, reset: bool = False) -> None:
        """Cut the TCP connection without a close frame."""
        with self._cond:
            if conn.state == "closed":
                return
            conn.state = "closed"
            conn.end_reason = conn.end_reason or reason
            self._cond.notify_all()
        try:
            if reset:
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.sock.close()
            else:
                conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _protocol_fail(self, conn: _WSConn, code: int, reason: str) -> None:
        self._log_ws(conn.id, "protocol_error", code=code, reason=reason)
        conn.end_reason = f"protocol error {code}: {reason}"
        with conn.write_lock:
            if not conn.close_sent and conn.state in ("open", "closing"):
                try:
                    conn.sock.sendall(encode_frame(OP_CLOSE, _close_payload(code, reason)))
                except OSError:
                    pass
                conn.close_sent = True

    def _on_close_frame(self, conn: _WSConn, payload: bytes) -> None:
        code, reason = None, ""
        if len(payload) >= 2:
            code = struct.unpack("!H", payload[:2])[0]
            reason = payload[2:].decode("utf-8", "replace")
        conn.close_received = (code, reason)
        self._log_ws(conn.id, "close", code=code, reason=reason)
        conn.end_reason = conn.end_reason or f"client close {code}"
        with conn.write_lock:
            if not conn.close_sent and conn.state in ("open", "closing"):
                echo = 1002 if len(payload) == 1 else code
                try:
                    conn.sock.sendall(encode_frame(OP_CLOSE, _close_payload(echo)))
                except OSError:
                    pass
                conn.close_sent = True

    def _finish(self, conn: _WSConn) -> None:
        with self._cond:
            was_open = conn.state != "handshake"
            conn.state = "closed"
            self._conns.pop(conn.id, None)
            if was_open:
                self._ws_log.append({"t": time.time(), "conn": conn.id, "kind": "closed",
                                     "reason": conn.end_reason})
            self._cond.notify_all()
        try:
            conn.sock.close()
        except OSError:
            pass
        self._debug(f"conn {conn.id} closed: {conn.end_reason}")

    # ----- protocol ----------------------------------------------------------

    @staticmethod
    def _status(status: str, message: str) -> dict:
        return {"ev": "status", "status": status, "message": message}

    def _on_text(self, conn: _WSConn, text: str, fragments: int) -> None:
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        self._log_ws(conn.id, "message", text=text, json=msg, fragments=fragments)
        if self._unresponsive:
            return
        if not isinstance(msg, dict):
            self._send(conn, OP_TEXT, _json([self._status("error", "invalid message")]).encode())
            return
        action = msg.get("action")
        params = msg.get("params")
        if action == "auth":
            self._on_auth(conn, params)
        elif action in ("subscribe", "unsubscribe"):
            self._on_subscribe(conn, action, params)
        else:
            self._send(conn, OP_TEXT, _json([self._status("error", f"unknown action: {action}")]).encode())

    def _on_auth(self, conn: _WSConn, params) -> None:
        victims = []
        with conn.write_lock:
            with self._cond:
                if conn.authenticated:
                    reply, ok = self._status("error", "already authenticated"), None
                else:
                    ok = isinstance(params, str) and params == self.api_key
                    if ok:
                        conn.authenticated = True
                        conn.key = params
                        self._auth_total += 1
                        if self.evict_older:
                            same = [c for c in self._conns.values() if c.state == "open"
                                    and c.authenticated and c.key == params and c is not conn]
                            same.sort(key=lambda c: c.id)
                            excess = len(same) + 1 - max(1, self.max_connections_per_key)
                            victims = same[:max(0, excess)]
                            for v in victims:
                                v.state = "closing"  # no longer counted as open
                        reply = self._status("auth_success", "authenticated")
                    else:
                        reply = self._status("auth_failed", "authentication failed")
                self._cond.notify_all()
            self._send_json_locked(conn, [reply])
        if ok is False:
            self._log_ws(conn.id, "auth_failed")
            code = self.auth_failed_close_code
            if code is None:
                self._abort(conn, "auth failed")
            else:
                self._start_close(conn, code, "authentication failed")
            return
        for v in victims:
            self._log_ws(v.id, "evicted", by=conn.id)
            with v.write_lock:
                if not v.close_sent:
                    try:
                        v.sock.sendall(encode_frame(OP_TEXT, _json([self._status(
                            "max_connections", MAX_CONNECTIONS_MESSAGE)]).encode()))
                    except OSError:
                        pass
            if self.evict_close_code is None:
                self._abort(v, "evicted (max_connections)")
            else:
                v.end_reason = "evicted (max_connections)"
                self._start_close(v, self.evict_close_code, "max_connections")

    def _on_subscribe(self, conn: _WSConn, action: str, params) -> None:
        with conn.write_lock:
            if not conn.authenticated:
                self._send_json_locked(conn, [self._status("auth_required", "authentication required")])
                return
            if not isinstance(params, str):
                self._send_json_locked(conn, [self._status("error", "params must be a string")])
                return
            topics = [t.strip() for t in params.split(",") if t.strip()]
            if not topics:
                self._send_json_locked(conn, [self._status("error", "no topics")])
                return
            acks = []
            with self._cond:
                for t in topics:
                    if action == "subscribe":
                        conn.subscriptions[t] = None
                        acks.append(self._status("success", f"subscribed to: {t}"))
                    else:
                        conn.subscriptions.pop(t, None)
                        acks.append(self._status("success", f"unsubscribed to: {t}"))
                self._cond.notify_all()
            self._send_json_locked(conn, acks)

    # ----- control API: WebSocket ----------------------------------------------

    def _targets(self, authenticated_only: bool, conn_id=None) -> list:
        with self._lock:
            out = [c for c in self._conns.values() if c.state == "open"
                   and (not authenticated_only or c.authenticated)
                   and (conn_id is None or c.id == conn_id)]
        out.sort(key=lambda c: c.id)
        return out

    def push_events(self, events: list, *, ignore_subscriptions: bool = False,
                    fragment_size=None, interleave_ping: bool = False) -> int:
        """Sends each authenticated client one frame with the events it subscribed
        to (topic '<ev>.<sym>' or '<ev>.*'). Returns the number of clients served."""
        n = 0
        for c in self._targets(True):
            with self._lock:
                subs = set(c.subscriptions)
            mine = [e for e in events if ignore_subscriptions
                    or f"{e.get('ev')}.{e.get('sym')}" in subs or f"{e.get('ev')}.*" in subs]
            if not mine:
                continue
            raw = _encode_message(OP_TEXT, _json(mine).encode(), fragment_size, interleave_ping)
            if self._send(c, OP_TEXT, b"", raw=raw):
                n += 1
        if n:
            self._log_ws(None, "pushed", events=len(events), clients=n)
        return n

    def push_am(self, bars: list, **kw) -> int:
        """Sends AM events (make_am_event fills missing fields) to authenticated
        clients subscribed to AM.<sym> or AM.*, one array frame per client.
        Keywords: ignore_subscriptions, fragment_size, interleave_ping."""
        return self.push_events([make_am_event(b) for b in bars], **kw)

    def push_raw(self, text, *, authenticated_only: bool = False, conn_id=None,
                 fragment_size=None, interleave_ping: bool = False, binary: bool = False) -> int:
        """Sends arbitrary text (str or bytes, e.g. garbage or truncated JSON) as one
        message to every open client (handshake done). Returns the count."""
        payload = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        raw = _encode_message(OP_BINARY if binary else OP_TEXT, payload, fragment_size, interleave_ping)
        n = 0
        for c in self._targets(authenticated_only, conn_id):
            if self._send(c, OP_TEXT, b"", raw=raw):
                n += 1
        return n

    def push_status(self, status: str, message: str = "", *, close_code=None,
                    authenticated_only: bool = False, conn_id=None) -> int:
        """Sends [{"ev":"status",...}] to every open client; with close_code, then
        starts a close handshake with that code (e.g. force_disconnect)."""
        frame = _json([self._status(status, message)])
        targets = self._targets(authenticated_only, conn_id)
        n = 0
        for c in targets:
            if self._send(c, OP_TEXT, frame.encode()):
                n += 1
            if close_code is not None:
                self._start_close(c, close_code, status)
        return n

    def send_ping(self, payload: bytes = b"standin") -> int:
        n = 0
        for c in self._targets(False):
            if self._send(c, OP_PING, payload):
                n += 1
        return n

    def close_connections(self, code: int = 1000, reason: str = "") -> int:
        """Clean close (close frame, bounded wait for the client's) of every open client."""
        targets = self._targets(False)
        for c in targets:
            self._start_close(c, code, reason)
        return len(targets)

    def drop_connections(self, reset: bool = False) -> int:
        """Abrupt TCP close without a close frame (FIN; RST if reset). Returns the count."""
        targets = self._targets(False)
        for c in targets:
            self._log_ws(c.id, "dropped", reset=reset)
            self._abort(c, "dropped by test", reset=reset)
        return len(targets)

    def refuse_connections(self, on: bool = True, mode: str = "close") -> None:
        """While on: new TCP connections are closed at once (mode 'close') or the
        upgrade is answered with HTTP 503 (mode '503'). Existing ones are untouched."""
        if mode not in ("close", "503"):
            raise ValueError("mode must be 'close' or '503'")
        with self._lock:
            self._refuse = mode if on else None

    def set_unresponsive(self, on: bool = True) -> None:
        """While on, client messages and pings are logged but not answered."""
        self._unresponsive = bool(on)

    @property
    def connections(self) -> int:
        """WebSocket connections currently open (handshake done, not closing)."""
        with self._lock:
            return sum(1 for c in self._conns.values() if c.state == "open")

    @property
    def connections_total(self) -> int:
        with self._lock:
            return self._connections_total

    @property
    def auth_total(self) -> int:
        with self._lock:
            return self._auth_total

    @property
    def refused_total(self) -> int:
        with self._lock:
            return self._refused_total

    def connection_info(self) -> list:
        with self._lock:
            return [c.info() for c in sorted(self._conns.values(), key=lambda c: c.id)
                    if c.state == "open"]

    @property
    def subscriptions(self) -> set:
        """Union of the topics of the open, authenticated connections."""
        with self._lock:
            out = set()
            for c in self._conns.values():
                if c.state == "open" and c.authenticated:
                    out.update(c.subscriptions)
            return out

    @property
    def ws_log(self) -> list:
        """Copies of the log entries: dicts with t, conn, kind (open, message, ping,
        pong, binary, close, close_sent, closed, rejected, refused, auth_failed,
        evicted, dropped, protocol_error, pushed) and kind-specific fields."""
        with self._lock:
            return [dict(e) for e in self._ws_log]

    def received_messages(self, conn_id=None) -> list:
        """Every text message received from clients, parsed (or the raw str if not JSON)."""
        with self._lock:
            return [e["json"] if e["json"] is not None else e["text"] for e in self._ws_log
                    if e["kind"] == "message" and (conn_id is None or e["conn"] == conn_id)]

    def clear_ws_log(self) -> None:
        with self._lock:
            self._ws_log.clear()

    def _wait(self, predicate, timeout: float):
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return value
                self._cond.wait(min(remaining, 0.2))

    def wait_for_connections(self, n: int, timeout: float = 5.0, *, total: bool = False) -> bool:
        """Waits until >= n connections are open (total=True: ever completed the handshake)."""
        if total:
            return bool(self._wait(lambda: self._connections_total >= n, timeout))
        return bool(self._wait(lambda: self.connections >= n, timeout))

    def wait_for_auth(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Waits until >= n successful auths happened since start."""
        return bool(self._wait(lambda: self._auth_total >= n, timeout))

    def wait_for_subscription(self, topics, timeout: float = 5.0) -> bool:
        """Waits until one open authenticated connection is subscribed to all topics
        (a list, or a comma-separated string)."""
        if isinstance(topics, str):
            topics = [t.strip() for t in topics.split(",") if t.strip()]
        want = set(topics)

        def ok():
            return any(c.state == "open" and c.authenticated and want <= set(c.subscriptions)
                       for c in self._conns.values())
        return bool(self._wait(ok, timeout))

    def wait_for_message(self, predicate, timeout: float = 5.0):
        """Waits for a received client message (parsed JSON or raw str) for which
        predicate(msg) is true; returns it, or None on timeout."""
        found = []

        def ok():
            for e in self._ws_log:
                if e["kind"] == "message":
                    m = e["json"] if e["json"] is not None else e["text"]
                    try:
                        if predicate(m):
                            found.append(m)
                            return True
                    except Exception:  # noqa: BLE001
                        pass
            return False
        return found[0] if self._wait(ok, timeout) else None

    def wait_for_ws_event(self, kind: str, n: int = 1, timeout: float = 5.0) -> bool:
        """Waits until the WS log holds >= n entries of the given kind."""
        return bool(self._wait(lambda: sum(1 for e in self._ws_log if e["kind"] == kind) >= n,
                               timeout))

    # ----- control API: REST data -----------------------------------------------

    def add_bars(self, sym: str, bars: list) -> None:
        """Upserts minute bars (dicts with t in ms, o,h,l,c,v and optional vw,n) keyed by t."""
        with self._lock:
            store = self._bars.setdefault(sym, {})
            for b in bars:
                if "t" not in b:
                    raise ValueError("a bar needs 't' (ms start)")
                store[int(b["t"])] = dict(b)

    def set_bars(self, sym: str, bars: list) -> None:
        with self._lock:
            self._bars[sym] = {}
        self.add_bars(sym, bars)

    def clear_bars(self, sym=None) -> None:
        with self._lock:
            if sym is None:
                self._bars.clear()
            else:
                self._bars.pop(sym, None)

    def set_snapshot(self, sym: str, change: float = 0.0, change_perc: float = 0.0, *,
                     day=None, prev_day=None, min_bar=None, last_trade=None,
                     last_quote=None, updated_ns=None, extra=None) -> None:
        """Sets the snapshot entry of a ticker. day/prev_day/min_bar/last_trade/last_quote
        are partial dicts merged over zero defaults (last_quote omitted unless given)."""
        d = {"o": 0, "h": 0, "l": 0, "c": 0, "v": 0, "vw": 0}
        d.update(day or {})
        p = {"o": 0, "h": 0, "l": 0, "c": 0, "v": 0, "vw": 0}
        p.update(prev_day or {})
        m = {"av": 0, "t": 0, "n": 0, "o": 0, "h": 0, "l": 0, "c": 0, "v": 0, "vw": 0}
        m.update(min_bar or {})
        upd = int(updated_ns) if updated_ns is not None else time.time_ns()
        base = p.get("c") or 0
        price = round(base + change, 4) if base else d.get("c", 0)
        lt = {"c": [], "i": "1", "p": price, "s": 100, "t": upd, "x": 4}
        lt.update(last_trade or {})
        entry = {"ticker": sym, "todaysChange": change, "todaysChangePerc": change_perc,
                 "updated": upd, "day": d, "prevDay": p, "min": m, "lastTrade": lt}
        if last_quote is not None:
            entry["lastQuote"] = dict(last_quote)
        entry.update(extra or {})
        with self._lock:
            self._snapshots[sym] = entry

    def clear_snapshots(self) -> None:
        with self._lock:
            self._snapshots.clear()

    def set_market_status(self, market=None, *, early_hours=None, after_hours=None,
                          exchanges=None, currencies=None, server_time=None, **extra) -> None:
        """Updates /v1/marketstatus/now (unset values keep theirs; server_time None =
        current ET time at each request)."""
        with self._lock:
            ms = self._market_status
            if market is not None:
                ms["market"] = market
            if early_hours is not None:
                ms["earlyHours"] = bool(early_hours)
            if after_hours is not None:
                ms["afterHours"] = bool(after_hours)
            if exchanges is not None:
                ms["exchanges"] = dict(exchanges)
            if currencies is not None:
                ms["currencies"] = dict(currencies)
            ms["serverTime"] = server_time
            ms.update(extra)

    def set_upcoming(self, rows: list) -> None:
        """Rows served by /v1/marketstatus/upcoming (a bare JSON array)."""
        with self._lock:
            self._upcoming = [dict(r) for r in rows]

    def fail_next(self, n: int = 1, status: int = 429, body=None, *, retry_after=None,
                  path_prefix=None, headers=None) -> None:
        """The next n REST requests (matching path_prefix, if given) fail with `status`.
        body: dict (JSON), str or bytes; None = a default for the status (429: the
        rate-limit error; 500: JSON error; 502/503/504: HTML like a proxy). status 0
        = close the connection without any response."""
        spec = {"status": status, "body": body, "retry_after": retry_after,
                "path_prefix": path_prefix, "headers": dict(headers or {})}
        with self._lock:
            self._faults.append([int(n), spec])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def hold_requests(self, path_prefix=None) -> None:
        """REST requests (matching path_prefix, if given) arriving from now on are
        logged, then wait unanswered until release_requests(), stop() or
        hold_timeout."""
        with self._cond:
            self._holds.append(path_prefix)

    def release_requests(self) -> None:
        """Lets every held request (and later ones) be answered."""
        with self._cond:
            self._holds.clear()
            self._cond.notify_all()

    @property
    def held_requests(self) -> int:
        """REST requests waiting in hold_requests() now."""
        with self._lock:
            return self._held

    def wait_for_held_requests(self, n: int, timeout: float = 5.0) -> bool:
        """Waits until >= n REST requests are held at once."""
        return bool(self._wait(lambda: self._held >= n, timeout))

    def set_rest_delay(self, seconds: float) -> None:
        """Delay before every REST answer (bounded; cut short by stop())."""
        self._rest_delay = max(0.0, float(seconds))

    def rest_requests(self, path_prefix=None) -> list:
        """Log entries: {t, method, path, query (dict, last value wins), raw_query,
        headers (lower-case names), auth ('bearer'|'query'|None), status}."""
        with self._lock:
            return [dict(e) for e in self._rest_log
                    if path_prefix is None or e["path"].startswith(path_prefix)]

    def rest_count(self, path_prefix=None) -> int:
        with self._lock:
            return sum(1 for e in self._rest_log
                       if path_prefix is None or e["path"].startswith(path_prefix))

    def clear_rest_log(self) -> None:
        with self._lock:
            self._rest_log.clear()

    def wait_for_rest_requests(self, n: int, path_prefix=None, timeout: float = 5.0) -> bool:
        return bool(self._wait(lambda: sum(
            1 for e in self._rest_log
            if path_prefix is None or e["path"].startswith(path_prefix)) >= n, timeout))

    # ----- REST handling ------------------------------------------------------------

    def _reply(self, h, code: int, body, *, content_type="application/json",
               request_id=None, headers=None, entry=None) -> None:
        if isinstance(body, (dict, list)):
            data = _json(body).encode()
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = bytes(body or b"")
        if entry is not None:
            entry["status"] = code
        h.send_response(code)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        if request_id:
            h.send_header("X-Request-ID", request_id)
        for k, v in (headers or {}).items():
            h.send_header(k, str(v))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def _handle_rest(self, h, method: str) -> None:
        split = urllib.parse.urlsplit(h.path)
        path = split.path
        qs = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in qs.items()}
        body = b""
        length = int(h.headers.get("Content-Length") or 0)
        if length > 0:
            body = h.rfile.read(min(length, 16 * 1024 * 1024))
        if self.enable_control and path.startswith("/_standin/"):
            self._handle_control(h, method, path[len("/_standin/"):], query, body)
            return
        headers = {k.lower(): v for k, v in h.headers.items()}
        rid = _request_id()
        entry = {"t": time.time(), "method": method, "path": path, "query": query,
                 "raw_query": split.query, "headers": headers, "auth": None, "status": None,
                 "request_id": rid}
        with self._cond:
            self._rest_log.append(entry)
            self._cond.notify_all()

        delay = self._rest_delay
        if delay:
            self._stopping.wait(delay)
        self._hold(path)

        fault = None
        with self._lock:
            for f in self._faults:
                pp = f[1]["path_prefix"]
                if pp is None or path.startswith(pp):
                    f[0] -= 1
                    fault = f[1]
                    if f[0] <= 0:
                        self._faults.remove(f)
                    break
        if fault is not None:
            self._reply_fault(h, fault, rid, entry)
            return

        authz = headers.get("authorization", "")
        bearer = authz[7:].strip() if authz[:7].lower() == "bearer " else None
        if bearer is not None and bearer == self.api_key:
            entry["auth"] = "bearer"
        elif query.get("apiKey") == self.api_key:
            entry["auth"] = "query"
        else:
            self._reply(h, 401, {"status": "ERROR", "request_id": rid, "error": "Unknown API Key"},
                        request_id=rid, entry=entry)
            return
        if method not in ("GET", "HEAD"):
            self._reply(h, 405, {"status": "ERROR", "request_id": rid,
                                 "error": f"method {method} not allowed"}, request_id=rid,
                        entry=entry)
            return
        m = _AGGS_RE.match(path)
        try:
            if m:
                code, resp = self._aggs(h, m, query, rid)
            elif path.rstrip("/") == _SNAPSHOT_PATH:
                code, resp = self._snapshot(query)
            elif path.rstrip("/") == "/v1/marketstatus/now":
                with self._lock:
                    resp = json.loads(_json(self._market_status))
                if not resp.get("serverTime"):
                    resp["serverTime"] = _et_rfc3339_now()
                code = 200
            elif path.rstrip("/") == "/v1/marketstatus/upcoming":
                with self._lock:
                    code, resp = 200, [dict(r) for r in self._upcoming]
            else:
                code, resp = 404, {"status": "NOT_FOUND", "request_id": rid,
                                   "message": "The requested resource was not found"}
        except Exception as e:  # noqa: BLE001 - a stand-in bug must not hang the client
            code, resp = 500, {"status": "ERROR", "request_id": rid, "error": f"stand-in: {e!r}"}
        self._reply(h, code, resp, request_id=rid, entry=entry)

    def _hold(self, path: str) -> None:
        def held():
            return any(p is None or path.startswith(p) for p in self._holds)
        with self._cond:
            if not held():
                return
            self._held += 1
            self._cond.notify_all()
            deadline = time.monotonic() + self.hold_timeout
            while held() and not self._stopping.is_set() and time.monotonic() < deadline:
                self._cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            self._held -= 1
            self._cond.notify_all()

    def _reply_fault(self, h, fault: dict, rid: str, entry: dict) -> None:
        code = int(fault["status"])
        if code == 0:
            entry["status"] = 0
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = fault["body"]
        ctype = "application/json"
        if body is None:
            if code == 429:
                body = {"status": "ERROR", "request_id": rid, "error": RATE_LIMIT_MESSAGE}
            elif code in (502, 503, 504):
                reason = _HTTP_REASONS.get(code, "Error")
                body = (f"<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
                        f"<center><h1>{code} {reason}</h1></center>\r\n</body>\r\n</html>\r\n")
                ctype = "text/html"
            else:
                body = {"status": "ERROR", "request_id": rid,
                        "error": _HTTP_REASONS.get(code, "Error")}
        elif isinstance(body, (str, bytes)):
            s = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            ctype = "application/json" if s.lstrip()[:1] in ("{", "[") else "text/plain"
        extra = dict(fault["headers"])
        if fault["retry_after"] is not None:
            extra["Retry-After"] = fault["retry_after"]
        self._reply(h, code, body, content_type=ctype, request_id=rid, headers=extra, entry=entry)

    @staticmethod
    def _parse_time(value: str, is_to: bool):
        if value.isdigit():
            return int(value)
        m = _DATE_RE.match(value)
        if not m:
            return None
        try:
            d = _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
        if is_to:
            return _et_midnight_ms(d + _dt.timedelta(days=1)) - 1
        return _et_midnight_ms(d)

    @staticmethod
    def _bucket_start(t: int, mult: int, timespan: str) -> int:
        if timespan == "minute":
            size = 60000 * mult
            return t - t % size
        if timespan == "hour":
            size = 3600000 * mult
            return t - t % size
        d = _et_date_of_ms(t)
        o = d.toordinal()
        if timespan == "day":
            return _et_midnight_ms(_dt.date.fromordinal(o - o % mult))
        if timespan == "week":
            w = (o - o % 7) // 7           # ordinal % 7 == 0 on Sundays
            return _et_midnight_ms(_dt.date.fromordinal((w - w % mult) * 7))
        per = mult * {"month": 1, "quarter": 3, "year": 12}[timespan]
        idx = d.year * 12 + d.month - 1
        b = idx - idx % per
        return _et_midnight_ms(_dt.date(b // 12, b % 12 + 1, 1))

    @classmethod
    def _aggregate(cls, bars: list, mult: int, timespan: str) -> list:
        buckets = {}
        for b in bars:
            buckets.setdefault(cls._bucket_start(int(b["t"]), mult, timespan), []).append(b)
        out = []
        for start in sorted(buckets):
            group = buckets[start]
            agg = {"o": group[0].get("o"), "c": group[-1].get("c"),
                   "h": max(b.get("h", b.get("c")) for b in group),
                   "l": min(b.get("l", b.get("c")) for b in group),
                   "t": start}
            vols = [b.get("v", 0) for b in group]
            v = sum(vols)
            agg["v"] = v
            if all("vw" in b for b in group):
                agg["vw"] = (round(sum(b["vw"] * b.get("v", 0) for b in group) / v, 4) if v
                             else group[-1]["vw"])
            if all("n" in b for b in group):
                agg["n"] = sum(b["n"] for b in group)
            agg["_base"] = len(group)
            out.append(agg)
        return out

    def _aggs(self, h, m, query: dict, rid: str):
        sym = urllib.parse.unquote(m.group(1))
        mult_s, timespan, from_s, to_s = m.group(2), m.group(3), m.group(4), m.group(5)
        err = lambda msg: (400, {"status": "ERROR", "request_id": rid, "error": msg})  # noqa: E731
        if not mult_s.isdigit() or int(mult_s) < 1:
            return err("multiplier must be a positive integer")
        if timespan not in _TIMESPANS:
            return err(f"invalid timespan '{timespan}'")
        mult = int(mult_s)
        cur = None
        if "cursor" in query:
            try:
                raw = query["cursor"]
                cur = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
                from_s, to_s = cur["from"], cur["to"]
            except Exception:  # noqa: BLE001
                return err("invalid cursor")
        src = cur if cur is not None else query
        adjusted = str(src.get("adjusted", "true")).lower() != "false"
        sort = str(src.get("sort", "asc")).lower()
        if sort not in ("asc", "desc"):
            return err("sort must be asc or desc")
        try:
            limit = int(src.get("limit", 5000))
        except ValueError:
            return err("limit must be an integer")
        limit = max(1, min(limit, 50000))
        t_from = self._parse_time(from_s, False)
        t_to = self._parse_time(to_s, True)
        if t_from is None or t_to is None:
            return err("Could not parse the time parameter: 'from'/'to' must be YYYY-MM-DD or Unix ms")

        with self._lock:
            stored = [dict(b) for _, b in sorted(self._bars.get(sym, {}).items())]
        base = [b for b in stored if t_from <= int(b["t"]) <= t_to]
        if timespan == "second" or (timespan == "minute" and mult == 1):
            rows = base
            for r in rows:
                r["_base"] = 1
        else:
            rows = self._aggregate(base, mult, timespan)
        if sort == "desc":
            rows.reverse()
        if cur is not None and "after" in cur:
            after = int(cur["after"])
            rows = [r for r in rows if (r["t"] > after if sort == "asc" else r["t"] < after)]
        page_n = min(limit, self.page_size) if self.page_size else limit
        page, more = rows[:page_n], len(rows) > page_n
        results = []
        for r in page:
            out = {k: r[k] for k in _BAR_FIELDS if k in r}
            out.update({k: v for k, v in r.items() if k not in out and not k.startswith("_")})
            results.append(out)
        resp = {"ticker": sym, "queryCount": sum(r["_base"] for r in page),
                "resultsCount": len(results), "adjusted": adjusted,
                "status": self.aggs_status, "request_id": rid}
        if results or not self.omit_empty_results:
            resp["results"] = results
        if more:
            token = {"from": from_s, "to": to_s, "adjusted": "true" if adjusted else "false",
                     "sort": sort, "limit": limit, "after": page[-1]["t"]}
            cursor = base64.urlsafe_b64encode(_json(token).encode()).decode().rstrip("=")
            next_from = str(rows[page_n]["t"]) if sort == "asc" else from_s
            base = self.next_url_base
            if not base:
                base = "http://" + (h.headers.get("Host") or f"{HOST}:{self._rest_port}")
            resp["next_url"] = (f"{base}/v2/aggs/ticker/{urllib.parse.quote(sym)}/range/"
                                f"{mult}/{timespan}/{next_from}/{to_s}?cursor={cursor}")
        return 200, resp

    def _snapshot(self, query: dict):
        raw = query.get("tickers", "")
        wanted = [t.strip() for t in raw.split(",") if t.strip()]
        with self._lock:
            if wanted:
                seen, rows = set(), []
                for t in wanted:
                    if t in self._snapshots and t not in seen:
                        seen.add(t)
                        rows.append(self._snapshots[t])
            else:
                rows = [self._snapshots[k] for k in sorted(self._snapshots)]
            rows = json.loads(_json(rows))
        return 200, {"status": "OK", "count": len(rows), "tickers": rows}

    # ----- HTTP control API (standalone mode) --------------------------------------

    _CONTROL_METHODS = (
        "push_am", "push_events", "push_raw", "push_status", "send_ping", "close_connections",
        "drop_connections", "refuse_connections", "set_unresponsive", "add_bars", "set_bars",
        "clear_bars", "set_snapshot", "clear_snapshots", "set_market_status", "set_upcoming",
        "fail_next", "clear_faults", "set_rest_delay", "hold_requests", "release_requests",
        "wait_for_connections", "wait_for_auth",
        "wait_for_subscription", "rest_requests", "clear_rest_log", "clear_ws_log",
        "received_messages", "connection_info",
    )

    def state(self) -> dict:
        return {"ws_url": self.ws_url, "rest_url": self.rest_url,
                "connections": self.connections, "connections_total": self.connections_total,
                "auth_total": self.auth_total, "refused_total": self.refused_total,
                "subscriptions": sorted(self.subscriptions), "rest_count": self.rest_count()}

    def _handle_control(self, h, method: str, name: str, query: dict, body: bytes) -> None:
        try:
            if name == "state":
                result = self.state()
            elif name in self._CONTROL_METHODS:
                kwargs = json.loads(body.decode() or "{}") if body else {}
                if not isinstance(kwargs, dict):
                    raise ValueError("body must be a JSON object of keyword arguments")
                result = getattr(self, name)(**kwargs)
            else:
                self._reply(h, 404, {"ok": False, "error": f"unknown control method {name}"})
                return
            if isinstance(result, set):
                result = sorted(result)
            self._reply(h, 200, json.loads(json.dumps({"ok": True, "result": result}, default=repr)))
        except Exception as e:  # noqa: BLE001
            self._reply(h, 400, {"ok": False, "error": repr(e)})


# ---------------------------------------------------------------------------
# A host that must never be contacted


class ConnectionRecorder:
    """A TCP listener on 127.0.0.1 that accepts every connection, records it and
    everything sent on it (for up to `read_seconds`), answers nothing and
    closes it. `connections` and `received` show whether anything (an HTTP
    request, a key) reached it."""

    def __init__(self, read_seconds: float = 2.0):
        self.read_seconds = read_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections = 0
        self._received = []         # bytes per connection
        self._threads = []
        self._sock = None
        self._thread = None

    def start(self) -> "ConnectionRecorder":
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, 0))
        s.listen(64)
        self._sock = s
        self._thread = threading.Thread(target=self._accept_loop, name="recorder-accept",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    @property
    def received(self) -> bytes:
        """Everything received, all connections concatenated."""
        with self._lock:
            return b"".join(self._received)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                r, _, _ = select.select([self._sock], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with self._lock:
                self._connections += 1
                index = len(self._received)
                self._received.append(b"")
            t = threading.Thread(target=self._read, args=(conn, index), daemon=True)
            self._threads.append(t)
            t.start()

    def _read(self, conn: socket.socket, index: int) -> None:
        deadline = time.monotonic() + self.read_seconds
        try:
            while not self._stopping.is_set() and time.monotonic() < deadline:
                r, _, _ = select.select([conn], [], [], 0.05)
                if not r:
                    continue
                chunk = conn.recv(65536)
                if not chunk:
                    break
                with self._lock:
                    self._received[index] += chunk
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------
# Standalone

def _read_jsonl(path: str) -> list:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append(json.loads(line))
    return rows


def _replay(pg: PolygonStandIn, frames: list, rate: float, loop: bool, stop: threading.Event) -> None:
    interval = 1.0 / rate if rate > 0 else 0.0
    while not stop.is_set():
        if not pg.subscriptions:
            stop.wait(0.2)
            continue
        for frame in frames:
            if stop.is_set():
                return
            events = frame if isinstance(frame, list) else [frame]
            pg.push_events([make_am_event(e) if e.get("ev", "AM") in ("AM", "A") else e
                            for e in events])
            if interval:
                stop.wait(interval)
        if not loop:
            return


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Polygon/Massive stand-in (127.0.0.1 only)")
    ap.add_argument("--ws-port", type=int, default=0)
    ap.add_argument("--rest-port", type=int, default=0)
    ap.add_argument("--key", default="test-key")
    ap.add_argument("--page-size", type=int, default=2, help="aggregates page size (0 = limit only)")
    ap.add_argument("--connect-status", choices=["connected", "success", "none"], default="connected")
    ap.add_argument("--no-evict", action="store_true", help="no max_connections eviction")
    ap.add_argument("--ping-interval", type=float, default=None)
    ap.add_argument("--bars", help="JSONL of minute bars with 'sym' (or 'T') for the aggregates store")
    ap.add_argument("--snapshot", help="JSON object {sym: {change, change_perc, ...}}")
    ap.add_argument("--script", help="JSONL of AM events (object) or frames (array) to replay")
    ap.add_argument("--rate", type=float, default=1.0, help="script lines per second (0 = no pause)")
    ap.add_argument("--loop", action="store_true", help="replay the script forever")
    ap.add_argument("--no-control", action="store_true", help="disable the /_standin/ control API")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    pg = PolygonStandIn(api_key=args.key, ws_port=args.ws_port, rest_port=args.rest_port,
                        connect_status=None if args.connect_status == "none" else args.connect_status,
                        evict_older=not args.no_evict, ping_interval=args.ping_interval,
                        page_size=args.page_size or None, enable_control=not args.no_control,
                        verbose=args.verbose)
    if args.bars:
        by_sym = {}
        for row in _read_jsonl(args.bars):
            row = dict(row)
            sym = row.pop("sym", None) or row.pop("T", None)
            by_sym.setdefault(sym, []).append(row)
        for sym, rows in by_sym.items():
            pg.add_bars(sym, rows)
    if args.snapshot:
        with open(args.snapshot, encoding="utf-8") as f:
            for sym, kw in json.load(f).items():
                pg.set_snapshot(sym, **kw)
    pg.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"POLYGON_WS_URL={pg.ws_url}", flush=True)
    print(f"POLYGON_API_URL={pg.rest_url}", flush=True)
    print(f"POLYGON_API_KEY={pg.api_key}", flush=True)
    if args.script:
        frames = _read_jsonl(args.script)
        threading.Thread(target=_replay, args=(pg, frames, args.rate, args.loop, stop),
                         daemon=True).start()
    while not stop.is_set():
        stop.wait(0.5)
    pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
