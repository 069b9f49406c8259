// SqliteStore: the store port's contract tests (store_contract.h), plus what
// only SQLite has: the schema version, WAL journal, file errors, atomicity of
// a failing transaction, damaged files (SPEC §9), a full or read-only disk
// (sqlite_faulty_disk.h), and a health() that does not wait for the writer.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "sqlite_faulty_disk.h"
#include "store/sqlite/sqlite_store.h"
#include "store_contract.h"

namespace {

using qc::store_contract::document;
using qc::store_contract::kT0;
using qc::store_contract::position;
using qc::store_contract::spec_tickers;
using qc::store_contract::TempDir;

struct SqliteAdapter {
  static std::unique_ptr<qc::Store> open(const std::filesystem::path& where) {
    return std::make_unique<qc::SqliteStore>(where);
  }
};

}  // namespace

namespace qc::store_contract {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Types<SqliteAdapter>);
}  // namespace qc::store_contract

namespace {

// A raw connection for looking at (or tampering with) the file behind the
// store's back.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << "cannot open " << path << ": " << sqlite3_errmsg(db_);
    }
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << (err ? err : "?");
      sqlite3_free(err);
    }
  }
  // Reads a query the way the store once did, `while (sqlite3_step(...) ==
  // SQLITE_ROW)`: how many rows that loop saw, and the result that ended it.
  struct NaiveRead {
    int rows = 0;
    int ended_with = SQLITE_OK;
  };
  NaiveRead read_while_rows(const std::string& sql) {
    NaiveRead out;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    while ((out.ended_with = sqlite3_step(s)) == SQLITE_ROW) ++out.rows;
    sqlite3_finalize(s);
    return out;
  }
  // Every row of a one-column query, as text.
  std::vector<std::string> column(const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db_);
      return out;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      auto* t = sqlite3_column_text(s, 0);
      out.emplace_back(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    sqlite3_finalize(s);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  TempDir dir_{"sqlite-store"};
  std::filesystem::path file_ = dir_.path() / "quantcrunch.sqlite3";
};

TEST_F(SqliteStoreTest, KindAndLocation) {
  qc::SqliteStore store(file_);
  EXPECT_EQ(store.kind(), "sqlite");
  EXPECT_EQ(store.location(), file_.string());
}

TEST_F(SqliteStoreTest, CreatesTheFileAndMissingParentDirectories) {
  auto nested = dir_.path() / "a" / "b" / "quantcrunch.sqlite3";
  {
    qc::SqliteStore store(nested);
    EXPECT_EQ(store.load().tickers, spec_tickers());
  }
  EXPECT_TRUE(std::filesystem::is_regular_file(nested));
}

TEST_F(SqliteStoreTest, SchemaVersionTableHoldsOneRowOfTheCurrentVersion) {
  { qc::SqliteStore store(file_); }
  { qc::SqliteStore store(file_); }  // re-open does not add a second row
  RawDb raw(file_);
  EXPECT_EQ(raw.column("SELECT version FROM schema_version"), std::vector<std::string>{"2"});
  EXPECT_EQ(qc::SqliteStore::kSchemaVersion, 2);
}

TEST_F(SqliteStoreTest, VersionOneFileGainsLastBarPricesAndKeepsItsRows) {
  // Version 1 kept only each symbol's last bar start.
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TABLE schema_version (version INTEGER NOT NULL);"
                           "INSERT INTO schema_version VALUES (1);"
                           "CREATE TABLE last_bars (symbol TEXT PRIMARY KEY, start_ms INTEGER NOT NULL);"
                           "INSERT INTO last_bars VALUES ('AAPL', 60000)",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  qc::SqliteStore store(file_);
  auto bars = store.load().last_bars;
  ASSERT_EQ(bars.size(), 1u);
  EXPECT_EQ(bars[0].start_ms, 60000);
  EXPECT_FALSE(bars[0].close.has_value());
  qc::ChangeSet next;
  next.last_bars = {{"AAPL", 120000, 10.5, 180000}};
  store.commit(next);
  EXPECT_EQ(store.load().last_bars, (std::vector<qc::LastBar>{{"AAPL", 120000, 10.5, 180000}}));
  RawDb raw(file_);
  EXPECT_EQ(raw.column("SELECT version FROM schema_version"), std::vector<std::string>{"2"});
}

