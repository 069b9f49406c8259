// The ledger when the database misbehaves (SPEC §9): every write answered
// within a bound, write health that tells the truth, bounded memory, and a
// stop that always ends. The store is a real SqliteStore behind a decorator
// that injects failures on demand.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "app/ledger.h"
#include "cache/memory/memory_cache.h"
#include "http/api_views.h"
#include "minute_bars.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_dir.h"

namespace {

using namespace std::chrono_literals;
using qc::DocumentOutcome;
using qc::InvalidItems;
using qc::ItemOutcome;
using qc::Ledger;
using qc::LedgerOptions;
using qc::RecommendationDocument;
using qc::testing::bar;
using qc::testing::kT0;
using Status = qc::DocumentOutcome::Status;

// A real store whose calls can be made to fail (or to block) on demand.
class FaultyStore final : public qc::Store {
 public:
  explicit FaultyStore(std::filesystem::path file) : real_(std::move(file)) {}
  std::string kind() const override { return real_.kind(); }
  std::string location() const override { return real_.location(); }
  qc::StoredState load() override {
    ++loads;
    if (fail_load) throw qc::StoreError("injected: cannot read");
    return real_.load();
  }
  std::vector<std::int64_t> commit(const qc::ChangeSet& changes) override {
    ++commits;
    while (block_commit) std::this_thread::sleep_for(5ms);
    if (fail_commit) throw qc::StoreError("injected: disk full");
    return real_.commit(changes);
  }
  qc::StoreHealth health() override { return real_.health(); }
  std::unique_ptr<qc::Outbox> open_outbox() override { return real_.open_outbox(); }
  void probe_write() override {
    ++probes;
    if (fail_commit) throw qc::StoreError("injected: disk full");
    real_.probe_write();
  }

  std::atomic<bool> fail_commit{false}, fail_load{false}, block_commit{false};
  std::atomic<int> loads{0}, commits{0}, probes{0};

