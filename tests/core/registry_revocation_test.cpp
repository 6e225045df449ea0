// The registry's second half (§5.1, §11, §12, §22): anchored receipts (registry_anchor), published
// revocations and the registry-signed feed, and the client side (registry key resolver, feed
// poller) that a service plugs into its verifier.

#include <catch2/catch.hpp>
#include <httplib.h>

#include <filesystem>
#include <set>

#include "handshake/did_document.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/merkle.hpp"
#include "handshake/net/registry_resolver.hpp"
#include "handshake/net/registry_server.hpp"
#include "handshake/net/revocation_feed.hpp"
#include "handshake/receipt.hpp"
#include "handshake/registry_anchor.hpp"
#include "handshake/registry_dids.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/registry_revocations.hpp"
#include "handshake/revocation.hpp"
#include "handshake/schema.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
namespace hm = handshake::merkle;
using hs::Json;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hsk-regrev-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

hs::Identity identity(hs::PrincipalType type, std::uint8_t b) {
  return hs::Identity::generate({type, {}, {}, std::vector<std::uint8_t>(32, b)}).value();
}

std::vector<hm::Hash> from_hex(const Json& list) {
  std::vector<hm::Hash> out;
  for (const auto& e : list) {
    auto b = hs::encoding::hex_decode(e.get<std::string>()).value();
    hm::Hash h{};
    std::copy(b.begin(), b.end(), h.begin());
    out.push_back(h);
  }
  return out;
}

Json receipt_for(const hs::Identity& svc, const hs::Identity& agent, hs::Timestamp now) {
  hs::Acceptance a;
  a.request_id = hs::ids::make_id(hs::ids::kRequestPrefix, now);
  a.iss = svc.did_string();
  a.aud = agent.did_string();
  a.iat = now;
  a.effective_scope = {"billing.invoices.read", Json{{"max_invoices", 10}}};
  return hs::issue_receipt(svc, a, Json{{"rows", 3}}, "ok", now).value();
}

// A registry on loopback with every store switched on.
struct Registry {
  TempDir dir;
  hs::Identity id = identity(hs::PrincipalType::kSvc, 0x51);
  hs::Timestamp now = std::chrono::floor<std::chrono::seconds>(hs::SystemClock().now());
  hs::FixedClock clock{now};
  hs::StaticKeyResolver keys;
  std::unique_ptr<hs::registry::LogStore> log = hs::registry::open_sqlite_log(dir.path / "log.db").value();
  std::unique_ptr<hs::registry::DidStore> dids = hs::registry::DidStore::open(dir.path / "dids.db").value();
  std::unique_ptr<hs::registry::RevocationPublisher> revocations =
      hs::registry::RevocationPublisher::open(dir.path / "revocations.db").value();
  std::unique_ptr<hs::net::RegistryServer> server;
  int port = 0;

  explicit Registry(std::string admin_token = "s3cret-admin-token", std::vector<std::string> authorities = {}) {
    hs::net::RegistryServerOptions o;
    o.dids = dids.get();
    o.revocations = revocations.get();
    o.admin_token = std::move(admin_token);
    o.revocation_authorities = std::move(authorities);
    o.feed_page_size = 3;
    server = std::make_unique<hs::net::RegistryServer>(id, *log, keys, clock, o);
    port = server->start("127.0.0.1", 0).value();
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  [[nodiscard]] httplib::Client client() const { return httplib::Client("127.0.0.1", port); }
};

Json post(const Registry& r, const std::string& path, const Json& body, int want,
          const httplib::Headers& headers = {}) {
  auto c = r.client();
  auto res = c.Post(path, headers, body.dump(), "application/json");
  REQUIRE(res);
  INFO(path << " -> " << res->status << " " << res->body);
  REQUIRE(res->status == want);
  CHECK(res->get_header_value("Cache-Control") == "no-store");
  return Json::parse(res->body);
}

Json get(const Registry& r, const std::string& path, int want = 200) {
  auto c = r.client();
  auto res = c.Get(path);
  REQUIRE(res);
  INFO(path << " -> " << res->status << " " << res->body);
  REQUIRE(res->status == want);
  CHECK(res->get_header_value("Cache-Control") == "no-store");
  return Json::parse(res->body);
}

}  // namespace

