#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "handshake/capability.hpp"
#include "handshake/conformance.hpp"
#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "handshake/did.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/time.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/service.hpp"
#include "conformance_internal.hpp"

namespace handshake::conformance {

std::size_t Report::passed() const {
  return static_cast<std::size_t>(std::count_if(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.passed; }));
}
std::size_t Report::failed() const { return outcomes.size() - passed(); }

namespace {

using detail::kPkcs8Prefix;
using detail::kSpkiPrefix;

Result<crypto::PublicKey> decode_spki(const std::string& b64) {
  HSK_ASSIGN_OR_RETURN(auto der, encoding::base64url_decode(b64));
  if (der.size() != 44 || !std::equal(kSpkiPrefix.begin(), kSpkiPrefix.end(), der.begin())) {
    return make_error(ErrorCode::kKey, "conformance.key", "not an Ed25519 SubjectPublicKeyInfo");
  }
  crypto::PublicKey k{};
  std::copy(der.begin() + 12, der.end(), k.begin());
  return k;
}

Result<crypto::SigningKey> decode_pkcs8(const std::string& b64) {
  HSK_ASSIGN_OR_RETURN(auto der, encoding::base64url_decode(b64));
  if (der.size() != 48 || !std::equal(kPkcs8Prefix.begin(), kPkcs8Prefix.end(), der.begin())) {
    return make_error(ErrorCode::kKey, "conformance.key", "not an Ed25519 PKCS#8 private key");
  }
  return crypto::SigningKey::from_seed(std::span<const std::uint8_t>(der).subspan(16));
}

// A resolver that cannot answer for some DIDs (to reach service_unavailable).
class UnavailableFor final : public KeyResolver {
 public:
  UnavailableFor(const KeyResolver& inner, std::vector<std::string> dids) : inner_(inner), dids_(std::move(dids)) {}
  Answer key_at(const std::string& did, Timestamp at) const override {
    if (std::find(dids_.begin(), dids_.end(), did) != dids_.end()) return {Status::kUnavailable, {}, "directory offline"};
    return inner_.key_at(did, at);
  }

 private:
  const KeyResolver& inner_;
  std::vector<std::string> dids_;
};

// Compares one service answer with its expectation; returns what differs, empty when it matches.
std::string compare(const Decision& d, const Json& expected, const crypto::PublicKey& service_key) {
  std::string why;
  // The answer itself must be a valid, signed message of the right kind.
  auto parsed = parse_message(d.response);
  if (!parsed.ok()) return "the service's answer does not parse: " + parsed.error().to_string();
  if (auto s = verify_message_signature(d.response, service_key); !s.ok()) return "answer signature: " + s.error().to_string();
  const std::string want = expected.value("result", "");
  const std::string got = d.accepted ? "accept" : "reject";
  if (want != got) {
    why = "result " + got + ", expected " + want;
    if (d.refusal) why += " (" + std::string(to_string(d.refusal->code)) + ": " + d.refusal->detail + ")";
    return why;
  }
  if (d.accepted) {
    if (expected.contains("effective_scope")) {
      const Json& es = expected["effective_scope"];
      const Json& got_scope = d.response["effective_scope"];
      if (json::canonicalize(es).value_or("") != json::canonicalize(got_scope).value_or("-")) {
        return "effective_scope " + got_scope.dump() + ", expected " + es.dump();
      }
    }
    if (expected.contains("warm") && expected["warm"].get<bool>() != d.warm) return "warm path flag differs";
    return {};
  }
  const std::string code(to_string(d.refusal->code));
  if (expected.contains("error_code") && expected["error_code"] != code) {
    return "error_code " + code + " (" + d.refusal->detail + "), expected " + expected["error_code"].get<std::string>();
  }
  if (d.response["reason"]["code"] != code) return "signed Refusal carries another code";
  if (expected.contains("rejected_at_step") && expected["rejected_at_step"] != to_string(d.refusal->step)) {
    return "rejected_at_step " + std::string(to_string(d.refusal->step)) + ", expected " +
           expected["rejected_at_step"].get<std::string>();
  }
  if (expected.contains("rejected_delegation_id") && !expected["rejected_delegation_id"].is_null() &&
      d.refusal->delegation_id && expected["rejected_delegation_id"] != *d.refusal->delegation_id &&
      !expected.contains("rejected_delegation_id_lenient")) {
    return "rejected delegation " + *d.refusal->delegation_id;
  }
  if (expected.contains("detail_must_include")) {
    for (const auto& s : expected["detail_must_include"]) {
      if (d.refusal->detail.find(s.get<std::string>()) == std::string::npos) {
        return "detail \"" + d.refusal->detail + "\" lacks \"" + s.get<std::string>() + "\"";
      }
    }
  }
  return {};
}

// ---- reference replay ------------------------------------------------------------------------------

crypto::SigningKey seed_key(const std::string& did) {
  const auto seed = crypto::sha256(encoding::as_bytes(did));
  return crypto::SigningKey::from_seed(seed).value();
}

// A well-formed id derived from a malformed one (lenient replay only).
std::string lenient_id(const std::string& id, std::string_view prefix) {
  if (ids::is_id(id, prefix)) return id;
  static constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const auto h = crypto::sha256(encoding::as_bytes(id));
  std::string out(prefix);
  out.push_back('0');  // a ULID's first character is at most 7
  for (std::size_t i = 0; out.size() < prefix.size() + 26; ++i) out.push_back(kCrockford[h[i % h.size()] & 0x1F]);
  return out;
}

std::string lenient_nonce(const std::string& nonce) {
  if (nonce.size() >= 22 && std::all_of(nonce.begin(), nonce.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      })) {
    return nonce;
  }
  const auto h = crypto::sha256(encoding::as_bytes(nonce));
  return encoding::base64url_encode(std::span<const std::uint8_t>(h).first(16));
}

