"""Live market data from Polygon (SPEC §4.1, §6, §7) against the local stand-in.

Every test starts its own stand-in (tests/support/polygon_standin.py) and its
own `quantcrunch serve` with POLYGON_* pointing at it (so the default feed is
`polygon`), fast timings (QC_SNAPSHOT_SECONDS=1, QC_POLYGON_BACKOFF_MS=100,
QC_POLYGON_MAX_BACKOFF_MS=500) and a fresh, random API key. Every wait is
bounded; servers and stand-ins are always stopped by cleanups.

Covered: the websocket handshake and subscription list; batched AM frames
closing positions through the HTTP API; auth_failed (exit 78, no reconnect
loop); malformed frames (dropped, never fatal); max_connections (loud, then a
delayed reconnect); capped backoff while the provider refuses connections;
backfill from the aggregates endpoint after a dropped connection, after a
restart, across next_url pages and through 429s; re-sent bars for an applied
minute ignored; the background snapshot in /api/tickerlist (open/closed
market, failures, no provider call per request); the /api/aggregates and
/api/marketstatus proxies (identical requests coalesced, distinct ones bounded
with an immediate 503 "busy", market status never starved); the key never in a
log line or a response body, and never sent to a host other than
POLYGON_API_URL's (a next_url pointing elsewhere is not followed).
"""

import http.client
import json
import re
import threading
import time
import unittest
import urllib.parse
import uuid

import qc_harness as h
from polygon_standin import ConnectionRecorder, PolygonStandIn

TOKEN = "polygon-test-token"
FAST = {
    "QC_SNAPSHOT_SECONDS": "1",
    "QC_POLYGON_BACKOFF_MS": "100",
    "QC_POLYGON_MAX_BACKOFF_MS": "500",
}
AM_TOPICS = ["AM." + s for s in h.DEFAULT_SYMBOLS]
SUBSCRIBE_PARAMS = ",".join(AM_TOPICS)
SNAPSHOT_PATH = "/v2/snapshot/locale/us/markets/stocks/tickers"
AGGS_PATH = "/v2/aggs/ticker/"
MARKET_STATUS_PATH = "/v1/marketstatus/now"
MAX_CONNECTIONS_MESSAGE = "Maximum number of connections exceeded."
WAIT = 10.0  # default bound for "the server reacts" waits


def recent_open_time(minutes_ago=60):
    """A whole-minute UNIX time `minutes_ago` minutes before now."""
    now = int(time.time())
    return now - now % 60 - minutes_ago * 60


def minute_bar(t_ms, o, h_, l, c, v=1000):
    """A bar for the stand-in's aggregates store."""
    return {"t": t_ms, "o": o, "h": h_, "l": l, "c": c, "v": v,
            "vw": round((o + c) / 2, 4), "n": 10}


class ConcurrentGets:
    """GETs sent at once, one connection each, answered in the background.
    results[i] is None until answered, then (status, parsed JSON or None, text)
    or ("error", None, repr of the exception)."""

    def __init__(self, port, paths, timeout=30.0):
        self.port, self.paths, self.timeout = port, list(paths), timeout
        self.results = [None] * len(self.paths)
        self._sent = 0
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._one, args=(i,), daemon=True)
                         for i in range(len(self.paths))]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def _one(self, i):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request("GET", self.paths[i])
            with self._cond:
                self._sent += 1
                self._cond.notify_all()
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
            try:
                body = json.loads(text)
            except ValueError:
                body = None
            result = (resp.status, body, text)
        except Exception as e:  # noqa: BLE001 - reported by the test
            result = ("error", None, repr(e))
        finally:
            conn.close()
        with self._cond:
            self.results[i] = result
            self._cond.notify_all()

    def wait_sent(self, timeout=10.0):
        with self._cond:
            return self._cond.wait_for(lambda: self._sent == len(self.paths), timeout)

    def answered(self):
        with self._cond:
            return [r for r in self.results if r is not None]

    def wait_answered(self, n, timeout):
        with self._cond:
            return self._cond.wait_for(
                lambda: sum(r is not None for r in self.results) >= n, timeout)

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return all(r is not None for r in self.results)


