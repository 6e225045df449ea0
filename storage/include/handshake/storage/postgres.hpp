// PostgreSQL stores: what several instances on several hosts share (handshake::storage, target
// handshake::storage; libpq). Every store implements the same interface as its in-memory and
// SQLite counterparts and passes the same contract suite (tests/storage).
//
// Connection: a libpq URI or key=value string, e.g. postgresql://hsk@db.internal:5432/handshake.
// A password never travels in the URL (it would sit on a command line and in process listings):
// it comes from `password_file` (owner-only, read once and wiped) or libpq's own PGPASSFILE /
// ~/.pgpass. Messages name the host, port and database, never the password.
//
// Failure: a store whose database cannot be reached answers kUnavailable ("nonce.store_failed",
// "ratelimit.store_failed", "revocation.store_failed"), which the service turns into a signed
// service_unavailable, never an accept. Broken connections are dropped and replaced on the next
// use, so the stores recover by themselves when the database is back.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "handshake/nonce_store.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/revocation.hpp"

namespace handshake::storage {

struct PgOptions {
  std::string url;  // libpq URI or conninfo; must not contain a password
  std::optional<std::filesystem::path> password_file;  // owner-only; its content (one trailing newline dropped)
  std::size_t pool_size = 8;                            // connections at most, shared by every store on the pool
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds statement_timeout{3000};  // per statement, set on each connection
  std::chrono::milliseconds acquire_timeout{3000};    // waiting for a free connection
};

// A bounded, thread-safe pool of connections with prepared statements per connection. Shared
// (std::shared_ptr) by the stores built on it.
class PgPool {
 public:
  // Checks the options (URL syntax, no password in it, the password file's mode) and connects
  // once, so that a wrong address or credential is a clear start-up error. Errors: kInvalidArgument
  // "pg.url", kPermission "keyfile.permissions" (password file), kUnavailable "pg.connect".
  [[nodiscard]] static Result<std::shared_ptr<PgPool>> open(const PgOptions& options);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // "host:port/dbname", for messages.
  [[nodiscard]] const std::string& name() const;
  // A round trip to the database (SELECT 1). Errors: kUnavailable "pg.unavailable".
  [[nodiscard]] Status ping() const;

  struct Impl;
  [[nodiscard]] Impl& impl() const { return *impl_; }

 private:
  explicit PgPool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The NonceStore contract in table hsk_nonces: one INSERT ... ON CONFLICT per check (a conflict
// with a live row is the replay), so exactly one of any number of concurrent callers on any
// number of instances wins. The row count is kept by triggers in sharded counters in the same
// transaction, so `max_entries` holds across instances (concurrent inserts at the very edge may
// pass it by at most one per connection). Expired rows are swept by a background thread, at the
// latest time callers gave. Creates its tables if missing. Errors: kUnavailable
// "nonce.store_failed".
[[nodiscard]] Result<std::unique_ptr<NonceStore>> open_pg_nonce_store(std::shared_ptr<PgPool> pool,
                                                                     std::size_t max_entries = 10'000'000);

// Fixed windows shared by every instance (table hsk_rate_windows): one atomic upsert per hit,
// which counts the hit only while the window has room. Windows that ended are swept in the
// background; the table holds one row per (key, window size) with a window still open. Keys come
// from verified requests only (the service limits after the signature and chain checks), so the
// table grows only with the callers a service has accepted. Errors: kInvalidArgument
// "ratelimit.invalid", kUnavailable "ratelimit.store_failed".
[[nodiscard]] Result<std::unique_ptr<RateLimiter>> open_pg_rate_limiter(std::shared_ptr<PgPool> pool);

struct PgRevocationOptions {
  // Fallback polling when no notification arrives (and the listening connection is down).
  std::chrono::milliseconds poll_interval{2000};
  // No successful read of the table for this long: answer kUnavailable (fail closed).
  std::chrono::milliseconds max_staleness{10000};
};

// RevocationStatements in table hsk_revocations, never deleted. add_statement verifies, inserts
// (serialized by a transaction-scoped advisory lock, so rows become visible in sequence order and
// no reader can skip one) and NOTIFYs channel hsk_revocations in the same transaction; every
// instance LISTENs on a dedicated connection and loads new rows at once, with polling as the
// fallback. `keys` is borrowed and must outlive the store. Errors: kUnavailable
// "revocation.store_failed", those of RevocationList::add_statement.
[[nodiscard]] Result<std::unique_ptr<RevocationStore>> open_pg_revocation_store(
    std::shared_ptr<PgPool> pool, const KeyResolver& keys, const std::vector<std::string>& authorities = {},
    PgRevocationOptions options = {});

}  // namespace handshake::storage

namespace handshake::registry {
class LogStore;
class DidRows;
class RevocationRows;
}  // namespace handshake::registry

namespace handshake::storage {

// The registry's Merkle log (registry_log.hpp) in tables hsk_log_leaves and hsk_log_nodes. Every
// append runs in one transaction under a transaction-scoped advisory lock: one sequencer at a
// time, so any number of registry processes on one database extend one linear log and never
// fork it; an append is acknowledged only once committed. A batch costs a handful of statements
// whatever its size (leaves and subtrees go in as arrays). Errors: kUnavailable
// "registry.store_failed".
[[nodiscard]] Result<std::unique_ptr<registry::LogStore>> open_pg_log(std::shared_ptr<PgPool> pool);

// The rows of a registry's published DID Documents (registry_dids.hpp: registry::DidStore runs on
// them) in table hsk_dids; a version is stored once, so two registry processes publishing the
// same version at once store one and refuse the other. Errors: kUnavailable "registry.store_failed".
[[nodiscard]] Result<std::unique_ptr<registry::DidRows>> open_pg_did_rows(std::shared_ptr<PgPool> pool);

// The rows of a registry's published revocations (registry_revocations.hpp:
// registry::RevocationPublisher runs on them) in tables hsk_registry_statements and
// hsk_registry_feed; idempotent on the statement id and on the feed entry's triple across any
// number of registry processes (first wins). Errors: kUnavailable "registry.store_failed".
[[nodiscard]] Result<std::unique_ptr<registry::RevocationRows>> open_pg_revocation_rows(std::shared_ptr<PgPool> pool);

}  // namespace handshake::storage
