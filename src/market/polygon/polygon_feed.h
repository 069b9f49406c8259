// The production market-data adapter: Polygon (Massive) websocket minute bars,
// backfill from the aggregates endpoint after every (re)connect, and the
// ticker snapshot refreshed in the background for the ticker list.
//
// Order of events handed to the ledger: on each successful authentication a
// backfill marker is queued; frames read while the backfill runs queue behind
// it, so missed bars are applied before live ones. The engine ignores bars
// not newer than the last applied for their symbol (SPEC §6.3), which makes
// the overlap and the provider's corrected re-sends harmless.
//
// The queue between the socket and the ledger is bounded (frames and bytes).
// When a slow ledger lets it fill, the queued frames are dropped, frames are
// discarded until the next authentication, and the websocket is reconnected:
// the backfill marker of that authentication fetches the missed bars of every
// symbol with an open position from REST, before any later live bar (a live
// bar applied across the hole would make the backfill skip it for good).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "market/feed.h"
#include "market/polygon/polygon_rest.h"
#include "market/polygon/polygon_stream.h"
#include "market/polygon/rest_client.h"

namespace qc {

struct PolygonOptions {
  std::string api_key;
  std::string ws_url;
  std::string rest_url;
  std::vector<std::string> symbols;
  std::chrono::seconds snapshot_interval{15};
  std::chrono::seconds stale_after{180};
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{60'000};
  RetryPolicy retry;
  // Frames read from the websocket and not yet handed to the ledger.
  std::size_t max_queued_frames = 10'000;
  std::size_t max_queued_bytes = 64u << 20;
  // Called once when the provider rejects the key (auth_failed).
  std::function<void(const std::string&)> on_fatal;
  // Current UNIX time; replaceable for tests.
  std::function<std::int64_t()> now;
};

class PolygonFeed final : public MarketFeed {
 public:
  explicit PolygonFeed(PolygonOptions options);  // throws std::invalid_argument for bad URLs
  ~PolygonFeed() override;
  std::string kind() const override { return "polygon"; }
  bool simulated() const override { return false; }
  std::string describe() const override;
  void start(FeedSink& sink) override;
  void stop() override;
  void write_status(JsonWriter& w) const override;
  FeedMetrics metrics() const override;

 private:
  struct Item {
    bool backfill = false;
    std::string frame;
  };
  void work(FeedSink& sink);
  void backfill(FeedSink& sink);
  void refresh_snapshots(FeedSink& sink);
  bool market_active(std::int64_t now) const;
  std::int64_t now() const;
  bool stopping() const;
  void on_frame(std::string frame);  // io thread of the stream

  PolygonOptions options_;
  RestClient rest_client_;
  RestClient snapshot_client_;
  PolygonRest rest_;
  PolygonRest snapshot_rest_;
  std::unique_ptr<PolygonStream> stream_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Item> items_;
  std::size_t queued_frames_ = 0, queued_bytes_ = 0, queue_high_water_ = 0;
  bool discarding_ = false;  // after an overflow, until the next authentication
  bool stopping_ = false;
  std::thread worker_, snapshots_;

  std::atomic<std::uint64_t> frames_{0}, frames_dropped_{0}, bars_received_{0};
  std::atomic<std::uint64_t> frames_overflowed_{0}, queue_overflows_{0};
  std::atomic<std::uint64_t> backfilled_bars_{0}, backfills_{0}, backfill_errors_{0};
  std::atomic<std::uint64_t> snapshot_ok_{0}, snapshot_errors_{0};
  std::atomic<std::int64_t> last_snapshot_{0};
  std::atomic<int> market_status_{-1};  // provider's word: -1 unknown, 0 closed, 1 extended hours, 2 open
  std::atomic<std::int64_t> market_status_at_{0};
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

}  // namespace qc
