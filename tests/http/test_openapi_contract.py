"""The OpenAPI document against the real server (SPEC §4.5: /openapi.json
describes "every endpoint, parameter and response schema").

- Every route the server answers (the paths src/http/api.cpp routes, probed
  on a live server) is a documented path, and every documented path answers.
- The documented query parameters of /api/trades and /api/stats are exactly
  the ones the server reads (names in api.cpp, and each one's bad value is a
  422 naming it).
- Real responses of /api/positions, /api/trades and /api/stats (unfiltered,
  filtered, paged, empty store, their 422s, `backtest --stats`) validate
  against the documented schemas, converted from OpenAPI 3.0 to JSON Schema
  draft 4 with every object closed (a field the document does not name fails),
  and the documented examples are what the server answers.

Schema validation needs Python's jsonschema (Debian: python3-jsonschema,
installed by `scripts/setup.sh --test`); without it those tests are skipped.
"""

import copy
import http.client
import json
import os
import re
import unittest

import qc_harness as h

try:
    import jsonschema
except ImportError:  # pragma: no cover - depends on the machine
    jsonschema = None

NO_JSONSCHEMA = ("python3-jsonschema is not installed (scripts/setup.sh --test installs it): "
                 "responses cannot be validated against /openapi.json")

TOKEN = "test-token-openapi"
SOURCE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                      "src"))
API_CPP = os.path.join(SOURCE, "http", "api.cpp")
OPENAPI_SOURCE = os.path.join(SOURCE, "http", "openapi.json")

# The paths documented here; the documented examples of their answers were
# taken from a server that replayed ExampleScenario below.
NEW_PATHS = ("/api/positions", "/api/trades", "/api/stats")

# Routes api.cpp is known to answer: a floor for what is read from the code,
# so that a change in how routes are written cannot make the check vacuous.
KNOWN_ROUTES = {"/api/tickerlist", "/api/positions", "/api/trades", "/api/stats",
                "/api/performance", "/api/recommendations", "/api/aggregates/",
                "/api/marketstatus", "/metrics", "/healthz", "/readyz", "/openapi.json", "/docs",
                "/api/bars/", "/"}

# A path under each prefix that api.cpp routes.
PREFIX_SAMPLES = {"/api/aggregates/": "AAPL", "/docs/": "swagger-ui.css", "/api/bars/": "AAPL",
                  "/web/": "dashboard.js"}

# A value of each query parameter that the server must refuse with 422.
BAD_VALUES = {"symbol": "ZZZZ", "from": "x", "to": "1e999", "notes": "maybe", "limit": "1001",
              "cursor": "!", "equity": "bogus"}


class ExampleScenario(h.ClosingScenario):
    """ClosingScenario (AAPL target, AMZN stop, NVDA gap up; C open and priced)
    plus SHOP, opened after the last bar (unpriced)."""

    def __init__(self):
        super().__init__()
        self.shop = h.make_document(h.ny_unix("2021-08-03 09:45:00"), [("SHOP", 1600, 1520.5)])
        self.docs = self.docs + [self.shop]


# The request whose answer each documented example (path, status, name) is;
# None: checked by another test.
EXAMPLE_REQUESTS = {
    ("/api/positions", "200", "example"): "/api/positions",
    ("/api/trades", "200", "first_page"): "/api/trades?limit=2",
    ("/api/trades", "200", "next_page"): "/api/trades?limit=2&cursor={first_page_cursor}",
    ("/api/trades", "200", "filtered"): "/api/trades?symbol=AMZN&notes=stop",
    ("/api/trades", "422", "bad_limit"): "/api/trades?limit=0",
    ("/api/trades", "422", "untracked_symbol"): "/api/trades?symbol=TSLA",
    ("/api/trades", "422", "bad_notes"): "/api/trades?notes=maybe",
    ("/api/trades", "422", "bad_bound"): "/api/trades?from=abc",
    ("/api/trades", "422", "reversed"): "/api/trades?from={ts2}&to={ts1}",
    ("/api/trades", "422", "bad_cursor"): "/api/trades?cursor=abc",
    ("/api/stats", "200", "all"): "/api/stats",
    ("/api/stats", "200", "one_symbol"): "/api/stats?symbol=AAPL",
    ("/api/stats", "200", "empty"): None,  # an empty store: checked in EmptyStoreTest
    ("/api/stats", "422", "untracked_symbol"): "/api/stats?symbol=TSLA",
    ("/api/stats", "422", "bad_bound"): "/api/stats?to=x",
    ("/api/stats", "422", "reversed"): "/api/stats?from={ts2}&to={ts1}",
}


