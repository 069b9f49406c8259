#include "app/ledger.h"

#include <charconv>
#include <malloc.h>

#include <algorithm>
#include <unordered_set>

#include "core/ny_time.h"
#include "core/render.h"
#include "core/stats_render.h"
#include "log/log.h"

namespace qc {
namespace {

constexpr auto kTickerlistInterval = std::chrono::milliseconds(200);
constexpr auto kRebuildRetry = std::chrono::seconds(1);

std::int64_t unix_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One waiter for one answer from the ledger thread.
template <class T>
class Answer {
 public:
  void set(T value) {
    std::lock_guard lock(mutex_);
    value_ = std::move(value);
    cv_.notify_all();
  }
  T wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return value_.has_value(); });
    return std::move(*value_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

}  // namespace

Ledger::Ledger(Store& store, Cache& cache, ApiViews& views, LedgerOptions options)
    : store_(store), cache_(cache), views_(views), options_(options) {
  rebuild_from_store();
  last_write_ = Clock::now();
  health_.since = health_.last_success = unix_now();
  thread_ = std::thread([this] { run(); });
}

Ledger::~Ledger() { stop(); }

void Ledger::begin_stop() {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      stop_asked_ = Clock::now();
    }
  }
  wake_.notify_all();
  room_.notify_all();
}

StopReport Ledger::stop() {
  begin_stop();
  {
    std::unique_lock lock(mutex_);
    // One caller joins; the others wait for it.
    if (thread_.joinable() && !stopped_ && std::this_thread::get_id() != thread_.get_id()) {
      if (joining_) {
        room_.wait(lock, [&] { return stopped_; });
      } else {
        joining_ = true;
        lock.unlock();
        thread_.join();
        lock.lock();
        stopped_ = true;
        room_.notify_all();
      }
    }
    return stop_report_;
  }
}

void Ledger::rebuild_from_store() {
  StoredState state = store_.load();
  next_event_id_ = std::max({next_event_id_, unix_now_us(), state.last_event_id + 1});
  Engine engine(state.tickers, Engine::Closes::IdentityOnly);
  // Closed first: a position found both closed and still open (a crash
  // between two writes of a store without transactions) is closed. In §4.3
  // order, so that every add to the history appends.
  TradeHistory history;
  {
    auto& closed = state.closed_positions;
    std::sort(closed.begin(), closed.end(), closes_before);
    history.reserve(closed.size());
    for (const auto& c : closed)
      if (engine.restore_closed(c)) history.add(c);
    // The history holds them now, in a fraction of the memory. (Not
    // `closed = {}`: that is the initializer-list assignment, which keeps the
    // capacity: ~110 MB at a million trades, held until the end of the load.)
    std::vector<ClosedPosition>().swap(closed);
  }
  for (const auto& p : state.open_positions) engine.restore_open(p);
  for (const auto& bar : state.last_bars) engine.restore_last_bar(bar);
  RecommendationBook documents;
  auto tracked = [&engine](std::string_view s) { return engine.is_tracked(s); };
  for (auto& stored : state.documents) {
    // The algorithm may insert the same document twice: list it once.
    if (!documents.remember(canonical_json(stored.document))) continue;
    auto ts = parse_new_york_time(stored.document.us_date, stored.document.sg_date);
    if (!ts) continue;
    documents.list({*ts, stored.seq, described_positions(stored.document, *ts, tracked)});
  }
  engine_ = std::move(engine);
  documents_ = std::move(documents);
  {
    std::unique_lock lock(history_mutex_);
    history_ = std::move(history);
    stats_cache_.cleared();
    stats_ = compute_stats(history_);
  }
  equity_blocks_.clear();
  equity_reducer_ = EquityReducer(kEquityDefaultPoints);  // stats_ starts again at generation 0
  reduced_blocks_.clear();
  reduced_epoch_ = equity_reducer_.epoch();
  month_parts_.clear();
  dirty_months_.clear();
  all_months_dirty_ = true;
  quotes_ = QuoteBoard();
  {
    std::lock_guard lock(counters_mutex_);
    counters_.documents = state.documents.size();
    counters_.open_positions = engine_.open_count();
    counters_.closed_positions = history_.size();
    tickers_copy_ = engine_.tickers();
    latest_bar_ = engine_.latest_bar_start();
  }
  publish_recommendations();
  publish_performance();
  publish_positions();
  publish_stats();
  publish_tickerlist();
  sync_cache();
  // The load's temporary rows (hundreds of MB with a long history) go back
  // to the system, not only to the allocator.
  malloc_trim(0);
}

void Ledger::add_closes_to_history(const std::vector<ClosedPosition>& closed) {
  // One at a time: StatsBook::add rebuilds from the history for a close that
  // sorts before the last one, so the history must not hold the batch's
  // later closes yet (they would be counted twice).
  for (const auto& c : closed) {
    {
      std::unique_lock lock(history_mutex_);
      history_.add(c);
      stats_cache_.closed(c);
    }
    // Only this thread writes history_: reading it without the lock is safe.
    stats_.add(c, history_);
    dirty_months_.insert(month_start_utc(c.close_timestamp));
  }
}

