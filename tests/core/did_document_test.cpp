// DID Documents, key rotation and verification by signing time (§5.2, §5.3).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/crypto.hpp"
#include "handshake/did.hpp"
#include "handshake/did_document.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/schema.hpp"
#include "handshake/time.hpp"

namespace crypto = handshake::crypto;
namespace enc = handshake::encoding;
namespace hj = handshake::json;
using handshake::DidDocumentOptions;
using handshake::DidKeyHistory;
using handshake::ErrorCode;
using handshake::Identity;
using handshake::IdentityOptions;
using handshake::Json;
using handshake::PrincipalType;
using handshake::Timestamp;
using namespace std::chrono_literals;

namespace {

Timestamp at(const char* text) {
  auto t = handshake::time::parse_rfc3339(text);
  REQUIRE(t.ok());
  return *t;
}

const Timestamp kT1 = Timestamp{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
const Timestamp kT2 = Timestamp{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}};
const Timestamp kT3 = Timestamp{std::chrono::sys_days{std::chrono::year{2026} / 6 / 1}};

Identity make_identity(PrincipalType type, std::optional<std::string> handle = std::nullopt,
                       std::optional<std::string> domain = std::nullopt) {
  IdentityOptions o;
  o.type = type;
  o.handle = std::move(handle);
  o.domain = std::move(domain);
  auto r = Identity::generate(o);
  REQUIRE(r.ok());
  return std::move(r).value();
}

DidDocumentOptions opts(Timestamp t) {
  DidDocumentOptions o;
  o.version_time = t;
  o.revocation_endpoint = "https://acme.example/handshake/revocations";
  return o;
}

Json make_doc(const Identity& id, Timestamp t) {
  auto doc = handshake::make_did_document(id, opts(t));
  if (!doc.ok()) INFO(doc.error().to_string());
  REQUIRE(doc.ok());
  return *doc;
}

Json rotate(const Json& prev, const Identity& prev_id, const Identity& next, Timestamp t) {
  auto doc = handshake::rotate_did_document(prev, prev_id.key(), next, opts(t));
  if (!doc.ok()) INFO(doc.error().to_string());
  REQUIRE(doc.ok());
  return *doc;
}

Json without(const Json& doc, std::initializer_list<const char*> drop) {
  Json out = doc;
  for (const char* k : drop) out.erase(k);
  return out;
}

bool independently_verifies(const Json& payload, const std::string& sig_b64, const crypto::PublicKey& pk) {
  auto canon = hj::canonicalize(payload);
  REQUIRE(canon.ok());
  auto sig = enc::base64url_decode(sig_b64);
  if (!sig.ok()) return false;
  return crypto::verify(pk, enc::as_bytes(*canon), *sig);
}

// Re-signs a document after a test edits it: previousVersionSignature by `prev` (when given) and a
// fresh own proof by `own` under the document's authentication method.
Json resign(Json doc, const crypto::Signer* prev, const crypto::Signer& own) {
  doc.erase("proof");
  if (prev != nullptr) {
    doc.erase("previousVersionSignature");
    auto canon = hj::canonicalize(doc);
    REQUIRE(canon.ok());
    doc["previousVersionSignature"] = enc::base64url_encode(prev->try_sign(enc::as_bytes(*canon)).value());
  }
  const std::string kid = doc.at("authentication").at(0).get<std::string>();
  auto r = handshake::add_did_document_proof(doc, own, kid, kT1);
  REQUIRE(r.ok());
  return *r;
}

void expect_error(const handshake::Status& s, ErrorCode code, const char* reason) {
  REQUIRE_FALSE(s.ok());
  INFO(s.error().to_string());
  CHECK(s.error().code == code);
  CHECK(s.error().reason == reason);
}

template <typename T>
void expect_error(const handshake::Result<T>& r, ErrorCode code, const char* reason) {
  REQUIRE_FALSE(r.ok());
  INFO(r.error().to_string());
  CHECK(r.error().code == code);
  CHECK(r.error().reason == reason);
}

DidKeyHistory build_ok(const std::vector<Json>& docs, bool trusted) {
  auto h = DidKeyHistory::build(docs, trusted);
  if (!h.ok()) INFO(h.error().to_string());
  REQUIRE(h.ok());
  return std::move(h).value();
}

crypto::PublicKey key_at_ok(const DidKeyHistory& h, Timestamp t) {
  auto k = h.key_at(t);
  if (!k.ok()) INFO(k.error().to_string());
  REQUIRE(k.ok());
  return *k;
}

// A delegation issued by `issuer` at `iat`, signed with `key`.
Json delegation(const std::string& issuer, const crypto::Signer& key, Timestamp iat) {
  handshake::DelegationToken t;
  t.id = handshake::ids::make_id(handshake::ids::kDelegationPrefix, iat);
  t.iss = issuer;
  t.sub = "did:hsk:agent:" + handshake::key_hash_id(crypto::SigningKey::generate().public_key());
  t.aud = t.sub;
  t.iat = iat;
  t.nbf = iat;
  t.exp = iat + 10min;
  handshake::Capability c;
  c.name = "billing.invoices.read";
  t.capabilities.push_back(c);
  auto signed_doc = handshake::sign_message(t.to_json(), key);
  REQUIRE(signed_doc.ok());
  return *signed_doc;
}

Json receipt(const std::string& issuer, const crypto::Signer& key, Timestamp executed_at) {
  handshake::Receipt r;
  r.id = handshake::ids::make_id(handshake::ids::kReceiptPrefix, executed_at);
  r.handshake_id = handshake::ids::make_id(handshake::ids::kRequestPrefix, executed_at);
  r.iss = issuer;
  r.sub = "did:hsk:agent:" + handshake::key_hash_id(crypto::SigningKey::generate().public_key());
  r.action = "billing.invoices.read";
  r.executed_at = executed_at;
  r.result = "ok";
  r.result_hash.value = enc::hex_encode(crypto::sha256(enc::as_bytes("{}")));
  auto signed_doc = handshake::sign_message(r.to_json(), key);
  REQUIRE(signed_doc.ok());
  return *signed_doc;
}

}  // namespace

