// The position engine (SPEC §6): opens positions from recommendation
// documents and closes them on minute bars. The same engine runs live and in
// backtests. Pure: no I/O, no clock, no threads.
//
// Invariants:
//  - a (symbol, open_timestamp) identity is opened at most once, ever;
//  - a bar applies only if its start is newer than the last bar applied for
//    its symbol, and only to positions with open_timestamp <= start/1000;
//  - closing rules are tried in SPEC §6.2 order, first match wins.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <boost/unordered/unordered_flat_set.hpp>
#include <vector>

#include "core/minute_bar.h"
#include "core/performance_book.h"
#include "core/position.h"
#include "core/recommendation.h"
#include "core/ticker.h"

namespace qc {

enum class InvalidItems {
  RefuseDocument,  // any invalid item refuses the whole document (HTTP ingest)
  SkipItem,        // invalid items are reported and skipped (feeds, backtest)
};

// What the engine holds for one identity (symbol, open_timestamp).
struct HeldPosition {
  enum class State { Open, Closed };
  OpenPosition position;  // the prices held, which may differ from a re-sent item's
  State state = State::Open;
};

// One valid item of a submitted document and what the engine holds for it.
struct ItemOutcome {
  enum class State { Opened, AlreadyOpen, Closed };
  OpenPosition position;  // as held: a re-sent item with other prices shows the held ones
  State state = State::Opened;
};
std::string_view state_name(ItemOutcome::State state);  // "opened", "already_open", "closed"

struct OpenResult {
  std::vector<DocumentProblem> problems;
  std::optional<std::int64_t> open_timestamp;
  std::vector<OpenPosition> opened;         // newly opened, in document order
  std::vector<OpenPosition> already_known;  // identity seen before, not reopened
  bool refused = false;                     // nothing was changed
};

enum class BarOutcome { Applied, Stale, UnknownSymbol };


class Engine {
 public:
  // What the engine keeps of a closed position: its identity always (never
  // reopened); the position itself in performance() when `Closes::Kept`
  // (backtests). The server keeps its history elsewhere (TradeHistory) and
  // says `Closes::IdentityOnly`, so held() knows such an identity is closed
  // but returns nullopt for it.
  enum class Closes { Kept, IdentityOnly };
  explicit Engine(std::vector<Ticker> tickers = default_tickers(), Closes closes = Closes::Kept);

  // --- tickers
  bool add_ticker(const Ticker& ticker);  // false if already tracked
  const std::vector<Ticker>& tickers() const { return tickers_; }
  bool is_tracked(std::string_view symbol) const;

  // --- state restore (from a store); no validation, no side effects.
  // A restored position whose symbol is no longer a ticker still closes on
  // that symbol's bars: a position, once open, is never stranded.
  void restore_open(const OpenPosition& position);
  bool restore_closed(const ClosedPosition& closed);  // false: the identity was known
  void restore_last_bar(const LastBar& bar);

  // --- events
  OpenResult open(const RecommendationDocument& doc,
                  InvalidItems mode = InvalidItems::RefuseDocument);
  // Applies a bar; positions it closes are appended to `closed` (and booked).
  BarOutcome apply(const MinuteBar& bar, std::vector<ClosedPosition>& closed);

  // --- views
  const PerformanceBook& performance() const { return book_; }  // empty with IdentityOnly
  std::vector<OpenPosition> open_positions() const;  // by open time, ties in ticker order
  std::size_t open_count() const { return open_count_; }
  std::optional<std::int64_t> last_bar_start(std::string_view symbol) const;
  // The newest bar applied for the symbol (price empty when it was restored
  // from a row that kept none).
  std::optional<LastBar> last_bar(std::string_view symbol) const;
  // SPEC §4.6: the close and end of the newest bar applied for the position's
  // symbol if that bar started at or after the open; nullopt otherwise.
  std::optional<PriceMark> mark(const OpenPosition& position) const;
  // Latest bar start over all symbols (nullopt when no bar was ever applied).
  std::optional<std::int64_t> latest_bar_start() const;
  bool knows(std::string_view symbol, std::int64_t open_timestamp) const;
  // The position held for an identity: open, or closed (a scan of the
  // symbol's closes, for the rare re-post of a closed identity); nullopt
  // when it was never opened.
  std::optional<HeldPosition> held(std::string_view symbol, std::int64_t open_timestamp) const;

 private:
  struct SymbolBook {
    std::int64_t last_start_ms = 0;
    bool has_last = false;
    std::optional<double> last_close;  // of the bar at last_start_ms
    std::int64_t last_end_ms = 0;
    std::vector<OpenPosition> open;
    // Highest stop and lowest target over `open`: a bar whose prices stay
    // strictly between them cannot close anything.
    double max_stop = -std::numeric_limits<double>::infinity();
    double min_target = std::numeric_limits<double>::infinity();
    void add(const OpenPosition& p) {
      open.push_back(p);
      max_stop = std::max(max_stop, p.stop_loss);
      min_target = std::min(min_target, p.target_price);
    }
    // open_timestamps ever opened (open addressing: ~10 bytes an identity,
    // against ~40 for std::unordered_set; a million closed positions)
    boost::unordered_flat_set<std::int64_t> known;
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  SymbolBook* find(std::string_view symbol);
  const SymbolBook* find(std::string_view symbol) const;
  SymbolBook& book_for(std::string_view symbol);

  std::vector<Ticker> tickers_;
  std::unordered_map<std::string, SymbolBook, StringHash, std::equal_to<>> books_;
  PerformanceBook book_;
  bool keep_closed_ = true;
  std::size_t open_count_ = 0;
};

// SPEC §6.2 for one position and one bar (assumes the bar applies).
std::optional<ClosedPosition> close_on_bar(const OpenPosition& position, const MinuteBar& bar);

}  // namespace qc