 private:
  qc::SqliteStore real_;
};

RecommendationDocument doc_at(std::string us_date, std::string symbol, double target, double current) {
  RecommendationDocument d;
  d.us_date = std::move(us_date);
  d.sg_date = "2021-07-12 22:59:00";
  d.items = {{std::move(symbol), target, current}};
  return d;
}

RecommendationDocument doc_a() { return doc_at("2021-07-12 10:59:00", "AAPL", 150.2, 145.1); }

class LedgerFaultsTest : public ::testing::Test {
 protected:
  void start(LedgerOptions options = fast()) {
    store_ = std::make_unique<FaultyStore>(dir_.path() / "quantcrunch.sqlite3");
    ledger_ = std::make_unique<Ledger>(*store_, cache_, views_, options);
  }
  void TearDown() override {
    if (store_) {
      store_->fail_commit = false;
      store_->fail_load = false;
      store_->block_commit = false;
    }
    if (ledger_) ledger_->stop();
  }
  static LedgerOptions fast() {
    LedgerOptions o;
    o.idle_probe = 100ms;
    o.failing_probe = 50ms;
    o.stop_deadline = 2s;
    return o;
  }
  // Submits; the future is ready once the ledger answered.
  std::future<DocumentOutcome> submit(RecommendationDocument doc) {
    auto promise = std::make_shared<std::promise<DocumentOutcome>>();
    auto future = promise->get_future();
    ledger_->submit_document(std::move(doc), InvalidItems::RefuseDocument,
                             [promise](DocumentOutcome out) { promise->set_value(std::move(out)); });
    return future;
  }
  static DocumentOutcome answer(std::future<DocumentOutcome>& f) {
    if (f.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within 30 s";
      return {};
    }
    return f.get();
  }
  template <class F>
  static bool eventually(F&& f, std::chrono::milliseconds within = 10s) {
    auto until = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < until) {
      if (f()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return f();
  }

  qc::testing::TempDir dir_{"qc-ledger-faults"};
  qc::MemoryCache cache_;
  qc::ApiViews views_;
  std::unique_ptr<FaultyStore> store_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(LedgerFaultsTest, WriteHealthIsGoodAfterAStartOnAWorkingStore) {
  start();
  EXPECT_TRUE(ledger_->write_health().ok);
}

TEST_F(LedgerFaultsTest, FailedCommitMakesWriteHealthBadWithTheReason) {
  start();
  store_->fail_commit = true;
  auto f = submit(doc_a());
  EXPECT_EQ(answer(f).status, Status::Unavailable);
  auto health = ledger_->write_health();
  EXPECT_FALSE(health.ok);
  EXPECT_NE(health.reason.find("disk full"), std::string::npos) << health.reason;
}

TEST_F(LedgerFaultsTest, WriteHealthRecoversOnceACommitSucceedsAgain) {
  start();
  store_->fail_commit = true;
  auto f = submit(doc_a());
  ASSERT_EQ(answer(f).status, Status::Unavailable);
  store_->fail_commit = false;
  auto g = submit(doc_a());
  EXPECT_EQ(answer(g).status, Status::Created);
  EXPECT_TRUE(ledger_->write_health().ok);
}

TEST_F(LedgerFaultsTest, IdleProbeFindsAStoreThatStoppedTakingWritesWithoutAnyTraffic) {
  start();
  store_->fail_commit = true;
  EXPECT_TRUE(eventually([&] { return !ledger_->write_health().ok; }))
      << "no write was attempted, so only the idle probe can notice";
  EXPECT_GT(store_->probes.load(), 0);
}

TEST_F(LedgerFaultsTest, IdleProbeFindsTheStoreWritableAgain) {
  start();
  store_->fail_commit = true;
  ASSERT_TRUE(eventually([&] { return !ledger_->write_health().ok; }));
  store_->fail_commit = false;
  EXPECT_TRUE(eventually([&] { return ledger_->write_health().ok; }));
}

TEST_F(LedgerFaultsTest, WhileTheStoreCannotBeReadEveryDocumentIsAnsweredAtOnce) {
  // Reproduced before: after a failed commit whose reload also failed, the
  // second POST was re-queued forever and never answered.
  start();
  store_->fail_commit = true;
  store_->fail_load = true;
  auto first = submit(doc_a());
  EXPECT_EQ(answer(first).status, Status::Unavailable);
  auto second = submit(doc_at("2021-07-12 11:00:00", "NVDA", 220, 200));
  auto out = answer(second);
  EXPECT_EQ(out.status, Status::Unavailable);
  EXPECT_NE(out.error.find("nothing was stored"), std::string::npos) << out.error;
}

TEST_F(LedgerFaultsTest, AfterTheStoreIsReadableAgainDocumentsAreStored) {
  start();
  store_->fail_commit = true;
  store_->fail_load = true;
  auto first = submit(doc_a());
  ASSERT_EQ(answer(first).status, Status::Unavailable);
  store_->fail_commit = false;
  store_->fail_load = false;
  ASSERT_TRUE(eventually([&] {
    auto f = submit(doc_a());
    return answer(f).status == Status::Created;
  }));
  EXPECT_EQ(ledger_->counters().open_positions, 1u);
}

TEST_F(LedgerFaultsTest, BarsWaitingWhileTheStoreCannotBeReadStayWithinTheBacklog) {
  LedgerOptions o = fast();
  o.max_backlog_bars = 100;
  start(o);
  store_->fail_commit = true;
  store_->fail_load = true;
  auto f = submit(doc_a());
  ASSERT_EQ(answer(f).status, Status::Unavailable);
  // A feed pushing bars: it must be held back, not buffered without end.
  std::atomic<int> submitted{0};
  std::atomic<bool> done{false};
  std::thread feed([&] {
    for (int i = 1; i <= 1000 && !done; ++i) {
      if (!ledger_->submit_bars({bar("AAPL", 145, 146, 144, 145, i)})) break;
      ++submitted;
    }
  });
  std::this_thread::sleep_for(500ms);
  auto c = ledger_->counters();
  EXPECT_LE(c.queued_bars, 101u);
  EXPECT_LE(submitted.load(), 101);
  done = true;
  ledger_->stop();  // releases the blocked feed
  feed.join();
}

TEST_F(LedgerFaultsTest, BarsKeptWhileTheStoreCannotBeReadAreAppliedAfterwards) {
  start();
  auto f = submit(doc_at("2021-07-12 10:59:00", "NVDA", 220, 200));
  ASSERT_EQ(answer(f).status, Status::Created);
  store_->fail_commit = true;
  store_->fail_load = true;
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 200, 221, 199, 220, 1)}));  // reaches the target
  ASSERT_TRUE(eventually([&] { return ledger_->counters().commit_failures > 0; }));
  store_->fail_commit = false;
  store_->fail_load = false;
  EXPECT_TRUE(ledger_->flush());
  EXPECT_EQ(ledger_->counters().closed_positions, 1u);
}

