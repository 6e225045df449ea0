// The contract of replay protection (§17) and rate limits, run against every backend: in memory
// (core), SQLite and PostgreSQL (storage/, a real PostgreSQL 15 started by the test).
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/nonce_store.hpp"
#include "handshake/storage/postgres.hpp"
#include "handshake/storage/sqlite.hpp"
#include "handshake/time.hpp"
#include "fixtures.hpp"
#include "pg_fixture.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using handshake::ErrorCode;
using handshake::NonceStore;
using handshake::RateLimiter;
using handshake::Result;
using handshake::Timestamp;

namespace {

Timestamp at_seconds(std::int64_t s) { return Timestamp{std::chrono::seconds{s}}; }

// 2026-04-24T03:07:00Z, a multiple of 60 seconds since the epoch.
const Timestamp kT0 = at_seconds(1'777'000'000 + 20);
const std::string kIss = "did:hsk:agent:zIssuerA";

template <typename T>
std::string why(const Result<T>& r) {
  return r.ok() ? std::string("ok") : r.error().to_string();
}

using hsk_storage_fx::TempDir;

std::shared_ptr<handshake::storage::PgPool> open_pool(const std::string& url, std::size_t pool_size = 8) {
  handshake::storage::PgOptions o;
  o.url = url;
  o.pool_size = pool_size;
  auto r = handshake::storage::PgPool::open(o);
  INFO(why(r));
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::unique_ptr<NonceStore> open_pg(const std::string& url, std::size_t max_entries = 10'000'000) {
  auto r = handshake::storage::open_pg_nonce_store(open_pool(url), max_entries);
  INFO(why(r));
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::unique_ptr<NonceStore> open_sqlite(const fs::path& file, std::size_t max_entries = 10'000'000) {
  auto r = handshake::storage::open_sqlite_nonce_store(file, max_entries);
  INFO(why(r));
  REQUIRE(r.ok());
  return std::move(r).value();
}

// One store of either kind; a SQLite one lives in its own temp dir, removed after the store
// is closed (members are destroyed in reverse order).
struct StoreUnderTest {
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<NonceStore> store;
};

StoreUnderTest make_store(const std::string& kind, std::size_t max_entries = 1'000'000) {
  StoreUnderTest s;
  if (kind == "memory") {
    s.store = handshake::make_memory_nonce_store(max_entries);
  } else if (kind == "postgres") {
    s.store = open_pg(hsk_test::PgCluster::shared().fresh_url(), max_entries);
  } else {
    s.dir = std::make_unique<TempDir>();
    s.store = open_sqlite(s.dir->path() / "nonces.db", max_entries);
  }
  return s;
}

// check_and_insert that must not fail.
bool fresh(NonceStore& store, const std::string& iss, const std::string& nonce, Timestamp expires_at,
           Timestamp now) {
  auto r = store.check_and_insert(iss, nonce, expires_at, now);
  INFO(iss << " / " << nonce << ": " << why(r));
  REQUIRE(r.ok());
  return r.value();
}

void require_error(const Result<bool>& r, ErrorCode code, const std::string& reason) {
  INFO(why(r));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == code);
  CHECK(r.error().reason == reason);
}

}  // namespace

// --- every store --------------------------------------------------------------------------------

TEST_CASE("nonce store: fresh once, then a replay; the issuer is part of the key", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "sqlite", "postgres");
  CAPTURE(kind);
  auto s = make_store(kind);
  NonceStore& store = *s.store;
  const Timestamp exp = kT0 + 5min;

  CHECK(store.size() == 0);
  CHECK(fresh(store, kIss, "nonce-1", exp, kT0));
  CHECK_FALSE(fresh(store, kIss, "nonce-1", exp, kT0));
  CHECK_FALSE(fresh(store, kIss, "nonce-1", exp, kT0 + 1min));
  CHECK_FALSE(fresh(store, kIss, "nonce-1", exp + 1h, kT0 + 2min));  // another expiry: still a replay

  CHECK(fresh(store, "did:hsk:agent:zIssuerB", "nonce-1", exp, kT0));  // same nonce, other issuer
  CHECK(fresh(store, kIss, "nonce-2", exp, kT0));
  CHECK_FALSE(fresh(store, "did:hsk:agent:zIssuerB", "nonce-1", exp, kT0));
  // iss and nonce are not simply concatenated.
  CHECK(fresh(store, "did:x", "ab", exp, kT0));
  CHECK(fresh(store, "did:xa", "b", exp, kT0));
  CHECK(store.size() == 5);
}

TEST_CASE("nonce store: an entry can be reused after it expires, not before", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "sqlite", "postgres");
  CAPTURE(kind);
  auto s = make_store(kind);
  NonceStore& store = *s.store;
  const Timestamp exp = kT0 + 5min;

