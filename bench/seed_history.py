#!/usr/bin/env python3
"""Seeds a SQLite store with a large history for the SPEC §8 "history at
scale" benchmark: N closed and M open positions over the 11 default tickers,
plus a last bar per symbol, written straight into the tables the server
creates (run the server once on the directory first, or pass --create to let
this script do it with `quantcrunch serve --feed none` for a moment).

  bench/seed_history.py DATA_DIR --closed 1000000 --open 10000 [--seed 7]

Deterministic (seeded PRNG). Closed positions follow SPEC §6.2: exit at the
target (notes "Reached target price") or at the stop (entry * 0.9, "Reached
stop loss"); pnl and months as the engine computes them.
"""
import argparse
import math
import os
import random
import sqlite3
import subprocess
import sys
import time

SYMBOLS = ["AAPL", "AMZN", "BABA", "GOOG", "SHOP", "BX", "C", "TLT", "NVDA", "BLK", "NOK"]
START = 1420209000  # 2015-01-02 14:30 UTC (09:30 New York)


def month_start(ts):
    t = time.gmtime(ts)
    return int(time.mktime((t.tm_year, t.tm_mon, 1, 0, 0, 0, 0, 0, 0)) - time.timezone)


def create(data_dir, qc_bin):
    """Starts the server on DATA_DIR until /healthz answers, so it creates its schema."""
    import socket
    import urllib.request
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([qc_bin, "serve", "--host", "127.0.0.1", "--port", str(port),
                          "--data-dir", data_dir, "--feed", "none"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
    finally:
        p.terminate()
        p.wait(20)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_dir")
    ap.add_argument("--closed", type=int, default=1_000_000)
    ap.add_argument("--open", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--create", metavar="QUANTCRUNCH_BINARY",
                    help="create the schema by starting this binary once")
    args = ap.parse_args()
    os.makedirs(args.data_dir, exist_ok=True)
    path = os.path.join(args.data_dir, "quantcrunch.sqlite3")
    if args.create:
        create(args.data_dir, args.create)
    if not os.path.exists(path):
        sys.exit(f"{path} does not exist: start the server on {args.data_dir} once, or pass --create")
    rnd = random.Random(args.seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    if db.execute("SELECT count(*) FROM closed_positions").fetchone()[0]:
        sys.exit(f"{path} already holds closed positions")
    closed, months = [], {}
    per_symbol = math.ceil((args.closed + args.open) / len(SYMBOLS))
    step = 600  # one recommendation per symbol every 10 minutes
    n = 0
    for k in range(per_symbol):
        for j, sym in enumerate(SYMBOLS):
            if n >= args.closed:
                break
            opened = START + k * step + j
            entry = round(rnd.uniform(10, 500), 2)
            target = round(entry * rnd.uniform(1.01, 1.10), 2)
            stop = entry * 0.9
            hold = rnd.randint(60, 5 * 86400)
            close_ts = opened + hold - hold % 60 + 60
            if rnd.random() < 0.6:
                exit_price, notes = target, "Reached target price"
            else:
                exit_price, notes = stop, "Reached stop loss"
            pnl = (exit_price - entry) / entry * 100
            m = month_start(close_ts)
            closed.append((sym, opened, target, entry, stop, (target - entry) / entry * 100, pnl, notes,
                           float(close_ts), exit_price, m))
            n += 1
        if n >= args.closed:
            break
    db.executemany("INSERT INTO closed_positions (symbol, open_timestamp, target_price, entry_price, "
                   "stop_loss, expected_profit, pnl, notes, close_timestamp, exit_price, month) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?)", closed)
    # realized_pnl summed in SPEC §4.3 order, as the server does.
    closed.sort(key=lambda c: (c[8], c[1], c[0]))
    for c in closed:
        months[c[10]] = months.get(c[10], 0.0) + c[6]
    db.executemany("INSERT INTO performance (month, realized_pnl) VALUES (?, ?) ON CONFLICT(month) DO UPDATE "
                   "SET realized_pnl = excluded.realized_pnl", sorted(months.items()))
    last = max((c[8] for c in closed), default=START)
    open_rows = []
    base = int(last) + 600
    for i in range(args.open):
        sym = SYMBOLS[i % len(SYMBOLS)]
        opened = base + (i // len(SYMBOLS)) * 60
        entry = round(rnd.uniform(10, 500), 2)
        target = round(entry * rnd.uniform(1.01, 1.10), 2)
        open_rows.append((sym, opened, target, entry, entry * 0.9, (target - entry) / entry * 100))
    db.executemany("INSERT INTO open_positions (symbol, open_timestamp, target_price, entry_price, "
                   "stop_loss, expected_profit) VALUES (?,?,?,?,?,?)", open_rows)
    newest_open = max((r[1] for r in open_rows), default=base)
    bars = [(sym, (newest_open + 60) * 1000, round(rnd.uniform(10, 500), 2), (newest_open + 120) * 1000)
            for sym in SYMBOLS]
    db.executemany("INSERT INTO last_bars (symbol, start_ms, close, end_ms) VALUES (?,?,?,?) "
                   "ON CONFLICT(symbol) DO UPDATE SET start_ms = excluded.start_ms, close = excluded.close, "
                   "end_ms = excluded.end_ms", bars)
    db.commit()
    db.close()
    print(f"{path}: {len(closed)} closed, {len(open_rows)} open positions, {len(months)} months",
          file=sys.stderr)


if __name__ == "__main__":
    main()
