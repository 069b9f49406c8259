// SqliteStore: owns the SQLite connection and its prepared statements.
// Invariants: a position row is in at most one of open_positions /
// closed_positions at the end of every transaction; closed_positions rows are
// never deleted; performance.realized_pnl equals the sum of its month's pnl.
// Every sqlite3_step result is checked: a query ends at SQLITE_DONE only, so
// a damaged page is an error, never the end of a table.
#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <set>
#include <string_view>

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
  start_ms INTEGER NOT NULL,
  close REAL,
  end_ms INTEGER);
CREATE TABLE IF NOT EXISTS write_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  written_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_progress (
  endpoint TEXT PRIMARY KEY,
  origin TEXT NOT NULL,
  delivered INTEGER NOT NULL);
)SQL";

constexpr const char* kDamagedAdvice =
    "the server does not start on a damaged database: restore the file from a backup";

}  // namespace

// Members are destroyed in reverse order: statements first, then the reader,
// then the writer, which (being last) checkpoints and removes the WAL.
struct SqliteStore::Db {
  std::unique_ptr<sqlite3, ConnectionDeleter> conn;    // the writer
  std::unique_ptr<sqlite3, ConnectionDeleter> reader;  // read-only, health() only
  StatementPtr insert_document, insert_open, delete_open, insert_closed, upsert_last_bar, month_sum,
      upsert_month, upsert_probe, insert_event;
  StatementPtr health_query;  // on `reader`
};

namespace {

// A failed statement of a write (the ledger logs each failed commit).
[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw StoreError("sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// An error of opening or reading the file: names it, and says what to do when
// SQLite found it damaged.
[[noreturn]] void fail(sqlite3* db, const std::filesystem::path& file, const std::string& what) {
  std::string message =
      "sqlite: " + file.string() + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
  int code = db ? (sqlite3_errcode(db) & 0xff) : SQLITE_NOMEM;
  if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
    message += std::string("; ") + kDamagedAdvice;
  throw StoreError(message);
}

StatementPtr prepare(sqlite3* db, const std::filesystem::path& file, const char* sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    sqlite3_finalize(s);
    fail(db, file, std::string("prepare ") + sql);
  }
  return StatementPtr(s);
}

// Steps a read: true on a row, false at its end; anything else (a damaged
// page, an I/O error) throws, naming the file and what was being read.
bool next_row(sqlite3* db, sqlite3_stmt* s, const std::filesystem::path& file, const char* what) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db, file, std::string("reading ") + what);
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

// The columns of one row of `table`, checked against their declared types:
// a value written by another tool in the wrong type (a text where a price
// belongs) throws instead of reading as 0.
class Row {
 public:
  Row(sqlite3_stmt* s, const std::filesystem::path& file, const char* table)
      : s_(s), file_(file), table_(table) {}
  std::string text(int i) const {
    if (sqlite3_column_type(s_, i) != SQLITE_TEXT) wrong(i, "a text");
    return column_text(s_, i);
  }
  // Valid until the next step (no copy: a bulk load reads a million rows).
  std::string_view text_view(int i) const {
    if (sqlite3_column_type(s_, i) != SQLITE_TEXT) wrong(i, "a text");
    auto* p = sqlite3_column_text(s_, i);
    return p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, i)))
             : std::string_view();
  }
  double real(int i) const {
    int t = sqlite3_column_type(s_, i);
    if (t != SQLITE_FLOAT && t != SQLITE_INTEGER) wrong(i, "a number");
    return sqlite3_column_double(s_, i);
  }
  bool is_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  std::int64_t integer(int i) const {
    if (sqlite3_column_type(s_, i) != SQLITE_INTEGER) wrong(i, "an integer");
    return sqlite3_column_int64(s_, i);
  }

 private:
  [[noreturn]] void wrong(int i, const char* expected) const {
    static const char* const kTypes[] = {"?", "an integer", "a real", "a text", "a blob", "null"};
    int t = sqlite3_column_type(s_, i);
    throw StoreError("sqlite: " + file_.string() + ": table " + table_ + ": column " +
                     sqlite3_column_name(s_, i) + " holds " + kTypes[t >= 1 && t <= 5 ? t : 0] +
                     " where " + expected + " belongs; the file was changed by another program");
  }
  sqlite3_stmt* s_;
  const std::filesystem::path& file_;
  const char* table_;
};

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

}  // namespace

