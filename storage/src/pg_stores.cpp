// NonceStore, RateLimiter and RevocationStore on PostgreSQL.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "handshake/storage/postgres.hpp"
#include "pg_internal.hpp"
#include "store_rules.hpp"

namespace handshake::storage {
namespace {

using detail::Micros;
using detail::to_micros;

}  // namespace

// Creates tables once per database, whatever the number of instances starting at once: DDL runs
// under a transaction-scoped advisory lock (CREATE ... IF NOT EXISTS alone races on the catalog).
Status create_pg_schema(const PgPool::Impl& pool, const char* ddl, const char* reason) {
  auto created = pool.with<bool>(reason, [&](pg::Connection& c) -> Result<bool> {
    return pg::in_transaction(c, reason, [&]() -> Result<bool> {
      const std::string sql = std::string("SELECT pg_advisory_xact_lock(7262611); ") + ddl;
      HSK_TRY(c.exec(sql.c_str(), reason));
      return true;
    });
  });
  if (!created.ok()) return created.error();
  return ok_status();
}

namespace {

Status create_schema(const PgPool::Impl& pool, const char* ddl, const char* reason) {
  return create_pg_schema(pool, ddl, reason);
}

// Deletes expired rows in the background, in batches, at the latest time the store's callers gave
// (their clocks are the store's notion of time, so an injected clock in tests is honoured): every
// 5 s, and at once when nudged.
class Sweeper {
 public:
  Sweeper(const PgPool::Impl& pool, const pg::Statement& sweep, const char* reason)
      : pool_(pool), sweep_(sweep), reason_(reason), thread_([this] { loop(); }) {}
  ~Sweeper() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  void observe(std::int64_t now) {
    std::int64_t seen = latest_.load(std::memory_order_relaxed);
    while (now > seen && !latest_.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
  }
  void nudge() {
    std::lock_guard lock(mu_);
    pending_ = true;
    cv_.notify_one();
  }

 private:
  static constexpr std::int64_t kBatch = 10000;
  void loop() {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::seconds(5), [&] { return pending_ || stop_; });
        if (stop_) return;
        pending_ = false;
      }
      const std::int64_t now = latest_.load(std::memory_order_relaxed);
      if (now == 0) continue;
      for (int i = 0; i < 100; ++i) {
        auto r = pool_.run(sweep_, {std::to_string(now), std::to_string(kBatch)}, reason_);
        if (!r.ok() || r->affected() < kBatch) break;
      }
    }
  }
  const PgPool::Impl& pool_;
  const pg::Statement& sweep_;
  const char* reason_;
  std::atomic<std::int64_t> latest_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;
  bool stop_ = false;
  std::thread thread_;
};

// ---- nonces --------------------------------------------------------------------------------------

constexpr const char* kNonceSchema = R"sql(
CREATE TABLE IF NOT EXISTS hsk_nonces(
  iss text NOT NULL,
  nonce text NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (iss, nonce));
CREATE INDEX IF NOT EXISTS hsk_nonces_expires_at ON hsk_nonces(expires_at);
CREATE TABLE IF NOT EXISTS hsk_nonce_count(shard int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO hsk_nonce_count SELECT s, 0 FROM generate_series(0, 15) s ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION hsk_nonce_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE hsk_nonce_count SET n = n + 1 WHERE shard = pg_backend_pid() % 16;
  ELSE
    UPDATE hsk_nonce_count SET n = n - 1 WHERE shard = pg_backend_pid() % 16;
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER hsk_nonces_counted AFTER INSERT OR DELETE ON hsk_nonces
  FOR EACH ROW EXECUTE FUNCTION hsk_nonce_counted()
)sql";

// A conflict with a live row returns nothing (the replay); an expired row is taken over.
constexpr pg::Statement kNonceInsert{
    "hsk_nonce_insert",
    "INSERT INTO hsk_nonces AS t(iss, nonce, expires_at) "
    "SELECT $1, $2, $3::bigint WHERE (SELECT sum(n) FROM hsk_nonce_count) < $5::bigint "
    "ON CONFLICT (iss, nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE t.expires_at < $4::bigint "
    "RETURNING 1"};
constexpr pg::Statement kNonceLive{
    "hsk_nonce_live", "SELECT 1 FROM hsk_nonces WHERE iss = $1 AND nonce = $2 AND expires_at >= $3::bigint"};
constexpr pg::Statement kNonceSweep{
    "hsk_nonce_sweep",
    "DELETE FROM hsk_nonces WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM hsk_nonces WHERE expires_at < $1::bigint LIMIT $2::bigint))"};
constexpr pg::Statement kNonceCount{"hsk_nonce_count", "SELECT coalesce(sum(n), 0)::bigint FROM hsk_nonce_count"};

