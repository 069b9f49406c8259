// The ledger (src/app/ledger.h) over a real SqliteStore: outcomes of document
// ingest, bars closing positions, durability before visibility, and restart
// (SPEC §4.4, §6.3; docs/decisions.md "HTTP").
#include <gtest/gtest.h>

#include "minute_bars.h"

#include <chrono>
#include <thread>

#include "temp_dir.h"
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <unistd.h>

#include "app/ledger.h"
#include "cache/memory/memory_cache.h"
#include "http/api_views.h"
#include "store/sqlite/sqlite_store.h"

namespace qc {
// Readable failure messages.
inline void PrintTo(DocumentOutcome::Status s, std::ostream* os) {
  switch (s) {
    case DocumentOutcome::Status::Created: *os << "Created"; return;
    case DocumentOutcome::Status::Duplicate: *os << "Duplicate"; return;
    case DocumentOutcome::Status::Invalid: *os << "Invalid"; return;
    case DocumentOutcome::Status::Unavailable: *os << "Unavailable"; return;
  }
  *os << "Status(" << static_cast<int>(s) << ")";
}
}  // namespace qc

namespace {

using qc::DocumentOutcome;
using qc::InvalidItems;
using qc::Ledger;
using qc::MinuteBar;
using qc::RecommendationDocument;
using Status = qc::DocumentOutcome::Status;

using qc::testing::bar;
using qc::testing::kT0;

class TempDir : public qc::testing::TempDir {
 public:
  TempDir() : qc::testing::TempDir("qc-ledger") {}
};

RecommendationDocument doc_a() {
  RecommendationDocument d;
  d.us_date = "2021-07-12 10:59:00";
  d.sg_date = "2021-07-12 22:59:00";
  d.items = {{"AAPL", 150.2, 145.1}, {"NVDA", 220, 200}};
  return d;
}

RecommendationDocument doc_b() {
  RecommendationDocument d;
  d.us_date = "2021-07-12 11:01:00";
  d.sg_date = "2021-07-12 23:01:00";
  d.items = {{"C", 66, 60}};
  return d;
}


bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class LedgerTest : public ::testing::Test {
 protected:
  LedgerTest() { start(); }
  ~LedgerTest() override { stop(); }

  void start() {
    store_ = std::make_unique<qc::SqliteStore>(file_);
    views_ = std::make_unique<qc::ApiViews>();
    ledger_ = std::make_unique<Ledger>(*store_, cache_, *views_);
  }
  void stop() {
    if (ledger_) ledger_->stop();
    ledger_.reset();
    views_.reset();
    store_.reset();
  }
  void restart() {
    stop();
    start();
  }

  // Submits and waits for the outcome (the callback runs on the ledger thread).
  DocumentOutcome submit(RecommendationDocument doc,
                         InvalidItems mode = InvalidItems::RefuseDocument) {
    auto promise = std::make_shared<std::promise<DocumentOutcome>>();
    auto future = promise->get_future();
    ledger_->submit_document(std::move(doc), mode, [promise](DocumentOutcome out) {
      promise->set_value(std::move(out));
    });
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ADD_FAILURE() << "no outcome within 30 s";
      return {};
    }
    return future.get();
  }

  // What another process would find in the file right now.
  qc::StoredState on_disk() const { return qc::SqliteStore(file_).load(); }

  std::string recommendations(int limit = 50) const { return views_->recommendations(limit)->text(); }
  std::string performance() const { return views_->performance()->text(); }

  TempDir dir_;
  std::filesystem::path file_ = dir_.path() / "quantcrunch.sqlite3";
  qc::MemoryCache cache_;
  std::unique_ptr<qc::SqliteStore> store_;
  std::unique_ptr<qc::ApiViews> views_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerTest, StartsEmptyWithSeededTickers) {
  EXPECT_EQ(recommendations(), R"({"results":[]})");
  EXPECT_EQ(performance(), R"({"performance":[]})");
  EXPECT_EQ(ledger_->tickers().size(), 11u);
  EXPECT_TRUE(contains(views_->tickerlist()->text(), R"("symbol":"AAPL")"));
  EXPECT_FALSE(ledger_->latest_bar_start().has_value());
  auto c = ledger_->counters();
  EXPECT_EQ(c.documents, 0u);
  EXPECT_EQ(c.open_positions, 0u);
  EXPECT_EQ(c.closed_positions, 0u);
}

