"""SPEC §4.7 GET /api/trades and §4.8 GET /api/stats over a real server: the
hand-made ClosingScenario (AAPL target, AMZN stop, NVDA gap up; C open)."""

import json
import math
import os
import subprocess
import sys
import unittest

import qc_harness as h

TOKEN = "test-token-trades"
CLOSED_KEYS = ["symbol", "target_price", "entry_price", "open_timestamp", "stop_loss", "pnl",
               "notes", "close_timestamp", "exit_price"]


class ScenarioServer(h.ServerTestCase):
    """A server on which the scenario was replayed (one per test: tests never share state)."""

    sc = h.ClosingScenario()

    def setUp(self):
        self.server = self.start_server(token=TOKEN)
        for d in self.sc.docs:
            self.assertEqual(self.server.post_document(d)[0], 201)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), self.sc.bars)
        self.server = self.restart(self.server, feed="replay:" + bars)
        self.server.wait_exhausted(30)
        perf = self.server.get("/api/performance")[2]["performance"]
        self.closed = [p for m in perf for p in m["positions"]]  # §4.3 order
        self.assertEqual([p["symbol"] for p in self.closed], ["AAPL", "AMZN", "NVDA"])

    def get(self, path):
        status, _, body = self.server.get(path)
        return status, body


class TradesTest(ScenarioServer):
    def trades(self, query=""):
        status, body = self.get("/api/trades" + query)
        self.assertEqual(status, 200, body)
        self.assertEqual(list(body.keys()), ["trades", "next_cursor"])
        return body

    def test_all_trades_newest_first_in_the_performance_shape(self):
        body = self.trades()
        self.assertEqual(body["trades"], list(reversed(self.closed)))
        self.assertEqual(list(body["trades"][0].keys()), CLOSED_KEYS)
        self.assertIsNone(body["next_cursor"])

    def test_pages_of_one_walk_every_trade_once_in_order(self):
        got, cursor, pages = [], None, 0
        while True:
            body = self.trades("?limit=1" + (f"&cursor={cursor}" if cursor else ""))
            got += body["trades"]
            cursor = body["next_cursor"]
            pages += 1
            if cursor is None:
                break
            self.assertLess(pages, 10, "pagination does not end")
        self.assertEqual(got, list(reversed(self.closed)))

    def test_filters(self):
        sc = self.sc
        cases = {
            "?symbol=AAPL": ["AAPL"],
            "?notes=stop": ["AMZN"],
            "?notes=target": ["NVDA", "AAPL"],
            f"?from={sc.ts1 + 61}&to={sc.ts2 + 120}": ["NVDA", "AMZN"],
            f"?from={sc.ts1 + 60}&to={sc.ts1 + 60}": ["AAPL"],  # both bounds inclusive
            "?symbol=C": [],  # still open
            f"?symbol=AMZN&notes=target": [],
        }
        for query, symbols in cases.items():
            with self.subTest(query=query):
                self.assertEqual([t["symbol"] for t in self.trades(query)["trades"]], symbols)

    def test_bad_parameters_are_422_with_detail(self):
        for query in ["?limit=0", "?limit=1001", "?limit=x", "?notes=maybe", "?from=abc",
                      "?to=1e999", "?symbol=ZZZZ", "?cursor=garbage", "?cursor=",
                      f"?from={self.sc.ts2}&to={self.sc.ts1}"]:
            with self.subTest(query=query):
                status, body = self.get("/api/trades" + query)
                self.assertEqual(status, 422, body)
                self.assertIsInstance(body.get("detail"), str)

    def test_a_cursor_continues_after_a_restart_and_new_closes(self):
        first = self.trades("?limit=1")
        self.assertEqual(first["trades"][0]["symbol"], "NVDA")
        # A newer close arrives (C at its target) and the server restarts.
        t = self.sc.ts2 * 1000 + 600_000
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "more.jsonl"),
                                  [h.am_bar("C", t, 69.0, 71.0, 68.9, 70.5)])
        self.server = self.restart(self.server, feed="replay:" + bars)
        self.server.wait_exhausted(30)
        rest = self.trades(f"?limit=10&cursor={first['next_cursor']}")
        self.assertEqual([x["symbol"] for x in rest["trades"]], ["AMZN", "AAPL"])
        self.assertEqual(self.trades("?limit=1")["trades"][0]["symbol"], "C")


