// The ledger: the one thread that owns the engine. Feeds and HTTP ingest hand
// it events; it applies them in arrival order, makes each batch durable in
// one store commit, and only then publishes views and answers writers.
//
// Invariant: the store always holds a prefix of the event sequence, and the
// published views never show anything the store does not hold.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <variant>
#include <vector>

#include "cache/cache.h"
#include "core/engine.h"
#include "core/quote_board.h"
#include "http/api_views.h"
#include "market/feed.h"
#include "store/store.h"

namespace qc {

struct DocumentOutcome {
  enum class Status { Created, Duplicate, Invalid, Unavailable };
  Status status = Status::Unavailable;
  std::vector<DocumentProblem> problems;  // Invalid
  std::vector<OpenPosition> results;      // every valid item, document order
  std::size_t opened = 0;
  std::string error;  // Unavailable
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
};

class Ledger final : public FeedSink {
 public:
  using DocumentCallback = std::function<void(DocumentOutcome)>;

  // Loads the store's state and publishes the first views. Throws StoreError.
  Ledger(Store& store, Cache& cache, ApiViews& views);
  ~Ledger() override;
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Ingest: `done` is called on the ledger thread once the outcome is durable.
  void submit_document(RecommendationDocument doc, InvalidItems mode, DocumentCallback done);

  // A document that is already in the store (inserted there by the
  // algorithm, found by a watcher): opens its positions (invalid items are
  // skipped and reported) without storing the document again.
  void submit_stored_document(StoredDocument stored, DocumentCallback done);

  // FeedSink
  bool submit_bars(std::vector<MinuteBar> bars) override;
  void submit_document(RecommendationDocument doc) override;
  void flush() override;
  void set_market_open(bool open) override;
  void submit_quotes(std::vector<std::pair<std::string, DailyChange>> quotes) override;
  std::vector<BackfillRequest> backfill_plan() override;

  // Finishes queued work, then stops the thread. Idempotent.
  void stop();

  LedgerCounters counters() const;
  std::vector<Ticker> tickers() const;
  // Latest bar start applied over all symbols (restart point for sim feeds).
  std::optional<std::int64_t> latest_bar_start() const;

 private:
  struct DocumentJob {
    RecommendationDocument doc;
    InvalidItems mode;
    DocumentCallback done;
    bool already_stored = false;
    std::int64_t stored_seq = 0;
  };
  struct BarsJob {
    std::vector<MinuteBar> bars;
  };
  struct FlushJob {
    std::function<void()> done;
  };
  struct QuotesJob {
    std::vector<std::pair<std::string, DailyChange>> quotes;
  };
  // Runs on the ledger thread after the jobs before it are durable.
  struct InspectJob {
    std::function<void(const Engine&)> run;
  };
  using Job = std::variant<DocumentJob, BarsJob, FlushJob, QuotesJob, InspectJob>;
  struct DocumentEntry {
    std::int64_t open_timestamp = 0;
    std::int64_t seq = 0;
    std::vector<OpenPosition> items;
  };

  void submit(DocumentJob job);
  void run();
  bool recover(std::deque<Job>& jobs);
  void process(std::deque<Job>& jobs);
  void rebuild_from_store();
  std::vector<OpenPosition> valid_positions(const RecommendationDocument& doc,
                                            std::int64_t open_timestamp) const;
  void add_document_entry(DocumentEntry entry);
  void publish_recommendations();
  void publish_performance();
  void publish_tickerlist();
  void sync_cache();
  bool enqueue(Job job, std::size_t bars);

  Store& store_;
  Cache& cache_;
  ApiViews& views_;

  // Owned by the ledger thread (and the constructor, before it starts).
  Engine engine_;
  QuoteBoard quotes_;
  std::unordered_set<std::string> known_documents_;  // canonical JSON
  std::vector<DocumentEntry> documents_;  // newest first
  bool quotes_dirty_ = false;
  // After a commit that failed for good: the engine is rebuilt from the store
  // and the batch's bars are applied again first (documents were answered
  // 503). `needs_rebuild_` while the store cannot even be read.
  std::vector<MinuteBar> reapply_bars_;
  bool needs_rebuild_ = false;
  std::vector<std::function<void()>> deferred_flushes_;  // answered once that is durable
  std::chrono::steady_clock::time_point last_tickerlist_publish_{};

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable room_;
  std::deque<Job> queue_;
  std::size_t queued_bars_ = 0;
  bool stopping_ = false;
  std::atomic<bool> market_open_{false};
  std::atomic<bool> market_open_changed_{false};

  mutable std::mutex counters_mutex_;
  LedgerCounters counters_;
  std::vector<Ticker> tickers_copy_;
  std::optional<std::int64_t> latest_bar_;

  std::thread thread_;
};

}  // namespace qc