TEST_F(LedgerTest, ValidDocumentIsCreatedDurableAndVisible) {
  auto out = submit(doc_a());
  EXPECT_EQ(out.status, Status::Created);
  EXPECT_EQ(out.opened, 2u);
  EXPECT_TRUE(out.problems.empty());
  ASSERT_EQ(out.results.size(), 2u);
  EXPECT_EQ(out.results[0].position.symbol, "AAPL");
  EXPECT_EQ(out.results[0].position.open_timestamp, kT0);
  EXPECT_EQ(out.results[0].position.entry_price, 145.1);
  EXPECT_EQ(out.results[0].position.target_price, 150.2);
  EXPECT_EQ(out.results[1].position.symbol, "NVDA");

  // Visible at the moment the outcome is reported...
  auto body = recommendations();
  EXPECT_TRUE(contains(body, R"("symbol":"AAPL")")) << body;
  EXPECT_TRUE(contains(body, R"("symbol":"NVDA")")) << body;
  EXPECT_LT(body.find("AAPL"), body.find("NVDA")) << "items keep document order";
  EXPECT_TRUE(contains(body, R"("open_timestamp":1626101940)")) << body;
  // ...and already durable.
  auto disk = on_disk();
  ASSERT_EQ(disk.documents.size(), 1u);
  EXPECT_EQ(disk.documents[0].document, doc_a());
  EXPECT_EQ(disk.open_positions.size(), 2u);

  auto c = ledger_->counters();
  EXPECT_EQ(c.documents, 1u);
  EXPECT_EQ(c.open_positions, 2u);
  auto cached = cache_.get_list("open_positions");
  ASSERT_TRUE(cached.has_value());
  ASSERT_EQ(cached->size(), 2u);
  EXPECT_TRUE(contains((*cached)[0] + (*cached)[1], "NVDA"));
}

TEST_F(LedgerTest, NewestDocumentIsListedFirst) {
  ASSERT_EQ(submit(doc_b()).status, Status::Created);
  ASSERT_EQ(submit(doc_a()).status, Status::Created);  // older us-date, inserted later
  auto body = recommendations();
  EXPECT_LT(body.find(R"("symbol":"C")"), body.find(R"("symbol":"AAPL")")) << body;
  EXPECT_TRUE(contains(recommendations(1), R"("symbol":"C")"));
  EXPECT_FALSE(contains(recommendations(1), "AAPL"));
}

TEST_F(LedgerTest, InvalidDocumentIsRefusedAndNothingIsStored) {
  auto bad = doc_a();
  bad.items.push_back({"ZZZZ", 10, 5});    // not tracked
  bad.items.push_back({"AMZN", 90, 100});  // target below current
  auto out = submit(bad);
  EXPECT_EQ(out.status, Status::Invalid);
  EXPECT_EQ(out.opened, 0u);
  ASSERT_EQ(out.problems.size(), 2u);
  EXPECT_EQ(out.problems[0].item, 2);
  EXPECT_EQ(out.problems[0].field, "symbol");
  EXPECT_EQ(out.problems[1].item, 3);
  EXPECT_EQ(out.problems[1].field, "targetPrice");

  EXPECT_EQ(recommendations(), R"({"results":[]})");
  auto disk = on_disk();
  EXPECT_TRUE(disk.documents.empty());
  EXPECT_TRUE(disk.open_positions.empty());
  EXPECT_EQ(ledger_->counters().documents, 0u);

  // The valid part alone is then a new document, not a duplicate.
  auto ok = submit(doc_a());
  EXPECT_EQ(ok.status, Status::Created);
  EXPECT_EQ(ok.opened, 2u);
}