class StatsTest(ScenarioServer):
    def stats(self, query=""):
        status, body = self.get("/api/stats" + query)
        self.assertEqual(status, 200, body)
        return body

    def test_document_keys_in_spec_order(self):
        self.assertEqual(list(self.stats().keys()),
                         ["closed", "by_symbol", "by_exit", "daily", "weekly", "monthly", "equity", "open"])

    def test_closed_figures_of_the_scenario(self):
        p = [c["pnl"] for c in self.closed]  # AAPL +, AMZN -10 %, NVDA +
        c = self.stats()["closed"]
        self.assertEqual((c["count"], c["wins"], c["losses"], c["breakeven"]), (3, 2, 1, 0))
        self.assertEqual(c["win_rate"], 2 / 3)
        self.assertEqual(c["total_pnl"], p[0] + p[1] + p[2])
        self.assertEqual(c["median_pnl"], p[0])  # AAPL's is the middle one
        self.assertEqual(c["avg_loss"], p[1])
        self.assertEqual(c["profit_factor"], (p[0] + p[2]) / -p[1])
        self.assertEqual(c["best"], {"symbol": "NVDA", "open_timestamp": self.sc.ts2, "pnl": p[2]})
        self.assertEqual(c["worst"], {"symbol": "AMZN", "open_timestamp": self.sc.ts1, "pnl": p[1]})
        dd = c["max_drawdown"]
        self.assertAlmostEqual(dd["pnl"], -p[1], places=12)  # the fall from AAPL's peak
        self.assertEqual((dd["peak_time"], dd["trough_time"]), (self.sc.ts1 + 60, self.sc.ts1 + 180))

    def test_equity_one_point_per_close_and_monthly_matches_performance(self):
        s = self.stats()
        p = [c["pnl"] for c in self.closed]
        self.assertEqual(s["equity"], [[self.sc.ts1 + 60, p[0]], [self.sc.ts1 + 180, p[0] + p[1]],
                                       [self.sc.ts2 + 120, p[0] + p[1] + p[2]]])
        perf = self.server.get("/api/performance")[2]["performance"]
        self.assertEqual([(m["month"], m["pnl"]) for m in s["monthly"]],
                         [(m["month"], m["realized_pnl"]) for m in perf])

    def test_open_part_is_the_priced_open_positions(self):
        o = self.stats()["open"]
        self.assertEqual(o["count"], 1)
        self.assertAlmostEqual(o["unrealized_pnl"], (68.7 - 68.0) / 68.0 * 100, places=12)

    def test_symbol_filters_closed_and_open(self):
        s = self.stats("?symbol=C")
        self.assertEqual(s["closed"]["count"], 0)
        self.assertIsNone(s["closed"]["win_rate"])
        self.assertEqual(s["open"]["count"], 1)
        s = self.stats("?symbol=AAPL")
        self.assertEqual((s["closed"]["count"], s["open"]["count"]), (1, 0))

    def test_window_starts_the_curve_at_zero_and_leaves_open_alone(self):
        s = self.stats(f"?from={self.sc.ts2}")
        nvda = self.closed[2]["pnl"]
        self.assertEqual(s["closed"]["count"], 1)
        self.assertEqual(s["equity"], [[self.sc.ts2 + 120, nvda]])
        self.assertEqual(s["open"]["count"], 1)

    def test_filtered_and_unfiltered_agree_on_the_whole_set(self):
        self.assertEqual(self.stats(f"?from=0&to={self.sc.ts2 + 10**6}"), self.stats())

    def stats_cache(self, result):
        status, _, body = self.server.get_raw("/metrics")
        self.assertEqual(status, 200)
        prefix = f'qc_cache_requests_total{{cache="stats",result="{result}"}} '
        line = [l for l in body.decode().splitlines() if l.startswith(prefix)]
        self.assertEqual(len(line), 1, body)
        return float(line[0][len(prefix):])

    def test_a_filter_asked_again_is_answered_from_kept_statistics(self):
        hits, misses = self.stats_cache("hit"), self.stats_cache("miss")
        first = self.server.get_raw("/api/stats?symbol=AAPL&from=0")[2]
        self.assertEqual((self.stats_cache("hit"), self.stats_cache("miss")), (hits, misses + 1))
        again = self.server.get_raw("/api/stats?symbol=AAPL&from=0")[2]
        self.assertEqual(again, first)
        self.assertEqual((self.stats_cache("hit"), self.stats_cache("miss")), (hits + 1, misses + 1))

    def test_bad_filters_are_422(self):
        for query in ["?symbol=ZZZZ", "?from=x", f"?from={self.sc.ts2}&to={self.sc.ts1}"]:
            with self.subTest(query=query):
                status, body = self.get("/api/stats" + query)
                self.assertEqual(status, 422, body)


class StatsEquityParameterTest(ScenarioServer):
    """SPEC §4.8 as amended (docs/decisions.md "The equity curve of /api/stats"):
    equity absent (at most 10,000 points), full, none."""

    def raw(self, query):
        status, _, body = self.server.get_raw("/api/stats" + query)
        self.assertEqual(status, 200, body)
        return body

    def test_default_is_byte_identical_to_full_with_few_trades(self):
        self.assertEqual(self.raw(""), self.raw("?equity=full"))
        self.assertEqual(len(json.loads(self.raw(""))["equity"]), 3)

    def test_none_gives_an_empty_curve_and_the_same_other_fields(self):
        full, none = json.loads(self.raw("")), json.loads(self.raw("?equity=none"))
        self.assertEqual(none["equity"], [])
        self.assertEqual(list(none.keys()), list(full.keys()))
        self.assertEqual({k: v for k, v in none.items() if k != "equity"},
                         {k: v for k, v in full.items() if k != "equity"})

    def test_other_values_are_422_and_change_nothing(self):
        before = self.raw("")
        for query in ["?equity=bogus", "?equity=", "?equity=FULL", "?equity=reduced",
                      "?symbol=AAPL&equity=bogus", "?equity=bogus&from=0"]:
            with self.subTest(query=query):
                status, body = self.get("/api/stats" + query)
                self.assertEqual(status, 422, body)
                self.assertIn("full", body["detail"])
                self.assertIn("none", body["detail"])
                self.assertEqual(body["problems"][0]["loc"], ["query", "equity"])
        self.assertEqual(self.raw(""), before)

    def test_combines_with_filters(self):
        self.assertEqual(self.raw("?symbol=AAPL&equity=full"), self.raw("?symbol=AAPL"))
        aapl = json.loads(self.raw("?equity=full&symbol=AAPL"))
        self.assertEqual(aapl["equity"], [[self.sc.ts1 + 60, self.closed[0]["pnl"]]])
        windowed = json.loads(self.raw(f"?from={self.sc.ts2}"))
        none = json.loads(self.raw(f"?from={self.sc.ts2}&equity=none"))
        self.assertEqual(none["equity"], [])
        self.assertEqual(none["closed"], windowed["closed"])
        self.assertEqual(len(windowed["equity"]), 1)