namespace {

// Points of the /api/stats equity curve per part (~260 kB rendered).
constexpr std::size_t kEquityBlock = 8192;
// Points of the reduced (default) curve per part (~30 kB rendered).
constexpr std::size_t kReducedBlock = 1024;

BodyPartPtr part_of(std::string text) { return std::make_shared<const BodyPart>(std::move(text)); }
// A month of /api/performance: kept deflated only once compressed (SPEC §8
// memory); the rare client without gzip gets it inflated as it is sent.
BodyPartPtr gzip_only_part(std::string text) {
  return std::make_shared<const BodyPart>(std::move(text), BodyPart::Keep::GzipOnly);
}

const BodyPartPtr& comma_part() {
  static const BodyPartPtr part = part_of(",");
  return part;
}

}  // namespace

void Ledger::publish_stats() {
  auto started = Clock::now();
  const auto& equity = stats_.equity();
  const std::size_t full_blocks = equity.size() / kEquityBlock;
  if (stats_.generation() != equity_generation_ || equity_blocks_.size() > full_blocks) {
    equity_blocks_.clear();
    equity_generation_ = stats_.generation();
  }
  while (equity_blocks_.size() < full_blocks) {
    std::size_t begin = equity_blocks_.size() * kEquityBlock;
    std::string block;
    append_equity_points(block, equity, begin, begin + kEquityBlock);
    // Like a month of /api/performance: the full curve (equity=full) is
    // rarely asked for, so its complete blocks are kept deflated only.
    equity_blocks_.push_back(gzip_only_part(std::move(block)));
  }
  auto head = part_of(render_stats_head(stats_));
  auto tail = part_of(render_stats_tail(open_summary(std::nullopt)));
  std::vector<BodyPartPtr> parts;
  parts.reserve(equity_blocks_.size() + 3);
  parts.push_back(head);
  parts.insert(parts.end(), equity_blocks_.begin(), equity_blocks_.end());
  if (equity.size() > full_blocks * kEquityBlock) {
    std::string last;
    append_equity_points(last, equity, full_blocks * kEquityBlock, equity.size());
    parts.push_back(part_of(std::move(last)));
  }
  parts.push_back(tail);
  StatsViews views;
  views.full = std::make_shared<const ViewBody>(std::move(parts));
  views.none = std::make_shared<const ViewBody>(std::vector<BodyPartPtr>{head, tail});
  if (equity.size() <= kEquityDefaultPoints) {
    views.reduced = views.full;
  } else {
    std::vector<BodyPartPtr> reduced{head};
    auto points = reduced_equity_parts();
    reduced.insert(reduced.end(), points.begin(), points.end());
    reduced.push_back(tail);
    views.reduced = std::make_shared<const ViewBody>(std::move(reduced));
  }
  views_.publish_stats(std::move(views));
  last_stats_publish_ = Clock::now();
  stats_pace_ = std::max<Clock::duration>(kTickerlistInterval, 10 * (last_stats_publish_ - started));
  open_stats_dirty_ = false;
}

std::vector<BodyPartPtr> Ledger::reduced_equity_parts() {
  const auto& equity = stats_.equity();
  equity_reducer_.update(equity, stats_.generation());
  if (equity_reducer_.epoch() != reduced_epoch_) {
    reduced_blocks_.clear();
    reduced_epoch_ = equity_reducer_.epoch();
  }
  const auto& kept = equity_reducer_.complete_kept();
  const std::size_t cached = kept.size() / kReducedBlock;
  // Renders kept[begin, end) with `extra` merged in, in index order; only
  // the curve's first point has no comma before it.
  auto render = [&](std::size_t begin, std::size_t end, std::vector<std::size_t> extra) {
    extra.insert(extra.end(), kept.begin() + static_cast<std::ptrdiff_t>(begin),
                 kept.begin() + static_cast<std::ptrdiff_t>(end));
    std::sort(extra.begin(), extra.end());
    std::string text;
    for (std::size_t k = 0; k < extra.size(); ++k)
      append_equity_point(text, equity[extra[k]], begin == 0 && k == 0);
    return part_of(std::move(text));
  };
  while (reduced_blocks_.size() < cached) {
    std::size_t begin = reduced_blocks_.size() * kReducedBlock;
    reduced_blocks_.push_back(render(begin, begin + kReducedBlock, {}));
  }
  // The drawdown's peak and trough, when kept for it alone, go in the block
  // where they sort (rendered afresh), or in the last part.
  std::map<std::size_t, std::vector<std::size_t>> extra_by_block;
  for (auto i : equity_reducer_.drawdown_extra(equity)) {
    auto pos = static_cast<std::size_t>(std::lower_bound(kept.begin(), kept.end(), i) -
                                        kept.begin());
    extra_by_block[std::min(pos / kReducedBlock, cached)].push_back(i);
  }
  std::vector<BodyPartPtr> parts;
  parts.reserve(cached + 1);
  for (std::size_t b = 0; b < cached; ++b) {
    auto extra = extra_by_block.find(b);
    if (extra == extra_by_block.end()) parts.push_back(reduced_blocks_[b]);
    else parts.push_back(render(b * kReducedBlock, (b + 1) * kReducedBlock, extra->second));
  }
  auto last = equity_reducer_.tail_kept(equity);
  if (auto extra = extra_by_block.find(cached); extra != extra_by_block.end())
    last.insert(last.end(), extra->second.begin(), extra->second.end());
  if (!last.empty() || kept.size() > cached * kReducedBlock)
    parts.push_back(render(cached * kReducedBlock, kept.size(), std::move(last)));
  return parts;
}

