#include "handshake/messages.hpp"

#include <algorithm>
#include <initializer_list>

#include "handshake/did.hpp"
#include "handshake/encoding.hpp"
#include "handshake/ids.hpp"
#include "handshake/schema.hpp"
#include "messages_internal.hpp"

namespace handshake {
namespace {

// Bounds applied before any pattern runs (see the header, step 4).
constexpr std::size_t kMaxNonce = 512;
constexpr std::size_t kMaxSignatureText = 8192;
constexpr std::size_t kMaxCapabilityName = 256;
constexpr std::size_t kMaxHexValue = 256;
constexpr std::size_t kMaxText = 4096;  // model names, instance ids, details, actions

bool is_lower_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_base64url_text(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

Error field_error(std::string_view where, std::string_view what) {
  return make_error(ErrorCode::kSchema, "message.field", std::string(where) + ": " + std::string(what));
}

// Reads the members of one JSON object with type and bound checks, naming the path in errors.
class Fields {
 public:
  Fields(const Json& j, std::string where) : j_(j), where_(std::move(where)) {}

  [[nodiscard]] std::string path(std::string_view key) const { return where_ + "." + std::string(key); }
  [[nodiscard]] bool has(std::string_view key) const { return j_.is_object() && j_.contains(key); }
  [[nodiscard]] const Json& at(std::string_view key) const { return j_.at(key); }

  Result<std::string> string(std::string_view key, std::size_t max_len = kMaxText) const {
    if (!has(key)) return field_error(path(key), "required member is missing");
    const Json& v = j_.at(key);
    if (!v.is_string()) return field_error(path(key), "must be a string");
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > max_len) return field_error(path(key), "longer than " + std::to_string(max_len) + " bytes");
    return s;
  }
  Result<std::optional<std::string>> opt_string(std::string_view key, std::size_t max_len = kMaxText) const {
    if (!has(key)) return std::optional<std::string>();
    HSK_ASSIGN_OR_RETURN(auto s, string(key, max_len));
    return std::optional<std::string>(std::move(s));
  }
  Result<std::string> did(std::string_view key) const {
    HSK_ASSIGN_OR_RETURN(auto s, string(key, kMaxDidLength));
    if (auto d = parse_did(s); !d.ok()) return field_error(path(key), d.error().message);
    return s;
  }
  Result<std::string> id(std::string_view key, std::string_view prefix) const {
    HSK_ASSIGN_OR_RETURN(auto s, string(key, 64));
    if (!ids::is_id(s, prefix)) {
      return field_error(path(key), "must be \"" + std::string(prefix) + "\" followed by a 26-character ULID");
    }
    return s;
  }
  Result<Timestamp> time(std::string_view key) const {
    HSK_ASSIGN_OR_RETURN(auto s, string(key, 64));
    auto t = time::parse_rfc3339(s);
    if (!t.ok()) return field_error(path(key), t.error().message);
    return *t;
  }
  Result<std::int64_t> integer(std::string_view key, std::int64_t min) const {
    if (!has(key)) return field_error(path(key), "required member is missing");
    const Json& v = j_.at(key);
    if (!v.is_number_integer()) return field_error(path(key), "must be an integer");
    const auto i = v.get<std::int64_t>();
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      return field_error(path(key), "integer out of range");
    }
    if (i < min) return field_error(path(key), "must be at least " + std::to_string(min));
    return i;
  }
  Result<std::string> one_of(std::string_view key, std::initializer_list<std::string_view> allowed) const {
    HSK_ASSIGN_OR_RETURN(auto s, string(key, 64));
    if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return field_error(path(key), "must be one of " + list);
    }
    return s;
  }
  Result<std::string> signature_text() const {
    HSK_ASSIGN_OR_RETURN(auto s, string("signature", kMaxSignatureText));
    if (!is_base64url_text(s)) {
      return field_error(path("signature"), "must be base64url without padding");
    }
    return s;
  }
  Result<std::string> alg() const {
    return one_of("alg", {"EdDSA", "ML-DSA-65", "Hybrid-EdDSA-MLDSA65"});
  }
  Status object(std::string_view key) const {
    if (!has(key)) return field_error(path(key), "required member is missing");
    if (!j_.at(key).is_object()) return field_error(path(key), "must be an object");
    return {};
  }
  // Refuses members outside `known` (for closed sub-objects: a schema violation).
  Status closed(std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : j_.items()) {
      if (std::find(known.begin(), known.end(), k) == known.end()) {
        return field_error(where_, "unknown member \"" + k.substr(0, 64) + "\"");
      }
    }
    return {};
  }

 private:
  const Json& j_;
  std::string where_;
};

