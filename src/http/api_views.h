// What GET endpoints serve: immutable pre-rendered JSON published by the
// ledger after each durable change and read lock-free by HTTP threads
// (std::atomic<std::shared_ptr<const ...>>). A GET never touches the engine
// or the database.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace qc {

struct RecommendationsView {
  // Rendered items, newest document first, at most kMaxLimit.
  std::vector<std::string> items;
  // Bodies for the default limit, ready to send.
  std::string default_body;
};

class ApiViews {
 public:
  static constexpr int kDefaultLimit = 50;
  static constexpr int kMaxLimit = 1000;

  ApiViews();
  void publish_tickerlist(std::string body);
  void publish_performance(std::string body);
  void publish_positions(std::string body);
  void publish_stats(std::string body);  // unfiltered /api/stats
  void publish_recommendations(std::vector<std::string> items);

  std::shared_ptr<const std::string> tickerlist() const { return tickerlist_.load(); }
  std::shared_ptr<const std::string> performance() const { return performance_.load(); }
  std::shared_ptr<const std::string> positions() const { return positions_.load(); }
  std::shared_ptr<const std::string> stats() const { return stats_.load(); }
  // The body for `limit` items (1..kMaxLimit).
  std::shared_ptr<const std::string> recommendations(int limit) const;

  static std::string render_recommendations(const std::vector<std::string>& items, int limit);

 private:
  std::atomic<std::shared_ptr<const std::string>> tickerlist_;
  std::atomic<std::shared_ptr<const std::string>> performance_;
  std::atomic<std::shared_ptr<const std::string>> positions_;
  std::atomic<std::shared_ptr<const std::string>> stats_;
  std::atomic<std::shared_ptr<const RecommendationsView>> recommendations_;
  std::atomic<std::shared_ptr<const std::string>> recommendations_default_;
};

}  // namespace qc
