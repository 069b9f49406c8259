// The backtest report's page: the statistics inlined by
// `quantcrunch backtest --report`, drawn like the dashboard's Performance view.
(function () {
  'use strict';
  const QC = window.QC;
  const { fmt, h } = QC;
  const stats = JSON.parse(document.getElementById('qc-stats').textContent);
  const meta = JSON.parse(document.getElementById('qc-meta').textContent);
  const about = document.querySelector('[data-test=report-meta]');
  about.append(
    h('h2', null, 'This run'),
    h('p', null, `Recommendations from ${meta.recommendations}, minute bars from ${meta.bars_file}. `,
      `${fmt.int(meta.documents)} documents, ${fmt.int(meta.bars)} bars (${fmt.int(meta.bars_applied)} applied), `,
      `${fmt.int(meta.opened)} positions opened, ${fmt.int(meta.closed)} closed, ${fmt.int(stats.open.count)} still open. `,
      `Written ${fmt.dateTime(meta.generated)} ET.`));
  QC.renderPerformance(document.getElementById('report-body'), stats, {});
  document.documentElement.dataset.ready = 'true';
})();