Status check_header(const Json& j, MessageKind kind, std::initializer_list<std::string_view> known) {
  if (!j.is_object()) return make_error(ErrorCode::kSchema, "message.kind", "a message must be a JSON object");
  HSK_ASSIGN_OR_RETURN(auto actual, kind_of(j));
  if (actual != kind) {
    return make_error(ErrorCode::kSchema, "message.kind",
                      "expected a " + std::string(to_string(kind)) + ", got a " + std::string(to_string(actual)));
  }
  const auto v = j.find("version");
  if (v == j.end() || !v->is_string()) {
    return make_error(ErrorCode::kUnsupportedVersion, "message.version", "\"version\" must be the string \"0.2.3\"");
  }
  if (v->get_ref<const std::string&>() != kProtocolVersion) {
    return make_error(ErrorCode::kUnsupportedVersion, "message.version",
                      "protocol version \"" + v->get_ref<const std::string&>().substr(0, 32) +
                          "\" is not supported (this implementation speaks 0.2.3)");
  }
  for (const auto& [k, value] : j.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      return make_error(ErrorCode::kUnsupportedVersion, "message.unknown_field",
                        std::string(to_string(kind)) + " member \"" + k.substr(0, 64) +
                            "\" is not part of protocol 0.2.3");
    }
  }
  return {};
}

Result<HashValue> read_hash(const Fields& parent, std::string_view key) {
  HSK_TRY(parent.object(key));
  Fields f(parent.at(key), parent.path(key));
  HSK_TRY(f.closed({"alg", "value"}));
  HashValue h;
  HSK_ASSIGN_OR_RETURN(h.alg, f.one_of("alg", {"sha-256", "sha3-256"}));
  HSK_ASSIGN_OR_RETURN(h.value, f.string("value", kMaxHexValue));
  if (!is_lower_hex(h.value)) {
    return field_error(f.path("value"), "must be lowercase hex");
  }
  return h;
}

void put_if(Json& j, std::string_view key, const std::optional<std::string>& v) {
  if (v) j[std::string(key)] = *v;
}

// Schema check last, once the fields are known to be bounded.
// Patterns were enforced by the field checks above, so the structural variant suffices.
Status check_schema(const Json& j, MessageKind kind) { return schema::detail::validate_structure(schema_name(kind), j); }

}  // namespace

std::string_view to_string(MessageKind kind) noexcept {
  switch (kind) {
    case MessageKind::kDelegationToken: return "DelegationToken";
    case MessageKind::kHandshakeRequest: return "HandshakeRequest";
    case MessageKind::kAcceptance: return "Acceptance";
    case MessageKind::kRefusal: return "Refusal";
    case MessageKind::kReceipt: return "Receipt";
    case MessageKind::kRevocationStatement: return "RevocationStatement";
  }
  return "?";
}

std::string_view schema_name(MessageKind kind) noexcept {
  switch (kind) {
    case MessageKind::kDelegationToken: return "delegation-token.json";
    case MessageKind::kHandshakeRequest: return "handshake-request.json";
    case MessageKind::kAcceptance: return "handshake-acceptance.json";
    case MessageKind::kRefusal: return "handshake-refusal.json";
    case MessageKind::kReceipt: return "receipt.json";
    case MessageKind::kRevocationStatement: return "revocation-statement.json";
  }
  return "?";
}

Result<MessageKind> kind_of(const Json& doc) {
  if (doc.is_object()) {
    const auto k = doc.find("kind");
    if (k != doc.end() && k->is_string()) {
      const auto& s = k->get_ref<const std::string&>();
      for (auto kind : {MessageKind::kDelegationToken, MessageKind::kHandshakeRequest, MessageKind::kAcceptance,
                        MessageKind::kRefusal, MessageKind::kReceipt, MessageKind::kRevocationStatement}) {
        if (s == to_string(kind)) return kind;
      }
      return make_error(ErrorCode::kSchema, "message.kind", "unknown message kind \"" + s.substr(0, 40) + "\"");
    }
  }
  return make_error(ErrorCode::kSchema, "message.kind", "\"kind\" must name one of the six message kinds");
}

