#include "app/ledger.h"

#include <algorithm>
#include <thread>

#include "log/log.h"
#include "core/ny_time.h"
#include "core/render.h"

namespace qc {
namespace {
constexpr std::size_t kMaxQueuedBars = 1 << 16;
constexpr auto kTickerlistInterval = std::chrono::milliseconds(200);
}  // namespace

Ledger::Ledger(Store& store, Cache& cache, ApiViews& views)
    : store_(store), cache_(cache), views_(views) {
  rebuild_from_store();
  thread_ = std::thread([this] { run(); });
}

Ledger::~Ledger() { stop(); }

void Ledger::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  room_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Ledger::rebuild_from_store() {
  StoredState state = store_.load();
  engine_ = Engine(state.tickers);
  quotes_ = QuoteBoard();
  // Closed first: a position found both closed and still open (a crash
  // between two writes of a store without transactions) is closed.
  for (const auto& c : state.closed_positions) engine_.restore_closed(c);
  for (const auto& p : state.open_positions) engine_.restore_open(p);
  for (const auto& [symbol, start] : state.last_bars) engine_.restore_last_bar(symbol, start);
  known_documents_.clear();
  documents_.clear();
  for (auto& stored : state.documents) {
    // The algorithm may insert the same document twice: list it once.
    if (!known_documents_.insert(canonical_json(stored.document)).second) continue;
    auto ts = parse_new_york_time(stored.document.us_date, stored.document.sg_date);
    if (!ts) continue;
    add_document_entry({*ts, stored.seq, valid_positions(stored.document, *ts)});
  }
  {
    std::lock_guard lock(counters_mutex_);
    counters_.documents = state.documents.size();
    counters_.open_positions = engine_.open_count();
    counters_.closed_positions = engine_.performance().position_count();
    tickers_copy_ = engine_.tickers();
    latest_bar_ = engine_.latest_bar_start();
  }
  publish_recommendations();
  publish_performance();
  publish_tickerlist();
  sync_cache();
}

std::vector<OpenPosition> Ledger::valid_positions(const RecommendationDocument& doc,
                                                  std::int64_t ts) const {
  std::vector<OpenPosition> out;
  for (std::size_t i = 0; i < doc.items.size(); ++i) {
    if (validate_item(doc.items[i], static_cast<int>(i),
                      [this](std::string_view s) { return engine_.is_tracked(s); }))
      continue;
    out.push_back(position_for(doc.items[i], ts));
  }
  return out;
}

void Ledger::add_document_entry(DocumentEntry entry) {
  // Newest first: by open time descending, then later insertion first.
  auto pos = std::find_if(documents_.begin(), documents_.end(), [&](const DocumentEntry& d) {
    return d.open_timestamp < entry.open_timestamp ||
           (d.open_timestamp == entry.open_timestamp && d.seq < entry.seq);
  });
  documents_.insert(pos, std::move(entry));
}

void Ledger::publish_recommendations() {
  std::vector<std::string> items;
  for (const auto& d : documents_) {
    for (const auto& p : d.items) {
      if (items.size() >= static_cast<std::size_t>(ApiViews::kMaxLimit)) break;
      items.push_back(render_open_position(p));
    }
    if (items.size() >= static_cast<std::size_t>(ApiViews::kMaxLimit)) break;
  }
  views_.publish_recommendations(std::move(items));
}

void Ledger::publish_performance() { views_.publish_performance(render_performance(engine_.performance())); }

void Ledger::publish_tickerlist() {
  views_.publish_tickerlist(render_tickerlist(engine_.tickers(), quotes_, market_open_.load()));
  quotes_dirty_ = false;
  last_tickerlist_publish_ = std::chrono::steady_clock::now();
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

bool Ledger::enqueue(Job job, std::size_t bars) {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [&] { return stopping_ || bars == 0 || queued_bars_ < kMaxQueuedBars; });
  if (stopping_) return false;
  queue_.push_back(std::move(job));
  queued_bars_ += bars;
  lock.unlock();
  wake_.notify_one();
  return true;
}

void Ledger::submit(DocumentJob job) {
  DocumentCallback done = job.done;
  if (!enqueue(std::move(job), 0)) {
    DocumentOutcome out;
    out.status = DocumentOutcome::Status::Unavailable;
    out.error = "the server is shutting down";
    done(std::move(out));
  }
}

void Ledger::submit_document(RecommendationDocument doc, InvalidItems mode,
                             DocumentCallback done) {
  submit({std::move(doc), mode, std::move(done), false, 0});
}

void Ledger::submit_stored_document(StoredDocument stored, DocumentCallback done) {
  submit({std::move(stored.document), InvalidItems::SkipItem, std::move(done), true, stored.seq});
}

bool Ledger::submit_bars(std::vector<MinuteBar> bars) {
  if (bars.empty()) return true;
  std::size_t n = bars.size();
  return enqueue(BarsJob{std::move(bars)}, n);
}

void Ledger::submit_document(RecommendationDocument doc) {
  submit_document(std::move(doc), InvalidItems::SkipItem, [](DocumentOutcome out) {
    if (out.status == DocumentOutcome::Status::Unavailable)
      log::warn("ledger", "feed document not stored: " + out.error);
    for (const auto& p : out.problems) log::warn("ledger", "feed document item skipped: " + describe(p));
  });
}

namespace {
// One waiter for one answer from the ledger thread.
class Signal {
 public:
  void set() {
    std::lock_guard lock(mutex_);
    set_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return set_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};
}  // namespace

void Ledger::flush() {
  Signal done;
  if (enqueue(FlushJob{[&] { done.set(); }}, 0)) done.wait();
}

void Ledger::submit_quotes(std::vector<std::pair<std::string, DailyChange>> quotes) {
  enqueue(QuotesJob{std::move(quotes)}, 0);
}

std::vector<BackfillRequest> Ledger::backfill_plan() {
  std::vector<BackfillRequest> plan;
  Signal done;
  auto job = InspectJob{[&](const Engine& engine) {
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
    plan = std::move(out);
    done.set();
  }};
  if (enqueue(std::move(job), 0)) done.wait();
  return plan;
}

void Ledger::set_market_open(bool open) {
  if (market_open_.exchange(open) != open) {
    market_open_changed_ = true;
    wake_.notify_one();
  }
}

LedgerCounters Ledger::counters() const {
  std::lock_guard lock(counters_mutex_);
  return counters_;
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
      queued_bars_ = 0;
      if (jobs.empty() && stopping_ && reapply_bars_.empty() && !needs_rebuild_) break;
    }
    room_.notify_all();
    if (!recover(jobs)) {
      // The store cannot be read: keep the jobs, try again in a second.
      std::unique_lock lock(mutex_);
      if (stopping_) {
        log::error("ledger", "stopping while the database is unavailable: " +
                                 std::to_string(reapply_bars_.size()) +
                                 " bars were not stored (a replay or backfill after restart applies them)");
        break;
      }
      for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) queue_.push_front(std::move(*it));
      jobs.clear();
      wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
      continue;
    }
    process(jobs);
    jobs.clear();
    if (market_open_changed_.exchange(false)) quotes_dirty_ = true;
    if (quotes_dirty_ &&
        std::chrono::steady_clock::now() - last_tickerlist_publish_ >= kTickerlistInterval)
      publish_tickerlist();
  }
  if (quotes_dirty_) publish_tickerlist();
}