  REQUIRE(fresh(store, kIss, "n", exp, kT0));
  CHECK_FALSE(fresh(store, kIss, "n", exp, exp - 1us));
  CHECK_FALSE(fresh(store, kIss, "n", exp, exp));  // the last instant of validity still counts
  const Timestamp exp2 = exp + 5min;
  CHECK(fresh(store, kIss, "n", exp2, exp + 1us));  // expired: recorded afresh until exp2
  CHECK_FALSE(fresh(store, kIss, "n", exp2, exp + 2us));
  CHECK_FALSE(fresh(store, kIss, "n", exp2, exp2));
  CHECK(fresh(store, kIss, "n", exp2 + 1min, exp2 + 1us));
  CHECK(store.size() == 1);  // replaced, not added
}

TEST_CASE("nonce store: issuer and nonce lengths are bounded", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "sqlite", "postgres");
  CAPTURE(kind);
  auto s = make_store(kind);
  NonceStore& store = *s.store;
  const Timestamp exp = kT0 + 5min;

  CHECK(fresh(store, std::string(512, 'i'), std::string(512, 'n'), exp, kT0));
  require_error(store.check_and_insert(std::string(513, 'i'), "n", exp, kT0), ErrorCode::kInvalidArgument,
                "nonce.invalid");
  require_error(store.check_and_insert(kIss, std::string(513, 'n'), exp, kT0), ErrorCode::kInvalidArgument,
                "nonce.invalid");
  require_error(store.check_and_insert("", "n", exp, kT0), ErrorCode::kInvalidArgument, "nonce.invalid");
  require_error(store.check_and_insert(kIss, "", exp, kT0), ErrorCode::kInvalidArgument, "nonce.invalid");
  require_error(store.check_and_insert(std::string("did\0x", 5), "n", exp, kT0), ErrorCode::kInvalidArgument,
                "nonce.invalid");
  require_error(store.check_and_insert(kIss, std::string("n\0x", 3), exp, kT0), ErrorCode::kInvalidArgument,
                "nonce.invalid");
  CHECK(store.size() == 1);
}

TEST_CASE("nonce store: of concurrent callers with the same nonce exactly one wins", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "sqlite", "postgres");
  CAPTURE(kind);
  auto s = make_store(kind);
  NonceStore& store = *s.store;
  const int rounds = kind == "memory" ? 200 : 50;
  constexpr int kThreads = 8;
  const Timestamp exp = kT0 + 5min;

  // outcome[round * kThreads + thread]: 1 accepted, 0 replay, -1 error.
  std::vector<int> outcome(static_cast<std::size_t>(rounds * kThreads), -2);
  std::barrier start(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0; round < rounds; ++round) {
          const std::string nonce = "race-" + std::to_string(round);
          start.arrive_and_wait();  // all threads of a round start together
          auto r = store.check_and_insert(kIss, nonce, exp, kT0);
          outcome[static_cast<std::size_t>(round * kThreads + t)] = r.ok() ? (r.value() ? 1 : 0) : -1;
        }
      });
    }
  }
  int bad_rounds = 0;
  int errors = 0;
  for (int round = 0; round < rounds; ++round) {
    int wins = 0;
    for (int t = 0; t < kThreads; ++t) {
      const int o = outcome[static_cast<std::size_t>(round * kThreads + t)];
      if (o == 1) ++wins;
      if (o < 0) ++errors;
    }
    if (wins != 1) ++bad_rounds;
  }
  CHECK(errors == 0);
  CHECK(bad_rounds == 0);
  CHECK(store.size() == static_cast<std::size_t>(rounds));
}