Result<DelegationToken> delegation_from_json(const Json& j, bool schema);

// ---- Capability ----------------------------------------------------------------------------------

Json Capability::to_json() const {
  Json j{{"name", name}, {"constraints", constraints}};
  if (delegable) j["delegable"] = *delegable;
  return j;
}

Result<Capability> Capability::from_json(const Json& j, std::string_view where) {
  if (!j.is_object()) return field_error(where, "must be an object");
  Fields f(j, std::string(where));
  HSK_TRY(f.closed({"name", "constraints", "delegable"}));
  Capability c;
  HSK_ASSIGN_OR_RETURN(c.name, f.string("name", kMaxCapabilityName));
  // §10 grammar as the schema states it: dotted lowercase, optional ":resource" suffix.
  const auto colon = c.name.find(':');
  const std::string_view base = std::string_view(c.name).substr(0, colon);
  const bool ok_base = !base.empty() && base[0] >= 'a' && base[0] <= 'z' &&
                       std::all_of(base.begin(), base.end(), [](char ch) {
                         return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
                       });
  // The schema's ":.+" suffix: at least one character, and ECMAScript's '.' matches no line
  // terminator (LF, CR, U+2028, U+2029).
  const bool bad_suffix =
      colon != std::string::npos &&
      (colon + 1 == c.name.size() || c.name.find_first_of("\n\r", colon) != std::string::npos ||
       c.name.find("\xE2\x80\xA8", colon) != std::string::npos || c.name.find("\xE2\x80\xA9", colon) != std::string::npos);
  if (!ok_base || bad_suffix) {
    return field_error(f.path("name"), "must be dotted lowercase with an optional \":resource\" suffix");
  }
  if (f.has("constraints")) {
    if (!f.at("constraints").is_object()) return field_error(f.path("constraints"), "must be an object");
    c.constraints = f.at("constraints");
  }
  if (f.has("delegable")) {
    if (!f.at("delegable").is_boolean()) return field_error(f.path("delegable"), "must be a boolean");
    c.delegable = f.at("delegable").get<bool>();
  }
  return c;
}

// ---- DelegationToken -----------------------------------------------------------------------------

Json DelegationToken::to_json() const {
  Json caps = Json::array();
  for (const auto& c : capabilities) caps.push_back(c.to_json());
  Json j{{"version", kProtocolVersion},
         {"kind", "DelegationToken"},
         {"id", id},
         {"iss", iss},
         {"sub", sub},
         {"aud", aud},
         {"iat", time::format_rfc3339(iat)},
         {"nbf", time::format_rfc3339(nbf)},
         {"exp", time::format_rfc3339(exp)},
         {"capabilities", std::move(caps)},
         {"sub_delegation_depth_remaining", sub_delegation_depth_remaining},
         {"alg", alg}};
  put_if(j, "parent_delegation_id", parent_delegation_id);
  if (!signature.empty()) j["signature"] = signature;
  return j;
}

Result<DelegationToken> DelegationToken::from_json(const Json& j) { return delegation_from_json(j, true); }

// `schema` is false for links inside a request, whose schema check covers them.
Result<DelegationToken> delegation_from_json(const Json& j, bool schema) {
  HSK_TRY(check_header(j, MessageKind::kDelegationToken,
                       {"version", "kind", "id", "iss", "sub", "aud", "iat", "nbf", "exp", "capabilities",
                        "sub_delegation_depth_remaining", "parent_delegation_id", "alg", "signature"}));
  Fields f(j, "DelegationToken");
  DelegationToken t;
  HSK_ASSIGN_OR_RETURN(t.id, f.id("id", ids::kDelegationPrefix));
  HSK_ASSIGN_OR_RETURN(t.iss, f.did("iss"));
  HSK_ASSIGN_OR_RETURN(t.sub, f.did("sub"));
  HSK_ASSIGN_OR_RETURN(t.aud, f.did("aud"));
  HSK_ASSIGN_OR_RETURN(t.iat, f.time("iat"));
  HSK_ASSIGN_OR_RETURN(t.nbf, f.time("nbf"));
  HSK_ASSIGN_OR_RETURN(t.exp, f.time("exp"));
  if (!f.has("capabilities") || !f.at("capabilities").is_array() || f.at("capabilities").empty()) {
    return field_error(f.path("capabilities"), "must be a non-empty array");
  }
  std::size_t i = 0;
  for (const auto& c : f.at("capabilities")) {
    HSK_ASSIGN_OR_RETURN(auto cap, Capability::from_json(c, f.path("capabilities") + "[" + std::to_string(i++) + "]"));
    t.capabilities.push_back(std::move(cap));
  }
  HSK_ASSIGN_OR_RETURN(t.sub_delegation_depth_remaining, f.integer("sub_delegation_depth_remaining", 0));
  if (f.has("parent_delegation_id")) {
    HSK_ASSIGN_OR_RETURN(auto parent, f.id("parent_delegation_id", ids::kDelegationPrefix));
    t.parent_delegation_id = std::move(parent);
  }
  HSK_ASSIGN_OR_RETURN(t.alg, f.alg());
  HSK_ASSIGN_OR_RETURN(t.signature, f.signature_text());
  if (schema) HSK_TRY(check_schema(j, MessageKind::kDelegationToken));
  t.source = j;
  return t;
}

