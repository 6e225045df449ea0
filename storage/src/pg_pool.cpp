// The PostgreSQL connection pool (libpq).
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "handshake/identity.hpp"
#include "pg_internal.hpp"

namespace handshake::storage {
namespace pg {

std::int64_t Rows::int64(int row, int col) const {
  const std::string_view t = text(row, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

std::int64_t Rows::affected() const {
  const char* n = PQcmdTuples(r_.get());
  std::int64_t v = 0;
  if (n != nullptr) std::from_chars(n, n + std::strlen(n), v);
  return v;
}

Error failure(const char* reason, std::string_view what, PGconn* conn) {
  std::string msg = conn != nullptr ? PQerrorMessage(conn) : "no connection";
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  return make_error(ErrorCode::kUnavailable, reason, "postgresql: " + std::string(what) + ": " + msg);
}

namespace {

Result<Rows> checked(PGresult* raw, PGconn* conn, const char* reason, std::string_view what) {
  Rows rows(raw);
  const ExecStatusType st = raw != nullptr ? PQresultStatus(raw) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    std::string msg = raw != nullptr ? PQresultErrorMessage(raw) : "";
    if (msg.empty()) return failure(reason, what, conn);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    return make_error(ErrorCode::kUnavailable, reason, "postgresql: " + std::string(what) + ": " + msg);
  }
  return rows;
}

}  // namespace

Result<Rows> Connection::run(const Statement& st, const std::vector<std::string>& params, const char* reason) {
  if (prepared_.find(st.name) == prepared_.end()) {
    PGresult* p = PQprepare(conn_, st.name, st.sql, 0, nullptr);
    HSK_TRY(checked(p, conn_, reason, std::string("prepare ") + st.name));
    prepared_.emplace(st.name);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* r = PQexecPrepared(conn_, st.name, static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0);
  return checked(r, conn_, reason, st.name);
}

Result<Rows> Connection::exec(const char* sql, const char* reason) {
  return checked(PQexec(conn_, sql), conn_, reason, "exec");
}

}  // namespace pg

PgPool::Impl::~Impl() {
  if (!password.empty()) sodium_memzero(password.data(), password.size());
}

Result<std::unique_ptr<pg::Connection>> PgPool::Impl::connect(const char* reason) const {
  const std::string timeout = std::to_string(std::max<std::int64_t>(1, (options.connect_timeout.count() + 999) / 1000));
  std::vector<const char*> keys = {"dbname", "connect_timeout", "application_name", "client_encoding"};
  std::vector<const char*> values = {options.url.c_str(), timeout.c_str(), "handshake", "UTF8"};
  if (!password.empty()) {
    keys.push_back("password");
    values.push_back(password.data());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* raw = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  auto conn = std::make_unique<pg::Connection>(raw);
  if (raw == nullptr || PQstatus(raw) != CONNECTION_OK) {
    return pg::failure(reason, "connect to " + name, raw);
  }
  // The server's notices ("relation already exists, skipping") are not for our stderr.
  PQsetNoticeProcessor(raw, [](void*, const char*) {}, nullptr);
  const std::string set = "SET statement_timeout = " + std::to_string(options.statement_timeout.count());
  HSK_TRY(conn->exec(set.c_str(), reason));
  return conn;
}

Result<std::unique_ptr<pg::Connection>> PgPool::Impl::acquire(const char* reason) const {
  std::unique_lock lock(mu);
  const auto deadline = std::chrono::steady_clock::now() + options.acquire_timeout;
  while (idle.empty() && open_count >= options.pool_size) {
    if (cv.wait_until(lock, deadline) == std::cv_status::timeout && idle.empty() && open_count >= options.pool_size) {
      return make_error(ErrorCode::kUnavailable, reason,
                        "postgresql: every connection to " + name + " is busy (pool_size " +
                            std::to_string(options.pool_size) + ")");
    }
  }
  if (!idle.empty()) {
    auto conn = std::move(idle.back());
    idle.pop_back();
    return conn;
  }
  // While the server is down, do not open a connection attempt per request: repeat the last
  // failure for a moment.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_connect_failure < std::chrono::milliseconds(200)) {
    return make_error(ErrorCode::kUnavailable, reason, last_connect_error);
  }
  ++open_count;
  lock.unlock();
  auto conn = connect(reason);
  lock.lock();
  if (!conn.ok()) {
    --open_count;
    last_connect_failure = std::chrono::steady_clock::now();
    last_connect_error = conn.error().message;
    cv.notify_one();
    return conn.error();
  }
  return std::move(conn).value();
}

void PgPool::Impl::release(std::unique_ptr<pg::Connection> conn) const {
  std::lock_guard lock(mu);
  if (conn && !conn->broken() && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE) {
    idle.push_back(std::move(conn));
  } else {
    --open_count;  // dropped: the next acquire opens a fresh one
  }
  cv.notify_one();
}

Result<pg::Rows> PgPool::Impl::run(const pg::Statement& st, const std::vector<std::string>& params,
                                   const char* reason) const {
  return with<pg::Rows>(reason, [&](pg::Connection& c) { return c.run(st, params, reason); });
}

PgPool::PgPool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgPool::~PgPool() = default;

const std::string& PgPool::name() const { return impl_->name; }

Status PgPool::ping() const {
  static constexpr pg::Statement kPing{"hsk_ping", "SELECT 1"};
  HSK_TRY(impl_->run(kPing, {}, "pg.unavailable"));
  return ok_status();
}

Result<std::shared_ptr<PgPool>> PgPool::open(const PgOptions& options) {
  if (options.url.empty()) return make_error(ErrorCode::kInvalidArgument, "pg.url", "a PostgreSQL URL is required");
  if (options.pool_size == 0) return make_error(ErrorCode::kInvalidArgument, "pg.url", "pool_size must be at least 1");
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.url.c_str(), &err);
  if (parsed == nullptr) {
    std::string why = err != nullptr ? err : "cannot parse";
    PQfreemem(err);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return make_error(ErrorCode::kInvalidArgument, "pg.url", "not a PostgreSQL URL: " + why);
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::string host = "localhost", port = "5432", db;
  bool has_password = false;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view k = o->keyword;
    if (k == "password") has_password = true;
    if (k == "host" || k == "hostaddr") host = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") db = o->val;
  }
  PQconninfoFree(parsed);
  if (has_password) {
    return make_error(ErrorCode::kInvalidArgument, "pg.url",
                      "the PostgreSQL URL carries a password; put it in an owner-only password_file (or PGPASSFILE) "
                      "instead, so it is never on a command line");
  }
  impl->name = host + ":" + port + "/" + db;
  if (options.password_file) {
    HSK_ASSIGN_OR_RETURN(auto secret, read_secret_file(*options.password_file, 4096));
    std::size_t n = secret.size();
    while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r')) --n;
    // Sized once, so no reallocation leaves an unwiped copy behind.
    impl->password.assign(n + 1, '\0');
    std::copy_n(secret.data(), n, impl->password.data());
    sodium_memzero(secret.data(), secret.size());
    if (impl->password.size() == 1) {
      return make_error(ErrorCode::kInvalidArgument, "pg.url", options.password_file->string() + " is empty");
    }
  }
  std::shared_ptr<PgPool> pool(new PgPool(std::move(impl)));
  // Connect once now: a wrong address or credential is a start-up error, not a stream of refusals.
  HSK_ASSIGN_OR_RETURN(auto first, pool->impl_->connect("pg.connect"));
  {
    std::lock_guard lock(pool->impl_->mu);
    pool->impl_->idle.push_back(std::move(first));
    pool->impl_->open_count = 1;
  }
  return pool;
}

}  // namespace handshake::storage