TEST_CASE("nonce store: distinct nonces from many threads are all accepted", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "sqlite", "postgres");
  CAPTURE(kind);
  auto s = make_store(kind);
  NonceStore& store = *s.store;
  const int per_thread = kind == "memory" ? 2000 : 200;
  constexpr int kThreads = 8;
  const Timestamp exp = kT0 + 5min;

  std::atomic<int> accepted{0};
  std::atomic<int> rejected{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          auto r = store.check_and_insert(kIss, "t" + std::to_string(t) + "-" + std::to_string(i), exp, kT0);
          (r.ok() && r.value() ? accepted : rejected).fetch_add(1);
        }
      });
    }
  }
  CHECK(accepted.load() == kThreads * per_thread);
  CHECK(rejected.load() == 0);
  CHECK(store.size() == static_cast<std::size_t>(kThreads * per_thread));
  CHECK_FALSE(fresh(store, kIss, "t0-0", exp, kT0 + 1s));
  CHECK_FALSE(fresh(store, kIss, "t7-" + std::to_string(per_thread - 1), exp, kT0 + 1s));
}

TEST_CASE("nonce store: bounded; full means an error, never forgetting a live nonce", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "sqlite", "postgres");
  CAPTURE(kind);
  const int max = kind == "memory" ? 100 : 20;
  auto s = make_store(kind, static_cast<std::size_t>(max));
  NonceStore& store = *s.store;
  const Timestamp exp_early = kT0 + 1min;
  const Timestamp exp_late = kT0 + 10min;
  auto name = [](const std::string& prefix, int i) { return prefix + std::to_string(i); };

  // Half expire early, half late.
  for (int i = 0; i < max; ++i) {
    REQUIRE(fresh(store, kIss, name("a", i), i % 2 == 0 ? exp_early : exp_late, kT0));
  }
  CHECK(store.size() == static_cast<std::size_t>(max));
  require_error(store.check_and_insert(kIss, "one-more", exp_late, kT0 + 1s), ErrorCode::kUnavailable,
                "nonce.store_full");
  CHECK_FALSE(fresh(store, kIss, name("a", 0), exp_late, kT0 + 1s));  // a replay is still a replay
  CHECK_FALSE(fresh(store, kIss, name("a", 1), exp_late, kT0 + 1s));
  CHECK(store.size() == static_cast<std::size_t>(max));

  // Once the early half has expired, exactly that much room comes back.
  const Timestamp later = exp_early + 1s;
  for (int i = 0; i < max / 2; ++i) {
    CHECK(fresh(store, kIss, name("b", i), exp_late, later));
  }
  require_error(store.check_and_insert(kIss, "one-more", exp_late, later), ErrorCode::kUnavailable,
                "nonce.store_full");
  for (int i = 1; i < max; i += 2) {
    CHECK_FALSE(fresh(store, kIss, name("a", i), exp_late, later));  // none of the live ones went
  }
  CHECK(store.size() == static_cast<std::size_t>(max));

  // After everything has expired, the store takes new nonces again.
  const Timestamp much_later = exp_late + 1s;
  for (int i = 0; i < max; ++i) {
    CHECK(fresh(store, kIss, name("c", i), much_later + 1min, much_later));
  }
  CHECK(store.size() == static_cast<std::size_t>(max));
}

// --- SQLite only --------------------------------------------------------------------------------