// ---- HandshakeRequest ----------------------------------------------------------------------------

Json HandshakeRequest::to_json() const {
  Json att = agent_attestation.extra.is_object() ? agent_attestation.extra : Json::object();
  att["deployer"] = agent_attestation.deployer;
  att["model"] = agent_attestation.model;
  att["instance_id"] = agent_attestation.instance_id;
  put_if(att, "model_version", agent_attestation.model_version);
  if (agent_attestation.code_hash) att["code_hash"] = agent_attestation.code_hash->to_json();
  Json chain = Json::array();
  for (const auto& link : delegation_chain) chain.push_back(link.source.is_object() ? link.source : link.to_json());
  Json j{{"version", kProtocolVersion},
         {"kind", "HandshakeRequest"},
         {"id", id},
         {"iss", iss},
         {"aud", aud},
         {"iat", time::format_rfc3339(iat)},
         {"nonce", nonce},
         {"agent_attestation", std::move(att)},
         {"capability", capability.to_json()},
         {"delegation_chain", std::move(chain)},
         {"alg", alg}};
  if (!signature.empty()) j["signature"] = signature;
  return j;
}

Result<HandshakeRequest> HandshakeRequest::from_json(const Json& j) {
  Json copy = j;
  return detail::request_from_json(copy, true);
}

Result<HandshakeRequest> detail::request_from_json(Json& j, bool schema_backstop) {
  HSK_TRY(check_header(j, MessageKind::kHandshakeRequest,
                       {"version", "kind", "id", "iss", "aud", "iat", "nonce", "agent_attestation", "capability",
                        "delegation_chain", "alg", "signature"}));
  Fields f(j, "HandshakeRequest");
  HandshakeRequest r;
  HSK_ASSIGN_OR_RETURN(r.id, f.id("id", ids::kRequestPrefix));
  HSK_ASSIGN_OR_RETURN(r.iss, f.did("iss"));
  HSK_ASSIGN_OR_RETURN(r.aud, f.did("aud"));
  HSK_ASSIGN_OR_RETURN(r.iat, f.time("iat"));
  HSK_ASSIGN_OR_RETURN(r.nonce, f.string("nonce", kMaxNonce));
  if (r.nonce.size() < 22 || !is_base64url_text(r.nonce)) {
    return field_error(f.path("nonce"), "must be at least 22 base64url characters (128 bits)");
  }
  HSK_TRY(f.object("agent_attestation"));
  {
    Fields a(f.at("agent_attestation"), f.path("agent_attestation"));
    auto& att = r.agent_attestation;
    HSK_ASSIGN_OR_RETURN(att.deployer, a.did("deployer"));
    HSK_ASSIGN_OR_RETURN(att.model, a.string("model"));
    HSK_ASSIGN_OR_RETURN(att.model_version, a.opt_string("model_version"));
    HSK_ASSIGN_OR_RETURN(att.instance_id, a.string("instance_id"));
    if (a.has("code_hash")) {
      HSK_ASSIGN_OR_RETURN(auto h, read_hash(a, "code_hash"));
      att.code_hash = std::move(h);
    }
    for (const auto& [k, v] : f.at("agent_attestation").items()) {
      if (k != "deployer" && k != "model" && k != "model_version" && k != "instance_id" && k != "code_hash") {
        att.extra[k] = v;
      }
    }
  }
  if (!f.has("capability")) return field_error(f.path("capability"), "required member is missing");
  HSK_ASSIGN_OR_RETURN(r.capability, Capability::from_json(f.at("capability"), f.path("capability")));
  if (!f.has("delegation_chain") || !f.at("delegation_chain").is_array() || f.at("delegation_chain").empty()) {
    return field_error(f.path("delegation_chain"), "must be a non-empty array");
  }
  std::size_t i = 0;
  for (const auto& link : f.at("delegation_chain")) {
    auto t = delegation_from_json(link, false);
    if (!t.ok()) {
      Error e = t.error();
      e.message = f.path("delegation_chain") + "[" + std::to_string(i) + "]: " + e.message;
      return e;
    }
    r.delegation_chain.push_back(std::move(t).value());
    ++i;
  }
  HSK_ASSIGN_OR_RETURN(r.alg, f.alg());
  HSK_ASSIGN_OR_RETURN(r.signature, f.signature_text());
  if (schema_backstop) HSK_TRY(check_schema(j, MessageKind::kHandshakeRequest));
  r.source = std::move(j);  // on success only: callers refuse with the original on failure
  return r;
}

