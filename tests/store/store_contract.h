// Contract tests of the store port (src/store/store.h). Every adapter must
// pass them unchanged. They use only the port: no SQL, no file layout.
//
// An adapter is described by a traits type with
//   static std::unique_ptr<qc::Store> open(const std::filesystem::path& where);
// `where` is a unique, not yet existing location for this test (a file path
// under a fresh temporary directory); opening it twice must reach the same
// data (that is what "restart" means here). An adapter that keeps its data
// elsewhere (e.g. MongoDB) derives a unique database name from `where` and
// may also provide
//   static void drop(const std::filesystem::path& where);
// which is called after each test to remove that data.
//
// Instantiate once per adapter, in its own test file:
//   #include "store_contract.h"
//   struct SqliteAdapter {
//     static std::unique_ptr<qc::Store> open(const std::filesystem::path& p);
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Types<SqliteAdapter>);
// (Type-parameterised tests may be included by several test files of one
// binary; each instantiation needs its own prefix.)
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <ostream>
#include <vector>

#include <unistd.h>

#include "core/position.h"
#include "core/recommendation.h"
#include "core/ticker.h"
#include "store/store.h"

// Readable failure messages for the port's value types.
namespace qc {
inline void PrintTo(const OpenPosition& p, std::ostream* os) {
  os->precision(17);
  *os << "{" << p.symbol << " @" << p.open_timestamp << " entry " << p.entry_price << " target "
      << p.target_price << " stop " << p.stop_loss << " expected " << p.expected_profit << "}";
}
inline void PrintTo(const ClosedPosition& c, std::ostream* os) {
  PrintTo(c.position, os);
  *os << " closed at " << c.close_timestamp << " exit " << c.exit_price << " pnl " << c.pnl << " "
      << close_notes(c.reason);
}
inline void PrintTo(const Ticker& t, std::ostream* os) {
  *os << "{" << t.symbol << ", " << t.exchange << ", " << t.name << "}";
}
inline void PrintTo(const RecommendationDocument& d, std::ostream* os) {
  os->precision(17);
  *os << "{" << d.us_date << " / " << d.sg_date << ":";
  for (const auto& i : d.items)
    *os << " " << i.symbol << " target " << i.target_price << " current " << i.current_price;
  *os << "}";
}
}  // namespace qc

namespace qc::store_contract {

using StoreFactory = std::function<std::unique_ptr<qc::Store>(const std::filesystem::path&)>;

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<unsigned> counter{0};
    auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = std::filesystem::temp_directory_path() /
            ("qc-" + tag + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(stamp) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// The tickers of SPEC §5, in the listed order (written out here on purpose,
// independently of qc::default_tickers()).
inline std::vector<qc::Ticker> spec_tickers() {
  return {
      {"AAPL", "NASDAQ", "Apple Inc."},
      {"AMZN", "NASDAQ", "Amazon.com Inc."},
      {"BABA", "NYSE", "Alibaba Group Holdings Limited"},
      {"GOOG", "NASDAQ", "Alphabet Inc."},
      {"SHOP", "NYSE", "Shopify Inc."},
      {"BX", "NYSE", "Blackstone Group Inc."},
      {"C", "NYSE", "Citigroup Inc."},
      {"TLT", "NASDAQ", "iShares 20 Plus Year Treasury Bond ETF"},
      {"NVDA", "NASDAQ", "NVIDIA Corporation"},
      {"BLK", "NYSE", "BlackRock Inc."},
      {"NOK", "NYSE", "Nokia Corporation"},
  };
}

inline qc::RecommendationDocument document(std::string us_date, std::string sg_date,
                                           std::vector<qc::RecommendationItem> items) {
  qc::RecommendationDocument d;
  d.us_date = std::move(us_date);
  d.sg_date = std::move(sg_date);
  d.items = std::move(items);
  return d;
}

inline qc::OpenPosition position(std::string symbol, std::int64_t open_timestamp, double entry,
                                 double target) {
  qc::OpenPosition p;
  p.symbol = std::move(symbol);
  p.open_timestamp = open_timestamp;
  p.entry_price = entry;
  p.target_price = target;
  p.stop_loss = entry * 0.9;
  p.expected_profit = (target - entry) / entry * 100;
  return p;
}

inline qc::ClosedPosition closed(const qc::OpenPosition& p, double exit_price,
                                 double close_timestamp, qc::CloseReason reason) {
  qc::ClosedPosition c;
  c.position = p;
  c.exit_price = exit_price;
  c.close_timestamp = close_timestamp;
  c.pnl = (exit_price - p.entry_price) / p.entry_price * 100;
  c.reason = reason;
  return c;
}

// The port does not promise an order for positions and last bars; compare
// them in a canonical order.
inline std::vector<qc::OpenPosition> by_identity(std::vector<qc::OpenPosition> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return std::tie(a.symbol, a.open_timestamp) < std::tie(b.symbol, b.open_timestamp);
  });
  return v;
}
inline std::vector<qc::ClosedPosition> by_identity(std::vector<qc::ClosedPosition> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return std::tie(a.position.symbol, a.position.open_timestamp) <
           std::tie(b.position.symbol, b.position.open_timestamp);
  });
  return v;
}
inline std::vector<qc::LastBar> sorted(std::vector<qc::LastBar> v) {
  std::sort(v.begin(), v.end());
  return v;
}