class PolygonTestCase(h.ServerTestCase):
    def setUp(self):
        # A key that would be easy to find in a log or a body.
        self.key = "QCKEY" + uuid.uuid4().hex
        self.servers = []

    # -- fixtures ---------------------------------------------------------------

    def start_standin(self, **kw):
        pg = PolygonStandIn(api_key=kw.pop("api_key", self.key), **kw)
        pg.start()
        self.addCleanup(pg.stop)
        return pg

    def polygon_env(self, pg, key=None, extra=None):
        env = dict(pg.env())
        env.update(FAST)
        if key is not None:
            env["POLYGON_API_KEY"] = key
        env.update(extra or {})
        return env

    def start_polygon_server(self, pg, subscribed=True, env=None, data_dir=None, **kw):
        """A server whose feed is the default one (no --feed flag): polygon."""
        server = self.start_server(data_dir=data_dir, feed=None, token=TOKEN,
                                   env=self.polygon_env(pg, extra=env), **kw)
        self.servers.append(server)
        if subscribed:
            self.assert_subscribed(pg, server)
        return server

    def assert_subscribed(self, pg, server, timeout=WAIT):
        if not pg.wait_for_subscription(AM_TOPICS, timeout=timeout):
            self.fail(f"no websocket connection subscribed to {SUBSCRIBE_PARAMS} within "
                      f"{timeout} s; messages received: {pg.received_messages()}"
                      + self.log_of(server))

    # -- assertions and helpers -------------------------------------------------

    @staticmethod
    def log_of(server):
        return f"\n--- server stderr ---\n{server.stderr_text()}--- end of stderr ---"

    def wait(self, predicate, timeout, message, server=None):
        try:
            return h.wait_until(predicate, timeout, message, interval=0.05)
        except AssertionError as e:
            self.fail(str(e) + (self.log_of(server) if server else ""))

    def api(self, server, method, path, body=None, headers=None):
        """One request; fails if the Polygon key is anywhere in the body."""
        status, hdrs, raw = h.http_request_raw(server.port, method, path, body=body,
                                               headers=headers)
        text = raw.decode("utf-8", "replace")
        self.assertNotIn(self.key, text,
                         f"{method} {path} answered {status} with the Polygon API key in its body")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        return status, hdrs, parsed, text

    def get(self, server, path):
        status, _, body, _ = self.api(server, "GET", path)
        return status, body

    def post_document(self, server, doc):
        status, _, body, _ = self.api(server, "POST", "/api/recommendations", body=json.dumps(doc),
                                      headers={"Authorization": f"Bearer {TOKEN}",
                                               "Content-Type": "application/json"})
        self.assertEqual(status, 201, f"POST /api/recommendations answered {status}: {body}")
        return body

    def readyz(self, server):
        status, body = self.get(server, "/readyz")
        self.assertEqual(status, 200, body)
        return body

    def closed_positions(self, server):
        status, body = self.get(server, "/api/performance")
        self.assertEqual(status, 200, body)
        return [p for month in body["performance"] for p in month["positions"]]

    def wait_closed(self, server, symbol, timeout=WAIT):
        def find():
            return next((p for p in self.closed_positions(server) if p["symbol"] == symbol), None)
        return self.wait(find, timeout, f"{symbol} position was not closed "
                                        f"(/api/performance: {self.closed_positions(server)})",
                         server)

    def tickerlist(self, server):
        status, body = self.get(server, "/api/tickerlist")
        self.assertEqual(status, 200, body)
        return {t["symbol"]: t for t in body["tickerlist"]}

    def assert_key_not_logged(self, server):
        for name, text in (("stderr", server.stderr_text()), ("stdout", server.stdout_text())):
            for n, line in enumerate(text.splitlines(), 1):
                self.assertNotIn(self.key, line,
                                 f"the Polygon API key appears in the server's {name}, line {n}: "
                                 f"{line!r}")

    def stop_cleanly(self, server):
        code = server.stop()
        self.assertEqual(code, 0, f"SIGTERM'd server exited {code}" + self.log_of(server))
        self.assert_key_not_logged(server)

    def assert_server_alive(self, server):
        self.assertTrue(server.alive(), "the server exited" + self.log_of(server))
        status, body = self.get(server, "/healthz")
        self.assertEqual(status, 200, body)

    @staticmethod
    def aggs_requests(pg, symbol):
        return pg.rest_requests(f"{AGGS_PATH}{symbol}/range/1/minute/")

    def assert_target_close(self, closed, open_ts, entry, target, bar_start_ms, bar_end_ms=None):
        end_ms = bar_start_ms + 60_000 if bar_end_ms is None else bar_end_ms
        self.assertEqual(closed["open_timestamp"], open_ts, closed)
        self.assertEqual(closed["entry_price"], entry, closed)
        self.assertEqual(closed["target_price"], target, closed)
        self.assertEqual(closed["exit_price"], target, closed)
        self.assertEqual(closed["notes"], "Reached target price", closed)
        self.assertEqual(closed["close_timestamp"], end_ms / 1000, closed)
        self.assertAlmostEqual(closed["pnl"], (target - entry) / entry * 100, places=9, msg=closed)


# ---------------------------------------------------------------------------
# Websocket: handshake, subscription, statuses, reconnects