# ---------------------------------------------------------------------------
# OpenAPI 3.0 -> JSON Schema


def resolve_pointer(document, ref):
    if not ref.startswith("#/"):
        raise AssertionError(f"only local $refs are expected, got {ref!r}")
    node = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


# OpenAPI-only keywords, or annotations a validator does not need.
DROPPED_KEYWORDS = {"nullable", "example", "examples", "description", "format", "discriminator",
                    "xml", "externalDocs", "deprecated", "readOnly", "writeOnly", "title"}


def to_json_schema(schema, document, closed=True):
    """An OpenAPI 3.0 Schema Object as JSON Schema draft 4: `$ref`s inlined,
    `nullable: true` turned into an allowed null, OpenAPI-only keywords dropped.
    With `closed`, an object schema that does not say `additionalProperties`
    gets `false` (except in multi-branch allOf), so an undocumented field fails."""

    def convert(s, seen, in_allof):
        if not isinstance(s, dict):
            return s
        if "$ref" in s:
            target = s["$ref"]
            if target in seen:
                raise AssertionError(f"recursive $ref {target}")
            return convert(resolve_pointer(document, target), seen | {target}, in_allof)
        out = {}
        for key, value in s.items():
            if key in DROPPED_KEYWORDS:
                continue
            if key == "properties":
                out[key] = {name: convert(v, seen, False) for name, v in value.items()}
            elif key in ("items", "not", "additionalProperties"):
                out[key] = convert(value, seen, False)
            elif key in ("allOf", "anyOf", "oneOf"):
                several = key == "allOf" and len(value) > 1
                out[key] = [convert(v, seen, several) for v in value]
            else:
                out[key] = value
        if (closed and not in_allof and out.get("type") == "object" and "properties" in out
                and "additionalProperties" not in out):
            out["additionalProperties"] = False
        if s.get("nullable"):
            if "type" in out:
                out["type"] = [out["type"], "null"]
                if "enum" in out:
                    out["enum"] = list(out["enum"]) + [None]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out

    return convert(schema, frozenset(), False)


def operation(document, path, method="get"):
    return document["paths"][path][method]


def response_object(document, path, status, method="get"):
    responses = operation(document, path, method)["responses"]
    if str(status) not in responses:
        raise AssertionError(f"{method.upper()} {path} answered {status}, which the document "
                             f"does not list (it lists {sorted(responses)})")
    r = responses[str(status)]
    return resolve_pointer(document, r["$ref"]) if "$ref" in r else r


def media(document, path, status, method="get"):
    return response_object(document, path, status, method)["content"]["application/json"]


def validator_for(document, schema):
    converted = to_json_schema(schema, document)
    jsonschema.Draft4Validator.check_schema(converted)
    return jsonschema.Draft4Validator(converted)


def problems(validator, instance):
    return ["/".join(str(p) for p in e.absolute_path) + ": " + e.message
            for e in validator.iter_errors(instance)]


def path_template_regex(template):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def function_body(source, signature):
    """The text of the C++ function starting at `signature` up to its closing brace."""
    start = source.find(signature)
    if start < 0:
        raise AssertionError(f"{signature!r} not found in {API_CPP}: update this test")
    end = source.find("\n}\n", start)
    return source[start:end]


def probe(port, method, path, timeout=5):
    """Status of one request, reading no body (an answer may be a stream)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path)
        return conn.getresponse().status
    finally:
        conn.close()


# ---------------------------------------------------------------------------


class ContractTestCase(h.ServerTestCase):
    def openapi(self, server):
        """/openapi.json as served, which must be this tree's src/http/openapi.json."""
        status, headers, body = server.get("/openapi.json")
        self.assertEqual(status, 200, body)
        with open(OPENAPI_SOURCE, encoding="utf-8") as f:
            source = json.load(f)
        self.assertTrue(body == source,
                        f"the server serves another openapi.json than {OPENAPI_SOURCE}: "
                        f"QC_DOCS_DIR={h.docs_dir()!r} is stale (rebuild the qc_docs target) "
                        f"or belongs to another tree")
        return body