TEST_F(SqliteStoreTest, NewerSchemaVersionIsRefusedWithAClearMessage) {
  {
    qc::SqliteStore store(file_);
    qc::ChangeSet c;
    c.opened = {position("AAPL", kT0, 100, 110)};
    store.commit(c);
  }
  {
    RawDb raw(file_);
    raw.exec("UPDATE schema_version SET version = 99");
  }
  try {
    qc::SqliteStore store(file_);
    FAIL() << "a file with schema version 99 was opened";
  } catch (const qc::StoreError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("99"), std::string::npos) << what;
    EXPECT_NE(what.find("newer"), std::string::npos) << what;
    EXPECT_NE(what.find(file_.string()), std::string::npos) << what;
  }
  // The refused file was left alone.
  RawDb raw(file_);
  EXPECT_EQ(raw.column("SELECT version FROM schema_version"), std::vector<std::string>{"99"});
  EXPECT_EQ(raw.column("SELECT symbol FROM open_positions"), std::vector<std::string>{"AAPL"});
}

TEST_F(SqliteStoreTest, PathUnderARegularFileThrowsStoreError) {
  auto blocker = dir_.path() / "not-a-dir";
  std::ofstream(blocker) << "x";
  EXPECT_THROW(qc::SqliteStore(blocker / "sub" / "quantcrunch.sqlite3"), qc::StoreError);
  EXPECT_THROW(qc::SqliteStore(blocker / "quantcrunch.sqlite3"), qc::StoreError);
}

TEST_F(SqliteStoreTest, PathThatIsADirectoryThrowsStoreError) {
  EXPECT_THROW(qc::SqliteStore(dir_.path()), qc::StoreError);
}

TEST_F(SqliteStoreTest, FileThatIsNotADatabaseThrowsStoreError) {
  std::ofstream(file_) << std::string(4096, 'x') << "this is not an SQLite database\n";
  try {
    qc::SqliteStore store(file_);
    FAIL() << "a garbage file was opened as a store";
  } catch (const qc::StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("sqlite"), std::string::npos) << e.what();
  }
}

TEST_F(SqliteStoreTest, JournalModeIsWal) {
  qc::SqliteStore store(file_);
  RawDb raw(file_);
  EXPECT_EQ(raw.column("PRAGMA journal_mode"), std::vector<std::string>{"wal"});
}