Result<Json> resign(Json doc, const std::string& did) {
  doc.erase("signature");
  doc["alg"] = "EdDSA";
  HSK_ASSIGN_OR_RETURN(auto input, signing_input(doc));
  doc["signature"] = encoding::base64url_encode(seed_key(did).sign(encoding::as_bytes(input)));
  return doc;
}

struct Replayed {
  Json request;
  std::string receiver;
  std::map<std::string, std::string> renamed;  // original delegation id -> lenient id
};

Result<Replayed> rebuild_reference(const Json& v) {
  const Json& in = v.at("input");
  Json chain = Json::array();
  if (in.contains("delegation")) chain.push_back(in["delegation"]);
  if (in.contains("delegation_chain")) {
    for (const auto& l : in["delegation_chain"]) chain.push_back(l);
  }
  Replayed out;
  Json signed_chain = Json::array();
  for (auto link : chain) {
    const std::string original = link.value("id", "");
    link["id"] = lenient_id(original, ids::kDelegationPrefix);
    out.renamed[original] = link["id"];
    HSK_ASSIGN_OR_RETURN(auto s, resign(link, link.value("iss", "")));
    signed_chain.push_back(std::move(s));
  }
  Json req = in.at("request");
  req["id"] = lenient_id(req.value("id", ""), ids::kRequestPrefix);
  req["nonce"] = lenient_nonce(req.value("nonce", ""));
  req["delegation_chain"] = signed_chain;
  HSK_ASSIGN_OR_RETURN(out.request, resign(req, req.value("iss", "")));
  out.receiver = in.value("receiver_did", req.value("aud", ""));
  return out;
}

struct RunState {
  std::unique_ptr<NonceStore> shared_nonces = make_memory_nonce_store();
};

VectorOutcome run_reference(const std::string& file, const Json& v, RunState& state, int repetition) {
  VectorOutcome o{file, v.value("vector_id", file) + (repetition ? " (replayed)" : ""), false, {}};
  auto rebuilt = rebuild_reference(v);
  if (!rebuilt.ok()) return o.detail = rebuilt.error().to_string(), o;
  const Json& ctx = v.at("context");
  auto now = time::parse_rfc3339(ctx.value("now", ""));
  if (!now.ok()) return o.detail = now.error().to_string(), o;
  FixedClock clock(*now);
  StaticKeyResolver keys;
  const Json listed = ctx.value("public_keys", Json::object());
  for (const auto& [did, _] : listed.items()) keys.add(did, seed_key(did).public_key());
  RevocationList revoked;
  const Json rs = ctx.value("registry_state", Json::object());
  for (const auto& d : rs.value("revoked_delegations", Json::array())) {
    const auto id = d.get<std::string>();
    revoked.add_delegation(rebuilt->renamed.count(id) ? rebuilt->renamed[id] : id);
  }
  for (const auto& p : rs.value("revoked_principals", Json::array())) revoked.add_principal(p.get<std::string>());
  auto did = parse_did(rebuilt->receiver);
  if (!did.ok()) return o.detail = did.error().to_string(), o;
  auto identity = Identity::from_key(*did, seed_key(rebuilt->receiver));
  if (!identity.ok()) return o.detail = identity.error().to_string(), o;
  const auto service_key = identity->public_key();
  ServiceOptions options;
  options.chain.trust_any_root = true;
  options.max_request_age = std::chrono::hours(24);
  auto limiter = make_memory_rate_limiter();
  Service service(std::move(identity).value(), options, clock, keys, revoked, *state.shared_nonces, *limiter);
  const Decision d = service.verify(rebuilt->request);
  Json expected = v.at("expected");
  if (repetition > 0) expected = Json{{"result", "reject"}, {"error_code", "replay_detected"}};
  if (expected.contains("rejected_delegation_id") && expected["rejected_delegation_id"].is_string()) {
    const auto id = expected["rejected_delegation_id"].get<std::string>();
    if (rebuilt->renamed.count(id)) expected["rejected_delegation_id"] = rebuilt->renamed[id];
  }
  o.detail = compare(d, expected, service_key);
  o.passed = o.detail.empty();
  if (o.passed) o.detail = d.accepted ? "accept" : "reject " + std::string(to_string(d.refusal->code));
  return o;
}

