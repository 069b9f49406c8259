// MongoStore: the store port's contract tests (store_contract.h) over real
// sockets with the real libmongoc, plus what only the MongoDB adapter has:
// the earlier service's document shapes, SPEC §5 field names, unique
// indexes, ordered idempotent writes on a standalone server, transactions on
// a replica set.
//
// Servers:
//  - the MongoDB wire-protocol stand-in (tests/support/mongo_standin.py, run
//    by Debian's /usr/bin/python3 with python3-pymongo and python3-mongomock),
//    one process per topology started on first use and killed at exit:
//    "rs0" (one-member replica set: transactions, change streams) and a
//    standalone server (no transactions: ordered idempotent writes), each
//    over plain TCP and over TLS (certificates of tests/support/tls_certs.py,
//    made once next to this binary, trusted through tlsCAFile). Tests are
//    skipped, with the reason, when /usr/bin/python3 cannot import
//    mongomock;
//  - a real MongoDB (e.g. an Atlas test cluster) when QC_TEST_MONGO_URI is
//    set; skipped otherwise. Fault injection (configureFailPoint) is only used
//    against the stand-in.
// Every test works in its own database (derived from the test's temporary
// path) and drops it afterwards.
//
// Over TLS run: the whole contract suite, MongoInterruptedCommit and
// MongoTransactions on the replica set; MongoInterruptedCommit on the
// standalone server (MongoStoreTest, about the documents' shapes, runs over
// plain TCP only); and the MongoTls cases: what the startup line says for
// each TLS setting, and the one error a failed TLS connection gives
// (untrusted CA, system CAs, self-signed, wrong host, not a TLS server, TLS
// server reached without TLS, client certificates and their password,
// unreadable files).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mongoc/mongoc.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "app/ledger.h"
#include "log/log.h"
#include "cache/memory/memory_cache.h"
#include "http/api_views.h"
#include "store/mongo/bson_codec.h"
#include "store/mongo/mongo_handles.h"
#include "store/mongo/mongo_store.h"
#include "store/mongo/tls_check.h"
#include "store_contract.h"

namespace {

using qc::store_contract::by_identity;
using qc::store_contract::document;
using qc::store_contract::documents_of;
using qc::store_contract::kT0;
using qc::store_contract::kT1;
using qc::store_contract::position;
using qc::store_contract::sorted;
using qc::store_contract::spec_tickers;
using qc::store_contract::TempDir;

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Servers

enum class Target { ReplicaSet, Standalone, External, ReplicaSetTls, StandaloneTls };

const char* target_name(Target t) {
  switch (t) {
    case Target::ReplicaSet: return "StandInReplicaSet";
    case Target::Standalone: return "StandInStandalone";
    case Target::External: return "External";
    case Target::ReplicaSetTls: return "StandInReplicaSetTls";
    case Target::StandaloneTls: return "StandInStandaloneTls";
  }
  return "?";
}

// A stand-in playing a replica set (transactions, change streams).
bool replica_set(Target t) {
  return t == Target::ReplicaSet || t == Target::ReplicaSetTls;
}

void PrintTo(Target t, std::ostream* os) { *os << target_name(t); }

constexpr const char* kPython = "/usr/bin/python3";

fs::path support_dir() {
  // QC_TEST_DATA_DIR is <repo>/tests/data.
  return fs::path(QC_TEST_DATA_DIR).parent_path() / "support";
}
fs::path standin_script() {
  return support_dir() / "mongo_standin.py";
}

// Runs `argv` (argv[0] is the executable path) with stdout on a pipe (or
// /dev/null) and stdin on /dev/null; the child gets SIGTERM when this thread
// ends. Returns the pid, or -1.
pid_t spawn(const std::vector<std::string>& args, int* stdout_fd, bool quiet_stderr) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int fds[2] = {-1, -1};
  if (stdout_fd && ::pipe2(fds, O_CLOEXEC) != 0) return -1;
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(stdout_fd ? fds[1] : null, 1);
    if (quiet_stderr) ::dup2(null, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (stdout_fd) {
    ::close(fds[1]);
    if (pid < 0) {
      ::close(fds[0]);
      return -1;
    }
    *stdout_fd = fds[0];
  }
  return pid;
}

int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Why the stand-in cannot run here ("" when it can).
const std::string& standin_unavailable() {
  static const std::string reason = [] {
    if (::access(kPython, X_OK) != 0)
      return std::string(kPython) + " not found (the MongoDB stand-in needs Debian's python3 "
                                    "with python3-pymongo and python3-mongomock)";
    if (!fs::exists(standin_script())) return "missing " + standin_script().string();
    pid_t pid = spawn({kPython, "-c", "import mongomock, pymongo, bson"}, nullptr, true);
    if (pid < 0) return std::string("cannot run ") + kPython;
    int status = wait_exit(pid, std::chrono::seconds(30));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return std::string(kPython) + " cannot import mongomock/pymongo (apt-get install "
                                    "python3-mongomock python3-pymongo)";
    return std::string();
  }();
  return reason;
}

// The TLS stand-ins' certificates (tls_certs.make_certs: ca.pem, server.pem,
// other_ca.pem, wrong_host.pem, self_signed.pem; mongo_standin's client.pem
// and client_encrypted.pem), made once next to this binary and shared by
// every test process: ctest runs each test in a process of its own, and
// making the keys takes over a second. Made in a directory of its own and
// renamed into place, so concurrent test processes see all or nothing.
struct CertDir {
  fs::path path;
  std::string problem;  // non-empty: no certificates
};
const CertDir& tls_certs() {
  static const CertDir dir = [] {
    CertDir d;
    if (!standin_unavailable().empty()) {
      d.problem = standin_unavailable();
      return d;
    }
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    fs::path target = (ec ? fs::temp_directory_path() : exe.parent_path()) / "mongo-test-tls";
    auto complete = [&] {
      return fs::exists(target / "client_encrypted.pem") && fs::exists(target / "client.pem");
    };
    if (!complete()) {
      fs::path tmp = target;
      tmp += ".tmp." + std::to_string(::getpid());
      fs::remove_all(tmp, ec);
      fs::create_directories(tmp, ec);
      pid_t pid =
          spawn({kPython, "-c",
                 "import sys; sys.path.insert(0, sys.argv[1]); import tls_certs, mongo_standin; "
                 "tls_certs.make_certs(sys.argv[2]); mongo_standin.make_client_cert(sys.argv[2])",
                 support_dir().string(), tmp.string()},
                nullptr, true);
      int status = pid < 0 ? -1 : wait_exit(pid, std::chrono::seconds(120));
      if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fs::remove_all(tmp, ec);
        d.problem =
            "cannot make the TLS test certificates (tests/support/tls_certs.py needs the openssl "
            "command)";
        return d;
      }
      if (::rename(tmp.c_str(), target.c_str()) != 0)
        fs::remove_all(tmp, ec);  // another process was first
    }
    if (!complete())
      d.problem = "the TLS test certificates in " + target.string() + " are incomplete";
    d.path = target;
    return d;
  }();
  return dir;
}

struct StandInTls {
  bool enabled = false;
  std::string cert = "server";  // the certificate served: server, wrong_host, self_signed
  bool client_ca = false;       // require a client certificate signed by ca.pem
};

// One stand-in process: the shared ones are started on first use and killed
// when the test binary exits; a test may start one of its own.
class StandInProcess {
 public:
  explicit StandInProcess(bool replica_set, StandInTls tls = {}) {
    if (!standin_unavailable().empty()) {
      problem_ = standin_unavailable();
      return;
    }
    std::vector<std::string> args = {kPython, "-u", standin_script().string(), "--port", "0"};
    if (replica_set) args.insert(args.end(), {"--replica-set", "rs0"});
    if (tls.enabled) {
      if (!tls_certs().problem.empty()) {
        problem_ = tls_certs().problem;
        return;
      }
      args.insert(args.end(), {"--tls-dir", tls_certs().path.string(), "--tls-cert", tls.cert});
      if (tls.client_ca) args.push_back("--tls-client-ca");
    }
    pid_ = spawn(args, &out_, false);
    if (pid_ < 0) {
      problem_ = "cannot start the MongoDB stand-in";
      return;
    }
    std::string buffer;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char chunk[512];
      ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(n));
      auto key = buffer.find("MONGO_ATLAS_URI=");
      if (key == std::string::npos) continue;
      auto end = buffer.find('\n', key);
      if (end == std::string::npos) continue;
      uri_ = buffer.substr(key + 16, end - key - 16);
      return;
    }
    problem_ = "the MongoDB stand-in (" + standin_script().string() +
               ") did not print MONGO_ATLAS_URI within 30 s; output: " + buffer;
  }
  ~StandInProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      wait_exit(pid_, std::chrono::seconds(5));
    }
    if (out_ >= 0) ::close(out_);
  }
  StandInProcess(const StandInProcess&) = delete;
  StandInProcess& operator=(const StandInProcess&) = delete;

  const std::string& uri() const { return uri_; }
  const std::string& problem() const { return problem_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string uri_;
  std::string problem_;
};

struct ServerInfo {
  std::string uri;
  std::string skip_reason;  // non-empty: not available
};

ServerInfo server(Target t) {
  switch (t) {
    case Target::ReplicaSet: {
      static StandInProcess rs(true);
      return {rs.uri(), rs.problem()};
    }
    case Target::Standalone: {
      static StandInProcess standalone(false);
      return {standalone.uri(), standalone.problem()};
    }
    case Target::ReplicaSetTls: {
      static StandInProcess rs(true, {.enabled = true});
      return {rs.uri(), rs.problem()};
    }
    case Target::StandaloneTls: {
      static StandInProcess standalone(false, {.enabled = true});
      return {standalone.uri(), standalone.problem()};
    }
    case Target::External: {
      const char* uri = std::getenv("QC_TEST_MONGO_URI");
      if (!uri || !*uri) return {"", "QC_TEST_MONGO_URI is not set (a real MongoDB, e.g. an Atlas test cluster)"};
      return {uri, ""};
    }
  }
  return {"", "unknown target"};
}

