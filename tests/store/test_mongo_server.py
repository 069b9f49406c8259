"""The real `quantcrunch serve` on the MongoDB adapter (MONGO_ATLAS_URI set),
against the MongoDB wire-protocol stand-in (tests/support/mongo_standin.py)
run in this process: a one-member replica set "rs0" (transactions, change
streams) or a standalone server (ordered idempotent writes, polling).

Covers SPEC §2/§5/§6.3 on MongoDB: startup log and /readyz, seeding, the
§5 layout written by POST and by closes, the recommendation watcher (live,
while stopped, delivered twice, invalid items), the SIGKILL crash test, and
secrets / unreachable server at start.

The same cases over TLS, and TLS-only ones (mongodb+srv://): test_mongo_tls.py
(MongoServerCase.TLS, tls_config()).

The stand-in needs Debian's /usr/bin/python3 with python3-pymongo and
python3-mongomock. When this file is imported by another Python that lacks
them, it re-executes the same unittest command under /usr/bin/python3, or
skips with the reason.
"""

import os
import subprocess
import sys

_SYSTEM_PYTHON = "/usr/bin/python3"
_REEXEC_GUARD = "QC_MONGO_TEST_REEXEC"


def _reexec_under_system_python():
    """Replaces this process by the same test run under /usr/bin/python3
    (only when this file is what is being run). Returns a skip reason
    otherwise."""
    if not os.path.exists(_SYSTEM_PYTHON):
        return f"{_SYSTEM_PYTHON} not found (the MongoDB stand-in needs Debian's python3)"
    if os.path.realpath(sys.executable) == os.path.realpath(_SYSTEM_PYTHON):
        return (f"{_SYSTEM_PYTHON} cannot import mongomock/pymongo "
                "(apt-get install python3-mongomock python3-pymongo)")
    probe = subprocess.run([_SYSTEM_PYTHON, "-c", "import mongomock, pymongo, bson"],
                           stdin=subprocess.DEVNULL, capture_output=True)
    if probe.returncode != 0:
        return (f"{_SYSTEM_PYTHON} cannot import mongomock/pymongo "
                "(apt-get install python3-mongomock python3-pymongo)")
    if os.environ.get(_REEXEC_GUARD):
        return "re-executed under /usr/bin/python3 and mongomock is still missing"
    name = os.path.splitext(os.path.basename(__file__))[0]
    # (test_mongo_tls.py imports this file for its cases and helpers.)
    if sys.argv and sys.argv[0].endswith("-m unittest") and any(
            n in " ".join(sys.argv[1:]) for n in (name, "test_mongo_tls")):
        argv = [_SYSTEM_PYTHON, "-m", "unittest"] + sys.argv[1:]
    elif __name__ == "__main__":
        argv = [_SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:]
    else:
        return (f"this Python ({sys.executable}) has no mongomock; run this file with "
                f"{_SYSTEM_PYTHON}")
    os.environ[_REEXEC_GUARD] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(_SYSTEM_PYTHON, argv)
    return "exec failed"  # not reached


try:
    import mongomock  # noqa: F401
    import pymongo  # noqa: F401
    _SKIP_REASON = None
except ImportError:
    _SKIP_REASON = _reexec_under_system_python()

import atexit  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

import qc_harness as h  # noqa: E402

if _SKIP_REASON is None:
    from mongo_standin import MongoStandIn, make_client_cert  # noqa: E402
    import tls_certs as _tls_certs  # noqa: E402
else:
    MongoStandIn = None

DB = "quantcrunch"
TOKEN = "mongo-token"
RS = "rs0"
STANDALONE = None
MODES = {"change stream": RS, "polling": STANDALONE}
POLL_WAIT = 10.0  # the watcher polls every 2 s on a standalone server

SPEC_RECOMMENDATION_KEYS = {"_id", "us-date", "sg-date", "recommendations", "qc_digest"}
SPEC_ITEM_KEYS = ["symbol", "targetPrice", "currentPrice"]
SPEC_OPEN_KEYS = {"_id", "symbol", "target_price", "entry_price", "open_timestamp", "stop_loss",
                  "expected_profit"}