constexpr const char* kNonceFailed = "nonce.store_failed";
constexpr std::uint32_t kSweepEvery = 1024;
constexpr std::int64_t kFullSweepLimit = 4096;

class PgNonceStore final : public NonceStore {
 public:
  PgNonceStore(std::shared_ptr<PgPool> pool, std::size_t max_entries)
      : pool_(std::move(pool)),
        max_entries_(std::to_string(std::min<std::size_t>(max_entries, std::size_t{1} << 62))),
        sweeper_(pool_->impl(), kNonceSweep, kNonceFailed) {}
  PgNonceStore(const PgNonceStore&) = delete;
  PgNonceStore& operator=(const PgNonceStore&) = delete;

  Result<bool> check_and_insert(std::string_view iss, std::string_view nonce, Timestamp expires_at,
                                Timestamp now) override {
    HSK_TRY(detail::validate_nonce_key(iss, nonce));
    const Micros at = to_micros(now);
    sweeper_.observe(at);
    const std::vector<std::string> insert_params = {std::string(iss), std::string(nonce),
                                                    std::to_string(to_micros(expires_at)), std::to_string(at),
                                                    max_entries_};
    const auto& db = pool_->impl();
    HSK_ASSIGN_OR_RETURN(auto rows, db.run(kNonceInsert, insert_params, kNonceFailed));
    if (rows.size() == 1) return inserted();
    // Either the pair is live (a replay) or the store is full.
    HSK_ASSIGN_OR_RETURN(auto live, db.run(kNonceLive, {std::string(iss), std::string(nonce), std::to_string(at)},
                                           kNonceFailed));
    if (live.size() == 1) return false;
    HSK_TRY(db.run(kNonceSweep, {std::to_string(at), std::to_string(kFullSweepLimit)}, kNonceFailed));
    HSK_ASSIGN_OR_RETURN(rows, db.run(kNonceInsert, insert_params, kNonceFailed));
    if (rows.size() == 1) return inserted();
    return make_error(ErrorCode::kUnavailable, "nonce.store_full",
                      "every remembered nonce is still within its validity window");
  }

  std::size_t size() const override {
    auto rows = pool_->impl().run(kNonceCount, {}, kNonceFailed);
    if (rows.ok() && rows->size() == 1) last_size_ = static_cast<std::size_t>(std::max<std::int64_t>(0, rows->int64(0, 0)));
    return last_size_;  // the last count read if this one failed: size() cannot report errors
  }

 private:
  bool inserted() {
    if (inserts_.fetch_add(1, std::memory_order_relaxed) % kSweepEvery == kSweepEvery - 1) sweeper_.nudge();
    return true;
  }

  std::shared_ptr<PgPool> pool_;
  const std::string max_entries_;
  std::atomic<std::uint64_t> inserts_{0};
  mutable std::size_t last_size_ = 0;
  Sweeper sweeper_;
};

// ---- rate limits ---------------------------------------------------------------------------------

constexpr const char* kRateSchema = R"sql(
CREATE TABLE IF NOT EXISTS hsk_rate_windows(
  key text NOT NULL,
  per_seconds bigint NOT NULL,
  window_index bigint NOT NULL,
  hits bigint NOT NULL,
  window_end bigint NOT NULL,
  PRIMARY KEY (key, per_seconds));
CREATE INDEX IF NOT EXISTS hsk_rate_windows_end ON hsk_rate_windows(window_end)
)sql";

// Counts the hit only while its window has room; a later window starts over. An instance whose
// clock lags (an older window index) counts into the newer window rather than resetting it.
constexpr pg::Statement kRateHit{
    "hsk_rate_hit",
    "INSERT INTO hsk_rate_windows AS w(key, per_seconds, window_index, hits, window_end) "
    "VALUES ($1, $2::bigint, $3::bigint, 1, $4::bigint) "
    "ON CONFLICT (key, per_seconds) DO UPDATE SET "
    "hits = CASE WHEN EXCLUDED.window_index > w.window_index THEN 1 ELSE w.hits + 1 END, "
    "window_index = GREATEST(w.window_index, EXCLUDED.window_index), "
    "window_end = GREATEST(w.window_end, EXCLUDED.window_end) "
    "WHERE EXCLUDED.window_index > w.window_index OR w.hits < $5::bigint "
    "RETURNING hits"};
constexpr pg::Statement kRateEnd{"hsk_rate_end",
                                 "SELECT window_end FROM hsk_rate_windows WHERE key = $1 AND per_seconds = $2::bigint"};
constexpr pg::Statement kRateSweep{
    "hsk_rate_sweep",
    "DELETE FROM hsk_rate_windows WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM hsk_rate_windows WHERE window_end <= $1::bigint LIMIT $2::bigint))"};

constexpr const char* kRateFailed = "ratelimit.store_failed";

