// Stores side by side in one run (a real PostgreSQL 15 started by the benchmark, tests/pg_fixture.hpp):
//
//   nonce/memory, nonce/sqlite, nonce/postgres   check-and-insert of fresh nonces per second, from
//                                                `threads` callers (PostgreSQL: a pool of 8)
//   append/sqlite, append/postgres               durable registry appends, batches of 1000 leaves
//
// Read them as ratios within the run: postgres against memory for nonces (the price of sharing
// one replay window between instances), postgres against the goal of 20,000 acknowledged
// leaves/s and against SQLite for appends.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "handshake/merkle.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/storage/postgres.hpp"
#include "handshake/storage/sqlite.hpp"
#include "pg_fixture.hpp"
#include "test_util.hpp"

namespace {

namespace fs = std::filesystem;
namespace hs = handshake;
namespace hm = handshake::merkle;


std::shared_ptr<hs::storage::PgPool> pool(std::size_t size) {
  hs::storage::PgOptions o;
  o.url = hsk_test::PgCluster::shared().fresh_url();
  o.pool_size = size;
  auto p = hs::storage::PgPool::open(o);
  if (!p.ok()) std::abort();
  return *p;
}

// One store per benchmark (shared by its threads), made by the first thread.
std::unique_ptr<hs::NonceStore> g_store;
std::unique_ptr<hsk_test::TempDir> g_dir;
std::atomic<std::uint64_t> g_next{0};

void run_nonces(benchmark::State& state) {
  const hs::Timestamp now = hs::SystemClock().now();
  const hs::Timestamp exp = now + std::chrono::minutes(10);
  const std::string iss = "did:hsk:agent:zBenchmarkIssuer" + std::to_string(state.thread_index());
  std::int64_t done = 0;
  for (auto _ : state) {
    const std::string nonce = "n" + std::to_string(g_next.fetch_add(1, std::memory_order_relaxed));
    auto r = g_store->check_and_insert(iss, nonce, exp, now);
    if (!r.ok() || !*r) {
      state.SkipWithError("check_and_insert failed");
      break;
    }
    ++done;
  }
  state.SetItemsProcessed(done);
}

void BM_NonceMemory(benchmark::State& state) {
  if (state.thread_index() == 0) g_store = hs::make_memory_nonce_store(20'000'000);
  run_nonces(state);
}

void BM_NonceSqlite(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_dir = std::make_unique<hsk_test::TempDir>("hsk-bench");
    g_store = hs::storage::open_sqlite_nonce_store(*g_dir / "nonces.db").value();
  }
  run_nonces(state);
  if (state.thread_index() == 0) {
    g_store.reset();
    g_dir.reset();
  }
}

void BM_NoncePostgres(benchmark::State& state) {
  if (state.thread_index() == 0) g_store = hs::storage::open_pg_nonce_store(pool(8)).value();
  run_nonces(state);
}

hm::Hash commitment(std::uint64_t n) {
  hm::Hash h{};
  for (int i = 0; i < 8; ++i) h[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  return hm::leaf_hash(h);
}

void append_batches(benchmark::State& state, hs::registry::LogStore& log) {
  std::uint64_t next = 0;
  std::vector<hm::Hash> batch(1000);
  for (auto _ : state) {
    for (auto& leaf : batch) leaf = commitment(next++);
    auto r = log.append(batch);
    if (!r.ok()) {
      state.SkipWithError(r.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(next));
}

void BM_AppendSqlite(benchmark::State& state) {
  const hsk_test::TempDir dir("hsk-bench");
  auto log = hs::registry::open_sqlite_log(dir / "log.db").value();
  append_batches(state, *log);
  log.reset();
}

void BM_AppendPostgres(benchmark::State& state) {
  auto log = hs::storage::open_pg_log(pool(2)).value();
  append_batches(state, *log);
}

}  // namespace

BENCHMARK(BM_NonceMemory)->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_NonceSqlite)->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_NoncePostgres)->Threads(1)->Threads(4)->UseRealTime();
BENCHMARK(BM_AppendSqlite)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AppendPostgres)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
