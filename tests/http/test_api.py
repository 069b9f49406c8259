"""HTTP API contract (SPEC §4, docs/decisions.md "HTTP" and "/readyz").

Every test starts its own server (about 30 ms) on a free loopback port with a
fresh data dir, so tests never depend on each other's state.
"""

import json
import os
import re
import socket
import time
import unittest

import qc_harness as h

TOKEN = "test-token-123"
AAPL_DOC_TIME = h.ny_unix("2021-07-12 10:59:00")


def doc_at(text, items):
    return h.make_document(h.ny_unix(text), items)


class ApiTestCase(h.ServerTestCase):
    def server(self, **kw):
        kw.setdefault("token", TOKEN)
        return self.start_server(**kw)

    def assert_detail(self, body, status):
        self.assertIsInstance(body, dict, f"{status} body is not a JSON object: {body!r}")
        self.assertIn("detail", body, f"{status} body has no 'detail': {body!r}")
        self.assertIsInstance(body["detail"], str)
        self.assertTrue(body["detail"], "empty detail")

    def assert_json_content_type(self, headers):
        self.assertTrue((headers.get("Content-Type") or "").startswith("application/json"),
                        f"Content-Type is {headers.get('Content-Type')!r}")

    def recommendations(self, server, query=""):
        status, headers, body = server.get("/api/recommendations" + query)
        self.assertEqual(status, 200, body)
        return body["results"]

    def assert_nothing_stored(self, server):
        self.assertEqual(self.recommendations(server), [])
        ready = server.readyz()
        self.assertEqual(ready["documents"], 0, ready)
        self.assertEqual(ready["positions"]["open"], 0, ready)


# ---------------------------------------------------------------------------
# GET /api/tickerlist


class TickerlistTest(ApiTestCase):
    def test_tickerlist_lists_the_11_default_tickers_in_spec_order_with_numeric_changes(self):
        s = self.server()
        status, headers, body = s.get("/api/tickerlist")
        self.assertEqual(status, 200)
        self.assert_json_content_type(headers)
        self.assertEqual(list(body.keys()), ["tickerlist"])
        tl = body["tickerlist"]
        self.assertEqual(len(tl), 11)
        self.assertEqual([(t["symbol"], t["exchange"], t["name"]) for t in tl],
                         h.DEFAULT_TICKERS)
        for t in tl:
            self.assertEqual(set(t.keys()), {"name", "exchange", "symbol", "change", "change_perc"})
            for k in ("change", "change_perc"):
                self.assertIsInstance(t[k], (int, float), f"{t['symbol']}.{k} is not a number")
                self.assertNotIsInstance(t[k], bool)


# ---------------------------------------------------------------------------
# GET /api/recommendations