class HandshakeTest(PolygonTestCase):
    def test_auth_carries_the_key_then_subscribes_to_the_11_default_tickers_in_order(self):
        pg = self.start_standin()
        server = self.start_polygon_server(pg)
        messages = [e for e in pg.ws_log if e["kind"] == "message"]
        self.assertGreaterEqual(len(messages), 2, messages)
        self.assertEqual(messages[0]["json"], {"action": "auth", "params": self.key},
                         "first client message must be the auth message")
        self.assertEqual(messages[1]["json"], {"action": "subscribe", "params": SUBSCRIBE_PARAMS},
                         "second client message must subscribe AM.<ticker> for every default "
                         "ticker, in SPEC §5 order")
        self.assertNotIn(" ", messages[1]["json"]["params"], "topics are joined without spaces")
        opened = [e for e in pg.ws_log if e["kind"] == "open"]
        self.assertEqual(opened[0]["path"], "/stocks")
        self.assertEqual(pg.connections_total, 1, "exactly one websocket connection")

        feed = self.wait(lambda: (lambda f: f if f.get("websocket", {}).get("state") == "live"
                                  else None)(self.readyz(server)["feed"]),
                         5, "feed never reported websocket state 'live'", server)
        self.assertEqual(feed["kind"], "polygon", feed)
        self.assertFalse(feed["simulated"], feed)
        self.assertRegex(server.stderr_text(), r"market data: Polygon")

        # REST calls (market status, snapshot) carry the key in the header only.
        self.wait(lambda: pg.rest_count(MARKET_STATUS_PATH) >= 1 and pg.rest_count(SNAPSHOT_PATH) >= 1,
                  WAIT, "no market status / snapshot request reached the stand-in", server)
        for r in pg.rest_requests():
            self.assertEqual(r["auth"], "bearer", r)
            self.assertNotIn(self.key, r["raw_query"], r)
        self.assertNotIn(self.key, json.dumps(self.readyz(server)))

        self.stop_cleanly(server)
        self.wait(lambda: pg.connections == 0, 5, "the websocket stayed open after the server stopped")

    def test_first_status_frame_success_or_absent_is_not_waited_on(self):
        for connect_status in ("success", None):
            with self.subTest(connect_status=connect_status):
                pg = self.start_standin(connect_status=connect_status)
                server = self.start_polygon_server(pg, subscribed=False)
                self.assert_subscribed(pg, server, timeout=5)
                self.assertEqual(pg.received_messages()[0], {"action": "auth", "params": self.key})
                self.stop_cleanly(server)
                pg.stop()

    def test_auth_failed_exits_78_with_a_clear_log_line_and_no_reconnect_loop(self):
        pg = self.start_standin()
        wrong = "QCWRONG" + uuid.uuid4().hex
        server = h.Server(self.make_temp_dir() + "/data", feed=None, token=TOKEN,
                          env=self.polygon_env(pg, key=wrong))
        self.addCleanup(server.cleanup)
        try:
            server.start()
        except h.ServerExited:
            pass  # it may exit before /readyz ever answered
        self.wait(lambda: server.proc.poll() is not None, 15,
                  "the server kept running after auth_failed", server)
        self.assertEqual(server.proc.returncode, 78, "auth_failed must exit with status 78 (EX_CONFIG)"
                         + self.log_of(server))
        log = server.stderr_text()
        self.assertTrue(any("error" in line and "auth_failed" in line for line in log.splitlines()),
                        "no error line mentioning auth_failed" + self.log_of(server))
        self.assertEqual(pg.connections_total, 1, "the server reconnected after auth_failed")
        self.assertEqual(pg.auth_total, 0)
        auths = [m for m in pg.received_messages() if isinstance(m, dict) and m.get("action") == "auth"]
        self.assertEqual(len(auths), 1, auths)
        self.assertNotIn(wrong, log, "the rejected key appears in the log")

    def test_max_connections_is_logged_as_an_error_and_reconnects_after_a_delay(self):
        pg = self.start_standin()
        # After max_connections the server waits min(30 s, max backoff) at least;
        # 3 s here keeps the test short while still telling "waited" from "at once".
        server = self.start_polygon_server(pg, env={"QC_POLYGON_MAX_BACKOFF_MS": "3000"})
        t0 = time.monotonic()
        # What the provider does to the older socket when the key connects elsewhere.
        self.assertEqual(pg.push_status("max_connections", MAX_CONNECTIONS_MESSAGE,
                                        close_code=1008, authenticated_only=True), 1)
        self.wait(lambda: re.search(r"\berror\b.*max_connections", server.stderr_text()), 5,
                  "no error line about max_connections", server)
        self.assertTrue(pg.wait_for_connections(2, timeout=45, total=True),
                        "no reconnect within 45 s of max_connections" + self.log_of(server))
        waited = time.monotonic() - t0
        self.assertGreaterEqual(waited, 2.9, "reconnected at once after max_connections "
                                             "(fighting the other connection for the slot)")
        self.assert_subscribed(pg, server)
        self.assertEqual(pg.connections, 1)
        self.assert_server_alive(server)
        self.stop_cleanly(server)

    def test_silent_connection_during_the_session_is_replaced(self):
        pg = self.start_standin()
        pg.set_market_status("open")  # the regular session, by the provider's word
        server = self.start_polygon_server(pg, env={"QC_POLYGON_STALE_SECONDS": "2"})
        # Subscribed, then nothing arrives: after 2 s the server replaces the socket.
        self.assertTrue(pg.wait_for_connections(2, timeout=20, total=True),
                        "a silent connection was not replaced" + self.log_of(server))
        self.assertIn("no frame for", server.stderr_text())
        self.assert_subscribed(pg, server)
        self.assertLessEqual(pg.connections, 1, "the old socket must be closed before reconnecting")

    def test_silent_connection_outside_the_session_is_kept(self):
        pg = self.start_standin()
        pg.set_market_status("closed")
        server = self.start_polygon_server(pg, env={"QC_POLYGON_STALE_SECONDS": "1"})
        time.sleep(3.5)
        self.assertEqual(pg.connections_total, 1, "replaced a connection that is quiet because "
                         "the market is closed" + self.log_of(server))

    def test_refused_connections_are_retried_with_capped_backoff(self):
        pg = self.start_standin()
        server = self.start_polygon_server(pg)
        pg.refuse_connections(True)
        pg.drop_connections()
        time.sleep(2.5)
        refused = pg.refused_total
        # 100 ms doubling to a 500 ms cap (±50 % jitter): a handful, not a tight loop.
        self.assertGreaterEqual(refused, 2, "the server stopped retrying" + self.log_of(server))
        self.assertLessEqual(refused, 20, "reconnect loop without backoff" + self.log_of(server))
        pg.refuse_connections(False)
        self.assert_subscribed(pg, server, timeout=5)
        self.assertEqual(pg.connections, 1)
        self.assert_server_alive(server)


# ---------------------------------------------------------------------------
# Live minute bars


