#!/usr/bin/env python3
"""Deterministic benchmark data for `quantcrunch backtest` and the replay feed.

Writes
  * a bars file: time-ordered minute bars for the 11 default tickers over
    regular US sessions (weekdays 9:30-16:00 New York time), as JSON Lines of
    Polygon `AM` events with every field (ev, sym, v, av, op, vw, o, c, h, l,
    a, z, s, e) in realistic magnitudes, or as CSV
    `symbol,time,open,high,low,close,volume` (time in UNIX ms);
  * a recommendations file: JSON Lines documents in the SPEC §5 shape
    (`us-date`, `sg-date`, `recommendations: [{symbol, targetPrice,
    currentPrice}]`), dated inside the bar range at the price of the moment.

The same arguments always give byte-identical files (seeded PRNG, no clock).
Standard library only.

  python3 bench/gen_data.py --bars 5000000 --out-bars /tmp/bars.jsonl \
      --out-recs /tmp/recs.jsonl
"""
import argparse
import datetime as dt
import math
import random
import sys
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
SINGAPORE = ZoneInfo("Asia/Singapore")

# SPEC §5 default tickers with prices of the time of the earlier service.
TICKERS = [
    ("AAPL", 145.0), ("AMZN", 3300.0), ("BABA", 200.0), ("GOOG", 2600.0),
    ("SHOP", 1500.0), ("BX", 100.0), ("C", 70.0), ("TLT", 145.0),
    ("NVDA", 190.0), ("BLK", 880.0), ("NOK", 6.0),
]
# Typical volume per minute (shares) and chance that a minute has no trade
# (Polygon emits no bar then).
VOLUME = {"AAPL": 120000, "AMZN": 6000, "BABA": 25000, "GOOG": 2500,
          "SHOP": 3000, "BX": 9000, "C": 40000, "TLT": 30000,
          "NVDA": 60000, "BLK": 1200, "NOK": 80000}
GAP_CHANCE = {"GOOG": 0.01, "BLK": 0.03, "SHOP": 0.01}


def session_minutes(start_day):
    """Yields (unix_seconds, is_first_minute_of_day) for each session minute."""
    day = start_day
    while True:
        if day.weekday() < 5:
            open_ = dt.datetime(day.year, day.month, day.day, 9, 30, tzinfo=NEW_YORK)
            t0 = int(open_.timestamp())
            for m in range(390):
                yield t0 + 60 * m, m == 0
        day += dt.timedelta(days=1)


def fmt_price(p):
    return f"{p:.2f}" if p >= 1 else f"{p:.4f}"