TEST_F(LedgerTest, BadUsDateIsInvalid) {
  auto bad = doc_a();
  bad.us_date = "2021-07-12T10:59";
  auto out = submit(bad);
  EXPECT_EQ(out.status, Status::Invalid);
  ASSERT_FALSE(out.problems.empty());
  EXPECT_EQ(out.problems[0].field, "us-date");
  EXPECT_TRUE(on_disk().documents.empty());
}

TEST_F(LedgerTest, SkipItemModeStoresTheValidItems) {
  auto mixed = doc_a();
  mixed.items.push_back({"ZZZZ", 10, 5});
  auto out = submit(mixed, InvalidItems::SkipItem);
  EXPECT_EQ(out.status, Status::Created);
  EXPECT_EQ(out.opened, 2u);
  EXPECT_EQ(out.problems.size(), 1u);
  EXPECT_EQ(out.results.size(), 2u);
  EXPECT_EQ(on_disk().open_positions.size(), 2u);
  EXPECT_FALSE(contains(recommendations(), "ZZZZ"));
}

TEST_F(LedgerTest, IdenticalDocumentAgainIsDuplicate) {
  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  auto body = recommendations();
  auto again = submit(doc_a());
  EXPECT_EQ(again.status, Status::Duplicate);
  EXPECT_EQ(again.opened, 0u);
  EXPECT_EQ(again.results.size(), 2u);
  EXPECT_EQ(recommendations(), body);
  auto disk = on_disk();
  EXPECT_EQ(disk.documents.size(), 1u);
  EXPECT_EQ(disk.open_positions.size(), 2u);
  EXPECT_EQ(ledger_->counters().documents, 1u);

  // Still a duplicate after a restart.
  restart();
  EXPECT_EQ(submit(doc_a()).status, Status::Duplicate);
  EXPECT_EQ(on_disk().documents.size(), 1u);
}

TEST_F(LedgerTest, DifferentDocumentWithAKnownIdentityOpensOnlyTheNewOnes) {
  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  auto other = doc_a();
  other.items = {{"AAPL", 151, 145.2}, {"TLT", 150, 145}};  // AAPL at kT0 already known
  auto out = submit(other);
  EXPECT_EQ(out.status, Status::Created);
  EXPECT_EQ(out.opened, 1u);
  EXPECT_EQ(out.results.size(), 2u);
  auto disk = on_disk();
  EXPECT_EQ(disk.documents.size(), 2u);
  EXPECT_EQ(disk.open_positions.size(), 3u);
}

TEST_F(LedgerTest, BarsCloseAPositionDurably) {
  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  // NVDA stop is 180: gapped down at minute 2.
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 200, 201, 199, 200.5, 1),
                                    bar("AAPL", 145.2, 150.3, 145, 150, 1),  // AAPL target 150.2
                                    bar("NVDA", 170, 171, 165, 166, 2)}));
  ledger_->flush();

  auto perf = performance();
  EXPECT_TRUE(contains(perf, R"("symbol":"AAPL")")) << perf;
  EXPECT_TRUE(contains(perf, "Reached target price")) << perf;
  EXPECT_TRUE(contains(perf, R"("exit_price":150.2)")) << perf;
  EXPECT_TRUE(contains(perf, R"("symbol":"NVDA")")) << perf;
  EXPECT_TRUE(contains(perf, "Reached stop loss")) << perf;
  EXPECT_TRUE(contains(perf, R"("exit_price":170)")) << perf;
  EXPECT_TRUE(contains(perf, R"("month":1625097600)")) << perf;

  auto c = ledger_->counters();
  EXPECT_EQ(c.bars_applied, 3u);
  EXPECT_EQ(c.bars_ignored, 0u);
  EXPECT_EQ(c.open_positions, 0u);
  EXPECT_EQ(c.closed_positions, 2u);
  ASSERT_TRUE(ledger_->latest_bar_start().has_value());
  EXPECT_EQ(*ledger_->latest_bar_start(), (kT0 + 120) * 1000);

  ledger_->stop();
  auto disk = on_disk();
  EXPECT_TRUE(disk.open_positions.empty());
  ASSERT_EQ(disk.closed_positions.size(), 2u);
  for (const auto& cp : disk.closed_positions) {
    if (cp.position.symbol == "AAPL") {
      EXPECT_EQ(cp.exit_price, 150.2);
      EXPECT_EQ(cp.reason, qc::CloseReason::TargetPrice);
      EXPECT_EQ(cp.close_timestamp, static_cast<double>(kT0 + 120));
    } else {
      EXPECT_EQ(cp.position.symbol, "NVDA");
      EXPECT_EQ(cp.exit_price, 170);
      EXPECT_EQ(cp.reason, qc::CloseReason::StopLoss);
      EXPECT_EQ(cp.close_timestamp, static_cast<double>(kT0 + 180));
    }
  }
  std::vector<std::pair<std::string, std::int64_t>> last;
  for (const auto& b : disk.last_bars) last.emplace_back(b.symbol, b.start_ms);
  std::sort(last.begin(), last.end());
  EXPECT_EQ(last, (std::vector<std::pair<std::string, std::int64_t>>{
                      {"AAPL", (kT0 + 60) * 1000}, {"NVDA", (kT0 + 120) * 1000}}));
}

