"""Compressed answers (issue 9 "big answers", docs/decisions.md "Compressed
views"): published views go out gzip-encoded to a client that accepts gzip,
the same bytes once decompressed, and plain to every other client."""

import gzip
import json
import os
import subprocess
import sys
import time
import unittest
import zlib

import qc_harness as h

TOKEN = "test-token-123"


class CompressionTest(h.ServerTestCase):
    def closed_server(self):
        sc = h.ClosingScenario()
        s = self.start_server(token=TOKEN)
        for d in sc.docs:
            self.assertEqual(s.post_document(d)[0], 201)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), sc.bars)
        s = self.restart(s, feed="replay:" + bars)
        s.wait_exhausted(30)
        return s

    def seeded_server(self, closed):
        """A server on a store seeded by bench/seed_history.py with `closed`
        closed positions (and 5 open ones)."""
        data = os.path.join(self.make_temp_dir(), "data")
        seeder = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "seed_history.py")
        subprocess.run([sys.executable, seeder, data, "--closed", str(closed), "--open", "5",
                        "--create", h.qc_bin()], check=True, capture_output=True, timeout=120,
                       env=h.clean_env())
        return self.start_server(data_dir=data)

    def get_both(self, s, path):
        """(plain answer, gzip answer) of `path`; waits (bounded) for the gzip
        form, which big parts get from a background thread."""
        status, plain_headers, plain = s.get_raw(path, headers={"Accept-Encoding": "identity"})
        self.assertEqual(status, 200)
        deadline = time.monotonic() + 10
        while True:
            status, gz_headers, gz = s.get_raw(path, headers={"Accept-Encoding": "gzip, deflate, br"})
            self.assertEqual(status, 200)
            if gz_headers.get("Content-Encoding") == "gzip" or time.monotonic() > deadline:
                return (plain_headers, plain), (gz_headers, gz)
            time.sleep(0.05)

    def test_every_view_decompresses_to_exactly_the_plain_body(self):
        s = self.closed_server()
        for path in ["/api/performance", "/api/stats", "/api/positions", "/api/tickerlist",
                     "/api/recommendations"]:
            with self.subTest(path=path):
                (ph, plain), (gh, gz) = self.get_both(s, path)
                self.assertIsNone(ph.get("Content-Encoding"))
                if len(plain) < 512:
                    # Too small to be worth it: sent plain either way.
                    self.assertIsNone(gh.get("Content-Encoding"))
                    self.assertEqual(gz, plain)
                    continue
                self.assertEqual(gh.get("Content-Encoding"), "gzip")
                self.assertEqual(int(gh["Content-Length"]), len(gz))
                self.assertLess(len(gz), len(plain))
                self.assertEqual(gzip.decompress(gz), plain)
                # One gzip member that zlib (what browsers use) reads to its end.
                d = zlib.decompressobj(wbits=31)
                self.assertEqual(d.decompress(gz) + d.flush(), plain)
                self.assertTrue(d.eof)
                self.assertEqual(d.unused_data, b"")

    def test_views_say_they_vary_by_accept_encoding(self):
        s = self.closed_server()
        (ph, _), (gh, _) = self.get_both(s, "/api/performance")
        for headers in (ph, gh):
            self.assertIn("Accept-Encoding", headers.get("Vary") or "")

    def test_a_refused_gzip_is_not_sent(self):
        s = self.closed_server()
        self.get_both(s, "/api/performance")  # the gzip form exists by now
        for value in ["gzip;q=0", "identity", "br", "*;q=0", "gzip;q=zero"]:
            with self.subTest(accept_encoding=value):
                status, headers, _ = s.get_raw("/api/performance", headers={"Accept-Encoding": value})
                self.assertEqual(status, 200)
                self.assertIsNone(headers.get("Content-Encoding"))

    def test_head_announces_the_length_of_the_encoding_a_get_would_send(self):
        s = self.closed_server()
        _, (gh, gz) = self.get_both(s, "/api/performance")
        self.assertEqual(gh.get("Content-Encoding"), "gzip")
        status, headers, body = s.request_raw("HEAD", "/api/performance",
                                               headers={"Accept-Encoding": "gzip"})
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertEqual(headers.get("Content-Encoding"), "gzip")
        self.assertEqual(int(headers["Content-Length"]), len(gz))

    def test_a_kept_filtered_statistic_goes_out_gzip_and_reads_as_the_plain_answer(self):
        # from=0 is a filter (a scan, then kept and compressed once) over every
        # trade, so its answer is the unfiltered document, "open" part included.
        s = self.closed_server()
        status, _, unfiltered = s.get_raw("/api/stats", headers={"Accept-Encoding": "identity"})
        self.assertEqual(status, 200)
        (ph, plain), (gh, gz) = self.get_both(s, "/api/stats?from=0")
        self.assertIsNone(ph.get("Content-Encoding"))
        self.assertEqual(plain, unfiltered)
        self.assertGreater(len(plain), 512)
        self.assertEqual(gh.get("Content-Encoding"), "gzip")
        self.assertIn("Accept-Encoding", gh.get("Vary") or "")
        self.assertEqual(int(gh["Content-Length"]), len(gz))
        d = zlib.decompressobj(wbits=31)
        self.assertEqual(d.decompress(gz) + d.flush(), plain)
        self.assertTrue(d.eof)

    def test_a_month_kept_only_compressed_is_sent_whole_to_a_client_without_gzip(self):
        # 3,000 closes in one month: a /api/performance month of ~640 kB, which
        # the server keeps deflated only (docs/decisions.md "Compressed views")
        # and inflates for a client that does not accept gzip.
        s = self.seeded_server(3000)
        (ph, plain), (gh, gz) = self.get_both(s, "/api/performance")
        self.assertEqual(gh.get("Content-Encoding"), "gzip")
        self.assertGreater(len(plain), 256 * 1024)  # more than one piece inflated
        self.assertEqual(int(ph["Content-Length"]), len(plain))
        self.assertEqual(gzip.decompress(gz), plain)
        months = json.loads(plain)["performance"]
        self.assertEqual(sum(len(m["positions"]) for m in months), 3000)
        # Asked again, now that only the deflated form is left: the same bytes.
        status, _, again = s.get_raw("/api/performance", headers={"Accept-Encoding": "identity"})
        self.assertEqual(status, 200)
        self.assertEqual(again, plain)

    def test_the_full_equity_curve_kept_only_compressed_is_sent_whole_to_a_client_without_gzip(self):
        # 20,000 closes: the full curve (equity=full) has two complete blocks
        # of 8,192 points, kept deflated only once compressed; a scan
        # (from=0 holds every trade) renders the same document afresh.
        s = self.seeded_server(20000)
        (ph, plain), (gh, gz) = self.get_both(s, "/api/stats?equity=full")
        self.assertEqual(gh.get("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(gz), plain)
        status, _, again = s.get_raw("/api/stats?equity=full", headers={"Accept-Encoding": "identity"})
        self.assertEqual(status, 200)
        self.assertEqual(again, plain)
        status, _, scanned = s.get_raw("/api/stats?from=0&equity=full")
        self.assertEqual(status, 200)
        self.assertEqual(again, scanned)
        self.assertEqual(len(json.loads(again)["equity"]), 20000)


if __name__ == "__main__":
    unittest.main()