TEST_CASE("sqlite nonce store: survives close and reopen", "[nonce]") {
  TempDir dir;
  const fs::path file = dir.path() / "nonces.db";
  const Timestamp exp = kT0 + 5min;
  {
    auto store = open_sqlite(file);
    REQUIRE(fresh(*store, kIss, "persist-1", exp, kT0));
    REQUIRE(fresh(*store, kIss, "persist-2", exp, kT0));
    CHECK(fs::exists(fs::path(file.string() + "-wal")));  // WAL mode
  }
  auto store = open_sqlite(file);
  CHECK(store->size() == 2);
  CHECK_FALSE(fresh(*store, kIss, "persist-1", exp, kT0 + 1min));
  CHECK_FALSE(fresh(*store, kIss, "persist-2", exp, kT0 + 1min));
  CHECK(fresh(*store, kIss, "persist-3", exp, kT0 + 1min));
  CHECK(fresh(*store, kIss, "persist-1", exp + 5min, exp + 1us));  // expired by now
}

TEST_CASE("sqlite nonce store: expired rows are swept as inserts go on, live ones kept", "[nonce]") {
  TempDir dir;
  auto store = open_sqlite(dir.path() / "nonces.db");
  const Timestamp exp_short = kT0 + 1min;
  const Timestamp exp_long = kT0 + 1h;
  for (int i = 0; i < 1200; ++i) REQUIRE(fresh(*store, kIss, "short-" + std::to_string(i), exp_short, kT0));
  for (int i = 0; i < 5; ++i) REQUIRE(fresh(*store, kIss, "long-" + std::to_string(i), exp_long, kT0));
  CHECK(store->size() == 1205);
  // The store sweeps every 1024 inserts, up to 2048 rows: within the next 2048 inserts, all 1200
  // expired rows go.
  const Timestamp later = exp_short + 1min;
  for (int i = 0; i < 2048; ++i) REQUIRE(fresh(*store, kIss, "new-" + std::to_string(i), exp_long, later));
  CHECK(store->size() == 5 + 2048);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(fresh(*store, kIss, "long-" + std::to_string(i), exp_long, later));
}

TEST_CASE("sqlite nonce store: the capacity bound holds across instances", "[nonce]") {
  TempDir dir;
  const fs::path file = dir.path() / "shared.db";
  auto a = open_sqlite(file, 10);
  auto b = open_sqlite(file, 10);
  const Timestamp exp = kT0 + 5min;
  int accepted = 0;
  int full = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = (i % 2 == 0 ? *a : *b).check_and_insert(kIss, "cap-" + std::to_string(i), exp, kT0);
    if (r.ok() && r.value()) ++accepted;
    if (!r.ok() && r.error().reason == "nonce.store_full") ++full;
  }
  CHECK(accepted == 10);
  CHECK(full == 10);
}

TEST_CASE("sqlite nonce store: an unusable path is an error", "[nonce]") {
  TempDir dir;
  auto expect_failure = [](const fs::path& path) {
    auto r = handshake::storage::open_sqlite_nonce_store(path);
    INFO(path.string() << ": " << (r.ok() ? std::string("opened") : r.error().to_string()));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kUnavailable);
    CHECK(r.error().reason == "nonce.store_failed");
  };

  SECTION("a directory") { expect_failure(dir.path()); }
  SECTION("a missing parent directory") { expect_failure(dir.path() / "missing" / "nonces.db"); }
  SECTION("an empty path") { expect_failure(fs::path{}); }
  SECTION("a file that is not a database, left untouched") {
    const fs::path file = dir.path() / "garbage.db";
    std::string garbage;
    for (int i = 0; i < 512; ++i) garbage += "not a database ";
    {
      std::ofstream out(file, std::ios::binary);
      out << garbage;
    }
    expect_failure(file);
    std::ifstream in(file, std::ios::binary);
    const std::string after{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    CHECK(after == garbage);
  }
}