SPEC_PERFORMANCE_KEYS = {"_id", "month", "realized_pnl", "positions"}
SPEC_CLOSED_KEYS = {"symbol", "target_price", "entry_price", "open_timestamp", "stop_loss", "pnl",
                    "notes", "close_timestamp", "exit_price"}


def strip_ids(docs):
    return [{k: v for k, v in d.items() if k != "_id"} for d in docs]


_CERTS = None


def tls_certs():
    """tls_certs.make_certs() plus a client certificate, made once per process."""
    global _CERTS
    if _CERTS is None:
        directory = tempfile.mkdtemp(prefix="qc-mongo-tls-")
        atexit.register(shutil.rmtree, directory, True)
        certs = _tls_certs.make_certs(directory)
        certs.update(make_client_cert(directory))
        certs["dir"] = directory
        _CERTS = certs
    return _CERTS


def tls_config(stem="server", **extra):
    """A MongoStandIn ``tls`` argument serving DIR/STEM.pem, with ca.pem in its URI."""
    certs = tls_certs()
    config = {"cert": certs[stem + ".pem"], "key": certs[stem + ".key"], "ca": certs["ca.pem"]}
    config.update(extra)
    return config


def transport_text(tls):
    """What the startup line says about a stand-in from tls_config()."""
    if not tls:
        return "over plain TCP"
    return f"over TLS (certificate verified against {tls_certs()['ca.pem']})"


@unittest.skipIf(_SKIP_REASON is not None, _SKIP_REASON or "")
class MongoServerCase(h.ServerTestCase):
    """Stand-ins and servers that are always stopped after the test."""

    TLS = False  # stand-ins serve TLS (tls_config()) and their URIs say tls=true

    def standin(self, replica_set, tls=None, **kwargs):
        """A started stand-in (TLS with tls_config() when self.TLS and `tls` is
        None; plain with tls=False), stopped and checked after the test."""
        if tls is None and self.TLS:
            tls = tls_config()
        mongo = MongoStandIn(replica_set=replica_set, tls=tls or None, **kwargs).start()
        self.addCleanup(self._check_standin, mongo)
        return mongo

    def _check_standin(self, mongo):
        mongo.stop()
        self.assertEqual(mongo.internal_errors, [],
                         "the stand-in could not handle some commands (a stand-in gap, not "
                         "necessarily a server bug)")
        if mongo.tls and self.TLS:
            self.assertTrue(mongo.tls_clients, "nothing connected over TLS")
            self.assertEqual(mongo.tls_errors, [], "TLS handshakes failed")

    def serve(self, mongo, data_dir=None, feed="none", **kw):
        env = dict(kw.pop("env", {}) or {})
        env["MONGO_ATLAS_URI"] = mongo.uri
        return self.start_server(data_dir, feed=feed, token=kw.pop("token", TOKEN), env=env, **kw)

    def restart_on(self, server, mongo, **changes):
        code = server.stop()
        self.assertEqual(code, 0, f"SIGTERM'd server exited {code}\n{server.stderr_text()}")
        return self.serve(mongo, server.data_dir, feed=changes.pop("feed", server.feed),
                          replay_rate=changes.pop("replay_rate", server.replay_rate), **changes)

    @staticmethod
    def open_identities(mongo):
        return sorted((d["symbol"], int(d["open_timestamp"]))
                      for d in mongo.find(DB, "open_positions"))

    def wait_open(self, mongo, server, expected, timeout, what):
        # In the database, and the commit returned: the server counts them
        # only then (a commit's writes become visible before it returns).
        def check():
            if not server.alive():
                raise AssertionError(f"server died: {server.stderr_text()}")
            return (self.open_identities(mongo) == sorted(expected)
                    and server.status()["positions"]["open"] == len(expected))
        try:
            h.wait_until(check, timeout, what)
        except AssertionError as e:
            raise AssertionError(f"{e}\nopen_positions: {self.open_identities(mongo)}\n"
                                 f"--- stderr ---\n{server.stderr_text()}") from None

    def wait_log(self, server, text, timeout=5.0):
        h.wait_until(lambda: text in server.stderr_text(), timeout,
                     f"log line containing {text!r}; log:\n{server.stderr_text()}")

    def wait_watcher(self, server, documents, timeout):
        return h.wait_until(lambda: server.readyz()["watcher"]["documents"] >= documents, timeout,
                            f"/readyz watcher.documents >= {documents}")

    def run_server(self, uri, timeout=60, wrap=()):
        """Runs the server until it exits (`wrap`: a command prefix); (proc, seconds)."""
        data_dir = os.path.join(self.make_temp_dir(), "data")
        cmd = [*wrap, h.qc_bin(), "serve", "--host", "127.0.0.1", "--port", str(h.free_port()),
               "--data-dir", data_dir, "--feed", "none"]
        started = time.monotonic()
        proc = subprocess.run(cmd, env=h.clean_env({"MONGO_ATLAS_URI": uri}), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              cwd=self.make_temp_dir())
        return proc, time.monotonic() - started

    def refused(self, uri, *expected, wrap=()):
        """Runs the server on `uri`: exit status 1 and one error line holding `expected`."""
        proc, took = self.run_server(uri, wrap=wrap)
        log = proc.stderr + proc.stdout
        self.assertEqual(proc.returncode, 1, log)
        errors = error_lines(log)
        self.assertEqual(len(errors), 1, log)
        self.assertEqual(warn_lines(log), [], log)
        self.assertIn("[startup] database: mongodb: ", errors[0])
        for text in expected:
            self.assertIn(text, errors[0])
        self.assertNotIn("SQLite", log)
        self.assertLess(took, 20, "server selection (1 s) and the TLS probe are bounded")
        return errors[0]


