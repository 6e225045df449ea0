// Writes the project's conformance vectors. Every key comes from a fixed seed, the clock is
// fixed, ids and nonces are fixed: Ed25519 being deterministic, the output is byte-identical
// from run to run, and `hsk conformance` re-checks it.

#include <cstdio>

// The vector specs below are aggregates with trailing defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <fstream>
#include <map>

#include "conformance_internal.hpp"
#include "handshake/conformance.hpp"
#include "handshake/crypto.hpp"
#include "handshake/did.hpp"
#include "handshake/encoding.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/time.hpp"

namespace handshake::conformance {
namespace {

struct Principal {
  std::string did;
  crypto::SigningKey key;
};

struct LinkSpec {
  std::string issuer, holder;
  Json capabilities;
  std::int64_t depth = 0;
  std::int64_t nbf_offset = -300, exp_offset = 600;  // seconds from "now"
  std::string sign_as;                               // a principal other than the issuer
  std::string aud_override;
};

struct RequestSpec {
  std::string agent, service;
  Json capability;
  std::vector<Json> chain;
  std::string sign_as;
  std::string version = "0.2.3";
  Json extra_members = Json::object();
  std::int64_t iat_offset = 0;
};

class Generator {
 public:
  explicit Generator(std::filesystem::path dir) : dir_(std::move(dir)) {}

  Principal& who(const std::string& name) {
    auto it = principals_.find(name);
    if (it != principals_.end()) return it->second;
    const auto seed = crypto::sha256(encoding::as_bytes("handshake-cpp conformance v0.2.3 " + name));
    auto key = crypto::SigningKey::from_seed(seed).value();
    PrincipalType type = PrincipalType::kAgent;
    if (name.rfind("org", 0) == 0 || name == "mallory") type = PrincipalType::kOrg;
    if (name.rfind("svc", 0) == 0) type = PrincipalType::kSvc;
    std::string did = did_for_key(type, key.public_key()).str();
    return principals_.emplace(name, Principal{std::move(did), std::move(key)}).first->second;
  }
  const std::string& did(const std::string& name) { return who(name).did; }

  std::string next_id(std::string_view prefix) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "01HZZ%021d", ++counter_);
    return std::string(prefix) + buf;
  }
  std::string nonce() {
    const auto h = crypto::sha256(encoding::as_bytes("nonce " + std::to_string(++counter_)));
    return encoding::base64url_encode(std::span<const std::uint8_t>(h).first(16));
  }
  std::string at(std::int64_t offset) const { return time::format_rfc3339(now_ + std::chrono::seconds(offset)); }

  Json sign(Json doc, const std::string& name) { return sign_message(std::move(doc), who(name).key).value(); }
  // Signs without the parse check, for deliberately malformed messages.
  Json sign_raw(Json doc, const std::string& name) {
    doc.erase("signature");
    doc["alg"] = "EdDSA";
    const auto input = signing_input(doc).value();
    doc["signature"] = encoding::base64url_encode(who(name).key.sign(encoding::as_bytes(input)));
    return doc;
  }

  Json link(const LinkSpec& s) {
    Json t{{"version", "0.2.3"},
           {"kind", "DelegationToken"},
           {"id", next_id("dt_")},
           {"iss", did(s.issuer)},
           {"sub", did(s.holder)},
           {"aud", s.aud_override.empty() ? did(s.holder) : s.aud_override},
           {"iat", at(s.nbf_offset)},
           {"nbf", at(s.nbf_offset)},
           {"exp", at(s.exp_offset)},
           {"capabilities", s.capabilities},
           {"sub_delegation_depth_remaining", s.depth}};
    if (!s.aud_override.empty()) t["sub"] = s.aud_override;
    return sign_raw(std::move(t), s.sign_as.empty() ? s.issuer : s.sign_as);
  }

