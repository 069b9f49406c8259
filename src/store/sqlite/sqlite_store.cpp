// SqliteStore: owns the SQLite connection and its prepared statements.
// Invariants: a position row is in at most one of open_positions /
// closed_positions at the end of every transaction; closed_positions rows are
// never deleted; performance.realized_pnl equals the sum of its month's pnl.
#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <map>

#include "core/performance_book.h"

namespace qc {
namespace {

struct StatementDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

struct ConnectionDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tickers (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  symbol TEXT NOT NULL UNIQUE,
  exchange TEXT NOT NULL,
  name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recommendations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  us_date TEXT NOT NULL,
  sg_date TEXT NOT NULL,
  document TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS open_positions (
  symbol TEXT NOT NULL,
  open_timestamp INTEGER NOT NULL,
  target_price REAL NOT NULL,
  entry_price REAL NOT NULL,
  stop_loss REAL NOT NULL,
  expected_profit REAL NOT NULL,
  PRIMARY KEY (symbol, open_timestamp));
CREATE TABLE IF NOT EXISTS closed_positions (
  symbol TEXT NOT NULL,
  open_timestamp INTEGER NOT NULL,
  target_price REAL NOT NULL,
  entry_price REAL NOT NULL,
  stop_loss REAL NOT NULL,
  expected_profit REAL NOT NULL,
  pnl REAL NOT NULL,
  notes TEXT NOT NULL,
  close_timestamp REAL NOT NULL,
  exit_price REAL NOT NULL,
  month INTEGER NOT NULL,
  PRIMARY KEY (symbol, open_timestamp));
CREATE INDEX IF NOT EXISTS closed_positions_month ON closed_positions (month);
CREATE TABLE IF NOT EXISTS performance (
  month INTEGER PRIMARY KEY,
  realized_pnl REAL NOT NULL);
CREATE TABLE IF NOT EXISTS last_bars (
  symbol TEXT PRIMARY KEY,
  start_ms INTEGER NOT NULL);
)SQL";

}  // namespace

struct SqliteStore::Db {
  std::unique_ptr<sqlite3, ConnectionDeleter> conn;
  StatementPtr insert_document, insert_open, delete_open, insert_closed, upsert_last_bar,
      month_sum, upsert_month;
};

namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw StoreError("sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

StatementPtr prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
    fail(db, std::string("prepare ") + sql);
  return StatementPtr(s);
}

// Resets a cached statement when leaving scope, whatever happened.
class Use {
 public:
  Use(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use& text(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Use& real(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Use& integer(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  // Steps once; true when a row is available.
  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "step");
  }
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
};

std::string column_text(sqlite3_stmt* s, int i) {
  auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

}  // namespace

SqliteStore::SqliteStore(std::filesystem::path path) : path_(std::move(path)), db_(new Db) {
  std::error_code ec;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
  if (ec) throw StoreError("sqlite: cannot create " + path_.parent_path().string() + ": " + ec.message());
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  db_->conn.reset(raw);
  if (rc != SQLITE_OK) fail(raw, "open " + path_.string());
  sqlite3_busy_timeout(raw, 5000);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("PRAGMA foreign_keys=ON");
  migrate();
  sqlite3* db = db_->conn.get();
  db_->insert_document = prepare(
      db, "INSERT OR IGNORE INTO recommendations (us_date, sg_date, document) VALUES (?1, ?2, ?3)");
  db_->insert_open = prepare(
      db,
      "INSERT OR IGNORE INTO open_positions (symbol, open_timestamp, target_price, entry_price, "
      "stop_loss, expected_profit) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM "
      "closed_positions WHERE symbol = ?1 AND open_timestamp = ?2)");
  db_->delete_open =
      prepare(db, "DELETE FROM open_positions WHERE symbol = ?1 AND open_timestamp = ?2");
  db_->insert_closed = prepare(
      db,
      "INSERT OR IGNORE INTO closed_positions (symbol, open_timestamp, target_price, entry_price, "
      "stop_loss, expected_profit, pnl, notes, close_timestamp, exit_price, month) VALUES (?1, ?2, "
      "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  db_->upsert_last_bar = prepare(
      db,
      "INSERT INTO last_bars (symbol, start_ms) VALUES (?1, ?2) ON CONFLICT(symbol) DO UPDATE SET "
      "start_ms = max(start_ms, excluded.start_ms)");
  db_->month_sum = prepare(
      db,
      "SELECT pnl FROM closed_positions WHERE month = ?1 ORDER BY close_timestamp, open_timestamp, "
      "symbol");
  db_->upsert_month = prepare(
      db,
      "INSERT INTO performance (month, realized_pnl) VALUES (?1, ?2) ON CONFLICT(month) DO UPDATE "
      "SET realized_pnl = excluded.realized_pnl");
}

SqliteStore::~SqliteStore() = default;

void SqliteStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_->conn.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw StoreError(std::string("sqlite: ") + msg);
  }
}

void SqliteStore::migrate() {
  exec("BEGIN IMMEDIATE");
  try {
    exec(kSchema);
    sqlite3* db = db_->conn.get();
    auto get = prepare(db, "SELECT max(version) FROM schema_version");
    int version = 0;
    if (sqlite3_step(get.get()) == SQLITE_ROW) version = sqlite3_column_int(get.get(), 0);
    if (version > kSchemaVersion)
      throw StoreError("sqlite: " + path_.string() + " has schema version " +
                       std::to_string(version) + ", newer than this server's " +
                       std::to_string(kSchemaVersion));
    if (version < kSchemaVersion) {
      exec("DELETE FROM schema_version");
      exec(("INSERT INTO schema_version (version) VALUES (" + std::to_string(kSchemaVersion) + ")")
               .c_str());
    }
    auto count = prepare(db, "SELECT count(*) FROM tickers");
    sqlite3_step(count.get());
    if (sqlite3_column_int(count.get(), 0) == 0) {
      auto ins = prepare(db, "INSERT INTO tickers (symbol, exchange, name) VALUES (?1, ?2, ?3)");
      for (const auto& t : default_tickers()) {
        Use u(db, ins.get());
        u.text(1, t.symbol).text(2, t.exchange).text(3, t.name).step();
      }
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_->conn.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

StoredState SqliteStore::load() {
  std::lock_guard lock(mutex_);
  sqlite3* db = db_->conn.get();
  StoredState state;
  {
    auto s = prepare(db, "SELECT symbol, exchange, name FROM tickers ORDER BY seq");
    while (sqlite3_step(s.get()) == SQLITE_ROW)
      state.tickers.push_back(
          {column_text(s.get(), 0), column_text(s.get(), 1), column_text(s.get(), 2)});
  }
  {
    auto s = prepare(db, "SELECT seq, document FROM recommendations ORDER BY seq");
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
      auto parsed = parse_recommendation_document(column_text(s.get(), 1));
      if (!parsed.problems.empty())
        throw StoreError("sqlite: recommendation " + std::to_string(sqlite3_column_int64(s.get(), 0)) +
                         " is unreadable: " + describe(parsed.problems.front()));
      state.documents.push_back({sqlite3_column_int64(s.get(), 0), std::move(parsed.document)});
    }
  }
  {
    auto s = prepare(db,
                     "SELECT symbol, open_timestamp, target_price, entry_price, stop_loss, "
                     "expected_profit FROM open_positions ORDER BY open_timestamp, symbol");
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
      OpenPosition p;
      p.symbol = column_text(s.get(), 0);
      p.open_timestamp = sqlite3_column_int64(s.get(), 1);
      p.target_price = sqlite3_column_double(s.get(), 2);
      p.entry_price = sqlite3_column_double(s.get(), 3);
      p.stop_loss = sqlite3_column_double(s.get(), 4);
      p.expected_profit = sqlite3_column_double(s.get(), 5);
      state.open_positions.push_back(std::move(p));
    }
  }
  {
    auto s = prepare(db,
                     "SELECT symbol, open_timestamp, target_price, entry_price, stop_loss, "
                     "expected_profit, pnl, notes, close_timestamp, exit_price FROM "
                     "closed_positions ORDER BY close_timestamp, open_timestamp, symbol");
    while (sqlite3_step(s.get()) == SQLITE_ROW) {
      ClosedPosition c;
      c.position.symbol = column_text(s.get(), 0);
      c.position.open_timestamp = sqlite3_column_int64(s.get(), 1);
      c.position.target_price = sqlite3_column_double(s.get(), 2);
      c.position.entry_price = sqlite3_column_double(s.get(), 3);
      c.position.stop_loss = sqlite3_column_double(s.get(), 4);
      c.position.expected_profit = sqlite3_column_double(s.get(), 5);
      c.pnl = sqlite3_column_double(s.get(), 6);
      if (!parse_close_notes(column_text(s.get(), 7), c.reason))
        throw StoreError("sqlite: closed position " + c.position.symbol + " has unknown notes");
      c.close_timestamp = sqlite3_column_double(s.get(), 8);
      c.exit_price = sqlite3_column_double(s.get(), 9);
      state.closed_positions.push_back(std::move(c));
    }
  }
  {
    auto s = prepare(db, "SELECT symbol, start_ms FROM last_bars ORDER BY symbol");
    while (sqlite3_step(s.get()) == SQLITE_ROW)
      state.last_bars.emplace_back(column_text(s.get(), 0), sqlite3_column_int64(s.get(), 1));
  }
  return state;
}

std::vector<std::int64_t> SqliteStore::commit(const ChangeSet& changes) {
  std::vector<std::int64_t> seqs;
  if (changes.empty()) return seqs;
  std::lock_guard lock(mutex_);
  sqlite3* db = db_->conn.get();
  exec("BEGIN IMMEDIATE");
  try {
    for (const auto& doc : changes.new_documents) {
      Use u(db, db_->insert_document.get());
      u.text(1, doc.us_date).text(2, doc.sg_date).text(3, canonical_json(doc)).step();
      seqs.push_back(sqlite3_changes(db) ? sqlite3_last_insert_rowid(db) : 0);
    }
    for (const auto& p : changes.opened) {
      Use u(db, db_->insert_open.get());
      u.text(1, p.symbol).integer(2, p.open_timestamp).real(3, p.target_price)
          .real(4, p.entry_price).real(5, p.stop_loss).real(6, p.expected_profit).step();
    }
    std::map<std::int64_t, bool> months;
    for (const auto& c : changes.closed) {
      const auto& p = c.position;
      {
        Use u(db, db_->delete_open.get());
        u.text(1, p.symbol).integer(2, p.open_timestamp).step();
      }
      auto month = month_start_utc(c.close_timestamp);
      Use u(db, db_->insert_closed.get());
      u.text(1, p.symbol).integer(2, p.open_timestamp).real(3, p.target_price)
          .real(4, p.entry_price).real(5, p.stop_loss).real(6, p.expected_profit).real(7, c.pnl)
          .text(8, close_notes(c.reason)).real(9, c.close_timestamp).real(10, c.exit_price)
          .integer(11, month).step();
      months[month] = true;
    }
    for (const auto& [month, _] : months) {
      double sum = 0;
      {
        Use u(db, db_->month_sum.get());
        u.integer(1, month);
        while (u.step()) sum += sqlite3_column_double(u.get(), 0);
      }
      Use u(db, db_->upsert_month.get());
      u.integer(1, month).real(2, sum).step();
    }
    for (const auto& [symbol, start] : changes.last_bars) {
      Use u(db, db_->upsert_last_bar.get());
      u.text(1, symbol).integer(2, start).step();
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return seqs;
}

StoreHealth SqliteStore::health() {
  std::lock_guard lock(mutex_);
  sqlite3* db = db_->conn.get();
  auto s = prepare(db, "SELECT count(*) FROM schema_version");
  if (sqlite3_step(s.get()) != SQLITE_ROW) return {false, sqlite3_errmsg(db)};
  return {true, "ok"};
}

}  // namespace qc
