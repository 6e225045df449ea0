#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>
#include <filesystem>
#include <random>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/merkle.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/storage/postgres.hpp"
#include "fixtures.hpp"
#include "pg_fixture.hpp"

namespace fs = std::filesystem;
namespace hm = handshake::merkle;
namespace hr = handshake::registry;
using handshake::Json;

namespace {

using hsk_storage_fx::TempDir;

hm::Hash leaf_n(std::uint64_t n) {
  const std::string s = "receipt-commitment-" + std::to_string(n);
  return hm::leaf_hash(handshake::encoding::as_bytes(s));
}

// Where a log of a kind keeps its data: a SQLite file, or a PostgreSQL schema; open() may be
// called again (a restart, another process) for the same log.
struct LogPlace {
  std::string kind;
  TempDir dir;
  std::string url;
  explicit LogPlace(std::string k) : kind(std::move(k)) {
    if (kind == "postgres") url = hsk_test::PgCluster::shared().fresh_url();
  }
  [[nodiscard]] handshake::Result<std::unique_ptr<hr::LogStore>> open() const {
    if (kind == "sqlite") return hr::open_sqlite_log(dir.path() / "log.db");
    handshake::storage::PgOptions o;
    o.url = url;
    o.pool_size = 4;
    auto pool = handshake::storage::PgPool::open(o);
    if (!pool.ok()) return pool.error();
    return handshake::storage::open_pg_log(*pool);
  }
};

}  // namespace

TEST_CASE("registry log: agrees with an in-memory tree, dedups, persists", "[registry][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "sqlite", "postgres");
  CAPTURE(kind);
  LogPlace place(kind);
  hm::MemoryTree reference;
  std::mt19937_64 rng(99);
  std::uint64_t next = 0;
  {
    auto log = place.open();
    REQUIRE(log.ok());
    CHECK((*log)->size().value() == 0);
    CHECK(hm::root(0, **log).value() == hm::empty_root());
    for (int batch = 0; batch < 20; ++batch) {
      std::vector<hm::Hash> leaves;
      const auto count = 1 + rng() % 40;
      for (std::uint64_t i = 0; i < count; ++i) leaves.push_back(leaf_n(next++));
      auto idx = (*log)->append(leaves);
      REQUIRE(idx.ok());
      for (std::size_t i = 0; i < leaves.size(); ++i) {
        CHECK((*idx)[i] == reference.size());
        reference.append(leaves[i]);
      }
      const auto size = (*log)->size().value();
      REQUIRE(size == reference.size());
      CHECK(hm::root(size, **log).value() == hm::root(size, reference).value());
      const auto index = rng() % size;
      const auto proof = hm::inclusion_proof(index, size, **log).value();
      CHECK(proof == hm::inclusion_proof(index, size, reference).value());
      CHECK(hm::verify_inclusion(index, size, leaf_n(index), proof, hm::root(size, reference).value()).ok());
    }
    // De-duplication: a known leaf keeps its index and the tree does not grow; a batch may mix.
    const auto before = (*log)->size().value();
    auto again = (*log)->append(std::vector<hm::Hash>{leaf_n(3), leaf_n(next), leaf_n(3), leaf_n(next)});
    REQUIRE(again.ok());
    CHECK(*again == std::vector<std::uint64_t>{3, before, 3, before});
    reference.append(leaf_n(next++));
    CHECK((*log)->size().value() == before + 1);
    CHECK((*log)->index_of(leaf_n(5)).value() == 5);
    CHECK((*log)->index_of(leaf_n(1'000'000)).error().reason == "registry.unknown_leaf");
  }
  // Reopened: same size, same root, consistency from every earlier size.
  auto log = place.open();
  REQUIRE(log.ok());
  const auto size = (*log)->size().value();
  CHECK(size == reference.size());
  const auto root = hm::root(size, **log).value();
  CHECK(root == hm::root(size, reference).value());
  for (std::uint64_t s1 = 1; s1 <= size; s1 += 37) {
    const auto proof = hm::consistency_proof(s1, size, **log).value();
    CHECK(hm::verify_consistency(s1, size, proof, hm::root(s1, reference).value(), root).ok());
  }
}

TEST_CASE("registry log: signed tree heads", "[registry][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "sqlite", "postgres");
  CAPTURE(kind);
  LogPlace place(kind);
  auto log = place.open();
  REQUIRE(log.ok());
  REQUIRE((*log)->append(std::vector<hm::Hash>{leaf_n(0), leaf_n(1), leaf_n(2)}).ok());
  const auto registry = handshake::Identity::generate({handshake::PrincipalType::kSvc, {}, {}, {}}).value();
  const auto other = handshake::Identity::generate({handshake::PrincipalType::kSvc, {}, {}, {}}).value();
  const auto now = handshake::time::parse_rfc3339("2026-05-01T12:00:00Z").value();
  auto sth = hr::sign_tree_head(**log, registry, now);
  REQUIRE(sth.ok());
  auto head = hr::verify_tree_head(*sth, registry.public_key());
  REQUIRE(head.ok());
  CHECK(head->tree_size == 3);
  CHECK(head->root_hash == hm::root(3, **log).value());
  CHECK(head->log_id == registry.did_string());
  CHECK(hr::verify_tree_head(*sth, other.public_key()).error().reason == "sig.invalid");
  Json tampered = *sth;
  tampered["tree_size"] = 4;
  CHECK(hr::verify_tree_head(tampered, registry.public_key()).error().reason == "sig.invalid");
  tampered = *sth;
  tampered["root_hash"] = std::string(64, 'A');
  CHECK(hr::verify_tree_head(tampered, registry.public_key()).error().reason == "registry.tree_head");
  tampered = *sth;
  tampered["extra"] = 1;
  CHECK(hr::verify_tree_head(tampered, registry.public_key()).error().reason == "registry.tree_head");
}