TEST_F(SqliteStoreTest, FailedCommitLeavesNothingBehind) {
  qc::SqliteStore store(file_);
  auto kept = position("AMZN", kT0, 3700, 3800);
  {
    qc::ChangeSet first;
    first.opened = {kept};
    store.commit(first);
  }
  auto before = store.load();

  auto p = position("AAPL", kT0, 100, 110);
  qc::ChangeSet changes;
  changes.new_documents = {document("2021-07-12 10:59:00", "2021-07-12 22:59:00",
                                    {{"AAPL", 110, 100}})};
  changes.opened = {p};
  changes.closed = {qc::store_contract::closed(kept, 3800, 1626102120,
                                               qc::CloseReason::TargetPrice)};
  changes.last_bars = {{"AMZN", 1626102060000}};
  {
    // Make the last statements of the transaction fail.
    RawDb raw(file_);
    raw.exec(
        "CREATE TRIGGER qc_test_fail BEFORE INSERT ON last_bars "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  }
  EXPECT_THROW(store.commit(changes), qc::StoreError);
  qc::store_contract::expect_same_state(before, store.load());

  {
    RawDb raw(file_);
    raw.exec("DROP TRIGGER qc_test_fail");
  }
  // The store is still usable and the same ChangeSet now goes through whole.
  auto seqs = store.commit(changes);
  ASSERT_EQ(seqs.size(), 1u);
  auto after = store.load();
  EXPECT_EQ(after.documents.size(), 1u);
  EXPECT_EQ(after.open_positions, std::vector<qc::OpenPosition>{p});
  EXPECT_EQ(after.closed_positions.size(), 1u);
  EXPECT_EQ(after.last_bars.size(), 1u);
}

TEST_F(SqliteStoreTest, PerformanceTableHoldsTheMonthSums) {
  // SPEC §5 `performance`: the month's realized_pnl is the sum of its pnl.
  qc::SqliteStore store(file_);
  auto a = position("AAPL", kT0, 100, 110);
  auto b = position("AMZN", kT0, 100, 110);
  qc::ChangeSet changes;
  changes.opened = {a, b};
  changes.closed = {qc::store_contract::closed(a, 110, 1626102120, qc::CloseReason::TargetPrice)};
  store.commit(changes);
  qc::ChangeSet more;
  more.closed = {qc::store_contract::closed(b, 90, 1626102180, qc::CloseReason::StopLoss)};
  store.commit(more);
  store.commit(more);  // idempotent: not counted twice
  RawDb raw(file_);
  EXPECT_EQ(raw.column("SELECT month FROM performance"), std::vector<std::string>{"1625097600"});
  EXPECT_EQ(raw.column("SELECT realized_pnl FROM performance"), std::vector<std::string>{"0.0"});
  EXPECT_EQ(raw.column("SELECT count(*) FROM closed_positions"), std::vector<std::string>{"2"});
}

TEST_F(SqliteStoreTest, TwoConnectionsOnOneFileSeeEachOthersCommits) {
  qc::SqliteStore writer(file_);
  qc::SqliteStore reader(file_);
  qc::ChangeSet c;
  c.opened = {position("AAPL", kT0, 100, 110)};
  writer.commit(c);
  EXPECT_EQ(reader.load().open_positions.size(), 1u);
  EXPECT_EQ(reader.load().tickers, spec_tickers());  // seeded once
}

TEST_F(SqliteStoreTest, HealthIsOk) {
  qc::SqliteStore store(file_);
  auto h = store.health();
  EXPECT_TRUE(h.ok) << h.detail;
}

// ---------------------------------------------------------------------------
// Damaged files (SPEC §9: never start on a damaged store, never serve a
// partial one)

// `count` distinct documents, one commit each 50.
void commit_documents(qc::Store& store, int count) {
  qc::ChangeSet changes;
  for (int i = 0; i < count; ++i) {
    changes.new_documents.push_back(
        document("2021-07-12 10:59:00", "2021-07-12 22:59:00",
                 {{"AAPL", 150.0 + i / 100.0, 145.1}, {"NVDA", 220.0 + i / 100.0, 200}}));
    if (changes.new_documents.size() == 50 || i + 1 == count) {
      store.commit(changes);
      changes = {};
    }
  }
}

// The pages of a table or index, as dbstat lists them ("leaf", "internal").
std::vector<int> pages_of(const std::filesystem::path& file, const std::string& name,
                          const std::string& type) {
  RawDb raw(file);
  std::vector<int> out;
  for (const auto& p : raw.column("SELECT pageno FROM dbstat WHERE name = '" + name +
                                  "' AND pagetype = '" + type + "' ORDER BY pageno"))
    out.push_back(std::stoi(p));
  return out;
}

// Overwrites page `page` (1-based) with random bytes, behind SQLite's back.
void damage_page(const std::filesystem::path& file, int page) {
  int page_size = 0;
  {
    RawDb raw(file);
    page_size = std::stoi(raw.column("PRAGMA page_size").at(0));
  }
  std::mt19937 random(8);
  std::string noise(static_cast<std::size_t>(page_size), '\0');
  for (auto& c : noise) c = static_cast<char>(random());
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f) << file;
  f.seekp(static_cast<std::streamoff>(page - 1) * page_size);
  f.write(noise.data(), static_cast<std::streamsize>(noise.size()));
  ASSERT_TRUE(f.flush()) << file;
}

