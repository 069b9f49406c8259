"""Webhooks (SPEC §4.9) with the real server binary and local receivers.

A receiver is Python's http.server on loopback (http, or https with the test
CA of tls_certs.py, trusted by the server through OpenSSL's SSL_CERT_FILE).
It records every POST and answers as the test says: 2xx, 500 for the next N
requests, or nothing at all (it holds the request until released). Bodies
are verified with Python's hmac against X-QuantCrunch-Signature.

Events: `opened` come from POST /api/recommendations; `closed` from a replay
feed of the harness's ClosingScenario bars (AAPL reaches its target, AMZN
its stop, NVDA gaps up; C stays open).

Every test also checks that the server's stderr never shows a webhook URL's
path or the secret.
"""

import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import qc_harness as h

TOKEN = "webhook-token-7d1e"
SECRET = "whsec-integration-93b2c4"
PATH = "/hooks/T0KEN-4f1c9a7b2e"  # the secret part of the URL
FAST = {"QC_WEBHOOK_BACKOFF_MS": "50", "QC_WEBHOOK_MAX_BACKOFF_MS": "300"}


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records each POST.

    fail(n): the next n requests get `status` (500 by default); hang(): requests
    wait unanswered until release(); afterwards requests get 200.
    """

    def __init__(self, tls_cert=None, tls_key=None):
        self.lock = threading.Condition()
        self.requests = []  # {"path", "headers", "body", "answered"}
        self.to_fail = 0
        self.fail_status = 500
        self.hanging = False
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                record = {"path": self.path, "headers": dict(self.headers.items()), "body": body,
                          "answered": None}
                with receiver.lock:
                    receiver.requests.append(record)
                    receiver.lock.notify_all()
                    receiver.lock.wait_for(lambda: not receiver.hanging, timeout=120)
                    if receiver.to_fail > 0:
                        receiver.to_fail -= 1
                        status = receiver.fail_status
                    else:
                        status = 200
                    record["answered"] = status
                # Failures quote the path, as many servers' error pages do.
                reply = b'{"ok": true}' if status == 200 else f"Cannot POST {self.path}".encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the server gave up on us (timeout, SIGKILL)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls_cert, tls_key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path=PATH, host="127.0.0.1"):
        return f"{self.scheme}://{host}:{self.port}{path}"

    def name(self, index, host="127.0.0.1"):
        """The endpoint's name in logs, metrics and /readyz."""
        return f"{self.scheme}://{host}:{self.port}#{index}"

    def fail(self, n, status=500):
        with self.lock:
            self.to_fail = n
            self.fail_status = status

    def hang(self):
        with self.lock:
            self.hanging = True

    def release(self):
        with self.lock:
            self.hanging = False
            self.lock.notify_all()

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def delivered(self):
        """Bodies answered 2xx, parsed, in the order they arrived."""
        return [json.loads(r["body"]) for r in self.snapshot() if r["answered"] == 200]

    def wait_for(self, predicate, timeout, message):
        return h.wait_until(lambda: predicate(self), timeout, message, interval=0.02)

    def close(self):
        self.release()
        self.server.shutdown()
        self.server.server_close()


def unique_in_order(bodies):
    """Each event once (delivery is at least once), in first-arrival order."""
    seen, out = set(), []
    for b in bodies:
        if b["id"] not in seen:
            seen.add(b["id"])
            out.append(b)
    return out


def without_repeats(bodies):
    """Slack and Discord bodies carry no id: a body sent again (at least
    once) shows as a repeat of the one before it."""
    return [b for i, b in enumerate(bodies) if i == 0 or b != bodies[i - 1]]


def metric(server, name, **labels):
    """The value of one sample of GET /metrics (None when absent)."""
    status, _, body = server.get_raw("/metrics")
    assert status == 200, status
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in body.decode().splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name and (m.group(2) or "") == want:
            return float(m.group(3))
    return None