class LiveBarsTest(PolygonTestCase):
    def test_batched_am_frame_closes_a_position_end_to_end(self):
        pg = self.start_standin()
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(
            open_ts, [("AAPL", 110.0, 100.0), ("AMZN", 220.0, 200.0), ("NVDA", 330.0, 300.0)]))
        s = (open_ts + 120) * 1000
        served = pg.push_am([
            {"sym": "AMZN", "o": 201.0, "h": 205.0, "l": 199.0, "c": 204.0, "s": s, "e": s + 60_000},
            {"sym": "AAPL", "o": 101.0, "h": 110.5, "l": 100.5, "c": 109.0, "s": s, "e": s + 60_000},
            {"sym": "NVDA", "o": 301.0, "h": 302.0, "l": 300.0, "c": 301.5, "s": s, "e": s + 60_000},
            {"sym": "GOOG", "o": 150.0, "h": 151.0, "l": 149.0, "c": 150.5, "s": s, "e": s + 60_000},
        ])
        self.assertEqual(served, 1, "the stand-in did not deliver the frame")
        closed = self.wait_closed(server, "AAPL")
        self.assert_target_close(closed, open_ts, 100.0, 110.0, s)
        self.wait(lambda: self.readyz(server)["feed"]["bars_applied"] >= 4, 5,
                  "not all four bars of the frame were applied", server)
        ready = self.readyz(server)
        self.assertEqual(ready["positions"], {"open": 2, "closed": 1}, ready)
        self.assertEqual([p["symbol"] for p in self.closed_positions(server)], ["AAPL"])
        self.stop_cleanly(server)

    def test_garbage_and_truncated_frames_are_logged_and_dropped(self):
        pg = self.start_standin()
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("AAPL", 110.0, 100.0)]))
        s = (open_ts + 60) * 1000
        stop_bar = json.dumps([{"ev": "AM", "sym": "AAPL", "v": 1, "av": 1, "op": 100, "vw": 85,
                                "o": 95.0, "c": 85.0, "h": 95.0, "l": 80.0, "a": 85, "z": 1,
                                "s": s, "e": s + 60_000}], separators=(",", ":"))
        frames = [
            "this is not json",
            stop_bar[:-30],                       # truncated mid-event
            stop_bar[:-1],                        # truncated: only the closing bracket missing
            stop_bar + ",",                       # trailing garbage
            "{",
            "",
            "null",
            "[1,2,3]",
            '{"ev":"AM"}',
            '[{"ev":"AM","sym":"AAPL","o":"95","h":95,"l":80,"c":85,"s":%d,"e":%d}]' % (s, s + 60_000),
            '[{"ev":"AM","sym":"AAPL","o":95,"h":95,"l":80,"c":85,"s":%d}]' % s,   # no "e"
            '[{"ev":"AM","sym":"AAPL","o":95,"h":80,"l":95,"c":85,"s":%d,"e":%d}]' % (s, s + 60_000),
            '[{"ev":"status","status":"' + "x" * 10,
        ]
        for f in frames:
            self.assertEqual(pg.push_raw(f, authenticated_only=True), 1, f)
        self.assertEqual(pg.push_raw(b"\x00\x01\x02 not a text frame", binary=True,
                                     authenticated_only=True), 1)
        self.wait(lambda: server.stderr_text().count("malformed") >= 5, 5,
                  "malformed frames were not logged", server)
        self.assert_server_alive(server)
        ready = self.readyz(server)
        self.assertEqual(ready["positions"], {"open": 1, "closed": 0},
                         f"a malformed frame changed a position: {ready}")

        # The stream still works: a later valid bar closes the position at its target.
        s2 = s + 60_000
        pg.push_am([{"sym": "AAPL", "o": 101.0, "h": 111.0, "l": 100.0, "c": 110.5, "s": s2}])
        closed = self.wait_closed(server, "AAPL")
        self.assert_target_close(closed, open_ts, 100.0, 110.0, s2)
        self.assertEqual(pg.connections_total, 1, "malformed frames made the server reconnect"
                         + self.log_of(server))
        self.stop_cleanly(server)

    def test_resent_bar_for_an_applied_minute_is_ignored(self):
        pg = self.start_standin()
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("AAPL", 110.0, 100.0)]))  # stop 90
        s = (open_ts + 180) * 1000
        pg.push_am([{"sym": "AAPL", "o": 100.0, "h": 105.0, "l": 95.0, "c": 104.0, "s": s}])
        self.wait(lambda: self.readyz(server)["feed"]["bars_applied"] >= 1, 5,
                  "the first bar was not applied", server)
        # The provider re-sends the same minute, corrected, with a low under the stop.
        pg.push_am([{"sym": "AAPL", "o": 100.0, "h": 105.0, "l": 85.0, "c": 88.0, "s": s,
                     "v": 5000}])
        # A late bar for an earlier minute (still after the open) is ignored as well.
        pg.push_am([{"sym": "AAPL", "o": 89.0, "h": 90.0, "l": 80.0, "c": 85.0, "s": s - 60_000}])
        self.wait(lambda: self.readyz(server)["feed"]["bars_ignored"] >= 2, 5,
                  "re-sent / late bars were not counted as ignored", server)
        ready = self.readyz(server)
        self.assertEqual(ready["positions"], {"open": 1, "closed": 0},
                         f"a re-sent bar closed the position: {self.closed_positions(server)}")
        self.assertEqual(ready["feed"]["bars_applied"], 1, ready)
        s2 = s + 60_000
        pg.push_am([{"sym": "AAPL", "o": 104.0, "h": 112.0, "l": 103.0, "c": 111.0, "s": s2}])
        closed = self.wait_closed(server, "AAPL")
        self.assert_target_close(closed, open_ts, 100.0, 110.0, s2)
        self.stop_cleanly(server)


# ---------------------------------------------------------------------------
# Backfill after a gap


