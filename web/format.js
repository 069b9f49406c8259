// Numbers and times for people (SPEC §4.10): prices to cents, percents to
// two places, times in New York (the market's clock). The API keeps full
// precision; only what is shown is rounded. A classic script (no module) so
// that the backtest report can inline it and open from file://.
(function () {
  'use strict';
  const QC = (window.QC = window.QC || {});
  const DASH = '\u2014';

  function finite(x) {
    return typeof x === 'number' && Number.isFinite(x);
  }
  // toFixed rounds the exact binary value, half away from zero.
  function fixed(x, places) {
    const [whole, frac] = Math.abs(x).toFixed(places).split('.');
    const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return frac === undefined ? grouped : grouped + '.' + frac;
  }
  function sign(x, places) {
    // The sign of what is shown: -0.001 shows as "0.00", not "-0.00".
    if (Number(Math.abs(x).toFixed(places)) === 0) return '';
    return x > 0 ? '+' : '-';
  }

  const NY_PARTS = new Intl.DateTimeFormat('en-US', {
    timeZone: 'America/New_York', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  function nyParts(unixSeconds) {
    const out = {};
    for (const p of NY_PARTS.formatToParts(new Date(unixSeconds * 1000))) out[p.type] = p.value;
    return out;
  }

  QC.fmt = {
    DASH,
    // 1234.5 -> "1,234.50"
    price(x) {
      return finite(x) ? (x < 0 ? '-' : '') + fixed(x, 2) : DASH;
    },
    // 1.5 -> "+1.50"
    signed(x) {
      return finite(x) ? sign(x, 2) + fixed(x, 2) : DASH;
    },
    // A percentage value (3.5 means 3.5 %) -> "+3.50%"
    pct(x) {
      return finite(x) ? sign(x, 2) + fixed(x, 2) + '%' : DASH;
    },
    // A ratio (0.555) -> "55.50%"
    ratio(x) {
      return finite(x) ? (x < 0 ? '-' : '') + fixed(x * 100, 2) + '%' : DASH;
    },
    // A plain number to 2 places ("1.83")
    num(x) {
      return finite(x) ? (x < 0 ? '-' : '') + fixed(x, 2) : DASH;
    },
    int(x) {
      return finite(x) ? fixed(x, 0) : DASH;
    },
    // "positive" / "negative" / "" for colouring
    tone(x) {
      if (!finite(x) || sign(x, 2) === '') return '';
      return x > 0 ? 'positive' : 'negative';
    },
    // UNIX seconds -> "2021-07-12 10:59" (New York)
    dateTime(unixSeconds) {
      if (!finite(unixSeconds)) return DASH;
      const p = nyParts(unixSeconds);
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
    },
    date(unixSeconds) {
      if (!finite(unixSeconds)) return DASH;
      const p = nyParts(unixSeconds);
      return `${p.year}-${p.month}-${p.day}`;
    },
    time(unixSeconds) {
      if (!finite(unixSeconds)) return DASH;
      const p = nyParts(unixSeconds);
      return `${p.hour}:${p.minute}`;
    },
    // The §4.3 month (UNIX seconds of its first instant, UTC) -> "2021-07"
    month(unixSeconds) {
      const d = new Date(unixSeconds * 1000);
      return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
    },
    // Seconds -> "2d 4h", "3h 12m", "45m", "30s"
    duration(seconds) {
      if (!finite(seconds)) return DASH;
      const s = Math.round(seconds);
      const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
      if (d) return `${d}d ${h}h`;
      if (h) return `${h}h ${m}m`;
      if (m) return `${m}m`;
      return `${s}s`;
    },
    // "YYYY-MM-DD" read as a New York date -> UNIX seconds of its midnight.
    nyMidnight(dateText) {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(dateText || '');
      if (!m) return null;
      const y = Number(m[1]), mo = Number(m[2]) - 1, d = Number(m[3]);
      // New York is 4 or 5 hours behind UTC: try both, keep the one that is midnight there.
      for (const offset of [4, 5]) {
        const t = Date.UTC(y, mo, d, offset) / 1000;
        const p = nyParts(t);
        if (p.hour === '00' && Number(p.day) === d) return t;
      }
      return Date.UTC(y, mo, d, 5) / 1000;
    },
    // A time-axis label: the library's tick kind (0 year, 1 month, 2 day,
    // 3 time, 4 time with seconds) decides how much to show.
    tickMark(time, type) {
      const full = QC.fmt.chartTime(time, true);  // "YYYY-MM-DD HH:MM" or "YYYY-MM-DD"
      if (type === 0) return full.slice(0, 4);
      if (type === 1) return full.slice(0, 7);
      if (type === 2) return full.slice(5, 10);
      return full.length > 10 ? full.slice(11, 16) : full.slice(5, 10);
    },
    // The chart library lays out its time axis in UTC: it is given New York
    // wall-clock time as if it were UTC (UNIX seconds shifted by New York's
    // offset at that instant), so that its day and hour ticks fall on New
    // York days and hours.
    chartSeconds(unixSeconds) {
      const p = nyParts(unixSeconds);
      const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute),
                            Number(p.second)) / 1000;
      return wall + (unixSeconds - Math.floor(unixSeconds));
    },
    // A chart time (shifted seconds, or a business day) as text.
    chartTime(time, withClock) {
      if (typeof time === 'object' && time) {
        return `${time.year}-${String(time.month).padStart(2, '0')}-${String(time.day).padStart(2, '0')}`;
      }
      if (typeof time === 'string') return time;
      const iso = new Date(time * 1000).toISOString();
      return withClock ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10);
    },
  };

  // Element helper: h('td', {class: 'x', dataset: {test: 'y'}}, 'text', child, ...)
  QC.h = function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  };

  // A table: columns [{label, cell(row) -> text|Node, num: bool, test: 'name'}]
  QC.table = function table(columns, rows, opts) {
    const h = QC.h;
    opts = opts || {};
    const head = h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : '' }, c.label)));
    const body = rows.map((row) =>
      h('tr', { dataset: opts.rowData ? opts.rowData(row) : undefined, class: opts.rowClass ? opts.rowClass(row) : '' },
        columns.map((c) => {
          const v = c.cell(row);
          return h('td', { class: [c.num ? 'num' : '', c.tone ? QC.fmt.tone(c.tone(row)) : ''].join(' ').trim(),
                           dataset: c.test ? { test: c.test } : undefined }, v);
        })));
    const t = h('table', { dataset: opts.test ? { test: opts.test } : undefined },
      opts.caption ? h('caption', null, opts.caption) : null, h('thead', null, head), h('tbody', null, body));
    if (!rows.length && opts.empty) {
      t.querySelector('tbody').append(h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, opts.empty)));
    }
    return h('div', { class: opts.scroll ? 'table-wrap scroll-y' : 'table-wrap', tabindex: '0', role: 'region', 'aria-label': opts.label || opts.caption || 'table' }, t);
  };
})();
