"""Self-test of polygon_standin (standard library only).

Run: cd tests/support && python3 -m unittest -v polygon_standin_selftest

The WebSocket side is exercised with a minimal hand-written client (below),
independent of the stand-in's own framing code; the REST side with urllib /
http.client. Every wait is bounded.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from polygon_standin import ConnectionRecorder, PolygonStandIn, RATE_LIMIT_MESSAGE  # noqa: E402

KEY = "selftest-key"
TIMEOUT = 5.0
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
AM_FIELDS = {"ev", "sym", "v", "av", "op", "vw", "o", "c", "h", "l", "a", "z", "s", "e"}


# ---------------------------------------------------------------------------
# Minimal WebSocket client (RFC 6455), for the test only


class HandshakeError(Exception):
    def __init__(self, status, head):
        super().__init__(f"handshake failed: {status}")
        self.status = status
        self.head = head


class Closed(Exception):
    """The peer sent a close frame: .code, .reason."""

    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


class EOF(Exception):
    """TCP connection ended without (further) frames."""


class MiniWS:
    def __init__(self, url, timeout=TIMEOUT):
        u = urllib.parse.urlsplit(url)
        assert u.scheme == "ws"
        self.host, self.port, self.path = u.hostname, u.port, u.path or "/"
        self.timeout = timeout
        self.sock = None
        self.buf = b""
        self.pings = []          # payloads of pings received (answered automatically)
        self.pongs = []
        self.auto_pong = True

    def connect(self, path=None, headers=None, key=None):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        key = key or base64.b64encode(os.urandom(16)).decode()
        hdrs = {"Host": f"{self.host}:{self.port}", "Upgrade": "websocket",
                "Connection": "Upgrade", "Sec-WebSocket-Key": key,
                "Sec-WebSocket-Version": "13"}
        hdrs.update(headers or {})
        req = f"GET {path or self.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items() if v is not None) + "\r\n"
        self.sock.sendall(req.encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOF("eof during handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        if status != 101:
            raise HandshakeError(status, head.decode("latin-1"))
        h = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            h[k.strip().lower()] = v.strip()
        expect = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if h.get("sec-websocket-accept") != expect:
            raise HandshakeError(status, "bad Sec-WebSocket-Accept")
        if h.get("upgrade", "").lower() != "websocket":
            raise HandshakeError(status, "no Upgrade header")
        return self

    # -- writing
    def send_frame(self, opcode, payload, fin=True, mask=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mb = 0x80 if mask else 0
        if n < 126:
            hdr = bytes([b0, mb | n])
        elif n < 65536:
            hdr = bytes([b0, mb | 126]) + struct.pack("!H", n)
        else:
            hdr = bytes([b0, mb | 127]) + struct.pack("!Q", n)
        if mask:
            k = os.urandom(4)
            payload = bytes(b ^ k[i % 4] for i, b in enumerate(payload))
            hdr += k
        self.sock.sendall(hdr + payload)

    def send_text(self, text, fragments=1, ping_between=False):
        data = text.encode()
        if fragments <= 1:
            self.send_frame(0x1, data)
            return
        size = -(-len(data) // fragments)
        parts = [data[i:i + size] for i in range(0, len(data), size)]
        for i, p in enumerate(parts):
            self.send_frame(0x1 if i == 0 else 0x0, p, fin=(i == len(parts) - 1))
            if i == 0 and ping_between:
                self.send_frame(0x9, b"mid")

    def send_json(self, obj, **kw):
        self.send_text(json.dumps(obj), **kw)

    # -- reading
    def _need(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("read timeout")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                raise EOF("connection reset")
            if not chunk:
                raise EOF("eof")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        b0, b1 = self._need(2, deadline)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._need(2, deadline))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._need(8, deadline))[0]
        if b1 & 0x80:
            raise AssertionError("server frame is masked")
        if b0 & 0x70:
            raise AssertionError("server frame has RSV bits")
        return bool(b0 & 0x80), b0 & 0x0F, self._need(n, deadline)

    def recv_message(self, timeout=TIMEOUT):
        """(opcode, payload) of the next data message; answers pings; raises Closed/EOF."""
        deadline = time.monotonic() + timeout
        op, parts = None, []
        while True:
            fin, opcode, payload = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if opcode == 0x9:
                self.pings.append(payload)
                if self.auto_pong:
                    self.send_frame(0xA, payload)
                continue
            if opcode == 0xA:
                self.pongs.append(payload)
                continue
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise Closed(code, payload[2:].decode())
            if opcode == 0x0:
                assert op is not None, "continuation without start"
            else:
                assert op is None, "new data frame inside a fragmented message"
                op = opcode
            parts.append(payload)
            if fin:
                return op, b"".join(parts)

    def recv_text(self, timeout=TIMEOUT):
        op, data = self.recv_message(timeout)
        assert op == 0x1, f"expected text, got opcode {op}"
        return data.decode()

    def recv_json(self, timeout=TIMEOUT):
        return json.loads(self.recv_text(timeout))

    def expect_close(self, timeout=TIMEOUT):
        """Reads until a close frame; echoes it; returns (code, reason, frames before it)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen.append(self.recv_message(max(0.01, deadline - time.monotonic())))
            except Closed as c:
                try:
                    self.send_frame(0x8, struct.pack("!H", c.code or 1000))
                except OSError:
                    pass
                return c.code, c.reason, seen

    def expect_eof(self, timeout=TIMEOUT):
        """Asserts the connection ends without a close frame; returns frames seen before."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen.append(self.recv_message(max(0.01, deadline - time.monotonic())))
            except EOF:
                return seen
            except Closed as c:
                raise AssertionError(f"got a close frame {c.code}, expected a bare EOF")

    def expect_silence(self, duration=0.3):
        try:
            got = self.recv_message(duration)
        except socket.timeout:
            return
        raise AssertionError(f"unexpected message {got!r}")

    def close(self, code=1000):
        """Clean close: send close, wait (bounded) for the echo, then close TCP."""
        try:
            self.send_frame(0x8, struct.pack("!H", code))
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                fin, op, payload = self.recv_frame(deadline - time.monotonic())
                if op == 0x8:
                    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        except (OSError, EOF, socket.timeout):
            return None
        finally:
            self.abort()

    def abort(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------
# Helpers


def status_frame(status, message=None):
    d = {"ev": "status", "status": status}
    if message is not None:
        d["message"] = message
    return d


def statuses(frame):
    return [e["status"] for e in frame]


def bar(sym, s, c=100.0, v=1000):
    return {"sym": sym, "o": c - 0.5, "h": c + 1, "l": c - 1, "c": c, "v": v, "s": s}


def minute_bar(t, c, v=100, n=5):
    return {"t": t, "o": c - 0.25, "h": c + 0.5, "l": c - 0.5, "c": c, "v": v, "vw": c, "n": n}


T0 = 1717767000000  # 2024-06-07 09:30 ET


class StandInCase(unittest.TestCase):
    standin_kwargs = {}

    def setUp(self):
        self.pg = PolygonStandIn(api_key=KEY, **self.standin_kwargs).start()
        self.addCleanup(self.pg.stop)
        self.clients = []
        self.addCleanup(self._close_clients)

    def _close_clients(self):
        for c in self.clients:
            c.abort()

    def client(self, connect=True, **kw):
        c = MiniWS(self.pg.ws_url)
        self.clients.append(c)
        if connect:
            c.connect(**kw)
        return c

    def authed(self, topics=None):
        """Connected, authenticated (and subscribed) client with its frames consumed."""
        c = self.client()
        self.assertEqual(c.recv_json(), [status_frame("connected", "Connected Successfully")])
        c.send_json({"action": "auth", "params": KEY})
        self.assertEqual(c.recv_json(), [status_frame("auth_success", "authenticated")])
        if topics:
            c.send_json({"action": "subscribe", "params": ",".join(topics)})
            self.assertEqual(statuses(c.recv_json()), ["success"] * len(topics))
        return c


# ---------------------------------------------------------------------------
# WebSocket


class WebSocketHandshake(StandInCase):
    def test_url_and_connected_status(self):
        self.assertTrue(self.pg.ws_url.startswith("ws://127.0.0.1:"))
        self.assertTrue(self.pg.ws_url.endswith("/stocks"))
        c = self.client()
        self.assertEqual(c.recv_json(), [status_frame("connected", "Connected Successfully")])
        self.assertTrue(self.pg.wait_for_connections(1, TIMEOUT))
        self.assertEqual(self.pg.connections, 1)
        self.assertEqual(self.pg.connection_info()[0]["path"], "/stocks")

    def test_bad_requests_rejected(self):
        with self.assertRaises(HandshakeError) as e:
            self.client(path="/crypto")
        self.assertEqual(e.exception.status, 404)
        with self.assertRaises(HandshakeError) as e:
            self.client(headers={"Sec-WebSocket-Key": None})
        self.assertEqual(e.exception.status, 400)
        with self.assertRaises(HandshakeError) as e:
            self.client(headers={"Sec-WebSocket-Version": "8"})
        self.assertEqual(e.exception.status, 426)
        self.assertEqual(self.pg.connections_total, 0)

    def test_auth_success_then_subscribe_acks_in_one_frame(self):
        c = self.authed()
        c.send_json({"action": "subscribe", "params": "AM.AAPL,AM.MSFT"})
        self.assertEqual(c.recv_json(), [status_frame("success", "subscribed to: AM.AAPL"),
                                         status_frame("success", "subscribed to: AM.MSFT")])
        self.assertTrue(self.pg.wait_for_subscription(["AM.AAPL", "AM.MSFT"], TIMEOUT))
        self.assertTrue(self.pg.wait_for_subscription("AM.MSFT", TIMEOUT))
        self.assertFalse(self.pg.wait_for_subscription(["AM.NVDA"], 0.2))
        self.assertEqual(self.pg.subscriptions, {"AM.AAPL", "AM.MSFT"})
        c.send_json({"action": "unsubscribe", "params": "AM.MSFT"})
        self.assertEqual(c.recv_json(), [status_frame("success", "unsubscribed to: AM.MSFT")])
        self.assertEqual(self.pg.subscriptions, {"AM.AAPL"})
        # the log shows the order and that the key was sent
        msgs = self.pg.received_messages()
        self.assertEqual([m["action"] for m in msgs], ["auth", "subscribe", "unsubscribe"])
        self.assertEqual(msgs[0]["params"], KEY)
        self.assertEqual(self.pg.auth_total, 1)

    def test_subscribe_with_spaces_tolerated(self):
        c = self.authed()
        c.send_json({"action": "subscribe", "params": "AM.AAPL, AM.MSFT"})
        self.assertEqual(len(c.recv_json()), 2)
        self.assertEqual(self.pg.subscriptions, {"AM.AAPL", "AM.MSFT"})

    def test_auth_failed_closes(self):
        c = self.client()
        c.recv_json()
        c.send_json({"action": "auth", "params": "wrong"})
        self.assertEqual(c.recv_json(), [status_frame("auth_failed", "authentication failed")])
        code, _, _ = c.expect_close()
        self.assertEqual(code, 1008)
        self.assertTrue(self.pg._wait(lambda: self.pg.connections == 0, TIMEOUT))
        self.assertEqual(self.pg.auth_total, 0)

    def test_subscribe_before_auth(self):
        c = self.client()
        c.recv_json()
        c.send_json({"action": "subscribe", "params": "AM.AAPL"})
        self.assertEqual(statuses(c.recv_json()), ["auth_required"])
        self.assertEqual(self.pg.subscriptions, set())

    def test_client_close_is_echoed(self):
        c = self.authed()
        self.assertEqual(c.close(1000), 1000)
        self.assertTrue(self.pg._wait(lambda: self.pg.connections == 0, TIMEOUT))
        kinds = [e["kind"] for e in self.pg.ws_log]
        self.assertIn("close", kinds)
        self.assertIn("closed", kinds)


class ConnectStatusSuccess(StandInCase):
    standin_kwargs = {"connect_status": "success"}

    def test_success_variant(self):
        c = self.client()
        self.assertEqual(c.recv_json(), [status_frame("success", "Connected Successfully")])


class ConnectStatusNone(StandInCase):
    standin_kwargs = {"connect_status": None}

    def test_nothing_until_auth(self):
        c = self.client()
        c.expect_silence(0.3)
        c.send_json({"action": "auth", "params": KEY})
        self.assertEqual(statuses(c.recv_json()), ["auth_success"])


class WebSocketFraming(StandInCase):
    def test_push_am_only_subscribed_symbols(self):
        a = self.authed(["AM.AAPL"])
        n = self.pg.push_am([bar("AAPL", T0), bar("MSFT", T0), bar("AAPL", T0 + 60000)])
        self.assertEqual(n, 1)
        frame = a.recv_json()
        self.assertEqual([e["sym"] for e in frame], ["AAPL", "AAPL"])
        for e in frame:
            self.assertEqual(set(e), AM_FIELDS)
            self.assertEqual(e["ev"], "AM")
            self.assertEqual(e["e"] - e["s"], 60000)
        self.assertEqual(frame[0]["s"], T0)
        # nothing for a symbol nobody subscribed to
        self.assertEqual(self.pg.push_am([bar("MSFT", T0)]), 0)
        a.expect_silence(0.2)

    def test_wildcard_and_unauthenticated_get_nothing(self):
        pg = self.pg
        pg.evict_older = False
        a = self.authed(["AM.*"])
        anon = self.client()
        anon.recv_json()
        self.assertEqual(pg.push_am([bar("NVDA", T0)]), 1)
        self.assertEqual(a.recv_json()[0]["sym"], "NVDA")
        anon.expect_silence(0.2)

    def test_explicit_fields_kept(self):
        a = self.authed(["AM.AAPL"])
        ev = {"ev": "AM", "sym": "AAPL", "v": 15200, "av": 3021456, "op": 189.42, "vw": 190.118,
              "o": 190.05, "c": 190.21, "h": 190.30, "l": 190.01, "a": 189.874, "z": 95,
              "s": 1717767000000, "e": 1717767060000}
        self.pg.push_am([ev])
        self.assertEqual(a.recv_json(), [ev])

    def test_large_payloads_both_ways(self):
        a = self.authed()
        # client -> server: > 65535 bytes (64-bit length), masked
        syms = [f"AM.S{i:05d}" for i in range(9000)]
        a.send_json({"action": "subscribe", "params": ",".join(syms)})
        acks = a.recv_json(10)  # server -> client: > 65535 bytes as well
        self.assertEqual(len(acks), 9000)
        self.assertTrue(self.pg.wait_for_subscription(syms[-3:], TIMEOUT))
        # 126..65535 bytes (16-bit length)
        bars = [bar(f"S{i:05d}", T0) for i in range(5)]
        self.pg.push_am(bars)
        fin, op, payload = a.recv_frame()
        self.assertTrue(fin)
        self.assertTrue(125 < len(payload) < 65536)
        self.assertEqual(len(json.loads(payload)), 5)
        # > 65535 bytes pushed
        self.pg.push_am([bar(f"S{i:05d}", T0) for i in range(2000)])
        fin, op, payload = a.recv_frame()
        self.assertGreater(len(payload), 65535)
        self.assertEqual(len(json.loads(payload)), 2000)

    def test_incoming_fragmented_with_ping_between(self):
        a = self.authed()
        a.send_json({"action": "subscribe", "params": "AM.AAPL,AM.MSFT,AM.NVDA"},
                    fragments=3, ping_between=True)
        # the pong for the interleaved ping comes first, then the acks
        fin, op, payload = a.recv_frame()
        self.assertEqual((op, payload), (0xA, b"mid"))
        self.assertEqual(len(a.recv_json()), 3)
        entry = [e for e in self.pg.ws_log if e["kind"] == "message"][-1]
        self.assertEqual(entry["fragments"], 3)

    def test_outgoing_fragmented_with_ping_between(self):
        a = self.authed(["AM.AAPL"])
        self.pg.push_am([bar("AAPL", T0), bar("AAPL", T0 + 60000)], fragment_size=40,
                        interleave_ping=True)
        frame = a.recv_json()
        self.assertEqual(len(frame), 2)
        self.assertEqual(a.pings, [b"standin-mid-message"])
        self.assertTrue(self.pg.wait_for_ws_event("pong", 1, TIMEOUT))

    def test_ping_pong(self):
        a = self.authed()
        a.send_frame(0x9, b"hello")
        fin, op, payload = a.recv_frame()
        self.assertEqual((fin, op, payload), (True, 0xA, b"hello"))
        self.assertEqual(self.pg.send_ping(b"srv"), 1)
        with self.assertRaises(socket.timeout):
            a.recv_message(0.3)  # answers the ping on the way
        self.assertEqual(a.pings, [b"srv"])
        self.assertTrue(self.pg.wait_for_ws_event("pong", 1, TIMEOUT))
        self.assertEqual([e["payload"] for e in self.pg.ws_log if e["kind"] == "pong"], [b"srv"])

    def test_unresponsive_mode(self):
        a = self.authed()
        self.pg.set_unresponsive(True)
        a.send_frame(0x9, b"x")
        a.send_json({"action": "subscribe", "params": "AM.AAPL"})
        a.expect_silence(0.3)
        self.pg.set_unresponsive(False)
        a.send_frame(0x9, b"y")
        self.assertEqual(a.recv_frame()[1:], (0xA, b"y"))

    def test_push_raw_garbage_and_status(self):
        a = self.authed(["AM.AAPL"])
        self.assertEqual(self.pg.push_raw("this is not json"), 1)
        self.assertEqual(a.recv_text(), "this is not json")
        self.pg.push_raw('[{"ev":"AM","sym":"AAP')
        self.assertEqual(a.recv_text(), '[{"ev":"AM","sym":"AAP')
        self.pg.push_raw("x" * 70000, fragment_size=30000)
        self.assertEqual(a.recv_text(), "x" * 70000)
        self.pg.push_status("slow_consumer", "hurry up")
        self.assertEqual(a.recv_json(), [status_frame("slow_consumer", "hurry up")])
        # the stream keeps working afterwards
        self.pg.push_am([bar("AAPL", T0)])
        self.assertEqual(a.recv_json()[0]["sym"], "AAPL")

    def test_push_status_with_close(self):
        a = self.authed()
        self.pg.push_status("force_disconnect", "bye", close_code=1001)
        code, _, seen = a.expect_close()
        self.assertEqual(code, 1001)
        self.assertEqual(json.loads(seen[0][1]), [status_frame("force_disconnect", "bye")])

    def test_client_garbage_gets_error_and_stays(self):
        a = self.authed()
        a.send_text("{not json")
        self.assertEqual(statuses(a.recv_json()), ["error"])
        a.send_json({"action": "dance"})
        self.assertEqual(statuses(a.recv_json()), ["error"])
        self.assertEqual(self.pg.received_messages()[-2], "{not json")
        self.assertEqual(self.pg.connections, 1)

    def test_unmasked_client_frame_is_protocol_error(self):
        a = self.authed()
        a.send_frame(0x1, b'{"action":"subscribe","params":"AM.X"}', mask=False)
        code, _, _ = a.expect_close()
        self.assertEqual(code, 1002)

    def test_server_close_connections(self):
        a = self.authed()
        self.assertEqual(self.pg.close_connections(1000, "maintenance"), 1)
        code, reason, _ = a.expect_close()
        self.assertEqual((code, reason), (1000, "maintenance"))
        self.assertTrue(self.pg._wait(lambda: self.pg.connections == 0, TIMEOUT))


class Eviction(StandInCase):
    def test_second_connection_evicts_older(self):
        old = self.authed(["AM.AAPL"])
        new = self.authed(["AM.AAPL"])
        code, _, frames = old.expect_close()
        self.assertEqual([json.loads(p) for _, p in frames],
                         [[status_frame("max_connections",
                                        "Maximum number of connections exceeded.")]])
        self.assertEqual(code, 1008)
        self.assertEqual(self.pg.connections, 1)
        self.assertEqual(self.pg.push_am([bar("AAPL", T0)]), 1)
        self.assertEqual(new.recv_json()[0]["sym"], "AAPL")
        evicted = [e for e in self.pg.ws_log if e["kind"] == "evicted"]
        self.assertEqual(len(evicted), 1)

    def test_eviction_off(self):
        self.pg.evict_older = False
        a = self.authed(["AM.AAPL"])
        b = self.authed(["AM.AAPL"])
        self.assertEqual(self.pg.connections, 2)
        self.assertEqual(self.pg.push_am([bar("AAPL", T0)]), 2)
        self.assertEqual(a.recv_json()[0]["sym"], "AAPL")
        self.assertEqual(b.recv_json()[0]["sym"], "AAPL")

    def test_abrupt_eviction(self):
        self.pg.evict_close_code = None
        old = self.authed()
        self.authed()
        seen = old.expect_eof()
        self.assertEqual(statuses(json.loads(seen[0][1])), ["max_connections"])


class DropAndRefuse(StandInCase):
    def test_drop_then_reconnect(self):
        a = self.authed(["AM.AAPL"])
        self.assertEqual(self.pg.drop_connections(), 1)
        self.assertEqual(self.pg.connections, 0)
        a.expect_eof()
        b = self.authed(["AM.AAPL"])  # noqa: F841
        self.assertTrue(self.pg.wait_for_connections(1, TIMEOUT))
        self.assertTrue(self.pg.wait_for_connections(2, TIMEOUT, total=True))
        self.assertTrue(self.pg.wait_for_auth(2, TIMEOUT))

    def test_drop_with_reset(self):
        a = self.authed()
        self.pg.drop_connections(reset=True)
        with self.assertRaises((EOF, ConnectionResetError)):
            a.recv_message(TIMEOUT)

    def test_refuse_close(self):
        self.pg.refuse_connections(True)
        with self.assertRaises((EOF, ConnectionResetError, BrokenPipeError)):
            self.client()
        self.assertEqual(self.pg.refused_total, 1)
        self.pg.refuse_connections(False)
        self.authed()

    def test_refuse_503(self):
        self.pg.refuse_connections(True, mode="503")
        with self.assertRaises(HandshakeError) as e:
            self.client()
        self.assertEqual(e.exception.status, 503)
        self.pg.refuse_connections(False)
        self.authed()
        self.assertEqual(self.pg.connections_total, 1)

    def test_wait_for_connections_times_out(self):
        t = time.monotonic()
        self.assertFalse(self.pg.wait_for_connections(1, 0.2))
        self.assertLess(time.monotonic() - t, 2.0)

    def test_stop_with_open_connections_is_bounded(self):
        a = self.authed(["AM.AAPL"])
        t = time.monotonic()
        self.pg.stop()
        self.assertLess(time.monotonic() - t, 3.0)
        a.expect_eof()


class ServerPings(StandInCase):
    standin_kwargs = {"ping_interval": 0.1}

    def test_server_sends_pings(self):
        a = self.authed()
        with self.assertRaises(socket.timeout):
            a.recv_message(0.5)
        self.assertGreaterEqual(len(a.pings), 2)
        self.assertTrue(self.pg.wait_for_ws_event("pong", 2, TIMEOUT))


# ---------------------------------------------------------------------------
# REST


class RestCase(StandInCase):
    def get(self, path_or_url, bearer=KEY, query=None):
        url = path_or_url if path_or_url.startswith("http") else self.pg.rest_url + path_or_url
        if query:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(query)
        req = urllib.request.Request(url)
        if bearer is not None:
            req.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return r.status, dict(r.headers), json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                body = json.loads(body)
            except ValueError:
                body = body.decode()
            return e.code, dict(e.headers), body


class RestAggregates(RestCase):
    def setUp(self):
        super().setUp()
        self.bars = [minute_bar(T0 + i * 60000, 100 + i) for i in range(5)]
        self.pg.add_bars("AAPL", self.bars)

    def collect(self, first_path, query=None, bearer=KEY):
        status, _, page = self.get(first_path, bearer=bearer, query=query)
        self.assertEqual(status, 200)
        pages = [page]
        while "next_url" in page:
            self.assertLess(len(pages), 50)
            nu = page["next_url"]
            self.assertTrue(nu.startswith(self.pg.rest_url + "/v2/aggs/ticker/AAPL/range/"), nu)
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(nu).query)
            self.assertIn("cursor", q)
            self.assertNotIn("apiKey", q)
            status, _, page = self.get(nu, bearer=bearer)
            self.assertEqual(status, 200)
            pages.append(page)
        return pages

    def test_pagination_follows_next_url(self):
        path = f"/v2/aggs/ticker/AAPL/range/1/minute/{T0}/{T0 + 10 * 60000}"
        pages = self.collect(path, {"adjusted": "true", "sort": "asc", "limit": 50000})
        self.assertEqual([p["resultsCount"] for p in pages], [2, 2, 1])
        results = [r for p in pages for r in p["results"]]
        self.assertEqual(results, self.bars)
        for p in pages:
            self.assertEqual(p["ticker"], "AAPL")
            self.assertEqual(p["status"], "OK")
            self.assertIs(p["adjusted"], True)
            self.assertEqual(p["queryCount"], p["resultsCount"])
            self.assertTrue(p["request_id"])
        reqs = self.pg.rest_requests("/v2/aggs/")
        self.assertEqual(len(reqs), 3)
        self.assertTrue(all(r["headers"]["authorization"] == f"Bearer {KEY}" for r in reqs))
        self.assertTrue(all(r["auth"] == "bearer" for r in reqs))

    def test_inclusive_range_desc_and_dates(self):
        path = f"/v2/aggs/ticker/AAPL/range/1/minute/{T0 + 60000}/{T0 + 3 * 60000}"
        pages = self.collect(path, {"sort": "desc"})
        ts = [r["t"] for p in pages for r in p["results"]]
        self.assertEqual(ts, [T0 + 3 * 60000, T0 + 2 * 60000, T0 + 60000])
        pages = self.collect("/v2/aggs/ticker/AAPL/range/1/minute/2024-06-07/2024-06-07")
        self.assertEqual(sum(p["resultsCount"] for p in pages), 5)
        status, _, body = self.get("/v2/aggs/ticker/AAPL/range/1/minute/2024-06-08/2024-06-09")
        self.assertEqual((status, body["resultsCount"], "results" in body), (200, 0, False))
        status, _, body = self.get("/v2/aggs/ticker/AAPL/range/1/minute/yesterday/2024-06-09")
        self.assertEqual(status, 400)

    def test_limit_smaller_than_page_size(self):
        pages = self.collect(f"/v2/aggs/ticker/AAPL/range/1/minute/{T0}/{T0 + 600000}",
                             {"limit": 1})
        self.assertEqual([p["resultsCount"] for p in pages], [1] * 5)

    def test_hour_and_day_aggregation(self):
        self.pg.page_size = None
        _, _, body = self.get("/v2/aggs/ticker/AAPL/range/1/hour/2024-06-07/2024-06-07")
        self.assertEqual(body["resultsCount"], 1)
        r = body["results"][0]
        self.assertEqual(r["t"], T0 - 30 * 60000)  # 09:00 ET
        self.assertEqual((r["o"], r["c"], r["h"], r["l"], r["v"], r["n"]),
                         (99.75, 104, 104.5, 99.5, 500, 25))
        self.assertEqual(body["queryCount"], 5)
        _, _, body = self.get("/v2/aggs/ticker/AAPL/range/1/day/2024-06-01/2024-06-30")
        self.assertEqual(body["results"][0]["t"], 1717732800000)  # 2024-06-07 00:00 ET
        _, _, body = self.get("/v2/aggs/ticker/AAPL/range/1/week/2024-06-01/2024-06-30")
        self.assertEqual(body["results"][0]["t"], 1717300800000)  # Sunday 2024-06-02 00:00 ET
        _, _, body = self.get("/v2/aggs/ticker/AAPL/range/1/month/2024-06-01/2024-06-30")
        self.assertEqual(body["results"][0]["t"], 1717214400000)  # 2024-06-01 00:00 ET

    def test_auth(self):
        path = f"/v2/aggs/ticker/AAPL/range/1/minute/{T0}/{T0}"
        status, _, body = self.get(path, bearer=None)
        self.assertEqual(status, 401)
        self.assertEqual((body["status"], body["error"]), ("ERROR", "Unknown API Key"))
        self.assertTrue(body["request_id"])
        status, _, _ = self.get(path, bearer="nope")
        self.assertEqual(status, 401)
        status, _, body = self.get(path, bearer=None, query={"apiKey": KEY})
        self.assertEqual((status, body["resultsCount"]), (200, 1))
        self.assertEqual(self.pg.rest_requests()[-1]["auth"], "query")

    def test_429_injection(self):
        path = f"/v2/aggs/ticker/AAPL/range/1/minute/{T0}/{T0}"
        self.pg.fail_next(2)
        for _ in range(2):
            status, _, body = self.get(path)
            self.assertEqual(status, 429)
            self.assertEqual(body["status"], "ERROR")
            self.assertEqual(body["error"], RATE_LIMIT_MESSAGE)
            self.assertTrue(body["request_id"])
        status, _, _ = self.get(path)
        self.assertEqual(status, 200)
        self.assertEqual([r["status"] for r in self.pg.rest_requests()], [429, 429, 200])

    def test_5xx_and_path_filter(self):
        self.pg.fail_next(1, status=503, path_prefix="/v2/snapshot", retry_after=3)
        status, _, _ = self.get("/v1/marketstatus/now")
        self.assertEqual(status, 200)
        status, headers, body = self.get(_snapshot_path("AAPL"))
        self.assertEqual(status, 503)
        self.assertEqual(headers.get("Retry-After"), "3")
        self.assertIn("503", body)
        self.pg.fail_next(1, status=500, body={"status": "ERROR", "error": "boom"})
        status, _, body = self.get("/v1/marketstatus/now")
        self.assertEqual((status, body["error"]), (500, "boom"))

    def test_connection_dropped_fault(self):
        self.pg.fail_next(1, status=0)
        with self.assertRaises((urllib.error.URLError, ConnectionError, http_client_errors())):
            self.get("/v1/marketstatus/now")
        self.assertEqual(self.get("/v1/marketstatus/now")[0], 200)

    def test_keep_alive(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.pg.rest_port, timeout=TIMEOUT)
        self.addCleanup(conn.close)
        for _ in range(3):
            conn.request("GET", "/v1/marketstatus/now", headers={"Authorization": f"Bearer {KEY}"})
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            json.loads(r.read())
        self.assertEqual(self.pg.rest_count("/v1/marketstatus"), 3)


def http_client_errors():
    import http.client
    return http.client.HTTPException


def _snapshot_path(tickers):
    return "/v2/snapshot/locale/us/markets/stocks/tickers?tickers=" + tickers


class RestSnapshotAndStatus(RestCase):
    def test_snapshot(self):
        self.pg.set_snapshot("AAPL", 1.27, 0.672, day={"o": 189.42, "c": 190.21, "v": 3021456},
                             prev_day={"c": 188.94}, updated_ns=1717767061512000000)
        self.pg.set_snapshot("MSFT", -2.5, -0.6)
        status, _, body = self.get(_snapshot_path("MSFT,AAPL,NOPE"))
        self.assertEqual(status, 200)
        self.assertEqual((body["status"], body["count"]), ("OK", 2))
        self.assertEqual([t["ticker"] for t in body["tickers"]], ["MSFT", "AAPL"])
        a = body["tickers"][1]
        self.assertEqual((a["todaysChange"], a["todaysChangePerc"]), (1.27, 0.672))
        self.assertEqual(a["updated"], 1717767061512000000)
        self.assertEqual(a["day"]["c"], 190.21)
        self.assertEqual(set(a["day"]), {"o", "h", "l", "c", "v", "vw"})
        self.assertEqual(set(a["prevDay"]), {"o", "h", "l", "c", "v", "vw"})
        self.assertIn("av", a["min"])
        self.assertEqual(a["lastTrade"]["p"], 190.21)
        self.assertEqual(self.pg.rest_count("/v2/snapshot"), 1)
        _, _, body = self.get(_snapshot_path(""))
        self.assertEqual(body["count"], 2)

    def test_market_status(self):
        status, _, body = self.get("/v1/marketstatus/now")
        self.assertEqual(status, 200)
        self.assertEqual(body["market"], "open")
        self.assertEqual(set(body["exchanges"]), {"nasdaq", "nyse", "otc"})
        self.assertEqual(set(body["currencies"]), {"fx", "crypto"})
        self.assertRegex(body["serverTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[45]:00$")
        self.pg.set_market_status("extended-hours", early_hours=True,
                                  exchanges={"nasdaq": "extended-hours", "nyse": "extended-hours",
                                             "otc": "closed"},
                                  server_time="2024-06-07T08:15:02-04:00")
        _, _, body = self.get("/v1/marketstatus/now")
        self.assertEqual((body["market"], body["earlyHours"], body["afterHours"]),
                         ("extended-hours", True, False))
        self.assertEqual(body["exchanges"]["otc"], "closed")
        self.assertEqual(body["serverTime"], "2024-06-07T08:15:02-04:00")

    def test_unknown_path_404(self):
        status, _, body = self.get("/v3/whatever")
        self.assertEqual(status, 404)
        self.assertEqual(body["status"], "NOT_FOUND")


class RestHoldAndNextUrlBase(RestCase):
    def test_held_requests_wait_until_released_and_others_are_answered(self):
        import threading
        self.pg.add_bars("AAPL", [minute_bar(T0, 100)])
        self.pg.hold_requests("/v2/aggs/")
        answers = []
        t = threading.Thread(target=lambda: answers.append(
            self.get(f"/v2/aggs/ticker/AAPL/range/1/minute/{T0}/{T0}")[0]))
        t.start()
        self.addCleanup(t.join, 10)
        self.assertTrue(self.pg.wait_for_held_requests(1, timeout=TIMEOUT))
        self.assertEqual(self.pg.rest_count("/v2/aggs/"), 1, "a held request is logged")
        self.assertEqual(self.get("/v1/marketstatus/now")[0], 200, "other paths are not held")
        self.assertEqual(answers, [])
        self.pg.release_requests()
        t.join(TIMEOUT)
        self.assertEqual(answers, [200])
        self.assertEqual(self.pg.held_requests, 0)

    def test_held_requests_end_at_hold_timeout(self):
        self.pg.hold_timeout = 0.3
        self.pg.hold_requests()
        t0 = time.monotonic()
        self.assertEqual(self.get("/v1/marketstatus/now")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)

    def test_next_url_base_points_pages_elsewhere(self):
        self.pg.add_bars("AAPL", [minute_bar(T0 + i * 60000, 100 + i) for i in range(3)])
        self.pg.next_url_base = "http://127.0.0.1:9"
        _, _, page = self.get(f"/v2/aggs/ticker/AAPL/range/1/minute/{T0}/{T0 + 600000}")
        self.assertTrue(page["next_url"].startswith(
            "http://127.0.0.1:9/v2/aggs/ticker/AAPL/range/1/minute/"), page["next_url"])
        self.assertIn("cursor=", page["next_url"])


class ConnectionRecorderTest(unittest.TestCase):
    def test_records_connections_and_bytes_and_answers_nothing(self):
        with ConnectionRecorder(read_seconds=1.0) as rec:
            self.assertEqual(rec.connections, 0)
            self.assertTrue(rec.url.startswith("http://127.0.0.1:"))
            with socket.create_connection(("127.0.0.1", rec.port), timeout=TIMEOUT) as c:
                c.sendall(b"GET / HTTP/1.1\r\nAuthorization: Bearer k\r\n\r\n")
                c.settimeout(3)
                self.assertEqual(c.recv(100), b"", "the recorder answered something")
            self.assertEqual(rec.connections, 1)
            self.assertIn(b"Bearer k", rec.received)


# ---------------------------------------------------------------------------
# Standalone process


class Standalone(unittest.TestCase):
    def test_cli_prints_urls_and_serves(self):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "polygon_standin.py")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        p = subprocess.Popen([sys.executable, script, "--ws-port", "0", "--rest-port", "0",
                              "--key", "cli-key"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        try:
            vals = {}
            deadline = time.monotonic() + 10
            while len(vals) < 3 and time.monotonic() < deadline:
                line = p.stdout.readline()
                if not line:
                    break
                k, _, v = line.strip().partition("=")
                vals[k] = v
            self.assertEqual(vals.get("POLYGON_API_KEY"), "cli-key")
            ws = MiniWS(vals["POLYGON_WS_URL"]).connect()
            try:
                self.assertEqual(statuses(ws.recv_json()), ["connected"])
                ws.send_json({"action": "auth", "params": "cli-key"})
                self.assertEqual(statuses(ws.recv_json()), ["auth_success"])
                ws.send_json({"action": "subscribe", "params": "AM.AAPL"})
                ws.recv_json()
                # control API drives a push
                req = urllib.request.Request(vals["POLYGON_API_URL"] + "/_standin/push_am",
                                             data=json.dumps({"bars": [bar("AAPL", T0)]}).encode(),
                                             method="POST")
                with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                    self.assertEqual(json.loads(r.read()), {"ok": True, "result": 1})
                self.assertEqual(ws.recv_json()[0]["sym"], "AAPL")
            finally:
                ws.abort()
        finally:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(p.returncode, 0)


if __name__ == "__main__":
    unittest.main()