// A database name unique to `where` (the contract's per-test path).
std::string database_for(const fs::path& where) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : where.string()) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "qct_%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// ---------------------------------------------------------------------------
// A raw libmongoc client: for looking at (or writing to) the database behind
// the store's back, in the earlier service's shapes.

std::string to_json(const bson_t* doc) {
  char* s = bson_as_canonical_extended_json(doc, nullptr);
  std::string out = s ? s : "?";
  bson_free(s);
  return out;
}

// An owned copy of a document.
class Document {
 public:
  Document() : b_(bson_new()) {}
  explicit Document(const bson_t* src) : b_(bson_copy(src)) {}
  static Document from_json(const std::string& json) {
    bson_error_t error;
    bson_t* b = bson_new_from_json(reinterpret_cast<const uint8_t*>(json.data()),
                                   static_cast<ssize_t>(json.size()), &error);
    if (!b) {
      ADD_FAILURE() << "bad test JSON (" << error.message << "): " << json;
      b = bson_new();
    }
    Document d;
    bson_destroy(d.b_);
    d.b_ = b;
    return d;
  }
  Document(Document&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
  Document& operator=(Document&& o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  Document(const Document&) = delete;
  ~Document() {
    if (b_) bson_destroy(b_);
  }
  const bson_t* get() const { return b_; }
  bson_t* get() { return b_; }
  std::string json() const { return to_json(b_); }

  std::vector<std::string> keys() const { return keys_of(b_); }
  // The field names, in no particular order (a server may put `_id` or an
  // upsert's query fields first).
  std::set<std::string> key_set() const {
    auto k = keys_of(b_);
    return {k.begin(), k.end()};
  }
  static std::vector<std::string> keys_of(const bson_t* b) {
    std::vector<std::string> out;
    bson_iter_t it;
    if (bson_iter_init(&it, b))
      while (bson_iter_next(&it)) out.emplace_back(bson_iter_key(&it));
    return out;
  }
  bson_type_t type(const char* dotted) const {
    bson_iter_t it, found;
    if (bson_iter_init(&it, b_) && bson_iter_find_descendant(&it, dotted, &found))
      return bson_iter_type(&found);
    return BSON_TYPE_EOD;
  }
  std::optional<double> number(const char* dotted) const {
    bson_iter_t it, found;
    if (!bson_iter_init(&it, b_) || !bson_iter_find_descendant(&it, dotted, &found) ||
        !BSON_ITER_HOLDS_NUMBER(&found))
      return std::nullopt;
    return bson_iter_as_double(&found);
  }
  std::optional<std::string> text(const char* dotted) const {
    bson_iter_t it, found;
    if (!bson_iter_init(&it, b_) || !bson_iter_find_descendant(&it, dotted, &found) ||
        !BSON_ITER_HOLDS_UTF8(&found))
      return std::nullopt;
    return std::string(bson_iter_utf8(&found, nullptr));
  }
  // The documents of an array field.
  std::vector<Document> array(const char* key) const {
    std::vector<Document> out;
    bson_iter_t it, child;
    if (!bson_iter_init_find(&it, b_, key) || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &child))
      return out;
    while (bson_iter_next(&child)) {
      if (!BSON_ITER_HOLDS_DOCUMENT(&child)) continue;
      uint32_t len;
      const uint8_t* data;
      bson_iter_document(&child, &len, &data);
      bson_t item;
      if (bson_init_static(&item, data, len)) out.emplace_back(&item);
    }
    return out;
  }

 private:
  bson_t* b_;
};

class RawClient {
 public:
  explicit RawClient(const std::string& uri) {
    qc::mongo::ensure_driver();
    bson_error_t error;
    uri_ = mongoc_uri_new_with_error(uri.c_str(), &error);
    if (!uri_) {
      ADD_FAILURE() << "bad URI: " << error.message;
      return;
    }
    mongoc_uri_set_option_as_int32(uri_, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
    client_ = mongoc_client_new_from_uri(uri_);
    mongoc_client_set_error_api(client_, MONGOC_ERROR_API_VERSION_2);
  }
  ~RawClient() {
    if (client_) mongoc_client_destroy(client_);
    if (uri_) mongoc_uri_destroy(uri_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Runs a command; the reply (or the error) as a document.
  bool command(const std::string& db, const Document& cmd, Document* reply = nullptr,
               std::string* error_out = nullptr) {
    bson_t r;
    bson_error_t error;
    bool ok = mongoc_client_command_simple(client_, db.c_str(), cmd.get(), nullptr, &r, &error);
    if (reply) *reply = Document(&r);
    if (!ok && error_out) *error_out = error.message;
    bson_destroy(&r);
    return ok;
  }

  std::vector<Document> find(const std::string& db, const char* coll, const char* filter_json = "{}",
                             const char* sort_json = R"({"_id": 1})") {
    std::vector<Document> out;
    auto* c = mongoc_client_get_collection(client_, db.c_str(), coll);
    auto filter = Document::from_json(filter_json);
    Document opts;
    auto sort = Document::from_json(sort_json);
    BSON_APPEND_DOCUMENT(opts.get(), "sort", sort.get());
    auto* cursor = mongoc_collection_find_with_opts(c, filter.get(), opts.get(), nullptr);
    const bson_t* doc;
    while (mongoc_cursor_next(cursor, &doc)) out.emplace_back(doc);
    bson_error_t error;
    if (mongoc_cursor_error(cursor, &error)) ADD_FAILURE() << "find " << coll << ": " << error.message;
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(c);
    return out;
  }

  // Inserts a document given as (canonical or relaxed) extended JSON.
  bool insert(const std::string& db, const char* coll, const std::string& json,
              std::string* error_out = nullptr) {
    auto doc = Document::from_json(json);
    auto* c = mongoc_client_get_collection(client_, db.c_str(), coll);
    bson_error_t error;
    bool ok = mongoc_collection_insert_one(c, doc.get(), nullptr, nullptr, &error);
    if (!ok) {
      if (error_out) *error_out = error.message;
      else ADD_FAILURE() << "insert into " << coll << ": " << error.message << " " << json;
    }
    mongoc_collection_destroy(c);
    return ok;
  }

  void drop_database(const std::string& db) {
    auto cmd = Document::from_json(R"({"dropDatabase": 1})");
    command(db, cmd);
  }

  std::vector<std::string> collections(const std::string& db) {
    std::vector<std::string> out;
    auto* d = mongoc_client_get_database(client_, db.c_str());
    bson_error_t error;
    char** names = mongoc_database_get_collection_names_with_opts(d, nullptr, &error);
    if (names) {
      for (char** n = names; *n; ++n) out.emplace_back(*n);
      bson_strfreev(names);
    }
    mongoc_database_destroy(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::vector<Document> indexes(const std::string& db, const char* coll) {
    std::vector<Document> out;
    auto* c = mongoc_client_get_collection(client_, db.c_str(), coll);
    auto* cursor = mongoc_collection_find_indexes_with_opts(c, nullptr);
    const bson_t* doc;
    while (mongoc_cursor_next(cursor, &doc)) out.emplace_back(doc);
    bson_error_t error;
    if (mongoc_cursor_error(cursor, &error))
      ADD_FAILURE() << "listIndexes " << coll << ": " << error.message;
    mongoc_cursor_destroy(cursor);
    mongoc_collection_destroy(c);
    return out;
  }

  // The stand-in's failCommand fail point: the next `times` commands named
  // `command` fail with `code` (after doing their work with `after_apply`).
  void fail_next(const std::string& command, bool after_apply, int code = 8,
                 std::vector<std::string> labels = {}, int times = 1) {
    std::string json = R"({"configureFailPoint": "failCommand", "mode": {"times": )" +
                       std::to_string(times) + R"(}, "data": {"failCommands": [")" + command +
                       R"("], "errorCode": )" + std::to_string(code) +
                       R"(, "standinAfterApply": )" + (after_apply ? "true" : "false");
    if (!labels.empty()) {
      json += R"(, "errorLabels": [)";
      for (std::size_t i = 0; i < labels.size(); ++i) json += (i ? ",\"" : "\"") + labels[i] + "\"";
      json += "]";
    }
    json += "}}";
    std::string error;
    ASSERT_TRUE(command_admin(json, &error)) << error;
  }
  void clear_fail_points() {
    for (const char* name : {"find", "insert", "update", "delete", "commitTransaction"}) {
      std::string json = R"({"configureFailPoint": "failCommand", "mode": "off", "data": {"failCommands": [")" +
                         std::string(name) + R"("]}})";
      command_admin(json, nullptr);
    }
  }

 private:
  bool command_admin(const std::string& json, std::string* error) {
    return command("admin", Document::from_json(json), nullptr, error);
  }
  mongoc_uri_t* uri_ = nullptr;
  mongoc_client_t* client_ = nullptr;
};

// ---------------------------------------------------------------------------
// The contract suite, once per server.

template <Target T>
struct MongoAdapter {
  static std::unique_ptr<qc::Store> open(const fs::path& where) {
    return std::make_unique<qc::MongoStore>(server(T).uri, database_for(where));
  }
  static void drop(const fs::path& where) {
    auto s = server(T);
    if (!s.skip_reason.empty()) return;
    RawClient(s.uri).drop_database(database_for(where));
  }
  static void skip_unless_available() {
    auto s = server(T);
    if (!s.skip_reason.empty()) GTEST_SKIP() << target_name(T) << ": " << s.skip_reason;
  }
};
using MongoReplicaSetAdapter = MongoAdapter<Target::ReplicaSet>;
using MongoStandaloneAdapter = MongoAdapter<Target::Standalone>;
using MongoExternalAdapter = MongoAdapter<Target::External>;
using MongoReplicaSetTlsAdapter = MongoAdapter<Target::ReplicaSetTls>;

}  // namespace

