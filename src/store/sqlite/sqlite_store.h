// SQLite adapter of the store port: one file under the data dir, WAL journal,
// synchronous=FULL (a commit survives power loss), schema versioned in
// `schema_version`. Every ChangeSet is one transaction.
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
  StoreHealth health() override;
  void probe_write() override {}  // TEMPORARY until the store branch lands

  static constexpr int kSchemaVersion = 1;

 private:
  void exec(const char* sql);
  void migrate();

  std::filesystem::path path_;
  std::mutex mutex_;
  struct Db;
  std::unique_ptr<Db> db_;
};

}  // namespace qc
