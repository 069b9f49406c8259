// The ledger: the one thread that owns the engine. Feeds and HTTP ingest hand
// it events; it applies them in arrival order, makes each batch durable in
// one store commit, and only then publishes views and answers writers.
//
// Invariants:
//  - the store always holds a prefix of the event sequence, and the published
//    views never show anything the store does not hold;
//  - every document submitted is answered exactly once, within a bound: a
//    document still waiting at its deadline, or arriving while the database
//    cannot be read or the queue is full, is answered Unavailable ("nothing
//    was stored") and never applied afterwards;
//  - memory is bounded: bars waiting (queued, or kept to be applied again
//    after a failed commit) never exceed `max_backlog_bars` (feeds block),
//    documents waiting never exceed `max_queued_documents` (refused);
//  - write_health() says whether the last commit (or idle write probe)
//    succeeded; it is computed by this thread and read without a store call.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "app/rw_lock.h"
#include "app/stats_answer_cache.h"
#include "cache/cache.h"
#include "core/engine.h"
#include "core/equity_curve.h"
#include "core/live_event.h"
#include "core/quote_board.h"
#include "core/recommendation_book.h"
#include "core/stats_book.h"
#include "core/trade_history.h"
#include "http/api_views.h"
#include "market/feed.h"
#include "store/store.h"