TEST_F(LedgerTest, DocumentThenBarsInArrivalOrder) {
  // Submitted back to back without waiting: the document is applied first.
  auto promise = std::make_shared<std::promise<DocumentOutcome>>();
  auto future = promise->get_future();
  ledger_->submit_document(doc_b(), InvalidItems::RefuseDocument,
                           [promise](DocumentOutcome out) { promise->set_value(std::move(out)); });
  ASSERT_TRUE(ledger_->submit_bars({bar("C", 67, 68, 66.5, 67.5, 3)}));  // C gaps up over 66
  ledger_->flush();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(future.get().status, Status::Created);
  EXPECT_TRUE(contains(performance(), R"("symbol":"C")")) << performance();
  auto disk = on_disk();
  EXPECT_TRUE(disk.open_positions.empty());
  EXPECT_EQ(disk.closed_positions.size(), 1u);
}

TEST_F(LedgerTest, StaleAndUnknownBarsAreCounted) {
  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 145.2, 146, 145, 145.5, 2)}));
  ledger_->flush();
  // Same minute again (a corrected re-send), then an older one: both ignored,
  // even though they would reach the target.
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 145.2, 151, 145, 150.5, 2),
                                    bar("AAPL", 145.2, 151, 145, 150.5, 1),
                                    bar("ZZZZ", 1, 2, 1, 2, 3)}));
  ledger_->flush();
  auto c = ledger_->counters();
  EXPECT_EQ(c.bars_applied, 1u);
  EXPECT_EQ(c.bars_ignored, 2u);
  EXPECT_EQ(c.bars_unknown_symbol, 1u);
  EXPECT_EQ(c.closed_positions, 0u);
  EXPECT_EQ(performance(), R"({"performance":[]})");
  EXPECT_EQ(on_disk().open_positions.size(), 2u);
}

TEST_F(LedgerTest, StaleAfterRestartIsStillIgnored) {
  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 145.2, 146, 145, 145.5, 5)}));
  ledger_->flush();
  restart();
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 145.2, 151, 145, 150.5, 4)}));
  ledger_->flush();
  EXPECT_EQ(ledger_->counters().bars_ignored, 1u);
  EXPECT_EQ(ledger_->counters().open_positions, 2u);
  EXPECT_EQ(performance(), R"({"performance":[]})");
}