// --- rate limiter -------------------------------------------------------------------------------

namespace {

RateLimiter::Decision hit_ok(RateLimiter& rl, const std::string& key, std::int64_t count, std::int64_t per,
                             Timestamp now) {
  auto r = rl.hit(key, count, per, now);
  INFO(key << ": " << (r.ok() ? std::string("ok") : r.error().to_string()));
  REQUIRE(r.ok());
  return r.value();
}

// A limiter of the given kind; a PostgreSQL one in a fresh schema.
std::unique_ptr<RateLimiter> make_limiter(const std::string& kind) {
  if (kind == "memory") return handshake::make_memory_rate_limiter();
  auto r = handshake::storage::open_pg_rate_limiter(open_pool(hsk_test::PgCluster::shared().fresh_url()));
  INFO(why(r));
  REQUIRE(r.ok());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("rate limiter: N per window, then refused until the window ends", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "postgres");
  CAPTURE(kind);
  auto rl = make_limiter(kind);
  const Timestamp window = kT0;  // a multiple of 60 s since the epoch
  for (int i = 0; i < 3; ++i) CHECK(hit_ok(*rl, "k", 3, 60, window + 10s).allowed);
  auto refused = hit_ok(*rl, "k", 3, 60, window + 10s);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_seconds == 50);
  refused = hit_ok(*rl, "k", 3, 60, window + 59s + 500ms);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_seconds == 1);  // half a second left rounds up to one

  // The next window allows again.
  for (int i = 0; i < 3; ++i) CHECK(hit_ok(*rl, "k", 3, 60, window + 60s).allowed);
  refused = hit_ok(*rl, "k", 3, 60, window + 60s);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_seconds == 60);
  CHECK(hit_ok(*rl, "k", 3, 60, window + 120s).allowed);
}

TEST_CASE("rate limiter: windows are aligned to the epoch", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "postgres");
  CAPTURE(kind);
  auto rl = make_limiter(kind);
  const Timestamp window = kT0;
  CHECK(hit_ok(*rl, "k", 1, 10, window + 9s + 999999us).allowed);
  CHECK(hit_ok(*rl, "k", 1, 10, window + 10s).allowed);  // a new window, not 10 s after the first hit
  const auto refused = hit_ok(*rl, "k", 1, 10, window + 13s);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_seconds == 7);

  // Before the epoch too: the window of -30 s is [-60 s, 0 s).
  auto rl2 = make_limiter(kind);
  CHECK(hit_ok(*rl2, "k", 1, 60, at_seconds(-30)).allowed);
  const auto refused2 = hit_ok(*rl2, "k", 1, 60, at_seconds(-30));
  CHECK_FALSE(refused2.allowed);
  CHECK(refused2.retry_after_seconds == 30);
  CHECK(hit_ok(*rl2, "k", 1, 60, at_seconds(0)).allowed);

  // A huge window does not overflow.
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  CHECK(hit_ok(*rl2, "huge", 1, kMax, kT0).allowed);
  const auto refused3 = hit_ok(*rl2, "huge", 1, kMax, kT0);
  CHECK_FALSE(refused3.allowed);
  CHECK(refused3.retry_after_seconds >= 1);
  CHECK(refused3.retry_after_seconds <= kMax);
}

TEST_CASE("rate limiter: keys and window sizes are independent", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "postgres");
  CAPTURE(kind);
  auto rl = make_limiter(kind);
  const Timestamp now = kT0 + 5s;
  CHECK(hit_ok(*rl, "a", 1, 60, now).allowed);
  CHECK_FALSE(hit_ok(*rl, "a", 1, 60, now).allowed);
  CHECK(hit_ok(*rl, "b", 1, 60, now).allowed);
  CHECK(hit_ok(*rl, "a", 1, 3600, now).allowed);  // the same key under another window size
  CHECK_FALSE(hit_ok(*rl, "a", 1, 3600, now).allowed);
  CHECK_FALSE(hit_ok(*rl, "b", 1, 60, now).allowed);
}