namespace qc::store_contract {

// A skip recorded in the fixture's constructor keeps the test body from
// running (GoogleTest checks IsSkipped() before Run()).
#define QC_MONGO_CONTRACT_FIXTURE(Adapter)                                          \
  template <>                                                                       \
  StoreContract<Adapter>::StoreContract()                                           \
      : dir_("store-contract"), where_(dir_.path() / "quantcrunch.db") {            \
    Adapter::skip_unless_available();                                               \
  }
QC_MONGO_CONTRACT_FIXTURE(MongoReplicaSetAdapter)
QC_MONGO_CONTRACT_FIXTURE(MongoStandaloneAdapter)
QC_MONGO_CONTRACT_FIXTURE(MongoExternalAdapter)
QC_MONGO_CONTRACT_FIXTURE(MongoReplicaSetTlsAdapter)
#undef QC_MONGO_CONTRACT_FIXTURE

INSTANTIATE_TYPED_TEST_SUITE_P(MongoStandInReplicaSet, StoreContract,
                               ::testing::Types<MongoReplicaSetAdapter>);
INSTANTIATE_TYPED_TEST_SUITE_P(MongoStandInStandalone, StoreContract,
                               ::testing::Types<MongoStandaloneAdapter>);
INSTANTIATE_TYPED_TEST_SUITE_P(MongoExternal, StoreContract,
                               ::testing::Types<MongoExternalAdapter>);
// Over TLS: the whole contract on the replica set (Atlas is one); the
// standalone topology over TLS runs MongoInterruptedCommit below (ordered
// idempotent writes, interrupted and recommitted, restarts), not the whole
// contract again: each test here is a process of its own under ctest, with a
// stand-in of its own, about 2 s apiece.
INSTANTIATE_TYPED_TEST_SUITE_P(MongoStandInReplicaSetTls, StoreContract,
                               ::testing::Types<MongoReplicaSetTlsAdapter>);

}  // namespace qc::store_contract

namespace {

// ---------------------------------------------------------------------------
// Helpers for the MongoDB-specific tests

// Everything load() returns except the seqs (which are ObjectId-derived and
// so differ between two databases holding the same data).
void expect_same_content(const qc::StoredState& a, const qc::StoredState& b) {
  EXPECT_EQ(a.tickers, b.tickers);
  EXPECT_EQ(documents_of(a), documents_of(b));
  EXPECT_EQ(by_identity(a.open_positions), by_identity(b.open_positions));
  EXPECT_EQ(by_identity(a.closed_positions), by_identity(b.closed_positions));
  EXPECT_EQ(sorted(a.last_bars), sorted(b.last_bars));
}

std::set<std::pair<std::string, std::int64_t>> identities(const std::vector<qc::OpenPosition>& v) {
  std::set<std::pair<std::string, std::int64_t>> out;
  for (const auto& p : v) out.emplace(p.symbol, p.open_timestamp);
  return out;
}
std::set<std::pair<std::string, std::int64_t>> identities(const std::vector<qc::ClosedPosition>& v) {
  std::set<std::pair<std::string, std::int64_t>> out;
  for (const auto& c : v) out.emplace(c.position.symbol, c.position.open_timestamp);
  return out;
}

qc::MinuteBar bar(std::string symbol, double o, double h, double l, double c, std::int64_t start_s) {
  qc::MinuteBar b;
  b.symbol = std::move(symbol);
  b.open = o;
  b.high = h;
  b.low = l;
  b.close = c;
  b.volume = 100;
  b.start_ms = start_s * 1000;
  b.end_ms = b.start_ms + 60'000;
  return b;
}

// A Ledger over a store, as `quantcrunch serve` builds it.
struct LedgerOver {
  explicit LedgerOver(qc::Store& store) : ledger(store, cache, views) {}
  ~LedgerOver() { ledger.stop(); }
  std::string performance() const { return views.performance()->text(); }
  qc::MemoryCache cache;
  qc::ApiViews views;
  qc::Ledger ledger;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// One server per test; a fresh database per test, dropped afterwards.
class MongoStoreTest : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    auto s = server(GetParam());
    if (!s.skip_reason.empty()) GTEST_SKIP() << target_name(GetParam()) << ": " << s.skip_reason;
    uri_ = s.uri;
    raw_ = std::make_unique<RawClient>(uri_);
  }
  void TearDown() override {
    if (raw_) {
      if (standin()) raw_->clear_fail_points();
      for (const auto& db : databases_) raw_->drop_database(db);
    }
  }
  bool standin() const { return GetParam() != Target::External; }

  // A new database name for this test (dropped at the end).
  std::string fresh_database() {
    std::string name = database_for(dir_.path() / std::to_string(databases_.size()));
    databases_.push_back(name);
    return name;
  }
  std::unique_ptr<qc::MongoStore> open(const std::string& db) {
    return std::make_unique<qc::MongoStore>(uri_, db);
  }

  TempDir dir_{"mongo-store"};
  std::string uri_;
  std::unique_ptr<RawClient> raw_;
  std::vector<std::string> databases_;
};

std::string param_name(const ::testing::TestParamInfo<Target>& info) { return target_name(info.param); }

INSTANTIATE_TEST_SUITE_P(Mongo, MongoStoreTest,
                         ::testing::Values(Target::ReplicaSet, Target::Standalone, Target::External),
                         param_name);

// The earlier service's documents as pymongo wrote them: Python ints are
// int32, datetime.timestamp() is a double, no exit_price, no qc_digest.
constexpr const char* kLegacyOid = "60ec5a740000000000000001";
const std::string kLegacyRecommendation = R"({
  "_id": {"$oid": "60ec5a740000000000000001"},
  "us-date": "2021-07-12 10:59:00", "sg-date": "2021-07-12 22:59:00",
  "recommendations": [
    {"symbol": "AAPL", "targetPrice": {"$numberInt": "150"}, "currentPrice": {"$numberDouble": "145.1"}},
    {"symbol": "NVDA", "targetPrice": {"$numberInt": "220"}, "currentPrice": {"$numberInt": "200"}}
  ]})";
const std::string kLegacyOpenNvda = R"({
  "symbol": "NVDA", "target_price": {"$numberInt": "220"}, "entry_price": {"$numberInt": "200"},
  "open_timestamp": {"$numberDouble": "1626101940.0"}, "stop_loss": {"$numberDouble": "180.0"},
  "expected_profit": {"$numberDouble": "10.0"}})";
// AAPL closed at its target 150 (pnl 3.3769813921433536 %), in July 2021.
const std::string kLegacyPerformanceJuly = R"({
  "month": {"$numberInt": "1625097600"}, "realized_pnl": {"$numberDouble": "3.3769813921433536"},
  "positions": [{
    "symbol": "AAPL", "target_price": {"$numberInt": "150"}, "entry_price": {"$numberDouble": "145.1"},
    "open_timestamp": {"$numberDouble": "1626101940.0"}, "stop_loss": {"$numberDouble": "130.59"},
    "pnl": {"$numberDouble": "3.3769813921433536"}, "notes": "Reached target price",
    "close_timestamp": {"$numberDouble": "1626102060.0"}}]})";

TEST_P(MongoStoreTest, EarlierServiceDocumentsLoad) {
  auto db = fresh_database();
  ASSERT_TRUE(raw_->insert(db, "tickers", R"({"symbol": "AAPL", "exchange": "NASDAQ", "name": "Apple Inc."})"));
  ASSERT_TRUE(raw_->insert(db, "tickers", R"({"symbol": "NVDA", "exchange": "NASDAQ", "name": "NVIDIA Corporation"})"));
  ASSERT_TRUE(raw_->insert(db, "recommendations", kLegacyRecommendation));
  ASSERT_TRUE(raw_->insert(db, "open_positions", kLegacyOpenNvda));
  ASSERT_TRUE(raw_->insert(db, "performance", kLegacyPerformanceJuly));

  auto store = open(db);
  auto state = store->load();
  // Tickers already there: not seeded.
  EXPECT_EQ(state.tickers, (std::vector<qc::Ticker>{{"AAPL", "NASDAQ", "Apple Inc."},
                                                    {"NVDA", "NASDAQ", "NVIDIA Corporation"}}));
  EXPECT_EQ(raw_->find(db, "tickers").size(), 2u);

  ASSERT_EQ(state.documents.size(), 1u);
  EXPECT_EQ(state.documents[0].document,
            document("2021-07-12 10:59:00", "2021-07-12 22:59:00", {{"AAPL", 150, 145.1}, {"NVDA", 220, 200}}));
  bson_oid_t oid;
  bson_oid_init_from_string(&oid, kLegacyOid);
  EXPECT_EQ(state.documents[0].seq, qc::mongo::object_id_order(oid));

  auto nvda = position("NVDA", kT0, 200, 220);
  ASSERT_EQ(state.open_positions.size(), 1u);
  EXPECT_EQ(state.open_positions[0], nvda);

  ASSERT_EQ(state.closed_positions.size(), 1u);
  const auto& aapl = state.closed_positions[0];
  EXPECT_EQ(aapl.position.symbol, "AAPL");
  EXPECT_EQ(aapl.position.open_timestamp, kT0);
  EXPECT_EQ(aapl.position.entry_price, 145.1);
  EXPECT_EQ(aapl.position.target_price, 150);
  EXPECT_EQ(aapl.position.stop_loss, 130.59);
  EXPECT_EQ(aapl.reason, qc::CloseReason::TargetPrice);
  EXPECT_EQ(aapl.close_timestamp, 1626102060.0);
  EXPECT_EQ(aapl.pnl, 3.3769813921433536);
  EXPECT_NEAR(aapl.exit_price, 150.0, 1e-9) << "exit_price derived from entry_price and pnl";

  // The same identities written by this server match the legacy numbers
  // (double open_timestamp, int32 month): no second open document, the
  // closed AAPL is never reopened, the July document is extended.
  qc::ChangeSet again;
  again.opened = {nvda, position("AAPL", kT0, 145.1, 150)};
  store->commit(again);
  EXPECT_EQ(raw_->find(db, "open_positions").size(), 1u);
  auto reloaded = store->load();
  EXPECT_EQ(reloaded.open_positions, std::vector<qc::OpenPosition>{nvda});
  EXPECT_EQ(reloaded.closed_positions.size(), 1u);

  qc::ChangeSet closing;
  auto nvda_closed = qc::store_contract::closed(nvda, 220, 1626102300, qc::CloseReason::TargetPrice);
  closing.closed = {nvda_closed};
  closing.last_bars = {{"NVDA", (kT0 + 300) * 1000}};
  store->commit(closing);
  EXPECT_TRUE(raw_->find(db, "open_positions").empty())
      << "the legacy open position (double open_timestamp) was not removed on close";
  auto months = raw_->find(db, "performance");
  ASSERT_EQ(months.size(), 1u) << "a second July document was created next to the legacy one";
  EXPECT_EQ(months[0].array("positions").size(), 2u);
  EXPECT_EQ(*months[0].number("realized_pnl"), 3.3769813921433536 + nvda_closed.pnl);

  store = open(db);
  auto after = store->load();
  EXPECT_TRUE(after.open_positions.empty());
  ASSERT_EQ(after.closed_positions.size(), 2u);
  EXPECT_EQ(by_identity(after.closed_positions)[1], nvda_closed);
}

