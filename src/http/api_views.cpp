#include "http/api_views.h"

#include <algorithm>

#include "core/stats_render.h"

namespace qc {

ApiViews::ApiViews() {
  publish_tickerlist(R"({"tickerlist":[]})");
  publish_performance(R"({"performance":[]})");
  publish_positions(R"({"positions":[]})");
  auto no_trades = ViewBody::of(render_stats(StatsBook{}, OpenSummary{}));
  publish_stats({no_trades, no_trades, no_trades});
  publish_recommendations({});
}

ViewBodyPtr ApiViews::compressed(ViewBodyPtr body) {
  compressor_.submit(*body);
  return body;
}

void ApiViews::publish_tickerlist(ViewBodyPtr body) { tickerlist_.store(compressed(std::move(body))); }
void ApiViews::publish_performance(ViewBodyPtr body) { performance_.store(compressed(std::move(body))); }
void ApiViews::publish_positions(ViewBodyPtr body) { positions_.store(compressed(std::move(body))); }
void ApiViews::publish_stats(StatsViews views) {
  compressed(views.full);
  if (views.reduced != views.full) compressed(views.reduced);
  compressed(views.none);
  stats_.store(std::make_shared<const StatsViews>(std::move(views)));
}

ViewBodyPtr ApiViews::stats(EquityMode mode) const {
  auto views = stats_.load();
  switch (mode) {
    case EquityMode::Full: return views->full;
    case EquityMode::None: return views->none;
    case EquityMode::Reduced: break;
  }
  return views->reduced;
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
  view->default_body = compressed(ViewBody::of(render_recommendations(items, kDefaultLimit)));
  view->items = std::move(items);
  recommendations_.store(std::move(view));
}

ViewBodyPtr ApiViews::recommendations(int limit) const {
  auto view = recommendations_.load();
  if (limit == kDefaultLimit) return view->default_body;
  return ViewBody::of(render_recommendations(view->items, limit));
}

}  // namespace qc