def doc_at(ny_text, items):
    return h.make_document(h.ny_unix(ny_text), items)


D1 = doc_at("2021-07-12 10:59:00", [("AAPL", 150.2, 145.1), ("NVDA", 220, 200)])
D2 = doc_at("2021-07-12 11:30:00", [("C", 66, 60)])
D3 = doc_at("2021-07-13 09:45:00", [("AMZN", 3800, 3700), ("BX", 100, 90)])
T1, T2, T3 = (h.ny_unix(d["us-date"]) for d in (D1, D2, D3))


class StartupTest(MongoServerCase):
    def check_startup(self, replica_set, closes, watcher):
        mongo = self.standin(replica_set)
        s = self.serve(mongo)
        log = s.stderr_text()
        self.assertIn(f"database: MongoDB at {mongo.uri}, database quantcrunch (0 open, 0 closed "
                      f"positions, 0 recommendation documents), {transport_text(mongo.tls)}; "
                      f"closes are {closes}", log)
        self.wait_log(s, f"recommendations: watching the collection by {watcher}")
        self.assertNotIn("SQLite", log)
        self.assertFalse(any(f.endswith(".sqlite3") for f in os.listdir(s.data_dir)),
                         os.listdir(s.data_dir))
        ready = s.readyz()
        self.assertEqual(ready["status"], "ready")
        self.assertEqual(ready["database"]["kind"], "mongodb")
        self.assertTrue(ready["database"]["ok"])
        self.assertNotIn("path", ready["database"])  # /readyz is public: no locations
        self.assertEqual(ready["watcher"]["mode"], watcher)
        self.assertIn(DB, mongo.client.list_database_names())

    def test_replica_set_uses_transactions_and_a_change_stream(self):
        self.check_startup(RS, "multi-document transactions", "change stream")

    def test_standalone_uses_ordered_idempotent_writes_and_polling(self):
        self.check_startup(STANDALONE, "ordered idempotent writes", "polling")

    def test_default_tickers_seeded_only_when_empty(self):
        mongo = self.standin(STANDALONE)
        s = self.serve(mongo)
        self.assertIn("seeded the tickers collection with the 11 default tickers", s.stderr_text())
        tickers = strip_ids(mongo.find(DB, "tickers", sort=[("_id", 1)]))
        self.assertEqual(tickers, [{"symbol": sym, "exchange": ex, "name": name}
                                   for sym, ex, name in h.DEFAULT_TICKERS])
        s = self.restart_on(s, mongo)
        self.assertEqual(len(mongo.find(DB, "tickers")), 11, "seeded twice")
        self.assertNotIn("seeded the tickers", s.stderr_text())

        # An operator's own list is kept as it is.
        other = self.standin(STANDALONE)
        other.insert(DB, "tickers", [{"symbol": "AAPL", "exchange": "NASDAQ", "name": "Apple Inc."},
                                     {"symbol": "MSFT", "exchange": "NASDAQ", "name": "Microsoft"}])
        s2 = self.serve(other)
        self.assertNotIn("seeded the tickers", s2.stderr_text())
        self.assertEqual(len(other.find(DB, "tickers")), 2)
        status, _, body = s2.get("/api/tickerlist")
        self.assertEqual(status, 200)
        self.assertEqual([t["symbol"] for t in body["tickerlist"]], ["AAPL", "MSFT"])