class WebhookTestCase(h.ServerTestCase):
    def receiver(self, **kw):
        r = Receiver(**kw)
        self.addCleanup(r.close)
        return r

    def serve(self, urls, data_dir=None, feed="none", secret=SECRET, fmt=None, env=None):
        e = {"QC_WEBHOOK_URLS": ",".join(urls), **FAST, **(env or {})}
        if secret is not None:
            e["QC_WEBHOOK_SECRET"] = secret
        if fmt:
            e["QC_WEBHOOK_FORMAT"] = fmt
        server = self.start_server(data_dir, token=TOKEN, feed=feed, env=e)
        self.addCleanup(self.assert_no_secret_in_logs, server)
        return server

    def assert_no_secret_in_logs(self, server):
        text = server.stderr_text() + server.stdout_text()
        for secret in (PATH, "T0KEN-4f1c9a7b2e", SECRET):
            self.assertNotIn(secret, text, "a webhook secret reached the server's output")

    def assert_signed(self, request, secret=SECRET):
        body = request["body"]
        want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        got = request["headers"].get("X-QuantCrunch-Signature")
        self.assertTrue(got and hmac.compare_digest(got, want),
                        f"signature {got!r} does not verify for {body!r}")

    def post_closing_documents(self, server, scenario):
        for d in scenario.docs:
            status, _, body = server.post_document(d)
            self.assertEqual(status, 201, body)

    def replay_closes(self, server, scenario, **kw):
        """Restarts `server` on its data dir with a replay of the scenario's bars."""
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), scenario.bars)
        code = server.stop()
        self.assertEqual(code, 0, server.stderr_text())
        s = self.serve(feed="replay:" + bars, data_dir=server.data_dir, **kw)
        s.wait_exhausted(30)
        return s