TradePage Ledger::trades_page(const TradeQuery& query) const {
  std::shared_lock lock(history_mutex_);
  return history_.page(query);
}

namespace {

// The StatsAnswerCache key of a filtered /api/stats request.
std::string stats_cache_key(const TradeFilter& filter, EquityMode mode) {
  std::string key(1, static_cast<char>('0' + static_cast<int>(mode)));
  auto number = [&key](const std::optional<double>& v) {
    key += '\x1f';
    if (!v) return;
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *v);
    if (ec == std::errc()) key.append(buf, end);
  };
  number(filter.from);
  number(filter.to);
  key += '\x1f';
  if (filter.notes) key += std::to_string(static_cast<int>(*filter.notes));
  key += '\x1f';
  if (filter.symbol) key += *filter.symbol;
  return key;
}

}  // namespace

OpenSummary Ledger::open_summary(const std::optional<std::string>& symbol) const {
  OpenSummary open;
  if (auto marks = open_marks_.load()) {
    for (const auto& m : *marks) {
      if (symbol && m.symbol != *symbol) continue;
      ++open.count;
      if (m.unrealized_pnl) open.unrealized_pnl += *m.unrealized_pnl;
    }
  }
  return open;
}

std::optional<std::string> Ledger::stats_json(const TradeFilter& filter, EquityMode mode) const {
  auto body = stats_body(filter, mode);
  if (!body) return std::nullopt;
  return (*body)->text();
}

std::optional<ViewBodyPtr> Ledger::stats_body(const TradeFilter& filter, EquityMode mode) const {
  // SPEC §4.8: `symbol` filters the open part too, from/to do not.
  auto with_open_part = [&](BodyPartPtr kept) {
    auto open = BodyPart::stored(render_stats_tail(open_summary(filter.symbol)));
    return std::make_shared<const ViewBody>(std::vector<BodyPartPtr>{std::move(kept), std::move(open)});
  };
  const std::string key = stats_cache_key(filter, mode);
  auto found = stats_cache_.lookup(key);
  if (found.text) return with_open_part(std::move(found.text));
  if (filtered_scans_.fetch_add(1) >= kMaxFilteredScans) {
    filtered_scans_.fetch_sub(1);
    return std::nullopt;
  }
  struct Release {
    std::atomic<int>& n;
    ~Release() { n.fetch_sub(1); }
  } release{filtered_scans_};
  // Kept statistics change only while a close holds the history's lock
  // exclusively: look again holding it shared.
  std::shared_lock lock(history_mutex_);
  if (found.book) found = stats_cache_.peek(key);
  if (found.text) {  // another request rendered it meanwhile
    lock.unlock();
    return with_open_part(std::move(found.text));
  }
  if (found.book) {
    // A kept answer made stale by closes added to its statistics: render
    // them again rather than scan.
    auto kept = part_of(render_stats_without_tail(*found.book, mode));
    lock.unlock();
    if (stats_cache_.refreshed(key, found.generation, kept)) views_.compress_later(kept);
    return with_open_part(std::move(kept));
  }
  auto stats = std::make_shared<StatsBook>(compute_stats(history_, filter));
  const std::uint64_t version = stats_cache_.version();
  lock.unlock();
  auto kept = part_of(render_stats_without_tail(*stats, mode));
  if (stats_cache_.store(key, filter, version, kept, std::move(stats))) views_.compress_later(kept);
  return with_open_part(std::move(kept));
}

std::vector<ItemOutcome> Ledger::item_outcomes(const RecommendationDocument& doc, std::int64_t ts,
                                               const std::vector<OpenPosition>& opened) const {
  std::vector<ItemOutcome> out;
  auto tracked = [this](std::string_view s) { return engine_.is_tracked(s); };
  for (auto& p : described_positions(doc, ts, tracked)) {
    bool new_now = std::find(opened.begin(), opened.end(), p) != opened.end();
    if (!new_now) {
      if (auto held = engine_.held(p.symbol, p.open_timestamp)) {
        out.push_back({std::move(held->position), held->state == HeldPosition::State::Open
                                                      ? ItemOutcome::State::AlreadyOpen
                                                      : ItemOutcome::State::Closed});
        continue;
      }
      if (engine_.knows(p.symbol, p.open_timestamp)) {
        // Known, not open: closed. The history has it unless it closed in
        // the batch being processed (then the document's own position).
        auto closed = history_.find(p.symbol, p.open_timestamp);
        out.push_back({closed ? std::move(closed->position) : std::move(p), ItemOutcome::State::Closed});
        continue;
      }
    }
    out.push_back({std::move(p), ItemOutcome::State::Opened});
  }
  return out;
}