class PgRateLimiter final : public RateLimiter {
 public:
  explicit PgRateLimiter(std::shared_ptr<PgPool> pool)
      : pool_(std::move(pool)), sweeper_(pool_->impl(), kRateSweep, kRateFailed) {}
  PgRateLimiter(const PgRateLimiter&) = delete;
  PgRateLimiter& operator=(const PgRateLimiter&) = delete;

  Result<Decision> hit(std::string_view key, std::int64_t count, std::int64_t per_seconds, Timestamp now) override {
    HSK_ASSIGN_OR_RETURN(const auto w, detail::rate_window(key, count, per_seconds, now));
    if (key.find('\0') != std::string_view::npos) {
      return make_error(ErrorCode::kInvalidArgument, "ratelimit.invalid", "key contains NUL");
    }
    sweeper_.observe(w.now_s);
    const auto& db = pool_->impl();
    HSK_ASSIGN_OR_RETURN(auto rows, db.run(kRateHit,
                                           {std::string(key), std::to_string(per_seconds), std::to_string(w.index),
                                            std::to_string(w.end), std::to_string(count)},
                                           kRateFailed));
    if (rows.size() == 1) return Decision{true, 0};
    // Refused: wait until the window (possibly a newer one another instance opened) ends.
    std::int64_t end = w.end;
    auto stored = db.run(kRateEnd, {std::string(key), std::to_string(per_seconds)}, kRateFailed);
    if (stored.ok() && stored->size() == 1) end = std::max(end, stored->int64(0, 0));
    return Decision{false, std::clamp<std::int64_t>(end - w.now_s, 1, per_seconds)};
  }

 private:
  std::shared_ptr<PgPool> pool_;
  Sweeper sweeper_;
};

// ---- revocations ---------------------------------------------------------------------------------

constexpr const char* kRevocationSchema = R"sql(
CREATE TABLE IF NOT EXISTS hsk_revocations(
  seq bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  statement text NOT NULL)
)sql";

constexpr pg::Statement kRevLock{"hsk_rev_lock", "SELECT pg_advisory_xact_lock(7262612)"};
constexpr pg::Statement kRevInsert{"hsk_rev_insert",
                                   "INSERT INTO hsk_revocations(id, statement) VALUES ($1, $2) "
                                   "ON CONFLICT (id) DO NOTHING"};
constexpr pg::Statement kRevNotify{"hsk_rev_notify", "SELECT pg_notify('hsk_revocations', '')"};
constexpr pg::Statement kRevSince{"hsk_rev_since",
                                  "SELECT seq, statement FROM hsk_revocations WHERE seq > $1::bigint "
                                  "ORDER BY seq LIMIT 1000"};

constexpr const char* kRevFailed = "revocation.store_failed";

class PgRevocationStore final : public RevocationStore {
 public:
  PgRevocationStore(std::shared_ptr<PgPool> pool, const KeyResolver& keys, PgRevocationOptions options)
      : pool_(std::move(pool)), keys_(keys), options_(options), wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~PgRevocationStore() override {
    stopping_ = true;
    if (wake_fd_ >= 0) {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    }
    if (listener_.joinable()) listener_.join();
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }
  PgRevocationStore(const PgRevocationStore&) = delete;
  PgRevocationStore& operator=(const PgRevocationStore&) = delete;

  void add_authority(const std::string& did) { list_.add_authority(did); }
  // Listens before the first read, so nothing added from then on can be missed.
  Status start() {
    auto conn = listen_connection();
    HSK_TRY(refresh());
    listener_ = std::thread([this, c = std::move(conn)]() mutable { listen_loop(std::move(c)); });
    return ok_status();
  }

  Status add_statement(const Json& statement) override {
    HSK_TRY(list_.check_statement(statement, keys_));
    HSK_ASSIGN_OR_RETURN(auto text, json::canonicalize(statement));
    const std::string id = statement["id"].get<std::string>();
    auto added = pool_->impl().with<bool>(kRevFailed, [&](pg::Connection& c) -> Result<bool> {
      return pg::in_transaction(c, kRevFailed, [&]() -> Result<bool> {
        // One writer at a time: rows then commit in sequence order, so a reader that has seen
        // seq N has seen every row below it.
        HSK_TRY(c.run(kRevLock, {}, kRevFailed));
        HSK_TRY(c.run(kRevInsert, {id, text}, kRevFailed));
        HSK_TRY(c.run(kRevNotify, {}, kRevFailed));
        return true;
      });
    });
    if (!added.ok()) return added.error();
    return refresh();
  }