// ---- one version ---------------------------------------------------------------------------------

TEST_CASE("make_did_document: shape, reference schema and an independently checkable proof", "[diddoc]") {
  const Identity id = make_identity(PrincipalType::kAgent);
  const Json doc = make_doc(id, kT1);
  const std::string did = id.did_string();
  const std::string kid = did + "#keys-1";

  const auto valid = handshake::schema::validate("did-document.json", doc);
  if (!valid.ok()) INFO(valid.error().to_string());
  CHECK(valid.ok());

  CHECK(doc.at("@context") == Json::array({"https://www.w3.org/ns/did/v1"}));
  CHECK(doc.at("id") == did);
  CHECK(doc.at("versionId") == "1");
  CHECK(doc.at("versionTime") == "2026-01-01T00:00:00Z");
  CHECK_FALSE(doc.contains("previousVersionSignature"));
  REQUIRE(doc.at("verificationMethod").size() == 1);
  const Json& vm = doc.at("verificationMethod").at(0);
  CHECK(vm.at("id") == kid);
  CHECK(vm.at("type") == "Ed25519VerificationKey2020");
  CHECK(vm.at("controller") == did);
  // RFC 8037 OKP JWK; never the private "d".
  const Json& jwk = vm.at("publicKeyJwk");
  CHECK(jwk.at("kty") == "OKP");
  CHECK(jwk.at("crv") == "Ed25519");
  CHECK(jwk.at("x") == enc::base64url_encode(id.public_key()));
  CHECK(jwk.at("x").get<std::string>().size() == 43);
  CHECK_FALSE(jwk.contains("d"));
  CHECK(jwk.size() == 3);
  CHECK(doc.at("authentication") == Json::array({kid}));
  CHECK(doc.at("handshake:credentials") == Json::array());
  CHECK(doc.at("handshake:revocation").at("endpoint") == "https://acme.example/handshake/revocations");

  REQUIRE(doc.at("proof").is_array());
  REQUIRE(doc.at("proof").size() == 1);
  const Json& proof = doc.at("proof").at(0);
  CHECK(proof.at("type") == std::string(handshake::kDidProofType));
  CHECK(proof.at("verificationMethod") == kid);
  CHECK(proof.at("proofPurpose") == "assertionMethod");
  CHECK(proof.at("created") == "2026-01-01T00:00:00Z");
  // Ed25519 over JCS(document without "proof"), checked here with the primitives.
  CHECK(independently_verifies(without(doc, {"proof"}), proof.at("proofValue").get<std::string>(), id.public_key()));
  CHECK_FALSE(independently_verifies(doc, proof.at("proofValue").get<std::string>(), id.public_key()));

  // The seed appears nowhere in the document.
  const std::string text = doc.dump();
  CHECK(text.find(enc::base64url_encode(dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes())) == std::string::npos);
  CHECK(text.find(enc::hex_encode(dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes())) == std::string::npos);
}

TEST_CASE("make_did_document: every principal type validates; options are carried", "[diddoc]") {
  const Identity ids[] = {make_identity(PrincipalType::kUser, "bob@acme.com"), make_identity(PrincipalType::kAgent),
                          make_identity(PrincipalType::kSvc), make_identity(PrincipalType::kOrg),
                          make_identity(PrincipalType::kOrg, std::nullopt, "acme.com")};
  for (const auto& id : ids) {
    INFO(id.did_string());
    DidDocumentOptions o;
    o.version_time = kT1 + 123456us;
    o.credentials = Json::array({Json{{"type", Json::array({"VerifiableCredential"})}, {"issuer", "did:hsk:org:acme.com"}}});
    o.services = Json::array({Json{{"id", id.did_string() + "#api"}, {"type", "HandshakeEndpoint"},
                                   {"serviceEndpoint", "https://api.acme.example/handshake"}}});
    auto doc = handshake::make_did_document(id, o);
    REQUIRE(doc.ok());
    const auto valid = handshake::schema::validate("did-document.json", *doc);
    if (!valid.ok()) INFO(valid.error().to_string());
    CHECK(valid.ok());
    CHECK_FALSE(doc->contains("handshake:revocation"));
    CHECK(doc->at("handshake:credentials") == o.credentials);
    CHECK(doc->at("service") == o.services);
    CHECK(doc->at("versionTime") == "2026-01-01T00:00:00.123456Z");
    auto parsed = handshake::parse_did_document(*doc);
    REQUIRE(parsed.ok());
    CHECK(parsed->did == id.did());
    CHECK(parsed->version == 1);
    REQUIRE(parsed->version_time.has_value());
    CHECK(*parsed->version_time == kT1 + 123456us);
    CHECK(parsed->key == id.public_key());
    CHECK(parsed->key_id == id.did_string() + "#keys-1");
    CHECK(parsed->source == *doc);
    CHECK(handshake::verify_did_document_proof(*parsed).ok());
  }
  // A rotated identity cannot publish a version 1.
  expect_error(handshake::make_did_document(make_identity(PrincipalType::kAgent).rotated(), opts(kT1)),
               ErrorCode::kInvalidArgument, "diddoc.version");
}