class RoutesTest(ContractTestCase):
    def routes_in_code(self):
        """(exact paths, path prefixes) that Api::route compares the request path with."""
        with open(API_CPP, encoding="utf-8") as f:
            body = function_body(f.read(), "void Api::route(")
        exact = set(re.findall(r'path == "(/[^"]*)"', body))
        prefixes = set(re.findall(r'path\.substr\(0, \d+\) == "(/[^"]*)"', body))
        found = exact | prefixes
        self.assertLessEqual(KNOWN_ROUTES, found,
                             f"routes missing from what was read in Api::route: "
                             f"{sorted(KNOWN_ROUTES - found)}; update this test")
        return exact, prefixes

    def test_every_route_the_server_answers_is_documented_and_every_documented_path_answers(self):
        s = self.start_server(token=TOKEN)
        doc = self.openapi(s)
        documented = list(doc["paths"])
        templates = [(p, path_template_regex(p)) for p in documented]

        def documented_as(path):
            # The Swagger UI page's own files are part of /docs (listed in its description).
            if path == "/docs/" or path.startswith("/docs/"):
                return "/docs"
            # The dashboard's own files are part of / (listed in its description).
            if path.startswith("/web/"):
                return "/"
            return next((p for p, rx in templates if rx.match(path)), None)

        exact, prefixes = self.routes_in_code()
        answered = {}
        for route in sorted(exact | prefixes):
            path = route
            if route in prefixes:
                self.assertIn(route, PREFIX_SAMPLES, f"api.cpp routes the prefix {route}: give "
                                                     f"this test a sample path under it")
                path = route + PREFIX_SAMPLES[route]
            status = probe(s.port, "GET", path)
            if status != 404:
                answered[path] = status
        self.assertIn("/api/stats", answered)
        for path, status in answered.items():
            with self.subTest(path=path):
                self.assertIsNotNone(documented_as(path),
                                     f"GET {path} answers {status} but /openapi.json does not "
                                     f"document it")
        for path in documented:
            concrete = re.sub(r"\{[^}]+\}", "AAPL", path)
            with self.subTest(documented=path):
                get = probe(s.port, "GET", concrete)
                self.assertNotEqual(get, 404, f"{path} is documented but GET {concrete} is 404")
                if "get" in doc["paths"][path]:
                    # The document's info: HEAD is answered wherever GET is.
                    self.assertEqual(probe(s.port, "HEAD", concrete), get, f"HEAD {concrete}")

    def test_trades_and_stats_parameters_are_exactly_those_the_server_reads(self):
        with open(API_CPP, encoding="utf-8") as f:
            source = f.read()
        filters = set(re.findall(r'key == "(\w+)"',
                                 function_body(source, "bool parse_filter_param(")))
        read = {
            "/api/trades": filters | set(re.findall(r'key == "(\w+)"', function_body(
                source, "HttpResponse Api::get_trades("))),
            "/api/stats": filters | set(re.findall(r'key == "(\w+)"', function_body(
                source, "HttpResponse Api::get_stats("))),
        }
        self.assertEqual(filters, {"symbol", "from", "to"})
        s = self.start_server(token=TOKEN)
        doc = self.openapi(s)
        for path, names in read.items():
            params = operation(doc, path).get("parameters", [])
            documented = {p["name"] for p in params}
            with self.subTest(path=path):
                self.assertEqual(documented, names,
                                 f"documented parameters of {path} differ from those api.cpp reads")
                self.assertTrue(all(p["in"] == "query" and p["required"] is False for p in params))
                _, _, plain = s.get_raw(path)
                # The server reads each one: its bad value is a 422 naming it...
                for name in sorted(documented):
                    status, _, body = s.get(f"{path}?{name}={BAD_VALUES[name]}")
                    self.assertEqual(status, 422, f"{path}?{name}={BAD_VALUES[name]}: {body}")
                    self.assertEqual(body["problems"][0]["loc"], ["query", name])
                # ...and ignores the others.
                status, _, ignored = s.get_raw(f"{path}?verbose=maybe&page=-1")
                self.assertEqual((status, ignored), (200, plain))

    def test_every_field_of_the_new_schemas_is_required(self):
        # The server writes every key, null or not: the document says so.
        schemas = self.openapi(self.start_server())["components"]["schemas"]
        names = ["MarkedPosition", "Positions", "TradesPage", "Stats", "ClosedSummary",
                 "TradeMark", "Drawdown", "SymbolFigures", "ExitFigures", "DayFigures",
                 "WeekFigures", "MonthFigures", "OpenSummary"]
        for name in names:
            with self.subTest(schema=name):
                s = schemas[name]
                self.assertEqual(s.get("type"), "object")
                self.assertEqual(s.get("required"), list(s["properties"]))


