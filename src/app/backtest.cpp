#include "app/backtest.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <ostream>

#include "app/report_html.h"
#include "core/engine.h"
#include "core/json_writer.h"
#include "core/ny_time.h"
#include "core/recommendation_book.h"
#include "core/render.h"
#include "core/stats_render.h"
#include "core/trade_history.h"
#include "market/bar_parser.h"

namespace qc {
namespace {

struct TimedDocument {
  std::int64_t open_timestamp;
  RecommendationDocument document;
};

std::vector<TimedDocument> read_documents(const std::filesystem::path& path, std::ostream& err,
                                          BacktestSummary& s) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<TimedDocument> docs;
  RecommendationBook seen;
  std::string line;
  std::uint64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto parsed = parse_recommendation_document(line);
    bool document_level = false;
    for (const auto& p : parsed.problems) {
      err << path.string() << ":" << n << ": " << describe(p)
          << (p.item < 0 ? " (document skipped)" : " (item skipped)") << "\n";
      document_level |= p.item < 0;
      s.items_skipped += p.item >= 0;
    }
    if (document_level) {
      ++s.documents_rejected;
      continue;
    }
    // The same document twice (the algorithm may insert it twice) counts
    // once, as in the live server (SPEC §6.3).
    if (!seen.remember(canonical_json(parsed.document))) {
      ++s.documents_duplicate;
      continue;
    }
    auto ts = parse_new_york_time(parsed.document.us_date, parsed.document.sg_date);
    docs.push_back({*ts, std::move(parsed.document)});
  }
  std::stable_sort(docs.begin(), docs.end(), [](const auto& a, const auto& b) {
    return a.open_timestamp < b.open_timestamp;
  });
  return docs;
}

std::string with_commas(std::uint64_t v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

}  // namespace

BacktestSummary run_backtest(const BacktestConfig& config, std::ostream& out, std::ostream& err) {
  using clock = std::chrono::steady_clock;
  auto started = clock::now();
  BacktestSummary s;
  // Opened first, so that an unwritable path fails before the work is done.
  std::ofstream report;
  if (!config.report.empty()) {
    report.open(config.report, std::ios::binary | std::ios::trunc);
    if (!report) throw std::runtime_error("cannot write the report " + config.report.string());
  }
  auto docs = read_documents(config.recommendations, err, s);
  s.documents = docs.size();
  BarFileReader reader(config.bars);

  Engine engine;
  std::size_t next_doc = 0;
  auto open_doc = [&](const TimedDocument& d) {
    auto r = engine.open(d.document, InvalidItems::SkipItem);
    for (const auto& p : r.problems)
      err << config.recommendations.string() << ": document " << d.document.us_date << ": "
          << describe(p) << " (item skipped)\n";
    s.items_skipped += r.problems.size();
    s.opened += r.opened.size();
  };
  auto on_reject = [&](const RejectedLine& r) {
    ++s.lines_rejected;
    err << config.bars.string() << ":" << r.line << ": " << r.reason << " (skipped)\n";
  };

  std::vector<MinuteBar> batch;
  std::vector<ClosedPosition> closed;
  std::int64_t previous_start = INT64_MIN;
  auto last_progress = started;
  batch.reserve(1 << 16);
  for (;;) {
    batch.clear();
    if (!reader.next(batch, 1 << 16, on_reject)) break;
    for (const auto& bar : batch) {
      while (next_doc < docs.size() && docs[next_doc].open_timestamp * 1000 <= bar.start_ms)
        open_doc(docs[next_doc++]);
      if (bar.start_ms < previous_start) ++s.bars_out_of_order;
      previous_start = bar.start_ms;
      switch (engine.apply(bar, closed)) {
        case BarOutcome::Applied: ++s.bars_applied; break;
        case BarOutcome::Stale: ++s.bars_ignored; break;
        case BarOutcome::UnknownSymbol: ++s.bars_unknown_symbol; break;
      }
    }
    s.bars += batch.size();
    s.closed += closed.size();
    closed.clear();
    auto now = clock::now();
    if (config.progress && now - last_progress >= std::chrono::seconds(2)) {
      last_progress = now;
      double secs = std::chrono::duration<double>(now - started).count();
      int pct = reader.file_size() ? static_cast<int>(100.0 * static_cast<double>(reader.bytes_read()) /
                                                      static_cast<double>(reader.file_size()))
                                   : 0;
      err << "backtest: " << pct << "% read, " << with_commas(s.bars) << " bars, "
          << with_commas(static_cast<std::uint64_t>(static_cast<double>(s.bars) / secs))
          << " bars/s" << std::endl;
    }
  }
  while (next_doc < docs.size()) open_doc(docs[next_doc++]);

  std::string stats_json;
  if (config.stats || report.is_open()) {
    TradeHistory history;
    for (const auto& [month, m] : engine.performance().months())
      for (const auto& c : m.positions) history.add(c);
    OpenSummary open;
    for (const auto& p : engine.open_positions()) {
      ++open.count;
      if (auto mark = engine.mark(p)) open.unrealized_pnl += unrealized_pnl(p, *mark);
    }
    stats_json = render_stats(compute_stats(history), open);
  }
  if (config.stats) out << stats_json << "\n";
  else out << render_performance(engine.performance()) << "\n";
  out.flush();
  if (report.is_open()) {
    std::string meta;
    JsonWriter w(meta);
    w.begin_object()
        .key("recommendations").value(config.recommendations.filename().string())
        .key("bars_file").value(config.bars.filename().string())
        .key("documents").value(static_cast<std::int64_t>(s.documents))
        .key("bars").value(static_cast<std::int64_t>(s.bars))
        .key("bars_applied").value(static_cast<std::int64_t>(s.bars_applied))
        .key("opened").value(static_cast<std::int64_t>(s.opened))
        .key("closed").value(static_cast<std::int64_t>(s.closed))
        .key("generated").value(static_cast<std::int64_t>(
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count()))
        .end_object();
    std::string page = render_report_html(stats_json, meta);
    report << page;
    report.close();
    if (!report) throw std::runtime_error("cannot write the report " + config.report.string());
    if (config.progress)
      err << "backtest: report written to " << config.report.string() << " (" << with_commas(page.size() / 1024)
          << " KiB)\n";
  }
  s.seconds = std::chrono::duration<double>(clock::now() - started).count();
  if (config.progress || s.lines_rejected || s.bars_out_of_order) {
    err << "backtest: " << with_commas(s.documents) << " documents (" << s.documents_rejected
        << " rejected, " << s.documents_duplicate << " duplicates, " << s.items_skipped << " items skipped), " << with_commas(s.bars)
        << " bars (" << with_commas(s.bars_applied) << " applied, " << with_commas(s.bars_ignored)
        << " not newer than the last bar of their symbol, " << with_commas(s.bars_unknown_symbol)
        << " for untracked symbols, " << s.lines_rejected << " lines rejected), " << s.opened
        << " positions opened, " << s.closed << " closed, in " << s.seconds << " s ("
        << with_commas(static_cast<std::uint64_t>(static_cast<double>(s.bars) / std::max(s.seconds, 1e-9)))
        << " bars/s)\n";
    if (s.bars_out_of_order)
      err << "backtest: warning: " << s.bars_out_of_order
          << " bars started earlier than the bar before them; bars are applied in file order\n";
  }
  return s;
}

}  // namespace qc
