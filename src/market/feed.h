// The market-data port. A feed produces minute bars (and, for the demo
// source, recommendation documents) and hands them to a FeedSink; it never
// touches the engine or the store itself.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/json_writer.h"
#include "core/minute_bar.h"
#include "core/quote_board.h"
#include "core/recommendation.h"

namespace qc {

// A symbol whose bars since `from_ms` must be fetched after a gap.
struct BackfillRequest {
  std::string symbol;
  std::int64_t from_ms = 0;
};

class FeedSink {
 public:
  virtual ~FeedSink() = default;
  // Bars in the order they happened. May block while the sink is busy
  // (back-pressure); returns false once the sink is shutting down.
  virtual bool submit_bars(std::vector<MinuteBar> bars) = 0;
  // A document from a feed's own recommendation source; invalid items are
  // skipped and logged.
  virtual void submit_document(RecommendationDocument doc) = 0;
  // Blocks until everything submitted so far is applied and durable: true;
  // false when the sink stopped first and some of it is not durable.
  virtual bool flush() = 0;
  // Whether the feed's market is in session now (for the ticker list).
  virtual void set_market_open(bool open) = 0;
  // Today's change per symbol from a provider snapshot (ticker list).
  virtual void submit_quotes(std::vector<std::pair<std::string, DailyChange>> quotes) = 0;
  // Symbols with open positions and the first bar start they still need:
  // after the last bar applied, and not before the oldest open position.
  virtual std::vector<BackfillRequest> backfill_plan() = 0;
};

// Counters for GET /metrics; a feed fills what applies to it.
struct FeedMetrics {
  std::uint64_t frames = 0;           // websocket frames received
  std::uint64_t frames_dropped = 0;   // malformed frames
  std::uint64_t frames_overflowed = 0;  // dropped because the queue to the ledger was full
  std::uint64_t queue_overflows = 0;    // times that queue filled (each forces a reconnect)
  std::uint64_t lines_rejected = 0;   // malformed replay lines
  std::uint64_t reconnects = 0;
  std::uint64_t backfilled_bars = 0;
  std::uint64_t backfill_errors = 0;
  std::uint64_t snapshot_errors = 0;
};

class MarketFeed {
 public:
  virtual ~MarketFeed() = default;
  virtual std::string kind() const = 0;  // "sim", "replay", "none", "polygon"
  virtual bool simulated() const = 0;
  // One line for the startup log.
  virtual std::string describe() const = 0;
  virtual void start(FeedSink& sink) = 0;
  virtual void stop() = 0;
  // Fields of /readyz "feed" (after "kind" and "simulated").
  virtual void write_status(JsonWriter& w) const = 0;
  virtual FeedMetrics metrics() const { return {}; }
};

// A feed that produces nothing (`--feed none`).
class NoFeed final : public MarketFeed {
 public:
  std::string kind() const override { return "none"; }
  bool simulated() const override { return false; }
  std::string describe() const override { return "none (no market data; positions only open)"; }
  void start(FeedSink&) override {}
  void stop() override {}
  void write_status(JsonWriter&) const override {}
};

}  // namespace qc
