// The ReceiptStore contract (receipt_store.hpp) on every backend: JSON Lines, SQLite, PostgreSQL.
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include <sqlite3.h>

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

namespace {

Json receipt_at(const std::string& id, const std::string& agent, const std::string& action, const std::string& at,
                const std::string& result = "ok") {
  return Json{{"kind", "Receipt"}, {"id", id},          {"handshake_id", "hs_" + id.substr(3)}, {"sub", agent},
              {"action", action},  {"executed_at", at}, {"result", result}};
}
Json refusal_at(const std::string& request, const std::string& agent, const std::string& code, const std::string& at) {
  return Json{{"kind", "Refusal"}, {"request_id", request}, {"aud", agent}, {"iat", at}, {"reason", {{"code", code}}}};
}
std::vector<std::string> ids_of(const std::vector<hs::StoredRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    out.push_back(r.message.value(r.kind == hs::StoredRecord::Kind::kReceipt ? "id" : "request_id", std::string()));
  }
  return out;
}

}  // namespace

TEST_CASE("receipt store: list with filters, newest first, chains kept", "[receipts][postgres]") {
  const std::string kind = GENERATE(as<std::string>{}, "jsonl", "sqlite", "postgres");
  CAPTURE(kind);
  Place place;
  const std::string where = where_for(kind, place);
  const std::string a1 = "did:hsk:agent:zA1", a2 = "did:hsk:agent:zA2";
  const Json chain = Json::array({Json{{"kind", "DelegationToken"}, {"id", "dt_1"}}, Json{{"kind", "DelegationToken"}, {"id", "dt_2"}}});
  {
    auto store = hs::storage::open_receipt_store(where);
    REQUIRE(store.ok());
    auto& s = **store;
    REQUIRE(s.put_receipt(receipt_at("rc_1", a1, "billing.invoices:read", "2026-05-01T12:00:00Z"), kAcceptance, "get_invoices", chain).ok());
    REQUIRE(s.put_receipt(receipt_at("rc_2", a2, "billing.payments:send", "2026-05-01T12:05:00+02:00", "error"), Json(), "pay").ok());
    REQUIRE(s.put_refusal(refusal_at("hs_3", a1, "scope_exceeded", "2026-05-01T12:10:00Z"), "get_invoices").ok());
    REQUIRE(s.put_receipt(receipt_at("rc_4", a1, "billingx.other", "2026-05-02T00:00:00Z"), Json(), "other").ok());
  }
  auto store = hs::storage::open_receipt_store(where);  // reopened: all of it was durable
  REQUIRE(store.ok());
  const auto& s = **store;
  auto all = s.list({});
  REQUIRE(all.ok());
  // Newest first by their own instants: 12:05+02:00 is 10:05Z, the oldest.
  CHECK(ids_of(*all) == std::vector<std::string>{"rc_4", "hs_3", "rc_1", "rc_2"});
  REQUIRE(all->size() == 4);
  const auto& rc1 = (*all)[2];
  CHECK(rc1.kind == hs::StoredRecord::Kind::kReceipt);
  CHECK(rc1.action == "get_invoices");
  CHECK(rc1.acceptance == kAcceptance);
  CHECK(rc1.delegation_chain == chain);
  CHECK(rc1.message == receipt_at("rc_1", a1, "billing.invoices:read", "2026-05-01T12:00:00Z"));
  CHECK((*all)[3].delegation_chain.is_null());
  CHECK((*all)[3].acceptance.is_null());
  CHECK((*all)[1].kind == hs::StoredRecord::Kind::kRefusal);
  CHECK((*all)[1].action == "get_invoices");

  auto by = [&](hs::RecordFilter f) { auto r = s.list(f); REQUIRE(r.ok()); return ids_of(*r); };
  hs::RecordFilter f;
  f.agent = a1;
  CHECK(by(f) == std::vector<std::string>{"rc_4", "hs_3", "rc_1"});
  f = {};
  f.capability = "billing";  // a name boundary: not "billingx.other"
  CHECK(by(f) == std::vector<std::string>{"rc_1", "rc_2"});
  f.capability = "get_invoices";  // the stored action name matches too
  CHECK(by(f) == std::vector<std::string>{"hs_3", "rc_1"});
  f = {};
  f.code = "scope_exceeded";
  CHECK(by(f) == std::vector<std::string>{"hs_3"});
  f.code = "error";
  CHECK(by(f) == std::vector<std::string>{"rc_2"});
  f = {};
  f.since = "2026-05-01T11:00:00Z";
  f.until = "2026-05-01T12:10:00Z";
  CHECK(by(f) == std::vector<std::string>{"hs_3", "rc_1"});
  f.since = "yesterday";
  CHECK(by(f).empty());
  f = {};
  f.kind = hs::StoredRecord::Kind::kRefusal;
  CHECK(by(f) == std::vector<std::string>{"hs_3"});
  f = {};
  f.limit = 2;
  CHECK(by(f) == std::vector<std::string>{"rc_4", "hs_3"});
}

TEST_CASE("receipt store: a SQLite file from before delegation chains gains the column", "[receipts]") {
  Place place;
  const auto path = place.path() / "old.db";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const char* old =
        "CREATE TABLE receipts(id TEXT PRIMARY KEY, handshake_id TEXT, action TEXT, executed_at TEXT,"
        "  receipt TEXT NOT NULL, acceptance TEXT);"
        "CREATE TABLE refusals(seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT, action TEXT, refusal TEXT NOT NULL);"
        "INSERT INTO receipts VALUES('rc_old', 'hs_old', 'echo', '2026-01-01T00:00:00Z',"
        "  '{\"executed_at\":\"2026-01-01T00:00:00Z\",\"id\":\"rc_old\",\"kind\":\"Receipt\"}', NULL);";
    REQUIRE(sqlite3_exec(db, old, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = hs::storage::open_receipt_store(path.string());
  INFO((store.ok() ? std::string("ok") : store.error().to_string()));
  REQUIRE(store.ok());
  REQUIRE((*store)->put_receipt(kReceipt, Json(), "get_invoices", Json::array({Json{{"id", "dt_x"}}})).ok());
  auto all = (*store)->list({});
  REQUIRE(all.ok());
  CHECK(ids_of(*all) == std::vector<std::string>{"rc_01HZZ00000000000000000000A", "rc_old"});
  CHECK((*all)[0].delegation_chain == Json::array({Json{{"id", "dt_x"}}}));
  CHECK((*all)[1].delegation_chain.is_null());
}