TEST_P(MongoStoreTest, LegacyDocumentWithoutSgDateOrWithBadItemsLoadsItsValidPart) {
  auto db = fresh_database();
  ASSERT_TRUE(raw_->insert(db, "recommendations", R"({
    "us-date": "2021-07-12 10:59:00",
    "recommendations": [{"symbol": "AAPL", "targetPrice": 150, "currentPrice": 145},
                        {"symbol": "NVDA", "targetPrice": "high", "currentPrice": 200}]})"));
  ASSERT_TRUE(raw_->insert(db, "recommendations", R"({"sg-date": "2021-07-12 22:59:00", "recommendations": []})"));
  auto state = open(db)->load();
  ASSERT_EQ(state.documents.size(), 1u) << "a document without us-date is skipped";
  EXPECT_EQ(state.documents[0].document.us_date, "2021-07-12 10:59:00");
  ASSERT_EQ(state.documents[0].document.items.size(), 1u);
  EXPECT_EQ(state.documents[0].document.items[0].symbol, "AAPL");
}

TEST_P(MongoStoreTest, WritesSpecFieldNames) {
  auto db = fresh_database();
  auto store = open(db);
  auto doc = document("2021-07-12 10:59:00", "2021-07-12 22:59:00", {{"AAPL", 150.2, 145.1}, {"NVDA", 220, 200}});
  auto aapl = position("AAPL", kT0, 145.1, 150.2);
  auto nvda = position("NVDA", kT0, 200, 220);
  qc::ChangeSet changes;
  changes.new_documents = {doc};
  changes.opened = {aapl, nvda};
  changes.closed = {qc::store_contract::closed(nvda, nvda.stop_loss, 1626102300, qc::CloseReason::StopLoss)};
  changes.last_bars = {{"NVDA", (kT0 + 300) * 1000}};
  store->load();  // seeds the tickers
  store->commit(changes);

  using Keys = std::vector<std::string>;
  using KeySet = std::set<std::string>;
  auto tickers = raw_->find(db, "tickers");
  ASSERT_EQ(tickers.size(), 11u);
  for (std::size_t i = 0; i < tickers.size(); ++i) {
    EXPECT_EQ(tickers[i].key_set(), (KeySet{"_id", "symbol", "exchange", "name"})) << tickers[i].json();
    EXPECT_EQ(*tickers[i].text("symbol"), spec_tickers()[i].symbol);
  }

  auto recs = raw_->find(db, "recommendations");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].key_set(), (KeySet{"_id", "us-date", "sg-date", "recommendations", "qc_digest"})) << recs[0].json();
  EXPECT_EQ(recs[0].type("_id"), BSON_TYPE_OID);
  EXPECT_EQ(*recs[0].text("us-date"), "2021-07-12 10:59:00");
  EXPECT_EQ(*recs[0].text("sg-date"), "2021-07-12 22:59:00");
  auto items = recs[0].array("recommendations");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].keys(), (Keys{"symbol", "targetPrice", "currentPrice"})) << recs[0].json();
  EXPECT_EQ(*items[0].text("symbol"), "AAPL");
  EXPECT_EQ(*items[0].number("targetPrice"), 150.2);
  EXPECT_EQ(*items[0].number("currentPrice"), 145.1);

  auto open_docs = raw_->find(db, "open_positions");
  ASSERT_EQ(open_docs.size(), 1u);
  const auto& o = open_docs[0];
  EXPECT_EQ(o.key_set(), (KeySet{"_id", "symbol", "target_price", "entry_price", "open_timestamp", "stop_loss",
                            "expected_profit"}))
      << o.json();
  EXPECT_EQ(*o.text("symbol"), "AAPL");
  EXPECT_EQ(*o.number("open_timestamp"), static_cast<double>(kT0));
  EXPECT_EQ(*o.number("entry_price"), 145.1);
  EXPECT_EQ(*o.number("target_price"), 150.2);
  EXPECT_EQ(*o.number("stop_loss"), aapl.stop_loss);
  EXPECT_EQ(*o.number("expected_profit"), aapl.expected_profit);

  auto months = raw_->find(db, "performance");
  ASSERT_EQ(months.size(), 1u);
  EXPECT_EQ(months[0].key_set(), (KeySet{"_id", "month", "realized_pnl", "positions"})) << months[0].json();
  EXPECT_EQ(*months[0].number("month"), 1625097600.0) << "month: UNIX time of 2021-07-01 00:00 UTC";
  EXPECT_EQ(*months[0].number("realized_pnl"), changes.closed[0].pnl);
  auto positions = months[0].array("positions");
  ASSERT_EQ(positions.size(), 1u);
  EXPECT_EQ(positions[0].keys(), (Keys{"symbol", "target_price", "entry_price", "open_timestamp", "stop_loss",
                                       "pnl", "notes", "close_timestamp", "exit_price"}))
      << months[0].json();
  EXPECT_EQ(*positions[0].text("notes"), "Reached stop loss");
  EXPECT_EQ(*positions[0].number("exit_price"), nvda.stop_loss);
  EXPECT_EQ(*positions[0].number("close_timestamp"), 1626102300.0);

  auto bars = raw_->find(db, "qc_last_bars");
  ASSERT_EQ(bars.size(), 1u);
  EXPECT_EQ(*bars[0].text("_id"), "NVDA");
  EXPECT_EQ(bars[0].type("start_ms"), BSON_TYPE_INT64);

  // Nothing but the §5 collections and the server's own qc_* ones.
  for (const auto& name : raw_->collections(db)) {
    static const std::set<std::string> allowed = {"tickers", "recommendations", "open_positions",
                                                  "performance", "qc_last_bars", "qc_watcher"};
    EXPECT_TRUE(allowed.count(name)) << "unexpected collection " << name;
  }
}

TEST_P(MongoStoreTest, DefaultDatabaseIsQuantcrunch) {
  if (!standin()) GTEST_SKIP() << "would create indexes in the real server's `quantcrunch` database";
  qc::MongoStore store(uri_);
  EXPECT_EQ(store.database(), "quantcrunch");
  EXPECT_EQ(store.kind(), "mongodb");
  EXPECT_EQ(store.location(), uri_);
  EXPECT_EQ(store.transactions(), replica_set(GetParam()));
  EXPECT_EQ(store.change_streams(), replica_set(GetParam()));
  databases_.push_back("quantcrunch");
}

TEST_P(MongoStoreTest, UniqueIndexesExist) {
  auto db = fresh_database();
  open(db)->load();
  struct Expected {
    const char* collection;
    std::vector<std::string> keys;
    bool sparse;
  };
  for (const auto& e : {Expected{"open_positions", {"symbol", "open_timestamp"}, false},
                        Expected{"performance", {"month"}, false},
                        Expected{"recommendations", {"qc_digest"}, true}}) {
    bool found = false;
    std::string all;
    for (const auto& index : raw_->indexes(db, e.collection)) {
      all += index.json() + " ";
      Document key;
      bson_iter_t it;
      if (!bson_iter_init_find(&it, index.get(), "key") || !BSON_ITER_HOLDS_DOCUMENT(&it)) continue;
      uint32_t len;
      const uint8_t* data;
      bson_iter_document(&it, &len, &data);
      bson_t k;
      bson_init_static(&k, data, len);
      if (Document::keys_of(&k) != e.keys) continue;
      found = true;
      bson_iter_t u;
      EXPECT_TRUE(bson_iter_init_find(&u, index.get(), "unique") && bson_iter_as_bool(&u))
          << e.collection << ": " << index.json();
      if (e.sparse) {
        EXPECT_TRUE(bson_iter_init_find(&u, index.get(), "sparse") && bson_iter_as_bool(&u))
            << e.collection << ": " << index.json();
      }
    }
    EXPECT_TRUE(found) << "no index on " << e.collection << "; indexes: " << all;
  }
  // ...and they are enforced.
  const char* p = R"({"symbol": "AAPL", "open_timestamp": {"$numberLong": "1626101940"}, "entry_price": 1,
                      "target_price": 2, "stop_loss": 0.9, "expected_profit": 100})";
  ASSERT_TRUE(raw_->insert(db, "open_positions", p));
  std::string error;
  EXPECT_FALSE(raw_->insert(db, "open_positions", p, &error));
  EXPECT_TRUE(contains(error, "E11000") || contains(error, "duplicate")) << error;
  // Documents without qc_digest (the algorithm's own) are not constrained.
  ASSERT_TRUE(raw_->insert(db, "recommendations", R"({"us-date": "2021-07-12 10:59:00", "recommendations": []})"));
  ASSERT_TRUE(raw_->insert(db, "recommendations", R"({"us-date": "2021-07-12 10:59:00", "recommendations": []})"));
}

TEST_P(MongoStoreTest, PositionBothOpenAndClosedIsClosedForTheLedger) {
  // What an interrupted standalone close leaves behind: the position was
  // pushed into its month but not yet deleted from open_positions.
  auto db = fresh_database();
  ASSERT_TRUE(raw_->insert(db, "open_positions", kLegacyOpenNvda));
  ASSERT_TRUE(raw_->insert(db, "performance", R"({
    "month": {"$numberLong": "1625097600"}, "realized_pnl": {"$numberDouble": "-10.0"},
    "positions": [{"symbol": "NVDA", "target_price": 220.0, "entry_price": 200.0,
      "open_timestamp": {"$numberLong": "1626101940"}, "stop_loss": 180.0, "pnl": -10.0,
      "notes": "Reached stop loss", "close_timestamp": 1626102300.0, "exit_price": 180.0}]})"));
  auto store = open(db);
  {
    LedgerOver l(*store);
    auto c = l.ledger.counters();
    EXPECT_EQ(c.open_positions, 0u);
    EXPECT_EQ(c.closed_positions, 1u);
    EXPECT_TRUE(contains(l.performance(), R"("symbol":"NVDA")")) << l.performance();
    auto cached = l.cache.get_list("open_positions");
    EXPECT_TRUE(!cached || cached->empty());
    // A bar that would close it again closes nothing.
    ASSERT_TRUE(l.ledger.submit_bars({bar("NVDA", 150, 151, 149, 150, kT0 + 600)}));
    l.ledger.flush();
    EXPECT_EQ(l.ledger.counters().closed_positions, 1u);
  }
  auto months = raw_->find(db, "performance");
  ASSERT_EQ(months.size(), 1u);
  EXPECT_EQ(months[0].array("positions").size(), 1u);
  EXPECT_EQ(*months[0].number("realized_pnl"), -10.0);
}

