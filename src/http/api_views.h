// What GET endpoints serve: immutable pre-rendered JSON published by the
// ledger after each durable change and read lock-free by HTTP threads
// (std::atomic<std::shared_ptr<const ...>>). A GET never touches the engine
// or the database.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/equity_curve.h"
#include "http/view_body.h"

namespace qc {

struct RecommendationsView {
  // Rendered items, newest document first, at most kMaxLimit.
  std::vector<std::string> items;
  // The body for the default limit, ready to send.
  ViewBodyPtr default_body;
};

// The unfiltered /api/stats of one publish, one body per `equity` value.
// They share parts: `none` is the head and tail of `full`, and `reduced` is
// `full` itself while the curve has at most kEquityDefaultPoints points.
struct StatsViews {
  ViewBodyPtr reduced;  // no `equity` parameter
  ViewBodyPtr full;     // equity=full
  ViewBodyPtr none;     // equity=none
};

class ApiViews {
 public:
  static constexpr int kDefaultLimit = 50;
  static constexpr int kMaxLimit = 1000;

  ApiViews();
  // Each publish hands the body's big parts to the compressor (gzip form
  // shortly after); small ones are compressed here.
  void publish_tickerlist(std::string body) { publish_tickerlist(ViewBody::of(std::move(body))); }
  void publish_performance(std::string body) { publish_performance(ViewBody::of(std::move(body))); }
  void publish_positions(std::string body) { publish_positions(ViewBody::of(std::move(body))); }
  void publish_tickerlist(ViewBodyPtr body);
  void publish_performance(ViewBodyPtr body);
  void publish_positions(ViewBodyPtr body);
  void publish_stats(StatsViews views);  // unfiltered /api/stats
  void publish_recommendations(std::vector<std::string> items);

  ViewBodyPtr tickerlist() const { return tickerlist_.load(); }
  ViewBodyPtr performance() const { return performance_.load(); }
  ViewBodyPtr positions() const { return positions_.load(); }
  ViewBodyPtr stats(EquityMode mode = EquityMode::Reduced) const;
  // The body for `limit` items (1..kMaxLimit).
  ViewBodyPtr recommendations(int limit) const;
  // Starts compressing a big part before it is published, first waiting (a
  // bounded time) while the compressor is far behind: a load that renders
  // hundreds of MB of GzipOnly parts in a row never holds them all plain.
  void compress_soon(const BodyPartPtr& part) { compressor_.submit_paced(part, kCompressPatience); }
  static constexpr std::chrono::milliseconds kCompressPatience{2000};
  // Compresses a part on the compressor's thread when it gets to it (a
  // filtered /api/stats answer kept for later requests); never waits.
  void compress_later(const BodyPartPtr& part) { compressor_.submit_later(part); }
  // Waits until every part published so far has its gzip form.
  void wait_compressed() { compressor_.drain(); }

  static std::string render_recommendations(const std::vector<std::string>& items, int limit);

 private:
  ViewBodyPtr compressed(ViewBodyPtr body);

  BodyCompressor compressor_;
  std::atomic<ViewBodyPtr> tickerlist_;
  std::atomic<ViewBodyPtr> performance_;
  std::atomic<ViewBodyPtr> positions_;
  std::atomic<std::shared_ptr<const StatsViews>> stats_;
  std::atomic<std::shared_ptr<const RecommendationsView>> recommendations_;
};

}  // namespace qc
