// The RevocationStore contract (revocation.hpp) against SQLite and PostgreSQL: verified before
// stored, durable, idempotent, seen by every instance, never forgotten; PostgreSQL also pushes
// new statements to every instance (LISTEN/NOTIFY) and fails closed when it cannot read.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/storage/postgres.hpp"
#include "handshake/storage/sqlite.hpp"
#include "fixtures.hpp"
#include "pg_fixture.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
using namespace std::chrono_literals;
using Answer = hs::RevocationSource::Answer;

namespace {

using hsk_storage_fx::must;

const hs::Timestamp kNow = hs::time::parse_rfc3339("2026-04-29T14:00:00Z").value();

struct World {
  hs::Identity org = hsk_storage_fx::identity(hs::PrincipalType::kOrg, 7);
  hs::Identity stranger = hsk_storage_fx::identity(hs::PrincipalType::kOrg, 9);
  hs::StaticKeyResolver keys;
  World() {
    keys.add(org.did_string(), org.public_key());
    keys.add(stranger.did_string(), stranger.public_key());
  }
};

// Where a store of a kind keeps its data: a file, or a PostgreSQL schema.
struct Place {
  std::string kind;
  hsk_storage_fx::TempDir dir;
  std::string url;
  explicit Place(std::string k) : kind(std::move(k)) {
    if (kind == "postgres") url = hsk_test::PgCluster::shared().fresh_url();
  }

  std::unique_ptr<hs::RevocationStore> open(const hs::KeyResolver& keys, hs::storage::PgRevocationOptions o = {}) const {
    if (kind == "sqlite") return must(hs::storage::open_sqlite_revocation_store(dir.path() / "revocations.db", keys));
    hs::storage::PgOptions po;
    po.url = url;
    po.pool_size = 2;
    return must(hs::storage::open_pg_revocation_store(must(hs::storage::PgPool::open(po)), keys, {}, o));
  }
};

}  // namespace

TEST_CASE("revocation store: verified, durable, idempotent, never forgotten", "[revocation][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "sqlite", "postgres");
  CAPTURE(kind);
  World w;
  Place place(kind);
  const std::string delegation = hs::ids::make_id("dt_", kNow);
  const std::string other = hs::ids::make_id("dt_", kNow + 1s);
  const hs::Json statement = must(hs::make_revocation(w.org, delegation, std::nullopt, "policy_change", kNow));
  {
    auto store = place.open(w.keys);
    CHECK(store->delegation_revoked(delegation, w.org.did_string(), kNow + 1s) == Answer::kNotRevoked);
    REQUIRE(store->add_statement(statement).ok());
    REQUIRE(store->add_statement(statement).ok());  // idempotent
    CHECK(store->delegation_revoked(delegation, w.org.did_string(), kNow + 1s) == Answer::kRevoked);
    CHECK(store->delegation_revoked(other, w.org.did_string(), kNow + 1s) == Answer::kNotRevoked);
    // Authority: a statement counts only against what its issuer issued.
    CHECK(store->delegation_revoked(delegation, w.stranger.did_string(), kNow + 1s) == Answer::kNotRevoked);

    // A statement whose signature does not verify is refused and stored nowhere.
    hs::Json forged = must(hs::make_revocation(w.org, other, std::nullopt, "policy_change", kNow));
    forged["reason"] = "key_compromise";
    CHECK_FALSE(store->add_statement(forged).ok());
    hs::Json garbage = hs::Json::object({{"id", "x"}});
    CHECK_FALSE(store->add_statement(garbage).ok());
  }
  auto reopened = place.open(w.keys);
  CHECK(reopened->delegation_revoked(delegation, w.org.did_string(), kNow + 1s) == Answer::kRevoked);
  CHECK(reopened->delegation_revoked(other, w.org.did_string(), kNow + 1s) == Answer::kNotRevoked);
}

TEST_CASE("revocation store: a statement added by one instance reaches the others", "[revocation][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "sqlite", "postgres");
  CAPTURE(kind);
  World w;
  Place place(kind);
  hs::storage::PgRevocationOptions slow;
  slow.poll_interval = 60s;  // PostgreSQL: only the notification can deliver it in time
  slow.max_staleness = 120s;
  auto a = place.open(w.keys, slow);
  auto b = place.open(w.keys, slow);
  const hs::Json principal = must(hs::make_revocation(w.org, std::nullopt, w.org.did_string(), "key_compromise", kNow));
  REQUIRE(a->add_statement(principal).ok());
  if (kind == "sqlite") REQUIRE(b->refresh().ok());  // one host: readers refresh
  const auto start = std::chrono::steady_clock::now();
  while (b->principal_revoked(w.org.did_string(), kNow + 1s) != Answer::kRevoked &&
         std::chrono::steady_clock::now() - start < 5s) {
    std::this_thread::sleep_for(5ms);
  }
  CHECK(b->principal_revoked(w.org.did_string(), kNow + 1s) == Answer::kRevoked);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}

TEST_CASE("postgres revocation store: unreadable means unavailable, and it recovers by itself",
          "[revocation][postgres]") {
  World w;
  Place place("postgres");
  hs::storage::PgRevocationOptions fast;
  fast.poll_interval = 100ms;
  fast.max_staleness = 600ms;
  auto store = place.open(w.keys, fast);
  const std::string delegation = hs::ids::make_id("dt_", kNow);
  REQUIRE(store->add_statement(must(hs::make_revocation(w.org, delegation, std::nullopt, "policy_change", kNow))).ok());
  CHECK(store->delegation_revoked(delegation, w.org.did_string(), kNow + 1s) == Answer::kRevoked);

  auto& cluster = hsk_test::PgCluster::shared();
  cluster.halt();
  std::this_thread::sleep_for(1200ms);
  // Cannot tell any more: never "not revoked".
  CHECK(store->delegation_revoked("dt_01ARZ3NDEKTSV4RRFFQ69G5FAV", w.org.did_string(), kNow + 1s) ==
        Answer::kUnavailable);
  cluster.resume();
  const auto start = std::chrono::steady_clock::now();
  while (store->delegation_revoked("dt_01ARZ3NDEKTSV4RRFFQ69G5FAV", w.org.did_string(), kNow + 1s) ==
             Answer::kUnavailable &&
         std::chrono::steady_clock::now() - start < 10s) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(store->delegation_revoked("dt_01ARZ3NDEKTSV4RRFFQ69G5FAV", w.org.did_string(), kNow + 1s) ==
        Answer::kNotRevoked);
  CHECK(store->delegation_revoked(delegation, w.org.did_string(), kNow + 1s) == Answer::kRevoked);  // kept
}