TEST_CASE("verify_did_document_proof: any change to a signed member breaks the proof", "[diddoc]") {
  const Identity id = make_identity(PrincipalType::kAgent);
  const Json doc = make_doc(id, kT1);
  {
    auto parsed = handshake::parse_did_document(doc);
    REQUIRE(parsed.ok());
    REQUIRE(handshake::verify_did_document_proof(*parsed).ok());
  }
  const Identity other = make_identity(PrincipalType::kAgent);
  struct Edit {
    const char* name;
    void (*apply)(Json&, const Identity&);
  };
  const Edit edits[] = {
      {"versionTime", [](Json& d, const Identity&) { d["versionTime"] = "2026-01-01T00:00:01Z"; }},
      {"revocation endpoint",
       [](Json& d, const Identity&) { d["handshake:revocation"]["endpoint"] = "https://evil.example/revocations"; }},
      {"credentials", [](Json& d, const Identity&) { d["handshake:credentials"].push_back(Json{{"type", "x"}}); }},
      {"added member", [](Json& d, const Identity&) { d["alsoKnownAs"] = Json::array({"https://evil.example"}); }},
      {"added service",
       [](Json& d, const Identity&) {
         d["service"] = Json::array({Json{{"id", "#x"}, {"type", "X"}, {"serviceEndpoint", "https://evil.example"}}});
       }},
      {"context", [](Json& d, const Identity&) { d["@context"].push_back("https://w3id.org/security/v2"); }},
      {"swapped key",
       [](Json& d, const Identity& o) {
         d["verificationMethod"][0]["publicKeyJwk"]["x"] = enc::base64url_encode(o.public_key());
       }},
      {"proof value of another document",
       [](Json& d, const Identity& o) {
         auto od = handshake::make_did_document(o, opts(kT1));
         REQUIRE(od.ok());
         d["proof"][0]["proofValue"] = (*od)["proof"][0]["proofValue"];
       }},
  };
  for (const auto& e : edits) {
    INFO(e.name);
    Json changed = doc;
    e.apply(changed, other);
    REQUIRE(changed != doc);
    auto parsed = handshake::parse_did_document(changed);
    if (!parsed.ok()) INFO(parsed.error().to_string());
    REQUIRE(parsed.ok());
    expect_error(handshake::verify_did_document_proof(*parsed), ErrorCode::kSignature, "sig.invalid");
    expect_error(DidKeyHistory::build({changed}, false), ErrorCode::kSignature, "sig.invalid");
  }

  // Reordering members changes nothing that is signed.
  {
    auto reparsed = hj::parse_strict(doc.dump(3));
    REQUIRE(reparsed.ok());
    auto parsed = handshake::parse_did_document(*reparsed);
    REQUIRE(parsed.ok());
    CHECK(handshake::verify_did_document_proof(*parsed).ok());
  }
  // No proof, an empty proof array, or a proof only by another method.
  {
    auto parsed = handshake::parse_did_document(without(doc, {"proof"}));
    REQUIRE(parsed.ok());
    expect_error(handshake::verify_did_document_proof(*parsed), ErrorCode::kSignature, "diddoc.proof_missing");
    Json empty = doc;
    empty["proof"] = Json::array();
    auto parsed_empty = handshake::parse_did_document(empty);
    REQUIRE(parsed_empty.ok());
    expect_error(handshake::verify_did_document_proof(*parsed_empty), ErrorCode::kSignature, "diddoc.proof_missing");
    auto only_other = handshake::add_did_document_proof(without(doc, {"proof"}), other.key(),
                                                        other.did_string() + "#keys-1", kT1);
    REQUIRE(only_other.ok());
    auto parsed_other = handshake::parse_did_document(*only_other);
    REQUIRE(parsed_other.ok());
    expect_error(handshake::verify_did_document_proof(*parsed_other), ErrorCode::kSignature, "diddoc.proof_missing");
  }
}

