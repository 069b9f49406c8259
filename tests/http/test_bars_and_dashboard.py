"""GET /api/bars/{symbol} (the recent bars the feed applied, for the
dashboard's chart in embedded mode) and GET / with its assets (SPEC §4.10),
served from local files."""

import os
import re
import unittest

import qc_harness as h

TOKEN = "bars-token"
ASSETS = {
    "/web/dashboard.css": "text/css",
    "/web/format.js": "application/javascript",
    "/web/performance.js": "application/javascript",
    "/web/dashboard.js": "application/javascript",
    "/web/lightweight-charts.standalone.production.js": "application/javascript",
}


class RecentBarsTest(h.ServerTestCase):
    def replayed(self):
        sc = h.ClosingScenario()
        s = self.start_server(token=TOKEN)
        h.post_all(self, s, sc.docs)
        path = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), sc.bars)
        s = self.restart(s, feed="replay:" + path)
        s.wait_exhausted(30)
        return sc, s

    def test_the_bars_applied_per_symbol_oldest_first(self):
        sc, s = self.replayed()
        status, headers, body = s.get("/api/bars/AAPL")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("application/json"))
        expected = [{"start": b["s"] / 1000, "end": b["e"] / 1000, "open": b["o"], "high": b["h"],
                     "low": b["l"], "close": b["c"], "volume": b["v"]}
                    for b in sc.bars if b["sym"] == "AAPL"]
        self.assertEqual(len(expected), 2)
        self.assertEqual(body, {"symbol": "AAPL", "bars": expected})
        # limit: the newest ones.
        status, _, body = s.get("/api/bars/AAPL?limit=1")
        self.assertEqual((status, body["bars"]), (200, expected[-1:]))
        # A tracked ticker the feed sent nothing for.
        status, _, body = s.get("/api/bars/BLK")
        self.assertEqual((status, body), (200, {"symbol": "BLK", "bars": []}))

    def test_a_bar_replayed_again_is_not_kept_twice(self):
        sc, s = self.replayed()
        path = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "again.jsonl"),
                                  sc.bars + [h.am_bar("C", (sc.ts2 + 600) * 1000, 68, 69, 67.5, 68.4)])
        s = self.restart(s, feed="replay:" + path)
        s.wait_exhausted(30)
        # After a restart the ring starts empty; the old bars are stale for
        # the engine (SPEC §6.3), so only the new C bar is applied and kept.
        _, _, aapl = s.get("/api/bars/AAPL")
        self.assertEqual(aapl["bars"], [])
        _, _, c = s.get("/api/bars/C")
        self.assertEqual([b["start"] for b in c["bars"]], [sc.ts2 + 600])

    def test_bad_requests(self):
        s = self.start_server()
        status, _, body = s.get("/api/bars/ZZZZ")
        self.assertEqual(status, 404)
        self.assertEqual(body, {"detail": "'ZZZZ' is not a tracked ticker"})
        status, _, body = s.get("/api/bars/")
        self.assertEqual(status, 404, body)
        for bad in ("0", "1001", "x", "", "1.5"):
            with self.subTest(limit=bad):
                status, _, body = s.get(f"/api/bars/AAPL?limit={bad}")
                self.assertEqual(status, 422, body)
                self.assertEqual(body["problems"][0]["loc"], ["query", "limit"])
                self.assertIn("limit must be an integer from 1 to 1000", body["detail"])
        status, headers, _ = s.request("POST", "/api/bars/AAPL", body=b"", headers={})
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET, HEAD, OPTIONS")


class DashboardFilesTest(h.ServerTestCase):
    def test_root_serves_the_dashboard_and_its_assets_from_local_files(self):
        s = self.start_server()
        status, headers, raw = s.get_raw("/")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        page = raw.decode()
        # Every script and style the page loads is one of ours, on this server.
        loaded = re.findall(r'(?:src|href)="([^"]+)"', page)
        for url in loaded:
            self.assertFalse(re.match(r"^(https?:)?//", url), f"the page loads {url} from elsewhere")
        for path, kind in ASSETS.items():
            with self.subTest(asset=path):
                self.assertIn(path, loaded)
                status, headers, raw = s.get_raw(path)
                self.assertEqual(status, 200)
                self.assertTrue(headers["Content-Type"].startswith(kind), headers["Content-Type"])
                self.assertGreater(len(raw), 500)
        status, _, body = s.get("/web/nothing.js")
        self.assertEqual((status, body), (404, {"detail": "Not Found"}))
        # /metrics counts the dashboard's requests under one route, the bars under theirs.
        self.assertEqual(s.get("/api/bars/AAPL")[0], 200)
        _, _, raw = s.get_raw("/metrics")
        text = raw.decode()
        self.assertIn(f'qc_http_requests_total{{route="/",status="200"}} {1 + len(ASSETS)}', text)
        self.assertIn('qc_http_requests_total{route="/",status="404"} 1', text)
        self.assertIn('qc_http_requests_total{route="/api/bars/{symbol}",status="200"} 1', text)

    def test_without_the_files_root_says_how_to_install_them(self):
        s = self.start_server(docs=False, extra_args=["--docs-dir", self.make_temp_dir()])
        status, _, body = s.get("/")
        self.assertEqual(status, 503)
        self.assertIn("scripts/setup.sh", body["detail"])


if __name__ == "__main__":
    unittest.main()