  Json request(const RequestSpec& s) {
    Json r{{"version", s.version},
           {"kind", "HandshakeRequest"},
           {"id", next_id("hs_")},
           {"iss", did(s.agent)},
           {"aud", did(s.service)},
           {"iat", at(s.iat_offset)},
           {"nonce", nonce()},
           {"agent_attestation", {{"deployer", did("org")}, {"model", "conformance-model"}, {"instance_id", "vector"}}},
           {"capability", s.capability},
           {"delegation_chain", s.chain}};
    for (const auto& [k, v] : s.extra_members.items()) r[k] = v;
    return sign_raw(std::move(r), s.sign_as.empty() ? s.agent : s.sign_as);
  }

  // An unsigned request body for a warm step (the runner adds the session token and signs).
  Json warm_template(const std::string& agent, const std::string& service, const Json& capability,
                     const Json& leaf) {
    return Json{{"version", "0.2.3"},
                {"kind", "HandshakeRequest"},
                {"id", next_id("hs_")},
                {"iss", did(agent)},
                {"aud", did(service)},
                {"iat", at(0)},
                {"nonce", nonce()},
                {"agent_attestation", {{"deployer", did("org")}, {"model", "conformance-model"}, {"instance_id", "vector"}}},
                {"capability", capability},
                {"delegation_chain", Json::array({leaf})},
                {"alg", "EdDSA"}};
  }

  Json context(Json service, const std::vector<std::string>& private_for = {}) {
    Json pub = Json::object();
    for (const auto& [name, p] : principals_) {
      std::vector<std::uint8_t> der(detail::kSpkiPrefix.begin(), detail::kSpkiPrefix.end());
      der.insert(der.end(), p.key.public_key().begin(), p.key.public_key().end());
      pub[p.did] = encoding::base64url_encode(der);
    }
    Json priv = Json::object();
    std::vector<std::string> names = private_for;
    names.push_back("svc");
    for (const auto& name : names) {
      std::vector<std::uint8_t> der(detail::kPkcs8Prefix.begin(), detail::kPkcs8Prefix.end());
      const auto seed = who(name).key.seed_bytes();
      der.insert(der.end(), seed.begin(), seed.end());
      priv[did(name)] = encoding::base64url_encode(der);
    }
    service["did"] = did("svc");
    if (!service.contains("trust_roots")) service["trust_roots"] = Json::array({did("org")});
    return Json{{"now", time::format_rfc3339(now_)},
                {"public_keys", pub},
                {"private_keys", priv},
                {"registry_state", {{"revoked_delegations", Json::array()}, {"revoked_principals", Json::array()}}},
                {"service", service}};
  }

  Status write(const std::string& file, const std::string& category, const std::string& description,
               const Json& refs, const Json& context, const Json& input, const Json& expected) {
    Json v{{"vector_id", file},
           {"spec_version", "0.2.3"},
           {"category", category},
           {"description", description},
           {"spec_references", refs},
           {"context", context},
           {"input", input},
           {"expected", expected}};
    const auto path = dir_ / (file + ".json");
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << v.dump(2) << "\n";
    if (!out) return make_error(ErrorCode::kIo, "conformance.write", "cannot write " + path.string());
    return {};
  }

 private:
  std::filesystem::path dir_;
  std::map<std::string, Principal> principals_;
  int counter_ = 0;
  Timestamp now_ = time::parse_rfc3339("2026-05-01T12:00:00Z").value();
};

Json cap(const std::string& name, Json constraints, bool delegable = false) {
  return Json{{"name", name}, {"constraints", std::move(constraints)}, {"delegable", delegable}};
}
Json want_accept(Json scope = nullptr) {
  Json e{{"result", "accept"}};
  if (!scope.is_null()) e["effective_scope"] = std::move(scope);
  return e;
}
Json want_reject(const std::string& code, const std::string& step) {
  return Json{{"result", "reject"}, {"error_code", code}, {"rejected_at_step", step}};
}
Json one(Json request) { return Json{{"request", std::move(request)}}; }

const Json kSchemas = Json::parse(R"({"capabilities": [
  {"name": "billing.invoices.read", "description": "List invoices",
   "constraints": {"max_invoices": {"type": "numeric_max"}, "min_amount": {"type": "numeric_min"},
                   "currency": {"type": "enum"}, "period": {"type": "time_window"},
                   "customer": {"type": "string_pattern"}, "rate": {"type": "rate_limit"}}},
  {"name": "files.read", "description": "Read files", "constraints": {"path": {"type": "resource_path"}}}]})");

}  // namespace