TEST_F(LedgerFaultsTest, StopEndsWithinItsDeadlineWhenCommitsKeepFailing) {
  start();
  auto f = submit(doc_at("2021-07-12 10:59:00", "NVDA", 220, 200));
  ASSERT_EQ(answer(f).status, Status::Created);
  store_->fail_commit = true;
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 200, 221, 199, 220, 1)}));
  ASSERT_TRUE(eventually([&] { return ledger_->counters().commit_failures > 0; }));
  auto stopped = std::async(std::launch::async, [&] { return ledger_->stop(); });
  ASSERT_EQ(stopped.wait_for(20s), std::future_status::ready) << "stop() hung";
}

TEST_F(LedgerFaultsTest, StopReportsBarsThatCouldNotBeStored) {
  start();
  auto f = submit(doc_at("2021-07-12 10:59:00", "NVDA", 220, 200));
  ASSERT_EQ(answer(f).status, Status::Created);
  store_->fail_commit = true;
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 200, 221, 199, 220, 1), bar("AAPL", 1, 2, 1, 2, 1)}));
  ASSERT_TRUE(eventually([&] { return ledger_->counters().commit_failures > 0; }));
  auto report = ledger_->stop();
  EXPECT_FALSE(report.durable);
  EXPECT_EQ(report.bars_not_stored, 2u);
}

TEST_F(LedgerFaultsTest, StopOnAHealthyStoreIsDurable) {
  start();
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 1, 2, 1, 2, 1)}));
  auto report = ledger_->stop();
  EXPECT_TRUE(report.durable);
  EXPECT_EQ(report.bars_not_stored, 0u);
}

TEST_F(LedgerFaultsTest, FlushReturnsFalseWhenTheLedgerStopsBeforeTheBarsAreStored) {
  // Reproduced before: the sim feed's flush waited for ever on bars that
  // could not become durable, and SIGTERM never ended the process.
  start();
  store_->fail_commit = true;
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 1, 2, 1, 2, 1)}));
  auto flushed = std::async(std::launch::async, [&] { return ledger_->flush(); });
  ASSERT_TRUE(eventually([&] { return ledger_->counters().commit_failures > 0; }));
  ledger_->stop();
  ASSERT_EQ(flushed.wait_for(20s), std::future_status::ready) << "flush() hung after stop()";
  EXPECT_FALSE(flushed.get());
}

TEST_F(LedgerFaultsTest, BackfillPlanAnswersWhileTheStoreCannotBeRead) {
  start();
  store_->fail_commit = true;
  store_->fail_load = true;
  auto f = submit(doc_a());
  ASSERT_EQ(answer(f).status, Status::Unavailable);
  auto plan = std::async(std::launch::async, [&] { return ledger_->backfill_plan(); });
  EXPECT_EQ(plan.wait_for(20s), std::future_status::ready);
}

