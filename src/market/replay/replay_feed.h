// Replays a bar file (JSON Lines of Polygon AM events, or CSV) into the
// ledger, optionally paced at N bars per second. Bars already applied before
// a restart are ignored by the engine (SPEC §6.3), so a replay can always
// start from the top of the file.
#pragma once
#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "market/bar_parser.h"
#include "market/feed.h"

namespace qc {

class ReplayFeed final : public MarketFeed {
 public:
  // Throws std::runtime_error when the file cannot be opened.
  ReplayFeed(std::filesystem::path path, double bars_per_second);
  ~ReplayFeed() override;
  std::string kind() const override { return "replay"; }
  bool simulated() const override { return false; }
  std::string describe() const override;
  void start(FeedSink& sink) override;
  void stop() override;
  void write_status(JsonWriter& w) const override;
  FeedMetrics metrics() const override {
    FeedMetrics m;
    m.lines_rejected = lines_rejected_.load();
    return m;
  }

 private:
  void run(FeedSink& sink);

  std::filesystem::path path_;
  double rate_;
  std::unique_ptr<BarFileReader> reader_;  // released once the file is exhausted
  BarFormat format_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> bars_read_{0};
  std::atomic<std::uint64_t> lines_rejected_{0};
  std::atomic<bool> exhausted_{false};
  std::thread thread_;
};

}  // namespace qc