TEST_CASE("parse_did_document: refusals", "[diddoc]") {
  const Identity id = make_identity(PrincipalType::kAgent);
  const Json doc = make_doc(id, kT1);
  struct Edit {
    const char* name;
    void (*apply)(Json&);
  };
  const Edit edits[] = {
      {"not an object", [](Json& d) { d = Json::array({d}); }},
      {"no id", [](Json& d) { d.erase("id"); }},
      {"id not a DID", [](Json& d) { d["id"] = "did:web:acme.example"; }},
      {"id with a look-alike", [](Json& d) { d["id"] = "did:hsk:\xD0\xB0gent:abc"; }},
      {"no authentication", [](Json& d) { d.erase("authentication"); }},
      {"empty authentication", [](Json& d) { d["authentication"] = Json::array(); }},
      {"authentication names nothing", [](Json& d) { d["authentication"][0] = "did:hsk:agent:x#keys-9"; }},
      {"no verificationMethod", [](Json& d) { d.erase("verificationMethod"); }},
      {"JWK carries d", [](Json& d) { d["verificationMethod"][0]["publicKeyJwk"]["d"] = "AAAA"; }},
      {"JWK kty", [](Json& d) { d["verificationMethod"][0]["publicKeyJwk"]["kty"] = "EC"; }},
      {"JWK kty not a string", [](Json& d) { d["verificationMethod"][0]["publicKeyJwk"]["kty"] = 1; }},
      {"JWK crv", [](Json& d) { d["verificationMethod"][0]["publicKeyJwk"]["crv"] = "X25519"; }},
      {"JWK crv not a string", [](Json& d) { d["verificationMethod"][0]["publicKeyJwk"]["crv"] = Json::array(); }},
      {"JWK x missing", [](Json& d) { d["verificationMethod"][0]["publicKeyJwk"].erase("x"); }},
      {"JWK x short", [](Json& d) { d["verificationMethod"][0]["publicKeyJwk"]["x"] = "AAAA"; }},
      {"JWK x small order",
       [](Json& d) {
         std::vector<std::uint8_t> identity_point(32, 0);
         identity_point[0] = 1;
         d["verificationMethod"][0]["publicKeyJwk"]["x"] = enc::base64url_encode(identity_point);
       }},
      {"JWK x padded", [](Json& d) { d["verificationMethod"][0]["publicKeyJwk"]["x"] = d["verificationMethod"][0]["publicKeyJwk"]["x"].get<std::string>() + "="; }},
      {"method type", [](Json& d) { d["verificationMethod"][0]["type"] = "MLDSA65VerificationKey2026"; }},
      {"controller", [](Json& d) { d["verificationMethod"][0]["controller"] = "did:hsk:agent:someoneelse"; }},
      {"versionId zero", [](Json& d) { d["versionId"] = "0"; }},
      {"versionId leading zero", [](Json& d) { d["versionId"] = "01"; }},
      {"versionId not decimal", [](Json& d) { d["versionId"] = "v1"; }},
      {"versionId number", [](Json& d) { d["versionId"] = 1; }},
      {"versionTime not RFC 3339", [](Json& d) { d["versionTime"] = "2026-01-01 00:00:00"; }},
      {"version 2 without previousVersionSignature", [](Json& d) { d["versionId"] = "2"; }},
      {"proof not an array", [](Json& d) { d["proof"] = d["proof"][0]; }},
      {"proof verificationMethod not a string", [](Json& d) { d["proof"][0]["verificationMethod"] = 5; }},
      {"proof type not a string", [](Json& d) { d["proof"][0]["type"] = 5; }},
  };
  for (const auto& e : edits) {
    INFO(e.name);
    Json changed = doc;
    e.apply(changed);
    auto parsed = handshake::parse_did_document(changed);
    REQUIRE_FALSE(parsed.ok());
    INFO(parsed.error().to_string());
    CHECK(parsed.error().code == ErrorCode::kSchema);
    CHECK((parsed.error().reason == "diddoc.invalid" || parsed.error().reason == "schema.invalid"));
    auto h = DidKeyHistory::build({changed}, true);
    CHECK_FALSE(h.ok());
  }
}

// ---- histories -----------------------------------------------------------------------------------

TEST_CASE("DidKeyHistory: one self-certifying version needs no trusted source", "[diddoc][history]") {
  for (const auto type : {PrincipalType::kAgent, PrincipalType::kSvc, PrincipalType::kOrg}) {
    const Identity id = make_identity(type);
    INFO(id.did_string());
    const Json doc = make_doc(id, kT1);
    for (const bool trusted : {false, true}) {
      const DidKeyHistory h = build_ok({doc}, trusted);
      CHECK(h.did() == id.did());
      CHECK(h.versions().size() == 1);
      CHECK(h.current().version == 1);
      CHECK(h.current().key == id.public_key());
      CHECK(key_at_ok(h, kT1) == id.public_key());
      CHECK(key_at_ok(h, kT1 + 24h * 365 * 50) == id.public_key());
      expect_error(h.key_at(kT1 - 1us), ErrorCode::kNotFound, "diddoc.no_key_at_time");
    }
  }
  expect_error(DidKeyHistory::build({}, true), ErrorCode::kInvalidArgument, "diddoc.history");
}

TEST_CASE("DidKeyHistory: a version 1 whose key does not hash to the DID is refused", "[diddoc][history]") {
  // A document for did:hsk:agent:<hash of A> carrying key B, consistently signed by B.
  const Identity a = make_identity(PrincipalType::kAgent);
  const Identity b = make_identity(PrincipalType::kAgent);
  Json doc = make_doc(b, kT1);
  const std::string a_did = a.did_string();
  const std::string kid = a_did + "#keys-1";
  doc["id"] = a_did;
  doc["verificationMethod"][0]["id"] = kid;
  doc["verificationMethod"][0]["controller"] = a_did;
  doc["authentication"][0] = kid;
  doc = resign(doc, nullptr, b.key());
  auto parsed = handshake::parse_did_document(doc);
  REQUIRE(parsed.ok());
  REQUIRE(handshake::verify_did_document_proof(*parsed).ok());
  // Whatever the source claims.
  expect_error(DidKeyHistory::build({doc}, false), ErrorCode::kSignature, "diddoc.untrusted");
  expect_error(DidKeyHistory::build({doc}, true), ErrorCode::kSignature, "diddoc.untrusted");
}

