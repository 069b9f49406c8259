// The SPEC §4.8 statistics as people read them: tiles, the equity curve with
// its drawdown, daily and monthly pnl bars, per-symbol and per-exit tables.
// Shared by the dashboard's Performance view and the backtest report.
(function () {
  'use strict';
  const QC = (window.QC = window.QC || {});
  const { fmt, h } = QC;
  const LC = window.LightweightCharts;
  const UP = '#16a34a', DOWN = '#dc2626', LINE = '#2563eb';

  QC.chartOptions = chartOptions;
  function chartOptions(el, withClock) {
    return {
      autoSize: true,
      layout: { background: { color: 'transparent' }, textColor: '#334155', fontSize: 12 },
      grid: { vertLines: { color: '#eef2f7' }, horzLines: { color: '#eef2f7' } },
      rightPriceScale: { borderVisible: false },
      timeScale: { borderVisible: false, timeVisible: withClock, secondsVisible: false,
                   tickMarkFormatter: (t, type) => fmt.tickMark(t, type) },
      localization: { timeFormatter: (t) => fmt.chartTime(t, withClock),
                      priceFormatter: (p) => fmt.num(p) },
      handleScroll: { mouseWheel: false },
      handleScale: { mouseWheel: false },
    };
  }

  // The equity curve and its drawdown (the fall from the running peak) as
  // the chart needs them: strictly increasing times, starting at 0 just
  // before the first close. Trades closing in the same second are one point:
  // on the curve the last, on the drawdown the deepest fall, so the pane
  // reaches the max drawdown tile's figure even when the trough is a trade
  // that closed in the same second as later ones.
  // (New York's clock: fmt.chartSeconds; the hour repeated when daylight
  // saving time ends folds into the one before.)
  function curvePoints(equity, from) {
    const points = [];
    const drawdown = [];
    let peak = 0;
    for (const [t, v] of equity) {
      const time = fmt.chartSeconds(t);
      peak = Math.max(peak, v);
      if (points.length && points[points.length - 1].time >= time) {
        points[points.length - 1].value = v;
        drawdown[drawdown.length - 1].value = Math.min(drawdown[drawdown.length - 1].value, v - peak);
      } else {
        points.push({ time, value: v });
        drawdown.push({ time, value: v - peak });
      }
    }
    if (points.length) {
      const start = typeof from === 'number' ? fmt.chartSeconds(from) : null;
      const time = start !== null && start < points[0].time ? start : points[0].time - 1;
      points.unshift({ time, value: 0 });
      drawdown.unshift({ time, value: 0 });
    }
    return { points, drawdown };
  }

  function tile(label, value, test, tone, note) {
    return h('div', { class: 'tile', dataset: { test: 'tile-' + test } },
      h('div', { class: 'tile-label' }, label),
      h('div', { class: ('tile-value ' + (tone || '')).trim(), dataset: { test: 'tile-' + test + '-value' } }, value),
      note ? h('div', { class: 'tile-note' }, note) : null);
  }

  function section(title, test, ...children) {
    return h('section', { class: 'card', dataset: { test }, 'aria-label': title }, h('h2', null, title), ...children);
  }

  // Renders `stats` into `root` (emptied first). Returns {destroy()}.
  QC.renderPerformance = function renderPerformance(root, stats, opts) {
    opts = opts || {};
    const charts = [];
    root.replaceChildren();
    const c = stats.closed;
    const dd = c.max_drawdown || { pnl: 0 };
    const tiles = h('div', { class: 'tiles', dataset: { test: 'perf-tiles' } },
      tile('Closed trades', fmt.int(c.count), 'count', '', `${fmt.int(c.wins)} won \u00b7 ${fmt.int(c.losses)} lost`),
      tile('Win rate', fmt.ratio(c.win_rate), 'win-rate'),
      tile('Total pnl', fmt.pct(c.total_pnl), 'total-pnl', fmt.tone(c.total_pnl), 'sum of trade pnl'),
      tile('Profit factor', c.profit_factor === null ? (c.wins ? '\u221e' : fmt.DASH) : fmt.num(c.profit_factor),
           'profit-factor', '', c.profit_factor === null && c.wins ? 'no losses' : 'gains / losses'),
      tile('Expectancy', fmt.pct(c.avg_pnl), 'expectancy', fmt.tone(c.avg_pnl), 'average pnl per trade'),
      tile('Max drawdown', dd.pnl ? fmt.pct(-dd.pnl) : fmt.pct(0), 'max-drawdown', dd.pnl ? 'negative' : '',
           dd.trough_time ? `to ${fmt.date(dd.trough_time)}` : 'never fell'),
      tile('Avg hold', fmt.duration(c.avg_hold_seconds), 'avg-hold'),
      tile('Open now', fmt.int(stats.open.count), 'open-count', '',
           `unrealized ${fmt.pct(stats.open.unrealized_pnl)}`));
    root.append(tiles);

    const { points, drawdown } = curvePoints(stats.equity || [], opts.from);
    const equityEl = h('div', { class: 'chart chart-tall', dataset: { test: 'equity-chart' },
                                role: 'img', 'aria-label': 'Equity curve and drawdown' });
    root.append(section('Equity curve and drawdown', 'equity', equityEl,
      h('p', { class: 'hint' }, 'Cumulative pnl of closed trades (percentage points) and its fall from the running peak; trades closing in the same second are one point (the curve shows the last, the fall the deepest).')));
    const barsRow = h('div', { class: 'grid-2' });
    const dailyEl = h('div', { class: 'chart', dataset: { test: 'daily-chart' }, role: 'img', 'aria-label': 'Daily pnl' });
    const monthlyEl = h('div', { class: 'chart', dataset: { test: 'monthly-chart' }, role: 'img', 'aria-label': 'Monthly pnl' });
    barsRow.append(section('Daily pnl', 'daily', dailyEl), section('Monthly pnl', 'monthly', monthlyEl));
    root.append(barsRow);

    const tablesRow = h('div', { class: 'grid-2' });
    tablesRow.append(
      section('By symbol', 'by-symbol', QC.table([
        { label: 'Symbol', cell: (r) => opts.symbolLink ? opts.symbolLink(r.symbol) : r.symbol },
        { label: 'Trades', num: true, cell: (r) => fmt.int(r.count) },
        { label: 'Wins', num: true, cell: (r) => fmt.int(r.wins) },
        { label: 'Win rate', num: true, cell: (r) => fmt.ratio(r.win_rate), test: 'win-rate' },
        { label: 'Total pnl', num: true, cell: (r) => fmt.pct(r.total_pnl), tone: (r) => r.total_pnl, test: 'total-pnl' },
        { label: 'Avg pnl', num: true, cell: (r) => fmt.pct(r.avg_pnl), tone: (r) => r.avg_pnl, test: 'avg-pnl' },
      ], stats.by_symbol, { test: 'by-symbol-table', rowData: (r) => ({ symbol: r.symbol }), empty: 'No closed trades.',
                             label: 'Statistics by symbol' })),
      section('By exit', 'by-exit', QC.table([
        { label: 'Exit', cell: (r) => r.notes },
        { label: 'Trades', num: true, cell: (r) => fmt.int(r.count), test: 'count' },
        { label: 'Total pnl', num: true, cell: (r) => fmt.pct(r.total_pnl), tone: (r) => r.total_pnl, test: 'total-pnl' },
      ], stats.by_exit, { test: 'by-exit-table', rowData: (r) => ({ notes: r.notes }), empty: 'No closed trades.',
                           label: 'Statistics by exit' }),
      c.best ? h('p', { class: 'hint', dataset: { test: 'best-worst' } },
        `Best: ${c.best.symbol} ${fmt.pct(c.best.pnl)} (opened ${fmt.dateTime(c.best.open_timestamp)}). ` +
        `Worst: ${c.worst.symbol} ${fmt.pct(c.worst.pnl)} (opened ${fmt.dateTime(c.worst.open_timestamp)}).`) : null));
    root.append(tablesRow);

    if (!LC) {
      for (const el of [equityEl, dailyEl, monthlyEl]) el.append(h('p', { class: 'hint' }, 'Chart library not loaded.'));
      return { destroy() {} };
    }
    if (!points.length) {
      equityEl.append(h('p', { class: 'chart-empty' }, 'No closed trades in this period.'));
    } else {
      const chart = LC.createChart(equityEl, chartOptions(equityEl, true));
      charts.push(chart);
      const eq = chart.addSeries(LC.BaselineSeries, {
        baseValue: { type: 'price', price: 0 }, lineWidth: 2,
        topLineColor: UP, topFillColor1: 'rgba(22,163,74,0.25)', topFillColor2: 'rgba(22,163,74,0.02)',
        bottomLineColor: DOWN, bottomFillColor1: 'rgba(220,38,38,0.02)', bottomFillColor2: 'rgba(220,38,38,0.25)',
        priceFormat: { type: 'custom', formatter: (p) => fmt.pct(p) },
      });
      eq.setData(points);
      const ddSeries = chart.addSeries(LC.AreaSeries, {
        lineColor: DOWN, topColor: 'rgba(220,38,38,0.05)', bottomColor: 'rgba(220,38,38,0.35)', lineWidth: 1,
        invertFilledArea: true, priceFormat: { type: 'custom', formatter: (p) => fmt.pct(p) },
      }, 1);
      ddSeries.setData(drawdown);
      equityEl.dataset.drawdownLow = String(Math.min(...drawdown.map((p) => p.value)));
      const panes = chart.panes();
      if (panes[1]) panes[1].setHeight(90);
      chart.timeScale().fitContent();
    }
    const histogram = (el, data, empty) => {
      if (!data.length) {
        el.append(h('p', { class: 'chart-empty' }, empty));
        return;
      }
      const chart = LC.createChart(el, chartOptions(el, false));
      charts.push(chart);
      const s = chart.addSeries(LC.HistogramSeries, { priceFormat: { type: 'custom', formatter: (p) => fmt.pct(p) } });
      s.setData(data.map((d) => ({ time: d.time, value: d.value, color: d.value >= 0 ? UP : DOWN })));
      chart.timeScale().fitContent();
    };
    histogram(dailyEl, (stats.daily || []).map((d) => ({ time: d.date, value: d.pnl })), 'No closes.');
    histogram(monthlyEl, (stats.monthly || []).map((m) => ({ time: fmt.month(m.month) + '-01', value: m.pnl })),
              'No closes.');
    return { destroy() { for (const ch of charts) ch.remove(); } };
  };
})();
