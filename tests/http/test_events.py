"""GET /api/events (SPEC §4.9): Server-Sent Events from the real server.

Events come from real changes: POSTed documents open positions (`opened`),
a paced replay feed closes them (`closed`) and moves prices (`quotes`), the
simulated feed replays its recent past (`opened`, `closed`). Timeouts are safety bounds, never performance assertions.
"""

import os
import socket
import threading
import time

import json

import qc_harness as h
from sse_client import EventStream, open_stream
from test_openapi_contract import OPENAPI_SOURCE, jsonschema, to_json_schema

TOKEN = "events-token"
OPENED_KEYS = {"symbol", "target_price", "entry_price", "open_timestamp", "stop_loss",
               "expected_profit", "last_price", "last_time", "unrealized_pnl"}
CLOSED_KEYS = {"symbol", "target_price", "entry_price", "open_timestamp", "stop_loss", "pnl",
               "notes", "close_timestamp", "exit_price"}
BASE = h.ny_unix("2021-07-12 10:59:00")
# The documented schema of each event type's data (src/http/openapi.json).
DATA_SCHEMAS = {"opened": "MarkedPosition", "closed": "ClosedPosition", "quotes": "TickerList",
                "heartbeat": "EventHeartbeat", "reset": "EventReset"}
_validators = {}


def data_problems(event):
    """Why `event`'s data does not match its documented schema ([] if it does,
    or when python3-jsonschema is missing)."""
    if jsonschema is None:
        return []
    kind = event["event"]
    if kind not in _validators:
        with open(OPENAPI_SOURCE, encoding="utf-8") as f:
            doc = json.load(f)
        schema = to_json_schema({"$ref": "#/components/schemas/" + DATA_SCHEMAS[kind]}, doc)
        _validators[kind] = jsonschema.Draft4Validator(schema)
    return [e.message for e in _validators[kind].iter_errors(event["data"])]


def doc(minute, items):
    """A document `minute` minutes after BASE (distinct minutes: distinct positions)."""
    return h.make_document(BASE + 60 * minute, items)


def metric(server, name):
    status, _, raw = server.get_raw("/metrics")
    assert status == 200, status
    for line in raw.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


class EventsTestCase(h.ServerTestCase):
    def server(self, env=None, **kw):
        kw.setdefault("token", TOKEN)
        kw.setdefault("feed", "none")
        return self.start_server(env=env, **kw)

    def stream(self, server, **kw):
        s = open_stream(server.port, **kw)
        self.addCleanup(s.close)
        return s

    def post(self, server, document):
        status, _, body = server.post_document(document)
        self.assertEqual(status, 201, body)
        return body

    def assert_documented(self, events):
        for e in events:
            self.assertIn(e["event"], DATA_SCHEMAS)
            self.assertEqual(data_problems(e), [], f"{e['event']} data: {e['raw_data']}")

    def assert_increasing(self, events):
        ids = [int(e["id"]) for e in events]
        self.assertEqual(ids, sorted(set(ids)), f"ids not strictly increasing: {ids}")