class DeliveryTest(WebhookTestCase):
    def test_failing_endpoint_recovers_and_gets_every_event_in_order_signed(self):
        r = self.receiver()
        r.fail(3)  # the first three attempts get 500
        sc = h.ClosingScenario()
        s = self.serve([r.url()], env={"QC_LOG_LEVEL": "debug"})
        self.post_closing_documents(s, sc)
        s = self.replay_closes(s, sc, urls=[r.url()], env={"QC_LOG_LEVEL": "debug"})
        r.wait_for(lambda r: len(unique_in_order(r.delivered())) >= 7, 20, "7 events delivered")
        delivered = unique_in_order(r.delivered())
        self.assertEqual([(e["type"], e["data"]["symbol"]) for e in delivered],
                         [("opened", "AAPL"), ("opened", "AMZN"), ("opened", "NVDA"), ("opened", "C"),
                          ("closed", "AAPL"), ("closed", "AMZN"), ("closed", "NVDA")])
        ids = [e["id"] for e in delivered]
        self.assertEqual(ids, sorted(ids), "not in id order")
        # Each request: the path as configured, signed, keyed and typed.
        requests = r.snapshot()
        self.assertGreaterEqual(len(requests), 10, "the three failures were not retried")
        self.assertEqual([q["answered"] for q in requests[:3]], [500, 500, 500])
        self.assertEqual(requests[0]["body"], requests[3]["body"], "the retry is not the same event")
        for q in requests:
            self.assertEqual(q["path"], PATH)
            self.assertEqual(q["headers"]["Content-Type"], "application/json")
            body = json.loads(q["body"])
            self.assertEqual(set(body), {"id", "type", "data"})
            self.assertEqual(q["headers"]["Idempotency-Key"], str(body["id"]))
            self.assertEqual(q["headers"]["X-QuantCrunch-Event"], body["type"])
            self.assert_signed(q)
        # A closed event's data is the position of /api/performance.
        status, _, perf = s.get("/api/performance")
        closed = {p["symbol"]: p for m in perf["performance"] for p in m["positions"]}
        for e in delivered[4:]:
            self.assertEqual(e["data"], closed[e["data"]["symbol"]])
        opened = delivered[0]["data"]
        self.assertEqual(opened["symbol"], "AAPL")
        self.assertEqual(opened["entry_price"], 145.1)
        self.assertIn("unrealized_pnl", opened)
        # Metrics name the endpoint by origin and index.
        name = r.name(1)
        h.wait_until(lambda: metric(s, "qc_webhook_backlog", endpoint=name) == 0, 10, "backlog 0")
        self.assertGreaterEqual(metric(s, "qc_webhook_deliveries_total", endpoint=name), 3)
        status, _, ready = s.get("/readyz")
        self.assertEqual(status, 200)
        self.assertEqual(ready["webhooks"][0]["endpoint"], name)
        self.assertTrue(ready["webhooks"][0]["ok"])
        self.assertIn(f"webhooks: 1 endpoint ({name}), format json, signed", s.stderr_text())

    def test_retries_and_failures_are_counted_by_reason(self):
        r = self.receiver()
        r.fail(1000)
        s = self.serve([r.url()])
        self.post_closing_documents(s, h.ClosingScenario())
        name = r.name(1)
        r.wait_for(lambda r: len(r.snapshot()) >= 3, 10, "three attempts")
        h.wait_until(lambda: (metric(s, "qc_webhook_retries_total", endpoint=name) or 0) >= 3, 10,
                     "retries counted")
        self.assertGreaterEqual(
            metric(s, "qc_webhook_failures_total", endpoint=name, reason="http_500"), 3)
        h.wait_until(lambda: metric(s, "qc_webhook_backlog", endpoint=name) == 4, 10, "backlog 4")
        status, _, ready = s.get("/readyz")
        self.assertEqual(status, 200, "a failing webhook made the server unready")
        hook = ready["webhooks"][0]
        self.assertFalse(hook["ok"])
        self.assertEqual(hook["backlog"], 4)
        self.assertIn("HTTP 500", hook["detail"])
        self.assertNotIn(PATH, json.dumps(ready))
        self.assertIn(f"webhook {name}: event", s.stderr_text())
        r.fail(0)
        r.wait_for(lambda r: len(unique_in_order(r.delivered())) == 4, 10, "delivered after recovery")

    def test_a_hanging_endpoint_slows_neither_the_engine_nor_writes_nor_shutdown(self):
        r = self.receiver()
        r.hang()
        s = self.serve([r.url()], env={"QC_WEBHOOK_TIMEOUT_MS": "1000"})
        sc = h.ClosingScenario()
        self.post_closing_documents(s, sc)  # 201 each while the endpoint hangs
        r.wait_for(lambda r: len(r.snapshot()) >= 1, 10, "a first attempt")
        status, _, recs = s.get("/api/recommendations")
        self.assertEqual(len(recs["results"]), 4)
        # Timed out and retried (a new connection each time).
        r.wait_for(lambda r: len(r.snapshot()) >= 2, 10, "a retry after the timeout")
        self.assertGreaterEqual(metric(s, "qc_webhook_failures_total", endpoint=r.name(1),
                                       reason="timeout") or 0, 1)
        # More writes and a replay go on meanwhile.
        status, _, body = s.post_document(h.make_document(sc.ts2 + 3600, [("TLT", 150, 140)]))
        self.assertEqual(status, 201, body)
        s = self.replay_closes(s, sc, urls=[r.url()], env={"QC_WEBHOOK_TIMEOUT_MS": "1000"})
        self.assertEqual(s.readyz()["positions"], {"open": 2, "closed": 3})
        # SIGTERM while a POST hangs: a clean, prompt exit.
        r.wait_for(lambda r: len(r.snapshot()) >= 4, 10, "attempts by the second server")
        started = time.monotonic()
        self.assertEqual(s.stop(), 0, s.stderr_text())
        self.assertLess(time.monotonic() - started, 15)
        # Once the endpoint answers, the next start delivers everything (the
        # requests held so far are answered too, to connections long closed:
        # the server's counters say what it saw delivered).
        r.release()
        s = self.serve([r.url()], data_dir=s.data_dir)
        h.wait_until(lambda: metric(s, "qc_webhook_deliveries_total", endpoint=r.name(1)) == 8, 20,
                     "8 deliveries")
        self.assertEqual(metric(s, "qc_webhook_backlog", endpoint=r.name(1)), 0)
        everything = unique_in_order(json.loads(q["body"]) for q in r.snapshot())
        self.assertEqual(len(everything), 8)
        kinds = [(e["type"], e["data"]["symbol"]) for e in everything]
        self.assertEqual(kinds[:5], [("opened", "AAPL"), ("opened", "AMZN"), ("opened", "NVDA"),
                                     ("opened", "C"), ("opened", "TLT")])
        self.assertEqual(sorted(kinds[5:]), [("closed", "AAPL"), ("closed", "AMZN"), ("closed", "NVDA")])

    def test_a_dead_endpoint_does_not_hold_up_another(self):
        dead_port = h.free_port()  # nothing listens there
        dead = f"http://127.0.0.1:{dead_port}{PATH}-dead"
        r = self.receiver()
        s = self.serve([dead, r.url()])
        self.post_closing_documents(s, h.ClosingScenario())
        r.wait_for(lambda r: len(unique_in_order(r.delivered())) == 4, 10, "4 events at the live endpoint")
        dead_name = f"http://127.0.0.1:{dead_port}#1"
        h.wait_until(lambda: (metric(s, "qc_webhook_failures_total", endpoint=dead_name,
                                     reason="connect") or 0) >= 1, 10, "connect failures")
        # Counted again as events arrive, even while the worker waits to retry.
        h.wait_until(lambda: metric(s, "qc_webhook_backlog", endpoint=dead_name) == 4, 10, "backlog 4")
        h.wait_until(lambda: metric(s, "qc_webhook_backlog", endpoint=r.name(2)) == 0, 10, "backlog 0")
        self.assertEqual(metric(s, "qc_webhook_deliveries_total", endpoint=r.name(2)), 4)

    def test_undelivered_events_survive_sigkill(self):
        r = self.receiver()
        r.fail(10_000)
        s = self.serve([r.url()])
        sc = h.ClosingScenario()
        self.post_closing_documents(s, sc)
        r.wait_for(lambda r: len(r.snapshot()) >= 2, 10, "attempts before the crash")
        self.assertEqual(s.kill(), -9)
        self.assertEqual(r.delivered(), [])
        r.fail(0)
        s = self.serve([r.url()], data_dir=s.data_dir)
        r.wait_for(lambda r: len(unique_in_order(r.delivered())) == 4, 20, "delivered after restart")
        self.assertEqual([e["data"]["symbol"] for e in unique_in_order(r.delivered())],
                         ["AAPL", "AMZN", "NVDA", "C"])

    def test_slack_and_discord_messages(self):
        r = self.receiver()
        sc = h.ClosingScenario()
        # Slack without a secret: allowed (the URL is the credential), not signed.
        s = self.serve([r.url()], fmt="slack", secret=None)
        self.assertIn("format slack, NOT signed", s.stderr_text())
        status, _, body = s.post_document(sc.doc1)
        self.assertEqual(status, 201, body)
        r.wait_for(lambda r: len(r.delivered()) >= 2, 10, "2 Slack messages")
        s = self.replay_closes(s, sc, urls=[r.url()], fmt="slack", secret=None)
        r.wait_for(lambda r: len(without_repeats(r.delivered())) >= 4, 10, "4 Slack messages")
        # Recorded as delivered by the server (else the next one sends it again, as Discord).
        h.wait_until(lambda: metric(s, "qc_webhook_backlog", endpoint=r.name(1)) == 0, 10, "backlog 0")
        self.assertEqual(without_repeats(r.delivered()), [
            {"text": "QuantCrunch: opened AAPL at 145.10, target 150.20 (+3.51 %), stop 130.59"},
            {"text": "QuantCrunch: opened AMZN at 3700.00, target 3800.00 (+2.70 %), stop 3330.00"},
            {"text": "QuantCrunch: closed AAPL +3.51 % (Reached target price, entry 145.10 \u2192 exit 150.20)"},
            {"text": "QuantCrunch: closed AMZN -10.00 % (Reached stop loss, entry 3700.00 \u2192 exit 3330.00)"},
        ])
        for q in r.snapshot():
            self.assertNotIn("X-QuantCrunch-Signature", q["headers"])
            self.assertIn("Idempotency-Key", q["headers"])
        self.assertEqual(s.stop(), 0)
        # The same endpoint as Discord: it goes on from where it was.
        s = self.serve([r.url()], data_dir=s.data_dir, fmt="discord", secret=SECRET)
        status, _, body = s.post_document(sc.doc2)
        self.assertEqual(status, 201, body)
        r.wait_for(lambda r: len(without_repeats(r.delivered())) >= 6, 10, "2 Discord messages")
        self.assertEqual(without_repeats(r.delivered())[4:], [
            {"content": "QuantCrunch: opened NVDA at 190.00, target 200.00 (+5.26 %), stop 171.00"},
            {"content": "QuantCrunch: opened C at 68.00, target 70.00 (+2.94 %), stop 61.20"},
        ])
        self.assert_signed(r.snapshot()[-1])