SqliteStore::SqliteStore(std::filesystem::path path) : path_(std::move(path)), db_(new Db) {
  std::error_code ec;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
  if (ec) throw StoreError("sqlite: cannot create " + path_.parent_path().string() + ": " + ec.message());
  // SQLite takes an empty file for a new database and would write a fresh
  // schema into it; an empty file where a database should be is a lost one.
  if (std::filesystem::is_regular_file(path_, ec) && std::filesystem::file_size(path_, ec) == 0 &&
      !ec)
    throw StoreError("sqlite: " + path_.string() +
                     " exists but is empty (0 bytes): it is not a database, and the server does "
                     "not take it for a new one. To start with an empty database, delete it; to "
                     "keep your data, restore it from a backup");
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &raw,
                           // mutex_ serializes its use: no lock per call
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  db_->conn.reset(raw);
  if (rc != SQLITE_OK) fail(raw, path_, "cannot open");
  sqlite3_busy_timeout(raw, 5000);
  // Before anything writes to it.
  quick_check();
  {
    auto mode = prepare(raw, path_, "PRAGMA journal_mode=WAL");
    if (!next_row(raw, mode.get(), path_, "journal mode") || column_text(mode.get(), 0) != "wal")
      throw StoreError("sqlite: " + path_.string() + ": cannot use the WAL journal mode");
  }
  exec("PRAGMA synchronous=FULL");
  exec("PRAGMA foreign_keys=ON");
  migrate();
  sqlite3* db = db_->conn.get();
  db_->insert_document = prepare(
      db, path_,
      "INSERT OR IGNORE INTO recommendations (us_date, sg_date, document) VALUES (?1, ?2, ?3)");
  db_->insert_open = prepare(
      db, path_,
      "INSERT OR IGNORE INTO open_positions (symbol, open_timestamp, target_price, entry_price, "
      "stop_loss, expected_profit) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM "
      "closed_positions WHERE symbol = ?1 AND open_timestamp = ?2)");
  db_->delete_open =
      prepare(db, path_, "DELETE FROM open_positions WHERE symbol = ?1 AND open_timestamp = ?2");
  db_->insert_closed = prepare(
      db, path_,
      "INSERT OR IGNORE INTO closed_positions (symbol, open_timestamp, target_price, entry_price, "
      "stop_loss, expected_profit, pnl, notes, close_timestamp, exit_price, month) VALUES (?1, ?2, "
      "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  db_->upsert_last_bar = prepare(
      db, path_,
      "INSERT INTO last_bars (symbol, start_ms, close, end_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(symbol) "
      "DO UPDATE SET start_ms = excluded.start_ms, close = excluded.close, end_ms = excluded.end_ms "
      "WHERE excluded.start_ms > start_ms");
  db_->month_sum = prepare(
      db, path_,
      "SELECT pnl FROM closed_positions WHERE month = ?1 ORDER BY close_timestamp, open_timestamp, "
      "symbol");
  db_->upsert_month = prepare(
      db, path_,
      "INSERT INTO performance (month, realized_pnl) VALUES (?1, ?2) ON CONFLICT(month) DO UPDATE "
      "SET realized_pnl = excluded.realized_pnl");
  db_->insert_event =
      prepare(db, path_, "INSERT OR IGNORE INTO outbox (id, type, data) VALUES (?1, ?2, ?3)");
  db_->upsert_probe = prepare(
      db, path_,
      "INSERT INTO write_probe (id, written_at) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET "
      "written_at = excluded.written_at");

  sqlite3* reader = nullptr;
  rc = sqlite3_open_v2(path_.c_str(), &reader, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                       nullptr);
  db_->reader.reset(reader);
  if (rc != SQLITE_OK) fail(reader, path_, "cannot open a read-only connection");
  // Bounded: a WAL reader waits only while another connection recovers the WAL.
  sqlite3_busy_timeout(reader, 1000);
  db_->health_query = prepare(reader, path_, "SELECT count(*) FROM schema_version");
}

SqliteStore::~SqliteStore() = default;