TEST_F(LedgerTest, RestartRestoresTheSameViews) {
  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  ASSERT_EQ(submit(doc_b()).status, Status::Created);
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 170, 171, 165, 166, 2),
                                    bar("C", 61, 66.5, 60.5, 66, 3)}));
  ledger_->flush();
  auto perf = performance();
  auto recs = recommendations();
  auto recs_all = recommendations(1000);
  auto counters = ledger_->counters();
  auto latest = ledger_->latest_bar_start();
  ASSERT_TRUE(contains(perf, "NVDA"));
  ASSERT_TRUE(contains(perf, R"("symbol":"C")"));

  restart();  // new SqliteStore on the same file, new views, new ledger
  EXPECT_EQ(performance(), perf);
  EXPECT_EQ(recommendations(), recs);
  EXPECT_EQ(recommendations(1000), recs_all);
  auto after = ledger_->counters();
  EXPECT_EQ(after.documents, counters.documents);
  EXPECT_EQ(after.open_positions, counters.open_positions);
  EXPECT_EQ(after.closed_positions, counters.closed_positions);
  EXPECT_EQ(ledger_->latest_bar_start(), latest);

  // The restored ledger goes on where the first one stopped.
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 145.2, 150.3, 145, 150, 4)}));
  ledger_->flush();
  EXPECT_EQ(ledger_->counters().closed_positions, 3u);
  EXPECT_EQ(ledger_->counters().open_positions, 0u);
}

TEST_F(LedgerTest, SecondLedgerOnTheSameStoreObjectRestoresState) {
  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 170, 171, 165, 166, 2)}));
  ledger_->flush();
  auto perf = performance();
  auto recs = recommendations();
  ledger_->stop();
  ledger_.reset();

  qc::ApiViews views;
  qc::MemoryCache cache;
  Ledger again(*store_, cache, views);
  EXPECT_EQ(views.performance()->text(), perf);
  EXPECT_EQ(views.recommendations(50)->text(), recs);
  again.stop();
}

// Runs one statement on the file behind the store's back (fault injection).
void exec_on_file(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << sql << ": " << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close_v2(db);
}