TEST_CASE("registry log: a process killed mid-append loses no acknowledged leaf", "[registry][crash][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "sqlite", "postgres");
  CAPTURE(kind);
  LogPlace place(kind);
  // The last tree head the "client" saw before the crash.
  hm::Hash seen_root{};
  std::uint64_t seen_size = 0;
  {
    auto log = place.open();
    REQUIRE(log.ok());
    std::vector<hm::Hash> first;
    for (int i = 0; i < 50; ++i) first.push_back(leaf_n(static_cast<std::uint64_t>(i)));
    REQUIRE((*log)->append(first).ok());
    seen_size = (*log)->size().value();
    seen_root = hm::root(seen_size, **log).value();
  }
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Child: append batches forever, reporting each acknowledged size on the pipe.
    ::close(fds[0]);
    auto log = place.open();
    if (!log.ok()) ::_exit(2);
    for (std::uint64_t next = 50;; ) {
      std::vector<hm::Hash> batch;
      for (int i = 0; i < 25; ++i) batch.push_back(leaf_n(next++));
      if (!(*log)->append(batch).ok()) ::_exit(3);
      const std::uint64_t acknowledged = next;
      if (::write(fds[1], &acknowledged, sizeof acknowledged) != sizeof acknowledged) ::_exit(4);
    }
  }
  ::close(fds[1]);
  std::uint64_t acknowledged = 0, value = 0;
  // Let it get well into its work, then kill it with no chance to clean up.
  while (acknowledged < 2000 && ::read(fds[0], &value, sizeof value) == sizeof value) acknowledged = value;
  ::kill(child, SIGKILL);
  while (::read(fds[0], &value, sizeof value) == sizeof value) acknowledged = value;  // drain what it managed to report
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(acknowledged >= 2000);

  auto log = place.open();
  REQUIRE(log.ok());
  const auto size = (*log)->size().value();
  CHECK(size >= acknowledged);
  CHECK(size % 25 == 0);  // whole batches only
  for (std::uint64_t i = 0; i < acknowledged; i += 97) CHECK((*log)->index_of(leaf_n(i)).value() == i);
  CHECK((*log)->index_of(leaf_n(acknowledged - 1)).value() == acknowledged - 1);
  const auto root = hm::root(size, **log).value();
  const auto proof = hm::consistency_proof(seen_size, size, **log).value();
  CHECK(hm::verify_consistency(seen_size, size, proof, seen_root, root).ok());
  // And the log keeps working.
  REQUIRE((*log)->append(std::vector<hm::Hash>{leaf_n(size)}).ok());
}

TEST_CASE("registry log: an unusable path is an error, not a crash", "[registry]") {
  TempDir dir;
  auto log = hr::open_sqlite_log(dir.path());  // a directory
  REQUIRE_FALSE(log.ok());
  CHECK(log.error().reason == "registry.store_failed");
}

TEST_CASE("registry log on PostgreSQL: two registries appending at once build one linear log", "[registry][postgres]") {
  LogPlace place("postgres");
  auto a = place.open();
  auto b = place.open();  // another process's pool
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  hr::LogStore* logs[] = {a->get(), b->get()};
  constexpr int kThreads = 4;
  constexpr int kBatches = 25;
  constexpr int kPerBatch = 20;
  std::atomic<int> errors{0};
  // Every head either process saw, to check consistency between them afterwards.
  std::mutex heads_mu;
  std::vector<std::pair<std::uint64_t, hm::Hash>> heads;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        hr::LogStore& log = *logs[t % 2];
        for (int k = 0; k < kBatches; ++k) {
          std::vector<hm::Hash> batch;
          for (int i = 0; i < kPerBatch; ++i) {
            batch.push_back(leaf_n(static_cast<std::uint64_t>((t * kBatches + k) * kPerBatch + i)));
          }
          if (!log.append(batch).ok()) {
            errors.fetch_add(1);
            continue;
          }
          auto size = log.size();
          if (!size.ok()) continue;
          auto root = hm::root(*size, log);
          if (!root.ok()) continue;
          std::lock_guard lock(heads_mu);
          heads.emplace_back(*size, *root);
        }
      });
    }
  }
  CHECK(errors.load() == 0);
  hr::LogStore& log = **a;
  const auto size = log.size().value();
  REQUIRE(size == static_cast<std::uint64_t>(kThreads * kBatches * kPerBatch));
  // One linear log: rebuild it from the stored order and compare roots; every leaf has one index.
  hm::MemoryTree reference;
  std::vector<bool> seen(size, false);
  for (std::uint64_t i = 0; i < size; ++i) reference.append(log.node(0, i).value());
  for (std::uint64_t n = 0; n < size; ++n) {
    const auto idx = log.index_of(leaf_n(n));
    REQUIRE(idx.ok());
    REQUIRE(*idx < size);
    CHECK_FALSE(seen[*idx]);
    seen[*idx] = true;
  }
  const auto root = hm::root(size, log).value();
  CHECK(root == hm::root(size, reference).value());
  CHECK(hm::root(size, **b).value() == root);
  // Heads served by either process are consistent with the final one and with each other.
  int inconsistent = 0;
  for (const auto& [s1, r1] : heads) {
    if (s1 == 0) continue;
    const auto proof = hm::consistency_proof(s1, size, **b).value();
    if (!hm::verify_consistency(s1, size, proof, r1, root).ok()) ++inconsistent;
  }
  CHECK(inconsistent == 0);
  CHECK(heads.size() == static_cast<std::size_t>(kThreads * kBatches));
}