TEST_CASE("DidKeyHistory: handles and domains need a trusted source", "[diddoc][history]") {
  const Identity user = make_identity(PrincipalType::kUser, "bob@acme.com");
  const Identity org = make_identity(PrincipalType::kOrg, std::nullopt, "acme.com");
  for (const Identity* id : {&user, &org}) {
    INFO(id->did_string());
    const Json doc = make_doc(*id, kT1);
    expect_error(DidKeyHistory::build({doc}, false), ErrorCode::kSignature, "diddoc.untrusted");
    const DidKeyHistory h = build_ok({doc}, true);
    CHECK(h.did() == id->did());
    CHECK(key_at_ok(h, kT1 + 1h) == id->public_key());

    handshake::DidDirectory untrusted;
    untrusted.add(doc);
    expect_error(untrusted.finish(false), ErrorCode::kSignature, "diddoc.untrusted");
    handshake::DidDirectory trusted;
    trusted.add(doc);
    REQUIRE(trusted.finish(true).ok());
    REQUIRE(trusted.find(id->did_string()) != nullptr);
  }
}

TEST_CASE("rotation: v1 -> v2 -> v3, key_at follows the validity windows", "[diddoc][history][rotation]") {
  const Identity id1 = make_identity(PrincipalType::kAgent);
  const Identity id2 = id1.rotated();
  const Identity id3 = id2.rotated();
  const Json v1 = make_doc(id1, kT1);
  const Json v2 = rotate(v1, id1, id2, kT2);
  const Json v3 = rotate(v2, id2, id3, kT3);

  for (const Json* v : {&v1, &v2, &v3}) {
    const auto valid = handshake::schema::validate("did-document.json", *v);
    if (!valid.ok()) INFO(valid.error().to_string());
    CHECK(valid.ok());
    CHECK(v->at("id") == id1.did_string());
  }
  CHECK(v2.at("versionId") == "2");
  CHECK(v3.at("versionId") == "3");
  CHECK(v2.at("authentication") == Json::array({id1.did_string() + "#keys-2"}));
  CHECK(v3.at("verificationMethod").at(0).at("publicKeyJwk").at("x") == enc::base64url_encode(id3.public_key()));
  // previousVersionSignature: by the previous key over JCS(document without proof and itself).
  CHECK(independently_verifies(without(v2, {"proof", "previousVersionSignature"}),
                               v2.at("previousVersionSignature").get<std::string>(), id1.public_key()));
  CHECK(independently_verifies(without(v3, {"proof", "previousVersionSignature"}),
                               v3.at("previousVersionSignature").get<std::string>(), id2.public_key()));
  CHECK_FALSE(independently_verifies(without(v3, {"proof", "previousVersionSignature"}),
                                     v3.at("previousVersionSignature").get<std::string>(), id1.public_key()));
  // Own proof by the new key, over everything but "proof" (previousVersionSignature included).
  CHECK(independently_verifies(without(v2, {"proof"}), v2.at("proof").at(0).at("proofValue").get<std::string>(),
                               id2.public_key()));

  // Any order of the inputs.
  for (const auto& order : {std::vector<Json>{v1, v2, v3}, std::vector<Json>{v3, v1, v2}, std::vector<Json>{v2, v3, v1}}) {
    const DidKeyHistory h = build_ok(order, false);
    REQUIRE(h.versions().size() == 3);
    CHECK(h.versions()[0].version == 1);
    CHECK(h.versions()[2].version == 3);
    CHECK(h.current().key == id3.public_key());
    CHECK(h.did() == id1.did());

    expect_error(h.key_at(kT1 - 1us), ErrorCode::kNotFound, "diddoc.no_key_at_time");
    expect_error(h.key_at(at("2000-01-01T00:00:00Z")), ErrorCode::kNotFound, "diddoc.no_key_at_time");
    CHECK(key_at_ok(h, kT1) == id1.public_key());
    CHECK(key_at_ok(h, kT1 + 24h) == id1.public_key());
    CHECK(key_at_ok(h, kT2 - 1us) == id1.public_key());
    CHECK(key_at_ok(h, kT2) == id2.public_key());
    CHECK(key_at_ok(h, kT2 + 1us) == id2.public_key());
    CHECK(key_at_ok(h, kT3 - 1us) == id2.public_key());
    CHECK(key_at_ok(h, kT3) == id3.public_key());
    CHECK(key_at_ok(h, at("2099-01-01T00:00:00Z")) == id3.public_key());
  }
  // A prefix of the history is a history too.
  const DidKeyHistory h12 = build_ok({v1, v2}, false);
  CHECK(key_at_ok(h12, kT3 + 1h) == id2.public_key());
}

