"""SPEC §4.6: GET /api/positions — open positions marked to market from the
newest bar the engine applied, kept across restarts."""

import os
import unittest

import qc_harness as h

TOKEN = "test-token-positions"
KEYS = ["symbol", "target_price", "entry_price", "open_timestamp", "stop_loss",
        "expected_profit", "last_price", "last_time", "unrealized_pnl"]


class PositionsTest(h.ServerTestCase):
    def positions(self, server):
        status, headers, body = server.get("/api/positions")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
        return body["positions"]

    def replay(self, server, bars):
        path = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), bars)
        server = self.restart(server, feed="replay:" + path)
        server.wait_exhausted(30)
        return server

    def test_no_positions_is_an_empty_list(self):
        s = self.start_server(token=TOKEN)
        self.assertEqual(self.positions(s), [])

    def test_a_new_position_has_the_spec_keys_and_no_price_yet(self):
        s = self.start_server(token=TOKEN)
        ts = h.ny_unix("2021-07-12 10:59:00")
        self.assertEqual(s.post_document(h.make_document(ts, [("AAPL", 150.0, 120.0)]))[0], 201)
        [p] = self.positions(s)
        self.assertEqual(list(p.keys()), KEYS)
        self.assertEqual(p["symbol"], "AAPL")
        self.assertEqual(p["open_timestamp"], ts)
        self.assertEqual(p["entry_price"], 120.0)
        self.assertEqual(p["stop_loss"], 120.0 * 0.9)
        self.assertIsNone(p["last_price"])
        self.assertIsNone(p["last_time"])
        self.assertIsNone(p["unrealized_pnl"])

    def test_order_is_open_time_then_tracked_ticker_order_not_document_order(self):
        s = self.start_server(token=TOKEN)
        later = h.ny_unix("2021-07-13 10:00:00")
        earlier = h.ny_unix("2021-07-12 10:00:00")
        # NVDA before AAPL in the document; AAPL comes first among the tickers.
        self.assertEqual(s.post_document(h.make_document(later, [("NVDA", 300.0, 200.0),
                                                                 ("AAPL", 150.0, 120.0)]))[0], 201)
        self.assertEqual(s.post_document(h.make_document(earlier, [("TLT", 150.0, 140.0)]))[0], 201)
        got = [(p["open_timestamp"], p["symbol"]) for p in self.positions(s)]
        self.assertEqual(got, [(earlier, "TLT"), (later, "AAPL"), (later, "NVDA")])

    def test_marked_with_the_newest_bar_and_kept_across_a_restart(self):
        s = self.start_server(token=TOKEN)
        ts = h.ny_unix("2021-07-12 10:59:00")
        self.assertEqual(s.post_document(h.make_document(ts, [("C", 70.0, 68.0)]))[0], 201)
        t = ts * 1000
        s = self.replay(s, [h.am_bar("C", t, 68.1, 68.5, 67.9, 68.2),
                            h.am_bar("C", t + 60_000, 68.3, 69.0, 68.2, 68.7)])
        [p] = self.positions(s)
        self.assertEqual(p["last_price"], 68.7)
        self.assertEqual(p["last_time"], ts + 120)
        self.assertAlmostEqual(p["unrealized_pnl"], (68.7 - 68.0) / 68.0 * 100, places=12)
        s = self.restart(s, feed="none")
        self.assertEqual(self.positions(s), [p])

    def test_a_bar_that_started_before_the_open_does_not_price_it(self):
        s = self.start_server(token=TOKEN)
        ts = h.ny_unix("2021-07-12 10:59:00")
        self.assertEqual(s.post_document(h.make_document(ts, [("C", 70.0, 68.0)]))[0], 201)
        s = self.replay(s, [h.am_bar("C", ts * 1000 - 60_000, 68.1, 68.5, 67.9, 68.2)])
        [p] = self.positions(s)
        self.assertIsNone(p["last_price"])

    def test_a_closed_position_leaves_the_list(self):
        sc = h.ClosingScenario()
        s = self.start_server(token=TOKEN)
        for d in sc.docs:
            self.assertEqual(s.post_document(d)[0], 201)
        self.assertEqual(len(self.positions(s)), 4)
        s = self.replay(s, sc.bars)
        self.assertEqual([p["symbol"] for p in self.positions(s)], ["C"])

    def test_head_has_no_body_and_post_is_405(self):
        s = self.start_server(token=TOKEN)
        status, _, body = s.request_raw("HEAD", "/api/positions")
        self.assertEqual((status, body), (200, b""))
        status, headers, _ = s.request("POST", "/api/positions", body=b"{}")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers.get("Allow", ""))


if __name__ == "__main__":
    unittest.main()