// ---- Acceptance ----------------------------------------------------------------------------------

Json Acceptance::to_json() const {
  Json j{{"version", kProtocolVersion},
         {"kind", "Acceptance"},
         {"request_id", request_id},
         {"iss", iss},
         {"aud", aud},
         {"iat", time::format_rfc3339(iat)},
         {"effective_scope", {{"capability", effective_scope.capability}, {"constraints", effective_scope.constraints}}},
         {"alg", alg}};
  put_if(j, "session_token", session_token);
  if (session_ttl_seconds) j["session_ttl_seconds"] = *session_ttl_seconds;
  if (!signature.empty()) j["signature"] = signature;
  return j;
}

Result<Acceptance> Acceptance::from_json(const Json& j) {
  HSK_TRY(check_header(j, MessageKind::kAcceptance,
                       {"version", "kind", "request_id", "iss", "aud", "iat", "effective_scope", "session_token",
                        "session_ttl_seconds", "alg", "signature"}));
  Fields f(j, "Acceptance");
  Acceptance a;
  HSK_ASSIGN_OR_RETURN(a.request_id, f.id("request_id", ids::kRequestPrefix));
  HSK_ASSIGN_OR_RETURN(a.iss, f.did("iss"));
  HSK_ASSIGN_OR_RETURN(a.aud, f.did("aud"));
  HSK_ASSIGN_OR_RETURN(a.iat, f.time("iat"));
  HSK_TRY(f.object("effective_scope"));
  {
    Fields s(f.at("effective_scope"), f.path("effective_scope"));
    HSK_TRY(s.closed({"capability", "constraints"}));
    HSK_ASSIGN_OR_RETURN(a.effective_scope.capability, s.string("capability", kMaxCapabilityName));
    HSK_TRY(s.object("constraints"));
    a.effective_scope.constraints = s.at("constraints");
  }
  HSK_ASSIGN_OR_RETURN(a.session_token, f.opt_string("session_token"));
  if (f.has("session_ttl_seconds")) {
    HSK_ASSIGN_OR_RETURN(auto ttl, f.integer("session_ttl_seconds", 1));
    a.session_ttl_seconds = ttl;
  }
  HSK_ASSIGN_OR_RETURN(a.alg, f.alg());
  HSK_ASSIGN_OR_RETURN(a.signature, f.signature_text());
  HSK_TRY(check_schema(j, MessageKind::kAcceptance));
  a.source = j;
  return a;
}

// ---- Refusal -------------------------------------------------------------------------------------

Json Refusal::to_json() const {
  Json r{{"code", reason.code}};
  put_if(r, "detail", reason.detail);
  if (reason.retry_after_seconds) r["retry_after_seconds"] = *reason.retry_after_seconds;
  Json j{{"version", kProtocolVersion},
         {"kind", "Refusal"},
         {"request_id", request_id},
         {"iss", iss},
         {"aud", aud},
         {"iat", time::format_rfc3339(iat)},
         {"reason", std::move(r)},
         {"alg", alg}};
  if (!signature.empty()) j["signature"] = signature;
  return j;
}