// ---- our vectors -----------------------------------------------------------------------------------

VectorOutcome run_ours(const std::string& file, const Json& v) {
  VectorOutcome o{file, v.value("vector_id", file), false, {}};
  const Json& ctx = v.at("context");
  auto now = time::parse_rfc3339(ctx.value("now", ""));
  if (!now.ok()) return o.detail = now.error().to_string(), o;
  FixedClock clock(*now);
  StaticKeyResolver keys;
  const Json public_keys = ctx.value("public_keys", Json::object());
  for (const auto& [did, spki] : public_keys.items()) {
    auto k = decode_spki(spki.get<std::string>());
    if (!k.ok()) return o.detail = did + ": " + k.error().to_string(), o;
    keys.add(did, *k);
  }
  std::map<std::string, crypto::SigningKey> private_keys;
  const Json secret_keys = ctx.value("private_keys", Json::object());
  for (const auto& [did, pkcs8] : secret_keys.items()) {
    auto k = decode_pkcs8(pkcs8.get<std::string>());
    if (!k.ok()) return o.detail = did + ": " + k.error().to_string(), o;
    private_keys.emplace(did, std::move(k).value());
  }
  const Json svc = ctx.value("service", Json::object());
  const std::string svc_did = svc.value("did", "");
  auto svc_key = private_keys.find(svc_did);
  if (svc_key == private_keys.end()) return o.detail = "no private key for the service " + svc_did, o;
  auto parsed_did = parse_did(svc_did);
  if (!parsed_did.ok()) return o.detail = parsed_did.error().to_string(), o;
  // The key moves into the identity (nothing else needs it): no copy of the secret.
  auto identity = Identity::from_key(*parsed_did, std::move(svc_key->second));
  if (!identity.ok()) return o.detail = identity.error().to_string(), o;
  const auto service_key = identity->public_key();

  std::vector<std::string> unavailable;
  for (const auto& d : svc.value("unavailable_keys", Json::array())) unavailable.push_back(d.get<std::string>());
  UnavailableFor resolver(keys, unavailable);

  RevocationList revoked;
  const Json rs = ctx.value("registry_state", Json::object());
  for (const auto& d : rs.value("revoked_delegations", Json::array())) revoked.add_delegation(d.get<std::string>());
  for (const auto& p : rs.value("revoked_principals", Json::array())) revoked.add_principal(p.get<std::string>());
  for (const auto& s : rs.value("revocation_statements", Json::array())) {
    if (auto st = revoked.add_statement(s, resolver); !st.ok()) return o.detail = "registry_state: " + st.error().to_string(), o;
  }

  ServiceOptions options;
  for (const auto& r : svc.value("trust_roots", Json::array())) options.chain.trust_roots.push_back(r.get<std::string>());
  options.chain.max_chain_length = svc.value("max_chain_length", std::size_t{8});
  options.session_ttl = std::chrono::seconds(svc.value("session_ttl_seconds", std::int64_t{0}));
  if (svc.contains("capabilities")) {
    auto caps = capability::CapabilitySchemaSet::from_json(svc["capabilities"]);
    if (!caps.ok()) return o.detail = caps.error().to_string(), o;
    options.capabilities = std::move(caps).value();
  }
  if (svc.contains("policy")) {
    auto p = Policy::from_json(svc["policy"]);
    if (!p.ok()) return o.detail = p.error().to_string(), o;
    options.policy = std::move(p).value();
  }
  for (const auto& r : svc.value("rate_limits", Json::array())) {
    RateLimitRule rule;
    rule.capability = r.value("capability", "**");
    rule.count = r.value("count", std::int64_t{1});
    rule.per_seconds = r.value("per_seconds", std::int64_t{60});
    options.rate_limits.push_back(rule);
  }
  auto nonces = make_memory_nonce_store(svc.value("nonce_store_max_entries", std::size_t{1'000'000}));
  auto limiter = make_memory_rate_limiter();
  Service service(std::move(identity).value(), options, clock, resolver, revoked, *nonces, *limiter);

  const Json& in = v.at("input");
  Json steps = in.contains("steps") ? in["steps"] : Json::array({Json{{"request", in.at("request")}}});
  Json expected = v.at("expected").contains("steps") ? v["expected"]["steps"] : Json::array({v.at("expected")});
  if (steps.size() != expected.size()) return o.detail = "steps and expected steps differ in number", o;
  std::vector<Decision> decisions;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Json& step = steps[i];
    Decision d;
    if (step.contains("request")) {
      d = service.verify(step["request"]);
    } else if (step.contains("warm_request")) {
      const auto from = step["warm_request"].value("session_from_step", std::size_t{0});
      if (from >= decisions.size() || !decisions[from].accepted || !decisions[from].response.contains("session_token")) {
        return o.detail = "step " + std::to_string(i) + ": no session to continue", o;
      }
      Json req = step["warm_request"].at("template");
      req["agent_attestation"][std::string(kSessionTokenMember)] = decisions[from].response["session_token"];
      const std::string iss = req.value("iss", "");
      auto k = private_keys.find(iss);
      if (k == private_keys.end()) return o.detail = "no private key for " + iss, o;
      auto signed_req = sign_message(req, k->second);
      if (!signed_req.ok()) return o.detail = signed_req.error().to_string(), o;
      d = service.verify(*signed_req);
    } else if (step.contains("revocation")) {
      if (auto s = revoked.add_statement(step["revocation"], resolver); !s.ok()) {
        return o.detail = "step " + std::to_string(i) + ": " + s.error().to_string(), o;
      }
      decisions.emplace_back();
      continue;
    } else {
      return o.detail = "step " + std::to_string(i) + ": unknown step", o;
    }
    if (auto why = compare(d, expected[i], service_key); !why.empty()) {
      o.detail = "step " + std::to_string(i) + ": " + why;
      return o;
    }
    decisions.push_back(std::move(d));
  }
  o.passed = true;
  const Decision& last = decisions.back();
  o.detail = last.accepted ? "accept" : "reject " + std::string(to_string(last.refusal->code));
  return o;
}

