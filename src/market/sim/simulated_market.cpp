#include "market/sim/simulated_market.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/ny_time.h"
#include "market/sim/trading_calendar.h"

namespace qc {
namespace {

constexpr std::int64_t kSessionSlots = 390;
constexpr std::int64_t kSlotsPerDay = 520;  // 390 session minutes + 130 for the night
constexpr int kLevels = 13;
constexpr std::int64_t kSegment = std::int64_t{1} << kLevels;  // ~15.75 trading days
constexpr double kAnchorSd = 0.10;  // of log(price / base) at the anchors

// Salts of the independent draws.
enum Salt : std::uint64_t {
  kAnchor = 1,
  kBridge,
  kHigh,
  kLow,
  kVolume,
  kDocSymbol,
  kDocSecond,
  kDocTarget,
};

std::uint64_t splitmix(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t key_of(std::uint64_t a, std::uint64_t b) {
  return splitmix(a ^ splitmix(b));
}
std::uint64_t key_of(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return key_of(key_of(a, b), c);
}

double uniform(std::uint64_t key) {
  return static_cast<double>(splitmix(key) >> 11) * 0x1.0p-53;
}

double gaussian(std::uint64_t key) {
  double u1 = uniform(key_of(key, 1)), u2 = uniform(key_of(key, 2));
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
}

std::uint64_t name_key(const std::string& symbol) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across runs and orderings
  for (unsigned char c : symbol) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// Base price and daily volatility of the default tickers: prices roughly as
// they traded around the earlier service's time, volatilities about 1.4
// times theirs (a livelier market, so that demo positions reach their stop
// or target within days, not months); others get a made-up pair.
struct Profile {
  double base, daily_volatility;
};
Profile profile_of(const std::string& symbol, std::uint64_t key) {
  static const std::map<std::string, Profile> known = {
      {"AAPL", {145, 0.031}},  {"AMZN", {3300, 0.034}}, {"BABA", {200, 0.049}},
      {"GOOG", {2600, 0.031}}, {"SHOP", {1500, 0.053}}, {"BX", {100, 0.039}},
      {"C", {70, 0.034}},      {"TLT", {145, 0.017}},   {"NVDA", {190, 0.048}},
      {"BLK", {880, 0.028}},   {"NOK", {6, 0.042}}};
  if (auto it = known.find(symbol); it != known.end()) return it->second;
  return {20 + 180 * uniform(key_of(key, 11)), 0.02 + 0.03 * uniform(key_of(key, 12))};
}

double round_cents(double p) {
  return std::round(p * 100) / 100;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

// Weekdays in the days [0, day) since 1970-01-01 (a Thursday).
std::int64_t weekdays_before(std::int64_t day) {
  static constexpr int kCumulative[7] = {0, 1, 2, 2, 2, 3, 4};  // Thu Fri Sat Sun Mon Tue Wed
  std::int64_t weeks = floor_div(day, 7);
  return weeks * 5 + kCumulative[day - weeks * 7];
}

}  // namespace

std::int64_t simulated_slot(std::int64_t minute_start) {
  auto c = new_york_clock(minute_start);
  return weekdays_before(c.days_since_epoch) * kSlotsPerDay + (c.minute_of_day - (9 * 60 + 30));
}

SimulatedMarket::SimulatedMarket(std::vector<Ticker> tickers, std::uint64_t seed,
                                 int recommend_every)
    : tickers_(std::move(tickers)), seed_(seed), recommend_every_(recommend_every) {
  for (const auto& t : tickers_) {
    Symbol s;
    s.key = key_of(seed, name_key(t.symbol));
    auto p = profile_of(t.symbol, s.key);
    s.base = p.base;
    s.daily_volatility = p.daily_volatility;
    s.slot_sd = s.daily_volatility / std::sqrt(static_cast<double>(kSlotsPerDay));
    symbols_.push_back(s);
  }
}

double SimulatedMarket::log_level(const Symbol& s, std::int64_t slot) const {
  std::int64_t segment = floor_div(slot, kSegment);
  std::int64_t lo = segment * kSegment, hi = lo + kSegment;
  double v_lo = kAnchorSd * gaussian(key_of(s.key, kAnchor, static_cast<std::uint64_t>(segment)));
  double v_hi =
      kAnchorSd * gaussian(key_of(s.key, kAnchor, static_cast<std::uint64_t>(segment + 1)));
  // Midpoint displacement: the midpoint of a bridge of n slots deviates from
  // the chord by sd * sqrt(n) / 2. Every point is a midpoint at one level
  // only, so its draw is keyed by the slot alone.
  while (true) {
    if (slot == lo) return v_lo;
    if (slot == hi) return v_hi;
    std::int64_t mid = lo + (hi - lo) / 2;
    double v_mid =
        (v_lo + v_hi) / 2 + s.slot_sd * std::sqrt(static_cast<double>(hi - lo)) / 2 *
                                gaussian(key_of(s.key, kBridge, static_cast<std::uint64_t>(mid)));
    if (slot < mid) {
      hi = mid;
      v_hi = v_mid;
    } else {
      lo = mid;
      v_lo = v_mid;
    }
  }
}

double SimulatedMarket::price_at_slot(const Symbol& s, std::int64_t slot) const {
  return s.base * std::exp(log_level(s, slot));
}

double SimulatedMarket::price_at(std::size_t ticker, std::int64_t minute_start) const {
  return price_at_slot(symbols_[ticker], simulated_slot(minute_start));
}

MinuteBar SimulatedMarket::bar(std::size_t ticker, std::int64_t minute_start) const {
  const Symbol& s = symbols_[ticker];
  std::int64_t slot = simulated_slot(minute_start);
  auto k = static_cast<std::uint64_t>(slot);
  double open = price_at_slot(s, slot), close = price_at_slot(s, slot + 1);
  double high =
      std::max(open, close) * std::exp(std::abs(gaussian(key_of(s.key, kHigh, k))) * s.slot_sd / 2);
  double low =
      std::min(open, close) * std::exp(-std::abs(gaussian(key_of(s.key, kLow, k))) * s.slot_sd / 2);
  MinuteBar b;
  b.symbol = tickers_[ticker].symbol;
  b.open = round_cents(open);
  b.close = round_cents(close);
  b.high = std::max({round_cents(high), b.open, b.close});
  b.low = std::min({round_cents(low), b.open, b.close});
  b.volume = std::round(1000 + 9000 * uniform(key_of(s.key, kVolume, k)));
  b.start_ms = minute_start * 1000;
  b.end_ms = b.start_ms + 60'000;
  return b;
}

std::vector<MinuteBar> SimulatedMarket::bars_at(std::int64_t minute_start) const {
  std::vector<MinuteBar> bars;
  bars.reserve(tickers_.size());
  for (std::size_t i = 0; i < tickers_.size(); ++i) bars.push_back(bar(i, minute_start));
  return bars;
}

std::optional<RecommendationDocument> SimulatedMarket::demo_document(
    std::int64_t minute_start) const {
  if (recommend_every_ <= 0 || tickers_.empty()) return std::nullopt;
  std::int64_t slot = simulated_slot(minute_start);
  std::int64_t minute_of_session = slot - floor_div(slot, kSlotsPerDay) * kSlotsPerDay;
  if (minute_of_session >= kSessionSlots ||
      (minute_of_session - recommend_every_ / 2) % recommend_every_ != 0 ||
      minute_of_session < recommend_every_ / 2)
    return std::nullopt;
  auto k = static_cast<std::uint64_t>(slot);
  std::uint64_t doc_key = key_of(seed_, k);
  std::size_t n = tickers_.size();
  std::vector<std::size_t> picks{
      static_cast<std::size_t>(splitmix(key_of(doc_key, kDocSymbol)) % n)};
  if (n > 1 && uniform(key_of(doc_key, kDocSecond)) < 0.25)
    picks.push_back((picks[0] + 1 + splitmix(key_of(doc_key, kDocSecond, 1)) % (n - 1)) % n);
  RecommendationDocument doc;
  doc.us_date = format_new_york_time(minute_start);
  doc.sg_date = format_singapore_time(minute_start);
  for (std::size_t i : picks) {
    const Symbol& s = symbols_[i];
    double entry = round_cents(price_at_slot(s, slot));
    // A target 1.5 to 3.5 daily volatilities above the entry.
    double lift = s.daily_volatility * (1.5 + 2.0 * uniform(key_of(doc_key, kDocTarget, i)));
    double target = round_cents(entry * (1 + lift));
    if (!(entry > 0) || !(target > entry)) continue;
    doc.items.push_back({tickers_[i].symbol, target, entry});
  }
  if (doc.items.empty()) return std::nullopt;
  return doc;
}

}  // namespace qc