Result<Refusal> Refusal::from_json(const Json& j) {
  HSK_TRY(check_header(j, MessageKind::kRefusal,
                       {"version", "kind", "request_id", "iss", "aud", "iat", "reason", "alg", "signature"}));
  Fields f(j, "Refusal");
  Refusal r;
  HSK_ASSIGN_OR_RETURN(r.request_id, f.id("request_id", ids::kRequestPrefix));
  HSK_ASSIGN_OR_RETURN(r.iss, f.did("iss"));
  HSK_ASSIGN_OR_RETURN(r.aud, f.did("aud"));
  HSK_ASSIGN_OR_RETURN(r.iat, f.time("iat"));
  HSK_TRY(f.object("reason"));
  {
    Fields rf(f.at("reason"), f.path("reason"));
    HSK_TRY(rf.closed({"code", "detail", "retry_after_seconds"}));
    HSK_ASSIGN_OR_RETURN(r.reason.code,
                         rf.one_of("code", {"signature_invalid", "chain_broken", "scope_exceeded", "credential_revoked",
                                            "expired", "not_yet_valid", "replay_detected", "aud_mismatch",
                                            "policy_denied", "service_unavailable", "rate_limited",
                                            "protocol_version_unsupported"}));
    HSK_ASSIGN_OR_RETURN(r.reason.detail, rf.opt_string("detail"));
    if (rf.has("retry_after_seconds")) {
      HSK_ASSIGN_OR_RETURN(auto s, rf.integer("retry_after_seconds", 0));
      r.reason.retry_after_seconds = s;
    }
  }
  HSK_ASSIGN_OR_RETURN(r.alg, f.alg());
  HSK_ASSIGN_OR_RETURN(r.signature, f.signature_text());
  HSK_TRY(check_schema(j, MessageKind::kRefusal));
  r.source = j;
  return r;
}

// ---- Receipt -------------------------------------------------------------------------------------

Json Receipt::to_json() const {
  Json j{{"version", kProtocolVersion},
         {"kind", "Receipt"},
         {"id", id},
         {"handshake_id", handshake_id},
         {"iss", iss},
         {"sub", sub},
         {"action", action},
         {"executed_at", time::format_rfc3339(executed_at)},
         {"result", result},
         {"result_hash", result_hash.to_json()},
         {"alg", alg}};
  if (result_summary) j["result_summary"] = *result_summary;
  if (upstream_receipts) j["upstream_receipts"] = *upstream_receipts;
  if (registry_anchor) {
    Json a = Json::object();
    put_if(a, "registry_did", registry_anchor->registry_did);
    if (registry_anchor->tree_size) a["tree_size"] = *registry_anchor->tree_size;
    put_if(a, "tree_root", registry_anchor->tree_root);
    put_if(a, "tree_root_signature", registry_anchor->tree_root_signature);
    j["registry_anchor"] = std::move(a);
  }
  if (!signature.empty()) j["signature"] = signature;
  return j;
}