@unittest.skipIf(jsonschema is None, NO_JSONSCHEMA)
class ResponsesMatchSchemasTest(ContractTestCase):
    """One server per test, on which ExampleScenario was replayed."""

    sc = ExampleScenario()

    def setUp(self):
        self.server = self.start_server(token=TOKEN)
        for d in self.sc.docs:
            self.assertEqual(self.server.post_document(d)[0], 201)
        bars = h.write_bars_jsonl(os.path.join(self.make_temp_dir(), "bars.jsonl"), self.sc.bars)
        self.server = self.restart(self.server, feed="replay:" + bars)
        self.server.wait_exhausted(30)
        self.doc = self.openapi(self.server)

    def answer(self, path_and_query, status=200):
        got, headers, body = self.server.get(path_and_query)
        self.assertEqual(got, status, f"GET {path_and_query}: {body}")
        self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
        return body

    def assert_valid(self, path, path_and_query, status=200):
        """GETs `path_and_query`, validates the answer against the documented
        schema of `path`'s `status` response; returns the body."""
        body = self.answer(path_and_query, status)
        v = validator_for(self.doc, media(self.doc, path, status)["schema"])
        self.assertEqual(problems(v, body), [], f"GET {path_and_query} ({status}) does not match "
                                                f"its documented schema; body: {body}")
        return body

    def assert_invalid(self, path, body, why, status=200):
        v = validator_for(self.doc, media(self.doc, path, status)["schema"])
        self.assertNotEqual(problems(v, body), [], f"the schema of {path} accepts a body with {why}")

    def test_positions_priced_and_unpriced(self):
        body = self.assert_valid("/api/positions", "/api/positions")
        self.assertEqual([(p["symbol"], p["last_price"] is None) for p in body["positions"]],
                         [("C", False), ("SHOP", True)])
        wrong = copy.deepcopy(body)
        wrong["positions"][0]["last_time"] = "1627912920"
        self.assert_invalid("/api/positions", wrong, "a string last_time")

    def test_trades_pages_filters_and_empty_results(self):
        first = self.assert_valid("/api/trades", "/api/trades?limit=2")
        self.assertIsInstance(first["next_cursor"], str)
        last = self.assert_valid("/api/trades", f"/api/trades?limit=2&cursor={first['next_cursor']}")
        self.assertIsNone(last["next_cursor"])
        self.assertEqual(len(first["trades"]) + len(last["trades"]), 3)
        sc = self.sc
        for query in ["", "?symbol=AAPL", "?notes=target", "?notes=stop&limit=1000",
                      f"?from={sc.ts1 + 61}&to={sc.ts2 + 120}", "?symbol=BLK",
                      f"?symbol=NVDA&cursor={first['next_cursor']}"]:
            with self.subTest(query=query):
                self.assert_valid("/api/trades", "/api/trades" + query)
        wrong = copy.deepcopy(first)
        wrong["trades"][0]["notes"] = "target"
        self.assert_invalid("/api/trades", wrong, "notes 'target' (not the full text)")

    def test_stats_unfiltered_and_filtered(self):
        body = self.assert_valid("/api/stats", "/api/stats")
        self.assertIsNotNone(body["closed"]["max_drawdown"]["peak_time"])
        sc = self.sc
        for query in ["?symbol=AAPL", "?symbol=C", f"?from={sc.ts2}", f"?to={sc.ts1 + 180}",
                      f"?from=0&to={sc.ts2 + 10**6}&symbol=AMZN", "?equity=full", "?equity=none",
                      "?symbol=AAPL&equity=none", f"?from={sc.ts2}&equity=full"]:
            with self.subTest(query=query):
                self.assert_valid("/api/stats", "/api/stats" + query)
        for why, change in [
            ("best as a number", lambda b: b["closed"].__setitem__("best", 3.5)),
            ("a date not YYYY-MM-DD", lambda b: b["daily"][0].__setitem__("date", "2021-7-12")),
            ("a week not YYYY-Www", lambda b: b["weekly"][0].__setitem__("week", "2021-28")),
            ("an equity point of three numbers", lambda b: b["equity"][0].append(0)),
            ("an undocumented field", lambda b: b["open"].__setitem__("value", 1)),
            ("no open part", lambda b: b.pop("open")),
        ]:
            wrong = copy.deepcopy(body)
            change(wrong)
            with self.subTest(wrong=why):
                self.assert_invalid("/api/stats", wrong, why)

    def test_bad_parameters_answer_the_documented_422(self):
        sc = self.sc
        for path, queries in {
            "/api/trades": ["?limit=0", "?limit=x", "?notes=maybe", "?from=abc", "?to=",
                            "?symbol=ZZZZ", "?cursor=garbage", "?cursor=",
                            f"?from={sc.ts2}&to={sc.ts1}"],
            "/api/stats": ["?symbol=ZZZZ", "?from=x", "?to=inf", f"?from={sc.ts2}&to={sc.ts1}",
                           "?equity=bogus", "?equity=", "?symbol=AAPL&equity=all"],
        }.items():
            for query in queries:
                with self.subTest(request=path + query):
                    body = self.assert_valid(path, path + query, status=422)
                    self.assertEqual(body["detail"], body["problems"][0]["msg"])

    def test_documented_examples_are_what_the_server_answers(self):
        cursor = self.answer("/api/trades?limit=2")["next_cursor"]
        seen = set()
        for path in NEW_PATHS:
            for status in operation(self.doc, path)["responses"]:
                m = media(self.doc, path, status)
                named = dict(m.get("examples", {}))
                if "example" in m:
                    named["example"] = {"value": m["example"]}
                v = validator_for(self.doc, m["schema"])
                for name, example in named.items():
                    key = (path, status, name)
                    seen.add(key)
                    with self.subTest(example=key):
                        self.assertIn(key, EXAMPLE_REQUESTS, "an example this test does not know")
                        self.assertEqual(problems(v, example["value"]), [])
                        request = EXAMPLE_REQUESTS[key]
                        if request is None:
                            continue
                        request = request.format(first_page_cursor=cursor, ts1=self.sc.ts1,
                                                 ts2=self.sc.ts2)
                        self.assertEqual(example["value"], self.answer(request, int(status)),
                                         f"the documented example differs from GET {request}")
        self.assertEqual(seen, set(EXAMPLE_REQUESTS))
        # Component-level examples of the new schemas are real answers too.
        schemas = self.doc["components"]["schemas"]
        self.assertEqual(schemas["Positions"]["example"], self.answer("/api/positions"))
        self.assertEqual(schemas["TradesPage"]["example"], self.answer("/api/trades?limit=2"))


