#include "app/stats_answer_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "core/stats_render.h"

namespace {

using qc::StatsAnswerCache;
using qc::TradeFilter;

StatsAnswerCache::Text text(std::size_t n, char c = 'x') {
  return std::make_shared<const qc::BodyPart>(std::string(n, c));
}

TradeFilter of_symbol(const char* symbol) {
  TradeFilter f;
  f.symbol = symbol;
  return f;
}

qc::ClosedPosition trade(const char* symbol, double close_timestamp, double pnl = 1) {
  qc::ClosedPosition c;
  c.position.symbol = symbol;
  c.close_timestamp = close_timestamp;
  c.pnl = pnl;
  return c;
}

// The statistics of `trades` (in order), as a scan would keep them.
StatsAnswerCache::Book book_of(std::initializer_list<qc::ClosedPosition> trades) {
  auto book = std::make_shared<qc::StatsBook>();
  for (const auto& t : trades) EXPECT_TRUE(book->add_in_order(t));
  return book;
}

TEST(StatsAnswerCacheTest, FindsWhatWasStored) {
  StatsAnswerCache cache(1000);
  cache.store("a", {}, cache.version(), text(10));
  auto found = cache.find("a");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(*found->plain(), std::string(10, 'x'));
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(StatsAnswerCacheTest, UnknownKeyIsAMiss) {
  StatsAnswerCache cache(1000);
  cache.store("a", {}, cache.version(), text(10));
  EXPECT_EQ(cache.find("b"), nullptr);
  EXPECT_EQ(cache.misses(), 1u);
}

TEST(StatsAnswerCacheTest, AClosedTradeDropsTheAnswersOfTheFiltersItMatches) {
  StatsAnswerCache cache(1000);
  cache.store("aapl", of_symbol("AAPL"), cache.version(), text(10));
  cache.store("nvda", of_symbol("NVDA"), cache.version(), text(10));
  cache.store("all", {}, cache.version(), text(10));
  cache.closed(trade("AAPL", 100));
  EXPECT_EQ(cache.find("aapl"), nullptr);
  EXPECT_EQ(cache.find("all"), nullptr);
  EXPECT_NE(cache.find("nvda"), nullptr);
  EXPECT_EQ(cache.bytes(), 10u);
}

TEST(StatsAnswerCacheTest, AWindowIsDroppedOnlyByACloseInsideIt) {
  // from/to are inclusive, as for /api/trades.
  StatsAnswerCache cache(1000);
  TradeFilter window;
  window.from = 100;
  window.to = 200;
  cache.store("w", window, cache.version(), text(10));
  cache.closed(trade("AAPL", 99.5));
  cache.closed(trade("AAPL", 200.5));
  EXPECT_NE(cache.find("w"), nullptr);
  cache.closed(trade("AAPL", 200));
  EXPECT_EQ(cache.find("w"), nullptr);
}

TEST(StatsAnswerCacheTest, ClearedDropsEverything) {
  StatsAnswerCache cache(1000);
  cache.store("a", of_symbol("AAPL"), cache.version(), text(10));
  cache.cleared();
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(StatsAnswerCacheTest, AnAnswerScannedBeforeAChangeIsNotKept) {
  // Even one the change does not match: the scan's version is old.
  StatsAnswerCache cache(1000);
  auto version = cache.version();
  cache.closed(trade("NVDA", 100));
  EXPECT_FALSE(cache.store("aapl", of_symbol("AAPL"), version, text(10)));
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.find("aapl"), nullptr);
}

TEST(StatsAnswerCacheTest, TheLeastRecentlyUsedGoFirstAndTheBoundHolds) {
  StatsAnswerCache cache(1000);
  for (const char* key : {"a", "b", "c", "d"}) cache.store(key, {}, cache.version(), text(250));
  ASSERT_NE(cache.find("a"), nullptr);  // a is now the most recently used
  cache.store("e", {}, cache.version(), text(250));  // b goes
  EXPECT_EQ(cache.find("b"), nullptr);
  EXPECT_NE(cache.find("a"), nullptr);
  EXPECT_NE(cache.find("e"), nullptr);
  EXPECT_EQ(cache.bytes(), 1000u);
  EXPECT_EQ(cache.entries(), 4u);
}

TEST(StatsAnswerCacheTest, ATextOverAQuarterOfTheBoundIsNeverKept) {
  StatsAnswerCache cache(1000);
  EXPECT_TRUE(cache.store("a", {}, cache.version(), text(100)));
  EXPECT_FALSE(cache.store("big", {}, cache.version(), text(251)));
  EXPECT_EQ(cache.find("big"), nullptr);
  EXPECT_NE(cache.find("a"), nullptr);  // and nothing was evicted for it
}

TEST(StatsAnswerCacheTest, StoringAKeyAgainReplacesItsText) {
  StatsAnswerCache cache(1000);
  cache.store("a", {}, cache.version(), text(100, 'x'));
  cache.store("a", {}, cache.version(), text(50, 'y'));
  auto found = cache.find("a");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(*found->plain(), std::string(50, 'y'));
  EXPECT_EQ(cache.bytes(), 50u);
  EXPECT_EQ(cache.entries(), 1u);
}

// --- kept statistics: closes added to them, answers refreshed ---------------------

TEST(StatsAnswerCacheTest, AMatchingCloseInOrderIsAddedToTheKeptStatisticsAndStalesTheText) {
  StatsAnswerCache cache(1 << 20);
  ASSERT_TRUE(cache.store("aapl", of_symbol("AAPL"), cache.version(), text(10),
                          book_of({trade("AAPL", 100, 2)})));
  cache.closed(trade("AAPL", 200, 3));
  auto stale = cache.lookup("aapl");
  EXPECT_EQ(stale.text, nullptr);  // stale: not served
  ASSERT_NE(stale.book, nullptr);  // ... but rendered again from these
  EXPECT_EQ(stale.book->closed().count, 2u);
  EXPECT_EQ(stale.book->closed().total_pnl, 5);
  EXPECT_EQ(cache.refreshes(), 1u);
  EXPECT_EQ(cache.misses(), 0u);
  EXPECT_EQ(cache.hits(), 0u);
}

// An AAPL answer kept with its statistics, then a second AAPL close: the
// lookup of a stale answer.
StatsAnswerCache::Lookup stale_after_a_close(StatsAnswerCache& cache) {
  EXPECT_TRUE(cache.store("aapl", of_symbol("AAPL"), cache.version(), text(10), book_of({trade("AAPL", 100)})));
  cache.closed(trade("AAPL", 200));
  auto stale = cache.lookup("aapl");
  EXPECT_EQ(stale.text, nullptr);
  EXPECT_NE(stale.book, nullptr);
  return stale;
}

TEST(StatsAnswerCacheTest, ARefreshedTextIsServedAgain) {
  StatsAnswerCache cache(1 << 20);
  auto stale = stale_after_a_close(cache);
  EXPECT_TRUE(cache.refreshed("aapl", stale.generation, text(12, 'r')));
  auto found = cache.find("aapl");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(*found->plain(), std::string(12, 'r'));
}

TEST(StatsAnswerCacheTest, ARefreshRenderedBeforeAnotherCloseIsNotKept) {
  StatsAnswerCache cache(1 << 20);
  auto stale = stale_after_a_close(cache);
  cache.closed(trade("AAPL", 300));  // while the text was being rendered
  EXPECT_FALSE(cache.refreshed("aapl", stale.generation, text(12)));
  EXPECT_EQ(cache.find("aapl"), nullptr);
}

TEST(StatsAnswerCacheTest, AMatchingCloseThatSortsEarlierDropsTheAnswer) {
  StatsAnswerCache cache(1 << 20);
  ASSERT_TRUE(cache.store("aapl", of_symbol("AAPL"), cache.version(), text(10), book_of({trade("AAPL", 200)})));
  cache.closed(trade("AAPL", 100));  // a late close: the statistics cannot take it
  EXPECT_EQ(cache.entries(), 0u);
  EXPECT_EQ(cache.lookup("aapl").book, nullptr);
  EXPECT_EQ(cache.misses(), 1u);
}

TEST(StatsAnswerCacheTest, AnAnswerKeptWithoutStatisticsIsDroppedByAMatch) {
  StatsAnswerCache cache(1 << 20);
  ASSERT_TRUE(cache.store("aapl", of_symbol("AAPL"), cache.version(), text(10)));
  cache.closed(trade("AAPL", 200));
  EXPECT_EQ(cache.entries(), 0u);
}

TEST(StatsAnswerCacheTest, StatisticsOverAQuarterOfTheBoundAreNotKeptButTheTextIs) {
  auto book = book_of({trade("AAPL", 100)});
  StatsAnswerCache cache(book->bytes() * 4 - 4);  // the book is just over a quarter
  ASSERT_TRUE(cache.store("aapl", of_symbol("AAPL"), cache.version(), text(10), book));
  EXPECT_NE(cache.find("aapl"), nullptr);
  EXPECT_EQ(cache.bytes(), 10u);
  cache.closed(trade("AAPL", 200));  // no statistics to add it to: dropped
  EXPECT_EQ(cache.entries(), 0u);
}

TEST(StatsAnswerCacheTest, KeptStatisticsCountAgainstTheBound) {
  auto one = book_of({trade("AAPL", 100)});
  const std::size_t entry = 10 + one->bytes();
  StatsAnswerCache cache(entry * 4);  // room for four answers with their statistics
  for (const char* key : {"a", "b", "c", "d"})
    ASSERT_TRUE(cache.store(key, {}, cache.version(), text(10), book_of({trade("AAPL", 100)})));
  EXPECT_EQ(cache.bytes(), 4 * entry);
  ASSERT_TRUE(cache.store("e", {}, cache.version(), text(10), book_of({trade("AAPL", 100)})));
  EXPECT_EQ(cache.entries(), 4u);  // the least recently used went
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_LE(cache.bytes(), entry * 4);
}

TEST(StatsAnswerCacheTest, PeekCountsNothingAndMovesNothing) {
  StatsAnswerCache cache(1 << 20);
  ASSERT_TRUE(cache.store("aapl", of_symbol("AAPL"), cache.version(), text(10), book_of({trade("AAPL", 100)})));
  EXPECT_NE(cache.peek("aapl").text, nullptr);
  EXPECT_EQ(cache.peek("nvda").text, nullptr);
  cache.closed(trade("AAPL", 200));
  EXPECT_NE(cache.peek("aapl").book, nullptr);
  EXPECT_EQ(cache.hits() + cache.misses() + cache.refreshes(), 0u);
}

// The locking the cache asks of its owner (stats_answer_cache.h), as the
// ledger does it: closes under the owner's lock held exclusively, renders of
// kept statistics under it held shared. Readers refresh while 2,000 closes
// come; at the end the kept statistics hold every close, in order, and a
// kept text is the rendering of exactly those. (Run under ASan in CI; a race
// on a book shows there as a crash or a wrong count.)
TEST(StatsAnswerCacheTest, RefreshesWhileClosesComeSeeWholeStatistics) {
  constexpr int kCloses = 2000;
  StatsAnswerCache cache(64 << 20);
  std::shared_mutex trades;
  ASSERT_TRUE(cache.store("k", of_symbol("AAPL"), cache.version(), text(10), book_of({trade("AAPL", 1, 1)})));
  std::atomic<bool> done{false};
  std::atomic<int> refreshed{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        if (cache.lookup("k").text) continue;
        std::shared_lock lock(trades);
        auto found = cache.peek("k");
        if (!found.book) continue;
        auto rendered = qc::render_stats_without_tail(*found.book, qc::EquityMode::Reduced);
        lock.unlock();
        if (cache.refreshed("k", found.generation, std::make_shared<const qc::BodyPart>(rendered)))
          ++refreshed;
      }
    });
  }
  auto expected = book_of({trade("AAPL", 1, 1)});
  for (int i = 2; i <= kCloses; ++i) {
    auto t = trade("AAPL", i, i % 7 - 3);
    ASSERT_TRUE(expected->add_in_order(t));
    {
      std::unique_lock lock(trades);
      cache.closed(t);
    }
    if (i % 200 == 0) {  // let a reader refresh now and then (bounded wait)
      const int before = refreshed.load();
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (refreshed.load() == before && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  auto last = cache.peek("k");
  if (!last.text) {  // the last close came after the last refresh
    ASSERT_NE(last.book, nullptr);
    last.text = std::make_shared<const qc::BodyPart>(
        qc::render_stats_without_tail(*last.book, qc::EquityMode::Reduced));
  }
  EXPECT_EQ(*last.text->plain(), qc::render_stats_without_tail(*expected, qc::EquityMode::Reduced));
  EXPECT_GT(refreshed.load(), 0);
}

}  // namespace
