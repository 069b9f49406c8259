"""Operations: GET /metrics (Prometheus text format), graceful shutdown on
SIGTERM/SIGINT, and structured logging (QC_LOG_LEVEL, startup lines, secrets
redacted)."""

import http.client
import math
import os
import re
import signal
import subprocess
import threading
import time
import unittest

import qc_harness as h

TOKEN = "ops-token-5e1f0c"

# Every family GET /metrics renders (src/http/http_metrics.cpp, src/app/serve.cpp).
FAMILIES = {
    "qc_http_requests_total": "counter",
    "qc_http_request_duration_seconds": "histogram",
    "qc_open_positions": "gauge",
    "qc_positions_opened_total": "counter",
    "qc_positions_closed_total": "counter",
    "qc_bars_applied_total": "counter",
    "qc_rejected_inputs_total": "counter",
    "qc_feed_frames_total": "counter",
    "qc_feed_reconnects_total": "counter",
    "qc_backfilled_bars_total": "counter",
    "qc_backfill_errors_total": "counter",
    "qc_snapshot_errors_total": "counter",
    "qc_cache_requests_total": "counter",
    "qc_cache_up": "gauge",
    "qc_store_errors_total": "counter",
}
REJECT_REASONS = ["document_invalid", "item_invalid", "bar_not_newer", "bar_unknown_symbol",
                  "frame_malformed", "line_malformed"]

# ---------------------------------------------------------------------------
# A small parser of the Prometheus text exposition format (version 0.0.4).

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_RE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*,?)?\}})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
HELP_RE = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE_RE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")


def parse_value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ValueError(f"not a sample value: {text!r}")
    return float(text)


class Metrics:
    """Families (name -> {"help", "type", "samples": [(name, labels, value)]})."""

    def __init__(self, text):
        self.text = text
        self.families = {}
        self.order = []
        current = None
        finished = set()
        for n, line in enumerate(text.split("\n"), 1):
            if line == "":
                continue
            where = f"line {n}: {line!r}"
            if line.startswith("#"):
                m = HELP_RE.match(line) or TYPE_RE.match(line)
                if not m:
                    if line.startswith("# HELP") or line.startswith("# TYPE"):
                        raise AssertionError(f"malformed HELP/TYPE {where}")
                    continue  # a plain comment
                name = m.group(1)
                if name in finished and name != current:
                    raise AssertionError(f"family {name} resumed after another family ({where})")
                fam = self.families.setdefault(name, {"help": None, "type": None, "samples": []})
                if fam["samples"]:
                    raise AssertionError(f"HELP/TYPE of {name} after its samples ({where})")
                key = "help" if line.startswith("# HELP") else "type"
                if fam[key] is not None:
                    raise AssertionError(f"second # {key.upper()} for {name} ({where})")
                fam[key] = m.group(2)
                if current != name:
                    if current is not None:
                        finished.add(current)
                    current = name
                    self.order.append(name)
                continue
            m = SAMPLE_RE.match(line)
            if not m:
                raise AssertionError(f"not `name{{labels}} value` nor `name value`: {where}")
            name, labels_text, value_text = m.groups()
            try:
                value = parse_value(value_text)
            except ValueError as e:
                raise AssertionError(f"{e} ({where})") from None
            labels = dict(LABEL_RE.findall(labels_text or ""))
            family = self.family_of(name)
            if family != current:
                raise AssertionError(f"sample of {family} outside its family's block "
                                     f"(current family {current}; {where})")
            fam = self.families[family]
            if fam["help"] is None or fam["type"] is None:
                raise AssertionError(f"sample of {family} before its # HELP and # TYPE ({where})")
            fam["samples"].append((name, labels, value))

    def family_of(self, sample_name):
        if sample_name in self.families:
            return sample_name
        for suffix in ("_bucket", "_sum", "_count"):
            if sample_name.endswith(suffix):
                base = sample_name[: -len(suffix)]
                if self.families.get(base, {}).get("type") in ("histogram", "summary"):
                    return base
        return sample_name

    def samples(self, name, **labels):
        fam = self.families.get(self.family_of(name), {"samples": []})
        return [(n, lab, v) for n, lab, v in fam["samples"]
                if n == name and all(lab.get(k) == str(want) for k, want in labels.items())]

    def value(self, name, default=None, **labels):
        found = self.samples(name, **labels)
        if not found:
            if default is not None:
                return default
            raise AssertionError(f"no sample {name}{labels} in /metrics:\n{self.text}")
        if len(found) > 1:
            raise AssertionError(f"{len(found)} samples match {name}{labels}")
        return found[0][2]