// The StoreError of opening `file`, or "" when it opened.
std::string open_error(const std::filesystem::path& file) {
  try {
    qc::SqliteStore store(file);
  } catch (const qc::StoreError& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

constexpr int kDocuments = 400;
const char* const kReadDocuments = "SELECT seq FROM recommendations ORDER BY seq";

TEST_F(SqliteStoreTest, DamagedTablePageIsRefusedAtOpenNamingTheFile) {
  {
    qc::SqliteStore store(file_);
    commit_documents(store, kDocuments);
  }
  auto leaves = pages_of(file_, "recommendations", "leaf");
  ASSERT_GE(leaves.size(), 5u);
  damage_page(file_, leaves[leaves.size() / 2]);
  {
    // What reading until the first non-row made of this file: part of the
    // table and no error, i.e. a server that starts with documents missing.
    RawDb raw(file_);
    auto naive = raw.read_while_rows(kReadDocuments);
    EXPECT_GT(naive.rows, 0);
    EXPECT_LT(naive.rows, kDocuments);
    EXPECT_EQ(naive.ended_with & 0xff, SQLITE_CORRUPT);
  }
  auto what = open_error(file_);
  ASSERT_FALSE(what.empty()) << "a file with a damaged page was opened";
  EXPECT_TRUE(has(what, file_.string())) << what;
  EXPECT_TRUE(has(what, "damaged")) << what;
  EXPECT_TRUE(has(what, "backup")) << what;
  EXPECT_FALSE(has(what, "\n")) << "one line: " << what;
}

TEST_F(SqliteStoreTest, DamageFoundWhileLoadingThrowsNamingTheFile) {
  {
    qc::SqliteStore store(file_);
    commit_documents(store, kDocuments);
  }
  qc::SqliteStore store(file_);  // sound when opened
  auto leaves = pages_of(file_, "recommendations", "leaf");
  ASSERT_GE(leaves.size(), 5u);
  damage_page(file_, leaves[leaves.size() / 2]);
  {
    // Another connection's commit: the store's page cache is dropped, as it
    // is whenever the file changes under it, so load() reads the disk.
    RawDb raw(file_);
    raw.exec("INSERT INTO last_bars (symbol, start_ms) VALUES ('TLT', 1)");
  }
  try {
    auto state = store.load();
    FAIL() << "load() of a file with a damaged page returned " << state.documents.size() << " of "
           << kDocuments << " documents";
  } catch (const qc::StoreError& e) {
    std::string what = e.what();
    EXPECT_TRUE(has(what, file_.string())) << what;
    EXPECT_TRUE(has(what, "recommendations")) << what;
  }
}

TEST_F(SqliteStoreTest, DamagedIndexIsRefusedAtOpenByTheIntegrityCheck) {
  {
    qc::SqliteStore store(file_);
    commit_documents(store, kDocuments);
  }
  // The index behind recommendations.document UNIQUE: load() never reads it,
  // the next insert would.
  auto index = pages_of(file_, "sqlite_autoindex_recommendations_1", "leaf");
  ASSERT_GE(index.size(), 3u);
  damage_page(file_, index[index.size() / 2]);
  {
    RawDb raw(file_);
    auto naive = raw.read_while_rows(kReadDocuments);
    EXPECT_EQ(naive.rows, kDocuments) << "the table itself reads whole";
    EXPECT_EQ(naive.ended_with, SQLITE_DONE);
  }
  auto what = open_error(file_);
  ASSERT_FALSE(what.empty()) << "a file failing PRAGMA quick_check was opened";
  EXPECT_TRUE(has(what, file_.string())) << what;
  EXPECT_TRUE(has(what, "integrity check")) << what;
  EXPECT_FALSE(has(what, "\n")) << "one line: " << what;
}

TEST_F(SqliteStoreTest, EmptyFileIsRefusedAndLeftUntouched) {
  std::ofstream(file_).close();
  ASSERT_EQ(std::filesystem::file_size(file_), 0u);
  auto what = open_error(file_);
  ASSERT_FALSE(what.empty()) << "a 0-byte file was taken for a new database";
  EXPECT_TRUE(has(what, file_.string())) << what;
  EXPECT_TRUE(has(what, "empty (0 bytes)")) << what;
  EXPECT_TRUE(has(what, "delete it")) << what;
  EXPECT_TRUE(has(what, "backup")) << what;
  EXPECT_EQ(std::filesystem::file_size(file_), 0u);
  EXPECT_FALSE(std::filesystem::exists(file_.string() + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(file_.string() + "-shm"));
}

TEST_F(SqliteStoreTest, FileThatIsNotADatabaseIsRefusedNamingTheFile) {
  std::ofstream(file_) << std::string(4096, 'x') << "this is not an SQLite database\n";
  auto what = open_error(file_);
  ASSERT_FALSE(what.empty());
  EXPECT_TRUE(has(what, file_.string())) << what;
  EXPECT_TRUE(has(what, "not a database")) << what;
}

TEST_F(SqliteStoreTest, ValueOfTheWrongTypeMakesLoadThrowNamingTableAndColumn) {
  qc::SqliteStore store(file_);
  qc::ChangeSet c;
  c.opened = {position("AAPL", kT0, 100, 110)};
  store.commit(c);
  {
    RawDb raw(file_);
    raw.exec("UPDATE open_positions SET entry_price = 'one hundred'");
  }
  try {
    auto state = store.load();
    FAIL() << "a text entry_price was read as " << state.open_positions.at(0).entry_price;
  } catch (const qc::StoreError& e) {
    std::string what = e.what();
    EXPECT_TRUE(has(what, "open_positions")) << what;
    EXPECT_TRUE(has(what, "entry_price")) << what;
    EXPECT_TRUE(has(what, file_.string())) << what;
  }
}

// ---------------------------------------------------------------------------
// Readiness and writability

TEST_F(SqliteStoreTest, HealthAnswersWhileACommitWaitsForTheWriteLock) {
  qc::SqliteStore store(file_);
  RawDb other(file_);
  other.exec("BEGIN IMMEDIATE");  // another connection holds the write lock
  auto commit = std::async(std::launch::async, [&] {
    qc::ChangeSet c;
    c.opened = {position("AAPL", kT0, 100, 110)};
    store.commit(c);  // waits for the lock (busy timeout), inside the store
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(commit.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "the commit did not wait for the lock";

  auto health = std::async(std::launch::async, [&] { return store.health(); });
  ASSERT_EQ(health.wait_for(std::chrono::seconds(3)), std::future_status::ready)
      << "health() waited for the commit";
  auto h = health.get();
  EXPECT_TRUE(h.ok) << h.detail;
  EXPECT_EQ(commit.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "health() answered only after the commit gave up";

  other.exec("ROLLBACK");
  EXPECT_NO_THROW(commit.get()) << "the commit goes through once the lock is free";
  EXPECT_EQ(store.load().open_positions.size(), 1u);
}

TEST_F(SqliteStoreTest, HealthDetailNamesNoPath) {
  qc::SqliteStore store(file_);
  auto h = store.health();
  EXPECT_TRUE(h.ok);
  EXPECT_FALSE(has(h.detail, dir_.path().string())) << h.detail;
}

TEST_F(SqliteStoreTest, CommitOnAFullDiskFailsAndLeavesNothingBehind) {
  qc::testing::FaultyDisk disk;
  auto before = [&] {
    qc::SqliteStore store(file_);
    commit_documents(store, 10);
    return store.load();
  }();
  qc::SqliteStore store(file_);
  disk.set(qc::testing::FaultyDisk::Mode::Full);
  qc::ChangeSet big;
  big.opened = {position("AAPL", kT0, 100, 110)};
  for (int i = 0; i < 200; ++i)
    big.new_documents.push_back(
        document("2021-07-13 10:00:00", "2021-07-13 22:00:00", {{"C", 70.0 + i / 100.0, 60}}));
  EXPECT_THROW(store.commit(big), qc::StoreError);
  EXPECT_GT(disk.refused_writes(), 0);
  qc::store_contract::expect_same_state(before, store.load());

  disk.set(qc::testing::FaultyDisk::Mode::Healthy);
  qc::store_contract::expect_same_state(before, qc::SqliteStore(file_).load());
  // The disk has room again: the same ChangeSet goes through, whole.
  auto seqs = store.commit(big);
  EXPECT_EQ(seqs.size(), big.new_documents.size());
  auto after = store.load();
  EXPECT_EQ(after.documents.size(), before.documents.size() + big.new_documents.size());
  EXPECT_EQ(after.open_positions.size(), 1u);
}

TEST_F(SqliteStoreTest, ProbeWriteFailsWhileTheDiskIsFullAndSucceedsAfter) {
  qc::testing::FaultyDisk disk;
  qc::SqliteStore store(file_);
  EXPECT_NO_THROW(store.probe_write());
  disk.set(qc::testing::FaultyDisk::Mode::Full);
  try {
    store.probe_write();
    FAIL() << "probe_write() succeeded on a full disk";
  } catch (const qc::StoreError& e) {
    std::string what = e.what();
    EXPECT_TRUE(has(what, "full")) << what;
    EXPECT_FALSE(has(what, dir_.path().string())) << "names a path: " << what;
  }
  disk.set(qc::testing::FaultyDisk::Mode::Healthy);
  EXPECT_NO_THROW(store.probe_write());
}

TEST_F(SqliteStoreTest, ProbeWriteFailsWhileTheDiskIsReadOnlyAndSucceedsAfter) {
  qc::testing::FaultyDisk disk;
  qc::SqliteStore store(file_);
  disk.set(qc::testing::FaultyDisk::Mode::ReadOnly);
  EXPECT_THROW(store.probe_write(), qc::StoreError);
  disk.set(qc::testing::FaultyDisk::Mode::Healthy);
  EXPECT_NO_THROW(store.probe_write());
}

TEST_F(SqliteStoreTest, HealthStaysOkWhileTheDiskIsFull) {
  // Reads work on a full disk: readiness learns about writes from
  // probe_write(), not from health().
  qc::testing::FaultyDisk disk;
  qc::SqliteStore store(file_);
  disk.set(qc::testing::FaultyDisk::Mode::Full);
  EXPECT_THROW(store.probe_write(), qc::StoreError);
  auto h = store.health();
  EXPECT_TRUE(h.ok) << h.detail;
  disk.set(qc::testing::FaultyDisk::Mode::Healthy);
}

TEST_F(SqliteStoreTest, ProbeWriteKeepsOneHeartbeatRow) {
  qc::SqliteStore store(file_);
  store.probe_write();
  store.probe_write();
  RawDb raw(file_);
  EXPECT_EQ(raw.column("SELECT count(*) FROM write_probe"), std::vector<std::string>{"1"});
  auto at = std::stod(raw.column("SELECT written_at FROM write_probe").at(0));
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  EXPECT_NEAR(at, now.count(), 60);
}

TEST_F(SqliteStoreTest, FileWithoutTheWriteProbeTableOpensAndGainsIt) {
  // A file written before write_probe existed (same schema version).
  {
    qc::SqliteStore store(file_);
    commit_documents(store, 3);
  }
  {
    RawDb raw(file_);
    raw.exec("DROP TABLE write_probe");
    EXPECT_EQ(raw.column("SELECT count(*) FROM sqlite_schema WHERE name = 'write_probe'"),
              std::vector<std::string>{"0"});
  }
  qc::SqliteStore store(file_);
  EXPECT_EQ(store.load().documents.size(), 3u);
  EXPECT_NO_THROW(store.probe_write());
  RawDb raw(file_);
  EXPECT_EQ(raw.column("SELECT count(*) FROM write_probe"), std::vector<std::string>{"1"});
  EXPECT_EQ(raw.column("SELECT version FROM schema_version"), std::vector<std::string>{"2"});
}

}  // namespace