class BackfillTest(PolygonTestCase):
    def test_dropped_connection_backfill_closes_a_position_with_the_bars_price_and_time(self):
        pg = self.start_standin(page_size=None)
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("AAPL", 110.0, 100.0)]))
        t = (open_ts + 300) * 1000
        # While the connection is down the target is reached; the bar is only in REST.
        pg.add_bars("AAPL", [minute_bar(t - 60_000, 100.5, 101.0, 99.5, 100.8),
                             minute_bar(t, 101.0, 112.0, 100.9, 111.0)])
        self.assertEqual(pg.drop_connections(), 1)
        closed = self.wait_closed(server, "AAPL", timeout=15)
        self.assert_target_close(closed, open_ts, 100.0, 110.0, t)
        self.assertGreaterEqual(pg.connections_total, 2)
        self.assert_subscribed(pg, server)
        self.assertEqual(pg.connections, 1)
        reqs = self.aggs_requests(pg, "AAPL")
        self.assertTrue(reqs, "no aggregates request for AAPL")
        parts = reqs[0]["path"].rstrip("/").split("/")
        self.assertEqual(int(parts[-2]), open_ts * 1000,
                         f"backfill should start at the position's open time: {reqs[0]['path']}")
        self.assertGreaterEqual(int(parts[-1]), t, reqs[0]["path"])
        for r in reqs:
            self.assertEqual(r["auth"], "bearer", r)
        feed = self.readyz(server)["feed"]
        self.assertGreaterEqual(feed["backfills"], 1, feed)
        self.assertGreaterEqual(feed["backfilled_bars"], 2, feed)
        self.stop_cleanly(server)

    def test_backfill_follows_next_url_pages(self):
        pg = self.start_standin(page_size=2)
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("AAPL", 110.0, 100.0)]))
        base = (open_ts + 60) * 1000
        bars = [minute_bar(base + i * 60_000, 100.0 + i * 0.1, 101.0 + i * 0.1, 99.0, 100.5)
                for i in range(4)]
        target_t = base + 4 * 60_000  # fifth bar: on the third page
        bars.append(minute_bar(target_t, 101.0, 110.0, 100.5, 109.0))
        pg.add_bars("AAPL", bars)
        pg.drop_connections()
        closed = self.wait_closed(server, "AAPL", timeout=15)
        self.assert_target_close(closed, open_ts, 100.0, 110.0, target_t)
        pages = self.aggs_requests(pg, "AAPL")
        self.assertGreaterEqual(sum(1 for r in pages if "cursor" in r["query"]), 2,
                                f"next_url was not followed: {[r['path'] for r in pages]}")
        self.assertEqual(self.readyz(server)["feed"]["bars_applied"], 5)
        self.stop_cleanly(server)

    def test_restart_backfills_bars_missed_while_the_server_was_down(self):
        pg = self.start_standin(page_size=None)
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("NVDA", 330.0, 300.0)]))  # stop 270
        self.stop_cleanly(server)
        t = (open_ts + 600) * 1000
        pg.add_bars("NVDA", [minute_bar(t - 60_000, 300.0, 301.0, 299.0, 300.5),
                             minute_bar(t, 299.0, 299.5, 265.0, 268.0)])
        server = self.restart(server)
        self.assert_subscribed(pg, server)
        closed = self.wait_closed(server, "NVDA", timeout=15)
        self.assertEqual(closed["exit_price"], 300.0 * 0.9, closed)
        self.assertEqual(closed["notes"], "Reached stop loss", closed)
        self.assertEqual(closed["close_timestamp"], t / 1000 + 60, closed)
        self.stop_cleanly(server)

    def test_backfill_retries_after_429(self):
        pg = self.start_standin(page_size=None)
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("AAPL", 110.0, 100.0)]))
        t = (open_ts + 240) * 1000
        pg.add_bars("AAPL", [minute_bar(t, 101.0, 110.0, 100.5, 109.0)])
        earlier = len(self.aggs_requests(pg, "AAPL"))
        pg.fail_next(2, 429, path_prefix=AGGS_PATH + "AAPL/")
        pg.drop_connections()
        closed = self.wait_closed(server, "AAPL", timeout=15)
        self.assert_target_close(closed, open_ts, 100.0, 110.0, t)
        statuses = [r["status"] for r in self.aggs_requests(pg, "AAPL")][earlier:]
        self.assertEqual(statuses[:3], [429, 429, 200], statuses)
        self.assert_server_alive(server)
        self.stop_cleanly(server)

    def test_failed_backfill_is_not_skipped_by_later_live_bars(self):
        # SPEC §7: missed bars are applied in order before live bars. When the
        # aggregates endpoint is down during a backfill, the missed minute must
        # still be applied later; a live bar applied meanwhile must not move the
        # backfill start past it.
        pg = self.start_standin(page_size=None)
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("AAPL", 110.0, 100.0)]))
        t = (open_ts + 300) * 1000
        pg.add_bars("AAPL", [minute_bar(t, 101.0, 112.0, 100.9, 111.0)])  # target reached
        pg.fail_next(100, 500, path_prefix=AGGS_PATH + "AAPL/")
        pg.drop_connections()
        self.wait(lambda: self.readyz(server)["feed"]["backfill_errors"] >= 1, 15,
                  "the failing backfill was not reported", server)
        self.assert_subscribed(pg, server)
        pg.clear_faults()
        # The provider is back; a quiet live bar for a later minute arrives.
        later = t + 120_000
        pg.push_am([{"sym": "AAPL", "o": 104.0, "h": 105.0, "l": 103.0, "c": 104.5, "s": later}])
        self.wait(lambda: self.readyz(server)["feed"]["bars_applied"] >= 1, 5,
                  "the live bar was not applied", server)
        pg.drop_connections()  # next gap: the server backfills again
        self.assert_subscribed(pg, server)
        try:
            closed = self.wait_closed(server, "AAPL", timeout=8)
        except AssertionError as e:
            paths = [(r["path"], r["status"]) for r in self.aggs_requests(pg, "AAPL")]
            raise AssertionError(f"{e}\naggregates requests (path, status): {paths}") from None
        self.assert_target_close(closed, open_ts, 100.0, 110.0, t)
        self.stop_cleanly(server)


# ---------------------------------------------------------------------------
# Snapshot for /api/tickerlist


class SnapshotTest(PolygonTestCase):
    def test_snapshot_values_reach_the_tickerlist_while_the_market_is_open(self):
        pg = self.start_standin()
        pg.set_market_status("open")
        pg.set_snapshot("AAPL", 1.27, 0.672, prev_day={"c": 189.0})
        pg.set_snapshot("NVDA", -3.5, -0.81, prev_day={"c": 430.0})
        server = self.start_polygon_server(pg)

        def shown():
            t = self.tickerlist(server)
            return t if t["AAPL"]["change"] == 1.27 and t["NVDA"]["change"] == -3.5 else None
        tickers = self.wait(shown, WAIT, "snapshot values never reached /api/tickerlist", server)
        self.assertEqual(tickers["AAPL"]["change_perc"], 0.672)
        self.assertEqual(tickers["NVDA"]["change_perc"], -0.81)
        self.assertEqual((tickers["AMZN"]["change"], tickers["AMZN"]["change_perc"]), (0, 0))
        status, body = self.get(server, "/api/tickerlist")
        self.assertEqual([t["symbol"] for t in body["tickerlist"]], h.DEFAULT_SYMBOLS)
        req = pg.rest_requests(SNAPSHOT_PATH)[0]
        self.assertEqual(req["query"].get("tickers", "").split(","), h.DEFAULT_SYMBOLS, req)
        self.stop_cleanly(server)

    def test_closed_market_shows_zero_change(self):
        pg = self.start_standin()
        pg.set_market_status("closed", exchanges={"nasdaq": "closed", "nyse": "closed",
                                                  "otc": "closed"})
        pg.set_snapshot("AAPL", 1.27, 0.672, prev_day={"c": 189.0})
        server = self.start_polygon_server(pg)
        self.wait(lambda: pg.rest_count(MARKET_STATUS_PATH) >= 1, WAIT,
                  "the server never asked for the market status", server)
        time.sleep(2.5)  # more than two snapshot intervals
        tickers = self.tickerlist(server)
        for sym, t in tickers.items():
            self.assertEqual((t["change"], t["change_perc"]), (0, 0),
                             f"{sym} shows a change while the market is closed: {t}")
        self.assertFalse(self.readyz(server)["feed"]["market_open"])
        self.stop_cleanly(server)

    def test_snapshot_failures_keep_the_tickerlist_up_then_recover(self):
        pg = self.start_standin()
        pg.set_market_status("open")
        pg.set_snapshot("AAPL", 1.27, 0.672, prev_day={"c": 189.0})
        # More than one refresh's worth of retries: the first refresh fails outright.
        pg.fail_next(5, 429, path_prefix=SNAPSHOT_PATH)
        server = self.start_polygon_server(pg)
        self.wait(lambda: pg.rest_count(SNAPSHOT_PATH) >= 2, WAIT, "no snapshot retries", server)
        self.tickerlist(server)  # answers 200 during the outage
        tickers = self.wait(lambda: (lambda t: t if t["AAPL"]["change"] == 1.27 else None)(
            self.tickerlist(server)), 15, "the snapshot never recovered", server)
        self.assertEqual(tickers["AAPL"]["change_perc"], 0.672)
        statuses = [r["status"] for r in pg.rest_requests(SNAPSHOT_PATH)]
        self.assertEqual(statuses[:5], [429] * 5, statuses)
        self.assertIn(200, statuses)
        self.assertRegex(server.stderr_text(), r"snapshot")
        self.stop_cleanly(server)

    def test_tickerlist_never_calls_the_provider_per_request(self):
        pg = self.start_standin()
        pg.set_snapshot("AAPL", 1.27, 0.672, prev_day={"c": 189.0})
        server = self.start_polygon_server(pg)
        self.wait(lambda: pg.rest_count(SNAPSHOT_PATH) >= 1, WAIT, "no snapshot refresh", server)
        before_snap, before_all = pg.rest_count(SNAPSHOT_PATH), pg.rest_count()
        t0 = time.monotonic()
        client = h.KeepAliveClient(server.port)
        try:
            for _ in range(50):
                status, _, raw = client.request_raw("GET", "/api/tickerlist")
                self.assertEqual(status, 200)
                self.assertNotIn(self.key.encode(), raw)
        finally:
            client.close()
        elapsed = time.monotonic() - t0
        snap, total = pg.rest_count(SNAPSHOT_PATH) - before_snap, pg.rest_count() - before_all
        allowed = int(elapsed / 1.0) + 2  # background refreshes at QC_SNAPSHOT_SECONDS=1
        self.assertLessEqual(snap, allowed, f"{snap} snapshot requests for 50 GETs in {elapsed:.2f} s")
        self.assertLessEqual(total, allowed + 1, f"{total} provider requests for 50 GETs")
        self.stop_cleanly(server)