class StreamTest(EventsTestCase):
    def test_post_gives_opened_events_in_the_positions_shape_with_increasing_ids(self):
        s = self.server()
        st = self.stream(s, headers={"Origin": "https://app.example"})
        self.assertEqual(st.status, 200)
        self.assertEqual(st.headers.get("content-type"), "text/event-stream")
        self.assertEqual(st.headers.get("cache-control"), "no-cache")
        self.assertEqual(st.headers.get("x-accel-buffering"), "no")
        self.assertEqual(st.headers.get("access-control-allow-origin"), "*")
        self.assertNotIn("content-length", st.headers)
        self.post(s, doc(0, [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700)]))
        events = st.events(2)
        self.assertEqual([e["event"] for e in events], ["opened", "opened"])
        self.assert_increasing(events)
        self.assert_documented(events)
        aapl, amzn = (e["data"] for e in events)
        self.assertEqual(set(aapl), OPENED_KEYS)
        self.assertEqual((aapl["symbol"], amzn["symbol"]), ("AAPL", "AMZN"))
        self.assertEqual(aapl["entry_price"], 145.1)
        self.assertEqual(aapl["target_price"], 150.2)
        self.assertEqual(aapl["open_timestamp"], BASE)
        self.assertAlmostEqual(aapl["stop_loss"], 145.1 * 0.9, places=9)
        self.assertIsNone(aapl["last_price"])
        self.assertIsNone(aapl["unrealized_pnl"])
        self.assertEqual(st.retry, 3000)
        # The same positions, as GET /api/positions shows them.
        status, _, body = s.get("/api/positions")
        self.assertEqual(status, 200)
        self.assertEqual(body["positions"], [aapl, amzn])

    def test_replayed_bar_closing_a_position_gives_a_closed_event(self):
        d = self.make_temp_dir()
        # Filler bars of a symbol without positions (3 s at 50 bars/s) give
        # the test time to subscribe and POST; then AAPL reaches its target.
        bars = [h.am_bar("TLT", (BASE + 60 * (i + 1)) * 1000, 140, 140.5, 139.5, 140) for i in range(150)]
        bars.append(h.am_bar("AAPL", (BASE + 3600) * 1000, 145.5, 151.0, 145.0, 150.9))
        path = h.write_bars_jsonl(os.path.join(d, "bars.jsonl"), bars)
        s = self.server(feed="replay:" + path, replay_rate=50)
        st = self.stream(s)
        self.post(s, doc(0, [("AAPL", 150.2, 145.1)]))
        opened = st.wait_for(lambda e: e["event"] == "opened", timeout=30)
        closed = st.wait_for(lambda e: e["event"] == "closed", timeout=60)
        self.assertGreater(int(closed["id"]), int(opened["id"]))
        self.assert_documented([opened, closed])
        c = closed["data"]
        self.assertEqual(set(c), CLOSED_KEYS)
        self.assertEqual(c["symbol"], "AAPL")
        self.assertEqual(c["open_timestamp"], BASE)
        self.assertEqual(c["notes"], "Reached target price")
        self.assertEqual(c["exit_price"], 150.2)
        self.assertEqual(c["close_timestamp"], BASE + 3660)
        self.assertAlmostEqual(c["pnl"], (150.2 - 145.1) / 145.1 * 100, places=9)
        # As /api/performance has it.
        _, _, perf = s.get("/api/performance")
        self.assertEqual(perf["performance"][0]["positions"], [c])

    def test_price_changes_send_quotes_events_with_the_ticker_list(self):
        # A paced replay (its market is always open): yesterday's close, then
        # today's bars moving the price, so the ticker list keeps changing.
        # (The simulated market shows a closed market as closed, so its
        # ticker list changes only in session hours: not a test to run at
        # any time of day.)
        d = self.make_temp_dir()
        bars = [h.am_bar("AAPL", (BASE - 86400) * 1000, 140, 140, 140, 140)]
        bars += [h.am_bar("AAPL", (BASE + 60 * i) * 1000, 141 + i / 10, 141 + i / 10,
                          141 + i / 10, 141 + i / 10) for i in range(600)]
        path = h.write_bars_jsonl(os.path.join(d, "bars.jsonl"), bars)
        s = self.server(feed="replay:" + path, replay_rate=20)
        st = self.stream(s)
        quotes = st.wait_for(lambda e: e["event"] == "quotes", timeout=30)
        self.assertEqual(list(quotes["data"]), ["tickerlist"])
        self.assertEqual([t["symbol"] for t in quotes["data"]["tickerlist"]], h.DEFAULT_SYMBOLS)
        more = st.events(3, types={"quotes"}, timeout=30)
        self.assert_increasing([quotes] + more)
        self.assert_documented([quotes] + more)
        aapl = [t for t in more[-1]["data"]["tickerlist"] if t["symbol"] == "AAPL"][0]
        self.assertGreater(aapl["change"], 0)

    def test_sim_feed_sends_opened_and_closed_events_while_it_replays(self):
        s = self.server(feed="sim", extra_args=["--sim-step-ms", "2"])
        st = self.stream(s)
        events = st.events(3, types={"quotes", "opened", "closed"}, timeout=30)
        self.assert_increasing(events)
        self.assert_documented(events)
        self.assertTrue(any(e["event"] in ("opened", "closed") for e in events))

    def test_heartbeat_arrives_and_carries_the_last_id(self):
        s = self.server(env={"QC_EVENTS_HEARTBEAT_MS": "100"})
        st = self.stream(s)
        beat = st.wait_for(lambda e: e["event"] == "heartbeat")
        self.assert_documented([beat])
        self.assertIsInstance(beat["data"]["time"], (int, float))
        self.assertAlmostEqual(beat["data"]["time"], time.time(), delta=60)
        # No event since it connected: the id it started from (the latest).
        self.assertTrue(beat["id"])
        self.post(s, doc(0, [("NVDA", 200, 190)]))
        opened = st.wait_for(lambda e: e["event"] == "opened")
        beat = st.wait_for(lambda e: e["event"] == "heartbeat")
        self.assertEqual(beat["id"], opened["id"])

    def test_head_is_headers_only_and_other_methods_are_405(self):
        s = self.server()
        status, headers, body = s.request_raw("HEAD", "/api/events")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Content-Type"), "text/event-stream")
        self.assertEqual(body, b"")
        status, headers, body = s.request("POST", "/api/events", body="{}")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers.get("Allow"))
        h.wait_until(lambda: metric(s, "qc_events_subscribers") == 0, 10, "HEAD left a subscriber")

    def test_openapi_documents_the_event_stream(self):
        s = self.server()
        _, _, body = s.get("/openapi.json")
        op = body["paths"]["/api/events"]["get"]
        names = {p["name"] for p in op["parameters"]}
        self.assertEqual(names, {"Last-Event-ID", "last_event_id"})
        self.assertIn("text/event-stream", op["responses"]["200"]["content"])
        for code in ("422", "503"):
            self.assertIn(code, op["responses"])