class LayoutTest(MongoServerCase):
    def test_posted_document_lands_in_spec_collections(self):
        mongo = self.standin(RS)
        s = self.serve(mongo)
        status, _, body = s.post_document(D1)
        self.assertEqual(status, 201, body)
        recs = mongo.find(DB, "recommendations")
        self.assertEqual(len(recs), 1)
        self.assertEqual(set(recs[0]), SPEC_RECOMMENDATION_KEYS)
        self.assertEqual(recs[0]["us-date"], D1["us-date"])
        self.assertEqual(recs[0]["sg-date"], D1["sg-date"])
        self.assertEqual([list(i) for i in recs[0]["recommendations"]], [SPEC_ITEM_KEYS] * 2)
        self.assertEqual(recs[0]["recommendations"], D1["recommendations"])

        opened = sorted(mongo.find(DB, "open_positions"), key=lambda d: d["symbol"])
        self.assertEqual([set(d) for d in opened], [SPEC_OPEN_KEYS] * 2)
        aapl = opened[0]
        self.assertEqual((aapl["symbol"], aapl["open_timestamp"], aapl["entry_price"],
                          aapl["target_price"]), ("AAPL", T1, 145.1, 150.2))
        self.assertAlmostEqual(aapl["stop_loss"], 145.1 * 0.9, places=12)
        self.assertAlmostEqual(aapl["expected_profit"], (150.2 - 145.1) / 145.1 * 100, places=12)

        # The same document again: nothing stored twice.
        status, _, body = s.post_document(D1)
        self.assertEqual(status, 200, body)
        self.assertEqual(len(mongo.find(DB, "recommendations")), 1)
        self.assertEqual(len(mongo.find(DB, "open_positions")), 2)

    def test_replayed_bars_close_into_performance_documents(self):
        sc = h.ClosingScenario()
        mongo = self.standin(RS)
        s = self.serve(mongo)
        h.post_all(self, s, sc.docs)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), sc.bars)
        s = self.restart_on(s, mongo, feed="replay:" + bars, replay_rate=0)
        s.wait_exhausted(30)
        self.assertEqual(s.readyz()["positions"], {"open": sc.open_after, "closed": 3})

        months = mongo.find(DB, "performance", sort=[("month", 1)])
        self.assertEqual([m["month"] for m in months],
                         [m["month"] for m in sc.expected["performance"]])
        for got, want in zip(months, sc.expected["performance"]):
            self.assertEqual(set(got), SPEC_PERFORMANCE_KEYS)
            self.assertAlmostEqual(got["realized_pnl"], want["realized_pnl"], places=9)
            self.assertEqual(len(got["positions"]), len(want["positions"]))
            by_symbol = {p["symbol"]: p for p in got["positions"]}
            for wp in want["positions"]:
                gp = by_symbol[wp["symbol"]]
                self.assertEqual(set(gp), SPEC_CLOSED_KEYS)
                for k, v in wp.items():
                    if isinstance(v, float):
                        self.assertAlmostEqual(gp[k], v, places=9, msg=f"{wp['symbol']}.{k}")
                    else:
                        self.assertEqual(gp[k], v, f"{wp['symbol']}.{k}")
        # Moved, not copied: only C is still open.
        self.assertEqual([d["symbol"] for d in mongo.find(DB, "open_positions")], ["C"])
        status, _, perf = s.get("/api/performance")
        self.assertEqual(status, 200)
        self.assertEqual(sum(len(m["positions"]) for m in perf["performance"]), 3)