# ---------------------------------------------------------------------------
# /api/aggregates and /api/marketstatus proxies


class ProxyTestCase(PolygonTestCase):
    """Helpers for the chart proxy tests."""
    BASE = 1717767000000  # 2024-06-07 09:30 New York

    def seed(self, pg, n=5):
        bars = [minute_bar(self.BASE + i * 60_000, 190.0 + i, 191.0 + i, 189.5 + i, 190.5 + i,
                           v=1000 + i) for i in range(n)]
        pg.add_bars("AAPL", bars)
        return bars

    def aggregates_path(self, frm, to, extra=""):
        return f"/api/aggregates/AAPL?timespan=minute&from={frm}&to={to}{extra}"

    def assert_no_provider_details(self, pg, text):
        for leak in (self.key, pg.rest_url, f"127.0.0.1:{pg.rest_port}", "next_url", "apiKey",
                     "cursor"):
            self.assertNotIn(leak, text, f"proxy body leaks {leak!r}: {text[:300]}")

    def check_bars(self, pg, bars, body, text):
        self.assertEqual(body["ticker"], "AAPL", body)
        self.assertEqual([r["t"] for r in body["results"]], [b["t"] for b in bars], body)
        for got, want in zip(body["results"], bars):
            for k in ("o", "h", "l", "c", "v", "vw", "n"):
                self.assertEqual(got[k], want[k], f"field {k}: {got} vs {want}")
        self.assertEqual(body["resultsCount"], len(bars), body)
        self.assert_no_provider_details(pg, text)


class ProxyTest(ProxyTestCase):
    def test_aggregates_are_proxied_and_cached(self):
        pg = self.start_standin(page_size=None)
        bars = self.seed(pg)
        server = self.start_polygon_server(pg, subscribed=False)
        path = self.aggregates_path(self.BASE, self.BASE + 4 * 60_000)
        status, _, body, text = self.api(server, "GET", path)
        self.assertEqual(status, 200, text)
        self.check_bars(pg, bars, body, text)
        reqs = pg.rest_requests(AGGS_PATH)
        self.assertEqual(len(reqs), 1, reqs)
        self.assertEqual(reqs[0]["path"],
                         f"{AGGS_PATH}AAPL/range/1/minute/{self.BASE}/{self.BASE + 240_000}")
        self.assertEqual(reqs[0]["auth"], "bearer")
        # A second identical request is served from the cache.
        status2, _, body2, _ = self.api(server, "GET", path)
        self.assertEqual(status2, 200)
        self.assertEqual(body2, body)
        self.assertEqual(pg.rest_count(AGGS_PATH), 1, "the identical request hit the provider again")
        # Other multipliers/timespans reach the provider as such.
        status3, _, body3, text3 = self.api(server, "GET", self.aggregates_path(
            self.BASE, self.BASE + 4 * 60_000, "&multiplier=5"))
        self.assertEqual(status3, 200, text3)
        self.assertEqual(pg.rest_requests(AGGS_PATH)[-1]["path"].split("/")[6:8], ["5", "minute"])
        self.assertEqual(len(body3["results"]), 1, body3)
        self.stop_cleanly(server)

    def test_aggregates_follow_next_url_pages(self):
        pg = self.start_standin(page_size=2)
        bars = self.seed(pg, 5)
        server = self.start_polygon_server(pg, subscribed=False)
        status, _, body, text = self.api(server, "GET", self.aggregates_path(
            self.BASE, self.BASE + 4 * 60_000))
        self.assertEqual(status, 200, text + self.log_of(server))
        self.check_bars(pg, bars, body, text)
        self.assertEqual(pg.rest_count(AGGS_PATH), 3)
        self.stop_cleanly(server)

    def test_invalid_aggregates_parameters_answer_422_without_calling_the_provider(self):
        pg = self.start_standin(page_size=None)
        self.seed(pg)
        server = self.start_polygon_server(pg, subscribed=False)
        f, t = self.BASE, self.BASE + 240_000
        cases = [
            self.aggregates_path(f, t, "&multiplier=0"),
            self.aggregates_path(f, t, "&multiplier=-1"),
            self.aggregates_path(f, t, "&multiplier=abc"),
            f"/api/aggregates/AAPL?timespan=fortnight&from={f}&to={t}",
            f"/api/aggregates/AAPL?timespan=&from={f}&to={t}",
            f"/api/aggregates/AAPL?timespan=minute&from=yesterday&to={t}",
            f"/api/aggregates/AAPL?timespan=minute&from={f}&to=2024-13-01",
            f"/api/aggregates/AAPL?timespan=minute&from={f}&to=",
            f"/api/aggregates/AAPL?timespan=minute&to={t}",
            f"/api/aggregates/AAPL?timespan=minute&from={t}&to={f}",
            f"/api/aggregates/MSFT?timespan=minute&from={f}&to={t}",
            f"/api/aggregates/{urllib.parse.quote('AAPL/../x', safe='')}?timespan=minute&from={f}&to={t}",
        ]
        for path in cases:
            with self.subTest(path=path):
                status, _, body, text = self.api(server, "GET", path)
                self.assertEqual(status, 422, f"{path}: {text}")
                self.assertIsInstance(body, dict, text)
                self.assertIsInstance(body.get("detail"), str, text)
                self.assertTrue(body["detail"])
        self.assertEqual(pg.rest_count(AGGS_PATH), 0, pg.rest_requests(AGGS_PATH))
        self.stop_cleanly(server)

    def test_provider_failure_answers_503_with_detail_and_is_not_cached(self):
        pg = self.start_standin(page_size=None)
        bars = self.seed(pg)
        server = self.start_polygon_server(pg, subscribed=False)
        pg.fail_next(20, 500, path_prefix=AGGS_PATH)
        path = self.aggregates_path(self.BASE, self.BASE + 240_000)
        status, _, body, text = self.api(server, "GET", path)
        self.assertEqual(status, 503, text)
        self.assertIsInstance(body.get("detail"), str, text)
        self.assertTrue(body["detail"])
        self.assertGreaterEqual(pg.rest_count(AGGS_PATH), 2, "the provider call was not retried")
        pg.clear_faults()
        status, _, body, text = self.api(server, "GET", path)
        self.assertEqual(status, 200, "a 503 answer was cached: " + text)
        self.check_bars(pg, bars, body, text)
        self.assert_server_alive(server)
        self.stop_cleanly(server)

    def test_marketstatus_passes_through(self):
        pg = self.start_standin()
        exchanges = {"nasdaq": "extended-hours", "nyse": "extended-hours", "otc": "closed"}
        pg.set_market_status("extended-hours", early_hours=True, after_hours=False,
                             exchanges=exchanges)
        server = self.start_polygon_server(pg, subscribed=False)
        status, _, body, text = self.api(server, "GET", "/api/marketstatus")
        self.assertEqual(status, 200, text)
        self.assertEqual(body["market"], "extended-hours", body)
        self.assertIs(body["earlyHours"], True)
        self.assertIs(body["afterHours"], False)
        self.assertEqual(body["exchanges"], exchanges)
        self.assertIn("serverTime", body)
        self.assert_no_provider_details(pg, text)
        self.stop_cleanly(server)