inline std::vector<qc::RecommendationDocument> documents_of(const qc::StoredState& s) {
  std::vector<qc::RecommendationDocument> out;
  for (const auto& d : s.documents) out.push_back(d.document);
  return out;
}

// Everything load() returns, in a comparable form.
inline void expect_same_state(const qc::StoredState& a, const qc::StoredState& b) {
  EXPECT_EQ(a.tickers, b.tickers);
  ASSERT_EQ(a.documents.size(), b.documents.size());
  for (std::size_t i = 0; i < a.documents.size(); ++i) {
    EXPECT_EQ(a.documents[i].seq, b.documents[i].seq) << "document " << i;
    EXPECT_EQ(a.documents[i].document, b.documents[i].document) << "document " << i;
  }
  EXPECT_EQ(by_identity(a.open_positions), by_identity(b.open_positions));
  EXPECT_EQ(by_identity(a.closed_positions), by_identity(b.closed_positions));
  EXPECT_EQ(sorted(a.last_bars), sorted(b.last_bars));
}

// 2021-07-12 10:59:00 and 11:01:00 New York (EDT).
constexpr std::int64_t kT0 = 1626101940;
constexpr std::int64_t kT1 = 1626102060;

template <class Adapter>
class StoreContract : public ::testing::Test {
 protected:
  StoreContract() : dir_("store-contract"), where_(dir_.path() / "quantcrunch.db") {}
  ~StoreContract() override {
    store_.reset();
    if constexpr (requires { Adapter::drop(where_); }) Adapter::drop(where_);
  }

  // (Re)opens the store at this test's location; the previous instance is
  // destroyed first, as in a restart.
  qc::Store& reopen() {
    store_.reset();
    store_ = factory_(where_);
    EXPECT_NE(store_, nullptr);
    return *store_;
  }
  qc::Store& store() {
    if (!store_) reopen();
    return *store_;
  }

  // Two documents, three positions opened by them, one of those closed.
  struct Sample {
    qc::RecommendationDocument doc_a = document(
        "2021-07-12 10:59:00", "2021-07-12 22:59:00",
        {{"AAPL", 150.2, 145.1}, {"NVDA", 220, 200}});
    qc::RecommendationDocument doc_b =
        document("2021-07-12 11:01:00", "2021-07-12 23:01:00", {{"C", 66, 60}});
    qc::OpenPosition aapl = position("AAPL", kT0, 145.1, 150.2);
    qc::OpenPosition nvda = position("NVDA", kT0, 200, 220);
    qc::OpenPosition c = position("C", kT1, 60, 66);
    qc::ClosedPosition nvda_closed =
        closed(nvda, nvda.stop_loss, 1626102300, qc::CloseReason::StopLoss);
  };

