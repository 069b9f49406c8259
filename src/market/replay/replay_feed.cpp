#include "market/replay/replay_feed.h"

#include <chrono>

#include "log/log.h"

namespace qc {

ReplayFeed::ReplayFeed(std::filesystem::path path, double bars_per_second)
    : path_(std::move(path)), rate_(bars_per_second),
      reader_(std::make_unique<BarFileReader>(path_)), format_(reader_->format()) {}

ReplayFeed::~ReplayFeed() { stop(); }

std::string ReplayFeed::describe() const {
  return "replay of recorded bars from " + path_.string() + " (" +
         (format_ == BarFormat::Csv ? "CSV" : "JSON Lines AM events") + ", " +
         (rate_ > 0 ? std::to_string(static_cast<long long>(rate_)) + " bars/s" : "unpaced") + ")";
}

void ReplayFeed::start(FeedSink& sink) {
  thread_ = std::thread([this, &sink] { run(sink); });
}

void ReplayFeed::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ReplayFeed::run(FeedSink& sink) {
  using clock = std::chrono::steady_clock;
  sink.set_market_open(true);
  const std::size_t chunk =
      rate_ > 0 ? std::max<std::size_t>(1, static_cast<std::size_t>(rate_ / 50)) : 4096;
  auto started = clock::now();
  std::uint64_t sent = 0;
  auto on_reject = [this](const RejectedLine& r) {
    auto n = ++lines_rejected_;
    if (n <= 100)
      log::warn("replay", path_.string() + ":" + std::to_string(r.line) + ": " + r.reason +
                              " (skipped)");
    else if (n % 1000 == 0)
      log::warn("replay", std::to_string(n) + " lines rejected so far");
  };
  std::vector<MinuteBar> batch;
  while (!stop_) {
    batch.clear();
    if (!reader_->next(batch, chunk, on_reject)) break;
    bars_read_ += batch.size();
    sent += batch.size();
    if (!sink.submit_bars(std::move(batch))) return;
    batch = {};
    if (rate_ > 0) {
      auto due = started + std::chrono::duration<double>(static_cast<double>(sent) / rate_);
      while (!stop_ && clock::now() < due)
        std::this_thread::sleep_for(std::min<clock::duration>(std::chrono::duration_cast<clock::duration>(due - clock::now()),
                                                              std::chrono::milliseconds(50)));
    }
  }
  if (stop_) return;
  reader_.reset();  // its 8 MiB buffer is not needed any more
  if (!sink.flush()) {
    log::error("replay", "the file was read, but not every bar was stored (the server stopped first)");
    return;
  }
  exhausted_ = true;
  log::info("replay", "file exhausted: " + std::to_string(bars_read_.load()) + " bars read, " +
                          std::to_string(lines_rejected_.load()) + " lines rejected");
}

void ReplayFeed::write_status(JsonWriter& w) const {
  w.key("bars_read").value(static_cast<std::int64_t>(bars_read_.load()));
  w.key("lines_rejected").value(static_cast<std::int64_t>(lines_rejected_.load()));
  w.key("exhausted").value(exhausted_.load());
}

}  // namespace qc