class TransientFailureTest(MongoServerCase):
    def test_failed_commit_does_not_lose_the_bars_of_its_batch(self):
        # A transient database error (e.g. a dropped connection during an
        # Atlas failover) makes one commit fail. The bars of that batch
        # must still count: the result equals a run without the error.
        sc = h.ClosingScenario()
        mongo = self.standin(STANDALONE)
        s = self.serve(mongo)
        h.post_all(self, s, sc.docs)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), sc.bars)
        # Bar 1 (AAPL before it opened) is applied; bar 2 would close AAPL at
        # its target: its commit's first `update` (the $push) fails once.
        s = self.restart_on(s, mongo, feed="replay:" + bars, replay_rate=4)
        self.wait_log(s, "handed over 2 stored recommendation documents")  # its qc_watcher update is done
        h.wait_until(lambda: s.status()["feed"]["bars_applied"] >= 1, 10, "first bar applied")
        # Six failures: more than the ledger's four quick attempts, so the
        # batch fails for good, the state is reloaded and its bars applied again.
        mongo.fail_next("update", 6, code=6, errmsg="HostUnreachable (injected)")
        s.wait_exhausted(60)
        ready = s.wait_ready(20)  # ready again once a commit succeeded
        self.assertGreaterEqual(ready["database"]["commit_failures"], 1,
                                "the injected failure did not make a commit fail for good")
        self.assertIn("applied again", s.stderr_text())
        status, _, perf = s.get("/api/performance")
        closed = sorted((p["symbol"], p["close_timestamp"], p["exit_price"])
                        for m in perf["performance"] for p in m["positions"])
        want = sorted((p["symbol"], p["close_timestamp"], p["exit_price"])
                      for m in sc.expected["performance"] for p in m["positions"])
        self.assertEqual(closed, want,
                         f"positions closed after a failed commit differ from a run without it; "
                         f"/readyz positions {ready['positions']}\n--- stderr ---\n"
                         f"{s.stderr_text()}")