class HttpsTest(WebhookTestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("the openssl command (Debian's openssl package) makes the "
                                    "test certificates")
        import tls_certs
        cls.cert_dir = tempfile.mkdtemp(prefix="qc-webhook-tls-")
        cls.certs = tls_certs.make_certs(cls.cert_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cert_dir, ignore_errors=True)

    def test_https_is_verified_against_the_trusted_cas_and_the_host_name(self):
        good = self.receiver(tls_cert=self.certs["server.pem"], tls_key=self.certs["server.key"])
        wrong = self.receiver(tls_cert=self.certs["wrong_host.pem"], tls_key=self.certs["wrong_host.key"])
        # OpenSSL's default verify paths honour SSL_CERT_FILE: the test CA only.
        s = self.serve([good.url(host="localhost"), wrong.url(host="localhost")],
                       env={"SSL_CERT_FILE": self.certs["ca.pem"]})
        self.post_closing_documents(s, h.ClosingScenario())
        good.wait_for(lambda r: len(unique_in_order(r.delivered())) == 4, 15, "4 events over https")
        for q in good.snapshot():
            self.assert_signed(q)
        wrong_name = wrong.name(2, host="localhost")
        h.wait_until(lambda: (metric(s, "qc_webhook_failures_total", endpoint=wrong_name,
                                     reason="tls") or 0) >= 1, 10, "TLS failures")
        self.assertEqual(wrong.snapshot(), [], "a request went to a host whose certificate is wrong")
        self.assertIn("certificate verify failed", s.stderr_text())


class ConfigurationTest(h.ServerTestCase):
    def run_serve(self, env):
        data_dir = os.path.join(self.make_temp_dir(), "data")
        cmd = [h.qc_bin(), "serve", "--host", "127.0.0.1", "--port", str(h.free_port()),
               "--data-dir", data_dir, "--feed", "none"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                           env=h.clean_env(env))
        self.assertFalse(os.path.exists(data_dir), "the data dir was created for a bad config")
        return r

    def assert_refused(self, env, *words, hidden=()):
        r = self.run_serve(env)
        self.assertEqual(r.returncode, 2, r.stderr)
        err = r.stderr.strip("\n")
        self.assertNotIn("\n", err, r.stderr)
        self.assertTrue(err.startswith("quantcrunch: error: "), err)
        for w in words:
            self.assertIn(w, err)
        for secret in hidden:
            self.assertNotIn(secret, r.stderr + r.stdout)
        return err

    def test_bad_webhook_urls_are_refused_with_exit_2_and_never_quoted(self):
        base = {"QC_WEBHOOK_SECRET": SECRET}
        self.assert_refused({**base, "QC_WEBHOOK_URLS": "ftp://files.example" + PATH},
                            "QC_WEBHOOK_URLS", "entry 1", "scheme 'ftp'", "http:// or https://",
                            hidden=[PATH, SECRET])
        self.assert_refused({**base, "QC_WEBHOOK_URLS": "https://ok.example/a, hooks.example" + PATH},
                            "QC_WEBHOOK_URLS", "entry 2", "not a URL", hidden=[PATH])
        self.assert_refused({**base, "QC_WEBHOOK_URLS": "https://bob:pa55word@hooks.example" + PATH},
                            "user info", hidden=[PATH, "pa55word"])
        self.assert_refused({**base, "QC_WEBHOOK_URLS": f"https://a.example{PATH},https://a.example{PATH}"},
                            "entries 1 and 2", "same URL", hidden=[PATH])

    def test_json_webhooks_need_a_secret_and_the_format_is_checked(self):
        self.assert_refused({"QC_WEBHOOK_URLS": "https://hooks.example" + PATH},
                            "QC_WEBHOOK_SECRET must be set", hidden=[PATH])
        self.assert_refused({"QC_WEBHOOK_URLS": "https://hooks.example" + PATH, "QC_WEBHOOK_SECRET": SECRET,
                             "QC_WEBHOOK_FORMAT": "teams"},
                            "QC_WEBHOOK_FORMAT must be json, slack or discord", "'teams'", hidden=[PATH])
        self.assert_refused({"QC_WEBHOOK_URLS": "https://hooks.example" + PATH, "QC_WEBHOOK_SECRET": SECRET,
                             "QC_WEBHOOK_TIMEOUT_MS": "0"}, "QC_WEBHOOK_TIMEOUT_MS")

    def test_without_urls_webhooks_are_off(self):
        s = self.start_server(feed="none", env={"QC_WEBHOOK_SECRET": SECRET})
        self.assertIn("webhooks: off", s.stderr_text())
        self.assertNotIn("webhooks", s.readyz())
        self.assertNotIn(SECRET, s.stderr_text())


if __name__ == "__main__":
    unittest.main()