TEST_P(MongoStoreTest, LoadReportsAPositionBothOpenAndClosedAsClosedOnly) {
  // mongo_store.h: "load() treats a position found both open and closed as
  // closed." (store.h: a commit is all-or-nothing for the next load()).
  auto db = fresh_database();
  ASSERT_TRUE(raw_->insert(db, "open_positions", kLegacyOpenNvda));
  ASSERT_TRUE(raw_->insert(db, "performance", R"({
    "month": {"$numberLong": "1625097600"}, "realized_pnl": -10.0,
    "positions": [{"symbol": "NVDA", "target_price": 220.0, "entry_price": 200.0,
      "open_timestamp": {"$numberLong": "1626101940"}, "stop_loss": 180.0, "pnl": -10.0,
      "notes": "Reached stop loss", "close_timestamp": 1626102300.0, "exit_price": 180.0}]})"));
  auto state = open(db)->load();
  EXPECT_EQ(state.closed_positions.size(), 1u);
  EXPECT_TRUE(state.open_positions.empty())
      << "load() returned NVDA@1626101940 both in open_positions and closed_positions";
}

// ---------------------------------------------------------------------------
// Never a partial state (SPEC §9)

TEST_P(MongoStoreTest, LoadRefusesARecordItCannotDecodeNamingCollectionAndId) {
  struct Case {
    const char* collection;
    std::string json;
    std::vector<std::string> named;  // parts the error must contain
  };
  const char* const kClosed = R"("symbol": "AAPL", "target_price": 150, "entry_price": 145.1,
      "open_timestamp": 1626101940, "stop_loss": 130.59, "close_timestamp": 1626102060.0)";
  const std::vector<Case> cases = {
      {"tickers",
       R"({"_id": "t1", "exchange": "NYSE", "name": "No Symbol Inc."})",
       {"tickers", "\"t1\"", "symbol", "missing"}},
      {"tickers", R"({"_id": "t2", "symbol": "AAPL", "name": 7})", {"tickers", "\"t2\"", "name"}},
      {"open_positions",
       R"({"_id": "o1", "symbol": "NVDA", "target_price": 220, "open_timestamp": 1626101940,
           "stop_loss": 180})",
       {"open_positions", "\"o1\"", "entry_price", "missing"}},
      {"open_positions",
       R"({"_id": "o2", "symbol": "NVDA", "target_price": 220, "entry_price": "200",
           "open_timestamp": 1626101940, "stop_loss": 180})",
       {"open_positions", "\"o2\"", "entry_price", "a number"}},
      {"performance",
       R"({"_id": "m1", "month": 1625097600, "realized_pnl": 0})",
       {"performance", "\"m1\"", "positions"}},
      {"performance",
       (std::string(R"({"_id": "m2", "month": 1625097600, "realized_pnl": 3.4, "positions": [{)") +
        kClosed + R"(, "pnl": 3.4, "notes": "Closed by hand"}]})"),
       {"performance", "\"m2\"", "positions[0]", "notes", "Closed by hand"}},
      {"performance",
       (std::string(R"({"_id": "m3", "month": 1625097600, "realized_pnl": 3.4, "positions": [{)") +
        kClosed + R"(, "notes": "Reached target price"}]})"),
       {"performance", "\"m3\"", "positions[0]", "pnl", "missing"}},
      {"qc_last_bars", R"({"_id": "AAPL"})", {"qc_last_bars", "\"AAPL\"", "start_ms"}},
      {"qc_last_bars",
       R"({"_id": "AAPL", "start_ms": "soon"})",
       {"qc_last_bars", "\"AAPL\"", "start_ms", "a number"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.collection) + " " + c.json);
    auto db = fresh_database();
    ASSERT_TRUE(raw_->insert(db, c.collection, c.json));
    try {
      auto state = open(db)->load();
      ADD_FAILURE() << "load() read it (" << state.tickers.size() << " tickers, "
                    << state.open_positions.size() << " open, " << state.closed_positions.size()
                    << " closed, " << state.last_bars.size() << " last bars)";
    } catch (const qc::StoreError& e) {
      std::string what = e.what();
      for (const auto& part : c.named) EXPECT_TRUE(contains(what, part)) << part << " in: " << what;
    }
  }
}

TEST_P(MongoStoreTest, OptionalFieldsMayBeAbsentOrNull) {
  // exchange/name of a ticker, expected_profit of a position, exit_price of
  // a closed one (the earlier service wrote none): derived, never refused.
  auto db = fresh_database();
  ASSERT_TRUE(raw_->insert(db, "tickers", R"({"symbol": "AAPL"})"));
  ASSERT_TRUE(raw_->insert(db, "tickers", R"({"symbol": "NVDA", "exchange": null, "name": null})"));
  ASSERT_TRUE(raw_->insert(db, "open_positions", R"({"symbol": "NVDA", "target_price": 220,
      "entry_price": 200, "open_timestamp": 1626101940, "stop_loss": 180})"));
  ASSERT_TRUE(raw_->insert(db, "performance", R"({"month": 1625097600, "realized_pnl": 3.4,
      "positions": [{"symbol": "AAPL", "target_price": 150, "entry_price": 145.1,
      "open_timestamp": 1626101940, "stop_loss": 130.59, "pnl": 3.3769813921433536,
      "notes": "Reached target price", "close_timestamp": 1626102060.0, "exit_price": null}]})"));
  auto state = open(db)->load();
  EXPECT_EQ(state.tickers, (std::vector<qc::Ticker>{{"AAPL", "", "AAPL"}, {"NVDA", "", "NVDA"}}));
  ASSERT_EQ(state.open_positions.size(), 1u);
  EXPECT_EQ(state.open_positions[0].expected_profit, (220.0 - 200.0) / 200.0 * 100);
  ASSERT_EQ(state.closed_positions.size(), 1u);
  EXPECT_NEAR(state.closed_positions[0].exit_price, 150.0, 1e-9);
}

TEST_P(MongoStoreTest, LoadThrowsWhenAFindFails) {
  if (!standin()) GTEST_SKIP() << "fail points are only used against the stand-in";
  auto db = fresh_database();
  auto store = open(db);
  raw_->fail_next("find", false);
  try {
    store->load();
    FAIL() << "load() returned although its first find failed";
  } catch (const qc::StoreError& e) {
    EXPECT_TRUE(contains(e.what(), "tickers")) << e.what();
  }
}

TEST_P(MongoStoreTest, LoadThrowsWhenAGetMoreFails) {
  if (!standin()) GTEST_SKIP() << "fail points are only used against the stand-in";
  // More open positions than a first batch holds (101): the rest comes by getMore.
  auto db = fresh_database();
  qc::ChangeSet many;
  for (int i = 0; i < 150; ++i) many.opened.push_back(position("AAPL", kT0 + i * 60, 100, 110));
  open(db)->commit(many);
  auto store = open(db);
  ASSERT_EQ(store->load().open_positions.size(), 150u);
  raw_->fail_next("getMore", false);
  try {
    auto state = store->load();
    FAIL() << "load() returned " << state.open_positions.size() << " of 150 open positions";
  } catch (const qc::StoreError& e) {
    EXPECT_TRUE(contains(e.what(), "open_positions")) << e.what();
  }
}

// ---------------------------------------------------------------------------
// Readiness and writability

// The stand-in's failCommand with blockConnection: the next `times` pings
// are answered only after `ms`.
void block_pings(RawClient& raw, int ms, int times) {
  auto cmd = Document::from_json(
      R"({"configureFailPoint": "failCommand", "mode": {"times": )" + std::to_string(times) +
      R"(}, "data": {"failCommands": ["ping"], "blockConnection": true, "blockTimeMS": )" +
      std::to_string(ms) + "}}");
  std::string error;
  ASSERT_TRUE(raw.command("admin", cmd, nullptr, &error)) << error;
}
void unblock_pings(RawClient& raw) {
  raw.command("admin", Document::from_json(R"({"configureFailPoint": "failCommand",
      "mode": "off", "data": {"failCommands": ["ping"]}})"));
}

TEST_P(MongoStoreTest, HealthAnswersWithinAFewSecondsWhenTheServerDoesNotAnswer) {
  if (!standin()) GTEST_SKIP() << "fail points are only used against the stand-in";
  auto store = open(fresh_database());
  ASSERT_TRUE(store->health().ok);
  block_pings(*raw_, 15000, 1);
  auto health = std::async(std::launch::async, [&] { return store->health(); });
  ASSERT_EQ(health.wait_for(std::chrono::seconds(6)), std::future_status::ready)
      << "health() waited for a server that does not answer";
  auto h = health.get();
  EXPECT_FALSE(h.ok);
  EXPECT_FALSE(h.detail.empty());
  unblock_pings(*raw_);
  // ...and is ok again once the server answers.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!store->health().ok && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(store->health().ok);
}

TEST_P(MongoStoreTest, ConcurrentHealthCallsShareOnePing) {
  if (!standin()) GTEST_SKIP() << "fail points are only used against the stand-in";
  auto store = open(fresh_database());
  ASSERT_TRUE(store->health().ok);
  block_pings(*raw_, 15000, 10);
  std::vector<std::future<qc::StoreHealth>> calls;
  for (int i = 0; i < 5; ++i)
    calls.push_back(std::async(std::launch::async, [&] { return store->health(); }));
  // One after another, five 2-second pings would take 10 s.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(6);
  for (auto& c : calls) {
    ASSERT_EQ(c.wait_until(deadline), std::future_status::ready) << "health() calls queued";
    EXPECT_FALSE(c.get().ok);
  }
  unblock_pings(*raw_);
}

