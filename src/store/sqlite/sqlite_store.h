// SQLite adapter of the store port: one file under the data dir, WAL journal,
// synchronous=FULL (a commit survives power loss), schema versioned in
// `schema_version`. Every ChangeSet is one transaction.
//
// Two connections: the writer (load, commit, probe_write; one mutex) and a
// read-only one used by health() alone (its own mutex). In WAL mode a reader
// never waits for the writer's lock or fsync, so readiness stays answerable
// while a commit is slow or stuck.
//
// Opening refuses, with one line naming the file: an existing 0-byte file
// (SQLite would silently take it for a new database), a file that is not a
// database, and a file whose `PRAGMA quick_check` is not exactly "ok". A
// missing file is created.
#pragma once
#include <filesystem>
#include <memory>
#include <mutex>

#include "store/store.h"

struct sqlite3;

namespace qc {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) `path`. Throws StoreError.
  explicit SqliteStore(std::filesystem::path path);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  std::string kind() const override { return "sqlite"; }
  std::string location() const override { return path_.string(); }
  StoredState load() override;
  std::vector<std::int64_t> commit(const ChangeSet& changes) override;
  // A read on the read-only connection; never takes the writer's mutex.
  StoreHealth health() override;
  // Upserts the one row of `write_probe` with the current time (a real
  // commit: WAL append and fsync).
  void probe_write() override;

  // Version 1 files without the `write_probe` table (added later, read by
  // nothing but probe_write) gain it when opened; older servers ignore it.
  static constexpr int kSchemaVersion = 2;

 private:
  // Runs `sql`; throws StoreError naming the file and `what` (default: the
  // statement's first line).
  void exec(const char* sql, const char* what = nullptr);
  void quick_check();
  void migrate();

  std::filesystem::path path_;
  std::mutex mutex_;         // the writer connection and its statements
  std::mutex health_mutex_;  // the read-only connection
  struct Db;
  std::unique_ptr<Db> db_;
};

}  // namespace qc