TEST_CASE("rotation: rotate_did_document refuses what does not follow", "[diddoc][rotation]") {
  const Identity id1 = make_identity(PrincipalType::kAgent);
  const Identity id2 = id1.rotated();
  const Json v1 = make_doc(id1, kT1);
  const crypto::SigningKey stranger = crypto::SigningKey::generate();

  auto wrong_key = handshake::rotate_did_document(v1, stranger, id2, opts(kT2));
  expect_error(wrong_key, ErrorCode::kKey, "diddoc.previous_key");
  auto skipped = handshake::rotate_did_document(v1, id1.key(), id2.rotated(), opts(kT2));
  expect_error(skipped, ErrorCode::kInvalidArgument, "diddoc.version");
  auto same_time = handshake::rotate_did_document(v1, id1.key(), id2, opts(kT1));
  expect_error(same_time, ErrorCode::kInvalidArgument, "diddoc.version");
  auto earlier = handshake::rotate_did_document(v1, id1.key(), id2, opts(kT1 - 1s));
  expect_error(earlier, ErrorCode::kInvalidArgument, "diddoc.version");
  const Identity other = make_identity(PrincipalType::kAgent).rotated();
  auto other_did = handshake::rotate_did_document(v1, id1.key(), other, opts(kT2));
  expect_error(other_did, ErrorCode::kInvalidArgument, "diddoc.version");
  Json not_a_doc = v1;
  not_a_doc.erase("verificationMethod");
  CHECK_FALSE(handshake::rotate_did_document(not_a_doc, id1.key(), id2, opts(kT2)).ok());
}

TEST_CASE("rotation: a version not signed by the previous key is refused", "[diddoc][history][rotation]") {
  const Identity id1 = make_identity(PrincipalType::kAgent);
  const Identity id2 = id1.rotated();
  const Json v1 = make_doc(id1, kT1);
  const Json v2 = rotate(v1, id1, id2, kT2);
  // Control: re-signing with the right keys reproduces an acceptable version.
  build_ok({v1, resign(v2, &id1.key(), id2.key())}, false);

  // previousVersionSignature by a random key (own proof valid).
  const crypto::SigningKey random_key = crypto::SigningKey::generate();
  const Json forged = resign(v2, &random_key, id2.key());
  {
    auto parsed = handshake::parse_did_document(forged);
    REQUIRE(parsed.ok());
    REQUIRE(handshake::verify_did_document_proof(*parsed).ok());
  }
  expect_error(DidKeyHistory::build({v1, forged}, false), ErrorCode::kSignature, "sig.invalid");
  expect_error(DidKeyHistory::build({v1, forged}, true), ErrorCode::kSignature, "sig.invalid");

  // previousVersionSignature by the new key itself.
  expect_error(DidKeyHistory::build({v1, resign(v2, &id2.key(), id2.key())}, false), ErrorCode::kSignature,
               "sig.invalid");
  // previousVersionSignature copied from another genuine rotation.
  const Identity id2b = id1.rotated();
  const Json v2b = rotate(v1, id1, id2b, kT2 + 1s);
  Json spliced = v2;
  spliced["previousVersionSignature"] = v2b["previousVersionSignature"];
  spliced = resign(spliced, nullptr, id2.key());
  expect_error(DidKeyHistory::build({v1, spliced}, false), ErrorCode::kSignature, "sig.invalid");
  // Garbage in previousVersionSignature.
  Json garbage = v2;
  garbage["previousVersionSignature"] = "AAAA";
  garbage = resign(garbage, nullptr, id2.key());
  expect_error(DidKeyHistory::build({v1, garbage}, false), ErrorCode::kSignature, "sig.invalid");
  // A change after signing breaks the own proof.
  Json edited = v2;
  edited["versionTime"] = "2026-03-02T00:00:00Z";
  expect_error(DidKeyHistory::build({v1, edited}, false), ErrorCode::kSignature, "sig.invalid");
}

TEST_CASE("rotation: versionTime must strictly increase", "[diddoc][history][rotation]") {
  const Identity id1 = make_identity(PrincipalType::kAgent);
  const Identity id2 = id1.rotated();
  const Json v1 = make_doc(id1, kT1);
  const Json v2 = rotate(v1, id1, id2, kT2);
  for (const char* t : {"2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z", "2020-01-01T00:00:00Z"}) {
    INFO(t);
    Json bad = v2;
    bad["versionTime"] = t;
    bad = resign(bad, &id1.key(), id2.key());
    expect_error(DidKeyHistory::build({v1, bad}, false), ErrorCode::kInvalidArgument, "diddoc.history");
  }
  // A later version without a versionTime has no window.
  Json timeless = v2;
  timeless.erase("versionTime");
  timeless = resign(timeless, &id1.key(), id2.key());
  expect_error(DidKeyHistory::build({v1, timeless}, false), ErrorCode::kInvalidArgument, "diddoc.history");
  // One microsecond later is enough.
  Json just_after = v2;
  just_after["versionTime"] = "2026-01-01T00:00:00.000001Z";
  just_after = resign(just_after, &id1.key(), id2.key());
  const DidKeyHistory h = build_ok({v1, just_after}, false);
  CHECK(key_at_ok(h, kT1) == id1.public_key());
  CHECK(key_at_ok(h, kT1 + 1us) == id2.public_key());
}