TEST_F(LedgerTest, FailedCommitAnswersUnavailableAndShowsNothing) {
  exec_on_file(file_,
               "CREATE TRIGGER qc_test_fail BEFORE INSERT ON recommendations "
               "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  auto out = submit(doc_a());
  EXPECT_EQ(out.status, Status::Unavailable);
  EXPECT_FALSE(out.error.empty());
  EXPECT_EQ(out.opened, 0u);
  EXPECT_EQ(recommendations(), R"({"results":[]})");
  EXPECT_EQ(ledger_->counters().commit_failures, 1u);
  EXPECT_EQ(ledger_->counters().open_positions, 0u);
  EXPECT_TRUE(on_disk().open_positions.empty());

  // Once the database works again the same document is new, not a duplicate.
  exec_on_file(file_, "DROP TRIGGER qc_test_fail");
  auto again = submit(doc_a());
  EXPECT_EQ(again.status, Status::Created);
  EXPECT_EQ(again.opened, 2u);
  EXPECT_TRUE(contains(recommendations(), "AAPL"));
}

TEST_F(LedgerTest, FailedCommitOfACloseLosesNothing) {
  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  exec_on_file(file_,
               "CREATE TRIGGER qc_test_fail BEFORE INSERT ON closed_positions "
               "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 170, 171, 165, 166, 2)}));
  // The commit keeps failing: nothing is shown, nothing is stored...
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (ledger_->counters().commit_failures == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_GE(ledger_->counters().commit_failures, 1u);
  EXPECT_EQ(performance(), R"({"performance":[]})");
  EXPECT_EQ(on_disk().open_positions.size(), 2u);

  // ...and once the database works again the same bar closes the position
  // without being sent again: flush() returns only when that is durable.
  exec_on_file(file_, "DROP TRIGGER qc_test_fail");
  ledger_->flush();
  EXPECT_TRUE(contains(performance(), "NVDA")) << performance();
  EXPECT_EQ(ledger_->counters().closed_positions, 1u);
  EXPECT_EQ(on_disk().closed_positions.size(), 1u);
  EXPECT_EQ(on_disk().open_positions.size(), 1u);
}

TEST_F(LedgerTest, DuplicateOfADocumentInAFailedBatchIsNotReportedStored) {
  // Two identical POSTs arrive together (a client retry) and their batch
  // fails to commit: neither may be answered as if the document were stored.
  // Hold the ledger thread inside a callback so both land in one batch.
  std::promise<void> entered, release;
  auto release_future = release.get_future().share();
  ledger_->submit_document(doc_b(), InvalidItems::RefuseDocument,
                           [&entered, release_future](DocumentOutcome) {
                             entered.set_value();
                             release_future.wait();
                           });
  entered.get_future().wait();
  exec_on_file(file_,
               "CREATE TRIGGER qc_test_fail BEFORE INSERT ON recommendations "
               "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  auto first = std::make_shared<std::promise<DocumentOutcome>>();
  auto second = std::make_shared<std::promise<DocumentOutcome>>();
  auto first_future = first->get_future();
  auto second_future = second->get_future();
  ledger_->submit_document(doc_a(), InvalidItems::RefuseDocument,
                           [first](DocumentOutcome out) { first->set_value(std::move(out)); });
  ledger_->submit_document(doc_a(), InvalidItems::RefuseDocument,
                           [second](DocumentOutcome out) { second->set_value(std::move(out)); });
  release.set_value();
  ASSERT_EQ(first_future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_EQ(second_future.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto a = first_future.get();
  auto b = second_future.get();
  EXPECT_EQ(ledger_->counters().commit_failures, 1u);
  EXPECT_EQ(on_disk().documents.size(), 1u);  // doc_b only
  EXPECT_EQ(a.status, Status::Unavailable);
  EXPECT_EQ(b.status, Status::Unavailable)
      << "the identical document of the same failed batch must not be answered as stored";
  exec_on_file(file_, "DROP TRIGGER qc_test_fail");
}

TEST_F(LedgerTest, StopIsIdempotentAndRefusesLaterWork) {
  ledger_->stop();
  ledger_->stop();
  EXPECT_FALSE(ledger_->submit_bars({bar("AAPL", 1, 2, 1, 2, 1)}));
  auto promise = std::make_shared<std::promise<DocumentOutcome>>();
  auto future = promise->get_future();
  ledger_->submit_document(doc_a(), InvalidItems::RefuseDocument,
                           [promise](DocumentOutcome out) { promise->set_value(std::move(out)); });
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(future.get().status, Status::Unavailable);
  ledger_->flush();  // returns at once
  EXPECT_TRUE(on_disk().documents.empty());
}

}  // namespace

namespace {

// The points of the "equity" array of a /api/stats body.
std::size_t equity_points(const std::string& body) {
  auto begin = body.find(R"("equity":[)");
  auto end = body.find(R"(],"open")");
  if (begin == std::string::npos || end == std::string::npos) return SIZE_MAX;
  return static_cast<std::size_t>(std::count(body.begin() + static_cast<std::ptrdiff_t>(begin) + 10,
                                             body.begin() + static_cast<std::ptrdiff_t>(end), '['));
}

// The published unfiltered /api/stats (kept up to date close by close) is
// the document a scan of the whole history renders, for every `equity`.
void expect_published_equals_scan(const qc::ApiViews& views, const Ledger& ledger, std::size_t closes) {
  for (auto mode : {qc::EquityMode::Reduced, qc::EquityMode::Full, qc::EquityMode::None}) {
    auto scanned = ledger.stats_json({}, mode);
    ASSERT_TRUE(scanned.has_value());
    EXPECT_EQ(views.stats(mode)->text(), *scanned) << "mode " << static_cast<int>(mode);
  }
  EXPECT_EQ(equity_points(views.stats(qc::EquityMode::Full)->text()), closes);
  EXPECT_EQ(equity_points(views.stats(qc::EquityMode::None)->text()), 0u);
  auto reduced = equity_points(views.stats()->text());
  EXPECT_LE(reduced, qc::kEquityDefaultPoints);
  EXPECT_LT(reduced, closes);
}

}  // namespace

// 19,991 closes in the store, then three live ones: the second doubles the
// reduction's bucket (4 -> 8 points at 19,993), the third sorts before the
// second (a rebuild of the statistics).
TEST_F(LedgerTest, ReducedEquityCurveFollowsClosesAcrossABucketDoublingAndAnOutOfOrderClose) {
  stop();
  {
    qc::ChangeSet seed;
    // A rising curve with small wiggles and one fall of 60 points between
    // two closes of the same bucket (indices 101 -> 102), neither of which
    // is that bucket's minimum or maximum: kept for the drawdown alone.
    double before = 0;
    for (int i = 0; i < 19'991; ++i) {
      double v = i < 100 ? i + 1 : i == 100 ? 80 : i == 101 ? 150 : i == 102 ? 90 : 97 + i;
      if (i < 100 || i > 103) v += (i * 7919) % 3;
      qc::ClosedPosition c;
      c.position.symbol = "TLT";
      c.close_timestamp = static_cast<double>(kT0 - 20 * 86400 + 60 * i);
      c.position.open_timestamp = kT0 - 20 * 86400 + 60 * i - 600;
      c.position.entry_price = 100;
      c.position.target_price = 110;
      c.position.stop_loss = 90;
      c.pnl = v - before;
      before = v;
      c.exit_price = 100 + c.pnl;
      c.reason = c.pnl < 0 ? qc::CloseReason::StopLoss : qc::CloseReason::TargetPrice;
      seed.closed.push_back(std::move(c));
    }
    qc::SqliteStore(file_).commit(seed);
  }
  start();
  expect_published_equals_scan(*views_, *ledger_, 19'991);

  ASSERT_EQ(submit(doc_a()).status, Status::Created);
  ASSERT_EQ(submit(doc_b()).status, Status::Created);
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 170, 171, 165, 166, 2)}));  // closes at kT0 + 180
  ledger_->flush();
  expect_published_equals_scan(*views_, *ledger_, 19'992);
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 145.2, 150.3, 145, 150, 4)}));  // kT0 + 300
  ledger_->flush();
  expect_published_equals_scan(*views_, *ledger_, 19'993);
  ASSERT_TRUE(ledger_->submit_bars({bar("C", 61, 66.5, 60.5, 66, 3)}));  // kT0 + 240: before AAPL's
  ledger_->flush();
  EXPECT_EQ(ledger_->counters().closed_positions, 19'994u);
  expect_published_equals_scan(*views_, *ledger_, 19'994);
  // The drawdown of the fall kept for it alone.
  EXPECT_NE(views_->stats()->text().find(R"("max_drawdown":{"pnl":60,)"), std::string::npos)
      << views_->stats()->text().substr(0, 600);
  auto reduced = views_->stats()->text();
  EXPECT_NE(reduced.find("[" + std::to_string(kT0 - 20 * 86400 + 60 * 101) + ",150]"), std::string::npos);
  EXPECT_NE(reduced.find("[" + std::to_string(kT0 - 20 * 86400 + 60 * 102) + ",90]"), std::string::npos);

  restart();
  expect_published_equals_scan(*views_, *ledger_, 19'994);
}

namespace {

qc::TradeFilter symbol_filter(const char* symbol) {
  qc::TradeFilter f;
  f.symbol = symbol;
  return f;
}

std::string open_part(const std::string& stats) { return stats.substr(stats.rfind(R"("open":)")); }

}  // namespace

// docs/decisions.md "Filtered statistics": a filter's statistics are kept
// until a trade it matches closes.
class FilteredStatsTest : public LedgerTest {
 protected:
  // doc_a opens AAPL and NVDA; AAPL reaches its target at minute 1.
  void close_aapl() {
    ASSERT_EQ(submit(doc_a()).status, Status::Created);
    ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 145.2, 150.3, 145, 150, 1)}));
    ledger_->flush();
  }
  // Then NVDA gaps down through its stop at minute 2.
  void close_nvda() {
    ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 170, 171, 165, 166, 2)}));
    ledger_->flush();
  }
};