Result<Receipt> Receipt::from_json(const Json& j) {
  HSK_TRY(check_header(j, MessageKind::kReceipt,
                       {"version", "kind", "id", "handshake_id", "iss", "sub", "action", "executed_at", "result",
                        "result_hash", "result_summary", "upstream_receipts", "registry_anchor", "alg", "signature"}));
  Fields f(j, "Receipt");
  Receipt r;
  HSK_ASSIGN_OR_RETURN(r.id, f.id("id", ids::kReceiptPrefix));
  HSK_ASSIGN_OR_RETURN(r.handshake_id, f.id("handshake_id", ids::kRequestPrefix));
  HSK_ASSIGN_OR_RETURN(r.iss, f.did("iss"));
  HSK_ASSIGN_OR_RETURN(r.sub, f.did("sub"));
  HSK_ASSIGN_OR_RETURN(r.action, f.string("action", kMaxCapabilityName));
  HSK_ASSIGN_OR_RETURN(r.executed_at, f.time("executed_at"));
  HSK_ASSIGN_OR_RETURN(r.result, f.one_of("result", {"ok", "error", "partial"}));
  HSK_ASSIGN_OR_RETURN(r.result_hash, read_hash(f, "result_hash"));
  if (f.has("result_summary")) {
    HSK_TRY(f.object("result_summary"));
    r.result_summary = f.at("result_summary");
  }
  if (f.has("upstream_receipts")) {
    if (!f.at("upstream_receipts").is_array()) return field_error(f.path("upstream_receipts"), "must be an array");
    std::vector<std::string> ups;
    for (const auto& u : f.at("upstream_receipts")) {
      if (!u.is_string() || !ids::is_id(u.get_ref<const std::string&>(), ids::kReceiptPrefix)) {
        return field_error(f.path("upstream_receipts"), "each entry must be a receipt id (rc_ + ULID)");
      }
      ups.push_back(u.get<std::string>());
    }
    r.upstream_receipts = std::move(ups);
  }
  if (f.has("registry_anchor")) {
    HSK_TRY(f.object("registry_anchor"));
    Fields a(f.at("registry_anchor"), f.path("registry_anchor"));
    HSK_TRY(a.closed({"registry_did", "tree_size", "tree_root", "tree_root_signature"}));
    RegistryAnchor anchor;
    if (a.has("registry_did")) {
      HSK_ASSIGN_OR_RETURN(auto d, a.did("registry_did"));
      anchor.registry_did = std::move(d);
    }
    if (a.has("tree_size")) {
      HSK_ASSIGN_OR_RETURN(auto n, a.integer("tree_size", 1));
      anchor.tree_size = n;
    }
    HSK_ASSIGN_OR_RETURN(anchor.tree_root, a.opt_string("tree_root", kMaxHexValue));
    if (anchor.tree_root && !is_lower_hex(*anchor.tree_root)) return field_error(a.path("tree_root"), "must be lowercase hex");
    HSK_ASSIGN_OR_RETURN(anchor.tree_root_signature, a.opt_string("tree_root_signature", kMaxSignatureText));
    if (anchor.tree_root_signature && !is_base64url_text(*anchor.tree_root_signature)) {
      return field_error(a.path("tree_root_signature"), "must be base64url without padding");
    }
    r.registry_anchor = std::move(anchor);
  }
  HSK_ASSIGN_OR_RETURN(r.alg, f.alg());
  HSK_ASSIGN_OR_RETURN(r.signature, f.signature_text());
  HSK_TRY(check_schema(j, MessageKind::kReceipt));
  r.source = j;
  return r;
}

// ---- RevocationStatement -------------------------------------------------------------------------

Json RevocationStatement::to_json() const {
  Json revoked = Json::object();
  put_if(revoked, "delegation_id", revoked_delegation_id);
  put_if(revoked, "principal", revoked_principal);
  Json j{{"version", kProtocolVersion},
         {"kind", "RevocationStatement"},
         {"id", id},
         {"iss", iss},
         {"iat", time::format_rfc3339(iat)},
         {"revoked", std::move(revoked)},
         {"reason", reason},
         {"alg", alg}};
  if (effective_at) j["effective_at"] = time::format_rfc3339(*effective_at);
  if (!signature.empty()) j["signature"] = signature;
  return j;
}

Result<RevocationStatement> RevocationStatement::from_json(const Json& j) {
  HSK_TRY(check_header(j, MessageKind::kRevocationStatement,
                       {"version", "kind", "id", "iss", "iat", "revoked", "reason", "effective_at", "alg",
                        "signature"}));
  Fields f(j, "RevocationStatement");
  RevocationStatement r;
  HSK_ASSIGN_OR_RETURN(r.id, f.id("id", ids::kRevocationPrefix));
  HSK_ASSIGN_OR_RETURN(r.iss, f.did("iss"));
  HSK_ASSIGN_OR_RETURN(r.iat, f.time("iat"));
  HSK_TRY(f.object("revoked"));
  {
    Fields rv(f.at("revoked"), f.path("revoked"));
    HSK_TRY(rv.closed({"delegation_id", "principal"}));
    if (rv.has("delegation_id") == rv.has("principal")) {
      return field_error(f.path("revoked"), "must name exactly one of delegation_id and principal");
    }
    if (rv.has("delegation_id")) {
      HSK_ASSIGN_OR_RETURN(auto d, rv.id("delegation_id", ids::kDelegationPrefix));
      r.revoked_delegation_id = std::move(d);
    } else {
      HSK_ASSIGN_OR_RETURN(auto p, rv.did("principal"));
      r.revoked_principal = std::move(p);
    }
  }
  HSK_ASSIGN_OR_RETURN(r.reason, f.one_of("reason", {"key_compromise", "policy_change", "principal_terminated",
                                                     "rotation", "unspecified"}));
  if (f.has("effective_at")) {
    HSK_ASSIGN_OR_RETURN(auto t, f.time("effective_at"));
    r.effective_at = t;
  }
  HSK_ASSIGN_OR_RETURN(r.alg, f.alg());
  HSK_ASSIGN_OR_RETURN(r.signature, f.signature_text());
  HSK_TRY(check_schema(j, MessageKind::kRevocationStatement));
  r.source = j;
  return r;
}