void Ledger::publish_recommendations() {
  std::vector<std::string> items;
  for (const auto& p : documents_.latest(ApiViews::kMaxLimit)) items.push_back(render_open_position(p));
  views_.publish_recommendations(std::move(items));
}

void Ledger::publish_positions_and_open_stats() {
  publish_positions();
  // New prices change only the "open" part of /api/stats, but the document
  // is published whole (tens of MB with a long history): paced so that
  // rendering it takes at most a tenth of the ledger's time.
  if (Clock::now() - last_stats_publish_ >= stats_pace_) publish_stats();
  else open_stats_dirty_ = true;
}

void Ledger::publish_positions() {
  auto positions = engine_.open_positions();
  auto marks = std::make_shared<std::vector<OpenMark>>();
  marks->reserve(positions.size());
  for (const auto& p : positions) {
    auto mark = engine_.mark(p);
    marks->push_back({p.symbol, mark ? std::optional<double>(unrealized_pnl(p, *mark)) : std::nullopt});
  }
  open_marks_.store(std::move(marks));
  views_.publish_positions(
      render_positions(positions, [this](const OpenPosition& p) { return engine_.mark(p); }));
  marks_dirty_ = false;
  last_positions_publish_ = Clock::now();
}

void Ledger::publish_performance() {
  // The trades closing in [month, next month) are one run of the history.
  auto render_month = [this](std::int64_t month) -> std::size_t {
    std::int64_t next = month_start_utc(static_cast<double>(month + 32 * 86400));
    std::size_t begin = history_.first_closing_from(static_cast<double>(month));
    std::size_t end = history_.first_closing_from(static_cast<double>(next));
    if (begin == end) month_parts_.erase(month);
    else month_parts_[month] = gzip_only_part(render_performance_month(month, history_, begin, end));
    return end;
  };
  if (all_months_dirty_) {
    month_parts_.clear();
    for (std::size_t i = 0; i < history_.size();) {
      std::int64_t month = month_start_utc(history_.close_timestamp_at(i));
      i = render_month(month);
      // Compressed while the next months are rendered, so their plain text
      // (~200 MB at a million trades) never all exists at once.
      views_.compress_soon(month_parts_.at(month));
    }
  } else {
    for (auto month : dirty_months_) render_month(month);
  }
  all_months_dirty_ = false;
  dirty_months_.clear();
  static const BodyPartPtr open = part_of(kPerformanceOpen);
  static const BodyPartPtr close = part_of(kPerformanceClose);
  std::vector<BodyPartPtr> parts;
  parts.reserve(2 * month_parts_.size() + 2);
  parts.push_back(open);
  for (const auto& [month, part] : month_parts_) {
    if (parts.size() > 1) parts.push_back(comma_part());
    parts.push_back(part);
  }
  parts.push_back(close);
  views_.publish_performance(std::make_shared<const ViewBody>(std::move(parts)));
}

void Ledger::publish_tickerlist() {
  std::string body = render_tickerlist(engine_.tickers(), quotes_, market_open_.load());
  if (options_.on_events && body != last_quotes_event_) {
    last_quotes_event_ = body;
    options_.on_events({LiveEvent{next_event_id_++, "quotes", body}});
  }
  views_.publish_tickerlist(std::move(body));
  quotes_dirty_ = false;
  last_tickerlist_publish_ = Clock::now();
}

void Ledger::sync_cache() {
  try {
    std::string tickers;
    JsonWriter w(tickers);
    w.begin_object();
    for (const auto& t : engine_.tickers())
      w.key(t.symbol).begin_object().key("symbol").value(t.symbol).key("exchange").value(t.exchange)
          .key("name").value(t.name).end_object();
    w.end_object();
    cache_.put("tickers_metadata", tickers);
    std::vector<std::string> open;
    for (const auto& p : engine_.open_positions()) open.push_back(render_open_position(p));
    cache_.put_list("open_positions", open);
  } catch (const std::exception& e) {
    log::warn("cache", std::string("cannot update cache: ") + e.what());
  }
}

void Ledger::set_write_health(bool ok, const std::string& reason) {
  std::lock_guard lock(counters_mutex_);
  auto now = unix_now();
  if (ok) health_.last_success = now;
  if (health_.ok != ok) {
    health_.since = now;
    if (ok) log::info("ledger", "writes work again: the database accepted a commit");
  }
  health_.ok = ok;
  health_.reason = ok ? std::string() : reason;
}

void Ledger::set_held_bars(std::size_t n) {
  {
    std::lock_guard lock(mutex_);
    held_bars_ = n;
  }
  room_.notify_all();
}

void Ledger::refuse(DocumentCallback& done, std::string why) {
  DocumentOutcome out;
  out.status = DocumentOutcome::Status::Unavailable;
  out.error = std::move(why);
  done(std::move(out));
}