class WatcherTest(MongoServerCase):
    """Documents the algorithm inserts straight into `recommendations`."""

    def each_mode(self, body):
        for mode, replica_set in MODES.items():
            with self.subTest(watcher=mode):
                body(mode, self.standin(replica_set))

    def test_documents_inserted_while_running_are_opened(self):
        def body(mode, mongo):
            s = self.serve(mongo)
            self.wait_log(s, f"watching the collection by {mode}")
            mongo.insert(DB, "recommendations", dict(D1))
            self.wait_open(mongo, s, [("AAPL", T1), ("NVDA", T1)], POLL_WAIT, f"{mode}: D1 opened")
            mongo.insert(DB, "recommendations", dict(D2))
            self.wait_open(mongo, s, [("AAPL", T1), ("NVDA", T1), ("C", T2)], POLL_WAIT,
                           f"{mode}: D2 opened")
            ready = s.readyz()
            self.assertEqual(ready["positions"]["open"], 3)
            # (watcher.documents counts deliveries: a document inserted while
            # the stream opens may be handed over twice, harmlessly.)
            self.assertGreaterEqual(ready["watcher"]["documents"], 2)
            self.assertEqual(ready["watcher"]["errors"], 0)
            status, _, recs = s.get("/api/recommendations")
            self.assertEqual(status, 200)
            self.assertEqual(sorted(r["symbol"] for r in recs["results"]), ["AAPL", "C", "NVDA"])
            # The watcher does not store the document a second time.
            self.assertEqual(len(mongo.find(DB, "recommendations")), 2)
        self.each_mode(body)

    def test_documents_inserted_while_stopped_are_opened_after_restart(self):
        def body(mode, mongo):
            s = self.serve(mongo)
            mongo.insert(DB, "recommendations", dict(D1))
            self.wait_open(mongo, s, [("AAPL", T1), ("NVDA", T1)], POLL_WAIT, f"{mode}: D1 opened")
            self.assertEqual(s.stop(), 0, s.stderr_text())
            mongo.insert(DB, "recommendations", dict(D2))
            mongo.insert(DB, "recommendations", dict(D3))
            s = self.serve(mongo, s.data_dir)
            self.wait_open(mongo, s, [("AAPL", T1), ("NVDA", T1), ("C", T2), ("AMZN", T3),
                                      ("BX", T3)], POLL_WAIT, f"{mode}: D2, D3 opened after restart")
            self.assertEqual(s.readyz()["positions"]["open"], 5)
        self.each_mode(body)

    def test_document_delivered_twice_opens_once(self):
        def body(mode, mongo):
            s = self.serve(mongo)
            mongo.insert(DB, "recommendations", dict(D1))
            mongo.insert(DB, "recommendations", dict(D1))  # same content, second _id
            self.wait_watcher(s, 2, POLL_WAIT)
            expected = [("AAPL", T1), ("NVDA", T1)]
            self.assertEqual(self.open_identities(mongo), expected)
            self.assertEqual(s.readyz()["positions"]["open"], 2)

            # Restart with the watcher's resume point lost: every stored
            # document is handed over again.
            self.assertEqual(s.stop(), 0, s.stderr_text())
            if mode == "change stream":
                mongo.truncate_oplog()  # the saved resume token is no longer resumable
            else:
                mongo.delete(DB, "qc_watcher", {})
            s = self.serve(mongo, s.data_dir)
            self.wait_watcher(s, 2, POLL_WAIT)
            ready = s.readyz()
            self.assertEqual(self.open_identities(mongo), expected)
            self.assertEqual(ready["positions"]["open"], 2)
            self.assertEqual(ready["positions"]["closed"], 0)
            if mode == "change stream":
                self.assertIn("cannot resume the change stream", s.stderr_text())
        self.each_mode(body)

    def test_duplicate_document_is_listed_the_same_before_and_after_restart(self):
        # GET /api/recommendations lists a document inserted twice once while
        # running; a restart must not change what it lists.
        mongo = self.standin(RS)
        s = self.serve(mongo)
        mongo.insert(DB, "recommendations", dict(D1))
        mongo.insert(DB, "recommendations", dict(D1))
        self.wait_watcher(s, 2, POLL_WAIT)
        before = s.get("/api/recommendations")[2]
        self.assertEqual([r["symbol"] for r in before["results"]], ["AAPL", "NVDA"])
        s = self.restart_on(s, mongo)
        after = s.get("/api/recommendations")[2]
        self.assertEqual([r["symbol"] for r in after["results"]],
                         [r["symbol"] for r in before["results"]],
                         "after a restart the document inserted twice is listed twice")
        self.assertEqual(after, before)

    def test_invalid_items_are_skipped_and_logged(self):
        def body(mode, mongo):
            s = self.serve(mongo)
            doc = doc_at("2021-07-12 10:59:00", [("AAPL", 150.2, 145.1), ("ZZZZ", 20, 10),
                                                 ("NVDA", 190, 200), ("C", 60, 60)])
            mongo.insert(DB, "recommendations", doc)
            self.wait_watcher(s, 1, POLL_WAIT)
            self.assertEqual(self.open_identities(mongo), [("AAPL", T1)])
            log = s.stderr_text()
            self.assertIn("recommendations[1].symbol: 'ZZZZ' is not a tracked ticker", log)
            self.assertIn("recommendations[2].targetPrice: must be greater than currentPrice", log)
            self.assertIn("recommendations[3].targetPrice: must be greater than currentPrice", log)
            self.assertIn("skipped", log)
            status, _, recs = s.get("/api/recommendations")
            self.assertEqual([r["symbol"] for r in recs["results"]], ["AAPL"])
            # A malformed document is skipped whole, and the watcher goes on.
            mongo.insert(DB, "recommendations", {"sg-date": "x", "recommendations": "none"})
            mongo.insert(DB, "recommendations", dict(D2))
            self.wait_open(mongo, s, [("AAPL", T1), ("C", T2)], POLL_WAIT,
                           f"{mode}: the document after a malformed one opened")
            self.assertGreaterEqual(s.readyz()["watcher"]["skipped"], 1)
            self.assertIn("document skipped", s.stderr_text())
        self.each_mode(body)