TEST_P(MongoStoreTest, ProbeWriteUpsertsOneHeartbeatInQcWatcher) {
  auto db = fresh_database();
  auto store = open(db);
  store->load();
  store->probe_write();
  store->probe_write();
  auto state = raw_->find(db, "qc_watcher");
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0].text("_id"), "write_probe");
  EXPECT_EQ(state[0].type("written_at"), BSON_TYPE_DATE_TIME);
  EXPECT_EQ(state[0].key_set(), (std::set<std::string>{"_id", "written_at"}));
}

TEST_P(MongoStoreTest, ProbeWriteFailsWhenTheServerRefusesTheWrite) {
  if (!standin()) GTEST_SKIP() << "fail points are only used against the stand-in";
  auto store = open(fresh_database());
  raw_->fail_next("update", false);
  try {
    store->probe_write();
    FAIL() << "probe_write() succeeded although the update failed";
  } catch (const qc::StoreError& e) {
    EXPECT_TRUE(contains(e.what(), "write probe")) << e.what();
  }
  EXPECT_NO_THROW(store->probe_write());
}

TEST(MongoStoreUri, InvalidUriIsAStoreErrorWithoutThePassword) {
  try {
    qc::MongoStore store("mongodb://qcuser:s3cretpw@/?replicaSet=");
    FAIL() << "an invalid URI was accepted";
  } catch (const qc::StoreError& e) {
    std::string what = e.what();
    EXPECT_FALSE(contains(what, "s3cretpw")) << what;
    EXPECT_TRUE(contains(what, "MONGO_ATLAS_URI")) << what;
  }
}

TEST(MongoStoreUri, AuthenticationFailureIsAStoreErrorWithoutThePassword) {
  auto s = server(Target::Standalone);
  if (!s.skip_reason.empty()) GTEST_SKIP() << s.skip_reason;
  // The stand-in has no authentication: SCRAM fails.
  auto at = s.uri.find("127.0.0.1");
  ASSERT_NE(at, std::string::npos) << s.uri;
  std::string uri = "mongodb://qcuser:s3cretpw@" + s.uri.substr(at);
  uri += "&serverSelectionTimeoutMS=3000";
  ::testing::internal::CaptureStderr();
  std::string what;
  try {
    qc::MongoStore store(uri, "qct_auth");
  } catch (const qc::StoreError& e) {
    what = e.what();
  }
  std::string logged = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(what.empty()) << "connecting with credentials to a server without authentication succeeded";
  EXPECT_FALSE(contains(what, "s3cretpw")) << what;
  EXPECT_TRUE(contains(what, "qcuser:***@")) << what;
  EXPECT_FALSE(contains(logged, "s3cretpw")) << logged;
}

TEST(MongoStoreUri, UnreachableServerIsAStoreError) {
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(qc::MongoStore("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500&connectTimeoutMS=500"),
               qc::StoreError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10))
      << "URI timeouts are honoured";
}

// ---------------------------------------------------------------------------
// Interrupted commits (stand-in fail points)

struct Interruption {
  const char* command;
  bool after_apply;  // the write happened, its acknowledgement was lost
};

std::string describe(const Interruption& i) {
  return std::string(i.command) + (i.after_apply ? " (applied, reply lost)" : " (not applied)");
}

// Base: one document, AMZN open. X: two documents opening AAPL, NVDA, C;
// closing AMZN (opened by the base) and NVDA (opened by X); three last bars.
struct Scenario {
  qc::RecommendationDocument doc0 = document("2021-07-12 10:00:00", "2021-07-12 22:00:00", {{"AMZN", 3800, 3700}});
  qc::RecommendationDocument doc_a =
      document("2021-07-12 10:59:00", "2021-07-12 22:59:00", {{"AAPL", 150.2, 145.1}, {"NVDA", 220, 200}});
  qc::RecommendationDocument doc_b = document("2021-07-12 11:01:00", "2021-07-12 23:01:00", {{"C", 66, 60}});
  qc::OpenPosition amzn = position("AMZN", kT0 - 3540, 3700, 3800);
  qc::OpenPosition aapl = position("AAPL", kT0, 145.1, 150.2);
  qc::OpenPosition nvda = position("NVDA", kT0, 200, 220);
  qc::OpenPosition c = position("C", kT1, 60, 66);
  qc::ChangeSet base() const {
    qc::ChangeSet s;
    s.new_documents = {doc0};
    s.opened = {amzn};
    s.last_bars = {{"AMZN", (kT0 - 3540) * 1000}};
    return s;
  }
  qc::ChangeSet x() const {
    qc::ChangeSet s;
    s.new_documents = {doc_a, doc_b};
    s.opened = {aapl, nvda, c};
    s.closed = {qc::store_contract::closed(amzn, amzn.stop_loss, 1626102300, qc::CloseReason::StopLoss),
                qc::store_contract::closed(nvda, 220, 1626102360, qc::CloseReason::TargetPrice)};
    s.last_bars = {{"AMZN", (kT0 + 300) * 1000}, {"NVDA", (kT0 + 360) * 1000}, {"AAPL", (kT0 + 360) * 1000}};
    // Its webhook events (SPEC §4.9), written with it.
    constexpr std::int64_t e0 = 1714521600000000;
    s.events = {{e0 + 1, "opened", R"({"symbol":"AAPL"})"}, {e0 + 2, "opened", R"({"symbol":"NVDA"})"},
                {e0 + 3, "opened", R"({"symbol":"C"})"},    {e0 + 4, "closed", R"({"symbol":"AMZN"})"},
                {e0 + 5, "quotes", R"({"tickerlist":[]})"}, {e0 + 6, "closed", R"({"symbol":"NVDA"})"}};
    return s;
  }
  // The events of x() the outbox keeps.
  std::vector<qc::LiveEvent> x_outbox() const {
    std::vector<qc::LiveEvent> out;
    for (const auto& e : x().events)
      if (e.durable()) out.push_back(e);
    return out;
  }
};

class MongoInterruptedCommit : public MongoStoreTest {
 protected:
  // A database holding base() + x() committed once, undisturbed.
  std::string reference() {
    auto db = fresh_database();
    auto store = open(db);
    store->commit(s_.base());
    store->commit(s_.x());
    return db;
  }
  // Raw performance documents as (month, realized_pnl, number of positions).
  std::vector<std::tuple<double, double, std::size_t>> months(const std::string& db) {
    std::vector<std::tuple<double, double, std::size_t>> out;
    for (const auto& m : raw_->find(db, "performance", "{}", R"({"month": 1})"))
      out.emplace_back(m.number("month").value_or(-1), m.number("realized_pnl").value_or(-1),
                       m.array("positions").size());
    return out;
  }
  std::set<std::pair<std::string, std::int64_t>> raw_open(const std::string& db) {
    std::set<std::pair<std::string, std::int64_t>> out;
    for (const auto& o : raw_->find(db, "open_positions"))
      out.emplace(*o.text("symbol"), static_cast<std::int64_t>(*o.number("open_timestamp")));
    return out;
  }
  std::string ledger_performance(const std::string& db) {
    auto store = open(db);
    LedgerOver l(*store);
    return l.performance();
  }

  Scenario s_;
};

INSTANTIATE_TEST_SUITE_P(Mongo, MongoInterruptedCommit,
                         ::testing::Values(Target::ReplicaSet, Target::Standalone,
                                           Target::ReplicaSetTls, Target::StandaloneTls),
                         param_name);

const Interruption kInterruptions[] = {
    {"find", false},   {"insert", false}, {"insert", true}, {"update", false},
    {"update", true},  {"delete", false}, {"delete", true},
};

TEST_P(MongoInterruptedCommit, RecommitAfterAnInterruptionGivesTheStateOfOneCommit) {
  auto ref = reference();
  auto ref_state = open(ref)->load();
  auto ref_months = months(ref);
  auto ref_performance = ledger_performance(ref);
  ASSERT_EQ(ref_state.closed_positions.size(), 2u);
  ASSERT_EQ(ref_state.open_positions.size(), 2u);  // AAPL, C

  for (const auto& interruption : kInterruptions) {
    SCOPED_TRACE(describe(interruption));
    auto db = fresh_database();
    auto store = open(db);
    store->commit(s_.base());
    auto before = store->load();

    raw_->fail_next(interruption.command, interruption.after_apply);
    EXPECT_THROW(store->commit(s_.x()), qc::StoreError);
    raw_->clear_fail_points();

    auto mid = open(db)->load();
    auto mid_events = open(db)->open_outbox()->events_after(0, 100);
    if (replica_set(GetParam())) {
      // One transaction: none of it.
      expect_same_content(before, mid);
      EXPECT_EQ(months(db).size(), 0u);
      EXPECT_TRUE(mid_events.empty());
    } else {
      // The outbox is written last: an event is never there without the
      // whole change.
      if (!mid_events.empty()) expect_same_content(ref_state, mid);
      // Ordered writes: a prefix. Documents in order, nothing closed that
      // the full commit does not close, and the ledger counts each identity once.
      auto docs = documents_of(mid);
      auto all = std::vector<qc::RecommendationDocument>{s_.doc0, s_.doc_a, s_.doc_b};
      ASSERT_LE(docs.size(), all.size());
      EXPECT_TRUE(std::equal(docs.begin(), docs.end(), all.begin()));
      for (const auto& c : mid.closed_positions)
        EXPECT_TRUE(std::find(ref_state.closed_positions.begin(), ref_state.closed_positions.end(), c) !=
                    ref_state.closed_positions.end());
      auto closed_ids = identities(mid.closed_positions);
      std::size_t open_only = 0;
      for (const auto& id : identities(mid.open_positions)) open_only += !closed_ids.count(id);
      auto reopened = open(db);
      LedgerOver l(*reopened);
      EXPECT_EQ(l.ledger.counters().closed_positions, closed_ids.size());
      EXPECT_EQ(l.ledger.counters().open_positions, open_only);
    }

    // The ledger's retry after a restart: the same ChangeSet again.
    store = open(db);
    store->commit(s_.x());
    auto after = store->load();
    expect_same_content(ref_state, after);
    EXPECT_EQ(months(db), ref_months) << "performance documents differ (a close counted twice?)";
    EXPECT_EQ(raw_open(db), raw_open(ref));
    EXPECT_EQ(ledger_performance(db), ref_performance);
    EXPECT_EQ(raw_->find(db, "recommendations").size(), 3u);
    EXPECT_EQ(store->open_outbox()->events_after(0, 100), s_.x_outbox()) << "each event once";
    EXPECT_EQ(store->load().last_event_id, s_.x_outbox().back().id);
  }
}