bool Ledger::enqueue_bars(Job job, std::size_t bars) {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [&] {
    return stopping_ || bars == 0 || queued_bars_ + held_bars_ < options_.max_backlog_bars;
  });
  if (stopping_) return false;
  queue_.push_back(std::move(job));
  queued_bars_ += bars;
  lock.unlock();
  wake_.notify_one();
  return true;
}

void Ledger::submit(DocumentJob job) {
  std::string refused;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      refused = "the server is shutting down; nothing was stored";
    } else if (queued_documents_ >= options_.max_queued_documents) {
      refused = "the server is busy (" + std::to_string(queued_documents_) +
                " writes waiting for the database); nothing was stored, try again shortly";
    } else {
      job.deadline = Clock::now() + options_.document_deadline;
      queue_.push_back(std::move(job));
      ++queued_documents_;
    }
  }
  if (refused.empty()) {
    wake_.notify_one();
    return;
  }
  {
    std::lock_guard lock(counters_mutex_);
    ++counters_.documents_unavailable;
  }
  refuse(job.done, std::move(refused));
}

void Ledger::submit_document(RecommendationDocument doc, InvalidItems mode, DocumentCallback done) {
  submit({std::move(doc), mode, std::move(done), {}, false, 0});
}

void Ledger::submit_stored_document(StoredDocument stored, DocumentCallback done) {
  submit({std::move(stored.document), InvalidItems::SkipItem, std::move(done), {}, true, stored.seq});
}

bool Ledger::submit_bars(std::vector<MinuteBar> bars) {
  if (bars.empty()) return true;
  std::size_t n = bars.size();
  return enqueue_bars(BarsJob{std::move(bars)}, n);
}

void Ledger::submit_document(RecommendationDocument doc) {
  submit_document(std::move(doc), InvalidItems::SkipItem, [](DocumentOutcome out) {
    if (out.status == DocumentOutcome::Status::Unavailable)
      log::warn("ledger", "feed document not stored: " + out.error);
    for (const auto& p : out.problems) log::warn("ledger", "feed document item skipped: " + describe(p));
  });
}

bool Ledger::flush() {
  auto answer = std::make_shared<Answer<bool>>();
  if (!enqueue_bars(FlushJob{[answer](bool durable) { answer->set(durable); }}, 0)) return false;
  return answer->wait();
}

void Ledger::submit_quotes(std::vector<std::pair<std::string, DailyChange>> quotes) {
  enqueue_bars(QuotesJob{std::move(quotes)}, 0);
}

std::vector<BackfillRequest> Ledger::backfill_plan() {
  auto answer = std::make_shared<Answer<std::vector<BackfillRequest>>>();
  auto job = InspectJob{[answer](const Engine& engine) {
    std::vector<BackfillRequest> out;
    for (const auto& p : engine.open_positions()) {
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const BackfillRequest& r) { return r.symbol == p.symbol; });
      std::int64_t from = p.open_timestamp * 1000;
      if (it == out.end()) out.push_back({p.symbol, from});
      else it->from_ms = std::min(it->from_ms, from);
    }
    for (auto& r : out)
      if (auto last = engine.last_bar_start(r.symbol)) r.from_ms = std::max(r.from_ms, *last + 1);
    answer->set(std::move(out));
  }};
  if (!enqueue_bars(std::move(job), 0)) return {};
  return answer->wait();
}

void Ledger::set_market_open(bool open) {
  if (market_open_.exchange(open) != open) {
    market_open_changed_ = true;
    wake_.notify_one();
  }
}

LedgerCounters Ledger::counters() const {
  std::size_t bars, documents;
  {
    std::lock_guard lock(mutex_);
    bars = queued_bars_ + held_bars_;
    documents = queued_documents_;
  }
  std::lock_guard lock(counters_mutex_);
  LedgerCounters c = counters_;
  c.queued_bars = bars;
  c.queued_documents = documents;
  return c;
}

WriteHealth Ledger::write_health() const {
  std::lock_guard lock(counters_mutex_);
  return health_;
}

std::vector<Ticker> Ledger::tickers() const {
  std::lock_guard lock(counters_mutex_);
  return tickers_copy_;
}

std::optional<std::int64_t> Ledger::latest_bar_start() const {
  std::lock_guard lock(counters_mutex_);
  return latest_bar_;
}