TEST_CASE("anchored receipt: registry_anchor inside the re-signed receipt verifies offline", "[registry][anchor]") {
  Registry reg;
  const auto svc = identity(hs::PrincipalType::kSvc, 0x52);
  const auto agent = identity(hs::PrincipalType::kAgent, 0x53);
  reg.keys.add(svc.did_string(), svc.public_key());
  const Json receipt = receipt_for(svc, agent, reg.now);
  const Json answer = post(reg, "/v1/receipts", receipt, 200);
  REQUIRE(answer.contains("registry_anchor"));

  auto anchored = hs::registry::attach_registry_anchor(receipt, answer["registry_anchor"], svc);
  REQUIRE(anchored.ok());
  CHECK(anchored->at("registry_anchor") == answer["registry_anchor"]);
  // Still a valid receipt under the reference schema, signed by the service.
  hs::StaticKeyResolver offline;
  offline.add(svc.did_string(), svc.public_key());
  CHECK(hs::verify_receipt(*anchored, offline).ok());
  // The commitment (so the leaf) is the same before and after anchoring.
  CHECK(hs::registry::receipt_leaf(*anchored).value() == hs::registry::receipt_leaf(receipt).value());
  CHECK(hs::encoding::hex_encode(hs::registry::receipt_leaf(receipt).value()) == answer["leaf_hash"]);

  const auto index = answer["leaf_index"].get<std::uint64_t>();
  const auto proof = from_hex(answer["inclusion_proof"]);
  auto verified = hs::registry::verify_anchored_receipt(*anchored, reg.id.public_key(), index, proof);
  REQUIRE(verified.ok());
  CHECK(verified->registry_did == reg.id.did_string());
  CHECK(verified->tree_size == answer["tree_head"]["tree_size"].get<std::uint64_t>());

  SECTION("a receipt without an anchor") {
    auto r = hs::registry::verify_anchored_receipt(receipt, reg.id.public_key(), index, proof);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "anchor.missing");
  }
  SECTION("another key than the registry's") {
    const auto other = identity(hs::PrincipalType::kSvc, 0x54);
    auto r = hs::registry::verify_anchored_receipt(*anchored, other.public_key(), index, proof);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "anchor.key_mismatch");
  }
  SECTION("a tampered anchor, re-signed by the service") {
    Json forged = answer["registry_anchor"];
    forged["tree_size"] = forged["tree_size"].get<std::uint64_t>() + 1;
    auto resigned = hs::registry::attach_registry_anchor(receipt, forged, svc).value();
    auto r = hs::registry::verify_anchored_receipt(resigned, reg.id.public_key(), index, proof);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "sig.invalid");
  }
  SECTION("a tampered anchored receipt") {
    Json t = *anchored;
    t["result"] = "error";
    CHECK_FALSE(hs::verify_receipt(t, offline).ok());
    CHECK_FALSE(hs::registry::verify_anchored_receipt(t, reg.id.public_key(), index, proof).ok());
  }
  SECTION("a wrong leaf index or path") {
    CHECK_FALSE(hs::registry::verify_anchored_receipt(*anchored, reg.id.public_key(), index + 1, proof).ok());
    auto bad = proof;
    bad.push_back(hm::Hash{});
    CHECK_FALSE(hs::registry::verify_anchored_receipt(*anchored, reg.id.public_key(), index, bad).ok());
  }
  SECTION("an anchor object with an extra member") {
    Json a = answer["registry_anchor"];
    a["note"] = "x";
    auto r = hs::registry::verify_registry_anchor(a, reg.id.public_key());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "anchor.invalid");
  }
  SECTION("only the issuer re-signs, and only its own genuine receipt") {
    auto r = hs::registry::attach_registry_anchor(receipt, answer["registry_anchor"], agent);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "receipt.issuer");
    Json t = receipt;
    t["result"] = "partial";
    CHECK_FALSE(hs::registry::attach_registry_anchor(t, answer["registry_anchor"], svc).ok());
  }
  SECTION("re-posting the anchored receipt finds the same leaf") {
    auto resigned = hs::registry::attach_registry_anchor(receipt, answer["registry_anchor"], svc).value();
    const Json again = post(reg, "/v1/receipts", resigned, 200);
    CHECK(again["leaf_index"] == answer["leaf_index"]);
  }
}

