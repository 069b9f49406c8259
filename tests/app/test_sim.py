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


if __name__ == "__main__":
    unittest.main()