def get_metrics(testcase, server):
    status, headers, body = server.get_raw("/metrics")
    testcase.assertEqual(status, 200, body)
    return headers, body.decode("utf-8")


def metrics(testcase, server):
    return Metrics(get_metrics(testcase, server)[1])


# ---------------------------------------------------------------------------
# Log lines: "2024-01-02T03:04:05.678Z info  [component] message"

LOG_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error) +"
                    r"\[([^\]]+)\] (.*)$")


def log_lines(text):
    """[(level, component, message)] of the structured lines."""
    out = []
    for line in text.splitlines():
        m = LOG_RE.match(line)
        if m:
            out.append(m.groups())
    return out


def count_with(lines, level, component, prefix):
    return sum(1 for lv, c, m in lines if lv == level and c == component and m.startswith(prefix))


def valid_document(unix_seconds, symbol="AAPL"):
    return h.make_document(unix_seconds, [(symbol, 110.0, 100.0)])


# 2021-06-01 10:00 New York; no DST change for months after it.
LOAD_BASE = h.ny_unix("2021-06-01 10:00:00")


# ---------------------------------------------------------------------------
# GET /metrics


class MetricsTest(h.ServerTestCase):
    def test_metrics_is_prometheus_text_format(self):
        s = self.start_server(token=TOKEN)
        s.get("/api/tickerlist")
        s.get("/no/such/path")
        headers, text = get_metrics(self, s)
        ctype = headers.get("Content-Type", "")
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("version=0.0.4", ctype)
        self.assertTrue(text.endswith("\n"), "exposition must end with a newline")
        m = Metrics(text)  # raises on any malformed line or misplaced HELP/TYPE
        self.assertTrue(m.families)
        for name, fam in m.families.items():
            self.assertTrue(fam["help"], f"{name} has an empty # HELP")
            self.assertIsNotNone(fam["type"], f"{name} has no # TYPE")
            for sample, _, value in fam["samples"]:
                self.assertFalse(math.isnan(value), f"{sample} is NaN")
                if fam["type"] == "counter":
                    self.assertGreaterEqual(value, 0, f"counter {sample} is negative")

    def test_request_counters_by_route_and_status(self):
        s = self.start_server(token=TOKEN)
        n, m_404 = 7, 5
        for _ in range(n):
            self.assertEqual(s.get("/api/tickerlist")[0], 200)
        for i in range(m_404):
            self.assertEqual(s.get(f"/no/such/path/{i}")[0], 404)
        m = metrics(self, s)
        self.assertGreaterEqual(
            m.value("qc_http_requests_total", route="/api/tickerlist", status="200"), n)
        self.assertGreaterEqual(m.value("qc_http_requests_total", route="other", status="404"), m_404)
        # Only this test touched those routes on a fresh server: exact counts.
        self.assertEqual(m.value("qc_http_requests_total", route="/api/tickerlist", status="200"), n)
        self.assertEqual(m.value("qc_http_requests_total", route="other", status="404"), m_404)

    def test_latency_histograms_are_cumulative(self):
        s = self.start_server(token=TOKEN)
        n = 6
        for _ in range(n):
            s.get("/api/tickerlist")
        for _ in range(3):
            s.get("/nope")
        s.get("/api/performance")
        m = metrics(self, s)
        fam = m.families["qc_http_request_duration_seconds"]
        self.assertEqual(fam["type"], "histogram")
        routes = sorted({lab["route"] for _, lab, _ in fam["samples"]})
        self.assertIn("/api/tickerlist", routes)
        self.assertIn("other", routes)
        for route in routes:
            buckets = m.samples("qc_http_request_duration_seconds_bucket", route=route)
            self.assertTrue(buckets, route)
            les = [parse_value(lab["le"]) for _, lab, _ in buckets]
            self.assertEqual(les, sorted(les), f"{route}: buckets not in increasing le order")
            self.assertEqual(len(set(les)), len(les), f"{route}: repeated le")
            self.assertEqual(les[-1], math.inf, f"{route}: no +Inf bucket")
            counts = [v for _, _, v in buckets]
            for a, b in zip(counts, counts[1:]):
                self.assertLessEqual(a, b, f"{route}: buckets not cumulative: {counts}")
            count = m.value("qc_http_request_duration_seconds_count", route=route)
            self.assertEqual(counts[-1], count, f"{route}: +Inf bucket != _count")
            total = m.value("qc_http_request_duration_seconds_sum", route=route)
            self.assertGreaterEqual(total, 0)
        self.assertEqual(m.value("qc_http_request_duration_seconds_count", route="/api/tickerlist"), n)
        self.assertEqual(m.value("qc_http_request_duration_seconds_count", route="other"), 3)

    def test_issue_metric_families_exist(self):
        s = self.start_server(token=TOKEN)
        m = metrics(self, s)
        for name, kind in FAMILIES.items():
            self.assertIn(name, m.families, f"family {name} missing")
            self.assertEqual(m.families[name]["type"], kind, name)
        for reason in REJECT_REASONS:
            self.assertEqual(m.value("qc_rejected_inputs_total", reason=reason), 0, reason)
        for notes in ("Reached target price", "Reached stop loss"):
            self.assertEqual(m.value("qc_positions_closed_total", notes=notes), 0, notes)
        for cache, results in (("proxy", ("hit", "miss")), ("stats", ("hit", "miss", "refresh"))):
            for result in results:
                self.assertEqual(m.value("qc_cache_requests_total", cache=cache, result=result), 0,
                                 (cache, result))
        self.assertEqual(m.value("qc_cache_up"), 1)
        self.assertEqual(m.value("qc_store_errors_total"), 0)

    def test_invalid_document_counts_document_invalid(self):
        # Well-formed but refused by validation (untracked symbol): 422.
        s = self.start_server(token=TOKEN)
        before = metrics(self, s).value("qc_rejected_inputs_total", reason="document_invalid")
        doc = h.make_document(LOAD_BASE, [("ZZZZQ", 110.0, 100.0)])
        status, _, body = s.post_document(doc)
        self.assertEqual(status, 422, body)
        after = metrics(self, s).value("qc_rejected_inputs_total", reason="document_invalid")
        self.assertEqual(after, before + 1)

    def test_schema_invalid_document_counts_document_invalid(self):
        # A document missing required fields is also answered 422 (by the API
        # layer, before it reaches the ledger); it is a refused input too.
        s = self.start_server(token=TOKEN)
        before = metrics(self, s).value("qc_rejected_inputs_total", reason="document_invalid")
        status, _, body = s.post_document({"sg-date": "2021-06-01 22:00:00"})
        self.assertEqual(status, 422, body)
        after = metrics(self, s).value("qc_rejected_inputs_total", reason="document_invalid")
        self.assertEqual(after, before + 1,
                         "a POST answered 422 for schema problems is not counted as "
                         "qc_rejected_inputs_total{reason=\"document_invalid\"}")

    def _replay(self, bars_text):
        path = h.write_text(os.path.join(self.make_temp_dir(), "bars.jsonl"), bars_text)
        s = self.start_server(token=TOKEN, feed="replay:" + path)
        s.wait_exhausted(30)
        return s

    def test_replay_malformed_line_counts_line_malformed(self):
        t = LOAD_BASE * 1000
        good1 = h.am_bar("AAPL", t, 100, 101, 99, 100.5)
        good2 = h.am_bar("AAPL", t + 60_000, 100, 101, 99, 100.5)
        text = "".join([h.json.dumps(good1) + "\n", "{this is not json\n",
                        h.json.dumps(good2) + "\n", '{"ev":"AM","sym":"AAPL"}\n'])
        s = self._replay(text)
        m = metrics(self, s)
        self.assertEqual(m.value("qc_rejected_inputs_total", reason="line_malformed"), 2)
        self.assertEqual(m.value("qc_bars_applied_total"), 2)

    def test_stale_bars_count_bar_not_newer(self):
        t = LOAD_BASE * 1000
        bars = [
            h.am_bar("AAPL", t, 100, 101, 99, 100.5),
            h.am_bar("AAPL", t - 60_000, 100, 101, 99, 100.5),  # older: ignored
            h.am_bar("AAPL", t, 100, 101, 99, 100.5),           # same start: ignored
            h.am_bar("AMZN", t, 100, 101, 99, 100.5),
        ]
        s = self._replay("".join(h.json.dumps(b) + "\n" for b in bars))
        m = metrics(self, s)
        self.assertEqual(m.value("qc_rejected_inputs_total", reason="bar_not_newer"), 2)
        self.assertEqual(m.value("qc_bars_applied_total"), 2)

    def test_positions_closed_by_notes_match_performance(self):
        sc = h.ClosingScenario()  # closes 2 at the target (AAPL, NVDA), 1 at the stop (AMZN)
        s = self.start_server(token=TOKEN)
        h.post_all(self, s, sc.docs)
        m = metrics(self, s)
        self.assertEqual(m.value("qc_positions_opened_total"), 4)
        self.assertEqual(m.value("qc_open_positions"), 4)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), sc.bars)
        s = self.restart(s, feed="replay:" + bars)
        s.wait_exhausted(30)
        status, _, perf = s.get("/api/performance")
        self.assertEqual(status, 200)
        by_notes = {}
        for month in perf["performance"]:
            for p in month["positions"]:
                by_notes[p["notes"]] = by_notes.get(p["notes"], 0) + 1
        self.assertEqual(by_notes, {"Reached target price": 2, "Reached stop loss": 1}, perf)
        m = metrics(self, s)
        for notes, n in by_notes.items():
            self.assertEqual(m.value("qc_positions_closed_total", notes=notes), n, notes)
        self.assertEqual(m.value("qc_open_positions"), sc.open_after)