TEST_CASE("revocation publisher: idempotent entries, ordered pages, statements", "[registry][revocation]") {
  TempDir dir;
  auto pub = hs::registry::RevocationPublisher::open(dir.path / "r.db").value();
  const auto t0 = hs::time::parse_rfc3339("2026-11-01T10:00:00Z").value();
  const auto a = identity(hs::PrincipalType::kAgent, 0x61);
  const auto b = identity(hs::PrincipalType::kAgent, 0x62);

  auto e1 = pub->publish(a.did_string(), "#keys-1", "key_compromise", "th_1_aa", t0, t0).value();
  auto again = pub->publish(a.did_string(), "#keys-1", "other words", "th_1_aa", t0 + std::chrono::hours(1),
                            t0 + std::chrono::hours(1));
  REQUIRE(again.ok());
  CHECK(again->id == e1.id);
  CHECK(again->published_at == e1.published_at);
  CHECK(again->reason == "key_compromise");

  CHECK_FALSE(pub->publish("not-a-did", "#keys-1", "", "th", t0, t0).ok());
  CHECK_FALSE(pub->publish(a.did_string(), "", "", "th", t0, t0).ok());
  CHECK_FALSE(pub->publish(a.did_string(), "#k", "", std::string(2000, 'x'), t0, t0).ok());

  for (int i = 1; i <= 6; ++i) {
    REQUIRE(pub->publish(b.did_string(), "#keys-" + std::to_string(i), "", "th_2_bb", t0 + std::chrono::minutes(i % 3),
                         t0)
                .ok());
  }
  // Pages of 2: revoked_at DESC then id DESC, every entry once.
  std::vector<hs::registry::RevocationEntry> all;
  std::optional<std::string> cursor;
  int pages = 0;
  do {
    auto p = pub->page(cursor, 2);
    REQUIRE(p.ok());
    for (auto& e : p->entries) all.push_back(e);
    cursor = p->next_cursor;
    ++pages;
  } while (cursor && pages < 10);
  CHECK(pages == 4);
  REQUIRE(all.size() == 7);
  std::set<std::string> ids;
  for (std::size_t i = 0; i < all.size(); ++i) {
    ids.insert(all[i].id);
    if (i > 0) {
      const bool ordered = all[i - 1].revoked_at > all[i].revoked_at ||
                           (all[i - 1].revoked_at == all[i].revoked_at && all[i - 1].id > all[i].id);
      CHECK(ordered);
    }
  }
  CHECK(ids.size() == 7);
  auto bad = pub->page(std::string("bm90LWEtY3Vyc29y"), 2);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().reason == "revocation.cursor");

  // Statements: kept verbatim, a principal revocation becomes an entry with key_id "*".
  const auto stmt = hs::make_revocation(a, std::nullopt, a.did_string(), "key_compromise", t0).value();
  auto entry = pub->add_statement(stmt, "th_3_cc", t0);
  REQUIRE(entry.ok());
  REQUIRE(entry->has_value());
  CHECK((*entry)->key_id == "*");
  CHECK((*entry)->subject_did == a.did_string());
  auto repeat = pub->add_statement(stmt, "th_4_dd", t0);
  REQUIRE(repeat.ok());
  CHECK((*repeat)->id == (*entry)->id);  // the first answer, no second entry
  Json other = stmt;
  other["reason"] = "rotation";
  auto conflict = pub->add_statement(other, "th_5", t0);
  REQUIRE_FALSE(conflict.ok());
  CHECK(conflict.error().reason == "revocation.conflict");
  const auto dstmt = hs::make_revocation(b, hs::ids::make_id("dt_", t0), std::nullopt, "policy_change", t0).value();
  auto none = pub->add_statement(dstmt, "th_6", t0);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  auto stored = pub->statements().value();
  REQUIRE(stored.size() == 2);
  CHECK(stored[0] == stmt);
  CHECK(stored[1] == dstmt);

  // Durable: a reopened store has everything.
  pub.reset();
  auto reopened = hs::registry::RevocationPublisher::open(dir.path / "r.db").value();
  CHECK(reopened->page(std::nullopt, 100)->entries.size() == 8);
  CHECK(reopened->statements()->size() == 2);
}