Status generate(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kIo, "conformance.write", "cannot create " + dir.string());
  Generator g(dir);
  // Create principals in a fixed order so every context lists the same keys.
  for (const char* n : {"org", "mallory", "a1", "a2", "a3", "a4", "a5", "svc", "svc2"}) g.who(n);
  const Json read100 = cap("billing.invoices.read", {{"max_invoices", 100}});
  const Json read_req = Json{{"name", "billing.invoices.read"}, {"constraints", {{"max_invoices", 50}}}};
  const Json refs = Json::array({"§9.1", "§11", "§14"});
  const Json base_ctx = g.context(Json{{"capabilities", kSchemas}});
  auto chain1 = [&](Json caps = nullptr) {
    return std::vector<Json>{g.link({"org", "a1", Json::array({caps.is_null() ? read100 : caps}), 0})};
  };
  auto req = [&](std::vector<Json> chain, Json capability = nullptr, const std::string& agent = "a1") {
    return g.request({agent, "svc", capability.is_null() ? read_req : capability, std::move(chain)});
  };
  // Three-link chain org -> a1 -> a2 -> a3 with the given depths and delegability.
  auto chain3 = [&](std::int64_t d0, std::int64_t d1, bool delegable1 = true) {
    return std::vector<Json>{
        g.link({"org", "a1", Json::array({cap("billing.invoices.read", {{"max_invoices", 100}}, true)}), d0}),
        g.link({"a1", "a2", Json::array({cap("billing.invoices.read", {{"max_invoices", 80}}, delegable1)}), d1}),
        g.link({"a2", "a3", Json::array({cap("billing.invoices.read", {{"max_invoices", 60}})}), 0})};
  };