TEST_P(MongoInterruptedCommit, OutboxWriteInterruptedThenRecommitted) {
  auto db = fresh_database();
  auto store = open(db);
  qc::ChangeSet events;
  events.events = s_.x_outbox();
  for (bool applied : {false, true}) {
    SCOPED_TRACE(applied ? "applied, reply lost" : "not applied");
    raw_->fail_next("update", applied);
    EXPECT_THROW(store->commit(events), qc::StoreError);
    raw_->clear_fail_points();
    auto mid = store->open_outbox()->events_after(0, 100);
    if (replica_set(GetParam())) {
      EXPECT_TRUE(mid.empty());
    } else {  // ordered writes: a prefix
      ASSERT_LE(mid.size(), events.events.size());
      EXPECT_TRUE(std::equal(mid.begin(), mid.end(), events.events.begin()));
    }
  }
  store->commit(events);
  store->commit(events);
  EXPECT_EQ(open(db)->open_outbox()->events_after(0, 100), events.events);
  auto docs = raw_->find(db, "qc_outbox");
  ASSERT_EQ(docs.size(), events.events.size());
  EXPECT_EQ(docs[0].type("_id"), BSON_TYPE_INT64);
  EXPECT_EQ(docs[0].key_set(), (std::set<std::string>{"_id", "type", "data"}));
  EXPECT_EQ(docs[0].text("data"), events.events[0].data);
}

TEST_P(MongoInterruptedCommit, LastBarsInterruptedThenRecommitted) {
  auto db = fresh_database();
  auto store = open(db);
  qc::ChangeSet before;  // AAPL's row exists, older: the first write of the next commit updates it
  before.last_bars = {{"AAPL", 1626101880000, 10.0, 1626101940000}};
  store->commit(before);
  qc::ChangeSet bars;
  bars.last_bars = {{"AAPL", 1626101940000, 11.0, 1626102000000}, {"NVDA", 1626102000000}, {"TLT", 4102444800000}};
  raw_->fail_next("update", true);
  EXPECT_THROW(store->commit(bars), qc::StoreError);
  auto mid = store->load();
  if (replica_set(GetParam())) {
    EXPECT_EQ(mid.last_bars, before.last_bars);
  } else {  // ordered writes: the first one happened
    EXPECT_EQ(mid.last_bars, (std::vector<qc::LastBar>{{"AAPL", 1626101940000, 11.0, 1626102000000}}));
  }
  store->commit(bars);
  EXPECT_EQ(sorted(store->load().last_bars), sorted(bars.last_bars));
}

TEST_P(MongoInterruptedCommit, RestartAfterAnInterruptedCloseLeavesNoStaleOpenPosition) {
  // SPEC §6.2: a closed position *moves* from open_positions into its month.
  // A standalone close interrupted between the $push and the delete (a crash
  // there) must not leave the position in open_positions for good: after a
  // restart and further activity, open_positions holds only open positions.
  auto db = fresh_database();
  {
    auto store = open(db);
    store->commit(s_.base());
    raw_->fail_next("delete", false);
    EXPECT_THROW(store->commit(s_.x()), qc::StoreError);
    raw_->clear_fail_points();
  }
  auto store = open(db);
  {
    LedgerOver l(*store);  // the restart
    EXPECT_EQ(l.ledger.counters().closed_positions, replica_set(GetParam()) ? 0u : 1u);
    ASSERT_TRUE(l.ledger.submit_bars({bar("TLT", 140, 141, 139, 140, kT0 + 900)}));
    l.ledger.flush();
  }
  auto state = store->load();
  auto closed = identities(state.closed_positions);
  for (const auto& [symbol, ts] : raw_open(db))
    EXPECT_FALSE(closed.count({symbol, ts}))
        << symbol << "@" << ts << " is closed in `performance` and still in `open_positions`";
}

class MongoTransactions : public MongoInterruptedCommit {};
INSTANTIATE_TEST_SUITE_P(Mongo, MongoTransactions,
                         ::testing::Values(Target::ReplicaSet, Target::ReplicaSetTls), param_name);

TEST_P(MongoTransactions, TransientTransactionErrorRetriesTheWholeTransaction) {
  auto ref = reference();
  auto db = fresh_database();
  auto store = open(db);
  store->commit(s_.base());
  // The first $push of a close hits a write conflict: the driver runs the
  // callback again; nothing may be applied twice.
  raw_->fail_next("update", false, 112, {"TransientTransactionError"});
  std::vector<std::int64_t> seqs;
  try {
    seqs = store->commit(s_.x());
  } catch (const qc::StoreError& e) {
    FAIL() << "a WriteConflict labelled TransientTransactionError inside the transaction was not "
              "retried by mongoc_client_session_with_transaction (the callback must hand the "
              "failing reply, which carries errorLabels, back through its `bson_t** reply`): "
           << e.what();
  }
  ASSERT_EQ(seqs.size(), 2u);
  auto state = store->load();
  expect_same_content(open(ref)->load(), state);
  ASSERT_EQ(state.documents.size(), 3u);
  EXPECT_EQ(state.documents[1].seq, seqs[0]);
  EXPECT_EQ(state.documents[2].seq, seqs[1]);
  EXPECT_EQ(months(db), months(ref));
}

TEST_P(MongoTransactions, LostCommitAcknowledgementIsRetriedOnce) {
  auto ref = reference();
  auto db = fresh_database();
  auto store = open(db);
  store->commit(s_.base());
  // commitTransaction applied, reply lost with a retryable error: the driver
  // retries the commit (UnknownTransactionCommitResult), not the writes.
  raw_->fail_next("commitTransaction", true, 91, {"RetryableWriteError"});
  EXPECT_NO_THROW(store->commit(s_.x()));
  expect_same_content(open(ref)->load(), store->load());
  EXPECT_EQ(months(db), months(ref));
}

// ---------------------------------------------------------------------------
// TLS: what the startup line says, and the one error a failed TLS connection
// gives. The stand-ins serve tests/support/tls_certs.py's certificates.

// `uri` with option `key` set to `value` (or removed when `value` is empty).
std::string with_option(std::string uri, const std::string& key, const std::string& value) {
  auto q = uri.find('?');
  if (q == std::string::npos) {
    uri += '?';
    q = uri.size() - 1;
  }
  std::string query = uri.substr(q + 1), out;
  std::size_t start = 0;
  while (start <= query.size() && !query.empty()) {
    auto amp = query.find('&', start);
    std::string piece =
        query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (piece.rfind(key + "=", 0) != 0 && !piece.empty()) out += (out.empty() ? "" : "&") + piece;
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  if (!value.empty()) out += (out.empty() ? "" : "&") + key + "=" + value;
  return uri.substr(0, q + 1) + out;
}

std::string cert(const char* name) {
  return (tls_certs().path / name).string();
}

// Log lines written while it lives.
class LogCapture {
 public:
  LogCapture() {
    qc::log::capture([this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    });
  }
  ~LogCapture() { qc::log::capture({}); }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

class MongoTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tls_certs().problem.empty()) GTEST_SKIP() << tls_certs().problem;
  }
  // The StoreError of opening `uri` (with a 1 s server selection), and the
  // log lines written meanwhile; fails the test when it opens.
  std::string open_error(const std::string& uri, std::vector<std::string>* logged = nullptr) {
    std::string target = uri.find("serverSelectionTimeoutMS") == std::string::npos
                             ? with_option(uri, "serverSelectionTimeoutMS", "1000")
                             : uri;
    LogCapture log;
    auto start = std::chrono::steady_clock::now();
    std::string what;
    try {
      qc::MongoStore store(target, "qct_tls");
      ADD_FAILURE() << "opened " << target;
    } catch (const qc::StoreError& e) {
      what = e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8))
        << "server selection (1 s) and the TLS probe are bounded";
    if (logged) *logged = log.lines();
    return what;
  }
  static std::string host_port(const std::string& uri) {
    auto start = uri.find("://") + 3;
    return uri.substr(start, uri.find('/', start) - start);
  }
};

TEST(MongoTlsSettings, TakenFromTheUriAsLibmongocTakesThem) {
  qc::mongo::ensure_driver();
  struct Case {
    const char* uri;
    const char* transport;
  };
  const Case cases[] = {
      {"mongodb://h/", "over plain TCP"},
      {"mongodb://h/?tls=false", "over plain TCP"},
      {"mongodb://h/?tls=true", "over TLS (certificate verified against the system CAs)"},
      {"mongodb://h/?ssl=true", "over TLS (certificate verified against the system CAs)"},
      {"mongodb://h/?tlsCAFile=/x/ca.pem", "over TLS (certificate verified against /x/ca.pem)"},
      {"mongodb://h/?ssl=true&sslCertificateAuthorityFile=/x/ca.pem",
       "over TLS (certificate verified against /x/ca.pem)"},
      {"mongodb://h/?tls=true&tlsAllowInvalidHostnames=true",
       "over TLS (certificate verified against the system CAs; host name NOT checked: "
       "tlsAllowInvalidHostnames)"},
      {"mongodb://h/?tls=true&tlsAllowInvalidCertificates=true",
       "over TLS (certificate NOT verified: tlsAllowInvalidCertificates)"},
      {"mongodb://h/?tls=true&tlsInsecure=true",
       "over TLS (certificate NOT verified: tlsInsecure)"},
      {"mongodb://h/?tls=true&tlsCertificateKeyFile=/x/c.pem"
       "&tlsCertificateKeyFilePassword=s3cretpw",
       "over TLS (certificate verified against the system CAs; client certificate /x/c.pem)"},
      {"mongodb+srv://cluster0.example.net/",
       "over TLS (certificate verified against the system CAs)"},
      {"mongodb+srv://user:pw@cluster0.example.net/?retryWrites=true&w=majority",
       "over TLS (certificate verified against the system CAs)"},
      {"mongodb+srv://cluster0.example.net/?tls=false", "over plain TCP"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.uri);
    bson_error_t error;
    qc::mongo::Uri uri(mongoc_uri_new_with_error(c.uri, &error));
    ASSERT_TRUE(uri) << error.message;
    auto tls = qc::mongo::tls_settings(uri.get());
    EXPECT_EQ(qc::mongo::describe_transport(tls), c.transport);
    EXPECT_FALSE(contains(qc::mongo::describe_transport(tls), "s3cretpw"));
  }
}

