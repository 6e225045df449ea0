// The registry's published DID Documents and revocations (registry_dids.hpp,
// registry_revocations.hpp) on every backend: SQLite and PostgreSQL behave the same, and on
// PostgreSQL two registry processes share them.
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/registry_dids.hpp"
#include "handshake/registry_revocations.hpp"
#include "handshake/revocation.hpp"
#include "handshake/storage/postgres.hpp"
#include "fixtures.hpp"
#include "pg_fixture.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
namespace hr = handshake::registry;
using namespace std::chrono_literals;

namespace {

using hsk_storage_fx::identity;
using hsk_storage_fx::must;

const hs::Timestamp kNow = hs::time::parse_rfc3339("2026-05-01T12:00:00Z").value();


// A registry's stores of a kind; open() again is another process on the same data.
struct Place {
  std::string kind;
  hsk_storage_fx::TempDir dir;
  std::string url;
  explicit Place(std::string k) : kind(std::move(k)) {
    if (kind == "postgres") url = hsk_test::PgCluster::shared().fresh_url();
  }

  [[nodiscard]] std::shared_ptr<hs::storage::PgPool> pool() const {
    hs::storage::PgOptions o;
    o.url = url;
    o.pool_size = 2;
    return must(hs::storage::PgPool::open(o));
  }
  [[nodiscard]] std::unique_ptr<hr::DidStore> dids() const {
    if (kind == "sqlite") return must(hr::DidStore::open(dir.path() / "dids.db"));
    return std::make_unique<hr::DidStore>(must(hs::storage::open_pg_did_rows(pool())));
  }
  [[nodiscard]] std::unique_ptr<hr::RevocationPublisher> revocations() const {
    if (kind == "sqlite") return must(hr::RevocationPublisher::open(dir.path() / "revocations.db"));
    return std::make_unique<hr::RevocationPublisher>(must(hs::storage::open_pg_revocation_rows(pool())));
  }
};

}  // namespace

TEST_CASE("registry DID Documents: history checked, countersigned, shared, persistent", "[registry][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "sqlite", "postgres");
  CAPTURE(kind);
  Place place(kind);
  const hs::Identity registry = identity(hs::PrincipalType::kSvc, 41);
  const hs::Identity agent = identity(hs::PrincipalType::kAgent, 42);
  hs::DidDocumentOptions options;
  options.version_time = kNow;
  const hs::Json v1 = must(hs::make_did_document(agent, options));
  {
    auto a = place.dids();
    auto b = place.dids();  // another registry process on the same data
    CHECK(a->versions(agent.did_string()).error().reason == "did.not_found");
    const hs::Json stored = must(a->publish(v1, registry, kNow));
    CHECK(stored.dump().find(registry.did_string() + "#keys-1") != std::string::npos);
    // The same version again, through either process: refused, nothing changes.
    CHECK(a->publish(v1, registry, kNow).error().reason == "diddoc.history");
    CHECK(b->publish(v1, registry, kNow).error().reason == "diddoc.history");
    const auto versions = must(b->versions(agent.did_string()));
    REQUIRE(versions.size() == 1);
    CHECK(versions[0] == stored);
    hr::DidStoreKeyResolver keys(*b);
    const auto answer = keys.key_at(agent.did_string(), kNow + 1s);
    CHECK(answer.status == hs::KeyResolver::Status::kFound);
    CHECK(answer.key == agent.public_key());
  }
  CHECK(must(place.dids()->versions(agent.did_string())).size() == 1);  // persisted
}

TEST_CASE("registry revocations: entries idempotent, statements kept in order, pages by cursor",
          "[registry][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "sqlite", "postgres");
  CAPTURE(kind);
  Place place(kind);
  const hs::Identity org = identity(hs::PrincipalType::kOrg, 43);
  const hs::Identity agent = identity(hs::PrincipalType::kAgent, 44);
  auto a = place.revocations();
  auto b = place.revocations();  // another registry process on the same data

  const auto first = must(a->publish(agent.did_string(), "#keys-1", "key_compromise", "th_1_00", kNow, kNow));
  const auto again = must(b->publish(agent.did_string(), "#keys-1", "other reason", "th_1_00", kNow, kNow + 1s));
  CHECK(again.id == first.id);  // idempotent on the triple, across processes: the first one stands
  CHECK(again.reason == "key_compromise");
  CHECK(a->publish("not-a-did", "#keys-1", "x", "th_1_00", kNow, kNow).error().reason == "revocation.entry");

  const hs::Json principal = must(hs::make_revocation(agent, std::nullopt, agent.did_string(), "key_compromise", kNow));
  const hs::Json delegation =
      must(hs::make_revocation(org, hs::ids::make_id("dt_", kNow), std::nullopt, "policy_change", kNow + 1s));
  const auto entry = must(a->add_statement(principal, "th_2_00", kNow));
  REQUIRE(entry.has_value());
  CHECK(entry->key_id == hr::kAllKeys);
  CHECK_FALSE(must(b->add_statement(delegation, "th_3_00", kNow)).has_value());  // a delegation has no feed entry
  const auto repeat = must(b->add_statement(principal, "th_9_00", kNow + 5s));  // the same answer as the first time
  REQUIRE(repeat.has_value());
  CHECK(repeat->id == entry->id);
  hs::Json conflicting = principal;
  conflicting["reason"] = "principal_terminated";
  CHECK(a->add_statement(conflicting, "th_4_00", kNow).error().reason == "revocation.conflict");
  const auto statements = must(b->statements());
  REQUIRE(statements.size() == 2);
  CHECK(statements[0] == principal);
  CHECK(statements[1] == delegation);

  // Pages: newest revoked_at first, a cursor continues exactly where the page ended.
  for (int i = 0; i < 5; ++i) {
    must(a->publish(agent.did_string(), "#keys-" + std::to_string(i + 2), "rotation", "th_5_00",
                    kNow + std::chrono::seconds(10 + i), kNow));
  }
  std::vector<std::string> seen;
  std::optional<std::string> cursor;
  for (int guard = 0; guard < 10; ++guard) {
    const auto page = must((guard % 2 == 0 ? *a : *b).page(cursor, 3));
    for (const auto& e : page.entries) seen.push_back(e.id);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  CHECK(seen.size() == 7);  // 1 + 1 (the principal's) + 5
  const auto all = must(a->page(std::nullopt, 100));
  REQUIRE(all.entries.size() == 7);
  for (std::size_t i = 0; i < all.entries.size(); ++i) CHECK(all.entries[i].id == seen[i]);
  for (std::size_t i = 1; i < all.entries.size(); ++i) CHECK(all.entries[i - 1].revoked_at >= all.entries[i].revoked_at);
  CHECK(a->page(std::string("garbage"), 3).error().reason == "revocation.cursor");
}
