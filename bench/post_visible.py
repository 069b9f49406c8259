#!/usr/bin/env python3
"""POST-to-visible latency (SPEC §8: < 10 ms), and a bulk loader.

Latency mode (default): for each iteration, POSTs a new recommendation
document (newer `us-date` each time) to /api/recommendations and polls
GET /api/recommendations on a second keep-alive connection until the
document's first item is the first result. Reports median / p99 / max of
  * post: time until the 201 answer arrives (durable, SPEC §6.3);
  * visible: time from sending the POST until a GET shows the item.

Load mode (--post-file FILE): POSTs every line of a JSON Lines file of
recommendation documents (e.g. from gen_data.py) and reports the outcomes.

Loopback only; standard library only.

  python3 bench/post_visible.py --port 5050 --token TOKEN [--iterations 200]
"""
import argparse
import datetime as dt
import http.client
import json
import statistics
import sys
import time

TICKERS = [("AAPL", 145.0), ("AMZN", 3300.0), ("BABA", 200.0), ("GOOG", 2600.0),
           ("SHOP", 1500.0), ("BX", 100.0), ("C", 70.0), ("TLT", 145.0),
           ("NVDA", 190.0), ("BLK", 880.0), ("NOK", 6.0)]


def percentile(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def post(conn, token, body):
    conn.request("POST", "/api/recommendations", body=body,
                 headers={"Authorization": f"Bearer {token}",
                          "Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def latency(args):
    post_conn = http.client.HTTPConnection(args.host, args.port, timeout=10)
    get_conn = http.client.HTTPConnection(args.host, args.port, timeout=10)
    # January: New York is UTC-5, Singapore UTC+8, no DST change in range.
    start = dt.datetime(2031, 1, 6, 9, 30, 0) + dt.timedelta(minutes=args.offset_minutes)
    post_ms, visible_ms, polls = [], [], []
    for i in range(args.warmup + args.iterations):
        us = start + dt.timedelta(minutes=i)
        sg = us + dt.timedelta(hours=13)
        sym, price = TICKERS[i % len(TICKERS)]
        current = round(price * (1 + 0.0001 * (i % 100)), 2)
        target = round(current * 1.05, 2)
        doc = {"us-date": us.strftime("%Y-%m-%d %H:%M:%S"),
               "sg-date": sg.strftime("%Y-%m-%d %H:%M:%S"),
               "recommendations": [{"symbol": sym, "targetPrice": target,
                                    "currentPrice": current}]}
        body = json.dumps(doc)
        t0 = time.perf_counter()
        status, answer = post(post_conn, args.token, body)
        t1 = time.perf_counter()
        if status != 201:
            sys.exit(f"post_visible: POST answered {status}: {answer[:300]!r}")
        opened = json.loads(answer)["results"][0]
        n = 0
        while True:
            n += 1
            get_conn.request("GET", "/api/recommendations")  # default limit, as the front end
            r = get_conn.getresponse()
            data = r.read()
            if r.status != 200:
                sys.exit(f"post_visible: GET answered {r.status}: {data[:300]!r}")
            results = json.loads(data)["results"]
            if results and results[0]["open_timestamp"] == opened["open_timestamp"] \
                    and results[0]["symbol"] == sym:
                break
            if time.perf_counter() - t0 > 5:
                sys.exit(f"post_visible: document {i} not visible after 5 s")
        t2 = time.perf_counter()
        if i >= args.warmup:
            post_ms.append((t1 - t0) * 1000)
            visible_ms.append((t2 - t0) * 1000)
            polls.append(n)
    immediate = sum(1 for p in polls if p == 1)
    print(f"post_visible: {args.iterations} documents, each POSTed then polled with GET")
    for name, v in (("POST answered (201)", post_ms), ("POST to visible in GET", visible_ms)):
        print(f"  {name:24s} median {statistics.median(v):6.2f} ms   p99 {percentile(v, 99):6.2f} ms"
              f"   max {max(v):6.2f} ms")
    print(f"  visible on the first GET after the 201: {immediate}/{len(polls)}")
    return 0


def load(args):
    conn = http.client.HTTPConnection(args.host, args.port, timeout=30)
    counts = {}
    n = 0
    with open(args.post_file, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if args.limit and n >= args.limit:
                break
            status, answer = post(conn, args.token, line)
            counts[status] = counts.get(status, 0) + 1
            if status not in (200, 201) and counts[status] <= 3:
                print(f"post_visible: {status}: {answer[:200]!r}", file=sys.stderr)
            n += 1
    print("post_visible: posted " + ", ".join(f"{c} x {s}" for s, c in sorted(counts.items())),
          file=sys.stderr)
    return 0 if set(counts) <= {200, 201} else 1


def main():
    ap = argparse.ArgumentParser(description="POST-to-visible latency of QuantCrunch")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5050)
    ap.add_argument("--token", required=True, help="QC_API_TOKEN of the server")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--offset-minutes", type=int, default=0,
                    help="shift the documents' dates (to rerun against the same data dir)")
    ap.add_argument("--post-file", help="load mode: POST every document of this JSONL file")
    ap.add_argument("--limit", type=int, default=0, help="load mode: at most this many")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("post_visible: loopback hosts only")
    return load(args) if args.post_file else latency(args)


if __name__ == "__main__":
    sys.exit(main())
