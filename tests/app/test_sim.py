"""The embedded default: a simulated market with demo recommendations, clearly
labelled as simulated (SPEC §2, §4.1; docs/decisions.md "/readyz")."""

import time
import unittest

import qc_harness as h

DEADLINE = 60.0


class SimTest(h.ServerTestCase):
    def test_sim_feed_fills_all_three_endpoints_and_is_labelled_simulated(self):
        s = self.start_server(feed="sim", extra_args=["--sim-step-ms", "5"])

        ready = s.readyz()
        self.assertEqual(ready["feed"]["kind"], "sim")
        self.assertIs(ready["feed"]["simulated"], True)
        self.assertTrue(any("SIMULATED" in line for line in s.stderr_text().splitlines()),
                        f"no startup log line says SIMULATED:\n{s.stderr_text()}")

        status, _, tickers = s.get("/api/tickerlist")
        self.assertEqual(status, 200)
        self.assertEqual([t["symbol"] for t in tickers["tickerlist"]], h.DEFAULT_SYMBOLS)

        seen = {}

        def all_filled():
            if not s.alive():
                self.fail(f"server exited\n{s.stderr_text()}")
            seen["recommendations"] = s.get("/api/recommendations")[2]["results"]
            seen["performance"] = s.get("/api/performance")[2]["performance"]
            return seen["recommendations"] and seen["performance"]

        started = time.monotonic()
        try:
            h.wait_until(all_filled, DEADLINE, "recommendations and performance non-empty",
                         interval=0.1)
        except AssertionError as e:
            self.fail(f"{e}; last seen: {len(seen.get('recommendations') or [])} "
                      f"recommendations, {len(seen.get('performance') or [])} months; "
                      f"/readyz {s.readyz()}")
        took = time.monotonic() - started
        self.assertLess(took, DEADLINE)

        status, _, tickers = s.get("/api/tickerlist")
        self.assertEqual(status, 200)
        self.assertEqual(len(tickers["tickerlist"]), 11)
        positions = [p for m in seen["performance"] for p in m["positions"]]
        self.assertTrue(positions)
        for p in positions:
            self.assertIn(p["notes"], ("Reached target price", "Reached stop loss"))
        self.assertIs(s.readyz()["feed"]["simulated"], True)
        self.assertEqual(s.stop(), 0, s.stderr_text())

    def test_sim_replays_the_past_up_to_the_wall_clock_and_never_beyond(self):
        # SPEC §4.10: a few days replayed at speed, then real time; nothing
        # is dated after the wall clock, and the market status is the
        # simulated market's own.
        s = self.start_server(feed="sim", extra_args=["--sim-step-ms", "1",
                                                      "--sim-replay-days", "7"])
        h.wait_until(lambda: s.readyz()["feed"]["replaying"] is False, DEADLINE,
                     "the replay of 7 days did not finish")
        now = time.time()
        feed = s.readyz()["feed"]
        self.assertGreater(feed["bars_generated"], 0)
        self.assertGreater(feed["demo_documents"], 0)
        self.assertLessEqual(feed["simulated_time"] + 60, now + 1)
        self.assertGreater(feed["simulated_time"], now - 8 * 86400)

        _, _, recs = s.get("/api/recommendations?limit=1000")
        self.assertTrue(recs["results"])
        self.assertLessEqual(max(r["open_timestamp"] for r in recs["results"]), now + 1)
        self.assertGreaterEqual(min(r["open_timestamp"] for r in recs["results"]), now - 8 * 86400)
        _, _, perf = s.get("/api/performance")
        for p in (p for m in perf["performance"] for p in m["positions"]):
            self.assertLessEqual(p["close_timestamp"], now + 1)
            self.assertIn(p["notes"], ("Reached target price", "Reached stop loss"))
            if p["notes"] == "Reached stop loss":
                self.assertLess(p["pnl"], 0)
            else:
                self.assertGreater(p["pnl"], 0)

        status, _, market = s.get("/api/marketstatus")
        self.assertEqual(status, 200, market)
        self.assertIs(market["simulated"], True)
        self.assertIn(market["market"], ("open", "closed"))
        self.assertEqual(market["exchanges"]["nyse"], market["market"])
        self.assertIs(market["market"] == "open", feed["market_open"])
        if market["market"] == "closed":
            _, _, tickers = s.get("/api/tickerlist")
            for t in tickers["tickerlist"]:
                self.assertEqual((t["change"], t["change_perc"]), (0, 0), t)
        self.assertEqual(s.stop(), 0, s.stderr_text())


if __name__ == "__main__":
    unittest.main()