def reduce_curve(curve, cap=10_000):
    """The rule of src/core/equity_curve.h, written again from its comment."""
    n = len(curve)
    if n <= cap:
        return list(curve)
    b = 2
    while 2 * math.ceil(n / b) + 3 > cap:
        b *= 2
    kept = set()
    for start in range(0, n, b):
        bucket = range(start, min(start + b, n))
        kept.add(min(bucket, key=lambda i: (curve[i][1], i)))
        kept.add(min(bucket, key=lambda i: (-curve[i][1], i)))
    kept.add(n - 1)
    peak, peak_i, worst = 0, None, (0, None, None)
    for i, (_, v) in enumerate(curve):
        if v > peak:
            peak, peak_i = v, i
        elif peak - v > worst[0]:
            worst = (peak - v, peak_i, i)
    kept.update(i for i in worst[1:] if i is not None)
    return [curve[i] for i in sorted(kept)]


class ReducedEquityTest(h.ServerTestCase):
    """More than 10,000 closed trades (seeded into the SQLite store by
    bench/seed_history.py): the default curve is reduced."""

    CLOSED = 20_000

    def test_default_curve_is_reduced_and_keeps_the_drawdown(self):
        s = self.start_server(token=TOKEN)
        data_dir = s.data_dir
        self.assertEqual(s.stop(), 0)
        seed = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "seed_history.py")
        subprocess.run([sys.executable, seed, data_dir, "--closed", str(self.CLOSED), "--open", "5"],
                       check=True, capture_output=True, timeout=120)
        s = self.start_server(data_dir, token=TOKEN)
        full = json.loads(s.get_raw("/api/stats?equity=full")[2])
        default_raw = s.get_raw("/api/stats")[2]
        default = json.loads(default_raw)
        self.assertEqual(full["closed"]["count"], self.CLOSED)
        self.assertEqual(len(full["equity"]), self.CLOSED)
        self.assertLessEqual(len(default["equity"]), 10_000)
        self.assertGreater(len(default["equity"]), 1000)
        self.assertEqual(default["equity"], reduce_curve(full["equity"]))
        self.assertEqual({k: v for k, v in default.items() if k != "equity"},
                         {k: v for k, v in full.items() if k != "equity"})
        # The max drawdown's peak and trough are points of the reduced curve.
        dd = full["closed"]["max_drawdown"]
        self.assertGreater(dd["pnl"], 0)
        times = [t for t, _ in default["equity"]]
        self.assertIn(dd["trough_time"], times)
        if dd["peak_time"] is not None:
            self.assertIn(dd["peak_time"], times)
        self.assertEqual(default["equity"][-1], full["equity"][-1])
        # A window holding every trade is served by a scan, with the same rule.
        self.assertEqual(s.get_raw("/api/stats?from=0")[2], default_raw)
        self.assertEqual(s.get_raw("/api/stats?from=0&equity=full")[2], s.get_raw("/api/stats?equity=full")[2])
        self.assertEqual(json.loads(s.get_raw("/api/stats?equity=none")[2])["equity"], [])


class EmptyStatsTest(h.ServerTestCase):
    def test_no_trades_gives_zero_counts_and_null_ratios(self):
        s = self.start_server(token=TOKEN)
        status, _, body = s.get("/api/stats")
        self.assertEqual(status, 200)
        c = body["closed"]
        self.assertEqual((c["count"], c["total_pnl"]), (0, 0))
        for k in ("win_rate", "avg_pnl", "median_pnl", "profit_factor", "best", "worst",
                  "avg_hold_seconds"):
            self.assertIsNone(c[k], k)
        self.assertEqual(c["max_drawdown"], {"pnl": 0, "peak_time": None, "trough_time": None})
        self.assertEqual(body["equity"], [])
        self.assertEqual(body["open"], {"count": 0, "unrealized_pnl": 0})
        status, _, body = s.get("/api/trades")
        self.assertEqual(body, {"trades": [], "next_cursor": None})


if __name__ == "__main__":
    unittest.main()