TEST_CASE("rotation: versions must run 1..N without gaps or repeats", "[diddoc][history][rotation]") {
  const Identity id1 = make_identity(PrincipalType::kAgent);
  const Identity id2 = id1.rotated();
  const Identity id3 = id2.rotated();
  const Json v1 = make_doc(id1, kT1);
  const Json v2 = rotate(v1, id1, id2, kT2);
  const Json v3 = rotate(v2, id2, id3, kT3);
  expect_error(DidKeyHistory::build({v1, v3}, false), ErrorCode::kInvalidArgument, "diddoc.history");
  expect_error(DidKeyHistory::build({v2, v3}, false), ErrorCode::kInvalidArgument, "diddoc.history");
  expect_error(DidKeyHistory::build({v2}, false), ErrorCode::kInvalidArgument, "diddoc.history");
  expect_error(DidKeyHistory::build({v1, v1}, false), ErrorCode::kInvalidArgument, "diddoc.history");
  expect_error(DidKeyHistory::build({v1, v2, v2, v3}, false), ErrorCode::kInvalidArgument, "diddoc.history");
  // Two DIDs in one history.
  const Json other = make_doc(make_identity(PrincipalType::kAgent), kT1);
  expect_error(DidKeyHistory::build({v1, other}, false), ErrorCode::kInvalidArgument, "diddoc.history");
  // Control.
  CHECK(DidKeyHistory::build({v1, v2, v3}, false).ok());
}

// ---- registry proofs -----------------------------------------------------------------------------

TEST_CASE("add_did_document_proof: a registry's proof keeps the principal's valid", "[diddoc][registry]") {
  const Identity principal = make_identity(PrincipalType::kAgent);
  const Identity registry = make_identity(PrincipalType::kOrg);
  const Json doc = make_doc(principal, kT1);
  const std::string registry_method = registry.did_string() + "#keys-1";
  auto with_registry = handshake::add_did_document_proof(doc, registry.key(), registry_method, kT1 + 1h);
  REQUIRE(with_registry.ok());
  REQUIRE(with_registry->at("proof").size() == 2);
  CHECK(with_registry->at("proof").at(0) == doc.at("proof").at(0));
  const Json& rp = with_registry->at("proof").at(1);
  CHECK(rp.at("verificationMethod") == registry_method);
  CHECK(rp.at("type") == std::string(handshake::kDidProofType));
  CHECK(rp.at("created") == "2026-01-01T01:00:00Z");
  CHECK(rp.at("proofPurpose") == "assertionMethod");
  // Both proofs are over the same payload: the document without "proof".
  CHECK(independently_verifies(without(*with_registry, {"proof"}), rp.at("proofValue").get<std::string>(),
                               registry.public_key()));
  CHECK(independently_verifies(without(*with_registry, {"proof"}),
                               with_registry->at("proof").at(0).at("proofValue").get<std::string>(),
                               principal.public_key()));
  CHECK(handshake::schema::validate("did-document.json", *with_registry).ok());

  auto parsed = handshake::parse_did_document(*with_registry);
  REQUIRE(parsed.ok());
  CHECK(handshake::verify_did_document_proof(*parsed).ok());
  const DidKeyHistory h = build_ok({*with_registry}, false);
  CHECK(key_at_ok(h, kT1) == principal.public_key());

  // The registry's entry first, the principal's second: still found and valid.
  Json reordered = *with_registry;
  reordered["proof"] = Json::array({rp, doc.at("proof").at(0)});
  auto parsed2 = handshake::parse_did_document(reordered);
  REQUIRE(parsed2.ok());
  CHECK(handshake::verify_did_document_proof(*parsed2).ok());

  // A registry proof alone is not the principal's.
  Json registry_only = *with_registry;
  registry_only["proof"] = Json::array({rp});
  auto parsed3 = handshake::parse_did_document(registry_only);
  REQUIRE(parsed3.ok());
  expect_error(handshake::verify_did_document_proof(*parsed3), ErrorCode::kSignature, "diddoc.proof_missing");

  CHECK_FALSE(handshake::add_did_document_proof(Json::array(), registry.key(), registry_method, kT1).ok());

  // verify_did_document_proof on a hand-assembled DidDocument skips malformed entries, never throws.
  handshake::DidDocument hand = *parsed;
  hand.source["proof"] = Json::array({Json{{"verificationMethod", 5}, {"type", 7}}, Json{{"type", true}}, 42,
                                      doc.at("proof").at(0)});
  CHECK(handshake::verify_did_document_proof(hand).ok());
  hand.source["proof"] = Json::array({Json{{"verificationMethod", Json::array()}}});
  expect_error(handshake::verify_did_document_proof(hand), ErrorCode::kSignature, "diddoc.proof_missing");
}

// ---- verification by signing time -----------------------------------------------------------------