  Status refresh() override {
    std::lock_guard lock(refresh_mu_);
    for (;;) {
      auto rows = pool_->impl().run(kRevSince, {std::to_string(last_seq_)}, kRevFailed);
      if (!rows.ok()) {
        failed_ = true;
        return rows.error();
      }
      for (int i = 0; i < rows->size(); ++i) {
        const std::int64_t seq = rows->int64(i, 0);
        auto doc = json::parse_strict(rows->text(i, 1));
        // Rows were verified before they were written; one that no longer verifies (a tampered
        // table) is a store failure, not something to skip.
        if (!doc.ok() || !list_.add_statement(*doc, keys_).ok()) {
          failed_ = true;
          return make_error(ErrorCode::kUnavailable, kRevFailed,
                            "row " + std::to_string(seq) + " of hsk_revocations does not verify");
        }
        last_seq_ = seq;
      }
      if (rows->size() < 1000) break;
    }
    failed_ = false;
    last_ok_ = std::chrono::steady_clock::now().time_since_epoch().count();
    return ok_status();
  }

  Answer delegation_revoked(std::string_view id, std::string_view issuer, Timestamp at) const override {
    if (!usable()) return Answer::kUnavailable;
    return list_.delegation_revoked(id, issuer, at);
  }
  Answer principal_revoked(std::string_view did, Timestamp at) const override {
    if (!usable()) return Answer::kUnavailable;
    return list_.principal_revoked(did, at);
  }

 private:
  [[nodiscard]] bool usable() const {
    if (failed_) return false;
    const auto age = std::chrono::steady_clock::now().time_since_epoch().count() - last_ok_.load();
    return std::chrono::steady_clock::duration(age) <= options_.max_staleness;
  }

  // LISTEN on a dedicated connection; load new rows on every notification and at least every
  // poll_interval (the fallback when the listening connection is down).
  std::unique_ptr<pg::Connection> listen_connection() {
    auto c = pool_->impl().connect(kRevFailed);
    if (c.ok() && (*c)->exec("LISTEN hsk_revocations", kRevFailed).ok()) return std::move(c).value();
    return nullptr;
  }

  void listen_loop(std::unique_ptr<pg::Connection> conn) {
    while (!stopping_) {
      if (!conn) {
        conn = listen_connection();
        // Rows added while no connection listened are read by the refresh below.
      }
      pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {conn ? PQsocket(conn->raw()) : -1, POLLIN, 0}};
      const int n = ::poll(fds, conn ? 2 : 1, static_cast<int>(options_.poll_interval.count()));
      if (stopping_) break;
      if (n > 0 && conn && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        if (PQconsumeInput(conn->raw()) == 0 || conn->broken()) {
          conn.reset();
        } else {
          while (PGnotify* note = PQnotifies(conn->raw())) PQfreemem(note);
        }
      }
      auto refreshed = refresh();  // on a notification or a timeout alike
      (void)refreshed;             // a failure is kept in failed_ and answered as kUnavailable
    }
  }

  std::shared_ptr<PgPool> pool_;
  const KeyResolver& keys_;
  const PgRevocationOptions options_;
  RevocationList list_;
  std::mutex refresh_mu_;
  std::int64_t last_seq_ = 0;
  std::atomic<bool> failed_{false};
  std::atomic<std::chrono::steady_clock::rep> last_ok_{0};
  std::atomic<bool> stopping_{false};
  int wake_fd_;
  std::thread listener_;
};

}  // namespace

Result<std::unique_ptr<NonceStore>> open_pg_nonce_store(std::shared_ptr<PgPool> pool, std::size_t max_entries) {
  if (!pool) return make_error(ErrorCode::kInvalidArgument, kNonceFailed, "no PostgreSQL pool");
  HSK_TRY(create_schema(pool->impl(), kNonceSchema, kNonceFailed));
  return std::unique_ptr<NonceStore>(std::make_unique<PgNonceStore>(std::move(pool), max_entries));
}

Result<std::unique_ptr<RateLimiter>> open_pg_rate_limiter(std::shared_ptr<PgPool> pool) {
  if (!pool) return make_error(ErrorCode::kInvalidArgument, kRateFailed, "no PostgreSQL pool");
  HSK_TRY(create_schema(pool->impl(), kRateSchema, kRateFailed));
  return std::unique_ptr<RateLimiter>(std::make_unique<PgRateLimiter>(std::move(pool)));
}

Result<std::unique_ptr<RevocationStore>> open_pg_revocation_store(std::shared_ptr<PgPool> pool,
                                                                  const KeyResolver& keys,
                                                                  const std::vector<std::string>& authorities,
                                                                  PgRevocationOptions options) {
  if (!pool) return make_error(ErrorCode::kInvalidArgument, kRevFailed, "no PostgreSQL pool");
  HSK_TRY(create_schema(pool->impl(), kRevocationSchema, kRevFailed));
  auto store = std::make_unique<PgRevocationStore>(std::move(pool), keys, options);
  for (const auto& a : authorities) store->add_authority(a);
  HSK_TRY(store->start());
  return std::unique_ptr<RevocationStore>(std::move(store));
}

}  // namespace handshake::storage