#define HSK_WRITE(...) HSK_TRY(g.write(__VA_ARGS__))
  // ---- accepts ----
  HSK_WRITE("core-001-accept-one-link", "core", "One link org -> agent; a request within scope is accepted and the effective scope narrowed by the request.",
            refs, base_ctx, one(req(chain1())),
            want_accept(Json{{"capability", "billing.invoices.read"}, {"constraints", {{"max_invoices", 50}}}}));
  HSK_WRITE("core-002-accept-three-links", "core", "org -> a1 -> a2 -> a3, depth 2, 1, 0, each narrowing max_invoices.",
            refs, base_ctx, one(req(chain3(2, 1), nullptr, "a3")),
            want_accept(Json{{"capability", "billing.invoices.read"}, {"constraints", {{"max_invoices", 50}}}}));
  {
    std::vector<Json> chain;
    const char* names[] = {"org", "a1", "a2", "a3", "a4", "a5"};
    for (int i = 0; i < 5; ++i) {
      chain.push_back(g.link({names[i], names[i + 1],
                              Json::array({cap("billing.invoices.read", {{"max_invoices", 100 - i}}, i < 4)}), 4 - i}));
    }
    HSK_WRITE("core-003-accept-max-length", "core", "A chain of exactly max_chain_length (5) links is accepted.", refs,
              g.context(Json{{"capabilities", kSchemas}, {"max_chain_length", 5}}), one(req(chain, nullptr, "a5")),
              want_accept());
    HSK_WRITE("core-004-chain-too-long", "core", "The same chain against max_chain_length 4 is refused before any signature is checked.",
              refs, g.context(Json{{"capabilities", kSchemas}, {"max_chain_length", 4}}), one(req(chain, nullptr, "a5")),
              want_reject("chain_broken", "delegation_chain_walk"));
  }
  // ---- signature_invalid ----
  HSK_WRITE("err-signature-invalid-request", "error_codes", "The request is signed by a key that is not its issuer's.", refs,
            base_ctx, one(g.request({"a1", "svc", read_req, chain1(), "a2"})),
            want_reject("signature_invalid", "request_signature"));
  {
    auto chain = chain1();
    chain[0]["capabilities"][0]["constraints"]["max_invoices"] = 1000;  // after signing
    HSK_WRITE("err-signature-invalid-link-tampered", "error_codes", "A link's max_invoices was raised after it was signed.",
              refs, base_ctx, one(req(chain)), want_reject("signature_invalid", "delegation_chain_walk"));
  }
  HSK_WRITE("err-signature-invalid-link-wrong-key", "error_codes", "A link naming org as issuer is signed by mallory's key.",
            refs, base_ctx, one(req({g.link({"org", "a1", Json::array({read100}), 0, -300, 600, "mallory"})})),
            want_reject("signature_invalid", "delegation_chain_walk"));
  {
    Json r = req(chain1());
    r["capability"]["constraints"]["max_invoices"] = 10;  // after signing
    HSK_WRITE("err-signature-invalid-request-tampered", "error_codes", "The request's constraints changed after signing.",
              refs, base_ctx, one(r), want_reject("signature_invalid", "request_signature"));
  }
  // ---- chain_broken ----
  HSK_WRITE("err-chain-broken-untrusted-root", "error_codes", "The chain starts at mallory, who is not a trust root.", refs,
            base_ctx, one(req({g.link({"mallory", "a1", Json::array({read100}), 0})})),
            want_reject("chain_broken", "delegation_chain_walk"));
  {
    auto chain = chain3(2, 1);
    std::swap(chain[0], chain[2]);
    HSK_WRITE("err-chain-broken-reordered", "error_codes", "A valid three-link chain presented leaf first.", refs, base_ctx,
              one(req(chain, nullptr, "a3")), want_reject("chain_broken", "delegation_chain_walk"));
  }
  HSK_WRITE("err-chain-broken-not-delegable", "error_codes", "The middle link grants the capability with delegable=false.",
            refs, base_ctx, one(req(chain3(2, 1, false), nullptr, "a3")),
            want_reject("chain_broken", "delegation_chain_walk"));
  HSK_WRITE("err-chain-broken-depth-exhausted", "error_codes", "The middle link has sub_delegation_depth_remaining 0 yet delegates.",
            refs, base_ctx, one(req(chain3(2, 0), nullptr, "a3")),
            want_reject("chain_broken", "delegation_chain_walk"));
  HSK_WRITE("err-chain-broken-depth-not-decremented", "error_codes", "A child keeps its parent's depth instead of decrementing it.",
            refs, base_ctx, one(req(chain3(2, 2), nullptr, "a3")),
            want_reject("chain_broken", "delegation_chain_walk"));
  for (int bad = 0; bad < 3; ++bad) {
    const char* holders[] = {"a1", "a2", "a3"};
    const char* issuers[] = {"org", "a1", "a2"};
    std::vector<Json> chain;
    for (int i = 0; i < 3; ++i) {
      LinkSpec s{issuers[i], holders[i],
                 Json::array({cap("billing.invoices.read", {{"max_invoices", 100 - 10 * i}}, i < 2)}), 2 - i};
      if (i == bad) s.aud_override = g.did("a5");
      chain.push_back(g.link(s));
    }
    HSK_WRITE("err-chain-broken-aud-link-" + std::to_string(bad), "error_codes",
              "Link " + std::to_string(bad) + " of three is addressed to a5 instead of the next holder.", refs, base_ctx,
              one(req(chain, nullptr, "a3")), want_reject("chain_broken", "delegation_chain_walk"));
  }
  // ---- time ----
  HSK_WRITE("err-expired", "error_codes", "The link expired 10 minutes ago (beyond the 60 s skew).", refs, base_ctx,
            one(req({g.link({"org", "a1", Json::array({read100}), 0, -1200, -600})})),
            want_reject("expired", "delegation_chain_walk"));
  HSK_WRITE("err-not-yet-valid", "error_codes", "The link's nbf is 10 minutes ahead.", refs, base_ctx,
            one(req({g.link({"org", "a1", Json::array({read100}), 0, 600, 1200})})),
            want_reject("not_yet_valid", "delegation_chain_walk"));
  HSK_WRITE("core-005-accept-within-skew", "core", "A link that expired 30 s ago is still accepted (60 s skew).", refs,
            base_ctx, one(req({g.link({"org", "a1", Json::array({read100}), 0, -600, -30})})), want_accept());
  // ---- revocation ----
  {
    auto chain = chain3(2, 1);
    Json ctx = base_ctx;
    RevocationStatement rv;
    rv.id = g.next_id("rv_");
    rv.iss = g.did("a1");
    rv.iat = time::parse_rfc3339(g.at(-60)).value();
    rv.revoked_delegation_id = chain[1]["id"].get<std::string>();
    rv.reason = "policy_change";
    ctx["registry_state"]["revocation_statements"] = Json::array({g.sign(rv.to_json(), "a1")});
    HSK_WRITE("err-credential-revoked-middle-link", "error_codes", "a1 revoked the middle link it issued; the chain is refused.",
              refs, ctx, one(req(chain, nullptr, "a3")), want_reject("credential_revoked", "delegation_chain_walk"));
    // The same statement signed by someone other than the link's issuer has no effect.
    rv.iss = g.did("a3");
    rv.id = g.next_id("rv_");
    ctx["registry_state"]["revocation_statements"] = Json::array({g.sign(rv.to_json(), "a3")});
    HSK_WRITE("core-006-revocation-by-non-issuer-ignored", "core",
              "a3 tries to revoke a link it did not issue; the chain is still accepted.", refs, ctx,
              one(req(chain, nullptr, "a3")), want_accept());
    Json ctx2 = base_ctx;
    ctx2["registry_state"]["revoked_principals"] = Json::array({g.did("a1")});
    HSK_WRITE("err-credential-revoked-principal", "error_codes", "The registry lists a1 (the middle issuer) as revoked.", refs,
              ctx2, one(req(chain3(2, 1), nullptr, "a3")), want_reject("credential_revoked", "delegation_chain_walk"));
  }
  // ---- request-level codes ----
  {
    Json r = req(chain1());
    HSK_WRITE("err-replay-detected", "error_codes", "The same signed request presented twice.", refs, base_ctx,
              Json{{"steps", Json::array({one(r), one(r)})}},
              Json{{"steps", Json::array({want_accept(), want_reject("replay_detected", "replay")})}});
  }
  HSK_WRITE("err-aud-mismatch", "error_codes", "The request is addressed to svc2.", refs, base_ctx,
            one(g.request({"a1", "svc2", read_req, chain1()})), want_reject("aud_mismatch", "audience_check"));
  HSK_WRITE("err-protocol-version-unsupported", "error_codes", "version 0.3.0.", refs, base_ctx,
            one(g.request({"a1", "svc", read_req, chain1(), "", "0.3.0"})),
            want_reject("protocol_version_unsupported", "schema_validation"));
  HSK_WRITE("err-protocol-unknown-field", "error_codes", "A top-level member the 0.2.3 schema does not know.", refs, base_ctx,
            one(g.request({"a1", "svc", read_req, chain1(), "", "0.2.3", Json{{"priority", "high"}}})),
            want_reject("protocol_version_unsupported", "schema_validation"));
  HSK_WRITE("err-policy-denied", "error_codes", "Local policy denies billing.* to this deployer even within scope.", refs,
            g.context(Json{{"capabilities", kSchemas},
                           {"policy", {{"rules", Json::array({{{"effect", "deny"}, {"capability", "billing.*"},
                                                               {"deployers", Json::array({g.did("org")})},
                                                               {"detail", "billing closed for maintenance"}}})}}}}),
            one(req(chain1())), want_reject("policy_denied", "policy"));
  {
    auto chain = chain1();
    HSK_WRITE("err-rate-limited", "error_codes", "A service rule allows one billing call per minute per agent.", refs,
              g.context(Json{{"capabilities", kSchemas},
                             {"rate_limits", Json::array({{{"capability", "billing.**"}, {"count", 1}, {"per_seconds", 60}}})}}),
              Json{{"steps", Json::array({one(req(chain)), one(req(chain))})}},
              Json{{"steps", Json::array({want_accept(), want_reject("rate_limited", "rate_limit")})}});
    HSK_WRITE("err-service-unavailable-resolver", "error_codes", "The key directory cannot answer for the agent.", refs,
              g.context(Json{{"capabilities", kSchemas}, {"unavailable_keys", Json::array({g.did("a1")})}}),
              one(req(chain)), want_reject("service_unavailable", "request_signature"));
    HSK_WRITE("err-service-unavailable-nonce-store", "error_codes", "The nonce store is full (capacity 1); it refuses rather than forget.",
              refs, g.context(Json{{"capabilities", kSchemas}, {"nonce_store_max_entries", 1}}),
              Json{{"steps", Json::array({one(req(chain)), one(req(chain))})}},
              Json{{"steps", Json::array({want_accept(), want_reject("service_unavailable", "replay")})}});
  }
  // ---- scope ----
  {
    Json e = want_reject("scope_exceeded", "scope_intersection");
    e["detail_must_include"] = Json::array({"max_invoices"});
    HSK_WRITE("err-scope-exceeded-request", "error_codes", "Requests 500 invoices; the delegation allows 100.", refs, base_ctx,
              one(req(chain1(), Json{{"name", "billing.invoices.read"}, {"constraints", {{"max_invoices", 500}}}})), e);
  }
  HSK_WRITE("err-scope-exceeded-capability", "error_codes", "Requests a capability the chain does not grant.", refs, base_ctx,
            one(req(chain1(), Json{{"name", "billing.invoices.delete"}, {"constraints", Json::object()}})),
            want_reject("scope_exceeded", "scope_intersection"));

  // ---- constraint algebra: each type narrowed (accepted) and widened (refused) ----
  struct Case {
    const char* type;
    Json parent, narrow, widen, request_ok;
    const char* capability;
  };
  const Case cases[] = {
      {"numeric_max", {{"max_invoices", 100}}, {{"max_invoices", 50}}, {{"max_invoices", 200}}, {{"max_invoices", 10}},
       "billing.invoices.read"},
      {"numeric_min", {{"min_amount", 10}}, {{"min_amount", 20}}, {{"min_amount", 5}}, {{"min_amount", 25}},
       "billing.invoices.read"},
      {"enum", {{"currency", {"EUR", "USD"}}}, {{"currency", {"EUR"}}}, {{"currency", {"EUR", "GBP"}}},
       {{"currency", "EUR"}}, "billing.invoices.read"},
      {"time_window", {{"period", {"2026-01-01", "2026-12-31"}}}, {{"period", {"2026-04-01", "2026-06-30"}}},
       {{"period", {"2025-06-01", "2026-06-30"}}}, {{"period", {"2026-05-01", "2026-05-31"}}}, "billing.invoices.read"},
      {"rate_limit", {{"rate", {{"count", 100}, {"per_seconds", 3600}}}}, {{"rate", {{"count", 10}, {"per_seconds", 3600}}}},
       {{"rate", {{"count", 1000}, {"per_seconds", 3600}}}}, Json::object(), "billing.invoices.read"},
  };
  for (const auto& c : cases) {
    auto mk = [&](const Json& child) {
      return std::vector<Json>{g.link({"org", "a1", Json::array({cap(c.capability, c.parent, true)}), 1}),
                               g.link({"a1", "a2", Json::array({cap(c.capability, child)}), 0})};
    };
    const Json request_cap{{"name", c.capability}, {"constraints", c.request_ok}};
    HSK_WRITE(std::string("ext-") + c.type + "-narrow", "extended",
              std::string("A child narrows a ") + c.type + " constraint; a request inside it is accepted.",
              Json::array({"§10", "§11"}), base_ctx, one(req(mk(c.narrow), request_cap, "a2")), want_accept());
    HSK_WRITE(std::string("ext-") + c.type + "-widen", "extended",
              std::string("A child tries to widen a ") + c.type + " constraint; refused, never silently narrowed.",
              Json::array({"§10", "§11"}), base_ctx, one(req(mk(c.widen), request_cap, "a2")),
              want_reject("scope_exceeded", "scope_intersection"));
  }
  {
    auto chain = std::vector<Json>{g.link({"org", "a1", Json::array({cap("billing.invoices.read", {{"customer", "cust-[0-9]+"}})}), 0})};
    HSK_WRITE("ext-string_pattern-match", "extended", "A request value matching the RE2 pattern (anchored).", Json::array({"§10"}),
              base_ctx, one(req(chain, Json{{"name", "billing.invoices.read"}, {"constraints", {{"customer", "cust-42"}}}})),
              want_accept());
    HSK_WRITE("ext-string_pattern-mismatch", "extended", "A value with extra characters does not match the anchored pattern.",
              Json::array({"§10"}), base_ctx,
              one(req(chain, Json{{"name", "billing.invoices.read"}, {"constraints", {{"customer", "cust-42; drop"}}}})),
              want_reject("scope_exceeded", "scope_intersection"));
    auto files = std::vector<Json>{g.link({"org", "a1", Json::array({cap("files.read", {{"path", "/projects/*/docs/**"}})}), 0})};
    HSK_WRITE("ext-resource_path-match", "extended", "A path inside the granted glob.", Json::array({"§10"}), base_ctx,
              one(req(files, Json{{"name", "files.read"}, {"constraints", {{"path", "/projects/p1/docs/a/b.md"}}}})),
              want_accept());
    HSK_WRITE("ext-resource_path-escape", "extended", "A path outside the glob ('*' does not cross '/').", Json::array({"§10"}),
              base_ctx, one(req(files, Json{{"name", "files.read"}, {"constraints", {{"path", "/projects/p1/x/docs/a.md"}}}})),
              want_reject("scope_exceeded", "scope_intersection"));
    auto named = std::vector<Json>{g.link({"org", "a1", Json::array({cap("files.write:/projects/*", Json::object())}), 0})};
    HSK_WRITE("ext-capability-resource-glob", "extended", "files.write:/projects/* covers files.write:/projects/a.txt.",
              Json::array({"§10"}), base_ctx,
              one(req(named, Json{{"name", "files.write:/projects/a.txt"}, {"constraints", Json::object()}})), want_accept());
    HSK_WRITE("ext-capability-resource-glob-outside", "extended", "... but not files.write:/etc/passwd.", Json::array({"§10"}),
              base_ctx, one(req(named, Json{{"name", "files.write:/etc/passwd"}, {"constraints", Json::object()}})),
              want_reject("scope_exceeded", "scope_intersection"));
  }
  // ---- warm path ----
  {
    auto chain = chain1();
    Json ctx = g.context(Json{{"capabilities", kSchemas}, {"session_ttl_seconds", 300}}, {"a1"});
    RevocationStatement rv;
    rv.id = g.next_id("rv_");
    rv.iss = g.did("org");
    rv.iat = time::parse_rfc3339(g.at(0)).value();
    rv.revoked_delegation_id = chain[0]["id"].get<std::string>();
    rv.reason = "policy_change";
    Json warm_ok = want_accept();
    warm_ok["warm"] = true;
    HSK_WRITE("core-007-warm-session", "core",
              "Cold accept with a session; a warm request is accepted through it; after the root delegation is revoked "
              "the next warm request is refused at once.",
              Json::array({"§9.2", "§11"}), ctx,
              Json{{"steps", Json::array({one(req(chain)),
                                          {{"warm_request", {{"session_from_step", 0},
                                                             {"template", g.warm_template("a1", "svc", read_req, chain[0])}}}},
                                          {{"revocation", g.sign(rv.to_json(), "org")}},
                                          {{"warm_request", {{"session_from_step", 0},
                                                             {"template", g.warm_template("a1", "svc", read_req, chain[0])}}}}})}},
              Json{{"steps", Json::array({want_accept(), warm_ok, Json{{"result", "n/a"}},
                                          want_reject("credential_revoked", "session")})}});
  }
#undef HSK_WRITE
  return {};
}

}  // namespace handshake::conformance