@unittest.skipIf(jsonschema is None, NO_JSONSCHEMA)
class EmptyStoreTest(ContractTestCase):
    def test_empty_store_answers_match_the_schemas_and_the_empty_example(self):
        s = self.start_server(token=TOKEN)
        doc = self.openapi(s)
        for path in NEW_PATHS:
            status, _, body = s.get(path)
            self.assertEqual(status, 200, body)
            v = validator_for(doc, media(doc, path, 200)["schema"])
            self.assertEqual(problems(v, body), [], f"{path}: {body}")
        stats = s.get("/api/stats")[2]
        self.assertEqual(media(doc, "/api/stats", 200)["examples"]["empty"]["value"], stats)
        self.assertIsNone(stats["closed"]["best"])  # the nullable $ref was exercised

    def test_backtest_stats_prints_a_document_of_the_stats_schema(self):
        s = self.start_server(token=TOKEN)
        doc = self.openapi(s)
        sc = ExampleScenario()
        d = self.make_temp_dir()
        recs = h.write_text(os.path.join(d, "recs.jsonl"),
                            "".join(json.dumps(x) + "\n" for x in sc.docs))
        bars = h.write_bars_jsonl(os.path.join(d, "bars.jsonl"), sc.bars)
        r = h.run_backtest(recs, bars, extra_args=["--stats", "--quiet"])
        self.assertEqual(r.returncode, 0, r.stderr)
        body = json.loads(r.stdout)
        v = validator_for(doc, media(doc, "/api/stats", 200)["schema"])
        self.assertEqual(problems(v, body), [])
        self.assertEqual(body, media(doc, "/api/stats", 200)["examples"]["all"]["value"])


if __name__ == "__main__":
    unittest.main()
