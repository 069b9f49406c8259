// Open and closed paper positions (SPEC §5, §6). A position's identity is
// (symbol, open_timestamp); open_timestamp is whole UNIX seconds because it
// comes from a `us-date` with second resolution.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace qc {

struct OpenPosition {
  std::string symbol;
  double target_price = 0;
  double entry_price = 0;
  std::int64_t open_timestamp = 0;
  double stop_loss = 0;
  double expected_profit = 0;
  bool operator==(const OpenPosition&) const = default;
};

// An open position's last known price (SPEC §4.6).
struct PriceMark {
  double price = 0;  // the bar's close
  double time = 0;   // the bar's end, UNIX seconds
  bool operator==(const PriceMark&) const = default;
};

enum class CloseReason { StopLoss, TargetPrice };

std::string_view close_notes(CloseReason reason);
// Inverse of close_notes; false for text that is neither note.
bool parse_close_notes(std::string_view notes, CloseReason& out);

struct ClosedPosition {
  OpenPosition position;
  double exit_price = 0;
  double close_timestamp = 0;  // bar end / 1000, may carry a fraction
  double pnl = 0;              // percent
  CloseReason reason = CloseReason::TargetPrice;
  bool operator==(const ClosedPosition&) const = default;
};

// First instant (UTC) of the calendar month containing `unix_seconds`.
std::int64_t month_start_utc(double unix_seconds);

}  // namespace qc