TEST_F(MongoTls, StartupDescribesEachSettingAndHealthPingsOverTls) {
  auto rs = server(Target::ReplicaSetTls);
  ASSERT_TRUE(rs.skip_reason.empty()) << rs.skip_reason;
  auto check = [&](const std::string& uri, const std::string& transport) {
    SCOPED_TRACE(uri);
    qc::MongoStore store(uri, "qct_tls");
    EXPECT_EQ(store.transport(), transport);
    EXPECT_TRUE(store.transactions());
    // The readiness client is a client of its own: it must use the same TLS settings.
    auto h = store.health();
    EXPECT_TRUE(h.ok) << h.detail;
  };
  check(rs.uri, "over TLS (certificate verified against " + cert("ca.pem") + ")");
  check(with_option(with_option(rs.uri, "tls", ""), "ssl", "true"),
        "over TLS (certificate verified against " + cert("ca.pem") + ")");
  check(with_option(rs.uri, "tlsAllowInvalidHostnames", "true"),
        "over TLS (certificate verified against " + cert("ca.pem") +
            "; host name NOT checked: tlsAllowInvalidHostnames)");
  check(with_option(with_option(rs.uri, "tlsCAFile", ""), "tlsAllowInvalidCertificates", "true"),
        "over TLS (certificate NOT verified: tlsAllowInvalidCertificates)");
  auto plain = server(Target::ReplicaSet);
  ASSERT_TRUE(plain.skip_reason.empty()) << plain.skip_reason;
  check(plain.uri, "over plain TCP");
  RawClient(rs.uri).drop_database("qct_tls");
  RawClient(plain.uri).drop_database("qct_tls");
}

TEST_F(MongoTls, UntrustedCertificateIsOneErrorNamingTheHostAndTheReason) {
  auto rs = server(Target::ReplicaSetTls);
  ASSERT_TRUE(rs.skip_reason.empty()) << rs.skip_reason;
  std::vector<std::string> logged;
  auto what = open_error(with_option(rs.uri, "tlsCAFile", cert("other_ca.pem")), &logged);
  EXPECT_TRUE(contains(what, "cannot reach mongodb://" + host_port(rs.uri))) << what;
  EXPECT_TRUE(contains(what, "TLS handshake with " + host_port(rs.uri) +
                                 " failed: certificate verify failed: "
                                 "unable to get local issuer certificate"))
      << what;
  EXPECT_TRUE(contains(what, "issued by CN=QuantCrunch test CA, which is not among the CAs in " +
                                 cert("other_ca.pem")))
      << what;
  EXPECT_TRUE(logged.empty()) << "more than the one error: " << (logged.empty() ? "" : logged[0]);

  what = open_error(with_option(rs.uri, "tlsCAFile", ""));
  EXPECT_TRUE(contains(what, "certificate verify failed")) << what;
  EXPECT_TRUE(contains(what, "not among the system CAs")) << what;
}

TEST_F(MongoTls, SelfSignedCertificateIsRefusedUnlessInvalidCertificatesAreAllowed) {
  StandInProcess self_signed(false, {.enabled = true, .cert = "self_signed"});
  ASSERT_TRUE(self_signed.problem().empty()) << self_signed.problem();
  auto what = open_error(self_signed.uri());
  EXPECT_TRUE(contains(what, "TLS handshake with " + host_port(self_signed.uri()) +
                                 " failed: certificate verify failed: self-signed certificate"))
      << what;
  qc::MongoStore store(with_option(self_signed.uri(), "tlsAllowInvalidCertificates", "true"),
                       "qct_tls");
  EXPECT_EQ(store.transport(), "over TLS (certificate NOT verified: tlsAllowInvalidCertificates)");
  qc::MongoStore insecure(with_option(self_signed.uri(), "tlsInsecure", "true"), "qct_tls");
  EXPECT_EQ(insecure.transport(), "over TLS (certificate NOT verified: tlsInsecure)");
}

TEST_F(MongoTls, HostNameMismatchIsRefusedUnlessInvalidHostnamesAreAllowed) {
  StandInProcess wrong_host(false, {.enabled = true, .cert = "wrong_host"});
  ASSERT_TRUE(wrong_host.problem().empty()) << wrong_host.problem();
  auto what = open_error(wrong_host.uri());
  EXPECT_TRUE(contains(what, "TLS handshake with " + host_port(wrong_host.uri()) +
                                 " failed: host name mismatch: the certificate is for "
                                 "DNS:not-this-host.invalid, not for 127.0.0.1"))
      << what;
  qc::MongoStore store(with_option(wrong_host.uri(), "tlsAllowInvalidHostnames", "true"),
                       "qct_tls");
  EXPECT_TRUE(contains(store.transport(), "host name NOT checked")) << store.transport();
}

TEST_F(MongoTls, TlsToAServerWithoutTlsSaysSo) {
  auto plain = server(Target::Standalone);
  ASSERT_TRUE(plain.skip_reason.empty()) << plain.skip_reason;
  std::vector<std::string> logged;
  auto what = open_error(
      with_option(with_option(plain.uri, "tls", "true"), "tlsCAFile", cert("ca.pem")), &logged);
  EXPECT_TRUE(
      contains(what, "TLS handshake with " + host_port(plain.uri) + " failed: not a TLS server"))
      << what;
  EXPECT_TRUE(logged.empty()) << logged[0];
}

TEST_F(MongoTls, PlainConnectionToATlsServerSaysItExpectsTls) {
  auto tls = server(Target::StandaloneTls);
  ASSERT_TRUE(tls.skip_reason.empty()) << tls.skip_reason;
  auto what = open_error(with_option(with_option(tls.uri, "tls", ""), "tlsCAFile", ""));
  EXPECT_TRUE(
      contains(what, host_port(tls.uri) + " closed the connection: it expects TLS (add tls=true"))
      << what;
}

TEST_F(MongoTls, ClientCertificateAndItsPassword) {
  StandInProcess needs_cert(true, {.enabled = true, .client_ca = true});
  ASSERT_TRUE(needs_cert.problem().empty()) << needs_cert.problem();
  const std::string& uri = needs_cert.uri();

  auto what = open_error(uri);
  EXPECT_TRUE(contains(
      what, "TLS handshake with " + host_port(uri) +
                " failed: the server requires a client certificate (tlsCertificateKeyFile)"))
      << what;

  {
    qc::MongoStore store(with_option(uri, "tlsCertificateKeyFile", cert("client.pem")), "qct_tls");
    EXPECT_EQ(store.transport(), "over TLS (certificate verified against " + cert("ca.pem") +
                                     "; client certificate " + cert("client.pem") + ")");
    EXPECT_TRUE(store.health().ok);
  }
  // An encrypted key: the password opens it and is shown nowhere.
  const std::string password = "qc-client-key-pw";  // mongo_standin.CLIENT_KEY_PASSWORD
  auto encrypted =
      with_option(with_option(uri, "tlsCertificateKeyFile", cert("client_encrypted.pem")),
                  "tlsCertificateKeyFilePassword", password);
  {
    LogCapture log;
    qc::MongoStore store(encrypted, "qct_tls");
    EXPECT_TRUE(store.health().ok);
    EXPECT_FALSE(contains(store.location(), password)) << store.location();
    EXPECT_TRUE(contains(store.location(), "tlsCertificateKeyFilePassword=***"))
        << store.location();
    EXPECT_FALSE(contains(store.transport(), password)) << store.transport();
    for (const auto& line : log.lines()) EXPECT_FALSE(contains(line, password)) << line;
  }
  what = open_error(with_option(encrypted, "tlsCertificateKeyFilePassword", "not-the-pw"));
  EXPECT_TRUE(contains(what, "tlsCertificateKeyFile " + cert("client_encrypted.pem") +
                                 ": its private key cannot be read"))
      << what;
  EXPECT_FALSE(contains(what, "not-the-pw")) << what;
  what = open_error(with_option(encrypted, "tlsCertificateKeyFilePassword", ""));
  EXPECT_TRUE(contains(what, "needs tlsCertificateKeyFilePassword")) << what;
  RawClient(with_option(uri, "tlsCertificateKeyFile", cert("client.pem"))).drop_database("qct_tls");
}

TEST_F(MongoTls, UnusableFilesAreRefusedBeforeConnecting) {
  auto rs = server(Target::ReplicaSetTls);
  ASSERT_TRUE(rs.skip_reason.empty()) << rs.skip_reason;
  std::vector<std::string> logged;
  auto start = std::chrono::steady_clock::now();
  auto what = open_error(with_option(rs.uri, "tlsCAFile", "/nonexistent/ca.pem"), &logged);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900))
      << "no connection tried";
  EXPECT_TRUE(
      contains(what, "tlsCAFile /nonexistent/ca.pem cannot be read: No such file or directory"))
      << what;
  EXPECT_TRUE(logged.empty()) << "libmongoc's own error lines: " << logged[0];

  what = open_error(with_option(rs.uri, "tlsCAFile", cert("server.key")));
  EXPECT_TRUE(contains(what, "tlsCAFile " + cert("server.key") + " holds no usable CA certificate"))
      << what;
  what = open_error(with_option(rs.uri, "tlsCertificateKeyFile", cert("ca.pem")));
  EXPECT_TRUE(contains(
      what, "tlsCertificateKeyFile " + cert("ca.pem") + ": its private key cannot be read"))
      << what;
}

}  // namespace
