#include "http/api_views.h"

#include <algorithm>

#include "core/stats_render.h"

namespace qc {

ApiViews::ApiViews() {
  publish_tickerlist(R"({"tickerlist":[]})");
  publish_performance(R"({"performance":[]})");
  publish_positions(R"({"positions":[]})");
  publish_stats(render_stats(StatsBook{}, OpenSummary{}));
  publish_recommendations({});
}

void ApiViews::publish_tickerlist(std::string body) {
  tickerlist_.store(std::make_shared<const std::string>(std::move(body)));
}

void ApiViews::publish_performance(std::string body) {
  performance_.store(std::make_shared<const std::string>(std::move(body)));
}

void ApiViews::publish_positions(std::string body) {
  positions_.store(std::make_shared<const std::string>(std::move(body)));
}

void ApiViews::publish_stats(std::string body) {
  stats_.store(std::make_shared<const std::string>(std::move(body)));
}

std::string ApiViews::render_recommendations(const std::vector<std::string>& items, int limit) {
  std::size_t n = std::min(items.size(), static_cast<std::size_t>(std::max(limit, 0)));
  std::string out = R"({"results":[)";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    out += items[i];
  }
  out += "]}";
  return out;
}

void ApiViews::publish_recommendations(std::vector<std::string> items) {
  if (items.size() > static_cast<std::size_t>(kMaxLimit)) items.resize(kMaxLimit);
  auto view = std::make_shared<RecommendationsView>();
  view->default_body = render_recommendations(items, kDefaultLimit);
  auto body = std::make_shared<const std::string>(view->default_body);
  view->items = std::move(items);
  recommendations_.store(std::move(view));
  recommendations_default_.store(std::move(body));
}

std::shared_ptr<const std::string> ApiViews::recommendations(int limit) const {
  if (limit == kDefaultLimit) return recommendations_default_.load();
  auto view = recommendations_.load();
  return std::make_shared<const std::string>(render_recommendations(view->items, limit));
}

}  // namespace qc