def local_text(unix_seconds, zone):
    return dt.datetime.fromtimestamp(unix_seconds, zone).strftime("%Y-%m-%d %H:%M:%S")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=1_000_000, help="number of bars (default 1e6)")
    ap.add_argument("--out-bars", required=True, help="bars file to write")
    ap.add_argument("--out-recs", help="recommendations JSONL to write (optional)")
    ap.add_argument("--format", choices=["jsonl", "csv"], default="jsonl",
                    help="bars file format (default jsonl)")
    ap.add_argument("--start", default="2021-07-12", help="first session day (New York)")
    ap.add_argument("--seed", type=int, default=20210712)
    ap.add_argument("--rec-every", type=int, default=30,
                    help="session minutes between recommendation documents (default 30)")
    ap.add_argument("--max-items", type=int, default=4,
                    help="at most this many items per document (default 4)")
    ap.add_argument("--reversion", type=float, default=1e-5,
                    help="pull of the log price towards its base per minute (default 1e-5, "
                         "a time scale of about a year; 2e-3 keeps prices within a few "
                         "percent, so most targets are never reached and open positions "
                         "pile up)")
    args = ap.parse_args(argv)

    rnd = random.Random(args.seed)
    symbols = [s for s, _ in TICKERS]
    base = [p for _, p in TICKERS]
    price = list(base)
    day_open = list(base)
    day_volume = [0] * len(TICKERS)
    day_notional = [0.0] * len(TICKERS)
    sigma, reversion = 0.0012, args.reversion  # 0.12%/minute: ~2.4%/day, ~37%/year
    gauss = rnd.gauss
    rand = rnd.random
    csv = args.format == "csv"

    bars_out = open(args.out_bars, "w", encoding="ascii", newline="\n")
    recs_out = open(args.out_recs, "w", encoding="ascii", newline="\n") if args.out_recs else None
    if csv:
        bars_out.write("symbol,time,open,high,low,close,volume\n")

    written = 0
    docs = 0
    minute_index = 0
    chunk = []
    start_day = dt.date.fromisoformat(args.start)
    for t, first in session_minutes(start_day):
        if written >= args.bars:
            break
        # A recommendation document at this minute, before its bars: SPEC §6.4
        # applies a document at T before a bar starting at T.
        if recs_out and minute_index % args.rec_every == args.rec_every - 1:
            n = rnd.randint(1, args.max_items)
            items = []
            for i in rnd.sample(range(len(TICKERS)), n):
                current = round(price[i], 2 if price[i] >= 1 else 4)
                target = round(current * (1 + rnd.uniform(0.005, 0.06)), 2 if current >= 1 else 4)
                if target <= current:
                    target = current + 0.01
                items.append(f'{{"symbol": "{symbols[i]}", "targetPrice": {target}, '
                             f'"currentPrice": {current}}}')
            recs_out.write(f'{{"us-date": "{local_text(t, NEW_YORK)}", '
                           f'"sg-date": "{local_text(t, SINGAPORE)}", '
                           f'"recommendations": [{", ".join(items)}]}}\n')
            docs += 1
        minute_index += 1
        s_ms = t * 1000
        e_ms = s_ms + 60000
        for i, sym in enumerate(symbols):
            if written >= args.bars:
                break
            o = price[i]
            if first:
                # overnight gap
                o *= math.exp(gauss(0, 0.01))
                day_open[i] = o
                day_volume[i] = 0
                day_notional[i] = 0.0
            gap = GAP_CHANCE.get(sym)
            if gap and rand() < gap:
                price[i] = o
                continue
            c = o * math.exp(-reversion * math.log(o / base[i]) + gauss(0, sigma))
            hi = max(o, c) * (1 + abs(gauss(0, sigma / 2)))
            lo = min(o, c) * (1 - abs(gauss(0, sigma / 2)))
            price[i] = c
            digits = 2 if base[i] >= 1 else 4
            o_r, c_r, h_r, l_r = (round(o, digits), round(c, digits), round(hi, digits),
                                  round(lo, digits))
            h_r = max(h_r, o_r, c_r)
            l_r = min(l_r, o_r, c_r)
            v = max(1, int(VOLUME[sym] * (0.3 + rand() * 1.4)))
            vw = (o_r + c_r + h_r + l_r) / 4
            day_volume[i] += v
            day_notional[i] += vw * v
            av = day_volume[i]
            a = day_notional[i] / av
            z = max(1, int(60 + rand() * 140))
            if csv:
                chunk.append(f"{sym},{s_ms},{fmt_price(o_r)},{fmt_price(h_r)},{fmt_price(l_r)},"
                             f"{fmt_price(c_r)},{v}\n")
            else:
                chunk.append(
                    f'{{"ev":"AM","sym":"{sym}","v":{v},"av":{av},"op":{day_open[i]:.2f},'
                    f'"vw":{vw:.4f},"o":{fmt_price(o_r)},"c":{fmt_price(c_r)},'
                    f'"h":{fmt_price(h_r)},"l":{fmt_price(l_r)},"a":{a:.4f},"z":{z},'
                    f'"s":{s_ms},"e":{e_ms}}}\n')
            written += 1
        if len(chunk) >= 65536:
            bars_out.write("".join(chunk))
            chunk.clear()
    bars_out.write("".join(chunk))
    bars_out.close()
    if recs_out:
        recs_out.close()
    print(f"gen_data: {written} bars ({args.format}) -> {args.out_bars}"
          + (f"; {docs} recommendation documents -> {args.out_recs}" if recs_out else ""),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