// Before a batch: rebuild the engine if a failed commit left it ahead of the
// store, and put the bars of that batch in front. False while the store
// cannot be read.
bool Ledger::recover(std::deque<Job>& jobs) {
  if (needs_rebuild_) {
    try {
      rebuild_from_store();
      needs_rebuild_ = false;
      log::info("ledger", "database reachable again; state reloaded");
    } catch (const std::exception& e) {
      log::debug("ledger", std::string("still cannot reload state: ") + e.what());
      return false;
    }
  }
  if (!reapply_bars_.empty()) {
    jobs.push_front(BarsJob{std::move(reapply_bars_)});
    reapply_bars_.clear();
  }
  return true;
}

void Ledger::process(std::deque<Job>& jobs) {
  ChangeSet changes;
  struct Reply {
    DocumentCallback done;
    DocumentOutcome outcome;
    std::size_t new_doc_index = SIZE_MAX;  // index in changes.new_documents
    bool duplicate_in_batch = false;        // identical to a document of this batch
    std::optional<std::int64_t> stored_seq;  // the document was already in the store
    std::int64_t open_timestamp = 0;
  };
  std::vector<Reply> replies;
  std::vector<std::function<void()>> flushes;
  std::vector<std::function<void(const Engine&)>> inspections;
  std::vector<std::pair<std::string, std::int64_t>> last_bars;
  std::vector<ClosedPosition> closed;
  LedgerCounters delta;
  std::unordered_set<std::string> batch_documents;

  for (auto& job : jobs) {
    if (auto* d = std::get_if<DocumentJob>(&job)) {
      Reply r;
      r.done = std::move(d->done);
      std::string canonical = canonical_json(d->doc);
      auto ts = parse_new_york_time(d->doc.us_date, d->doc.sg_date);
      bool known = ts && known_documents_.count(canonical) > 0;
      if (known && !d->already_stored) {
        r.outcome.status = DocumentOutcome::Status::Duplicate;
        r.duplicate_in_batch = batch_documents.count(canonical) > 0;
        r.outcome.results = valid_positions(d->doc, *ts);
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
      r.outcome.results = valid_positions(d->doc, *opened.open_timestamp);
      r.open_timestamp = *opened.open_timestamp;
      for (auto& p : opened.opened) changes.opened.push_back(std::move(p));
      if (!known) {
        batch_documents.insert(canonical);
        known_documents_.insert(std::move(canonical));
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
        switch (engine_.apply(bar, closed)) {
          case BarOutcome::Applied:
            ++delta.bars_applied;
            quotes_.on_bar(bar);
            quotes_dirty_ = true;
            last_bars.emplace_back(bar.symbol, bar.start_ms);
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
  // Keep only the newest start per symbol.
  std::sort(last_bars.begin(), last_bars.end());
  for (std::size_t i = 0; i < last_bars.size(); ++i)
    if (i + 1 == last_bars.size() || last_bars[i + 1].first != last_bars[i].first)
      changes.last_bars.push_back(std::move(last_bars[i]));
  changes.closed = std::move(closed);

  bool committed = true;
  std::vector<std::int64_t> seqs;
  if (!changes.empty()) {
    // A ChangeSet is idempotent, so a transient failure is simply retried.
    std::string last_error;
    committed = false;
    for (int attempt = 0; attempt < 4 && !committed; ++attempt) {
      if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(100 * (1 << (2 * (attempt - 1)))));
      try {
        seqs = store_.commit(changes);
        committed = true;
      } catch (const std::exception& e) {
        last_error = e.what();
        log::warn("ledger", "commit failed (attempt " + std::to_string(attempt + 1) + " of 4): " + last_error);
      }
    }
    if (!committed) {
      log::error("ledger", "commit failed for good: " + last_error +
                               ". Documents of this batch are answered 503; its bars will be "
                               "applied again once the state is reloaded from the database");
      for (auto& job : jobs)
        if (auto* b = std::get_if<BarsJob>(&job))
          reapply_bars_.insert(reapply_bars_.end(), std::make_move_iterator(b->bars.begin()),
                               std::make_move_iterator(b->bars.end()));
      for (auto& r : replies) {
        if (r.outcome.status != DocumentOutcome::Status::Created && !r.duplicate_in_batch &&
            r.outcome.opened == 0)
          continue;
        r.outcome = DocumentOutcome{};
        r.outcome.status = DocumentOutcome::Status::Unavailable;
        r.outcome.error = "the database is unavailable; nothing was stored";
      }
      try {
        rebuild_from_store();
      } catch (const std::exception& e2) {
        needs_rebuild_ = true;
        log::error("ledger", std::string("cannot reload state from the store: ") + e2.what() +
                                 "; retrying every second, new work waits");
      }
      std::lock_guard lock(counters_mutex_);
      ++counters_.commit_failures;
    }
  }
  if (committed) {
    bool documents_added = false;
    for (auto& r : replies) {
      if (r.outcome.status != DocumentOutcome::Status::Created) continue;
      std::int64_t seq = 0;
      if (r.stored_seq) seq = *r.stored_seq;
      else if (r.new_doc_index < seqs.size()) seq = seqs[r.new_doc_index];
      add_document_entry({r.open_timestamp, seq, r.outcome.results});
      documents_added = true;
    }
    for (const auto& c : changes.closed)
      log::info("ledger", "closed " + c.position.symbol + " opened " +
                              std::to_string(c.position.open_timestamp) + ": " +
                              std::string(close_notes(c.reason)));
    if (documents_added) publish_recommendations();
    if (!changes.closed.empty()) publish_performance();
    if (!changes.opened.empty() || !changes.closed.empty()) sync_cache();
    std::lock_guard lock(counters_mutex_);
    counters_.bars_applied += delta.bars_applied;
    counters_.bars_ignored += delta.bars_ignored;
    counters_.bars_unknown_symbol += delta.bars_unknown_symbol;
    for (const auto& r : replies) {
      counters_.documents += r.outcome.status == DocumentOutcome::Status::Created;
      counters_.documents_rejected += r.outcome.status == DocumentOutcome::Status::Invalid;
      if (r.outcome.status != DocumentOutcome::Status::Invalid)
        counters_.items_skipped += r.outcome.problems.size();
    }
    counters_.positions_opened += changes.opened.size();
    for (const auto& c : changes.closed)
      ++(c.reason == CloseReason::StopLoss ? counters_.closed_stop_loss : counters_.closed_target_price);
    counters_.open_positions = engine_.open_count();
    counters_.closed_positions = engine_.performance().position_count();
    latest_bar_ = engine_.latest_bar_start();
  }
  for (auto& r : replies) r.done(std::move(r.outcome));
  // A flush means "everything before it is durable": hold it while bars of a
  // failed batch still wait to be applied again.
  deferred_flushes_.insert(deferred_flushes_.end(), std::make_move_iterator(flushes.begin()),
                           std::make_move_iterator(flushes.end()));
  if (committed && reapply_bars_.empty() && !needs_rebuild_) {
    auto ready = std::move(deferred_flushes_);
    deferred_flushes_.clear();
    for (auto& f : ready) f();
  }
  for (auto& f : inspections) f(engine_);
}

}  // namespace qc