  StoreFactory factory_ = [](const std::filesystem::path& p) { return Adapter::open(p); };
  TempDir dir_;
  std::filesystem::path where_;
  std::unique_ptr<qc::Store> store_;
};

TYPED_TEST_SUITE_P(StoreContract);

TYPED_TEST_P(StoreContract, KindAndLocationAreNamed) {
  auto& s = this->store();
  EXPECT_FALSE(s.kind().empty());
  EXPECT_FALSE(s.location().empty());
}

TYPED_TEST_P(StoreContract, HealthIsOk) {
  auto h = this->store().health();
  EXPECT_TRUE(h.ok) << h.detail;
}

TYPED_TEST_P(StoreContract, EmptyStoreIsSeededWithSpecTickersInOrder) {
  auto state = this->store().load();
  EXPECT_EQ(state.tickers, spec_tickers());
  EXPECT_EQ(state.tickers, qc::default_tickers());
  EXPECT_TRUE(state.documents.empty());
  EXPECT_TRUE(state.open_positions.empty());
  EXPECT_TRUE(state.closed_positions.empty());
  EXPECT_TRUE(state.last_bars.empty());
}

TYPED_TEST_P(StoreContract, TickersAreSeededOnlyOnce) {
  EXPECT_EQ(this->store().load().tickers, spec_tickers());
  EXPECT_EQ(this->store().load().tickers, spec_tickers());
  this->reopen();
  EXPECT_EQ(this->store().load().tickers, spec_tickers());
  this->reopen();
  this->reopen();
  EXPECT_EQ(this->store().load().tickers, spec_tickers());
}

TYPED_TEST_P(StoreContract, LoadAfterCommitReturnsWhatWasCommitted) {
  typename TestFixture::Sample x;
  qc::ChangeSet first;
  first.new_documents = {x.doc_a, x.doc_b};
  first.opened = {x.aapl, x.nvda, x.c};
  first.last_bars = {{"AAPL", (kT0 + 60) * 1000}, {"NVDA", (kT0 + 120) * 1000}};
  auto seqs = this->store().commit(first);
  ASSERT_EQ(seqs.size(), 2u);
  EXPECT_LT(seqs[0], seqs[1]);

  qc::ChangeSet second;
  second.closed = {x.nvda_closed};
  second.last_bars = {{"NVDA", (kT0 + 300) * 1000}};
  EXPECT_TRUE(this->store().commit(second).empty());

  auto state = this->store().load();
  EXPECT_EQ(state.tickers, spec_tickers());
  ASSERT_EQ(state.documents.size(), 2u);
  EXPECT_EQ(state.documents[0].document, x.doc_a);
  EXPECT_EQ(state.documents[1].document, x.doc_b);
  EXPECT_EQ(state.documents[0].seq, seqs[0]);
  EXPECT_EQ(state.documents[1].seq, seqs[1]);
  EXPECT_EQ(by_identity(state.open_positions), by_identity({x.aapl, x.c}));
  EXPECT_EQ(state.closed_positions, std::vector<qc::ClosedPosition>{x.nvda_closed});
  EXPECT_EQ(sorted(state.last_bars),
            sorted({{"AAPL", (kT0 + 60) * 1000}, {"NVDA", (kT0 + 300) * 1000}}));
}