// ---- generic -------------------------------------------------------------------------------------

Result<Message> parse_message(const Json& doc) {
  HSK_ASSIGN_OR_RETURN(auto kind, kind_of(doc));
  auto wrap = [](auto r) -> Result<Message> {
    if (!r.ok()) return r.error();
    return Message(std::move(r).value());
  };
  switch (kind) {
    case MessageKind::kDelegationToken: return wrap(DelegationToken::from_json(doc));
    case MessageKind::kHandshakeRequest: return wrap(HandshakeRequest::from_json(doc));
    case MessageKind::kAcceptance: return wrap(Acceptance::from_json(doc));
    case MessageKind::kRefusal: return wrap(Refusal::from_json(doc));
    case MessageKind::kReceipt: return wrap(Receipt::from_json(doc));
    case MessageKind::kRevocationStatement: return wrap(RevocationStatement::from_json(doc));
  }
  return make_error(ErrorCode::kInternal, "message.kind", "unreachable");
}

Result<Message> parse_message_text(std::string_view text, const json::ParseLimits& limits) {
  HSK_ASSIGN_OR_RETURN(auto doc, json::parse_strict(text, limits));
  return parse_message(doc);
}

MessageKind kind_of(const Message& m) noexcept { return static_cast<MessageKind>(m.index()); }

const Json& source_of(const Message& m) noexcept {
  return std::visit([](const auto& v) -> const Json& { return v.source; }, m);
}

const std::string& signer_of(const Message& m) noexcept {
  return std::visit([](const auto& v) -> const std::string& { return v.iss; }, m);
}

Result<std::string> signing_input(const Json& doc) {
  if (!doc.is_object()) return make_error(ErrorCode::kInvalidArgument, "message.not_object", "a message must be a JSON object");
  return json::canonicalize_without(doc, "signature");
}

namespace detail {
Result<Json> sign_constructed(Json doc, const crypto::Signer& key) {
  doc.erase("signature");
  doc["alg"] = kAlgEdDSA;
  HSK_ASSIGN_OR_RETURN(auto input, signing_input(doc));
  HSK_ASSIGN_OR_RETURN(const auto sig, key.try_sign(encoding::as_bytes(input)));
  doc["signature"] = encoding::base64url_encode(sig);
  return doc;
}
}  // namespace detail

Result<Json> sign_message(Json doc, const crypto::Signer& key) {
  if (!doc.is_object()) return make_error(ErrorCode::kInvalidArgument, "message.not_object", "a message must be a JSON object");
  HSK_ASSIGN_OR_RETURN(doc, detail::sign_constructed(std::move(doc), key));
  HSK_TRY(parse_message(doc));
  return doc;
}

Status verify_message_signature(const Json& doc, const crypto::PublicKey& key) {
  if (!doc.is_object() || !doc.contains("signature") || !doc["signature"].is_string()) {
    return make_error(ErrorCode::kSignature, "sig.missing", "message has no \"signature\" string");
  }
  const auto alg = doc.find("alg");
  if (alg == doc.end() || !alg->is_string() || alg->get_ref<const std::string&>() != kAlgEdDSA) {
    return make_error(ErrorCode::kSignature, "sig.alg_unsupported", "only \"alg\": \"EdDSA\" signatures are verified");
  }
  auto sig = encoding::base64url_decode(doc["signature"].get_ref<const std::string&>());
  if (!sig.ok() || sig->size() != crypto::kSignatureBytes) {
    return make_error(ErrorCode::kSignature, "sig.malformed", "signature must be 64 bytes in unpadded base64url");
  }
  HSK_ASSIGN_OR_RETURN(auto input, signing_input(doc));
  if (!crypto::verify(key, encoding::as_bytes(input), *sig)) {
    return make_error(ErrorCode::kSignature, "sig.invalid", "signature does not verify");
  }
  return {};
}

}  // namespace handshake