class RecommendationsTest(ApiTestCase):
    def test_recommendations_item_shape_and_values(self):
        s = self.server()
        status, _, _ = s.post_document(doc_at("2021-07-12 10:59:00", [("AAPL", 150.2, 145.1)]))
        self.assertEqual(status, 201)
        status, headers, body = s.get("/api/recommendations")
        self.assertEqual(status, 200)
        self.assert_json_content_type(headers)
        self.assertEqual(list(body.keys()), ["results"])
        [item] = body["results"]
        self.assertEqual(set(item.keys()), {"symbol", "target_price", "entry_price",
                                            "open_timestamp", "stop_loss", "expected_profit"})
        self.assertEqual(item["symbol"], "AAPL")
        self.assertEqual(item["target_price"], 150.2)
        self.assertEqual(item["entry_price"], 145.1)
        self.assertEqual(item["open_timestamp"], 1626101940)  # 10:59 EDT = 14:59 UTC
        self.assertAlmostEqual(item["stop_loss"], 145.1 * 0.9, places=9)
        self.assertAlmostEqual(item["expected_profit"], (150.2 - 145.1) / 145.1 * 100, places=9)

    def test_recommendations_newest_us_date_first_items_in_document_order(self):
        s = self.server()
        older = doc_at("2021-07-12 10:59:00", [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700)])
        newer = doc_at("2021-07-13 09:45:00", [("NVDA", 200, 190), ("C", 70, 68), ("BX", 90, 85)])
        # Insert the newer one first: order must come from us-date, not insertion.
        for d in (newer, older):
            self.assertEqual(s.post_document(d)[0], 201)
        got = [r["symbol"] for r in self.recommendations(s)]
        self.assertEqual(got, ["NVDA", "C", "BX", "AAPL", "AMZN"])

    def test_recommendations_same_us_date_later_inserted_first(self):
        s = self.server()
        first = doc_at("2021-07-12 10:59:00", [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700)])
        second = doc_at("2021-07-12 10:59:00", [("TLT", 150, 140), ("NOK", 7, 6)])
        newest = doc_at("2021-07-12 11:00:00", [("SHOP", 1600, 1500)])
        for d in (first, second, newest):
            self.assertEqual(s.post_document(d)[0], 201)
        got = [r["symbol"] for r in self.recommendations(s)]
        self.assertEqual(got, ["SHOP", "TLT", "NOK", "AAPL", "AMZN"])

    def test_limit_truncates_across_documents(self):
        s = self.server()
        older = doc_at("2021-07-12 10:59:00", [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700)])
        newer = doc_at("2021-07-13 09:45:00", [("NVDA", 200, 190), ("C", 70, 68)])
        for d in (older, newer):
            self.assertEqual(s.post_document(d)[0], 201)
        self.assertEqual([r["symbol"] for r in self.recommendations(s, "?limit=3")],
                         ["NVDA", "C", "AAPL"])
        self.assertEqual([r["symbol"] for r in self.recommendations(s, "?limit=1")], ["NVDA"])

    def test_invalid_limit_is_422_with_detail(self):
        s = self.server()
        for value in ("abc", "0", "1001", "-1", "1.5", ""):
            with self.subTest(limit=value):
                status, headers, raw = s.get_raw("/api/recommendations?limit=" + value)
                self.assertEqual(status, 422, raw)
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError as e:
                    self.fail(f"the 422 body is not UTF-8 JSON ({e}): {raw!r}")
                self.assert_json_content_type(headers)
                self.assert_detail(body, 422)
                self.assertIn("limit", body["detail"])

    def test_limit_1_and_1000_are_accepted(self):
        s = self.server()
        self.assertEqual(s.post_document(doc_at("2021-07-12 10:59:00",
                                                [("AAPL", 150.2, 145.1), ("BX", 90, 85)]))[0], 201)
        # Repeated: a wrong answer may depend on what lies in memory after the query.
        for _ in range(20):
            self.assertEqual(len(self.recommendations(s, "?limit=1")), 1)
            self.assertEqual(len(self.recommendations(s, "?limit=1000")), 2)

    def test_default_limit_is_50(self):
        s = self.server()
        # 6 documents x 10 items = 60 items.
        symbols = h.DEFAULT_SYMBOLS[:10]
        for day in range(6):
            items = [(sym, 100 + i + 5, 100 + i) for i, sym in enumerate(symbols)]
            self.assertEqual(s.post_document(doc_at(f"2021-07-{12 + day} 10:00:00", items))[0], 201)
        for _ in range(10):  # repeated: see test_limit_1_and_1000_are_accepted
            self.assertEqual(len(self.recommendations(s)), 50)
            self.assertEqual(len(self.recommendations(s, "?limit=1000")), 60)


# ---------------------------------------------------------------------------
# GET /api/performance