TEST_F(FilteredStatsTest, AskedAgainAreNotScannedAgain) {
  close_aapl();
  auto first = ledger_->stats_json(symbol_filter("AAPL"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(ledger_->stats_cache_misses(), 1u);
  auto again = ledger_->stats_json(symbol_filter("AAPL"));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(ledger_->stats_cache_hits(), 1u);
  // Another filter, or another curve of the same filter, is its own answer.
  ASSERT_TRUE(ledger_->stats_json(symbol_filter("NVDA")).has_value());
  ASSERT_TRUE(ledger_->stats_json(symbol_filter("AAPL"), qc::EquityMode::None).has_value());
  EXPECT_EQ(ledger_->stats_cache_hits(), 1u);
  EXPECT_EQ(ledger_->stats_cache_misses(), 3u);
}

TEST_F(FilteredStatsTest, AKeptAnswerIsNotServedAfterACloseItMatches) {
  close_aapl();
  auto before = ledger_->stats_json(symbol_filter("NVDA"));
  ASSERT_TRUE(before.has_value());
  EXPECT_TRUE(contains(*before, R"("closed":{"count":0,)")) << before->substr(0, 200);
  close_nvda();
  auto after = ledger_->stats_json(symbol_filter("NVDA"));
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(contains(*after, R"("closed":{"count":1,)")) << after->substr(0, 200);
  EXPECT_EQ(ledger_->stats_cache_hits(), 0u);
}

TEST_F(FilteredStatsTest, AfterAMatchingCloseTheKeptStatisticsAreRenderedAgainNotScanned) {
  close_aapl();
  qc::TradeFilter window;  // open at the end: every later close matches
  window.from = 0;
  ASSERT_TRUE(ledger_->stats_json(window).has_value());
  close_nvda();
  auto refreshed = ledger_->stats_json(window);
  ASSERT_TRUE(refreshed.has_value());
  EXPECT_EQ(ledger_->stats_cache_refreshes(), 1u);
  EXPECT_EQ(ledger_->stats_cache_misses(), 1u);  // the first ask only
  EXPECT_TRUE(contains(*refreshed, R"("closed":{"count":2,)")) << refreshed->substr(0, 200);
  // The same trades scanned afresh (from=-1 is another key): the same text.
  qc::TradeFilter also;
  also.from = -1;
  auto scanned = ledger_->stats_json(also);
  ASSERT_TRUE(scanned.has_value());
  EXPECT_EQ(*refreshed, *scanned);
  // Asked again: the refreshed text is kept.
  ASSERT_TRUE(ledger_->stats_json(window).has_value());
  EXPECT_EQ(ledger_->stats_cache_hits(), 1u);
}

TEST_F(FilteredStatsTest, AKeptAnswerOutlivesACloseItDoesNotMatch) {
  close_aapl();
  auto before = ledger_->stats_json(symbol_filter("AAPL"));
  ASSERT_TRUE(before.has_value());
  close_nvda();
  auto after = ledger_->stats_json(symbol_filter("AAPL"));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(ledger_->stats_cache_hits(), 1u);
  EXPECT_EQ(*after, *before);
}

TEST_F(FilteredStatsTest, AKeptAnswerShowsTheOpenPositionsOfNow) {
  close_aapl();
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 205, 206, 204, 205, 1)}));
  ledger_->flush();
  qc::TradeFilter everything;
  everything.from = 0;
  auto first = ledger_->stats_json(everything);
  ASSERT_TRUE(first.has_value());
  // NVDA moves (no close): the kept statistics come with the new open part.
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 210, 212, 209, 211, 2)}));
  ledger_->flush();
  auto kept = ledger_->stats_json(everything);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(ledger_->stats_cache_hits(), 1u);
  EXPECT_NE(open_part(*kept), open_part(*first));
  // The same trades scanned afresh (from=-1 is another key): the same text.
  qc::TradeFilter also_everything;
  also_everything.from = -1;
  auto scanned = ledger_->stats_json(also_everything);
  ASSERT_TRUE(scanned.has_value());
  EXPECT_EQ(ledger_->stats_cache_hits(), 1u);
  EXPECT_EQ(*kept, *scanned);
}