namespace qc {

struct DocumentOutcome {
  enum class Status { Created, Duplicate, Invalid, Unavailable };
  Status status = Status::Unavailable;
  std::vector<DocumentProblem> problems;  // Invalid (or skipped items)
  std::vector<ItemOutcome> results;       // every valid item, document order
  std::size_t opened = 0;
  std::string error;  // Unavailable: why, always meaning "nothing was stored"
};

struct LedgerCounters {
  std::uint64_t bars_applied = 0;
  std::uint64_t bars_ignored = 0;  // not newer than the last applied bar
  std::uint64_t bars_unknown_symbol = 0;
  std::uint64_t documents = 0;
  std::uint64_t open_positions = 0;
  std::uint64_t closed_positions = 0;
  std::uint64_t commit_failures = 0;
  std::uint64_t positions_opened = 0;
  std::uint64_t closed_stop_loss = 0;
  std::uint64_t closed_target_price = 0;
  std::uint64_t documents_rejected = 0;  // refused whole (invalid)
  std::uint64_t items_skipped = 0;       // invalid items of feed/watcher documents
  std::uint64_t documents_unavailable = 0;  // answered 503: busy, late, database down
  std::uint64_t queued_bars = 0;            // waiting now (gauge)
  std::uint64_t queued_documents = 0;       // waiting now (gauge)
};

// Whether writes can be committed, as last seen by the ledger thread.
struct WriteHealth {
  bool ok = true;
  std::string reason;  // why not (a store error, with no file paths added by us)
  std::int64_t since = 0;  // UNIX seconds of the last change
  std::int64_t last_success = 0;  // UNIX seconds of the last commit or probe that worked
};

struct LedgerOptions {
  // Bars queued, being applied, or kept to be applied again.
  std::size_t max_backlog_bars = 1 << 17;
  std::size_t max_queued_documents = 1024;
  // A document not applied within this long after submission is answered
  // Unavailable and dropped.
  std::chrono::milliseconds document_deadline{10'000};
  // With no commit for this long, the thread writes a probe (store
  // probe_write) to learn whether writes still work; more often while failing.
  std::chrono::milliseconds idle_probe{10'000};
  std::chrono::milliseconds failing_probe{1'000};
  // stop(): work still not durable this long after it was asked is given up
  // (and reported), so shutdown always ends.
  std::chrono::milliseconds stop_deadline{8'000};
  // Called on the ledger thread once a change is durable and its views are
  // published: the opened and closed events of a commit, in the order they
  // happened, or one quotes event when the ticker list changed. Must not
  // block (SPEC §4.9: nothing slows the engine).
  std::function<void(const std::vector<LiveEvent>&)> on_events;
  // Called on the ledger thread with the bars a commit applied, in order
  // (the dashboard's recent bars). Must not block.
  std::function<void(const std::vector<MinuteBar>&)> on_bars;
};

// What stop() could not make durable.
struct StopReport {
  bool durable = true;
  std::uint64_t bars_not_stored = 0;
  std::uint64_t documents_refused = 0;  // answered 503 because of the stop
  std::string reason;
};

class Ledger final : public FeedSink {
 public:
  using DocumentCallback = std::function<void(DocumentOutcome)>;

  // Loads the store's state and publishes the first views. Throws StoreError.
  Ledger(Store& store, Cache& cache, ApiViews& views, LedgerOptions options = {});
  ~Ledger() override;
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Ingest: `done` is called exactly once, on the ledger thread (or on the
  // caller's when refused at once), after the outcome is durable.
  void submit_document(RecommendationDocument doc, InvalidItems mode, DocumentCallback done);

  // A document that is already in the store (inserted there by the
  // algorithm, found by a watcher): opens its positions (invalid items are
  // skipped and reported) without storing the document again.
  void submit_stored_document(StoredDocument stored, DocumentCallback done);

  // FeedSink
  bool submit_bars(std::vector<MinuteBar> bars) override;
  void submit_document(RecommendationDocument doc) override;
  bool flush() override;
  void set_market_open(bool open) override;
  void submit_quotes(std::vector<std::pair<std::string, DailyChange>> quotes) override;
  std::vector<BackfillRequest> backfill_plan() override;

  // From now on new work is refused (feeds' submit_bars returns false,
  // documents are answered Unavailable); queued work goes on. Never blocks.
  void begin_stop();
  // begin_stop(), then finishes queued work (giving up after
  // options.stop_deadline) and stops the thread. Idempotent; every call
  // returns the same report.
  StopReport stop();

  LedgerCounters counters() const;
  WriteHealth write_health() const;
  std::vector<Ticker> tickers() const;
  // Latest bar start applied over all symbols (restart point for sim feeds).
  std::optional<std::int64_t> latest_bar_start() const;

  // SPEC §4.7: one page of the closed trades. Any thread; waits at most for
  // the ledger thread's append of a commit's closes (never for the database).
  TradePage trades_page(const TradeQuery& query) const;
  // SPEC §4.8 over the trades matching `filter`, with the curve `mode` asks
  // for (a scan; the unfiltered documents are published in ApiViews
  // instead). Any thread, like trades_page.
  // nullopt when kMaxFilteredScans scans already run (the caller answers 503):
  // a scan of a million trades takes ~0.1 s, during which the ledger's next
  // append of closes waits, so their number is bounded.
  static constexpr int kMaxFilteredScans = 2;
  // The statistics of a filter are kept (StatsAnswerCache): asked again,
  // they are not scanned again; after a close they match, they are rendered
  // again from the kept statistics the close was added to. The body is
  // the kept part (compressed once, soon after it is kept) and the current
  // "open" part, so it goes out gzip once the kept part has its form.
  std::optional<ViewBodyPtr> stats_body(const TradeFilter& filter,
                                        EquityMode mode = EquityMode::Reduced) const;
  // The same, as one text (tests).
  std::optional<std::string> stats_json(const TradeFilter& filter,
                                        EquityMode mode = EquityMode::Reduced) const;
  // Filtered /api/stats answered from kept statistics / by a scan (tests,
  // /metrics).
  std::uint64_t stats_cache_hits() const { return stats_cache_.hits(); }
  std::uint64_t stats_cache_misses() const { return stats_cache_.misses(); }
  // ... and rendered again from kept statistics that closes were added to.
  std::uint64_t stats_cache_refreshes() const { return stats_cache_.refreshes(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct DocumentJob {
    RecommendationDocument doc;
    InvalidItems mode;
    DocumentCallback done;
    Clock::time_point deadline;
    bool already_stored = false;
    std::int64_t stored_seq = 0;
  };
  struct BarsJob {
    std::vector<MinuteBar> bars;
  };
  struct FlushJob {
    std::function<void(bool durable)> done;
  };
  struct QuotesJob {
    std::vector<std::pair<std::string, DailyChange>> quotes;
  };
  // Runs on the ledger thread after the jobs before it are applied.
  struct InspectJob {
    std::function<void(const Engine&)> run;
  };
  using Job = std::variant<DocumentJob, BarsJob, FlushJob, QuotesJob, InspectJob>;

  void submit(DocumentJob job);
  // Queues a job; a job carrying bars waits while the backlog is full.
  // False once the ledger is stopping.
  bool enqueue_bars(Job job, std::size_t bars);
  void run();
  bool try_rebuild();
  void hold_while_unreadable(std::deque<Job>& jobs);
  void process(std::deque<Job>& jobs);
  bool commit(const ChangeSet& changes, std::vector<std::int64_t>& seqs);
  void probe_if_idle();
  void give_up(std::deque<Job>& jobs, const std::string& why);
  void rebuild_from_store();
  std::vector<ItemOutcome> item_outcomes(const RecommendationDocument& doc, std::int64_t open_timestamp,
                                         const std::vector<OpenPosition>& opened) const;
  void publish_recommendations();
  void publish_performance();
  void publish_positions();
  void publish_stats();
  // The "open" part of /api/stats (SPEC §4.8) from the last published
  // marks: every open position, or those of `symbol`. Any thread.
  OpenSummary open_summary(const std::optional<std::string>& symbol) const;
  // The reduced curve's parts (publish_stats), between `head` and `tail`.
  std::vector<BodyPartPtr> reduced_equity_parts();
  void publish_positions_and_open_stats();
  void add_closes_to_history(const std::vector<ClosedPosition>& closed);
  void publish_tickerlist();
  void sync_cache();
  void set_write_health(bool ok, const std::string& reason);
  void set_held_bars(std::size_t n);
  static void refuse(DocumentCallback& done, std::string why);

  Store& store_;
  Cache& cache_;
  ApiViews& views_;
  LedgerOptions options_;

  // Owned by the ledger thread (and the constructor, before it starts).
  Engine engine_;
  QuoteBoard quotes_;
  RecommendationBook documents_;
  bool quotes_dirty_ = false;
  // After a commit that failed for good: the engine is rebuilt from the store
  // and the batch's bars are applied again first (documents were answered
  // 503). `needs_rebuild_` while the store cannot even be read.
  std::vector<MinuteBar> reapply_bars_;
  bool needs_rebuild_ = false;
  Clock::time_point next_rebuild_try_{};
  std::vector<std::function<void(bool)>> deferred_flushes_;  // answered once that is durable
  Clock::time_point last_tickerlist_publish_{};
  bool marks_dirty_ = false;  // prices changed since /api/positions was published
  Clock::time_point last_positions_publish_{};
  Clock::time_point last_write_{};  // last commit or probe attempt
  std::int64_t next_event_id_ = 0;
  std::string last_quotes_event_;  // the ticker list last sent as a quotes event

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable room_;
  std::deque<Job> queue_;
  std::size_t queued_bars_ = 0;
  std::size_t held_bars_ = 0;  // bars taken by the thread and not yet stored, for back-pressure
  std::size_t queued_documents_ = 0;
  bool stopping_ = false;
  bool joining_ = false;
  bool stopped_ = false;
  Clock::time_point stop_asked_{};
  StopReport stop_report_;
  std::atomic<bool> market_open_{false};
  std::atomic<bool> market_open_changed_{false};

  // The closed trades, for pages and filtered statistics on HTTP threads:
  // written by the ledger thread under a unique lock, read under a shared one.
  mutable WriterPreferringLock history_mutex_;
  mutable std::atomic<int> filtered_scans_{0};
  // Filtered /api/stats answers; told of every change to history_ while
  // history_mutex_ is held for writing.
  mutable StatsAnswerCache stats_cache_;
  TradeHistory history_;
  // Ledger thread only: the unfiltered statistics and their equity array
  // rendered so far (append-only while stats_.generation() stays the same).
  StatsBook stats_;
  // Published bodies are made of parts (http/view_body.h); these are the
  // parts that stay the same from one publish to the next. /api/stats: the
  // equity curve in blocks of kEquityBlock points, each rendered once when
  // full (the last, partial block is rendered at each publish).
  std::vector<BodyPartPtr> equity_blocks_;
  std::uint64_t equity_generation_ = 0;
  // The default (reduced) curve: the reducer caches the points kept of its
  // complete buckets; they are rendered in blocks of kReducedBlock points,
  // each once while the reducer's epoch stays the same.
  EquityReducer equity_reducer_;
  std::vector<BodyPartPtr> reduced_blocks_;
  std::uint64_t reduced_epoch_ = 0;
  // /api/performance: one part per UTC month, rendered again only when a
  // close lands in it; all of them after a rebuild.
  std::map<std::int64_t, BodyPartPtr> month_parts_;
  std::set<std::int64_t> dirty_months_;
  bool all_months_dirty_ = true;
  bool open_stats_dirty_ = false;  // prices changed since /api/stats was published
  Clock::time_point last_stats_publish_{};
  Clock::duration stats_pace_{};
  // Each open position's symbol and unrealized pnl (if priced), for the
  // "open" part of filtered statistics; replaced when positions are published.
  struct OpenMark {
    std::string symbol;
    std::optional<double> unrealized_pnl;
  };
  std::atomic<std::shared_ptr<const std::vector<OpenMark>>> open_marks_;

  mutable std::mutex counters_mutex_;
  LedgerCounters counters_;
  WriteHealth health_;
  std::vector<Ticker> tickers_copy_;
  std::optional<std::int64_t> latest_bar_;

  std::thread thread_;
};

}  // namespace qc