TYPED_TEST_P(StoreContract, DocumentsKeepInsertionOrderWithIncreasingSeq) {
  // Inserted newest us-date first, across several commits: load() returns
  // insertion order, not date order.
  std::vector<qc::RecommendationDocument> docs = {
      document("2021-07-14 09:30:00", "2021-07-14 21:30:00", {{"AAPL", 160, 150}}),
      document("2021-07-12 10:59:00", "2021-07-12 22:59:00", {{"AMZN", 3800, 3700}}),
      document("2021-07-13 12:00:00", "2021-07-14 00:00:00", {{"GOOG", 2700, 2600}}),
      document("2021-07-12 10:59:00", "2021-07-12 22:59:00", {{"BX", 100, 90}}),
  };
  std::vector<std::int64_t> seqs;
  {
    qc::ChangeSet one;
    one.new_documents = {docs[0], docs[1]};
    auto s = this->store().commit(one);
    seqs.insert(seqs.end(), s.begin(), s.end());
  }
  for (std::size_t i = 2; i < docs.size(); ++i) {
    qc::ChangeSet one;
    one.new_documents = {docs[i]};
    auto s = this->store().commit(one);
    seqs.insert(seqs.end(), s.begin(), s.end());
  }
  ASSERT_EQ(seqs.size(), docs.size());
  for (std::size_t i = 1; i < seqs.size(); ++i) EXPECT_LT(seqs[i - 1], seqs[i]);

  auto state = this->store().load();
  EXPECT_EQ(documents_of(state), docs);
  ASSERT_EQ(state.documents.size(), docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(state.documents[i].seq, seqs[i]);

  // ...and after a restart, with the next seq still larger than every earlier one.
  this->reopen();
  auto again = this->store().load();
  EXPECT_EQ(documents_of(again), docs);
  qc::ChangeSet more;
  more.new_documents = {document("2021-07-15 10:00:00", "2021-07-15 22:00:00", {{"C", 70, 60}})};
  auto next = this->store().commit(more);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_GT(next[0], seqs.back());
}

TYPED_TEST_P(StoreContract, RestartRestoresEverything) {
  typename TestFixture::Sample x;
  qc::ChangeSet changes;
  changes.new_documents = {x.doc_a, x.doc_b};
  changes.opened = {x.aapl, x.nvda, x.c};
  changes.last_bars = {{"AAPL", (kT0 + 60) * 1000}};
  this->store().commit(changes);
  qc::ChangeSet closing;
  closing.closed = {x.nvda_closed};
  closing.last_bars = {{"NVDA", (kT0 + 300) * 1000}};
  this->store().commit(closing);
  auto before = this->store().load();

  this->reopen();
  auto after = this->store().load();
  expect_same_state(before, after);
  EXPECT_EQ(documents_of(after), (std::vector<qc::RecommendationDocument>{x.doc_a, x.doc_b}));
  EXPECT_EQ(by_identity(after.open_positions), by_identity({x.aapl, x.c}));
  EXPECT_EQ(after.closed_positions, std::vector<qc::ClosedPosition>{x.nvda_closed});
}

TYPED_TEST_P(StoreContract, CloseMovesPositionFromOpenToClosedInOneCommit) {
  typename TestFixture::Sample x;
  qc::ChangeSet open;
  open.opened = {x.aapl, x.nvda};
  this->store().commit(open);
  {
    auto s = this->store().load();
    EXPECT_EQ(by_identity(s.open_positions), by_identity({x.aapl, x.nvda}));
    EXPECT_TRUE(s.closed_positions.empty());
  }
  qc::ChangeSet closing;
  closing.closed = {x.nvda_closed};
  this->store().commit(closing);
  auto s = this->store().load();
  EXPECT_EQ(s.open_positions, std::vector<qc::OpenPosition>{x.aapl});
  EXPECT_EQ(s.closed_positions, std::vector<qc::ClosedPosition>{x.nvda_closed});

  this->reopen();
  auto r = this->store().load();
  EXPECT_EQ(r.open_positions, std::vector<qc::OpenPosition>{x.aapl});
  EXPECT_EQ(r.closed_positions, std::vector<qc::ClosedPosition>{x.nvda_closed});
}

TYPED_TEST_P(StoreContract, OpenedAndClosedInTheSameChangeSetEndsClosed) {
  // The ledger batches a document and the bars that follow it into one
  // commit, so a position can be opened and closed by the same ChangeSet.
  typename TestFixture::Sample x;
  qc::ChangeSet changes;
  changes.new_documents = {x.doc_a};
  changes.opened = {x.aapl, x.nvda};
  changes.closed = {x.nvda_closed};
  changes.last_bars = {{"NVDA", (kT0 + 300) * 1000}};
  this->store().commit(changes);
  auto s = this->store().load();
  EXPECT_EQ(s.open_positions, std::vector<qc::OpenPosition>{x.aapl});
  EXPECT_EQ(s.closed_positions, std::vector<qc::ClosedPosition>{x.nvda_closed});
}

TYPED_TEST_P(StoreContract, CommittingTheSameChangeSetTwiceChangesNothing) {
  typename TestFixture::Sample x;
  qc::ChangeSet open;
  open.new_documents = {x.doc_a, x.doc_b};
  open.opened = {x.aapl, x.nvda, x.c};
  open.last_bars = {{"AAPL", (kT0 + 60) * 1000}};
  qc::ChangeSet closing;
  closing.closed = {x.nvda_closed};
  closing.last_bars = {{"NVDA", (kT0 + 300) * 1000}};

  this->store().commit(open);
  this->store().commit(closing);
  auto once = this->store().load();

  auto seqs = this->store().commit(open);
  EXPECT_EQ(seqs.size(), open.new_documents.size());
  this->store().commit(closing);
  auto twice = this->store().load();
  expect_same_state(once, twice);
  EXPECT_EQ(twice.documents.size(), 2u);
  EXPECT_EQ(twice.open_positions.size(), 2u);
  EXPECT_EQ(twice.closed_positions.size(), 1u);

  // Also across a restart (a replayed batch after a crash).
  this->reopen();
  this->store().commit(open);
  this->store().commit(closing);
  expect_same_state(once, this->store().load());
}

TYPED_TEST_P(StoreContract, IdenticalDocumentIsStoredOnce) {
  typename TestFixture::Sample x;
  qc::ChangeSet a;
  a.new_documents = {x.doc_a};
  this->store().commit(a);
  // The same document again, alone and next to a new one.
  this->store().commit(a);
  qc::ChangeSet b;
  b.new_documents = {x.doc_a, x.doc_b};
  auto seqs = this->store().commit(b);
  ASSERT_EQ(seqs.size(), 2u);
  auto s = this->store().load();
  EXPECT_EQ(documents_of(s), (std::vector<qc::RecommendationDocument>{x.doc_a, x.doc_b}));
  ASSERT_EQ(s.documents.size(), 2u);
  EXPECT_EQ(s.documents[1].seq, seqs[1]);
}

TYPED_TEST_P(StoreContract, DocumentsDifferingOnlyInItemsAreDistinct) {
  auto a = document("2021-07-12 10:59:00", "2021-07-12 22:59:00", {{"AAPL", 150.2, 145.1}});
  auto b = document("2021-07-12 10:59:00", "2021-07-12 22:59:00", {{"AAPL", 150.3, 145.1}});
  qc::ChangeSet changes;
  changes.new_documents = {a, b};
  this->store().commit(changes);
  EXPECT_EQ(documents_of(this->store().load()), (std::vector<qc::RecommendationDocument>{a, b}));
}

TYPED_TEST_P(StoreContract, ClosedPositionIsNeverReopened) {
  typename TestFixture::Sample x;
  qc::ChangeSet open;
  open.opened = {x.nvda};
  this->store().commit(open);
  qc::ChangeSet closing;
  closing.closed = {x.nvda_closed};
  this->store().commit(closing);

  // A later `opened` with the same identity (symbol, open_timestamp), even
  // with different prices, must not bring it back.
  qc::ChangeSet again;
  again.opened = {x.nvda, position("NVDA", kT0, 201, 230)};
  this->store().commit(again);
  auto s = this->store().load();
  EXPECT_TRUE(s.open_positions.empty());
  EXPECT_EQ(s.closed_positions, std::vector<qc::ClosedPosition>{x.nvda_closed});

  this->reopen();
  this->store().commit(again);
  auto r = this->store().load();
  EXPECT_TRUE(r.open_positions.empty());
  EXPECT_EQ(r.closed_positions, std::vector<qc::ClosedPosition>{x.nvda_closed});
}

TYPED_TEST_P(StoreContract, PositionIsClosedAtMostOnce) {
  typename TestFixture::Sample x;
  qc::ChangeSet open;
  open.opened = {x.nvda};
  this->store().commit(open);
  qc::ChangeSet closing;
  closing.closed = {x.nvda_closed};
  this->store().commit(closing);
  // A second, different close of the same identity keeps the first one.
  qc::ChangeSet other;
  other.closed = {closed(x.nvda, 221, 1626103000, qc::CloseReason::TargetPrice)};
  this->store().commit(other);
  auto s = this->store().load();
  EXPECT_TRUE(s.open_positions.empty());
  EXPECT_EQ(s.closed_positions, std::vector<qc::ClosedPosition>{x.nvda_closed});
}

TYPED_TEST_P(StoreContract, SameOpenTimestampDifferentSymbolsAreDifferentPositions) {
  typename TestFixture::Sample x;
  qc::ChangeSet open;
  open.opened = {x.aapl, x.nvda, position("AAPL", kT1, 146, 151)};
  this->store().commit(open);
  auto s = this->store().load();
  EXPECT_EQ(by_identity(s.open_positions),
            by_identity({x.aapl, x.nvda, position("AAPL", kT1, 146, 151)}));
  // Opening an already open identity again keeps the first values.
  qc::ChangeSet dup;
  dup.opened = {position("AAPL", kT0, 1, 2)};
  this->store().commit(dup);
  EXPECT_EQ(by_identity(this->store().load().open_positions), by_identity(s.open_positions));
}

TYPED_TEST_P(StoreContract, LastBarsKeepTheNewestStartPerSymbol) {
  qc::ChangeSet a;
  a.last_bars = {{"AAPL", 2'000'000}, {"NVDA", 5'000'000}};
  this->store().commit(a);
  qc::ChangeSet older;
  older.last_bars = {{"AAPL", 1'000'000}, {"NVDA", 4'999'999}};
  this->store().commit(older);
  EXPECT_EQ(sorted(this->store().load().last_bars),
            sorted({{"AAPL", 2'000'000}, {"NVDA", 5'000'000}}));
  qc::ChangeSet newer;
  newer.last_bars = {{"AAPL", 3'000'000}, {"C", 7}};
  this->store().commit(newer);
  EXPECT_EQ(sorted(this->store().load().last_bars),
            sorted({{"AAPL", 3'000'000}, {"C", 7}, {"NVDA", 5'000'000}}));
  this->reopen();
  qc::ChangeSet stale;
  stale.last_bars = {{"AAPL", 2'500'000}};
  this->store().commit(stale);
  EXPECT_EQ(sorted(this->store().load().last_bars),
            sorted({{"AAPL", 3'000'000}, {"C", 7}, {"NVDA", 5'000'000}}));
}

TYPED_TEST_P(StoreContract, LastBarsHoldFullMillisecondRange) {
  // Bar starts are UNIX milliseconds: beyond 32 bits.
  qc::ChangeSet a;
  a.last_bars = {{"AAPL", 1626101940000}, {"TLT", 4102444800000}};
  this->store().commit(a);
  this->reopen();
  EXPECT_EQ(sorted(this->store().load().last_bars),
            sorted({{"AAPL", 1626101940000}, {"TLT", 4102444800000}}));
}

TYPED_TEST_P(StoreContract, LastBarsKeepThePriceAndEndOfTheNewestBar) {
  // SPEC §4.6 marks open positions with the newest bar's close and end.
  qc::ChangeSet a;
  a.last_bars = {{"AAPL", 60'000, 151.25, 120'000}};
  this->store().commit(a);
  qc::ChangeSet stale;  // an older start with another price changes nothing
  stale.last_bars = {{"AAPL", 0, 99.5, 60'000}};
  this->store().commit(stale);
  this->reopen();
  EXPECT_EQ(this->store().load().last_bars, (std::vector<qc::LastBar>{{"AAPL", 60'000, 151.25, 120'000}}));
  qc::ChangeSet newer;
  newer.last_bars = {{"AAPL", 120'000, 152.5, 180'000}};
  this->store().commit(newer);
  EXPECT_EQ(this->store().load().last_bars, (std::vector<qc::LastBar>{{"AAPL", 120'000, 152.5, 180'000}}));
}

TYPED_TEST_P(StoreContract, LastBarWithoutAPriceLoadsWithoutOne) {
  // Rows written before prices were kept have only the start.
  qc::ChangeSet a;
  a.last_bars = {{"NVDA", 60'000}};
  this->store().commit(a);
  this->reopen();
  auto bars = this->store().load().last_bars;
  ASSERT_EQ(bars.size(), 1u);
  EXPECT_EQ(bars[0].start_ms, 60'000);
  EXPECT_FALSE(bars[0].close.has_value());
}

TYPED_TEST_P(StoreContract, EmptyChangeSetIsANoOp) {
  typename TestFixture::Sample x;
  qc::ChangeSet changes;
  changes.new_documents = {x.doc_a};
  changes.opened = {x.aapl};
  changes.last_bars = {{"AAPL", 60'000}};
  this->store().commit(changes);
  auto before = this->store().load();
  qc::ChangeSet empty;
  ASSERT_TRUE(empty.empty());
  EXPECT_TRUE(this->store().commit(empty).empty());
  expect_same_state(before, this->store().load());

  // On a fresh store too.
  TempDir other("store-contract-empty");
  auto fresh = this->factory_(other.path() / "quantcrunch.db");
  EXPECT_TRUE(fresh->commit(empty).empty());
  auto s = fresh->load();
  EXPECT_EQ(s.tickers, spec_tickers());
  EXPECT_TRUE(s.documents.empty());
  fresh.reset();
  if constexpr (requires { TypeParam::drop(other.path()); })
    TypeParam::drop(other.path() / "quantcrunch.db");
}

TYPED_TEST_P(StoreContract, DoublesRoundTripExactly) {
  const double sum = 0.1 + 0.2;  // 0.30000000000000004
  const double entry = 150.17849999999999;
  qc::OpenPosition p;
  p.symbol = "AAPL";
  p.open_timestamp = kT0;
  p.entry_price = entry;
  p.target_price = sum + 150;
  p.stop_loss = entry * 0.9;
  p.expected_profit = (p.target_price - entry) / entry * 100;
  qc::OpenPosition q = position("TLT", kT0, sum, 1.0 / 3.0);
  qc::OpenPosition r = position("NOK", kT0, 1e-7, 9007199254740993.0);
  qc::ClosedPosition c = closed(position("BX", kT0, 123.456789012345678, 987.654321),
                                0.1 * 3, 1626102060.123, qc::CloseReason::StopLoss);
  auto doc = document("2021-07-12 10:59:00", "2021-07-12 22:59:00",
                      {{"AAPL", sum + 150, entry}, {"TLT", 1.0 / 3.0, sum},
                       {"BX", 987.654321, 123.456789012345678}});
  qc::ChangeSet changes;
  changes.new_documents = {doc};
  changes.opened = {p, q, r};
  changes.closed = {c};
  this->store().commit(changes);

  for (int round = 0; round < 2; ++round) {
    auto s = this->store().load();
    ASSERT_EQ(s.documents.size(), 1u);
    EXPECT_EQ(s.documents[0].document, doc);  // operator== compares doubles bit-exactly
    EXPECT_EQ(by_identity(s.open_positions), by_identity({p, q, r}));
    ASSERT_EQ(s.closed_positions.size(), 1u);
    EXPECT_EQ(s.closed_positions[0], c);
    EXPECT_EQ(s.closed_positions[0].close_timestamp, 1626102060.123);
    EXPECT_EQ(s.closed_positions[0].exit_price, 0.1 * 3);
    this->reopen();
  }
}

TYPED_TEST_P(StoreContract, CloseReasonsRoundTrip) {
  auto a = position("AAPL", kT0, 100, 110);
  auto b = position("AMZN", kT0, 100, 110);
  qc::ChangeSet changes;
  changes.opened = {a, b};
  changes.closed = {closed(a, 110, 1626102120, qc::CloseReason::TargetPrice),
                    closed(b, 90, 1626102180, qc::CloseReason::StopLoss)};
  this->store().commit(changes);
  this->reopen();
  EXPECT_EQ(by_identity(this->store().load().closed_positions), by_identity(changes.closed));
}

TYPED_TEST_P(StoreContract, ClosedPositionsInSeveralMonthsAreAllKept) {
  auto a = position("AAPL", kT0, 100, 110);
  auto b = position("AMZN", kT0, 100, 110);
  auto c = position("GOOG", kT0, 100, 110);
  qc::ChangeSet changes;
  changes.opened = {a, b, c};
  changes.closed = {closed(a, 110, 1627775999.5, qc::CloseReason::TargetPrice),  // 2021-07-31
                    closed(b, 90, 1627776000, qc::CloseReason::StopLoss),        // 2021-08-01
                    closed(c, 110, 1633046400, qc::CloseReason::TargetPrice)};   // 2021-10-01
  this->store().commit(changes);
  this->reopen();
  auto s = this->store().load();
  EXPECT_TRUE(s.open_positions.empty());
  EXPECT_EQ(by_identity(s.closed_positions), by_identity(changes.closed));
}

TYPED_TEST_P(StoreContract, ProbeWriteChangesNothingLoadReturns) {
  typename TestFixture::Sample x;
  qc::ChangeSet changes;
  changes.new_documents = {x.doc_a, x.doc_b};
  changes.opened = {x.aapl, x.nvda, x.c};
  changes.closed = {x.nvda_closed};
  changes.last_bars = {{"AAPL", (kT0 + 60) * 1000}};
  this->store().commit(changes);
  auto before = this->store().load();
  this->store().probe_write();
  this->store().probe_write();
  expect_same_state(before, this->store().load());
  this->reopen();
  expect_same_state(before, this->store().load());
  EXPECT_TRUE(this->store().health().ok);
}

REGISTER_TYPED_TEST_SUITE_P(StoreContract, KindAndLocationAreNamed, HealthIsOk,
                            EmptyStoreIsSeededWithSpecTickersInOrder, TickersAreSeededOnlyOnce,
                            LoadAfterCommitReturnsWhatWasCommitted,
                            DocumentsKeepInsertionOrderWithIncreasingSeq,
                            RestartRestoresEverything,
                            CloseMovesPositionFromOpenToClosedInOneCommit,
                            OpenedAndClosedInTheSameChangeSetEndsClosed,
                            CommittingTheSameChangeSetTwiceChangesNothing,
                            IdenticalDocumentIsStoredOnce,
                            DocumentsDifferingOnlyInItemsAreDistinct,
                            ClosedPositionIsNeverReopened, PositionIsClosedAtMostOnce,
                            SameOpenTimestampDifferentSymbolsAreDifferentPositions,
                            LastBarsKeepTheNewestStartPerSymbol,
                            LastBarsHoldFullMillisecondRange,
                            LastBarsKeepThePriceAndEndOfTheNewestBar,
                            LastBarWithoutAPriceLoadsWithoutOne, EmptyChangeSetIsANoOp,
                            DoublesRoundTripExactly, CloseReasonsRoundTrip,
                            ClosedPositionsInSeveralMonthsAreAllKept,
                            ProbeWriteChangesNothingLoadReturns);

}  // namespace qc::store_contract