TEST_CASE("rate limiter: invalid parameters", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "postgres");
  CAPTURE(kind);
  auto rl = make_limiter(kind);
  for (auto [count, per] : {std::array<std::int64_t, 2>{0, 60}, {-1, 60}, {5, 0}, {5, -60}}) {
    auto r = rl->hit("k", count, per, kT0);
    CAPTURE(count, per);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidArgument);
    CHECK(r.error().reason == "ratelimit.invalid");
  }
}

TEST_CASE("rate limiter: the number of keys is bounded", "[nonce]") {
  auto rl = handshake::make_memory_rate_limiter(10);
  const Timestamp now = kT0 + 1s;
  for (int i = 0; i < 10; ++i) CHECK(hit_ok(*rl, "k" + std::to_string(i), 5, 60, now).allowed);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = rl->hit("k10", 5, 60, now + 30s);
    INFO(why(r));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kUnavailable);
    CHECK(r.error().reason == "ratelimit.full");
  }
  CHECK(hit_ok(*rl, "k0", 5, 60, now + 30s).allowed);  // known keys still count

  // Once their windows have ended, the old keys make room.
  for (int i = 10; i < 20; ++i) CHECK(hit_ok(*rl, "k" + std::to_string(i), 5, 60, now + 60s).allowed);
  CHECK_FALSE(rl->hit("k20", 5, 60, now + 60s).ok());
}

TEST_CASE("rate limiter: concurrent hits are counted exactly", "[nonce]") {
  const std::string kind = GENERATE(as<std::string>{}, "memory", "postgres");
  CAPTURE(kind);
  auto rl = make_limiter(kind);
  constexpr int kThreads = 8;
  constexpr int kHits = 250;
  std::atomic<int> allowed{0};
  std::atomic<int> errors{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kHits; ++i) {
          auto r = rl->hit("shared", 1000, 3600, kT0);
          if (!r.ok()) {
            errors.fetch_add(1);
          } else if (r.value().allowed) {
            allowed.fetch_add(1);
          }
        }
      });
    }
  }
  CHECK(errors.load() == 0);
  CHECK(allowed.load() == 1000);
}

// --- PostgreSQL: several instances, connection handling, failure ---------------------------------

TEST_CASE("nonce store: instances on one database never both accept a nonce", "[nonce][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "sqlite", "postgres");
  CAPTURE(kind);
  // Three instances on one store, as three processes would have them (PostgreSQL: a pool each).
  TempDir dir;
  const std::string url = kind == "postgres" ? hsk_test::PgCluster::shared().fresh_url() : std::string();
  auto open = [&] { return kind == "postgres" ? open_pg(url) : open_sqlite(dir.path() / "shared.db"); };
  auto a = open();
  auto b = open();
  auto c = open();
  NonceStore* stores[] = {a.get(), b.get(), c.get()};
  const Timestamp exp = kT0 + 5min;
  constexpr int kNonces = 200;
  constexpr int kThreads = 6;
  std::vector<std::atomic<int>> wins(kNonces);
  std::atomic<int> errors{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        NonceStore& store = *stores[t % 3];
        for (int k = 0; k < kNonces; ++k) {
          const int i = t % 2 == 0 ? k : kNonces - 1 - k;  // meet from both ends too
          auto r = store.check_and_insert(kIss, "shared-" + std::to_string(i), exp, kT0);
          if (!r.ok()) {
            errors.fetch_add(1);
          } else if (r.value()) {
            wins[static_cast<std::size_t>(i)].fetch_add(1);
          }
        }
      });
    }
  }
  CHECK(errors.load() == 0);
  int not_exactly_once = 0;
  for (const auto& w : wins) not_exactly_once += w.load() != 1 ? 1 : 0;
  CHECK(not_exactly_once == 0);
  CHECK(a->size() == static_cast<std::size_t>(kNonces));
  CHECK(b->size() == static_cast<std::size_t>(kNonces));
}