TEST_CASE("revocation feed: signed by the registry, checked before any field is used", "[registry][revocation]") {
  TempDir dir;
  auto pub = hs::registry::RevocationPublisher::open(dir.path / "r.db").value();
  const auto reg = identity(hs::PrincipalType::kSvc, 0x71);
  const auto subject = identity(hs::PrincipalType::kAgent, 0x72);
  const auto t0 = hs::time::parse_rfc3339("2026-11-01T10:00:00Z").value();
  REQUIRE(pub->publish(subject.did_string(), "#keys-1", "key_compromise", "th_1_aa", t0, t0).ok());
  const Json feed = hs::registry::sign_revocation_feed(reg, pub->page(std::nullopt, 10).value(), t0).value();
  CHECK(hs::schema::validate("revocations-published-feed.json", feed).ok());
  auto ok = hs::registry::verify_revocation_feed(feed, reg.did_string(), reg.public_key());
  REQUIRE(ok.ok());
  REQUIRE(ok->entries.size() == 1);
  CHECK(ok->entries[0].subject_did == subject.did_string());
  CHECK(ok->entries[0].revoked_at == t0);
  CHECK_FALSE(ok->next_cursor);

  struct Case {
    const char* name;
    std::function<void(Json&)> mutate;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"entry reason changed", [](Json& f) { f["revocations"][0]["reason"] = "unspecified"; }, "sig.invalid"},
      {"entry dropped", [](Json& f) { f["revocations"] = Json::array(); }, "sig.invalid"},
      {"as_of moved", [](Json& f) { f["as_of"] = "2030-01-01T00:00:00Z"; }, "sig.invalid"},
      {"signature flipped",
       [](Json& f) {
         auto v = f["signature"]["value"].get<std::string>();
         v[5] = v[5] == 'A' ? 'B' : 'A';
         f["signature"]["value"] = v;
       },
       "sig.invalid"},
      {"signature truncated", [](Json& f) { f["signature"]["value"] = "AAAA"; }, "sig.malformed"},
      {"another issuer", [&](Json& f) { f["issuer_did"] = subject.did_string(); }, "feed.issuer"},
      {"another key id", [&](Json& f) { f["signature"]["key_id"] = reg.did_string() + "#keys-2"; }, "feed.issuer"},
      {"alg confusion", [](Json& f) { f["signature"]["alg"] = "none"; }, "schema.invalid"},
      {"extra member", [](Json& f) { f["extra"] = 1; }, "schema.invalid"},
      {"version 2", [](Json& f) { f["version"] = 2; }, "schema.invalid"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    Json f = feed;
    c.mutate(f);
    auto r = hs::registry::verify_revocation_feed(f, reg.did_string(), reg.public_key());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == c.reason);
  }
  // A genuine feed checked with another key.
  const auto other = identity(hs::PrincipalType::kSvc, 0x73);
  auto wrong_key = hs::registry::verify_revocation_feed(feed, reg.did_string(), other.public_key());
  REQUIRE_FALSE(wrong_key.ok());
  CHECK(wrong_key.error().reason == "sig.invalid");
}