void Ledger::run() {
  std::deque<Job> jobs;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kTickerlistInterval, [&] {
        return stopping_ || !queue_.empty() || market_open_changed_.load();
      });
      jobs.swap(queue_);
      // The bars taken stay in the backlog until they are applied and
      // stored (or kept for later), so a stalled ledger holds feeds back.
      held_bars_ = reapply_bars_.size() + queued_bars_;
      queued_bars_ = 0;
      queued_documents_ = 0;
      if (stopping_) {
        if (jobs.empty() && reapply_bars_.empty() && !needs_rebuild_ && deferred_flushes_.empty()) break;
        if (Clock::now() - stop_asked_ >= options_.stop_deadline) {
          lock.unlock();
          room_.notify_all();
          give_up(jobs, "the database did not accept them before the shutdown deadline");
          break;
        }
      }
    }
    room_.notify_all();
    if (needs_rebuild_ && !try_rebuild()) {
      hold_while_unreadable(jobs);
      continue;
    }
    if (!reapply_bars_.empty()) {
      jobs.push_front(BarsJob{std::move(reapply_bars_)});
      reapply_bars_.clear();
    }
    if (jobs.empty()) probe_if_idle();
    else process(jobs);
    jobs.clear();
    set_held_bars(reapply_bars_.size());
    if (market_open_changed_.exchange(false)) quotes_dirty_ = true;
    if (quotes_dirty_ && Clock::now() - last_tickerlist_publish_ >= kTickerlistInterval) publish_tickerlist();
    if (marks_dirty_ && Clock::now() - last_positions_publish_ >= kTickerlistInterval)
      publish_positions_and_open_stats();
    if (open_stats_dirty_ && Clock::now() - last_stats_publish_ >= stats_pace_) publish_stats();
  }
  if (quotes_dirty_) publish_tickerlist();
  bool prices_changed = marks_dirty_ || open_stats_dirty_;
  if (marks_dirty_) publish_positions();
  if (prices_changed) publish_stats();
}

bool Ledger::try_rebuild() {
  auto now = Clock::now();
  if (now < next_rebuild_try_) return false;
  try {
    rebuild_from_store();
    needs_rebuild_ = false;
    log::info("ledger", "database readable again; state reloaded");
    return true;
  } catch (const std::exception& e) {
    next_rebuild_try_ = now + kRebuildRetry;
    set_write_health(false, std::string("cannot read the database: ") + e.what());
    log::warn("ledger", std::string("still cannot reload state from the database: ") + e.what());
    return false;
  }
}

// The store cannot be read: documents are refused at once (nothing can be
// stored), bars are kept to be applied after the reload (counted against the
// backlog, so feeds wait), flushes wait for that.
void Ledger::hold_while_unreadable(std::deque<Job>& jobs) {
  std::uint64_t refused = 0;
  for (auto& job : jobs) {
    if (auto* d = std::get_if<DocumentJob>(&job)) {
      refuse(d->done, "the database cannot be read right now; nothing was stored");
      ++refused;
    } else if (auto* b = std::get_if<BarsJob>(&job)) {
      reapply_bars_.insert(reapply_bars_.end(), std::make_move_iterator(b->bars.begin()),
                           std::make_move_iterator(b->bars.end()));
    } else if (auto* f = std::get_if<FlushJob>(&job)) {
      deferred_flushes_.push_back(std::move(f->done));
    } else if (auto* i = std::get_if<InspectJob>(&job)) {
      i->run(engine_);
    }  // quotes: the next snapshot brings them again
  }
  jobs.clear();
  set_held_bars(reapply_bars_.size());
  if (refused) {
    std::lock_guard lock(counters_mutex_);
    counters_.documents_unavailable += refused;
  }
}

// Shutdown with work that cannot be made durable: answer and count it.
void Ledger::give_up(std::deque<Job>& jobs, const std::string& why) {
  StopReport report;
  report.bars_not_stored = reapply_bars_.size();
  reapply_bars_.clear();
  for (auto& job : jobs) {
    if (auto* d = std::get_if<DocumentJob>(&job)) {
      refuse(d->done, "the server is shutting down and the database is unavailable; nothing was stored");
      ++report.documents_refused;
    } else if (auto* b = std::get_if<BarsJob>(&job)) {
      report.bars_not_stored += b->bars.size();
    } else if (auto* f = std::get_if<FlushJob>(&job)) {
      f->done(false);
    } else if (auto* i = std::get_if<InspectJob>(&job)) {
      i->run(engine_);
    }
  }
  jobs.clear();
  for (auto& f : deferred_flushes_) f(false);
  deferred_flushes_.clear();
  set_held_bars(0);
  report.durable = report.bars_not_stored == 0 && report.documents_refused == 0;
  report.reason = why;
  if (!report.durable)
    log::error("ledger", "stopping with work not stored: " + std::to_string(report.bars_not_stored) +
                             " minute bars and " + std::to_string(report.documents_refused) +
                             " documents (" + why + "); a backfill or replay after restart applies the bars");
  std::lock_guard lock(mutex_);
  stop_report_ = std::move(report);
}

void Ledger::probe_if_idle() {
  if (needs_rebuild_) return;
  auto interval = write_health().ok ? options_.idle_probe : options_.failing_probe;
  auto now = Clock::now();
  if (now - last_write_ < interval) return;
  last_write_ = now;
  try {
    store_.probe_write();
    set_write_health(true, "");
  } catch (const std::exception& e) {
    set_write_health(false, std::string("a probe write failed: ") + e.what());
    log::warn("ledger", std::string("the database does not accept writes: ") + e.what());
  }
}