class ProxyLoadTest(ProxyTestCase):
    """Many chart requests at once: coalesced, bounded, never starving the
    market status. The stand-in holds aggregates requests unanswered
    (hold_requests) so "in flight" is a state, not a race."""

    def start_held(self, n_bars=5):
        pg = self.start_standin(page_size=None)
        self.seed(pg, n_bars)
        server = self.start_polygon_server(pg, subscribed=False)
        self.addCleanup(pg.release_requests)  # before the stand-in stops
        pg.hold_requests(AGGS_PATH)
        return pg, server

    def distinct_paths(self, n):
        # Same symbol, each with its own `to`: n distinct queries.
        return [self.aggregates_path(self.BASE, self.BASE + 240_000 + i) for i in range(n)]

    def test_identical_concurrent_requests_cost_one_provider_request(self):
        pg, server = self.start_held()
        path = self.aggregates_path(self.BASE, self.BASE + 4 * 60_000)
        gets = ConcurrentGets(server.port, [path] * 20).start()
        self.assertTrue(gets.wait_sent(), "the requests were not all sent")
        self.assertTrue(pg.wait_for_held_requests(1, timeout=WAIT),
                        "no aggregates request reached the stand-in" + self.log_of(server))
        time.sleep(0.5)  # all 20 reach the server while the provider still holds the first
        pg.release_requests()
        self.assertTrue(gets.join(30), f"unanswered: {gets.results}")
        for status, body, text in gets.results:
            self.assertEqual(status, 200, text)
            self.assertEqual(body, gets.results[0][1])
            self.assert_no_provider_details(pg, text)
        self.assertEqual(len(gets.results[0][1]["results"]), 5)
        self.assertEqual(pg.rest_count(AGGS_PATH), 1,
                         "identical requests in flight were not coalesced: "
                         f"{[r['path'] for r in pg.rest_requests(AGGS_PATH)]}")
        self.stop_cleanly(server)

    def test_distinct_requests_beyond_the_bound_are_answered_503_busy_at_once(self):
        pg, server = self.start_held()
        gets = ConcurrentGets(server.port, self.distinct_paths(60)).start()
        self.assertTrue(gets.wait_sent(), "the requests were not all sent")
        # The provider has answered nothing, yet the overflow is answered now.
        self.assertTrue(gets.wait_answered(1, timeout=WAIT),
                        "no request was answered while the provider held the others "
                        "(unbounded queue)" + self.log_of(server))
        time.sleep(0.5)
        early = gets.answered()
        self.assertGreater(pg.held_requests, 0, "the stand-in stopped holding")
        for status, body, text in early:
            self.assertEqual(status, 503, text)
            self.assertIn("busy", (body or {}).get("detail", ""), text)
        self.assertLess(len(early), 60, "every request was refused")
        pg.release_requests()
        self.assertTrue(gets.join(30), "requests hung after the provider answered: "
                        f"{[r for r in gets.results if r is None or r[0] == 'error']}")
        for status, body, text in gets.results:
            self.assertIn(status, (200, 503), text)
            if status == 503:
                self.assertIn("busy", (body or {}).get("detail", ""), text)
        statuses = [r[0] for r in gets.results]
        self.assertGreater(statuses.count(200), 0, statuses)
        self.assert_server_alive(server)
        self.stop_cleanly(server)

    def test_market_status_is_answered_while_aggregates_saturate_the_proxy(self):
        pg, server = self.start_held()
        gets = ConcurrentGets(server.port, self.distinct_paths(40)).start()
        self.assertTrue(gets.wait_sent(), "the requests were not all sent")
        self.assertTrue(pg.wait_for_held_requests(1, timeout=WAIT),
                        "no aggregates request reached the stand-in" + self.log_of(server))
        time.sleep(0.5)
        try:
            status, _, raw = h.http_request_raw(server.port, "GET", "/api/marketstatus",
                                                 timeout=5)
        except OSError as e:
            self.fail(f"/api/marketstatus unanswered while aggregates were in flight: {e!r}")
        self.assertEqual(status, 200, raw)
        self.assertEqual(json.loads(raw)["market"], "open")
        self.assertGreater(pg.held_requests, 0, "aggregates were not in flight any more")
        pg.release_requests()
        self.assertTrue(gets.join(30), f"unanswered: {gets.results}")
        self.stop_cleanly(server)