# ---------------------------------------------------------------------------
# Graceful shutdown


class ShutdownTest(h.ServerTestCase):
    def _wait_exit(self, server, timeout):
        began = time.monotonic()
        try:
            code = server.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            self.fail(f"server did not exit within {timeout} s of the signal\n"
                      f"--- stderr ---\n{server.stderr_text()}")
        return code, time.monotonic() - began

    def test_sigterm_during_load_loses_no_accepted_write(self):
        s = self.start_server(token=TOKEN, feed="none")
        port = s.port
        n_threads, duration, signal_at = 4, 2.0, 1.0
        results = [[] for _ in range(n_threads)]  # (timestamp, symbol, outcome)
        start = time.monotonic()

        def client(tid):
            conn = None
            i = 0
            while time.monotonic() - start < duration:
                ts = LOAD_BASE + (i * n_threads + tid) * 60
                symbol = h.DEFAULT_SYMBOLS[(i + tid) % len(h.DEFAULT_SYMBOLS)]
                i += 1
                body = h.json.dumps(valid_document(ts, symbol))
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                    conn.request("POST", "/api/recommendations", body=body,
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {TOKEN}"})
                    resp = conn.getresponse()
                    resp.read()
                    results[tid].append((ts, symbol, resp.status))
                    if resp.will_close:
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as e:
                    results[tid].append((ts, symbol, type(e).__name__))
                    if conn is not None:
                        conn.close()
                        conn = None
                    if isinstance(e, ConnectionRefusedError):
                        time.sleep(0.01)
            if conn is not None:
                conn.close()

        threads = [threading.Thread(target=client, args=(t,)) for t in range(n_threads)]
        for t in threads:
            t.start()
        time.sleep(signal_at)
        s.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        for t in threads:
            t.join(30)
        try:
            code = s.proc.wait(max(0.1, 15 - (time.monotonic() - signalled)))
        except subprocess.TimeoutExpired:
            s.kill()
            self.fail(f"server did not exit within 15 s of SIGTERM\n{s.stderr_text()}")
        stderr = s.stderr_text()
        self.assertEqual(code, 0, f"exit status {code} after SIGTERM under load\n{stderr}")

        all_results = [r for rs in results for r in rs]
        accepted = [(ts, sym) for ts, sym, o in all_results if o == 201]
        unavailable = sum(1 for _, _, o in all_results if o == 503)
        errors = sum(1 for _, _, o in all_results if isinstance(o, str))
        other = [(ts, sym, o) for ts, sym, o in all_results if o not in (201, 503)
                 and not isinstance(o, str)]
        kinds = {}
        for _, _, o in all_results:
            if isinstance(o, str):
                kinds[o] = kinds.get(o, 0) + 1
        summary = (f"{len(accepted)} accepted (201), {unavailable} answered 503, "
                   f"{errors} connection errors {kinds}, {len(other)} other")
        print(f"\n  load during SIGTERM: {summary}")
        self.assertGreater(len(accepted), 10, f"hardly any load: {summary}")
        self.assertFalse(other, f"unexpected answers: {other[:10]} ({summary})")
        for needle in ("received SIGTERM", "drained in", "stopped cleanly"):
            self.assertIn(needle, stderr, f"shutdown log lacks {needle!r}")

        # A fresh server over the same data dir has every accepted document.
        s2 = self.start_server(s.data_dir, token=TOKEN, feed="none")
        ready = s2.readyz()
        self.assertGreaterEqual(ready["documents"], len(accepted), f"lost writes: {summary}")
        self.assertLessEqual(ready["documents"], len(all_results))
        self.assertEqual(ready["positions"]["open"], ready["documents"])  # one item each
        status, _, recs = s2.get("/api/recommendations?limit=1000")
        self.assertEqual(status, 200)
        listed = [(p["open_timestamp"], p["symbol"]) for p in recs["results"]]
        self.assertEqual(len(listed), min(1000, ready["documents"]))
        # Newest first (distinct open times): the newest 1000 when more are stored.
        self.assertEqual(listed, sorted(listed, reverse=True))
        cutoff = listed[-1][0] if len(listed) == 1000 else -1
        stored = set(listed)
        missing = [a for a in accepted if a[0] >= cutoff and a not in stored]
        self.assertFalse(missing, f"{len(missing)} accepted documents missing from "
                                  f"/api/recommendations after the restart, e.g. {missing[:5]} "
                                  f"({summary})")
        # Each accepted document is known to the new server: a re-POST opens nothing.
        client = h.KeepAliveClient(s2.port)
        self.addCleanup(client.close)
        for ts, sym in accepted:
            status, _, body = client.request(
                "POST", "/api/recommendations", body=valid_document(ts, sym),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
            self.assertEqual(status, 200, f"accepted document {h.ny_date(ts)} {sym} not stored: "
                                          f"{status} {body}")
            self.assertEqual(body["opened"], 0)

    def test_sigint_exits_0(self):
        s = self.start_server(token=TOKEN)
        s.proc.send_signal(signal.SIGINT)
        code, took = self._wait_exit(s, 15)
        self.assertEqual(code, 0, s.stderr_text())
        stderr = s.stderr_text()
        self.assertIn("received SIGINT", stderr)
        self.assertIn("stopped cleanly", stderr)

    def test_idle_keepalive_connection_does_not_delay_shutdown(self):
        s = self.start_server(token=TOKEN)
        client = h.KeepAliveClient(s.port)
        self.addCleanup(client.close)
        status, headers, _ = client.request("GET", "/api/tickerlist")
        self.assertEqual(status, 200)
        self.assertNotEqual((headers.get("Connection") or "").lower(), "close")
        s.proc.send_signal(signal.SIGTERM)
        code, took = self._wait_exit(s, 3)
        self.assertEqual(code, 0, s.stderr_text())
        self.assertLess(took, 3.0)
        # The server closed the idle connection rather than waiting for its timeout.
        client.sock.settimeout(2)
        try:
            self.assertEqual(client.sock.recv(1), b"")
        except ConnectionResetError:
            pass


# ---------------------------------------------------------------------------
# Logging


class LoggingTest(h.ServerTestCase):
    def test_startup_lines_one_per_piece(self):
        s = self.start_server(token=TOKEN)
        lines = log_lines(s.stderr_text())
        for piece in ("database: ", "cache: ", "market data: ", "http: "):
            self.assertEqual(count_with(lines, "info", "startup", piece), 1,
                             f"expected one info [startup] {piece!r} line\n{s.stderr_text()}")

    def test_log_level_warn_suppresses_info(self):
        s = self.start_server(token=TOKEN, env={"QC_LOG_LEVEL": "warn"})
        s.get("/api/tickerlist")
        self.assertEqual(s.stop(), 0, s.stderr_text())
        stderr = s.stderr_text()
        lines = log_lines(stderr)
        self.assertFalse([l for l in lines if l[0] in ("info", "debug")],
                         f"info/debug lines with QC_LOG_LEVEL=warn:\n{stderr}")
        self.assertNotIn("database: SQLite", stderr)
        # Default level for comparison: the same lines are there.
        s2 = self.start_server(token=TOKEN)
        self.assertIn("database: SQLite", s2.stderr_text())

    def test_log_level_bogus_exits_2(self):
        data = os.path.join(self.make_temp_dir(), "data")
        cmd = [h.qc_bin(), "serve", "--host", "127.0.0.1", "--port", str(h.free_port()),
               "--data-dir", data, "--feed", "none"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=15,
                           env=h.clean_env({"QC_LOG_LEVEL": "bogus"}), stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("QC_LOG_LEVEL", p.stderr)
        self.assertIn("bogus", p.stderr)

    def test_secrets_are_redacted(self):
        token = "tok-S3cr3t-91f2c7"
        password = "topsecretpw"
        s = self.start_server(token=token, env={
            "REDIS_URL": f"redis://:{password}@127.0.0.1:1/0",
            "QC_LOG_LEVEL": "debug",
        })
        # The server runs with Redis unreachable (in-process fallback, retrying).
        ready = s.readyz()
        self.assertFalse(ready["cache"]["ok"], ready)
        m = metrics(self, s)
        self.assertEqual(m.value("qc_cache_up"), 0)
        # Exercise paths that handle the token: accepted, wrong, malformed.
        self.assertEqual(s.post_document(valid_document(LOAD_BASE))[0], 201)
        self.assertEqual(s.post_document(valid_document(LOAD_BASE + 60), token=token + "x")[0], 401)
        self.assertEqual(s.post_document("{not json")[0], 400)
        time.sleep(1.0)  # let the Redis retry loop log
        self.assertEqual(s.stop(), 0, s.stderr_text())
        stderr, stdout = s.stderr_text(), s.stdout_text()
        lines = log_lines(stderr)
        self.assertEqual(count_with(lines, "info", "startup", "cache: Redis"), 1, stderr)
        for secret in (token, password):
            self.assertNotIn(secret, stderr, f"secret {secret!r} in the log")
            self.assertNotIn(secret, stdout, f"secret {secret!r} on stdout")
            self.assertNotIn(secret, m.text)
            self.assertNotIn(secret, h.json.dumps(ready))


if __name__ == "__main__":
    unittest.main()