void SqliteStore::exec(const char* sql, const char* what) {
  char* err = nullptr;
  if (sqlite3_exec(db_->conn.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    std::string_view statement(what ? what : sql);
    statement = statement.substr(0, statement.find('\n'));
    throw StoreError("sqlite: " + path_.string() + ": " + std::string(statement) + ": " + msg);
  }
}

// PRAGMA quick_check reads every page and checks the b-trees (not the
// indexes' contents against their tables: that is integrity_check, which is
// slower); its answer is exactly one row, "ok", on a sound file.
void SqliteStore::quick_check() {
  sqlite3* db = db_->conn.get();
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    fail(db, path_, "cannot be read");
  }
  StatementPtr check(raw);
  std::vector<std::string> problems;
  int rc;
  while ((rc = sqlite3_step(check.get())) == SQLITE_ROW)
    problems.push_back(column_text(check.get(), 0));
  if (rc != SQLITE_DONE) {
    int code = sqlite3_errcode(db) & 0xff;
    if (code != SQLITE_CORRUPT && code != SQLITE_NOTADB) fail(db, path_, "cannot be read");
    problems = {sqlite3_errmsg(db)};  // a page too damaged for the check to go on
  }
  if (problems.size() == 1 && problems[0] == "ok") return;
  std::string first = problems.empty() ? "no answer" : one_line(problems[0]);
  std::string more =
      problems.size() > 1 ? " and " + std::to_string(problems.size() - 1) + " more problems" : "";
  throw StoreError("sqlite: " + path_.string() + " is damaged (integrity check: " + first + more +
                   "); " + kDamagedAdvice);
}