TEST_F(LedgerFaultsTest, DocumentStillWaitingAtItsDeadlineIsRefusedAndNeverApplied) {
  LedgerOptions o = fast();
  o.document_deadline = 200ms;
  start(o);
  // The ledger thread is busy in a slow commit while the document waits.
  store_->block_commit = true;
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 1, 2, 1, 2, 1)}));
  ASSERT_TRUE(eventually([&] { return store_->commits.load() > 0; }));
  auto f = submit(doc_a());
  std::this_thread::sleep_for(400ms);
  store_->block_commit = false;
  auto out = answer(f);
  EXPECT_EQ(out.status, Status::Unavailable);
  EXPECT_NE(out.error.find("nothing was stored"), std::string::npos) << out.error;
  EXPECT_TRUE(ledger_->flush());
  EXPECT_EQ(ledger_->counters().open_positions, 0u);
  EXPECT_EQ(ledger_->counters().documents, 0u);
}

TEST_F(LedgerFaultsTest, FullDocumentQueueAnswersBusyAtOnce) {
  LedgerOptions o = fast();
  o.max_queued_documents = 2;
  start(o);
  store_->block_commit = true;
  ASSERT_TRUE(ledger_->submit_bars({bar("AAPL", 1, 2, 1, 2, 1)}));
  ASSERT_TRUE(eventually([&] { return store_->commits.load() > 0; }));
  auto a = submit(doc_a());
  auto b = submit(doc_at("2021-07-12 11:00:00", "NVDA", 220, 200));
  auto c = submit(doc_at("2021-07-12 11:01:00", "C", 66, 60));
  ASSERT_EQ(c.wait_for(5s), std::future_status::ready) << "the third document was queued";
  auto out = c.get();
  EXPECT_EQ(out.status, Status::Unavailable);
  EXPECT_NE(out.error.find("busy"), std::string::npos) << out.error;
  store_->block_commit = false;
  EXPECT_EQ(answer(a).status, Status::Created);
  EXPECT_EQ(answer(b).status, Status::Created);
}

TEST_F(LedgerFaultsTest, RepostedIdentityWithOtherPricesAnswersTheHeldPosition) {
  start();
  auto f = submit(doc_a());  // AAPL at 145.1, target 150.2
  ASSERT_EQ(answer(f).status, Status::Created);
  // Same us-date and symbol (same identity), other prices: a new document.
  auto g = submit(doc_at("2021-07-12 10:59:00", "AAPL", 170, 160));
  auto out = answer(g);
  EXPECT_EQ(out.status, Status::Created);
  EXPECT_EQ(out.opened, 0u);
  ASSERT_EQ(out.results.size(), 1u);
  EXPECT_EQ(out.results[0].state, ItemOutcome::State::AlreadyOpen);
  EXPECT_EQ(out.results[0].position.entry_price, 145.1);
  EXPECT_EQ(out.results[0].position.target_price, 150.2);
}

TEST_F(LedgerFaultsTest, RepostedIdentityThatClosedAnswersTheClosedPosition) {
  start();
  auto f = submit(doc_at("2021-07-12 10:59:00", "NVDA", 220, 200));
  ASSERT_EQ(answer(f).status, Status::Created);
  ASSERT_TRUE(ledger_->submit_bars({bar("NVDA", 200, 221, 199, 220, 1)}));
  ASSERT_TRUE(ledger_->flush());
  auto g = submit(doc_at("2021-07-12 10:59:00", "NVDA", 300, 250));
  auto out = answer(g);
  ASSERT_EQ(out.results.size(), 1u);
  EXPECT_EQ(out.results[0].state, ItemOutcome::State::Closed);
  EXPECT_EQ(out.results[0].position.entry_price, 200);
}

TEST_F(LedgerFaultsTest, StoppedLedgerRefusesDocumentsAtOnce) {
  start();
  ledger_->begin_stop();
  auto f = submit(doc_a());
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get().status, Status::Unavailable);
}

}  // namespace