// A ChangeSet is idempotent, so a transient failure is simply retried (not
// past the stop deadline). False when it failed for good.
bool Ledger::commit(const ChangeSet& changes, std::vector<std::int64_t>& seqs) {
  std::string last_error;
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (attempt) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_ && Clock::now() - stop_asked_ >= options_.stop_deadline) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * (1 << (2 * (attempt - 1)))));
    }
    last_write_ = Clock::now();
    try {
      seqs = store_.commit(changes);
      set_write_health(true, "");
      return true;
    } catch (const std::exception& e) {
      last_error = e.what();
      set_write_health(false, std::string("a commit failed: ") + last_error);
      log::warn("ledger", "commit failed (attempt " + std::to_string(attempt + 1) + " of 4): " + last_error);
    }
  }
  log::error("ledger", "commit failed for good: " + last_error +
                           ". Documents of this batch are answered 503; its bars will be "
                           "applied again once the state is reloaded from the database");
  return false;
}

void Ledger::process(std::deque<Job>& jobs) {
  ChangeSet changes;
  struct Reply {
    DocumentCallback done;
    DocumentOutcome outcome;
    std::size_t new_doc_index = SIZE_MAX;    // index in changes.new_documents
    bool duplicate_in_batch = false;         // identical to a document of this batch
    std::optional<std::int64_t> stored_seq;  // the document was already in the store
    std::int64_t open_timestamp = 0;
  };
  std::vector<Reply> replies;
  std::vector<std::function<void(bool)>> flushes;
  std::vector<std::function<void(const Engine&)>> inspections;
  std::vector<ClosedPosition> closed;
  std::vector<std::string> touched;  // symbols a bar applied to
  std::vector<MinuteBar> applied;    // for options_.on_bars
  LedgerCounters delta;
  std::unordered_set<std::string> batch_documents;
  auto now = Clock::now();

  for (auto& job : jobs) {
    if (auto* d = std::get_if<DocumentJob>(&job)) {
      Reply r;
      r.done = std::move(d->done);
      if (now > d->deadline) {
        r.outcome.error = "waited more than " + std::to_string(options_.document_deadline.count() / 1000) +
                          " s for the database; nothing was stored";
        ++delta.documents_unavailable;
        replies.push_back(std::move(r));
        continue;
      }
      std::string canonical = canonical_json(d->doc);
      auto ts = parse_new_york_time(d->doc.us_date, d->doc.sg_date);
      bool known = ts && documents_.knows(canonical);
      if (known && !d->already_stored) {
        r.outcome.status = DocumentOutcome::Status::Duplicate;
        r.duplicate_in_batch = batch_documents.count(canonical) > 0;
        r.outcome.results = item_outcomes(d->doc, *ts, {});
        replies.push_back(std::move(r));
        continue;
      }
      // A stored document is opened even when known: its positions may not
      // have been opened yet (identity dedupe keeps this exactly-once).
      OpenResult opened = engine_.open(d->doc, d->mode);
      r.outcome.problems = std::move(opened.problems);
      if (opened.refused) {
        r.outcome.status = DocumentOutcome::Status::Invalid;
        replies.push_back(std::move(r));
        continue;
      }
      r.outcome.status = known ? DocumentOutcome::Status::Duplicate : DocumentOutcome::Status::Created;
      r.outcome.opened = opened.opened.size();
      r.outcome.results = item_outcomes(d->doc, *opened.open_timestamp, opened.opened);
      r.open_timestamp = *opened.open_timestamp;
      for (auto& p : opened.opened) {
        changes.events.push_back({next_event_id_++, "opened", render_marked_position(p, engine_.mark(p))});
        changes.opened.push_back(std::move(p));
      }
      if (!known) {
        batch_documents.insert(canonical);
        documents_.remember(std::move(canonical));
        if (d->already_stored) {
          r.stored_seq = d->stored_seq;
        } else {
          r.new_doc_index = changes.new_documents.size();
          changes.new_documents.push_back(std::move(d->doc));
        }
      }
      replies.push_back(std::move(r));
    } else if (auto* b = std::get_if<BarsJob>(&job)) {
      for (const auto& bar : b->bars) {
        std::size_t closed_before = closed.size();
        switch (engine_.apply(bar, closed)) {
          case BarOutcome::Applied:
            ++delta.bars_applied;
            if (options_.on_bars) applied.push_back(bar);
            if (touched.empty() || touched.back() != bar.symbol) touched.push_back(bar.symbol);
            for (std::size_t k = closed_before; k < closed.size(); ++k)
              changes.events.push_back({next_event_id_++, "closed", render_closed_position(closed[k])});
            quotes_.on_bar(bar);
            quotes_dirty_ = true;
            break;
          case BarOutcome::Stale: ++delta.bars_ignored; break;
          case BarOutcome::UnknownSymbol: ++delta.bars_unknown_symbol; break;
        }
      }
    } else if (auto* q = std::get_if<QuotesJob>(&job)) {
      for (const auto& [symbol, change] : q->quotes) quotes_.set_snapshot(symbol, change);
      quotes_dirty_ = true;
    } else if (auto* i = std::get_if<InspectJob>(&job)) {
      inspections.push_back(std::move(i->run));
    } else {
      flushes.push_back(std::move(std::get<FlushJob>(job).done));
    }
  }
  // The newest bar of each symbol a bar of this batch applied to.
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const auto& symbol : touched)
    if (auto bar = engine_.last_bar(symbol)) changes.last_bars.push_back(std::move(*bar));
  changes.closed = std::move(closed);

  bool committed = true;
  std::vector<std::int64_t> seqs;
  if (!changes.empty()) committed = commit(changes, seqs);
  if (!committed) {
    for (auto& job : jobs)
      if (auto* b = std::get_if<BarsJob>(&job))
        reapply_bars_.insert(reapply_bars_.end(), std::make_move_iterator(b->bars.begin()),
                             std::make_move_iterator(b->bars.end()));
    for (auto& r : replies) {
      if (r.outcome.status != DocumentOutcome::Status::Created && !r.duplicate_in_batch && r.outcome.opened == 0)
        continue;
      r.outcome = DocumentOutcome{};
      r.outcome.status = DocumentOutcome::Status::Unavailable;
      r.outcome.error = "the database is unavailable; nothing was stored";
      ++delta.documents_unavailable;
    }
    try {
      rebuild_from_store();
    } catch (const std::exception& e2) {
      needs_rebuild_ = true;
      log::error("ledger", std::string("cannot reload state from the database: ") + e2.what() +
                               "; retrying every second, documents are refused meanwhile");
    }
    set_held_bars(reapply_bars_.size());
    std::lock_guard lock(counters_mutex_);
    ++counters_.commit_failures;
    counters_.documents_unavailable += delta.documents_unavailable;
  } else {
    bool documents_added = false;
    for (auto& r : replies) {
      if (r.outcome.status != DocumentOutcome::Status::Created) continue;
      std::int64_t seq = 0;
      if (r.stored_seq) seq = *r.stored_seq;
      else if (r.new_doc_index < seqs.size()) seq = seqs[r.new_doc_index];
      std::vector<OpenPosition> items;
      for (const auto& item : r.outcome.results) items.push_back(item.position);
      documents_.list({r.open_timestamp, seq, std::move(items)});
      documents_added = true;
    }
    for (const auto& c : changes.closed)
      log::info("ledger", "closed " + c.position.symbol + " opened " + std::to_string(c.position.open_timestamp) +
                              ": " + std::string(close_notes(c.reason)));
    if (documents_added) publish_recommendations();
    if (!changes.closed.empty()) {
      add_closes_to_history(changes.closed);
      publish_performance();
    }
    // Opens and closes show at once; new prices alone at most every 200 ms.
    if (!changes.opened.empty() || !changes.closed.empty()) {
      publish_positions();
      publish_stats();
    } else if (!changes.last_bars.empty()) {
      marks_dirty_ = true;
    }
    if (!changes.opened.empty() || !changes.closed.empty()) sync_cache();
    if (options_.on_bars && !applied.empty()) options_.on_bars(applied);
    std::lock_guard lock(counters_mutex_);
    counters_.bars_applied += delta.bars_applied;
    counters_.bars_ignored += delta.bars_ignored;
    counters_.bars_unknown_symbol += delta.bars_unknown_symbol;
    counters_.documents_unavailable += delta.documents_unavailable;
    for (const auto& r : replies) {
      counters_.documents += r.outcome.status == DocumentOutcome::Status::Created;
      counters_.documents_rejected += r.outcome.status == DocumentOutcome::Status::Invalid;
      if (r.outcome.status != DocumentOutcome::Status::Invalid) counters_.items_skipped += r.outcome.problems.size();
    }
    counters_.positions_opened += changes.opened.size();
    for (const auto& c : changes.closed)
      ++(c.reason == CloseReason::StopLoss ? counters_.closed_stop_loss : counters_.closed_target_price);
    counters_.open_positions = engine_.open_count();
    counters_.closed_positions = history_.size();
    latest_bar_ = engine_.latest_bar_start();
  }
  for (auto& r : replies) r.done(std::move(r.outcome));
  // After the writers' answers: a POST's 201 never waits for the fan-out to
  // every event subscriber.
  if (committed && options_.on_events && !changes.events.empty()) options_.on_events(changes.events);
  // A flush means "everything before it is durable": hold it while bars of a
  // failed batch still wait to be applied again.
  deferred_flushes_.insert(deferred_flushes_.end(), std::make_move_iterator(flushes.begin()),
                           std::make_move_iterator(flushes.end()));
  if (committed && reapply_bars_.empty() && !needs_rebuild_) {
    // Flushed also means visible: views held back by the 200 ms pace go out now.
    if (!deferred_flushes_.empty()) {
      bool prices_changed = marks_dirty_ || open_stats_dirty_;
      if (marks_dirty_) publish_positions();
      if (prices_changed) publish_stats();
    }
    auto ready = std::move(deferred_flushes_);
    deferred_flushes_.clear();
    for (auto& f : ready) f(true);
  }
  for (auto& f : inspections) f(engine_);
}

}  // namespace qc