bool is_reference(const Json& v) {
  const Json& in = v.value("input", Json::object());
  return in.contains("request") && in["request"].value("signature", "").rfind("TEST_VECTOR_SIGNATURE", 0) == 0;
}

}  // namespace

Result<Report> run_directory(const std::filesystem::path& dir, bool replay_first_twice) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
  }
  if (ec) return make_error(ErrorCode::kIo, "conformance.dir", "cannot read " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  Report report;
  RunState state;
  bool replayed = !replay_first_twice;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    const std::string name = f.filename().string();
    auto v = json::parse_strict(text.str(), {8 * 1024 * 1024, 64});
    if (!v.ok() || !v->is_object() || !v->contains("expected") || !v->contains("input") || !v->contains("context")) {
      report.outcomes.push_back({name, name, false, v.ok() ? "not a vector" : v.error().to_string()});
      continue;
    }
    try {
      if (is_reference(*v)) {
        report.outcomes.push_back(run_reference(name, *v, state, 0));
        if (!replayed && (*v)["expected"].value("result", "") == "accept") {
          report.outcomes.push_back(run_reference(name, *v, state, 1));
          replayed = true;
        }
      } else {
        report.outcomes.push_back(run_ours(name, *v));
      }
    } catch (const std::exception& e) {
      // A vector with members of the wrong type; reported, never fatal.
      report.outcomes.push_back({name, v->value("vector_id", name), false, std::string("malformed vector: ") + e.what()});
    }
  }
  return report;
}

}  // namespace handshake::conformance
