#include "handshake/did_document.hpp"

#include <algorithm>

#include "handshake/encoding.hpp"
#include "handshake/messages.hpp"
#include "handshake/schema.hpp"

namespace handshake {
namespace {

Error doc_error(const std::string& why) { return make_error(ErrorCode::kSchema, "diddoc.invalid", why); }

// j[key] when it is a string, else "". (Json::value(key, "") throws on a non-string member.)
std::string string_member(const Json& j, const char* key) {
  if (!j.is_object()) return {};
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string method_id(const Did& did, std::uint64_t version) {
  return did.str() + "#keys-" + std::to_string(version);
}

Json without(const Json& doc, std::initializer_list<const char*> drop) {
  Json out = Json::object();
  for (const auto& [k, v] : doc.items()) {
    if (std::none_of(drop.begin(), drop.end(), [&key = k](const char* d) { return key == d; })) out[k] = v;
  }
  return out;
}

Result<std::string> sign_b64(const Json& payload, const crypto::Signer& key) {
  HSK_ASSIGN_OR_RETURN(auto canon, json::canonicalize(payload));
  HSK_ASSIGN_OR_RETURN(const auto sig, key.try_sign(encoding::as_bytes(canon)));
  return encoding::base64url_encode(sig);
}

bool verify_b64(const Json& payload, const std::string& sig_b64, const crypto::PublicKey& key) {
  auto sig = encoding::base64url_decode(sig_b64);
  if (!sig.ok() || sig->size() != crypto::kSignatureBytes) return false;
  auto canon = json::canonicalize(payload);
  return canon.ok() && crypto::verify(key, encoding::as_bytes(*canon), *sig);
}

Json base_document(const Identity& id, std::uint64_t version, const DidDocumentOptions& o) {
  const std::string did = id.did_string();
  const std::string kid = method_id(id.did(), version);
  Json doc{{"@context", Json::array({"https://www.w3.org/ns/did/v1"})},
           {"id", did},
           {"versionId", std::to_string(version)},
           {"versionTime", time::format_rfc3339(o.version_time)},
           {"verificationMethod",
            Json::array({Json{{"id", kid},
                              {"type", "Ed25519VerificationKey2020"},
                              {"controller", did},
                              {"publicKeyJwk",
                               {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", encoding::base64url_encode(id.public_key())}}}}})},
           {"authentication", Json::array({kid})},
           {"handshake:credentials", o.credentials.is_array() ? o.credentials : Json::array()}};
  if (o.revocation_endpoint) doc["handshake:revocation"] = {{"endpoint", *o.revocation_endpoint}};
  if (o.services.is_array() && !o.services.empty()) doc["service"] = o.services;
  return doc;
}

Result<std::uint64_t> parse_version(const Json& doc) {
  if (!doc.contains("versionId")) return std::uint64_t{1};
  if (!doc["versionId"].is_string()) return doc_error("versionId must be a string");
  const auto& s = doc["versionId"].get_ref<const std::string&>();
  if (s.empty() || s.size() > 18 || s[0] == '0' ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return doc_error("versionId must be a positive decimal integer");
  }
  return std::stoull(s);
}

}  // namespace

Result<Json> add_did_document_proof(Json document, const crypto::Signer& signer, const std::string& method,
                                    Timestamp created) {
  if (!document.is_object()) return doc_error("a DID Document must be an object");
  Json proofs = document.contains("proof") ? document["proof"] : Json::array();
  if (!proofs.is_array()) return doc_error("\"proof\" must be an array");
  HSK_ASSIGN_OR_RETURN(auto value, sign_b64(without(document, {"proof"}), signer));
  proofs.push_back(Json{{"type", kDidProofType},
                        {"verificationMethod", method},
                        {"created", time::format_rfc3339(created)},
                        {"proofPurpose", "assertionMethod"},
                        {"proofValue", value}});
  document["proof"] = std::move(proofs);
  return document;
}

Result<Json> make_did_document(const Identity& identity, const DidDocumentOptions& options) {
  if (identity.key_version() != 1) {
    return make_error(ErrorCode::kInvalidArgument, "diddoc.version",
                      "a rotated key publishes its document with rotate_did_document()");
  }
  Json doc = base_document(identity, 1, options);
  return add_did_document_proof(std::move(doc), identity.key(), method_id(identity.did(), 1), options.version_time);
}

Result<Json> rotate_did_document(const Json& previous_document, const crypto::Signer& previous_key,
                                 const Identity& next, const DidDocumentOptions& options) {
  HSK_ASSIGN_OR_RETURN(auto prev, parse_did_document(previous_document));
  if (!(prev.did == next.did())) return make_error(ErrorCode::kInvalidArgument, "diddoc.version", "DIDs differ");
  if (next.key_version() != prev.version + 1) {
    return make_error(ErrorCode::kInvalidArgument, "diddoc.version",
                      "the next key must be version " + std::to_string(prev.version + 1));
  }
  if (!crypto::constant_time_equal(previous_key.public_key(), prev.key)) {
    return make_error(ErrorCode::kKey, "diddoc.previous_key", "previous_key is not the previous version's key");
  }
  if (prev.version_time && options.version_time <= *prev.version_time) {
    return make_error(ErrorCode::kInvalidArgument, "diddoc.version", "versionTime must increase");
  }
  Json doc = base_document(next, next.key_version(), options);
  HSK_ASSIGN_OR_RETURN(auto pvs, sign_b64(doc, previous_key));
  doc["previousVersionSignature"] = pvs;
  return add_did_document_proof(std::move(doc), next.key(), method_id(next.did(), next.key_version()),
                                options.version_time);
}

Result<DidDocument> parse_did_document(const Json& document) {
  if (!document.is_object()) return doc_error("a DID Document must be an object");
  if (!document.contains("id") || !document["id"].is_string()) return doc_error("\"id\" must be a DID");
  auto did = parse_did(document["id"].get<std::string>());
  if (!did.ok()) return doc_error(did.error().message);
  HSK_TRY(schema::validate("did-document.json", document));
  DidDocument d;
  d.did = *did;
  HSK_ASSIGN_OR_RETURN(d.version, parse_version(document));
  if (document.contains("versionTime")) {
    auto t = time::parse_rfc3339(document["versionTime"].get<std::string>());
    if (!t.ok()) return doc_error("versionTime: " + t.error().message);
    d.version_time = *t;
  }
  if (document.contains("proof")) {
    if (!document["proof"].is_array()) return doc_error("\"proof\" must be an array");
    for (const auto& p : document["proof"]) HSK_TRY(schema::validate("did-document-proof.json", p));
  }
  if (document.contains("previousVersionSignature")) {
    // The _common base64url pattern, enforced here (see schema.cpp).
    const Json& pvs = document["previousVersionSignature"];
    if (!pvs.is_string() || !encoding::base64url_decode(pvs.get<std::string>()).ok()) {
      return doc_error("previousVersionSignature must be base64url without padding");
    }
  }
  if (d.version > 1 && !document.contains("previousVersionSignature")) {
    return doc_error("versionId > 1 requires previousVersionSignature");
  }
  const auto& auth = document["authentication"];
  if (auth.empty() || !auth[0].is_string()) return doc_error("authentication must name a verification method");
  d.key_id = auth[0].get<std::string>();
  const Json* method = nullptr;
  for (const auto& m : document["verificationMethod"]) {
    if (m["id"].is_string() && m["id"].get_ref<const std::string&>() == d.key_id) method = &m;
  }
  if (method == nullptr) return doc_error("authentication names no verificationMethod of this document");
  if ((*method)["type"] != "Ed25519VerificationKey2020") return doc_error("authentication key must be Ed25519");
  if ((*method)["controller"] != document["id"]) return doc_error("verification method controlled by another DID");
  const Json& jwk = (*method)["publicKeyJwk"];
  if (!jwk.is_object() || string_member(jwk, "kty") != "OKP" || string_member(jwk, "crv") != "Ed25519" ||
      !jwk.contains("x") || !jwk["x"].is_string() || jwk.contains("d")) {
    return doc_error("publicKeyJwk must be an RFC 8037 OKP/Ed25519 public key (and never carry \"d\")");
  }
  auto x = encoding::base64url_decode(jwk["x"].get<std::string>());
  if (!x.ok() || x->size() != crypto::kPublicKeyBytes || !crypto::is_valid_public_key(*x)) {
    return doc_error("publicKeyJwk.x is not a valid Ed25519 public key");
  }
  std::copy(x->begin(), x->end(), d.key.begin());
  d.source = document;
  return d;
}

Status verify_did_document_proof(const DidDocument& d) {
  const Json& doc = d.source;
  if (!doc.contains("proof") || !doc["proof"].is_array()) {
    return make_error(ErrorCode::kSignature, "diddoc.proof_missing", d.did.str() + ": document carries no proof");
  }
  const Json payload = without(doc, {"proof"});
  for (const auto& p : doc["proof"]) {
    if (!p.is_object() || string_member(p, "verificationMethod") != d.key_id) continue;
    if (string_member(p, "type") != kDidProofType || !p.contains("proofValue") || !p["proofValue"].is_string()) continue;
    if (verify_b64(payload, p["proofValue"].get<std::string>(), d.key)) return {};
    return make_error(ErrorCode::kSignature, "sig.invalid", d.did.str() + ": document proof does not verify");
  }
  return make_error(ErrorCode::kSignature, "diddoc.proof_missing",
                    d.did.str() + ": no proof by the document's authentication key");
}

Status verify_did_document_proof_by(const Json& doc, const crypto::PublicKey& key, const std::string& method_id) {
  if (!doc.is_object() || !doc.contains("proof") || !doc["proof"].is_array()) {
    return make_error(ErrorCode::kSignature, "diddoc.proof_missing", "document carries no proof");
  }
  const Json payload = without(doc, {"proof"});
  for (const auto& p : doc["proof"]) {
    if (!p.is_object() || !p.contains("verificationMethod") || p["verificationMethod"] != method_id) continue;
    if (!p.contains("proofValue") || !p["proofValue"].is_string()) continue;
    if (verify_b64(payload, p["proofValue"].get<std::string>(), key)) return {};
    return make_error(ErrorCode::kSignature, "sig.invalid", "proof by " + method_id + " does not verify");
  }
  return make_error(ErrorCode::kSignature, "diddoc.proof_missing", "no proof by " + method_id);
}

Result<DidKeyHistory> DidKeyHistory::build(const std::vector<Json>& docs, bool trusted_source) {
  auto history_error = [](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, "diddoc.history", why);
  };
  if (docs.empty()) return history_error("no document");
  DidKeyHistory h;
  for (const auto& j : docs) {
    HSK_ASSIGN_OR_RETURN(auto d, parse_did_document(j));
    HSK_TRY(verify_did_document_proof(d));
    h.versions_.push_back(std::move(d));
  }
  std::sort(h.versions_.begin(), h.versions_.end(),
            [](const DidDocument& a, const DidDocument& b) { return a.version < b.version; });
  const Did& did = h.versions_.front().did;
  for (std::size_t i = 0; i < h.versions_.size(); ++i) {
    const auto& v = h.versions_[i];
    if (!(v.did == did)) return history_error("documents of different DIDs");
    if (v.version != i + 1) return history_error(did.str() + ": versions must run 1..N without gaps or repeats");
    if (i == 0) continue;
    const auto& prev = h.versions_[i - 1];
    if (!v.version_time || (prev.version_time && *v.version_time <= *prev.version_time)) {
      return history_error(did.str() + ": versionTime must increase with each version");
    }
    const Json payload = without(v.source, {"proof", "previousVersionSignature"});
    if (!verify_b64(payload, v.source["previousVersionSignature"].get<std::string>(), prev.key)) {
      return make_error(ErrorCode::kSignature, "sig.invalid",
                        did.str() + ": version " + std::to_string(v.version) + " is not signed by version " +
                            std::to_string(prev.version) + "'s key");
    }
  }
  const auto& first = h.versions_.front();
  const bool self_certifying = did.type != PrincipalType::kUser && is_key_hash_id(did.id);
  if (self_certifying) {
    if (!did_binds_key(did, first.key)) {
      return make_error(ErrorCode::kSignature, "diddoc.untrusted",
                        did.str() + ": version 1's key does not hash to the identifier");
    }
  } else if (!trusted_source) {
    return make_error(ErrorCode::kSignature, "diddoc.untrusted",
                      did.str() + " is not self-certifying; its document must come from a trusted source");
  }
  return h;
}

Result<crypto::PublicKey> DidKeyHistory::key_at(Timestamp t) const {
  for (std::size_t i = versions_.size(); i-- > 0;) {
    const auto& v = versions_[i];
    const bool started = !v.version_time || *v.version_time <= t;
    if (started) return v.key;
  }
  return make_error(ErrorCode::kNotFound, "diddoc.no_key_at_time",
                    did().str() + " had no key at " + time::format_rfc3339(t));
}

Status DidDirectory::finish(bool trusted_source) {
  std::map<std::string, std::vector<Json>> by_did;
  for (auto& d : pending_) {
    if (!d.is_object() || !d.contains("id") || !d["id"].is_string()) return doc_error("a DID Document needs an \"id\"");
    by_did[d["id"].get<std::string>()].push_back(std::move(d));
  }
  pending_.clear();
  for (auto& [did, docs] : by_did) {
    if (auto it = histories_.find(did); it != histories_.end()) {
      for (const auto& v : it->second.versions()) docs.push_back(v.source);
    }
    HSK_ASSIGN_OR_RETURN(auto h, DidKeyHistory::build(docs, trusted_source));
    histories_.insert_or_assign(did, std::move(h));
  }
  return {};
}

const DidKeyHistory* DidDirectory::find(const std::string& did) const {
  auto it = histories_.find(did);
  return it == histories_.end() ? nullptr : &it->second;
}

Result<Timestamp> signing_time(const Json& message) {
  const char* field = message.is_object() && string_member(message, "kind") == "Receipt" ? "executed_at" : "iat";
  if (!message.is_object() || !message.contains(field) || !message[field].is_string()) {
    return make_error(ErrorCode::kSchema, "message.field", std::string("message has no \"") + field + "\"");
  }
  return time::parse_rfc3339(message[field].get<std::string>());
}

Status verify_with_directory(const Json& message, const DidDirectory& directory) {
  if (!message.is_object() || !message.contains("iss") || !message["iss"].is_string()) {
    return make_error(ErrorCode::kSchema, "message.field", "message has no \"iss\"");
  }
  const auto& iss = message["iss"].get_ref<const std::string&>();
  const DidKeyHistory* h = directory.find(iss);
  if (h == nullptr) return make_error(ErrorCode::kNotFound, "did.unresolved", "no DID Document for " + iss.substr(0, 200));
  HSK_ASSIGN_OR_RETURN(auto when, signing_time(message));
  HSK_ASSIGN_OR_RETURN(auto key, h->key_at(when));
  return verify_message_signature(message, key);
}

}  // namespace handshake