class PerformanceTest(ApiTestCase):
    def run_scenario(self, scenario):
        s = self.server()
        for d in scenario.docs:
            self.assertEqual(s.post_document(d)[0], 201)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), scenario.bars)
        s = self.restart(s, feed="replay:" + bars)
        s.wait_exhausted(30)
        return s

    def test_performance_shape_after_replay_closes_positions(self):
        sc = h.ClosingScenario()
        s = self.run_scenario(sc)
        status, headers, body = s.get("/api/performance")
        self.assertEqual(status, 200)
        self.assert_json_content_type(headers)
        self.assertEqual(list(body.keys()), ["performance"])
        months = body["performance"]
        self.assertEqual([m["month"] for m in months], [m["month"] for m in sc.expected["performance"]])
        for got, want in zip(months, sc.expected["performance"]):
            self.assertEqual(set(got.keys()), {"month", "realized_pnl", "positions"})
            self.assertAlmostEqual(got["realized_pnl"], want["realized_pnl"], places=9)
            self.assertAlmostEqual(got["realized_pnl"], sum(p["pnl"] for p in got["positions"]),
                                   places=9)
            self.assertEqual(len(got["positions"]), len(want["positions"]), got)
            for gp, wp in zip(got["positions"], want["positions"]):
                self.assertEqual(set(gp.keys()), set(wp.keys()))
                for k, v in wp.items():
                    if isinstance(v, float):
                        self.assertAlmostEqual(gp[k], v, places=9, msg=f"{wp['symbol']}.{k}")
                    else:
                        self.assertEqual(gp[k], v, f"{wp['symbol']}.{k}")
        self.assertEqual(s.readyz()["positions"], {"open": sc.open_after, "closed": 3})


# ---------------------------------------------------------------------------
# POST /api/recommendations