TEST_CASE("registry HTTP: revocations published, anchored, served, and polled by a service", "[registry][revocation][http]") {
  const auto authority = identity(hs::PrincipalType::kOrg, 0x81);
  Registry reg("s3cret-admin-token", {authority.did_string()});
  const auto agent = identity(hs::PrincipalType::kAgent, 0x82);
  const auto org = identity(hs::PrincipalType::kOrg, 0x83);
  const auto stranger = identity(hs::PrincipalType::kAgent, 0x84);
  for (const auto* p : {&agent, &org, &stranger, &authority}) reg.keys.add(p->did_string(), p->public_key());

  // Self-revocation of a principal (key compromise): anchored, stored, and a feed entry.
  const Json self = hs::make_revocation(agent, std::nullopt, agent.did_string(), "key_compromise", reg.now).value();
  const Json answer = post(reg, "/v1/revocations", self, 200);
  CHECK(answer["statement_id"] == self["id"]);
  REQUIRE(answer["entry"].is_object());
  CHECK(answer["entry"]["subject_did"] == agent.did_string());
  CHECK(answer["entry"]["key_id"] == "*");
  CHECK(answer["tree_head_id"] == answer["entry"]["tree_head_id"]);
  // The statement's commitment is in the log: its inclusion proof checks against the signed head.
  const auto head = hs::registry::verify_tree_head(answer["tree_head"], reg.id.public_key()).value();
  const auto canon = hs::json::canonicalize(self).value();
  const auto leaf = hm::leaf_hash(hs::crypto::sha256(hs::encoding::as_bytes(canon)));
  CHECK(hs::encoding::hex_encode(leaf) == answer["leaf_hash"]);
  CHECK(hm::verify_inclusion(answer["leaf_index"].get<std::uint64_t>(), head.tree_size, leaf,
                             from_hex(answer["inclusion_proof"]), head.root_hash)
            .ok());
  CHECK(answer["tree_head_id"] == hs::registry::tree_head_id(head.tree_size, head.root_hash));

  // A delegation revocation by its issuer: stored, no feed entry.
  const std::string delegation_id = hs::ids::make_id("dt_", reg.now);
  const Json drev = hs::make_revocation(org, delegation_id, std::nullopt, "policy_change", reg.now).value();
  CHECK(post(reg, "/v1/revocations", drev, 200)["entry"].is_null());
  // A configured authority may revoke another principal.
  const Json by_authority =
      hs::make_revocation(authority, std::nullopt, org.did_string(), "principal_terminated", reg.now).value();
  CHECK(post(reg, "/v1/revocations", by_authority, 200)["entry"]["subject_did"] == org.did_string());

  SECTION("nothing bad is stored") {
    const auto before = reg.revocations->statements()->size();
    const auto log_before = reg.log->size().value();
    // Revoking someone else without authority.
    const Json usurp = hs::make_revocation(stranger, std::nullopt, org.did_string(), "key_compromise", reg.now).value();
    CHECK(post(reg, "/v1/revocations", usurp, 403)["error"]["code"] == "revocation.authority");
    // A tampered statement.
    Json tampered = self;
    tampered["reason"] = "rotation";
    CHECK(post(reg, "/v1/revocations", tampered, 400)["error"]["code"] == "sig.invalid");
    // An issuer the registry cannot resolve.
    const auto unknown = identity(hs::PrincipalType::kAgent, 0x85);
    const Json orphan = hs::make_revocation(unknown, std::nullopt, unknown.did_string(), "key_compromise", reg.now).value();
    CHECK(post(reg, "/v1/revocations", orphan, 404)["error"]["code"] == "did.unresolved");
    // Not JSON, not a statement.
    auto c = reg.client();
    auto res = c.Post("/v1/revocations", "{\"a\":1,\"a\":2}", "application/json");
    REQUIRE(res);
    CHECK(res->status == 400);
    CHECK(post(reg, "/v1/revocations", Json{{"kind", "RevocationStatement"}}, 400).contains("error"));
    CHECK(reg.revocations->statements()->size() == before);
    CHECK(reg.log->size().value() == log_before);
  }

  SECTION("the statements route feeds a PolledRevocationFeed (each statement checked by its issuer's key)") {
    const auto statements = get(reg, "/v1/revocations/statements");
    REQUIRE(statements.size() == 3);
    hs::net::FeedOptions fo;
    fo.url = reg.url() + "/v1/revocations/statements";
    auto feed = hs::net::PolledRevocationFeed::create(fo, reg.keys, reg.clock).value();
    feed->add_authority(authority.did_string());
    REQUIRE(feed->poll_once().ok());
    CHECK(feed->delegation_revoked(delegation_id, org.did_string(), reg.now) == hs::RevocationSource::Answer::kRevoked);
    CHECK(feed->delegation_revoked(delegation_id, agent.did_string(), reg.now) ==
          hs::RevocationSource::Answer::kNotRevoked);  // only its issuer revokes a delegation
    CHECK(feed->principal_revoked(agent.did_string(), reg.now) == hs::RevocationSource::Answer::kRevoked);
  }

  SECTION("the registry-signed feed, paged, polled with the registry's key") {
    // Four more entries through the admin route so the feed spans pages of three.
    const httplib::Headers auth = {{"Authorization", "Bearer s3cret-admin-token"}};
    for (int i = 0; i < 4; ++i) {
      // The subject must have a document at this registry.
      const auto subject = identity(hs::PrincipalType::kAgent, static_cast<std::uint8_t>(0x90 + i));
      post(reg, "/v1/dids", hs::make_did_document(subject, {reg.now, {}, Json::array(), Json::array()}).value(), 200);
      const Json body{{"subject_did", subject.did_string()},
                      {"key_id", "#keys-1"},
                      {"reason", "key_compromise"},
                      {"tree_head_id", answer["tree_head_id"]}};
      const Json first = post(reg, "/v1/admin/revocations/publish", body, 200, auth);
      const Json repeat = post(reg, "/v1/admin/revocations/publish", body, 200, auth);
      CHECK(first == repeat);
    }
    const Json page1 = get(reg, "/v1/revocations/published");
    CHECK(page1["revocations"].size() == 3);
    REQUIRE(page1["next_cursor"].is_string());
    CHECK(hs::registry::verify_revocation_feed(page1, reg.id.did_string(), reg.id.public_key()).ok());
    CHECK(get(reg, "/v1/revocations/published?limit=0", 400)["error"]["code"] == "request.limit");
    CHECK(get(reg, "/v1/revocations/published?cursor=zzz", 400)["error"]["code"] == "revocation.cursor");

    hs::net::FeedOptions fo;
    fo.url = reg.url() + "/v1/revocations/published";
    fo.registry = hs::net::FeedOptions::RegistryFeed{reg.id.did_string(), reg.id.public_key()};
    auto feed = hs::net::PolledRevocationFeed::create(fo, reg.keys, reg.clock).value();
    REQUIRE(feed->poll_once().ok());
    CHECK(feed->principal_revoked(agent.did_string(), reg.now) == hs::RevocationSource::Answer::kRevoked);
    CHECK(feed->principal_revoked(org.did_string(), reg.now) == hs::RevocationSource::Answer::kRevoked);
    CHECK(feed->principal_revoked(hs::did_for_key(hs::PrincipalType::kAgent, identity(hs::PrincipalType::kAgent, 0x93).public_key()).str(),
                                  reg.now) == hs::RevocationSource::Answer::kRevoked);  // on the last page
    CHECK(feed->principal_revoked(stranger.did_string(), reg.now) == hs::RevocationSource::Answer::kNotRevoked);
    CHECK(feed->principal_revoked(agent.did_string(), reg.now - std::chrono::hours(1)) ==
          hs::RevocationSource::Answer::kNotRevoked);  // not before it took effect

    // Polled with another key: refused whole, and with no earlier success the feed fails closed.
    fo.registry->key = stranger.public_key();
    auto wrong = hs::net::PolledRevocationFeed::create(fo, reg.keys, reg.clock).value();
    auto s = wrong->poll_once();
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().reason == "sig.invalid");
    CHECK(wrong->principal_revoked(stranger.did_string(), reg.now) == hs::RevocationSource::Answer::kUnavailable);
  }

  SECTION("the admin route: bearer token, registered subjects only") {
    const Json body{{"subject_did", agent.did_string()}, {"key_id", "#keys-1"}, {"reason", ""}, {"tree_head_id", "th_1_x"}};
    CHECK(post(reg, "/v1/admin/revocations/publish", body, 401)["error"]["code"] == "auth.required");
    CHECK(post(reg, "/v1/admin/revocations/publish", body, 401, {{"Authorization", "Bearer wrong"}}).contains("error"));
    CHECK(post(reg, "/v1/admin/revocations/publish", body, 401, {{"Authorization", "Basic s3cret-admin-token"}})
              .contains("error"));
    const httplib::Headers auth = {{"Authorization", "Bearer s3cret-admin-token"}};
    // agent has no document at this registry.
    CHECK(post(reg, "/v1/admin/revocations/publish", body, 404, auth)["error"]["code"] == "did_not_found");
    Json extra = body;
    extra["more"] = 1;
    CHECK(post(reg, "/v1/admin/revocations/publish", extra, 400, auth)["error"]["code"] == "request.body");
  }
}

