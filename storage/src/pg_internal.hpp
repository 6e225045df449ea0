// libpq plumbing shared by the PostgreSQL stores. Internal header.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/result.hpp"
#include "handshake/storage/postgres.hpp"

namespace handshake::storage::pg {

// A statement prepared once per connection under `name`.
struct Statement {
  const char* name;
  const char* sql;
};

// An owned PGresult.
class Rows {
 public:
  explicit Rows(PGresult* r) : r_(r) {}
  [[nodiscard]] int size() const { return PQntuples(r_.get()); }
  [[nodiscard]] std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  [[nodiscard]] bool is_null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  // A bigint column; 0 when the text is not a number (cannot happen for our own columns).
  [[nodiscard]] std::int64_t int64(int row, int col) const;
  [[nodiscard]] std::int64_t affected() const;  // PQcmdTuples

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> r_;
};

class Connection {
 public:
  explicit Connection(PGconn* c) : conn_(c) {}
  ~Connection() { PQfinish(conn_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  [[nodiscard]] PGconn* raw() const { return conn_; }
  [[nodiscard]] bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }

  // Runs a prepared statement with text parameters. Errors: kUnavailable `reason`.
  [[nodiscard]] Result<Rows> run(const Statement& st, const std::vector<std::string>& params, const char* reason);
  // Runs SQL text (no parameters; may hold several statements). Errors: kUnavailable `reason`.
  [[nodiscard]] Result<Rows> exec(const char* sql, const char* reason);

 private:
  PGconn* conn_;
  std::set<std::string, std::less<>> prepared_;
};

Error failure(const char* reason, std::string_view what, PGconn* conn);

// Runs `body` (returning a Result or Status) between BEGIN and COMMIT on `c`; rolls back when
// the body or the commit fails, and returns that failure.
template <typename F>
auto in_transaction(Connection& c, const char* reason, F&& body) -> decltype(body()) {
  if (auto begun = c.exec("BEGIN", reason); !begun.ok()) return begun.error();
  auto r = body();
  if (r.ok()) {
    if (auto committed = c.exec("COMMIT", reason); !committed.ok()) r = committed.error();
  }
  if (!r.ok()) {
    auto rolled = c.exec("ROLLBACK", reason);
    (void)rolled;  // the connection is dropped by the pool if it broke
  }
  return r;
}

}  // namespace handshake::storage::pg

namespace handshake::storage {

struct PgPool::Impl {
  PgOptions options;
  std::string name;            // host:port/db
  std::vector<char> password;  // NUL-terminated; wiped in the destructor (sodium_memzero)
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  mutable std::vector<std::unique_ptr<pg::Connection>> idle;
  mutable std::size_t open_count = 0;
  mutable std::chrono::steady_clock::time_point last_connect_failure{};
  mutable std::string last_connect_error;

  ~Impl();
  // A new connection (statement_timeout set). Errors: kUnavailable `reason`.
  [[nodiscard]] Result<std::unique_ptr<pg::Connection>> connect(const char* reason) const;

  // Borrows a connection for `fn`; a connection left broken is dropped, not returned.
  template <typename T>
  Result<T> with(const char* reason, const std::function<Result<T>(pg::Connection&)>& fn) const {
    HSK_ASSIGN_OR_RETURN(auto conn, acquire(reason));
    Result<T> r = fn(*conn);
    release(std::move(conn));
    return r;
  }
  // One prepared statement on a borrowed connection.
  [[nodiscard]] Result<pg::Rows> run(const pg::Statement& st, const std::vector<std::string>& params,
                                     const char* reason) const;

  [[nodiscard]] Result<std::unique_ptr<pg::Connection>> acquire(const char* reason) const;
  void release(std::unique_ptr<pg::Connection> conn) const;
};

// Creates tables once per database (DDL under a transaction-scoped advisory lock, so instances
// starting together do not race on the catalog). Errors: kUnavailable `reason`.
[[nodiscard]] Status create_pg_schema(const PgPool::Impl& pool, const char* ddl, const char* reason);

}  // namespace handshake::storage