TEST_CASE("postgres nonce store: the capacity bound holds across instances; rows survive a restart of the store",
          "[nonce][postgres]") {
  const std::string url = hsk_test::PgCluster::shared().fresh_url();
  const Timestamp exp = kT0 + 5min;
  {
    auto a = open_pg(url, 10);
    auto b = open_pg(url, 10);
    int accepted = 0;
    int full = 0;
    for (int i = 0; i < 20; ++i) {
      auto r = (i % 2 == 0 ? *a : *b).check_and_insert(kIss, "cap-" + std::to_string(i), exp, kT0);
      if (r.ok() && r.value()) ++accepted;
      if (!r.ok() && r.error().reason == "nonce.store_full") ++full;
    }
    CHECK(accepted == 10);
    CHECK(full == 10);
  }
  auto again = open_pg(url, 10);
  CHECK(again->size() == 10);
  CHECK_FALSE(fresh(*again, kIss, "cap-0", exp, kT0 + 1min));  // still remembered
}

TEST_CASE("postgres pool: the URL and the password are checked before anything connects", "[postgres]") {
  handshake::storage::PgOptions o;
  SECTION("a password in the URL is refused") {
    o.url = "postgresql://hsk:secret@127.0.0.1:5432/postgres";
    auto r = handshake::storage::PgPool::open(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "pg.url");
    CHECK(r.error().message.find("secret") == std::string::npos);  // never repeated back
  }
  SECTION("a password in key=value form too") {
    o.url = "host=127.0.0.1 user=hsk password=secret";
    auto r = handshake::storage::PgPool::open(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "pg.url");
    CHECK(r.error().message.find("secret") == std::string::npos);
  }
  SECTION("not a URL") {
    o.url = "postgresql://[::1";
    auto r = handshake::storage::PgPool::open(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "pg.url");
  }
  SECTION("empty") {
    auto r = handshake::storage::PgPool::open(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "pg.url");
  }
  SECTION("a password file others can read is refused") {
    TempDir dir;
    const fs::path pw = dir.path() / "pg.pass";
    { std::ofstream(pw) << "secret\n"; }
    fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
    o.url = hsk_test::PgCluster::shared().base_url();
    o.password_file = pw;
    auto r = handshake::storage::PgPool::open(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "keyfile.permissions");
  }
  SECTION("nothing listening: a clear start-up error") {
    o.url = "postgresql://hsk@127.0.0.1:1/postgres";
    o.connect_timeout = 1s;
    auto r = handshake::storage::PgPool::open(o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kUnavailable);
    CHECK(r.error().reason == "pg.connect");
    CHECK(r.error().message.find("127.0.0.1:1/postgres") != std::string::npos);
  }
}

TEST_CASE("postgres stores: the database going away fails closed, and they recover by themselves",
          "[nonce][postgres]") {
  auto& cluster = hsk_test::PgCluster::shared();
  const std::string url = cluster.fresh_url();
  auto nonces = open_pg(url);
  auto limiter = handshake::storage::open_pg_rate_limiter(open_pool(url));
  REQUIRE(limiter.ok());
  const Timestamp exp = kT0 + 5min;
  REQUIRE(fresh(*nonces, kIss, "before", exp, kT0));

  cluster.halt();
  auto down = nonces->check_and_insert(kIss, "during", exp, kT0);
  REQUIRE_FALSE(down.ok());  // never "fresh", never "replay": cannot tell
  CHECK(down.error().code == ErrorCode::kUnavailable);
  CHECK(down.error().reason == "nonce.store_failed");
  auto rl_down = (*limiter)->hit("k", 5, 60, kT0);
  REQUIRE_FALSE(rl_down.ok());
  CHECK(rl_down.error().reason == "ratelimit.store_failed");

  cluster.resume();
  // Broken connections are replaced on use; allow a moment for the server to accept again.
  Result<bool> back = make_error(ErrorCode::kUnavailable, "x", "x");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    back = nonces->check_and_insert(kIss, "after", exp, kT0);
    if (back.ok()) break;
    std::this_thread::sleep_for(100ms);
  }
  INFO(why(back));
  REQUIRE(back.ok());
  CHECK(back.value());
  CHECK_FALSE(fresh(*nonces, kIss, "before", exp, kT0));  // nothing stored was lost
  CHECK(fresh(*nonces, kIss, "during", exp, kT0));          // the refused attempt left nothing behind
  auto rl_back = (*limiter)->hit("k", 5, 60, kT0);
  INFO(why(rl_back));
  CHECK(rl_back.ok());
}