TEST_CASE("registry HTTP: the admin route is off without a token", "[registry][revocation][http]") {
  Registry reg("");
  auto c = reg.client();
  auto res = c.Post("/v1/admin/revocations/publish", {{"Authorization", "Bearer "}}, "{}", "application/json");
  REQUIRE(res);
  CHECK(res->status == 404);
}

TEST_CASE("registry key resolver: verified histories from /v1/dids, fail closed", "[registry][resolver][http]") {
  Registry reg;
  const auto v1 = identity(hs::PrincipalType::kAgent, 0xA1);
  const auto v2 = v1.rotated();
  const auto t_rotate = reg.now + std::chrono::hours(1);
  const Json doc1 = hs::make_did_document(v1, {reg.now - std::chrono::hours(1), {}, Json::array(), Json::array()}).value();
  const Json doc2 = hs::rotate_did_document(doc1, v1.key(), v2, {t_rotate, {}, Json::array(), Json::array()}).value();
  post(reg, "/v1/dids", doc1, 200);
  post(reg, "/v1/dids", doc2, 200);
  const auto versions = get(reg, "/v1/dids/" + v1.did_string() + "/versions");
  CHECK(versions["versions"].size() == 2);

  hs::net::RegistryResolverOptions o;
  o.url = reg.url();
  o.registry_did = reg.id.did_string();
  o.registry_key = reg.id.public_key();
  auto resolver = hs::net::RegistryKeyResolver::create(o, reg.clock).value();
  auto before = resolver->key_at(v1.did_string(), reg.now);
  REQUIRE(before.status == hs::KeyResolver::Status::kFound);
  CHECK(before.key == v1.public_key());
  auto after = resolver->key_at(v1.did_string(), t_rotate + std::chrono::minutes(1));
  REQUIRE(after.status == hs::KeyResolver::Status::kFound);
  CHECK(after.key == v2.public_key());

  const auto unknown = identity(hs::PrincipalType::kAgent, 0xA2);
  CHECK(resolver->key_at(unknown.did_string(), reg.now).status == hs::KeyResolver::Status::kNotFound);

  SECTION("a resolver configured with another registry key trusts nothing") {
    o.registry_key = unknown.public_key();
    auto wrong = hs::net::RegistryKeyResolver::create(o, reg.clock).value();
    CHECK(wrong->key_at(v1.did_string(), reg.now).status == hs::KeyResolver::Status::kUnavailable);
  }
  SECTION("a registry that substitutes a document is caught by the history check") {
    // A fake registry that countersigns a document for v1's DID carrying another key.
    httplib::Server fake;
    const auto impostor = identity(hs::PrincipalType::kAgent, 0xA3);
    Json forged = hs::make_did_document(impostor, {reg.now - std::chrono::hours(1), {}, Json::array(), Json::array()}).value();
    forged["id"] = v1.did_string();
    forged = hs::add_did_document_proof(forged, reg.id.key(), reg.id.did_string() + "#keys-1", reg.now).value();
    fake.Get(R"(/v1/dids/([^/]+)/versions)", [&](const httplib::Request&, httplib::Response& res) {
      res.set_content(Json{{"did", v1.did_string()}, {"versions", Json::array({forged})}}.dump(), "application/json");
    });
    const int port = fake.bind_to_any_port("127.0.0.1");
    std::thread t([&] { fake.listen_after_bind(); });
    while (!fake.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    o.url = "http://127.0.0.1:" + std::to_string(port);
    auto fooled = hs::net::RegistryKeyResolver::create(o, reg.clock).value();
    auto answer = fooled->key_at(v1.did_string(), reg.now);
    CHECK(answer.status != hs::KeyResolver::Status::kFound);
    fake.stop();
    t.join();
  }
  SECTION("an unreachable registry is unavailable, not 'not found'") {
    reg.server->stop();
    hs::net::RegistryResolverOptions o2 = o;
    auto cold = hs::net::RegistryKeyResolver::create(o2, reg.clock).value();
    CHECK(cold->key_at(v1.did_string(), reg.now).status == hs::KeyResolver::Status::kUnavailable);
    // The first resolver still answers from its cache within the TTL.
    CHECK(resolver->key_at(v1.did_string(), reg.now).status == hs::KeyResolver::Status::kFound);
  }
  SECTION("bad URLs are refused at creation") {
    o.url = "ftp://x";
    CHECK_FALSE(hs::net::RegistryKeyResolver::create(o, reg.clock).ok());
    o.url = "http://host/path";
    CHECK_FALSE(hs::net::RegistryKeyResolver::create(o, reg.clock).ok());
  }
}