def error_lines(log):
    return [line for line in log.splitlines()
            if re.match(r"\S+ error ", line) or line.startswith("quantcrunch: error")]


def warn_lines(log):
    return [line for line in log.splitlines() if re.match(r"\S+ warn ", line)]


class CrashTest(MongoServerCase):
    """SPEC §6.3 on MongoDB: SIGKILL mid-replay, restart, run to the end;
    /api/performance equals an uninterrupted run on a fresh stand-in."""

    SEED = 20210713
    N_BARS = 30_000
    N_DOCS = 30
    RATE = 12_000

    @classmethod
    def setUpClass(cls):
        cls.market = h.SyntheticMarket(seed=cls.SEED, n_bars=cls.N_BARS, n_docs=cls.N_DOCS)

    def load_documents(self, mongo, data_dir):
        s = self.serve(mongo, data_dir)
        h.post_all(self, s, self.market.docs)
        self.assertEqual(s.readyz()["documents"], self.N_DOCS)
        self.assertEqual(s.stop(), 0, s.stderr_text())

    def kill_when(self, server, low, high):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not server.alive():
                self.fail(f"server died during the replay\n{server.stderr_text()}")
            ready = server.readyz()
            if ready["feed"].get("exhausted"):
                return None
            p = ready["feed"]["bars_applied"] / self.N_BARS
            if p >= low:
                server.kill()
                self.assertEqual(server.returncode, -9)
                if p > high:
                    self.fail(f"first progress seen at or above {low:.0%} was {p:.0%}")
                return p
            time.sleep(0.01)
        self.fail(f"the replay did not reach {low:.0%} within 60 s")

    def crash_run(self, replica_set):
        tmp = self.make_temp_dir("qc-mongo-crash-")
        feed = "replay:" + h.write_text(os.path.join(tmp, "bars.jsonl"), self.market.bars_jsonl())

        mongo_a = self.standin(replica_set)
        dir_a = os.path.join(tmp, "a")
        self.load_documents(mongo_a, dir_a)
        a = self.serve(mongo_a, dir_a, feed=feed, replay_rate=self.RATE)
        ready_a = a.wait_exhausted(90)
        status, _, perf_a = a.get_raw("/api/performance")
        self.assertEqual(status, 200)
        self.assertEqual(a.stop(), 0, a.stderr_text())
        parsed_a = json.loads(perf_a)
        closed_a = sum(len(m["positions"]) for m in parsed_a["performance"])
        self.assertGreater(closed_a, 10, "run A closed too few positions to test anything")
        self.assertGreater(ready_a["positions"]["open"], 0)

        mongo_b = self.standin(replica_set)
        dir_b = os.path.join(tmp, "b")
        self.load_documents(mongo_b, dir_b)
        b1 = self.serve(mongo_b, dir_b, feed=feed, replay_rate=self.RATE)
        first = self.kill_when(b1, 0.30, 0.85)
        self.assertIsNotNone(first, "the replay ended before the kill")
        b2 = self.serve(mongo_b, dir_b, feed=feed, replay_rate=self.RATE)
        ready_b = b2.wait_exhausted(90)
        status, _, perf_b = b2.get_raw("/api/performance")
        self.assertEqual(status, 200)
        self.assertEqual(b2.stop(), 0, b2.stderr_text())
        sys.stderr.write(f"\n  [{'rs0' if replica_set else 'standalone'}] SIGKILL at "
                         f"{first:.0%} of the bars applied; {closed_a} positions closed, "
                         f"{ready_a['positions']['open']} open\n")

        parsed_b = json.loads(perf_b)
        self.assertTrue(parsed_b["performance"], "run B closed nothing")
        self.assertEqual(parsed_b, parsed_a)
        self.assertEqual(perf_b, perf_a, "same JSON value, different bytes")
        self.assertEqual(ready_b["positions"], ready_a["positions"])
        self.assertEqual(ready_b["documents"], self.N_DOCS)
        # The MongoDB documents agree too (month sums, one entry per position).
        months_a = {m["month"]: (len(m["positions"]), m["realized_pnl"])
                    for m in mongo_a.find(DB, "performance")}
        months_b = {m["month"]: (len(m["positions"]), m["realized_pnl"])
                    for m in mongo_b.find(DB, "performance")}
        self.assertEqual(months_b.keys(), months_a.keys())
        for month, (n, pnl) in months_a.items():
            self.assertEqual(months_b[month][0], n, f"month {month}")
            self.assertAlmostEqual(months_b[month][1], pnl, places=9, msg=f"month {month}")

    def test_sigkill_mid_replay_replica_set(self):
        self.crash_run(RS)

    def test_sigkill_mid_replay_standalone(self):
        self.crash_run(STANDALONE)


