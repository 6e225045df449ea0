// The ReceiptStore contract (receipt_store.hpp) on every backend: JSON Lines, SQLite, PostgreSQL.
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include "handshake/storage/receipts.hpp"
#include "fixtures.hpp"
#include "pg_fixture.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
using hs::Json;

namespace {

using Place = hsk_storage_fx::TempDir;

std::string where_for(const std::string& kind, const Place& place) {
  if (kind == "jsonl") return (place.path() / "receipts.jsonl").string();
  if (kind == "sqlite") return (place.path() / "receipts.db").string();
  return hsk_test::PgCluster::shared().fresh_url();
}

const Json kReceipt{{"kind", "Receipt"},
                    {"id", "rc_01HZZ00000000000000000000A"},
                    {"handshake_id", "hs_01HZZ00000000000000000000A"},
                    {"action", "billing.invoices.read"},
                    {"executed_at", "2026-05-01T12:00:00Z"}};
const Json kAcceptance{{"kind", "Acceptance"}, {"request_id", "hs_01HZZ00000000000000000000A"}};
const Json kRefusal{{"kind", "Refusal"}, {"request_id", "hs_01HZZ00000000000000000000B"}, {"reason", {{"code", "replay_detected"}}}};

}  // namespace

TEST_CASE("receipt store: kept, found by id, reopened", "[receipts][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "jsonl", "sqlite", "postgres");
  CAPTURE(kind);
  Place place;
  const std::string where = where_for(kind, place);
  {
    auto store = hs::storage::open_receipt_store(where);
    INFO((store.ok() ? std::string("ok") : store.error().to_string()));
    REQUIRE(store.ok());
    REQUIRE((*store)->put_receipt(kReceipt, kAcceptance, "get_invoices").ok());
    REQUIRE((*store)->put_receipt(kReceipt, Json(), "get_invoices").ok());  // again, no acceptance: fine
    REQUIRE((*store)->put_refusal(kRefusal, "get_invoices").ok());
    auto found = (*store)->find_receipt("rc_01HZZ00000000000000000000A");
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    CHECK(**found == kReceipt);
    auto missing = (*store)->find_receipt("rc_01HZZ00000000000000000000Z");
    REQUIRE(missing.ok());
    CHECK_FALSE(missing->has_value());
  }
  auto reopened = hs::storage::open_receipt_store(where);
  REQUIRE(reopened.ok());
  auto found = (*reopened)->find_receipt("rc_01HZZ00000000000000000000A");
  REQUIRE(found.ok());
  CHECK(found->has_value());
  if (kind == "jsonl") {
    std::ifstream in(where);
    std::string line;
    int receipts = 0, refusals = 0;
    while (std::getline(in, line)) {
      const Json j = Json::parse(line);
      if (j["kind"] == "receipt") ++receipts;
      if (j["kind"] == "refusal") ++refusals;
      CHECK(j["action"] == "get_invoices");
    }
    CHECK(receipts == 2);  // a log keeps every line
    CHECK(refusals == 1);
  }
}

TEST_CASE("receipt store: unusable places are errors, never crashes", "[receipts]") {
  Place place;
  CHECK_FALSE(hs::storage::open_receipt_store((place.path() / "no" / "such" / "r.jsonl").string()).ok());
  CHECK_FALSE(hs::storage::open_receipt_store((place.path() / "no" / "such" / "r.db").string()).ok());
  CHECK_FALSE(hs::storage::open_receipt_store(place.path().string()).ok());  // a directory
  auto pw = hs::storage::open_receipt_store("postgresql://hsk:pw@127.0.0.1:1/x");
  REQUIRE_FALSE(pw.ok());
  CHECK(pw.error().reason == "pg.url");
  CHECK_FALSE(hs::storage::open_receipt_store((place.path() / "r.db").string(), place.path() / "pass").ok());
}