class ResumeTest(EventsTestCase):
    def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(self):
        s = self.server()
        first = self.stream(s)
        self.post(s, doc(0, [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700)]))
        seen = first.events(2)
        first.close()
        missed_docs = [doc(1, [("NVDA", 200, 190), ("C", 70, 68), ("BX", 90, 85)]),
                       doc(2, [("TLT", 150, 140)])]
        for d in missed_docs:
            self.post(s, d)
        for kw in ({"headers": {"Last-Event-ID": seen[-1]["id"]}},
                   {"path": "/api/events?last_event_id=" + seen[-1]["id"]}):
            with self.subTest(**kw):
                again = self.stream(s, **kw)
                missed = again.events(4)
                self.assertEqual([e["data"]["symbol"] for e in missed], ["NVDA", "C", "BX", "TLT"])
                self.assertEqual({e["event"] for e in missed}, {"opened"})
                self.assert_increasing(seen + missed)
        # And then live, with nothing in between.
        self.post(s, doc(3, [("NOK", 7, 6)]))
        nxt = again.next_event()
        self.assertEqual((nxt["event"], nxt["data"]["symbol"]), ("opened", "NOK"))

    def test_an_id_older_than_the_history_gets_reset_then_live_events(self):
        s = self.server(env={"QC_EVENTS_HISTORY": "2"})
        live = self.stream(s)
        self.post(s, doc(0, [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700), ("NVDA", 200, 190)]))
        first = live.events(3)  # a live subscriber gets a whole commit, even past the history
        self.post(s, doc(1, [("C", 70, 68), ("BX", 90, 85)]))
        second = live.events(2)
        old = self.stream(s, headers={"Last-Event-ID": first[0]["id"]})
        reset = old.next_event()
        self.assertEqual(reset["event"], "reset")
        self.assert_documented([reset])
        self.assertEqual(reset["id"], second[-1]["id"])  # resume point: the latest event
        self.assertIn("no longer kept", reset["data"]["detail"])
        self.assertEqual(reset["data"]["oldest"], int(first[-1]["id"]))
        self.post(s, doc(2, [("TLT", 150, 140)]))
        self.assertEqual(old.next_event()["data"]["symbol"], "TLT")
        # Still within the history: exact.
        recent = self.stream(s, headers={"Last-Event-ID": second[0]["id"]})
        self.assertEqual([e["data"]["symbol"] for e in recent.events(2)], ["BX", "TLT"])

    def test_a_malformed_last_event_id_header_is_a_reset_and_parameter_a_422(self):
        s = self.server()
        st = self.stream(s, headers={"Last-Event-ID": "not-an-id"})
        reset = st.next_event()
        self.assertEqual(reset["event"], "reset")
        self.assertIn("not an event id", reset["data"]["detail"])
        status, headers, body = s.get("/api/events?last_event_id=12abc")
        self.assertEqual(status, 422)
        self.assertIn("last_event_id", body["detail"])
        self.assertEqual(body["problems"][0]["loc"], ["query", "last_event_id"])

    def test_an_id_from_before_a_restart_is_a_reset(self):
        s = self.server()
        st = self.stream(s)
        self.post(s, doc(0, [("AAPL", 150.2, 145.1)]))
        last = st.next_event()["id"]
        st.close()
        s = self.restart(s)
        again = self.stream(s, headers={"Last-Event-ID": last})
        self.assertEqual(again.next_event()["event"], "reset")