@unittest.skipIf(_SKIP_REASON is not None, _SKIP_REASON or "")
class UnreachableTest(h.ServerTestCase):
    def run_server(self, uri, timeout=60):
        data_dir = os.path.join(self.make_temp_dir(), "data")
        cmd = [h.qc_bin(), "serve", "--host", "127.0.0.1", "--port", str(h.free_port()),
               "--data-dir", data_dir, "--feed", "none"]
        started = time.monotonic()
        proc = subprocess.run(cmd, env=h.clean_env({"MONGO_ATLAS_URI": uri}), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=self.make_temp_dir())
        return proc, time.monotonic() - started, data_dir

    def test_unreachable_mongodb_exits_non_zero_without_the_password(self):
        proc, took, data_dir = self.run_server("mongodb://user:s3cretpw@127.0.0.1:1/")
        log = proc.stderr + proc.stdout
        self.assertEqual(proc.returncode, 1, log)
        self.assertEqual(len(error_lines(log)), 1, log)
        self.assertNotIn("s3cretpw", log)
        self.assertIn("database", log)
        self.assertIn("user:***@127.0.0.1:1", log, "the error names the (redacted) server")
        self.assertNotIn("SQLite", log, "fell back to SQLite")
        self.assertFalse(os.path.exists(data_dir) and any(
            f.endswith(".sqlite3") for f in os.listdir(data_dir)), "an SQLite file was created")
        self.assertLess(took, 45)

    def test_rejected_credentials_exit_non_zero_without_the_password(self):
        # The stand-in has no authentication: SCRAM fails on a reachable server.
        mongo = MongoStandIn(replica_set=None).start()
        self.addCleanup(mongo.stop)
        proc, _, _ = self.run_server(f"mongodb://user:s3cretpw@{mongo.address}/?directConnection=true"
                                     f"&serverSelectionTimeoutMS=3000")
        log = proc.stderr + proc.stdout
        self.assertNotEqual(proc.returncode, 0, log)
        self.assertNotIn("s3cretpw", log)
        self.assertIn("database", log)
        self.assertNotIn("SQLite", log)


if __name__ == "__main__":
    unittest.main()