void SqliteStore::migrate() {
  exec("BEGIN IMMEDIATE");
  try {
    exec(kSchema, "creating the tables");
    sqlite3* db = db_->conn.get();
    auto get = prepare(db, path_, "SELECT max(version) FROM schema_version");
    if (!next_row(db, get.get(), path_, "schema_version"))
      throw StoreError("sqlite: " + path_.string() + ": no answer reading schema_version");
    int version = sqlite3_column_int(get.get(), 0);
    if (version > kSchemaVersion)
      throw StoreError("sqlite: " + path_.string() + " has schema version " +
                       std::to_string(version) + ", newer than this server's " +
                       std::to_string(kSchemaVersion));
    if (version < kSchemaVersion) {
      // Version 1 kept no price of the last bar (SPEC §4.6 needs it): its
      // rows keep a NULL close until the symbol's next bar. Version 2 had no
      // webhook outbox: kSchema above has just created its (empty) tables.
      if (version == 1)
        exec("ALTER TABLE last_bars ADD COLUMN close REAL; ALTER TABLE last_bars ADD COLUMN end_ms INTEGER",
             "adding the last bar's price to last_bars");
      exec("DELETE FROM schema_version");
      exec(("INSERT INTO schema_version (version) VALUES (" + std::to_string(kSchemaVersion) + ")")
               .c_str());
    }
    auto count = prepare(db, path_, "SELECT count(*) FROM tickers");
    if (!next_row(db, count.get(), path_, "tickers"))
      throw StoreError("sqlite: " + path_.string() + ": no answer counting tickers");
    if (sqlite3_column_int64(count.get(), 0) == 0) {
      auto ins =
          prepare(db, path_, "INSERT INTO tickers (symbol, exchange, name) VALUES (?1, ?2, ?3)");
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
  // One read transaction: the tables are read as of one instant.
  exec("BEGIN");
  try {
    {
      auto s = prepare(db, path_, "SELECT symbol, exchange, name FROM tickers ORDER BY seq");
      Row r(s.get(), path_, "tickers");
      while (next_row(db, s.get(), path_, "tickers"))
        state.tickers.push_back({r.text(0), r.text(1), r.text(2)});
    }
    {
      auto s = prepare(db, path_, "SELECT seq, document FROM recommendations ORDER BY seq");
      Row r(s.get(), path_, "recommendations");
      while (next_row(db, s.get(), path_, "recommendations")) {
        auto seq = r.integer(0);
        auto parsed = parse_recommendation_document(r.text(1));
        if (!parsed.problems.empty())
          throw StoreError("sqlite: " + path_.string() + ": recommendation " + std::to_string(seq) +
                           " is unreadable: " + describe(parsed.problems.front()));
        state.documents.push_back({seq, std::move(parsed.document)});
      }
    }
    {
      auto s = prepare(db, path_,
                       "SELECT symbol, open_timestamp, target_price, entry_price, stop_loss, "
                       "expected_profit FROM open_positions ORDER BY open_timestamp, symbol");
      Row r(s.get(), path_, "open_positions");
      while (next_row(db, s.get(), path_, "open_positions")) {
        OpenPosition p;
        p.symbol = r.text(0);
        p.open_timestamp = r.integer(1);
        p.target_price = r.real(2);
        p.entry_price = r.real(3);
        p.stop_loss = r.real(4);
        p.expected_profit = r.real(5);
        state.open_positions.push_back(std::move(p));
      }
    }
    {
      auto s = prepare(db, path_,
                       "SELECT symbol, open_timestamp, target_price, entry_price, stop_loss, "
                       "expected_profit, pnl, notes, close_timestamp, exit_price FROM "
                       "closed_positions");  // in no particular order (StoredState)
      Row r(s.get(), path_, "closed_positions");
      while (next_row(db, s.get(), path_, "closed_positions")) {
        ClosedPosition c;
        c.position.symbol = r.text(0);
        c.position.open_timestamp = r.integer(1);
        c.position.target_price = r.real(2);
        c.position.entry_price = r.real(3);
        c.position.stop_loss = r.real(4);
        c.position.expected_profit = r.real(5);
        c.pnl = r.real(6);
        if (!parse_close_notes(r.text_view(7), c.reason))
          throw StoreError("sqlite: " + path_.string() + ": closed position " + c.position.symbol +
                           " opened " + std::to_string(c.position.open_timestamp) +
                           " has unknown notes \"" + r.text(7) + "\"");
        c.close_timestamp = r.real(8);
        c.exit_price = r.real(9);
        state.closed_positions.push_back(std::move(c));
      }
    }
    {
      auto s = prepare(db, path_, "SELECT symbol, start_ms, close, end_ms FROM last_bars ORDER BY symbol");
      Row r(s.get(), path_, "last_bars");
      while (next_row(db, s.get(), path_, "last_bars")) {
        LastBar bar(r.text(0), r.integer(1));
        // Both or neither: a row of version 1 has neither.
        if (!r.is_null(2) || !r.is_null(3)) {
          bar.close = r.real(2);
          bar.end_ms = r.integer(3);
        }
        state.last_bars.push_back(std::move(bar));
      }
    }
    {
      auto s = prepare(db, path_,
                       "SELECT max((SELECT coalesce(max(id), 0) FROM outbox), (SELECT "
                       "coalesce(max(delivered), 0) FROM webhook_progress))");
      if (!next_row(db, s.get(), path_, "outbox"))
        throw StoreError("sqlite: " + path_.string() + ": no answer reading the outbox");
      state.last_event_id = Row(s.get(), path_, "outbox").integer(0);
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
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
    for (const auto& bar : changes.last_bars) {
      Use u(db, db_->upsert_last_bar.get());
      u.text(1, bar.symbol).integer(2, bar.start_ms);
      if (bar.close) u.real(3, *bar.close).integer(4, bar.end_ms);  // else NULL (cleared bindings)
      u.step();
    }
    for (const auto& event : changes.events) {
      if (!event.durable()) continue;
      Use u(db, db_->insert_event.get());
      u.integer(1, event.id).text(2, event.type).text(3, event.data).step();
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return seqs;
}

StoreHealth SqliteStore::health() {
  std::lock_guard lock(health_mutex_);
  sqlite3* db = db_->reader.get();
  sqlite3_stmt* s = db_->health_query.get();
  int rc = sqlite3_step(s);
  StoreHealth h{true, "ok"};
  // sqlite3_errmsg names no path ("database disk image is malformed", ...).
  if (rc != SQLITE_ROW) h = {false, std::string("cannot read the database: ") + sqlite3_errmsg(db)};
  sqlite3_reset(s);
  return h;
}

void SqliteStore::probe_write() {
  std::lock_guard lock(mutex_);
  sqlite3* db = db_->conn.get();
  sqlite3_stmt* s = db_->upsert_probe.get();
  auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
  sqlite3_bind_double(s, 1, now.count());
  // One statement in autocommit mode: its own transaction, committed (WAL
  // append and fsync) before the step returns.
  int rc = sqlite3_step(s);
  std::string error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
  sqlite3_reset(s);
  if (rc == SQLITE_DONE) return;
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  throw StoreError("sqlite: write probe failed: " + error);
}

namespace {

// The outbox on a connection of its own (see the header): reads never wait
// for the writer; each write is one short transaction that waits at most 2 s
// for the write lock and does not fsync (synchronous=NORMAL).
class SqliteOutbox final : public Outbox {
 public:
  explicit SqliteOutbox(const std::filesystem::path& path) : path_(path) {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    conn_.reset(raw);
    if (rc != SQLITE_OK) fail(raw, path_, "cannot open a connection for the webhook outbox");
    sqlite3_busy_timeout(raw, 2000);
    char* err = nullptr;
    if (sqlite3_exec(raw, "PRAGMA synchronous=NORMAL", nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw StoreError("sqlite: " + path_.string() + ": webhook outbox: " + msg);
    }
    select_after_ = prepare(raw, path_, "SELECT id, type, data FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2");
    count_after_ = prepare(raw, path_, "SELECT count(*) FROM outbox WHERE id > ?1");
    last_id_ = prepare(raw, path_,
                       "SELECT max((SELECT coalesce(max(id), 0) FROM outbox), (SELECT "
                       "coalesce(max(delivered), 0) FROM webhook_progress))");
    select_progress_ = prepare(raw, path_, "SELECT delivered FROM webhook_progress WHERE endpoint = ?1");
    all_progress_ = prepare(raw, path_, "SELECT endpoint FROM webhook_progress");
    upsert_progress_ = prepare(
        raw, path_,
        "INSERT INTO webhook_progress (endpoint, origin, delivered) VALUES (?1, ?2, ?3) ON "
        "CONFLICT(endpoint) DO UPDATE SET origin = excluded.origin, delivered = "
        "max(delivered, excluded.delivered)");
    delete_progress_ = prepare(raw, path_, "DELETE FROM webhook_progress WHERE endpoint = ?1");
    // In chunks, so that no one transaction holds the write lock for long.
    delete_events_ = prepare(raw, path_,
                             "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE id <= ?1 "
                             "AND id < (SELECT max(id) FROM outbox) ORDER BY id LIMIT 1000)");
  }

  std::vector<LiveEvent> events_after(std::int64_t after, std::size_t limit) override {
    std::vector<LiveEvent> out;
    Use u(db(), select_after_.get());
    u.integer(1, after).integer(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, 1 << 20)));
    Row r(select_after_.get(), path_, "outbox");
    while (u.step()) out.push_back({r.integer(0), r.text(1), r.text(2)});
    return out;
  }

  std::int64_t count_after(std::int64_t after) override {
    Use u(db(), count_after_.get());
    u.integer(1, after);
    if (!u.step()) fail(db(), path_, "counting the outbox");
    return Row(count_after_.get(), path_, "outbox").integer(0);
  }

  std::int64_t last_event_id() override {
    Use u(db(), last_id_.get());
    if (!u.step()) fail(db(), path_, "reading the outbox");
    return Row(last_id_.get(), path_, "outbox").integer(0);
  }

  std::optional<std::int64_t> delivered(const std::string& endpoint) override {
    Use u(db(), select_progress_.get());
    u.text(1, endpoint);
    if (!u.step()) return std::nullopt;
    return Row(select_progress_.get(), path_, "webhook_progress").integer(0);
  }

  void set_delivered(const std::string& endpoint, const std::string& origin, std::int64_t id) override {
    Use u(db(), upsert_progress_.get());
    u.text(1, endpoint).text(2, origin).integer(3, id).step();
  }

  std::int64_t prune(const std::vector<std::string>& endpoints) override {
    const std::set<std::string> keep(endpoints.begin(), endpoints.end());
    std::vector<std::string> forget;
    {
      Use u(db(), all_progress_.get());
      Row r(all_progress_.get(), path_, "webhook_progress");
      while (u.step())
        if (auto e = r.text(0); !keep.count(e)) forget.push_back(std::move(e));
    }
    for (const auto& e : forget) {
      Use u(db(), delete_progress_.get());
      u.text(1, e).step();
    }
    // Delivered everywhere: up to the lowest progress (an endpoint without
    // any is owed everything).
    std::int64_t floor = std::numeric_limits<std::int64_t>::max();
    for (const auto& e : keep) floor = std::min(floor, delivered(e).value_or(0));
    std::int64_t removed = 0;
    for (;;) {
      Use u(db(), delete_events_.get());
      u.integer(1, floor).step();
      int n = sqlite3_changes(db());
      removed += n;
      if (n == 0) break;
    }
    return removed;
  }

 private:
  sqlite3* db() const { return conn_.get(); }

  std::filesystem::path path_;
  // Destroyed in reverse order: the statements before the connection.
  std::unique_ptr<sqlite3, ConnectionDeleter> conn_;
  StatementPtr select_after_, count_after_, last_id_, select_progress_, all_progress_, upsert_progress_,
      delete_progress_, delete_events_;
};

}  // namespace

std::unique_ptr<Outbox> SqliteStore::open_outbox() { return std::make_unique<SqliteOutbox>(path_); }

}  // namespace qc