# ---------------------------------------------------------------------------
# The key stays on the server


class ForeignNextUrlTest(PolygonTestCase):
    """SPEC §9: the provider key is sent only to the configured provider host.
    The stand-in's next_url points at another local port, where a bare
    listener records any connection."""

    def start_recorder(self):
        rec = ConnectionRecorder().start()
        self.addCleanup(rec.stop)
        return rec

    def assert_refusal_logged(self, server, rec):
        origin = f"127.0.0.1:{rec.port}"
        self.wait(lambda: any(re.search(r"\berror\b", line) and origin in line
                              and "not followed" in line
                              for line in server.stderr_text().splitlines()),
                  WAIT, f"no error line naming {origin} and saying it was not followed", server)

    def test_chart_proxy_does_not_follow_a_next_url_to_another_origin(self):
        rec = self.start_recorder()
        pg = self.start_standin(page_size=2, next_url_base=rec.url)
        base = ProxyTestCase.BASE
        pg.add_bars("AAPL", [minute_bar(base + i * 60_000, 190.0, 191.0, 189.0, 190.5)
                             for i in range(5)])
        server = self.start_polygon_server(pg, subscribed=False)
        status, _, body, text = self.api(server, "GET", f"/api/aggregates/AAPL?timespan=minute"
                                                        f"&from={base}&to={base + 240_000}")
        self.assertEqual(status, 503, text)
        self.assertTrue(body["detail"], text)
        self.assertNotIn(str(rec.port), text, "the answer names the foreign host")
        self.assertEqual(rec.connections, 0, "the server connected to the next_url's host")
        self.assertNotIn(self.key.encode(), rec.received)
        self.assert_refusal_logged(server, rec)
        self.assertEqual(pg.rest_count(AGGS_PATH), 1, "only the first page was asked for")
        self.stop_cleanly(server)

    def test_backfill_does_not_follow_a_next_url_to_another_origin_and_retries(self):
        rec = self.start_recorder()
        pg = self.start_standin(page_size=2)
        server = self.start_polygon_server(pg)
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("AAPL", 110.0, 100.0)]))
        base = (open_ts + 60) * 1000
        bars = [minute_bar(base + i * 60_000, 100.0, 101.0, 99.0, 100.5) for i in range(4)]
        target_t = base + 4 * 60_000  # on the third page
        bars.append(minute_bar(target_t, 101.0, 110.0, 100.5, 109.0))
        pg.add_bars("AAPL", bars)
        pg.next_url_base = rec.url
        pg.drop_connections()
        self.wait(lambda: self.readyz(server)["feed"]["backfill_errors"] >= 2, 15,
                  "the refused page was not reported as a failed backfill (and retried)", server)
        self.assert_refusal_logged(server, rec)
        self.assertEqual(rec.connections, 0, "the server connected to the next_url's host")
        self.assertNotIn(self.key.encode(), rec.received)
        self.assertEqual(self.readyz(server)["positions"], {"open": 1, "closed": 0})
        # Like any failed page: once the provider links to itself again, the retry closes it.
        pg.next_url_base = None
        closed = self.wait_closed(server, "AAPL", timeout=20)
        self.assert_target_close(closed, open_ts, 100.0, 110.0, target_t)
        self.assertEqual(rec.connections, 0)
        self.stop_cleanly(server)


class KeyNeverLeaksTest(PolygonTestCase):
    def test_key_never_in_the_log_or_a_response_even_when_the_provider_echoes_it(self):
        pg = self.start_standin(page_size=None)
        pg.set_snapshot("AAPL", 1.27, 0.672, prev_day={"c": 189.0})
        echo = {"status": "ERROR", "error": f"Unknown API Key {self.key} (apiKey={self.key})"}
        # Enough failures for one snapshot refresh and one backfill to give up (and log why).
        pg.fail_next(4, 500, body=echo, path_prefix=SNAPSHOT_PATH)
        server = self.start_polygon_server(pg, env={"QC_LOG_LEVEL": "debug"})
        open_ts = recent_open_time()
        self.post_document(server, h.make_document(open_ts, [("AAPL", 110.0, 100.0)]))
        t = (open_ts + 120) * 1000
        pg.add_bars("AAPL", [minute_bar(t, 101.0, 111.0, 100.0, 110.5)])
        pg.fail_next(4, 500, body=echo, path_prefix=AGGS_PATH)
        # Websocket status messages echoing the key; force_disconnect makes it reconnect.
        pg.push_status("error", f"bad request for key {self.key}", authenticated_only=True)
        pg.push_status("force_disconnect", f"key {self.key} disconnected", authenticated_only=True)
        self.wait(lambda: self.readyz(server)["feed"]["backfill_errors"] >= 1, 15,
                  "the failing backfill was not reported", server)
        self.assert_subscribed(pg, server)
        pg.drop_connections()  # the next backfill succeeds
        self.wait_closed(server, "AAPL", timeout=15)
        self.assert_subscribed(pg, server)
        # Proxy failing with a body that carries the key.
        pg.fail_next(10, 500, body=echo, path_prefix=AGGS_PATH)
        status, _, _, text = self.api(server, "GET", f"/api/aggregates/AAPL?timespan=minute"
                                                     f"&from={t}&to={t + 60_000}")
        self.assertEqual(status, 503, text)
        pg.clear_faults()
        for path in ("/api/tickerlist", "/api/recommendations", "/api/performance", "/readyz",
                     "/healthz", "/api/marketstatus", "/openapi.json", "/docs",
                     f"/api/aggregates/AAPL?timespan=minute&from={t}&to={t + 60_000}"):
            self.api(server, "GET", path)  # asserts the key is not in the body
        self.assertIn("debug", server.stderr_text())
        self.stop_cleanly(server)  # scans the whole log for the key


if __name__ == "__main__":
    unittest.main()