TEST_CASE("postgres rate limiter: one budget shared by every instance", "[nonce][postgres]") {
  const std::string url = hsk_test::PgCluster::shared().fresh_url();
  auto a = handshake::storage::open_pg_rate_limiter(open_pool(url));
  auto b = handshake::storage::open_pg_rate_limiter(open_pool(url));
  auto c = handshake::storage::open_pg_rate_limiter(open_pool(url));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  RateLimiter* limiters[] = {a->get(), b->get(), c->get()};
  std::atomic<int> allowed{0};
  std::atomic<int> errors{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          auto r = limiters[t % 3]->hit("agent|cap", 100, 60, kT0 + 1s);
          if (!r.ok()) {
            errors.fetch_add(1);
          } else if (r.value().allowed) {
            allowed.fetch_add(1);
          }
        }
      });
    }
  }
  CHECK(errors.load() == 0);
  CHECK(allowed.load() == 100);  // 300 hits on three instances, 100 allowed in total
  // An instance whose clock lags a window behind counts into the newer window, never resets it.
  CHECK(hit_ok(*limiters[0], "lag", 1, 60, kT0 + 61s).allowed);
  CHECK_FALSE(hit_ok(*limiters[1], "lag", 1, 60, kT0 + 59s).allowed);
}

TEST_CASE("postgres pool: a password from an owner-only file, never from the URL", "[postgres]") {
  auto& cluster = hsk_test::PgCluster::shared();
  static bool made = false;
  if (!made) {
    cluster.require_password("hsk_pw", "s3cret-pass");
    made = true;
  }
  TempDir dir;
  const fs::path pw = dir.path() / "pg.pass";
  {
    std::ofstream out(pw);
    out << "s3cret-pass\n";
  }
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
  handshake::storage::PgOptions o;
  o.url = "postgresql://hsk_pw@127.0.0.1:" + std::to_string(cluster.port()) + "/postgres";
  o.connect_timeout = 2s;
  SECTION("the right password from the file") {
    o.password_file = pw;
    auto pool = handshake::storage::PgPool::open(o);
    INFO(why(pool));
    REQUIRE(pool.ok());
    CHECK((*pool)->ping().ok());
  }
  SECTION("no password: refused by the server, a clear start-up error") {
    ::setenv("PGPASSFILE", "/nonexistent", 1);
    auto pool = handshake::storage::PgPool::open(o);
    ::unsetenv("PGPASSFILE");
    REQUIRE_FALSE(pool.ok());
    CHECK(pool.error().reason == "pg.connect");
  }
  SECTION("a wrong password: refused, and the message does not repeat it") {
    {
      std::ofstream out(pw, std::ios::trunc);
      out << "wrong-pass\n";
    }
    o.password_file = pw;
    auto pool = handshake::storage::PgPool::open(o);
    REQUIRE_FALSE(pool.ok());
    CHECK(pool.error().reason == "pg.connect");
    CHECK(pool.error().message.find("wrong-pass") == std::string::npos);
    CHECK(pool.error().message.find("hsk_pw") != std::string::npos);  // names who failed, not with what
  }
}