class PostTest(ApiTestCase):
    VALID = staticmethod(lambda: doc_at("2021-07-12 10:59:00",
                                        [("AAPL", 150.2, 145.1), ("AMZN", 3800, 3700)]))

    def test_post_without_configured_token_is_403(self):
        s = self.server(token=None)
        status, headers, body = s.post_document(self.VALID(), token="anything")
        self.assertEqual(status, 403, body)
        self.assert_detail(body, 403)
        self.assert_nothing_stored(s)

    def test_post_without_authorization_is_401_with_www_authenticate(self):
        s = self.server()
        status, headers, body = s.request("POST", "/api/recommendations",
                                          body=json.dumps(self.VALID()),
                                          headers={"Content-Type": "application/json"})
        self.assertEqual(status, 401, body)
        self.assert_detail(body, 401)
        self.assertTrue((headers.get("WWW-Authenticate") or "").startswith("Bearer"),
                        f"WWW-Authenticate: {headers.get('WWW-Authenticate')!r}")
        self.assert_nothing_stored(s)

    def test_post_with_wrong_token_is_401(self):
        s = self.server()
        for token in ("wrong", TOKEN + "x", TOKEN[:-1]):
            with self.subTest(token=token):
                status, _, body = s.post_document(self.VALID(), token=token)
                self.assertEqual(status, 401, body)
                self.assert_detail(body, 401)
        self.assert_nothing_stored(s)

    def test_post_malformed_json_is_400(self):
        s = self.server()
        status, headers, body = s.post_document('{"us-date": "2021-07-12 10:59:00", ')
        self.assertEqual(status, 400, body)
        self.assert_json_content_type(headers)
        self.assert_detail(body, 400)
        self.assert_nothing_stored(s)

    def test_post_wrong_types_is_422(self):
        s = self.server()
        doc = self.VALID()
        doc["recommendations"][1]["targetPrice"] = "150"
        status, _, body = s.post_document(doc)
        self.assertEqual(status, 422, body)
        self.assert_detail(body, 422)
        self.assertIn("targetPrice", body["detail"])
        self.assertIn(["body", "recommendations", 1, "targetPrice"],
                      [p.get("loc") for p in body.get("problems", [])], body)
        self.assert_nothing_stored(s)

    def check_invalid_item_refuses_document(self, item, field, words):
        s = self.server()
        doc = self.VALID()
        doc["recommendations"].insert(1, item)
        status, _, body = s.post_document(doc)
        self.assertEqual(status, 422, body)
        self.assert_detail(body, 422)
        self.assertIn("recommendations[1]", body["detail"],
                      "the detail does not name the invalid item")
        for w in words:
            self.assertIn(w, body["detail"])
        self.assertEqual([p["loc"] for p in body["problems"]],
                         [["body", "recommendations", 1, field]], body)
        self.assert_nothing_stored(s)

    def test_post_untracked_symbol_refuses_whole_document(self):
        self.check_invalid_item_refuses_document(
            {"symbol": "ZZZZ", "targetPrice": 10, "currentPrice": 9}, "symbol", ["ZZZZ"])

    def test_post_target_not_above_current_refuses_whole_document(self):
        self.check_invalid_item_refuses_document(
            {"symbol": "NVDA", "targetPrice": 190, "currentPrice": 190}, "targetPrice", [])

    def test_post_nonpositive_current_price_refuses_whole_document(self):
        self.check_invalid_item_refuses_document(
            {"symbol": "NVDA", "targetPrice": 10, "currentPrice": 0}, "currentPrice", [])

    def test_valid_post_is_201_with_results_and_visible_immediately(self):
        s = self.server()
        status, headers, body = s.post_document(self.VALID())
        self.assertEqual(status, 201, body)
        self.assert_json_content_type(headers)
        self.assertEqual(body["opened"], 2)
        self.assertEqual([r["symbol"] for r in body["results"]], ["AAPL", "AMZN"])
        self.assertEqual(body["results"][0]["open_timestamp"], AAPL_DOC_TIME)
        self.assertEqual([r["state"] for r in body["results"]], ["opened", "opened"])
        # The very next GET shows it (the answer is sent after the commit).
        self.assertEqual(self.recommendations(s),
                         [{k: v for k, v in r.items() if k != "state"} for r in body["results"]])
        ready = s.readyz()
        self.assertEqual(ready["documents"], 1)
        self.assertEqual(ready["positions"]["open"], 2)

    def test_identical_repost_is_200_with_nothing_opened_and_no_duplicate(self):
        s = self.server()
        doc = self.VALID()
        first = s.post_document(doc)
        self.assertEqual(first[0], 201, first[2])
        status, _, body = s.post_document(doc)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["opened"], 0)
        self.assertEqual([{k: v for k, v in r.items() if k != "state"} for r in body["results"]],
                         [{k: v for k, v in r.items() if k != "state"} for r in first[2]["results"]])
        self.assertEqual([r["state"] for r in body["results"]], ["already_open", "already_open"])
        self.assertEqual([r["symbol"] for r in self.recommendations(s)], ["AAPL", "AMZN"])
        ready = s.readyz()
        self.assertEqual(ready["documents"], 1)
        self.assertEqual(ready["positions"]["open"], 2)

    def test_body_over_1_mib_is_413(self):
        s = self.server()
        doc = self.VALID()
        doc["padding"] = "x" * (1024 * 1024 + 100)
        payload = json.dumps(doc).encode()
        head = (f"POST /api/recommendations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            try:
                sock.sendall(head + payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading it all
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
        status_line = data.split(b"\r\n", 1)[0].decode(errors="replace")
        self.assertRegex(status_line, r"^HTTP/1\.1 413 ", f"response: {data[:300]!r}")
        self.assert_nothing_stored(s)


# ---------------------------------------------------------------------------
# Errors, methods, CORS


class ProtocolTest(ApiTestCase):
    def test_unknown_path_is_404_json_detail(self):
        s = self.server()
        for path in ("/nope", "/api/tickerlists", "/api"):
            with self.subTest(path=path):
                status, headers, body = s.get(path)
                self.assertEqual(status, 404, body)
                self.assert_json_content_type(headers)
                self.assert_detail(body, 404)

    def test_wrong_method_is_405_with_allow(self):
        s = self.server()
        for method, path in (("DELETE", "/api/tickerlist"), ("POST", "/api/performance"),
                             ("PUT", "/api/recommendations")):
            with self.subTest(method=method, path=path):
                status, headers, body = s.request(method, path, body=b"{}")
                self.assertEqual(status, 405, body)
                self.assert_detail(body, 405)
                allow = headers.get("Allow")
                self.assertTrue(allow, "no Allow header")
                self.assertIn("GET", allow)
                self.assertNotIn(method, allow)

    def test_options_preflight_is_204_with_cors_headers(self):
        s = self.server()
        status, headers, data = s.request_raw("OPTIONS", "/api/recommendations", headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        self.assertEqual(status, 204)
        self.assertEqual(data, b"")
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
        methods = headers.get("Access-Control-Allow-Methods") or ""
        self.assertIn("POST", methods)
        self.assertIn("GET", methods)
        allowed = (headers.get("Access-Control-Allow-Headers") or "").lower()
        self.assertIn("authorization", allowed)
        self.assertIn("content-type", allowed)

    def test_preflight_allows_arbitrary_requested_headers(self):
        # The earlier front end's axios client sends X-Custom-Header on every
        # call; the earlier service allowed any request header.
        for env in ({}, {"QC_CORS_ORIGINS": "https://app.example"}):
            with self.subTest(env=env):
                s = self.server(env=env)
                status, headers, _ = s.request_raw("OPTIONS", "/api/tickerlist", headers={
                    "Origin": "https://app.example",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "x-custom-header, X-Requested-With,accept"})
                self.assertEqual(status, 204)
                allowed = [x.strip().lower() for x in
                           (headers.get("Access-Control-Allow-Headers") or "").split(",")]
                for name in ("x-custom-header", "x-requested-with", "accept"):
                    self.assertIn(name, allowed)
                self.assertIn(headers.get("Access-Control-Allow-Origin"), ("*", "https://app.example"))

    def test_preflight_with_a_malformed_header_list_echoes_nothing_of_it(self):
        s = self.server()
        status, headers, _ = s.request_raw("OPTIONS", "/api/tickerlist", headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-ok, bad header\"value"})
        self.assertEqual(status, 204)
        allowed = (headers.get("Access-Control-Allow-Headers") or "").lower()
        self.assertNotIn("bad", allowed)
        self.assertNotIn("x-ok", allowed)

    def test_cors_header_on_every_response(self):
        s = self.server()
        cases = [("GET", "/api/tickerlist", 200), ("GET", "/api/recommendations", 200),
                 ("GET", "/api/performance", 200), ("GET", "/healthz", 200),
                 ("GET", "/nope", 404), ("DELETE", "/api/tickerlist", 405),
                 ("POST", "/api/recommendations", 401),
                 ("GET", "/api/recommendations?limit=0", 422)]
        for method, path, want in cases:
            with self.subTest(method=method, path=path):
                status, headers, _ = s.request_raw(method, path,
                                                   headers={"Origin": "https://app.example"})
                self.assertEqual(status, want)
                self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")

    def test_cors_origins_list_echoes_only_allowed_origin(self):
        s = self.server(env={"QC_CORS_ORIGINS": "https://a.example"})
        status, headers, _ = s.get_raw("/api/tickerlist", headers={"Origin": "https://a.example"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("Access-Control-Allow-Origin"), "https://a.example")
        self.assertIn("Origin", headers.get("Vary") or "")
        status, headers, _ = s.get_raw("/api/tickerlist", headers={"Origin": "https://b.example"})
        self.assertEqual(status, 200)
        self.assertIsNone(headers.get("Access-Control-Allow-Origin"))
        status, headers, _ = s.get_raw("/api/tickerlist")
        self.assertIsNone(headers.get("Access-Control-Allow-Origin"))

    def test_keep_alive_two_requests_on_one_connection(self):
        s = self.server()
        c = h.KeepAliveClient(s.port)
        self.addCleanup(c.close)
        status, headers, body = c.request("GET", "/api/tickerlist")
        self.assertEqual(status, 200)
        self.assertNotEqual((headers.get("Connection") or "").lower(), "close")
        sock = c.sock
        self.assertIsNotNone(sock, "the client closed the connection after the first response")
        status, _, body = c.request("GET", "/healthz")
        self.assertEqual(status, 200)
        self.assertIs(c.sock, sock, "the second request needed a new connection")

    def test_garbage_request_line_gets_400_or_close_and_server_stays_up(self):
        s = self.server()
        for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
                        b"HELLO WORLD\r\n\r\n", b"GET\r\n\r\n"):
            with self.subTest(garbage=garbage[:12]):
                with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
                    sock.sendall(garbage)
                    data = b""
                    try:
                        while True:
                            chunk = sock.recv(65536)
                            if not chunk:
                                break
                            data += chunk
                    except ConnectionResetError:
                        pass
                    except socket.timeout:
                        self.fail("the server neither answered nor closed within 10 s")
                if data:
                    self.assertRegex(data.split(b"\r\n", 1)[0].decode(errors="replace"),
                                     r"^HTTP/1\.[01] 400 ")
                self.assertTrue(s.alive(), s.stderr_text())
                self.assertEqual(s.get("/healthz")[0], 200)

    def test_numbers_not_in_exponent_form(self):
        s = self.server()
        doc = doc_at("2021-07-12 10:59:00", [("AAPL", 150.2, 145.1), ("NOK", 6.07, 5.93),
                                             ("AMZN", 3721.5, 3650.25)])
        status, _, _ = s.request_raw("POST", "/api/recommendations", body=json.dumps(doc),
                                     headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(status, 201)
        for path in ("/api/recommendations", "/api/tickerlist", "/api/performance"):
            with self.subTest(path=path):
                status, _, raw = s.get_raw(path)
                self.assertEqual(status, 200)
                tokens = h.number_tokens(raw)
                bad = [t for t in tokens if "e" in t.lower()]
                self.assertEqual(bad, [], f"exponent-form numbers in {path}: {raw[:400]!r}")
        raw = s.get_raw("/api/recommendations")[2]
        self.assertIn(b'"target_price":150.2', raw.replace(b" ", b""))

    def test_round_close_timestamp_not_in_exponent_form(self):
        # A pre-market bar 06:39-06:40 EDT on 2023-03-28 ends at 1680000000 UTC
        # seconds exactly; the position it closes must show close_timestamp as
        # 1680000000, not 1.68e+09.
        s = self.server()
        opened = h.ny_unix("2023-03-28 06:30:00")
        self.assertEqual(s.post_document(h.make_document(opened, [("AAPL", 165.5, 160.25)]))[0], 201)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"),
                                  [h.am_bar("AAPL", 1679999940000, 161.0, 166.0, 160.5, 165.9)])
        s = self.restart(s, feed="replay:" + bars)
        s.wait_exhausted(30)
        status, _, raw = s.get_raw("/api/performance")
        self.assertEqual(status, 200)
        perf = json.loads(raw)
        self.assertEqual(perf["performance"][0]["positions"][0]["close_timestamp"], 1680000000)
        bad = [t for t in h.number_tokens(raw) if "e" in t.lower()]
        self.assertEqual(bad, [], f"exponent-form numbers in /api/performance: {raw!r}")


# ---------------------------------------------------------------------------
# Operations and docs


class OperationsTest(ApiTestCase):
    def test_healthz_is_200(self):
        s = self.server()
        status, headers, body = s.get("/healthz")
        self.assertEqual(status, 200)
        self.assert_json_content_type(headers)
        self.assertIsInstance(body, dict)

    def test_readyz_reports_sqlite_database_and_feed_kind(self):
        s = self.server()
        status, headers, body = s.get("/readyz")
        self.assertEqual(status, 200)
        self.assert_json_content_type(headers)
        self.assertEqual(body["status"], "ready")
        self.assertEqual(body["database"]["kind"], "sqlite")
        self.assertIs(body["database"]["ok"], True)
        self.assertEqual(body["feed"]["kind"], "none")
        self.assertIs(body["feed"]["simulated"], False)
        self.assertEqual(body["positions"], {"open": 0, "closed": 0})

    def test_readyz_reports_replay_feed(self):
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"),
                                  h.ClosingScenario().bars)
        s = self.server(feed="replay:" + bars)
        body = s.wait_exhausted(30)
        self.assertEqual(body["feed"]["kind"], "replay")
        self.assertIs(body["feed"]["simulated"], False)
        self.assertEqual(body["feed"]["bars_read"], 5)

    def test_openapi_json_documents_the_three_endpoints(self):
        s = self.server()
        status, headers, body = s.get("/openapi.json")
        self.assertEqual(status, 200, body)
        self.assert_json_content_type(headers)
        self.assertIsInstance(body, dict, "openapi.json is not a JSON object")
        self.assertRegex(str(body.get("openapi")), r"^3\.")
        paths = body.get("paths", {})
        for p in ("/api/tickerlist", "/api/recommendations", "/api/performance"):
            self.assertIn(p, paths)
        self.assertIn("get", paths["/api/recommendations"])
        self.assertIn("post", paths["/api/recommendations"])
        params = paths["/api/recommendations"]["get"].get("parameters", [])
        self.assertIn("limit", [p.get("name") for p in params])

    @unittest.skipUnless(h.swagger_bundle_available(),
                         "QC_DOCS_DIR has no swagger-ui-bundle.js (Swagger UI assets not installed: "
                         "run scripts/setup.sh and rebuild)")
    def test_docs_page_is_html_referencing_local_swagger_ui(self):
        s = self.server()
        status, headers, data = s.get_raw("/docs")
        self.assertEqual(status, 200)
        self.assertTrue((headers.get("Content-Type") or "").startswith("text/html"))
        html = data.decode()
        self.assertIn("/docs/swagger-ui-bundle.js", html)
        self.assertNotRegex(html, r"(src|href)=\"(https?:)?//", "the docs page loads from a CDN")
        for asset in sorted(set(re.findall(r"(?:src|href)=\"(/docs/[^\"]+)\"", html))):
            with self.subTest(asset=asset):
                self.assertEqual(s.get_raw(asset)[0], 200)

    @unittest.skipUnless(h.swagger_bundle_available(),
                         "QC_DOCS_DIR has no swagger-ui-bundle.js (Swagger UI assets not installed: "
                         "run scripts/setup.sh and rebuild)")
    def test_swagger_ui_bundle_is_served(self):
        s = self.server()
        status, headers, data = s.get_raw("/docs/swagger-ui-bundle.js")
        self.assertEqual(status, 200)
        self.assertIn("javascript", headers.get("Content-Type") or "")
        with open(os.path.join(h.docs_dir(), "swagger-ui-bundle.js"), "rb") as f:
            self.assertEqual(data, f.read())


# ---------------------------------------------------------------------------
# HTTP edge cases and inputs that used to slip through (issue 8, SPEC §4, §9)


class EdgeCaseTest(ApiTestCase):
    def raw(self, s, request, timeout=10):
        data = h.raw_http(s.port, request, timeout=timeout)
        head, _, body = data.partition(b"\r\n\r\n")
        return head.split(b"\r\n", 1)[0].decode(), head.decode(errors="replace"), body

    def test_head_answers_every_get_route_with_the_get_headers_and_no_body(self):
        s = self.server()
        paths = ["/api/tickerlist", "/api/recommendations", "/api/performance", "/healthz",
                 "/readyz", "/metrics", "/nope"]
        if h.swagger_bundle_available():
            paths += ["/openapi.json", "/docs"]
        for path in paths:
            with self.subTest(path=path):
                status_get, headers_get, body_get = s.get_raw(path)
                status_head, headers_head, body_head = s.request_raw("HEAD", path)
                self.assertEqual(status_head, status_get)
                self.assertEqual(body_head, b"")
                self.assertEqual(headers_head.get("Content-Type"), headers_get.get("Content-Type"))
                if path not in ("/readyz", "/metrics"):  # their bodies change between calls
                    self.assertEqual(int(headers_head.get("Content-Length")), len(body_get))

    def test_head_keeps_the_connection_usable(self):
        s = self.server()
        c = h.KeepAliveClient(s.port)
        self.addCleanup(c.close)
        status, _, _ = c.request_raw("HEAD", "/api/tickerlist")
        self.assertEqual(status, 200)
        status, _, body = c.request("GET", "/api/tickerlist")
        self.assertEqual(status, 200)
        self.assertIn("tickerlist", body)

    def test_405_allow_lists_head(self):
        s = self.server()
        status, headers, _ = s.request_raw("DELETE", "/api/tickerlist")
        self.assertEqual(status, 405)
        self.assertIn("HEAD", headers.get("Allow"))

    def test_target_over_8_kib_is_414(self):
        s = self.server()
        for size in (8193, 12000, 40000):
            with self.subTest(size=size):
                target = "/api/recommendations?limit=5&pad=" + "x" * size
                line, _, body = self.raw(s, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                self.assertTrue(line.startswith("HTTP/1.1 414"), line)
                self.assert_detail(json.loads(body), 414)

    def test_target_of_8_kib_is_served(self):
        s = self.server()
        base = "/api/recommendations?limit=5&pad="
        target = base + "x" * (8192 - len(base))
        status, _, _ = s.get_raw(target)
        self.assertEqual(status, 200)

    def test_http_1_1_without_host_is_400(self):
        s = self.server()
        line, _, body = self.raw(s, b"GET /api/tickerlist HTTP/1.1\r\n\r\n")
        self.assertTrue(line.startswith("HTTP/1.1 400"), line)
        self.assertIn("Host", json.loads(body)["detail"])

    def test_http_1_0_without_host_is_served(self):
        s = self.server()
        line, _, _ = self.raw(s, b"GET /api/tickerlist HTTP/1.0\r\n\r\n")
        self.assertTrue(line.startswith("HTTP/1.0 200"), line)

    def test_error_quoting_invalid_utf8_from_the_query_is_valid_utf8_json(self):
        s = self.server()
        status, _, data = s.get_raw("/api/recommendations?limit=%FF%FE%C0")
        self.assertEqual(status, 422)
        body = json.loads(data.decode("utf-8"))  # strict: raises on invalid UTF-8
        self.assertIn("\ufffd", body["detail"])

    def test_error_quoting_invalid_utf8_from_the_body_is_valid_utf8_json(self):
        s = self.server()
        raw = (b'{"us-date":"2021-07-12 10:59:00","sg-date":"2021-07-12 22:59:00",'
               b'"recommendations":[{"symbol":"AA\xffPL","targetPrice":150.2,"currentPrice":145.1}]}')
        status, _, data = s.request_raw("POST", "/api/recommendations", body=raw,
                                        headers={"Authorization": f"Bearer {TOKEN}",
                                                 "Content-Type": "application/json"})
        self.assertIn(status, (400, 422))
        json.loads(data.decode("utf-8"))

    def test_non_finite_expected_profit_is_422_and_nothing_stored(self):
        s = self.server()
        doc = doc_at("2021-07-12 10:59:00", [("AAPL", 1e300, 1e-300)])
        status, _, body = s.post_document(doc)
        self.assertEqual(status, 422, body)
        self.assertIn("expected_profit", body["detail"])
        self.assert_nothing_stored(s)

    def test_repost_of_an_open_identity_with_other_prices_answers_the_held_prices(self):
        s = self.server()
        status, _, _ = s.post_document(doc_at("2021-07-12 10:59:00", [("AAPL", 150.2, 145.1)]))
        self.assertEqual(status, 201)
        status, _, body = s.post_document(doc_at("2021-07-12 10:59:00", [("AAPL", 170.0, 160.0)]))
        self.assertIn(status, (200, 201), body)
        self.assertEqual(body["opened"], 0)
        [item] = body["results"]
        self.assertEqual(item["state"], "already_open")
        self.assertEqual(item["entry_price"], 145.1)
        self.assertEqual(item["target_price"], 150.2)


if __name__ == "__main__":
    unittest.main()