class LimitsTest(EventsTestCase):
    def test_slow_subscriber_is_dropped_while_the_server_stays_healthy(self):
        s = self.server(env={"QC_EVENTS_QUEUE_BYTES": "1024"})
        # A client that never reads, with a small receive window.
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(slow.close)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", s.port))
        slow.sendall(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
        fast = self.stream(s)
        h.wait_until(lambda: metric(s, "qc_events_subscribers") == 2, 10, "two subscribers")
        received = []
        opened = 0
        minute = 0
        # The kernel holds ~150 kB for the slow client (the stream's send
        # buffer, its receive buffer) before the server sees it fall behind.
        while metric(s, "qc_events_subscribers_dropped_total") == 0:
            self.assertLess(minute, 1000, "the slow subscriber was never dropped")
            batch = 0
            for _ in range(5):
                body = self.post(s, doc(minute, [(sym, 1000, 1) for sym in h.DEFAULT_SYMBOLS]))
                minute += 1
                batch += body["opened"]
            opened += batch
            # The fast client reads as it goes (its kernel buffers hold a batch).
            received += fast.events(batch, types={"opened"})
        body = self.post(s, doc(minute, [("AAPL", 1000, 1)]))
        opened += body["opened"]
        received += fast.events(body["opened"], types={"opened"})
        self.assertEqual(len(received), opened)
        self.assertEqual({e["event"] for e in received}, {"opened"})
        self.assert_increasing(received)
        self.assertEqual(metric(s, "qc_events_subscribers"), 1)
        self.assertEqual(s.get("/readyz")[0], 200)
        # The slow client's connection was closed by the server.
        slow.settimeout(20)
        data = b""
        while True:
            try:
                chunk = slow.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:100])
        self.assertFalse(data.endswith(b"0\r\n\r\n"), "a dropped stream must not end like a finished one")

    def test_subscribers_over_the_limit_get_503_until_one_leaves(self):
        s = self.server(env={"QC_EVENTS_MAX_SUBSCRIBERS": "2"})
        a = self.stream(s)
        self.stream(s)
        over = EventStream(s.port).read_header()
        self.addCleanup(over.close)
        self.assertEqual(over.status, 503)
        self.assertIn("at most 2", over.json_body()["detail"])
        self.assertEqual(over.headers.get("retry-after"), "5")
        a.close()
        h.wait_until(lambda: metric(s, "qc_events_subscribers") == 1, 10, "the closed stream to be noticed")
        self.assertEqual(self.stream(s).status, 200)

    def test_metrics_count_subscribers_events_and_history(self):
        s = self.server()
        st = self.stream(s)
        self.post(s, doc(0, [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700)]))
        st.events(2)
        self.assertEqual(metric(s, "qc_events_subscribers"), 1)
        self.assertGreaterEqual(metric(s, "qc_events_published_total"), 2)
        self.assertGreaterEqual(metric(s, "qc_events_history"), 2)
        self.assertEqual(metric(s, "qc_events_subscribers_dropped_total"), 0)

    def test_sigterm_with_open_streams_exits_promptly_and_cleanly(self):
        s = self.server()
        streams = [self.stream(s) for _ in range(3)]
        started = time.monotonic()
        code = s.stop(timeout=15)
        self.assertEqual(code, 0, s.stderr_text())
        self.assertLess(time.monotonic() - started, 15)
        for st in streams:
            st.read_to_end()
            self.assertTrue(st.ended_cleanly, "the stream did not end with the last chunk")


if __name__ == "__main__":
    import unittest
    unittest.main()
