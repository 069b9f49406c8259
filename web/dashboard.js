// The dashboard (GET /, SPEC §4.10): four views behind hash routes
// (#/overview, #/performance, #/trades, #/symbol/AAPL), kept live by the
// server's event stream (GET /api/events, SPEC §4.9) — no polling loop: a
// view fetches when it is shown and when an event says something changed.
(function () {
  'use strict';
  const QC = window.QC;
  const { fmt, h } = QC;
  const LC = window.LightweightCharts;

  const state = {
    tickers: [],          // §4.1 list
    positions: [],        // §4.6 list
    recommendations: [],  // §4.2 list
    recentCloses: [],     // newest first (from /api/trades, then live)
    summary: null,        // unfiltered §4.8 document without its curve (equity=none)
    feed: null,           // /readyz feed part
    connection: 'connecting',
    view: null,           // {name, arg, destroy}
    liveCloses: 0,        // closes received live since load
  };
  const main = () => document.getElementById('view');

  // ---- API -------------------------------------------------------------------
  async function api(path) {
    const r = await fetch(path, { headers: { Accept: 'application/json' } });
    let body = null;
    try {
      body = await r.json();
    } catch {
      body = null;
    }
    if (!r.ok) throw new Error((body && body.detail) || `${path} answered ${r.status}`);
    return body;
  }
  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
    const s = q.toString();
    return s ? '?' + s : '';
  }
  function showError(where, e) {
    const box = document.getElementById('errors');
    box.replaceChildren(h('p', null, `${where}: ${e.message || e}`));
    box.hidden = false;
  }
  function clearError() {
    document.getElementById('errors').hidden = true;
  }
  // Runs `fn` at most once per `ms`, the last call always (for event bursts).
  function throttle(fn, ms) {
    let timer = null, again = false;
    return function run() {
      if (timer) {
        again = true;
        return;
      }
      fn();
      timer = setTimeout(() => {
        timer = null;
        if (again) {
          again = false;
          run();
        }
      }, ms);
    };
  }
  function symbolLink(symbol) {
    return h('a', { href: '#/symbol/' + encodeURIComponent(symbol), class: 'symbol' }, symbol);
  }
  function samePosition(a, b) {
    return a.symbol === b.symbol && a.open_timestamp === b.open_timestamp;
  }

  // ---- state loading -----------------------------------------------------------
  async function loadFeed() {
    try {
      const r = await fetch('/readyz', { headers: { Accept: 'application/json' } });
      const body = await r.json();
      state.feed = body.feed || null;
    } catch {
      state.feed = null;
    }
    renderBadges();
  }
  async function loadTickers() {
    state.tickers = (await api('/api/tickerlist')).tickerlist;
  }
  async function loadPositions() {
    state.positions = (await api('/api/positions')).positions;
  }
  async function loadRecommendations() {
    state.recommendations = (await api('/api/recommendations?limit=10')).results;
  }
  async function loadRecentCloses() {
    state.recentCloses = (await api('/api/trades?limit=8')).trades;
  }
  async function loadSummary() {
    state.summary = await api('/api/stats?equity=none');  // tiles only: no curve
  }
  async function reloadAll() {
    try {
      await Promise.all([loadFeed(), loadTickers(), loadPositions(), loadRecommendations(), loadRecentCloses(),
                         loadSummary()]);
      clearError();
    } catch (e) {
      showError('Loading', e);
    }
    renderView(true);
  }

  // ---- header: feed badge, connection state ---------------------------------------
  function renderBadges() {
    const sim = document.getElementById('sim-badge');
    sim.hidden = !(state.feed && state.feed.simulated);
    const feed = document.getElementById('feed-kind');
    feed.textContent = state.feed ? `feed: ${state.feed.kind}` : '';
  }
  function setConnection(s) {
    state.connection = s;
    const el = document.getElementById('connection');
    el.dataset.state = s;
    el.textContent = { live: 'Live', connecting: 'Connecting\u2026', disconnected: 'Disconnected' }[s];
    el.title = s === 'disconnected'
      ? 'The event stream dropped; figures may be stale. Reconnecting by itself.'
      : s === 'live' ? 'Updates arrive as they happen' : '';
  }

  // ---- live events ---------------------------------------------------------------
  const refreshPositions = throttle(async () => {
    try {
      await loadPositions();
      if (state.view && (state.view.name === 'overview' || state.view.name === 'symbol')) updateView('positions');
    } catch (e) {
      showError('Positions', e);
    }
  }, 1000);
  const refreshAfterChange = throttle(async () => {
    try {
      await Promise.all([loadSummary(), loadRecommendations()]);
      updateView('summary');
    } catch (e) {
      showError('Statistics', e);
    }
  }, 500);

  function connect() {
    if (!window.EventSource) return setConnection('disconnected');
    const es = new EventSource('/api/events');
    let wasLost = false;
    es.onopen = () => {
      setConnection('live');
      if (wasLost) reloadAll();  // what happened meanwhile, whatever the history kept
      wasLost = false;
    };
    es.onerror = () => {
      wasLost = true;
      setConnection('disconnected');  // EventSource reconnects by itself
    };
    let received = 0;
    const parse = (e) => {
      document.documentElement.dataset.events = String(++received);
      try {
        return JSON.parse(e.data);
      } catch {
        return null;
      }
    };
    es.addEventListener('quotes', (e) => {
      const d = parse(e);
      if (!d || !d.tickerlist) return;
      state.tickers = d.tickerlist;
      updateView('tickers');
      refreshPositions();  // new prices: new marks
    });
    es.addEventListener('opened', (e) => {
      const p = parse(e);
      if (!p) return;
      if (!state.positions.some((q) => samePosition(p, q))) state.positions.push(p);
      updateView('positions');
      refreshAfterChange();
    });
    es.addEventListener('closed', (e) => {
      const c = parse(e);
      if (!c) return;
      state.positions = state.positions.filter((q) => !samePosition(c, q));
      if (!state.recentCloses.some((q) => samePosition(c, q))) state.recentCloses.unshift({ ...c, live: true });
      state.recentCloses = state.recentCloses.slice(0, 8);
      state.liveCloses += 1;
      document.documentElement.dataset.liveCloses = String(state.liveCloses);
      updateView('closed', c);
      refreshAfterChange();
    });
    es.addEventListener('reset', () => reloadAll());
    es.addEventListener('heartbeat', () => setConnection('live'));
  }

  // ---- views ---------------------------------------------------------------------
  const views = {};

  function card(title, test, ...children) {
    return h('section', { class: 'card', dataset: { test }, 'aria-label': title }, h('h2', null, title), ...children);
  }
  function summaryTiles() {
    const s = state.summary;
    if (!s) return h('div', { class: 'tiles' });
    const c = s.closed;
    const t = (label, value, test, tone) => h('div', { class: 'tile', dataset: { test: 'tile-' + test } },
      h('div', { class: 'tile-label' }, label),
      h('div', { class: ('tile-value ' + (tone || '')).trim(), dataset: { test: 'tile-' + test + '-value' } }, value));
    return h('div', { class: 'tiles', dataset: { test: 'summary-tiles' } },
      t('Closed trades', fmt.int(c.count), 'count'),
      t('Win rate', fmt.ratio(c.win_rate), 'win-rate'),
      t('Total pnl', fmt.pct(c.total_pnl), 'total-pnl', fmt.tone(c.total_pnl)),
      t('Open positions', fmt.int(state.positions.length), 'open-count'),
      t('Unrealized pnl', fmt.pct(s.open.unrealized_pnl), 'unrealized', fmt.tone(s.open.unrealized_pnl)));
  }
  function tickerBoard() {
    return h('div', { class: 'board', dataset: { test: 'ticker-board' } }, state.tickers.map((t) =>
      h('a', { class: 'ticker', href: '#/symbol/' + encodeURIComponent(t.symbol), dataset: { test: 'ticker', symbol: t.symbol },
               'aria-label': `${t.symbol} ${t.name}: ${fmt.signed(t.change)} (${fmt.pct(t.change_perc)})` },
        h('span', { class: 'ticker-symbol' }, t.symbol),
        h('span', { class: 'ticker-name' }, t.name),
        h('span', { class: 'ticker-change ' + fmt.tone(t.change), dataset: { test: 'change' } }, fmt.signed(t.change)),
        h('span', { class: 'ticker-perc ' + fmt.tone(t.change_perc), dataset: { test: 'change-perc' } }, fmt.pct(t.change_perc)))));
  }
  function positionsTable(rows, test, scroll) {
    return QC.table([
      { label: 'Symbol', cell: (p) => symbolLink(p.symbol) },
      { label: 'Opened (ET)', cell: (p) => fmt.dateTime(p.open_timestamp) },
      { label: 'Entry', num: true, cell: (p) => fmt.price(p.entry_price), test: 'entry' },
      { label: 'Target', num: true, cell: (p) => fmt.price(p.target_price), test: 'target' },
      { label: 'Stop', num: true, cell: (p) => fmt.price(p.stop_loss), test: 'stop' },
      { label: 'Last', num: true, cell: (p) => fmt.price(p.last_price), test: 'last' },
      { label: 'Unrealized', num: true, cell: (p) => fmt.pct(p.unrealized_pnl), tone: (p) => p.unrealized_pnl, test: 'unrealized' },
    ], rows, { test, rowData: (p) => ({ symbol: p.symbol, open: String(p.open_timestamp) }), empty: 'No open positions.',
               label: `Open positions (${rows.length})`, scroll });
  }
  function closesTable(rows, test, label) {
    return QC.table([
      { label: 'Symbol', cell: (c) => symbolLink(c.symbol) },
      { label: 'Opened (ET)', cell: (c) => fmt.dateTime(c.open_timestamp) },
      { label: 'Closed (ET)', cell: (c) => fmt.dateTime(c.close_timestamp) },
      { label: 'Entry', num: true, cell: (c) => fmt.price(c.entry_price), test: 'entry' },
      { label: 'Exit', num: true, cell: (c) => fmt.price(c.exit_price), test: 'exit' },
      { label: 'Pnl', num: true, cell: (c) => fmt.pct(c.pnl), tone: (c) => c.pnl, test: 'pnl' },
      { label: 'Exit reason', cell: (c) => c.notes === 'Reached target price' ? 'Target' : c.notes === 'Reached stop loss' ? 'Stop' : c.notes, test: 'notes' },
      { label: 'Held', num: true, cell: (c) => fmt.duration(c.close_timestamp - c.open_timestamp) },
    ], rows, { test, rowData: (c) => ({ symbol: c.symbol, open: String(c.open_timestamp), live: c.live ? 'true' : undefined }),
               rowClass: (c) => (c.live ? 'flash' : ''), empty: 'No closed trades.', label });
  }

  views.overview = {
    title: 'Overview',
    render(root) {
      const tiles = h('div', { id: 'ov-summary' }, summaryTiles());
      const board = card('Tickers', 'tickers', h('div', { id: 'ov-board' }, tickerBoard()),
        h('p', { class: 'hint' }, "Today's change; updates live."));
      const positions = card('Open positions', 'positions', h('div', { id: 'ov-positions' },
        positionsTable(state.positions, 'positions-table', true)));
      const closes = card('Latest closes', 'closes', h('div', { id: 'ov-closes' },
        closesTable(state.recentCloses, 'closes-table', 'Latest closes')));
      const recs = card('Latest recommendations', 'recommendations', h('div', { id: 'ov-recs' }, recommendationsTable()));
      root.append(tiles, board, positions, h('div', { class: 'grid-2' }, closes, recs));
    },
    update(what) {
      const swap = (id, node) => {
        const el = document.getElementById(id);
        if (el) el.replaceChildren(node);
      };
      if (what === 'tickers') swap('ov-board', tickerBoard());
      if (what === 'positions' || what === 'closed' || what === 'summary') {
        swap('ov-positions', positionsTable(state.positions, 'positions-table', true));
        swap('ov-summary', summaryTiles());
      }
      if (what === 'closed') swap('ov-closes', closesTable(state.recentCloses, 'closes-table', 'Latest closes'));
      if (what === 'summary') swap('ov-recs', recommendationsTable());
    },
  };
  function recommendationsTable() {
    return QC.table([
      { label: 'Symbol', cell: (r) => symbolLink(r.symbol) },
      { label: 'Time (ET)', cell: (r) => fmt.dateTime(r.open_timestamp) },
      { label: 'Price', num: true, cell: (r) => fmt.price(r.entry_price), test: 'entry' },
      { label: 'Target', num: true, cell: (r) => fmt.price(r.target_price), test: 'target' },
      { label: 'Stop', num: true, cell: (r) => fmt.price(r.stop_loss), test: 'stop' },
      { label: 'Expected', num: true, cell: (r) => fmt.pct(r.expected_profit), tone: (r) => r.expected_profit, test: 'expected' },
    ], state.recommendations, { test: 'recommendations-table', rowData: (r) => ({ symbol: r.symbol }),
                                empty: 'No recommendations yet.', label: 'Latest recommendations' });
  }

  // Filters shared by Performance and Trades: kept in the hash's query.
  function filterForm(values, extra, onApply) {
    const symbols = [''].concat(state.tickers.map((t) => t.symbol));
    const symbol = h('select', { id: 'f-symbol', name: 'symbol' },
      symbols.map((s) => h('option', { value: s, selected: s === (values.symbol || '') }, s || 'All symbols')));
    const period = h('select', { id: 'f-period', name: 'period' },
      [['', 'Whole history'], ['7', 'Last 7 days'], ['30', 'Last 30 days'], ['90', 'Last 90 days'], ['365', 'Last year'], ['custom', 'Custom']]
        .map(([v, l]) => h('option', { value: v, selected: v === (values.period || '') }, l)));
    const from = h('input', { id: 'f-from', name: 'from', type: 'date', value: values.from || '' });
    const to = h('input', { id: 'f-to', name: 'to', type: 'date', value: values.to || '' });
    const dates = h('span', { class: 'dates', hidden: values.period !== 'custom' },
      h('label', null, 'From ', from), h('label', null, 'To ', to));
    period.addEventListener('change', () => { dates.hidden = period.value !== 'custom'; });
    const form = h('form', { class: 'filters', dataset: { test: 'filters' }, 'aria-label': 'Filters' },
      h('label', null, 'Symbol ', symbol), h('label', null, 'Period ', period), dates, ...(extra || []),
      h('button', { type: 'submit' }, 'Apply'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const v = { symbol: symbol.value, period: period.value, from: from.value, to: to.value };
      for (const el of extra || []) {
        const input = el.querySelector('select,input');
        if (input) v[input.name] = input.value;
      }
      onApply(v);
    });
    return form;
  }
  // {symbol, period, from, to} -> API parameters (UNIX seconds, New York dates).
  function filterParams(v) {
    const p = { symbol: v.symbol || undefined };
    if (v.period === 'custom') {
      if (v.from) p.from = fmt.nyMidnight(v.from);
      if (v.to) p.to = fmt.nyMidnight(v.to) + 86400 - 1e-3;
    } else if (v.period) {
      p.from = Math.floor(Date.now() / 1000) - Number(v.period) * 86400;
    }
    return p;
  }
  function hashParams() {
    const q = location.hash.split('?')[1] || '';
    return Object.fromEntries(new URLSearchParams(q));
  }
  function setHashParams(view, v) {
    const q = query(v);
    const next = `#/${view}${q}`;
    if (location.hash === next) renderView(true);
    else location.hash = next;
  }

  views.performance = {
    title: 'Performance',
    render(root) {
      const v = hashParams();
      const body = h('div', { id: 'perf-body', dataset: { test: 'performance' } }, h('p', { class: 'hint' }, 'Loading\u2026'));
      root.append(filterForm(v, [], (nv) => setHashParams('performance', nv)), body);
      this.load(v, body);
    },
    async load(v, body) {
      const params = filterParams(v);
      try {
        const stats = await api('/api/stats' + query(params));
        if (this.perf) this.perf.destroy();
        this.perf = QC.renderPerformance(body, stats, { from: params.from, symbolLink });
        body.dataset.loaded = query(params) || 'all';
        clearError();
      } catch (e) {
        body.replaceChildren(h('p', { class: 'hint' }, 'Could not load the statistics.'));
        showError('Statistics', e);
      }
    },
    update(what) {
      if (what !== 'summary') return;
      const body = document.getElementById('perf-body');
      if (body) this.load(hashParams(), body);
    },
    destroy() {
      if (this.perf) this.perf.destroy();
      this.perf = null;
    },
  };

  views.trades = {
    title: 'Trades',
    render(root) {
      const v = hashParams();
      const notes = h('label', null, 'Exit ', h('select', { name: 'notes', id: 'f-notes' },
        [['', 'Any'], ['target', 'Target'], ['stop', 'Stop']].map(([val, l]) =>
          h('option', { value: val, selected: val === (v.notes || '') }, l))));
      this.params = { ...filterParams(v), notes: v.notes || undefined, limit: 50 };
      this.rows = [];
      this.cursor = null;
      this.list = h('div', { id: 'trades-list' });
      this.more = h('button', { type: 'button', id: 'load-more', dataset: { test: 'load-more' },
                                onclick: () => this.load(true) }, 'Load more');
      this.count = h('p', { class: 'hint', dataset: { test: 'trades-count' }, 'aria-live': 'polite' });
      root.append(filterForm(v, [notes], (nv) => setHashParams('trades', nv)),
        card('Closed trades', 'trades', this.count, this.list, h('div', { class: 'more' }, this.more)));
      this.load(false);
    },
    async load(more) {
      const params = { ...this.params };
      if (more && this.cursor) params.cursor = this.cursor;
      this.more.disabled = true;
      try {
        const page = await api('/api/trades' + query(params));
        this.rows = more ? this.rows.concat(page.trades) : page.trades;
        this.cursor = page.next_cursor;
        this.draw();
        clearError();
      } catch (e) {
        showError('Trades', e);
      }
    },
    draw() {
      this.list.replaceChildren(closesTable(this.rows, 'trades-table', 'Closed trades'));
      this.more.disabled = !this.cursor;
      this.more.hidden = !this.cursor;
      this.count.textContent = `${this.rows.length} trade${this.rows.length === 1 ? '' : 's'} shown` +
        (this.cursor ? ', more available' : '');
      this.list.dataset.loaded = String(this.rows.length);
      this.list.dataset.query = query(this.params);
    },
    update(what, c) {
      if (what !== 'closed' || !c) return;
      const p = this.params;
      if ((p.symbol && p.symbol !== c.symbol) || (p.notes === 'target' && c.notes !== 'Reached target price') ||
          (p.notes === 'stop' && c.notes !== 'Reached stop loss') || (p.from !== undefined && c.close_timestamp < p.from) ||
          (p.to !== undefined && c.close_timestamp > p.to)) return;
      if (this.rows.some((q) => samePosition(c, q))) return;
      this.rows.unshift({ ...c, live: true });
      this.draw();
    },
  };

  views.symbol = {
    title: 'Symbol',
    render(root, arg) {
      const symbol = arg || (state.tickers[0] && state.tickers[0].symbol);
      if (!symbol) {
        root.append(h('p', { class: 'hint' }, 'No tracked tickers.'));
        return;
      }
      this.symbol = symbol;
      const picker = h('select', { id: 'symbol-picker', 'aria-label': 'Symbol' },
        state.tickers.map((t) => h('option', { value: t.symbol, selected: t.symbol === symbol }, `${t.symbol} \u2014 ${t.name}`)));
      picker.addEventListener('change', () => { location.hash = '#/symbol/' + encodeURIComponent(picker.value); });
      const t = state.tickers.find((x) => x.symbol === symbol);
      this.head = h('div', { class: 'symbol-head', dataset: { test: 'symbol-head' } });
      this.drawHead(t);
      this.chartEl = h('div', { class: 'chart chart-tall', dataset: { test: 'symbol-chart' }, role: 'img',
                                'aria-label': `${symbol} minute bars with opens and closes` });
      this.source = h('p', { class: 'hint', dataset: { test: 'bars-source' } }, 'Loading bars\u2026');
      this.positionsEl = h('div');
      this.tradesEl = h('div');
      root.append(h('div', { class: 'filters' }, h('label', null, 'Symbol ', picker)), this.head,
        card(`${symbol} minute bars`, 'symbol-bars', this.chartEl, this.source),
        h('div', { class: 'grid-2' }, card('Open positions', 'symbol-positions', this.positionsEl),
          card('Closed trades', 'symbol-trades', this.tradesEl)));
      this.load();
    },
    drawHead(t) {
      this.head.replaceChildren(h('h2', null, this.symbol), t ? h('span', { class: 'ticker-name' }, t.name) : null,
        t ? h('span', { class: fmt.tone(t.change) }, ` ${fmt.signed(t.change)} (${fmt.pct(t.change_perc)}) today`) : null);
    },
    async bars() {
      const sym = encodeURIComponent(this.symbol);
      if (state.feed && state.feed.kind === 'polygon') {
        // The provider's minute bars of the last few days, through the server.
        const to = new Date();
        const from = new Date(to.getTime() - 5 * 86400 * 1000);
        const day = (d) => d.toISOString().slice(0, 10);
        try {
          const a = await api(`/api/aggregates/${sym}?timespan=minute&from=${day(from)}&to=${day(to)}`);
          if (a.results && a.results.length) {
            return { source: 'provider minute aggregates (last 5 days)',
                     bars: a.results.map((b) => ({ time: Math.floor(b.t / 1000), open: b.o, high: b.h, low: b.l, close: b.c })) };
          }
        } catch {
          // fall back to the bars the feed applied
        }
      }
      const r = await api(`/api/bars/${sym}`);
      return { source: `the last ${r.bars.length} minute bars the feed applied`,
               bars: r.bars.map((b) => ({ time: b.start, open: b.open, high: b.high, low: b.low, close: b.close })) };
    },
    async load() {
      const symbol = this.symbol;
      try {
        const [bars, trades] = await Promise.all([this.bars(), api('/api/trades' + query({ symbol, limit: 200 }))]);
        if (symbol !== this.symbol) return;
        this.trades = trades.trades;
        this.drawChart(bars);
        this.drawTables();
        clearError();
      } catch (e) {
        showError(symbol, e);
      }
    },
    drawTables() {
      const open = state.positions.filter((p) => p.symbol === this.symbol);
      this.positionsEl.replaceChildren(positionsTable(open, 'symbol-positions-table', true));
      this.tradesEl.replaceChildren(closesTable(this.trades || [], 'symbol-trades-table', 'Closed trades'));
    },
    markers() {
      const times = this.barTimes || [];
      if (!times.length) return [];
      // Index of the last bar starting at or before t (-1 if none).
      const at = (t) => {
        let lo = 0, hi = times.length - 1, found = -1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          if (times[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
        }
        return found;
      };
      const chartTimes = this.barChartTimes;
      const out = [];
      const last = times[times.length - 1];
      // Labels only while they fit; arrows always.
      const few = state.positions.filter((q) => q.symbol === this.symbol).length + (this.trades || []).length <= 6;
      const opened = (p) => {
        // The first bar that applies to the position starts at or after its open.
        if (p.open_timestamp < times[0] - 60) return;
        const i = at(p.open_timestamp);
        const j = i >= 0 && times[i] === p.open_timestamp ? i : i + 1;
        if (j >= 0 && j < times.length) {
          out.push({ time: chartTimes[j], position: 'belowBar', shape: 'arrowUp', color: '#2563eb',
                     text: few ? `Open ${fmt.price(p.entry_price)}` : '' });
        }
      };
      for (const p of state.positions.filter((q) => q.symbol === this.symbol)) opened(p);
      for (const c of this.trades || []) {
        opened(c);
        // Closed by the bar that ended at close_timestamp.
        if (c.close_timestamp - 60 > last) continue;
        const i = at(c.close_timestamp - 60);
        if (i < 0) continue;
        const win = c.pnl > 0;
        out.push({ time: chartTimes[i], position: 'aboveBar', shape: 'arrowDown', color: win ? '#16a34a' : '#dc2626',
                   text: `${c.notes === 'Reached stop loss' ? 'Stop' : 'Target'} ${fmt.pct(c.pnl)}` });
      }
      out.sort((a, b) => a.time - b.time);
      this.chartEl.dataset.markers = String(out.length);
      return out;
    },
    drawChart(data) {
      if (this.chart) this.chart.remove();
      this.chart = null;
      this.chartEl.replaceChildren();
      // Strictly increasing on New York's clock (the chart's time axis).
      const bars = [];
      for (const b of data.bars) {
        const shifted = { ...b, time: fmt.chartSeconds(b.time), start: b.time };
        if (!bars.length || shifted.time > bars[bars.length - 1].time) bars.push(shifted);
      }
      this.barTimes = bars.map((b) => b.start);
      this.barChartTimes = bars.map((b) => b.time);
      this.chartEl.dataset.bars = String(bars.length);
      this.source.textContent = bars.length ? `Candles: ${data.source}. Times in New York.` :
        'No minute bars for this symbol yet (the feed has applied none since the server started).';
      if (!bars.length || !LC) return;
      this.chart = LC.createChart(this.chartEl, QC.chartOptions(this.chartEl, true));
      this.series = this.chart.addSeries(LC.CandlestickSeries, {
        upColor: '#16a34a', downColor: '#dc2626', borderVisible: false, wickUpColor: '#16a34a', wickDownColor: '#dc2626',
        priceFormat: { type: 'price', precision: 2, minMove: 0.01 },
      });
      this.series.setData(bars.map(({ time, open, high, low, close }) => ({ time, open, high, low, close })));
      this.markerApi = LC.createSeriesMarkers(this.series, this.markers());
      this.chart.timeScale().fitContent();
    },
    update(what, c) {
      if (what === 'tickers') this.drawHead(state.tickers.find((x) => x.symbol === this.symbol));
      if (what === 'positions') this.drawTables();
      if (what === 'closed' && c && c.symbol === this.symbol) this.load();
    },
    destroy() {
      if (this.chart) this.chart.remove();
      this.chart = null;
    },
  };

  // ---- routing ---------------------------------------------------------------------
  function route() {
    const path = (location.hash.replace(/^#\/?/, '').split('?')[0] || 'overview').split('/');
    const name = views[path[0]] ? path[0] : 'overview';
    return { name, arg: path[1] ? decodeURIComponent(path[1]) : undefined };
  }
  function renderView(force) {
    const r = route();
    const key = r.name + '|' + (r.arg || '') + '|' + location.hash;
    if (!force && state.view && state.view.key === key) return;
    if (state.view && views[state.view.name].destroy) views[state.view.name].destroy();
    const root = main();
    root.replaceChildren();
    state.view = { name: r.name, key };
    document.documentElement.dataset.view = r.name;
    for (const a of document.querySelectorAll('nav a')) {
      if (a.dataset.view === r.name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${views[r.name].title} \u00b7 QuantCrunch`;
    views[r.name].render(root, r.arg);
  }
  function updateView(what, detail) {
    if (!state.view) return;
    const v = views[state.view.name];
    if (v.update) v.update(what, detail);
  }

  window.addEventListener('hashchange', () => {
    renderView(false);
    main().focus({ preventScroll: true });
  });
  setConnection('connecting');
  connect();
  reloadAll().then(() => {
    document.documentElement.dataset.ready = 'true';
  });
})();