TEST_CASE("verify_with_directory: the key valid at the signing time decides", "[diddoc][rotation][verify]") {
  const Identity id1 = make_identity(PrincipalType::kAgent);
  const Identity id2 = id1.rotated();
  const Json v1 = make_doc(id1, kT1);
  const Json v2 = rotate(v1, id1, id2, kT2);
  handshake::DidDirectory dir;
  dir.add(v2);
  dir.add(v1);
  REQUIRE(dir.finish(false).ok());
  const DidKeyHistory* h = dir.find(id1.did_string());
  REQUIRE(h != nullptr);
  CHECK(h->versions().size() == 2);
  CHECK(dir.find("did:hsk:agent:nobody") == nullptr);

  const std::string did = id1.did_string();
  const Json old_key_in_window = delegation(did, id1.key(), kT1 + 10min);
  const Json old_key_last_moment = delegation(did, id1.key(), kT2 - 1s);
  const Json old_key_after_rotation = delegation(did, id1.key(), kT2 + 1h);
  const Json new_key_after_rotation = delegation(did, id2.key(), kT2 + 1h);
  const Json new_key_backdated = delegation(did, id2.key(), kT1 + 10min);
  const Json before_history = delegation(did, id1.key(), kT1 - 1h);

  CHECK(handshake::verify_with_directory(old_key_in_window, dir).ok());
  CHECK(handshake::verify_with_directory(old_key_last_moment, dir).ok());
  CHECK(handshake::verify_with_directory(new_key_after_rotation, dir).ok());
  expect_error(handshake::verify_with_directory(old_key_after_rotation, dir), ErrorCode::kSignature, "sig.invalid");
  expect_error(handshake::verify_with_directory(new_key_backdated, dir), ErrorCode::kSignature, "sig.invalid");
  expect_error(handshake::verify_with_directory(before_history, dir), ErrorCode::kNotFound, "diddoc.no_key_at_time");

  // Moving a valid message's iat into the other window breaks it both ways.
  Json moved = old_key_in_window;
  moved["iat"] = handshake::time::format_rfc3339(kT2 + 1h);
  CHECK_FALSE(handshake::verify_with_directory(moved, dir).ok());

  // Receipts are dated by executed_at.
  CHECK(handshake::verify_with_directory(receipt(did, id1.key(), kT1 + 5min), dir).ok());
  CHECK(handshake::verify_with_directory(receipt(did, id2.key(), kT3), dir).ok());
  expect_error(handshake::verify_with_directory(receipt(did, id1.key(), kT3), dir), ErrorCode::kSignature,
               "sig.invalid");

  // Unknown issuer, no issuer.
  const Identity stranger = make_identity(PrincipalType::kAgent);
  expect_error(handshake::verify_with_directory(delegation(stranger.did_string(), stranger.key(), kT2), dir),
               ErrorCode::kNotFound, "did.unresolved");
  CHECK_FALSE(handshake::verify_with_directory(without(old_key_in_window, {"iss"}), dir).ok());
  CHECK_FALSE(handshake::verify_with_directory(Json::array(), dir).ok());
}

TEST_CASE("DidDirectory: documents added across finish() calls join one history", "[diddoc][verify]") {
  const Identity id1 = make_identity(PrincipalType::kSvc);
  const Identity id2 = id1.rotated();
  const Json v1 = make_doc(id1, kT1);
  const Json v2 = rotate(v1, id1, id2, kT2);
  handshake::DidDirectory dir;
  dir.add(v1);
  REQUIRE(dir.finish(false).ok());
  REQUIRE(dir.find(id1.did_string()) != nullptr);
  CHECK(dir.find(id1.did_string())->versions().size() == 1);
  dir.add(v2);
  REQUIRE(dir.finish(false).ok());
  REQUIRE(dir.find(id1.did_string()) != nullptr);
  CHECK(dir.find(id1.did_string())->versions().size() == 2);
  CHECK(dir.find(id1.did_string())->current().key == id2.public_key());

  handshake::DidDirectory bad;
  bad.add(Json{{"no", "id"}});
  CHECK_FALSE(bad.finish(false).ok());
}

TEST_CASE("signing_time: iat, or executed_at for receipts", "[diddoc][verify]") {
  auto t = handshake::signing_time(Json{{"kind", "DelegationToken"}, {"iat", "2026-01-01T00:00:00Z"}});
  REQUIRE(t.ok());
  CHECK(*t == kT1);
  auto r = handshake::signing_time(
      Json{{"kind", "Receipt"}, {"iat", "2026-03-01T00:00:00Z"}, {"executed_at", "2026-01-01T00:00:00Z"}});
  REQUIRE(r.ok());
  CHECK(*r == kT1);
  expect_error(handshake::signing_time(Json{{"kind", "Receipt"}, {"iat", "2026-01-01T00:00:00Z"}}), ErrorCode::kSchema,
               "message.field");
  expect_error(handshake::signing_time(Json{{"kind", "Acceptance"}}), ErrorCode::kSchema, "message.field");
  expect_error(handshake::signing_time(Json{{"kind", "Acceptance"}, {"iat", 5}}), ErrorCode::kSchema, "message.field");
  CHECK_FALSE(handshake::signing_time(Json::array()).ok());
  CHECK_FALSE(handshake::signing_time(Json{{"iat", "yesterday"}}).ok());
  // A "kind" that is not a string is not a receipt; it must not throw.
  auto odd = handshake::signing_time(Json{{"kind", 5}, {"iat", "2026-01-01T00:00:00Z"}});
  REQUIRE(odd.ok());
  CHECK(*odd == kT1);
}
