// The adversarial matrix (issue 8): every signed message kind, every mutation, one table.
//
// Each row of kRows is {name, mutation, expected outcome}. A mutation turns the honest signed
// message of a subject into variants (as text for the strict parser, or as an already-parsed
// document), and every variant goes through the verifier that subject's receiver really runs:
//
//   HandshakeRequest           Service::verify -> the §14 refusal code of the signed Refusal
//   DelegationToken (in a request)  the mutated token as the leaf link of a request the holder
//                              signs, through Service::verify -> §14 code
//   DelegationToken            parse + the issuer's key at iat (verify_with_directory)
//   Acceptance, Refusal        parse + the service's key at iat + Agent::check_answer
//   Receipt                    verify_receipt (key at executed_at, result commitment)
//   RevocationStatement        RevocationList::check_statement
// and the offline verifiers answer with the Error reason token ("sig.invalid", ...).
//
// Keys come from DID Documents with a rotation (§5.3): every signer's version 1 key (the
// fixtures' identity) was replaced by version 2 a day before "now", so "a signature by the
// rotated-out key" is a real case, and its control (inside the window) must verify.
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "core/fixtures.hpp"
#include "handshake/did_document.hpp"
#include "handshake/receipt.hpp"

using namespace hsk_fx;
using hs::Json;

namespace {

using namespace std::chrono_literals;

constexpr auto kDay = std::chrono::duration_cast<std::chrono::microseconds>(24h);

// ---- what a row expects ----------------------------------------------------------------------------

struct Want {
  bool accept = false;
  std::string code;  // §14 code (service subjects) or Error reason token (offline subjects)
};
Want accepted() { return {true, {}}; }
Want refused(std::string code) { return {false, std::move(code)}; }

enum class Subject {
  kHandshakeRequest,
  kDelegationInRequest,
  kDelegationToken,
  kAcceptance,
  kRefusal,
  kReceipt,
  kRevocationStatement,
};

const char* name_of(Subject s) {
  switch (s) {
    case Subject::kHandshakeRequest: return "HandshakeRequest";
    case Subject::kDelegationInRequest: return "DelegationToken (leaf of a request)";
    case Subject::kDelegationToken: return "DelegationToken";
    case Subject::kAcceptance: return "Acceptance";
    case Subject::kRefusal: return "Refusal";
    case Subject::kReceipt: return "Receipt";
    case Subject::kRevocationStatement: return "RevocationStatement";
  }
  return "?";
}

bool through_service(Subject s) { return s == Subject::kHandshakeRequest || s == Subject::kDelegationInRequest; }

constexpr Subject kAllSubjects[] = {Subject::kHandshakeRequest, Subject::kDelegationInRequest,
                                    Subject::kDelegationToken,  Subject::kAcceptance,
                                    Subject::kRefusal,          Subject::kReceipt,
                                    Subject::kRevocationStatement};

struct Expect {
  Want service;                      // subjects verified by Service::verify
  Want offline;                      // the others
  std::map<Subject, Want> except{};  // per-subject exceptions
  [[nodiscard]] Want for_subject(Subject s) const {
    if (auto it = except.find(s); it != except.end()) return it->second;
    return through_service(s) ? service : offline;
  }
};

// ---- variants and JSON surgery -----------------------------------------------------------------------

struct Variant {
  std::string label;
  std::variant<std::string, Json> message;  // text (strict parser first) or an already-parsed document
};

Variant as_json(std::string label, Json doc) { return {std::move(label), std::move(doc)}; }
Variant as_text(std::string label, std::string text) { return {std::move(label), std::move(text)}; }

constexpr std::string_view kRawMarker = "@@HSK_RAW_VALUE@@";

void replace_once(std::string& text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
}

// `doc` as text with the value at `pointer` replaced by the raw JSON text `raw`.
std::string with_raw(Json doc, const std::string& pointer, std::string_view raw) {
  doc[Json::json_pointer(pointer)] = std::string(kRawMarker);
  std::string text = doc.dump();
  replace_once(text, "\"" + std::string(kRawMarker) + "\"", raw);
  return text;
}

Json erased(Json doc, const std::string& pointer) {
  const Json::json_pointer p(pointer);
  doc[p.parent_pointer()].erase(p.back());
  return doc;
}

Json with(Json doc, const std::string& pointer, Json value) {
  doc[Json::json_pointer(pointer)] = std::move(value);
  return doc;
}

// A string written by hand: every ASCII letter as a \u escape when `escape_letters`.
void write_string(std::string& out, const std::string& s, bool escape_letters) {
  static const char* const kHex = "0123456789abcdef";
  out.push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20 || (escape_letters && letter)) {
      out += "\\u00";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// `doc` as equivalent JSON text: object members in reverse order, whitespace between tokens,
// and (optionally) letters escaped. Not a mutation of content: a signature over JCS still holds.
void reformat(std::string& out, const Json& doc, bool escape_letters) {
  if (doc.is_object()) {
    out += "{\n ";
    std::vector<std::pair<std::string, const Json*>> members;
    for (const auto& [k, v] : doc.items()) members.emplace_back(k, &v);
    for (auto it = members.rbegin(); it != members.rend(); ++it) {
      if (it != members.rbegin()) out += " ,\r\n\t";
      write_string(out, it->first, escape_letters);
      out += " : ";
      reformat(out, *it->second, escape_letters);
    }
    out += "\n}";
  } else if (doc.is_array()) {
    out += "[ ";
    bool first = true;
    for (const auto& v : doc) {
      if (!first) out += " , ";
      first = false;
      reformat(out, v, escape_letters);
    }
    out += " ]";
  } else if (doc.is_string()) {
    write_string(out, doc.get_ref<const std::string&>(), escape_letters);
  } else {
    out += doc.dump();
  }
}
std::string reformatted(const Json& doc, bool escape_letters) {
  std::string out = "  \n";
  reformat(out, doc, escape_letters);
  out += " \n";
  return out;
}

// One changed character: the last digit moves on by one, else the last lowercase letter.
// Keeps ULIDs, hex, base64url, RFC 3339 times and numbers valid: only the signature can tell.
Json tweaked(const Json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>() + 1;
  REQUIRE(v.is_string());
  std::string s = v.get<std::string>();
  for (auto i = s.size(); i-- > 0;) {
    if (s[i] >= '0' && s[i] <= '9') {
      s[i] = s[i] == '9' ? '8' : static_cast<char>(s[i] + 1);
      return s;
    }
  }
  for (auto i = s.size(); i-- > 0;) {
    if (s[i] >= 'a' && s[i] <= 'y') {
      s[i] = static_cast<char>(s[i] + 1);
      return s;
    }
  }
  FAIL("nothing to tweak in " << s);
  return v;
}

// A value of another JSON type than `v`.
Json retyped(const Json& v) {
  if (v.is_string()) return 12345;
  if (v.is_number()) return "1";
  if (v.is_array()) return Json::object();
  if (v.is_object()) return Json::array({v});
  return "true";
}

// A DID with one character replaced by its Cyrillic look-alike: in the type when `in_type`,
// else in the identifier.
std::string cyrillic_lookalike(const std::string& did, bool in_type) {
  static const std::map<char, std::string> kCyrillic = {
      {'a', "\xD0\xB0"}, {'c', "\xD1\x81"}, {'e', "\xD0\xB5"}, {'o', "\xD0\xBE"}, {'p', "\xD1\x80"},
      {'x', "\xD1\x85"}, {'y', "\xD1\x83"}, {'A', "\xD0\x90"}, {'B', "\xD0\x92"}, {'C', "\xD0\xA1"},
      {'E', "\xD0\x95"}, {'H', "\xD0\x9D"}, {'K', "\xD0\x9A"}, {'M', "\xD0\x9C"}, {'P', "\xD0\xA0"},
      {'T', "\xD0\xA2"}, {'X', "\xD0\xA5"}};
  const std::size_t type_start = std::string_view("did:hsk:").size();
  const std::size_t id_start = did.find(':', type_start) + 1;
  const std::size_t from = in_type ? type_start : id_start;
  const std::size_t to = in_type ? id_start - 1 : did.size();
  for (std::size_t i = from; i < to; ++i) {
    if (auto it = kCyrillic.find(did[i]); it != kCyrillic.end()) {
      return did.substr(0, i) + it->second + did.substr(i + 1);
    }
  }
  FAIL("no Cyrillic look-alike for " << did);
  return did;
}

// A DID with one character swapped for an ASCII confusable (1/l, o/0, B/8, S/5, Z/2, g/9): still a
// well-formed DID, but another principal's.
std::string ascii_confusable(const std::string& did) {
  static const std::map<char, char> kSwap = {{'1', 'l'}, {'o', '0'}, {'B', '8'}, {'8', 'B'}, {'S', '5'},
                                             {'5', 'S'}, {'Z', '2'}, {'2', 'Z'}, {'g', '9'}, {'9', 'g'},
                                             {'L', 'I'}, {'i', 'l'}};
  const std::size_t id_start = did.find(':', std::string_view("did:hsk:").size()) + 1;
  std::string out = did;
  for (std::size_t i = id_start; i < out.size(); ++i) {
    if (auto it = kSwap.find(out[i]); it != kSwap.end()) {
      out[i] = it->second;
      return out;
    }
  }
  FAIL("no ASCII confusable in " << did);
  return did;
}

// Signs `doc` with Ed25519 over JCS(doc without "signature") while leaving its "alg" as it is.
Json sign_keeping_alg(Json doc, const hs::Identity& signer) {
  doc.erase("signature");
  const std::string input = must(hs::signing_input(doc));
  doc["signature"] = hs::encoding::base64url_encode(signer.key().try_sign(hs::encoding::as_bytes(input)).value());
  return doc;
}

hs::Identity clone(const hs::Identity& id) {
  return must(hs::Identity::from_key(id.did(), must(hs::crypto::SigningKey::from_seed(dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes())),
                                     id.key_version()));
}

std::string shifted_time(const Json& v, std::chrono::microseconds by) {
  return hs::time::format_rfc3339(must(hs::time::parse_rfc3339(v.get<std::string>())) + by);
}

// ---- the bench: principals with rotated keys, honest messages, verifiers ----------------------------------

struct Outcome {
  bool accepted = false;
  std::string code;
  std::string detail;
};

// One signed message under attack and what the mutations need to know about it.
struct Target {
  Subject subject;
  Json message;
  const hs::Identity* signer = nullptr;      // its issuer's current key (version 2)
  const hs::Identity* old_signer = nullptr;  // the same issuer's rotated-out key (version 1)
  std::vector<std::string> optional_members;
  std::vector<std::string> time_members;
  std::vector<std::string> did_members;
  std::vector<std::string> payload_pointers;   // where a one-character change keeps the message well-formed
  std::vector<std::string> nested_optional;    // members whose removal keeps it well-formed
  std::string integer_pointer;                 // an integer member, when the kind has one
};

struct Bench {
  World w;  // clock at t0, revocation list, the cast's version 1 identities
  hs::Identity root = w.root.rotated();
  hs::Identity agent = w.agent.rotated();
  hs::Identity sub_agent = w.sub_agent.rotated();
  hs::Identity svc = w.svc.rotated();
  std::vector<hs::Identity> line;  // agents for long chains (never rotated)
  hs::DidDirectory directory;
  std::unique_ptr<hs::DirectoryKeyResolver> keys;

  Json l0, l1;             // root -> agent (delegable, depth 1) -> sub_agent
  Json request;            // by sub_agent for max_invoices 10
  Json acceptance, refusal, receipt, revocation;
  std::string accepted_request_id, refused_request_id;
  const Json result = Json{{"count", 2}, {"invoices", Json::array({"inv_1", "inv_2"})}};
  std::vector<Target> targets;

  Bench() {
    const hs::Timestamp v1_time = w.now() - 30 * kDay;
    const hs::Timestamp v2_time = w.now() - kDay;
    auto opts = [](hs::Timestamp t) {
      hs::DidDocumentOptions o;
      o.version_time = t;
      return o;
    };
    auto add_rotated = [&](const hs::Identity& v1, const hs::Identity& v2) {
      const Json d1 = must(hs::make_did_document(v1, opts(v1_time)));
      directory.add(d1);
      directory.add(must(hs::rotate_did_document(d1, v1.key(), v2, opts(v2_time))));
    };
    add_rotated(w.root, root);
    add_rotated(w.agent, agent);
    add_rotated(w.sub_agent, sub_agent);
    add_rotated(w.svc, svc);
    for (const hs::Identity* i : {&w.third_agent, &w.mallory, &w.rogue_org}) {
      directory.add(must(hs::make_did_document(*i, opts(v1_time))));
    }
    for (std::uint8_t seed = 20; seed < 30; ++seed) {
      line.push_back(make_identity(hs::PrincipalType::kAgent, seed));
      directory.add(must(hs::make_did_document(line.back(), opts(v1_time))));
    }
    must_ok(directory.finish(/*trusted_source=*/false));
    keys = std::make_unique<hs::DirectoryKeyResolver>(directory);

    l0 = link(root, w.agent.did_string(), {read_cap(100, true)}, 1, nullptr);
    l1 = link(agent, w.sub_agent.did_string(), {read_cap(80)}, 0, &l0);
    request = signed_request(sub_agent, {l0, l1}, read_cap(10));
    accepted_request_id = id_of(request);

    const auto accept = service_decision(request);
    REQUIRE(accept.accepted);
    acceptance = accept.response;
    const Json over = signed_request(sub_agent, {l0, l1}, read_cap(500));
    refused_request_id = id_of(over);
    const auto refuse = service_decision(over);
    REQUIRE_FALSE(refuse.accepted);
    refusal = refuse.response;
    hs::ReceiptOptions ro;
    ro.result_summary = Json{{"count", 2}};
    receipt = must(hs::issue_receipt(svc, *accept.acceptance, result, "ok", w.now(), ro));
    revocation = must(hs::make_revocation(root, id_of(l0), std::nullopt, "policy_change", w.now(), w.now()));

    targets.push_back({Subject::kHandshakeRequest, request, &sub_agent, &w.sub_agent, {}, {"iat"}, {"iss", "aud"},
                       {"/id", "/nonce", "/iat", "/capability/constraints/max_invoices", "/delegation_chain/1/exp"},
                       {"/capability/constraints/max_invoices", "/delegation_chain/1/parent_delegation_id"},
                       "/delegation_chain/1/sub_delegation_depth_remaining"});
    for (const Subject s : {Subject::kDelegationInRequest, Subject::kDelegationToken}) {
      targets.push_back({s, l1, &agent, &w.agent, {"parent_delegation_id"}, {"iat", "nbf", "exp"}, {"iss", "aud", "sub"},
                         {"/id", "/exp", "/capabilities/0/constraints/max_invoices"},
                         {"/parent_delegation_id", "/capabilities/0/constraints/max_invoices"},
                         "/sub_delegation_depth_remaining"});
    }
    targets.push_back({Subject::kAcceptance, acceptance, &svc, &w.svc, {"session_token", "session_ttl_seconds"},
                       {"iat"}, {"iss", "aud"}, {"/request_id", "/iat", "/effective_scope/constraints/max_invoices"},
                       {"/effective_scope/constraints/max_invoices"}, ""});
    targets.push_back({Subject::kRefusal, refusal, &svc, &w.svc, {}, {"iat"}, {"iss", "aud"},
                       {"/request_id", "/reason/detail"}, {"/reason/detail"}, ""});
    targets.push_back({Subject::kReceipt, receipt, &svc, &w.svc,
                       {"result_summary", "upstream_receipts", "registry_anchor"}, {"executed_at"}, {"iss", "sub"},
                       {"/id", "/handshake_id", "/result_hash/value", "/result_summary/count"}, {"/result_summary"},
                       ""});
    targets.push_back({Subject::kRevocationStatement, revocation, &root, &w.root, {"effective_at"},
                       {"iat", "effective_at"}, {"iss"}, {"/id", "/revoked/delegation_id", "/effective_at"},
                       {"/effective_at"}, ""});
  }

  [[nodiscard]] std::string svc_did() const { return svc.did_string(); }

  // A delegation from `issuer` to `holder`, child of `parent` when given, signed by `issuer`.
  Json link(const hs::Identity& issuer, const std::string& holder, std::vector<hs::Capability> caps,
            std::int64_t depth, const Json* parent) const {
    auto t = token(issuer.did_string(), holder, std::move(caps), depth, w.now());
    if (parent != nullptr) t.parent_delegation_id = id_of(*parent);
    return sign_token(t, issuer);
  }

  // A request by `who` holding `chain`, signed by `who`.
  Json signed_request(const hs::Identity& who, const std::vector<Json>& chain, const hs::Capability& c,
                      std::optional<std::string> aud = {}) const {
    hs::HandshakeRequest r;
    r.id = hs::ids::make_id(hs::ids::kRequestPrefix, w.now());
    r.iss = who.did_string();
    r.aud = aud.value_or(svc_did());
    r.iat = std::chrono::floor<std::chrono::seconds>(w.now());
    r.nonce = hs::crypto::make_nonce();
    r.agent_attestation = attestation(root.did_string());
    r.capability = c;
    Json doc = r.to_json();
    doc["delegation_chain"] = Json(chain);
    doc["alg"] = std::string(hs::kAlgEdDSA);
    // A chain JCS cannot canonicalize (an integer no double holds) cannot be signed by anyone:
    // the request then carries a well-formed signature over nothing.
    const auto input = hs::signing_input(doc);
    const auto sig = input.ok() ? who.key().try_sign(hs::encoding::as_bytes(*input)).value() : hs::crypto::Signature{};
    doc["signature"] = hs::encoding::base64url_encode(sig);
    return doc;
  }

  // A fresh service (nonce store and rate limiter included) at t0 on the rotated keys.
  hs::Decision service_decision(const std::variant<std::string, Json>& m) const {
    auto nonces = hs::make_memory_nonce_store();
    auto limiter = hs::make_memory_rate_limiter();
    hs::ServiceOptions options = w.options;
    options.chain.trust_roots = {root.did_string()};
    options.chain.max_chain_length = 8;
    hs::Service service(clone(svc), options, w.clock, *keys, w.revocations, *nonces, *limiter);
    if (const auto* text = std::get_if<std::string>(&m)) return service.verify(std::string_view(*text));
    return service.verify(std::get<Json>(m));
  }

  Outcome by_service(const std::variant<std::string, Json>& m) const {
    const hs::Decision d = service_decision(m);
    // Whatever the input, the answer is a signed, schema-valid Acceptance or Refusal.
    CHECK(hs::verify_message_signature(d.response, svc.public_key()).ok());
    if (d.accepted) {
      CHECK(hs::Acceptance::from_json(d.response).ok());
      return {true, {}, {}};
    }
    REQUIRE(d.refusal.has_value());
    const auto parsed = hs::Refusal::from_json(d.response);
    REQUIRE(parsed.ok());
    CHECK(parsed->reason.code == hs::to_string(d.refusal->code));
    CHECK(parsed->iss == svc_did());
    return {false, std::string(hs::to_string(d.refusal->code)), d.refusal->detail};
  }

  // The leaf link (text or document) inside a request from its holder, signed by the holder over
  // whatever the link parses to. A link text that does not parse is spliced in as it is.
  std::variant<std::string, Json> wrap_leaf(const std::variant<std::string, Json>& leaf) const {
    const auto* text = std::get_if<std::string>(&leaf);
    Json parsed_leaf = Json(std::string(kRawMarker));
    if (text == nullptr) {
      parsed_leaf = std::get<Json>(leaf);
    } else if (auto p = hs::json::parse_strict(*text, {64u << 20, 64}); p.ok()) {
      parsed_leaf = std::move(p).value();
    }
    Json req = signed_request(sub_agent, {l0, parsed_leaf}, read_cap(10));
    if (text == nullptr) return req;
    return with_raw(std::move(req), "/delegation_chain/1", *text);
  }

  static Outcome from_status(const hs::Status& s) {
    if (s.ok()) return {true, {}, {}};
    return {false, s.error().reason, s.error().message.substr(0, 300)};
  }

  Outcome offline(Subject subject, const std::variant<std::string, Json>& m) const {
    Json doc;
    if (const auto* text = std::get_if<std::string>(&m)) {
      auto parsed = hs::json::parse_strict(*text);
      if (!parsed.ok()) return from_status(parsed.error());
      doc = std::move(parsed).value();
    } else {
      doc = std::get<Json>(m);
    }
    switch (subject) {
      case Subject::kDelegationToken: {
        if (auto t = hs::DelegationToken::from_json(doc); !t.ok()) return from_status(t.error());
        return from_status(hs::verify_with_directory(doc, directory));
      }
      case Subject::kAcceptance:
      case Subject::kRefusal: {
        // The agent knows which service it asked: that service's key at the answer's iat.
        if (auto parsed = hs::parse_message(doc); !parsed.ok()) return from_status(parsed.error());
        const auto when = must(hs::signing_time(doc));
        const auto key = keys->key_at(svc_did(), when);
        if (key.status != hs::KeyResolver::Status::kFound) return {false, "did.unresolved", key.detail};
        const hs::Agent holder(clone(sub_agent), {l0, l1}, attestation(root.did_string()));
        const auto answer = holder.check_answer(
            doc, svc_did(), key.key, subject == Subject::kAcceptance ? accepted_request_id : refused_request_id);
        if (!answer.ok()) return from_status(answer.error());
        CHECK(answer->accepted == (subject == Subject::kAcceptance));
        return {true, {}, {}};
      }
      case Subject::kReceipt: return from_status(hs::verify_receipt(doc, *keys, result));
      case Subject::kRevocationStatement: return from_status(w.revocations.check_statement(doc, *keys));
      default: FAIL("not an offline subject"); return {};
    }
  }

  Outcome verify(Subject subject, const std::variant<std::string, Json>& m) const {
    switch (subject) {
      case Subject::kHandshakeRequest: return by_service(m);
      case Subject::kDelegationInRequest: return by_service(wrap_leaf(m));
      default: return offline(subject, m);
    }
  }

  // A chain root -> line[0] -> ... -> line[n-2] of n links, and a request by its leaf holder.
  Json request_with_chain_of(std::size_t n) const {
    REQUIRE(n >= 1);
    REQUIRE(n <= line.size());
    std::vector<Json> chain;
    for (std::size_t i = 0; i < n; ++i) {
      const hs::Identity& issuer = i == 0 ? root : line[i - 1];
      const auto depth = static_cast<std::int64_t>(n - 1 - i);
      chain.push_back(link(issuer, line[i].did_string(), {read_cap(100, i + 1 < n)}, depth,
                           chain.empty() ? nullptr : &chain.back()));
    }
    return signed_request(line[n - 1], chain, read_cap(10));
  }

  // root -> agent -> sub_agent -> third_agent, each link re-signable.
  struct ThreeLinks {
    std::vector<hs::DelegationToken> tokens;
    std::vector<const hs::Identity*> issuers;
  };
  ThreeLinks three_links() const {
    ThreeLinks out;
    auto first = token(root.did_string(), w.agent.did_string(), {read_cap(100, true)}, 2, w.now());
    auto second = token(w.agent.did_string(), w.sub_agent.did_string(), {read_cap(80, true)}, 1, w.now());
    second.parent_delegation_id = first.id;
    auto third = token(w.sub_agent.did_string(), w.third_agent.did_string(), {read_cap(60)}, 0, w.now());
    third.parent_delegation_id = second.id;
    out.tokens = {first, second, third};
    out.issuers = {&root, &agent, &sub_agent};
    return out;
  }
  Json request_over(const ThreeLinks& c) const {
    std::vector<Json> chain;
    for (std::size_t i = 0; i < c.tokens.size(); ++i) chain.push_back(sign_token(c.tokens[i], *c.issuers[i]));
    return signed_request(w.third_agent, chain, read_cap(10));
  }
};

// ---- the mutations -------------------------------------------------------------------------------------

using Mutation = std::function<std::vector<Variant>(const Bench&, const Target&)>;

struct Row {
  std::string name;
  Mutation mutate;
  Expect expect;
  std::set<Subject> only{};  // empty: every subject
};

std::vector<Variant> flip_signature_bytes(const Bench&, const Target& t) {
  std::vector<Variant> out;
  const auto sig = must(hs::encoding::base64url_decode(t.message.at("signature").get<std::string>()));
  for (const std::size_t i : {std::size_t{0}, std::size_t{31}, std::size_t{32}, std::size_t{63}}) {
    auto bad = sig;
    bad[i] ^= 0x01;
    out.push_back(as_json("byte " + std::to_string(i), with(t.message, "/signature", hs::encoding::base64url_encode(bad))));
  }
  return out;
}

std::vector<Variant> malformed_signatures(const Bench&, const Target& t) {
  const std::string sig = t.message.at("signature").get<std::string>();
  const auto bytes = must(hs::encoding::base64url_decode(sig));
  auto shorter = bytes;
  shorter.pop_back();
  auto longer = bytes;
  longer.push_back(0);
  // The last of 86 characters carries 2 bits and 4 zero bits: set one of those.
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string trailing = sig;
  trailing.back() = kAlphabet[kAlphabet.find(sig.back()) | 1u];
  return {as_json("63 bytes", with(t.message, "/signature", hs::encoding::base64url_encode(shorter))),
          as_json("65 bytes", with(t.message, "/signature", hs::encoding::base64url_encode(longer))),
          as_json("non-zero trailing bits", with(t.message, "/signature", trailing))};
}

std::vector<Variant> tweak_payload(const Bench&, const Target& t) {
  std::vector<Variant> out;
  for (const auto& p : t.payload_pointers) {
    out.push_back(as_json(p, with(t.message, p, tweaked(t.message.at(Json::json_pointer(p))))));
  }
  return out;
}

std::vector<Variant> drop_required(const Bench&, const Target& t) {
  std::vector<Variant> out;
  for (const auto& [k, v] : t.message.items()) {
    if (k == "kind" || k == "version") continue;
    if (std::find(t.optional_members.begin(), t.optional_members.end(), k) != t.optional_members.end()) continue;
    out.push_back(as_json(k, erased(t.message, "/" + k)));
  }
  return out;
}

std::vector<Variant> drop_nested_optional(const Bench&, const Target& t) {
  std::vector<Variant> out;
  for (const auto& p : t.nested_optional) out.push_back(as_json(p, erased(t.message, p)));
  return out;
}

std::vector<Variant> duplicate_members(const Bench& b, const Target& t) {
  const std::string text = t.message.dump();
  auto insert_after_brace = [&](const std::string& member) {
    return "{" + member + "," + text.substr(1);
  };
  const std::string mallory = b.w.mallory.did_string();
  std::vector<Variant> out{
      as_text("iss, another value first", insert_after_brace("\"iss\":\"" + mallory + "\"")),
      as_text("kind, the same value", insert_after_brace("\"kind\":" + t.message.at("kind").dump())),
      as_text("signature, the same value", insert_after_brace("\"signature\":" + t.message.at("signature").dump())),
      as_text("iss, another value last", text.substr(0, text.size() - 1) + ",\"iss\":\"" + mallory + "\"}")};
  // Inside a nested object, when the kind has one.
  for (const char* nested : {"\"constraints\":{", "\"reason\":{", "\"result_hash\":{", "\"revoked\":{"}) {
    if (const auto at = text.find(nested); at != std::string::npos) {
      const auto open = at + std::string_view(nested).size();
      out.push_back(as_text(std::string("nested in ") + nested,
                            text.substr(0, open) + "\"k\":1,\"k\":2" + (text[open] == '}' ? "" : ",") + text.substr(open)));
      break;
    }
  }
  return out;
}

std::vector<Variant> reorder(const Bench&, const Target& t) {
  return {as_text("members reversed, whitespace", reformatted(t.message, false)),
          as_text("members reversed, letters \\u-escaped", reformatted(t.message, true))};
}

std::vector<Variant> retype_members(const Bench&, const Target& t) {
  std::vector<Variant> out;
  for (const auto& [k, v] : t.message.items()) {
    if (k == "kind" || k == "version") continue;
    out.push_back(as_json(k, with(t.message, "/" + k, retyped(v))));
  }
  return out;
}

std::vector<Variant> integer_as_float(const Bench&, const Target& t) {
  const Json& v = t.message.at(Json::json_pointer(t.integer_pointer));
  const auto n = v.get<std::int64_t>();
  // JCS writes 0.0 as 0: the signature still verifies, so only the type check can refuse it.
  return {as_text(std::to_string(n) + ".0", with_raw(t.message, t.integer_pointer, std::to_string(n) + ".0")),
          as_text(std::to_string(n) + "e0", with_raw(t.message, t.integer_pointer, std::to_string(n) + "e0"))};
}

std::vector<Variant> integer_beyond_int64(const Bench&, const Target& t) {
  return {as_json("uint64 max", with(t.message, t.integer_pointer, std::numeric_limits<std::uint64_t>::max())),
          as_text("2^64 as text", with_raw(t.message, t.integer_pointer, "18446744073709551616")),
          as_json("int64 min", with(t.message, t.integer_pointer, std::numeric_limits<std::int64_t>::min()))};
}

std::vector<Variant> cyrillic_dids(const Bench&, const Target& t) {
  std::vector<Variant> out;
  for (const auto& m : t.did_members) {
    const std::string did = t.message.at(m).get<std::string>();
    for (const bool in_type : {false, true}) {
      const Json changed = with(t.message, "/" + m, cyrillic_lookalike(did, in_type));
      const std::string where = m + (in_type ? " (type)" : " (identifier)");
      out.push_back(as_json(where + ", tampered", changed));
      out.push_back(as_json(where + ", signed by its issuer", resign(changed, *t.signer)));
    }
    // A zero-width space (U+200B) after the method.
    const Json zw = with(t.message, "/" + m, "did:hsk:\xE2\x80\x8B" + did.substr(8));
    out.push_back(as_json(m + " with a zero-width space", resign(zw, *t.signer)));
  }
  return out;
}

std::vector<Variant> ascii_confusable_issuer(const Bench& b, const Target& t) {
  const std::string did = t.message.at("iss").get<std::string>();
  return {as_json("iss " + ascii_confusable(did) + ", signed by mallory",
                  resign(with(t.message, "/iss", ascii_confusable(did)), b.w.mallory))};
}

std::vector<Variant> other_valid_key(const Bench& b, const Target& t) {
  return {as_json("mallory", resign(t.message, b.w.mallory)),
          as_json("another principal of the cast", resign(t.message, b.w.rogue_org))};
}

std::vector<Variant> rotated_out_key(const Bench&, const Target& t) {
  return {as_json("version 1 key, signed now", resign(t.message, *t.old_signer))};
}

std::vector<Variant> rotated_key_inside_window(const Bench&, const Target& t) {
  Json back = t.message;
  for (const auto& m : t.time_members) back[m] = shifted_time(back.at(m), -2 * kDay);
  return {as_json("every time two days back, version 1 key", resign(back, *t.old_signer))};
}

std::vector<Variant> alg_unsupported(const Bench&, const Target& t) {
  std::vector<Variant> out;
  for (const char* alg : {"ML-DSA-65", "Hybrid-EdDSA-MLDSA65"}) {
    out.push_back(as_json(std::string(alg) + ", signature kept", with(t.message, "/alg", alg)));
    out.push_back(as_json(std::string(alg) + ", Ed25519 over the new content",
                          sign_keeping_alg(with(t.message, "/alg", alg), *t.signer)));
  }
  return out;
}

std::vector<Variant> alg_unregistered(const Bench&, const Target& t) {
  std::vector<Variant> out;
  for (const char* alg : {"none", "HS256", "eddsa", "EdDSA ", "Ed25519", ""}) {
    out.push_back(as_json(std::string("\"") + alg + "\"", sign_keeping_alg(with(t.message, "/alg", alg), *t.signer)));
  }
  return out;
}

std::vector<Variant> number_overflow(const Bench&, const Target& t) {
  return {as_text("1e400", with_raw(t.message, "/iss", "1e400")),
          as_text("-1e99999", with_raw(t.message, "/iss", "-1e99999")),
          as_text("400 digits", with_raw(t.message, "/iss", "1" + std::string(400, '0')))};
}

std::vector<Variant> inexact_integer(const Bench&, const Target& t) {
  return {as_text("2^53 + 1", with_raw(t.message, "/iss", "9007199254740993")),
          as_text("2^64 + 1", with_raw(t.message, "/iss", "18446744073709551617"))};
}

std::vector<Variant> huge_constraint(const Bench&, const Target& t) {
  const std::string p = t.subject == Subject::kHandshakeRequest ? "/capability/constraints/max_invoices"
                                                                 : "/capabilities/0/constraints/max_invoices";
  return {as_json("1e308", resign(with(t.message, p, 1e308), *t.signer)),
          as_json("2^62", resign(with(t.message, p, std::int64_t{1} << 62), *t.signer)),
          as_text("1e308 as text", with_raw(resign(with(t.message, p, 1e308), *t.signer), p, "1E308"))};
}

std::vector<Variant> deep_nesting(const Bench&, const Target& t) {
  constexpr std::size_t kDepth = 200'000;
  return {as_text("200000 arrays", with_raw(t.message, "/iss", std::string(kDepth, '[') + std::string(kDepth, ']'))),
          as_text("200000 objects, unclosed", with_raw(t.message, "/iss", [] {
                    std::string s;
                    for (std::size_t i = 0; i < kDepth / 8; ++i) s += "{\"a\":";
                    return s + "1";
                  }()))};
}

std::vector<Variant> nesting_in_extension_point(const Bench&, const Target& t) {
  // 40 levels inside an open extension point, signed: beyond the service's depth limit (32).
  Json deep = 1;
  for (int i = 0; i < 40; ++i) deep = Json::array({deep});
  const std::string p = t.subject == Subject::kHandshakeRequest ? "/agent_attestation/x-deep"
                                                                 : "/capabilities/0/constraints/x-deep";
  const Json signed_doc = resign(with(t.message, p, deep), *t.signer);
  return {as_text("40 levels", signed_doc.dump())};
}

std::vector<Variant> ten_mb_text(const Bench&, const Target& t) {
  const std::string big(10u << 20, 'a');
  return {as_text("iss", with_raw(t.message, "/iss", "\"" + big + "\"")),
          as_text("signature", with_raw(t.message, "/signature", "\"" + big + "\""))};
}

std::vector<Variant> ten_mb_parsed(const Bench&, const Target& t) {
  const std::string big(10u << 20, 'A');
  return {as_json("iss", with(t.message, "/iss", "did:hsk:agent:" + big)),
          as_json("signature", with(t.message, "/signature", big))};
}

// ---- request-only mutations ---------------------------------------------------------------------------------

std::vector<Variant> wrong_request_aud(const Bench& b, const Target& t) {
  const hs::Identity other = make_identity(hs::PrincipalType::kSvc, kOtherServiceSeed);
  return {as_json("another service", resign(with(t.message, "/aud", other.did_string()), *t.signer)),
          as_json("an ASCII confusable of this service",
                  resign(with(t.message, "/aud", ascii_confusable(b.svc_did())), *t.signer)),
          as_json("the root", resign(with(t.message, "/aud", b.root.did_string()), *t.signer))};
}

std::vector<Variant> wrong_link_aud(const Bench& b, const Target&) {
  std::vector<Variant> out;
  const auto honest = b.three_links();
  for (std::size_t i = 0; i < honest.tokens.size(); ++i) {
    for (const bool with_sub : {true, false}) {
      auto c = honest;
      c.tokens[i].aud = b.w.mallory.did_string();
      if (with_sub) c.tokens[i].sub = c.tokens[i].aud;
      out.push_back(as_json("link " + std::to_string(i) + (with_sub ? " aud=sub=mallory" : " aud=mallory only"),
                            b.request_over(c)));
    }
    auto c = honest;
    c.tokens[i].aud = c.tokens[i].sub = b.svc_did();
    out.push_back(as_json("link " + std::to_string(i) + " addressed to the service", b.request_over(c)));
  }
  return out;
}

std::vector<Variant> three_link_control(const Bench& b, const Target&) {
  return {as_json("root -> agent -> sub_agent -> third_agent", b.request_over(b.three_links()))};
}

std::vector<Variant> chain_of_length(const Bench& b, std::size_t n) {
  if (n == 0) return {as_json("no links", with(b.request_with_chain_of(1), "/delegation_chain", Json::array()))};
  return {as_json(std::to_string(n) + " links", b.request_with_chain_of(n))};
}

std::vector<Variant> chain_cycles(const Bench& b, const Target&) {
  const auto now = b.w.now();
  const std::string agent = b.w.agent.did_string(), sub = b.w.sub_agent.did_string(), root = b.root.did_string();
  // root -> agent -> sub_agent -> agent -> sub_agent
  auto a0 = token(root, agent, {read_cap(100, true)}, 3, now);
  auto a1 = token(agent, sub, {read_cap(100, true)}, 2, now);
  auto a2 = token(sub, agent, {read_cap(100, true)}, 1, now);
  auto a3 = token(agent, sub, {read_cap(100)}, 0, now);
  a1.parent_delegation_id = a0.id, a2.parent_delegation_id = a1.id, a3.parent_delegation_id = a2.id;
  const Json loop = b.signed_request(b.sub_agent,
                                     {sign_token(a0, b.root), sign_token(a1, b.agent), sign_token(a2, b.sub_agent),
                                      sign_token(a3, b.agent)},
                                     read_cap(10));
  // root -> agent -> root -> agent
  auto c0 = token(root, agent, {read_cap(100, true)}, 2, now);
  auto c1 = token(agent, root, {read_cap(100, true)}, 1, now);
  auto c2 = token(root, agent, {read_cap(100)}, 0, now);
  c1.parent_delegation_id = c0.id, c2.parent_delegation_id = c1.id;
  const Json back_to_root = b.signed_request(
      b.agent, {sign_token(c0, b.root), sign_token(c1, b.agent), sign_token(c2, b.root)}, read_cap(10));
  // the same link twice
  const Json twice = b.signed_request(b.sub_agent, {b.l0, b.l0, b.l1}, read_cap(10));
  return {as_json("agent issues twice", loop), as_json("back to the root", back_to_root),
          as_json("a link repeated", twice)};
}

std::vector<Variant> chain_surgery(const Bench& b, const Target&) {
  const Json honest = b.request_over(b.three_links());
  const Json& chain = honest.at("delegation_chain");
  return {as_json("links swapped", b.signed_request(b.w.third_agent, {chain[1], chain[0], chain[2]}, read_cap(10))),
          as_json("middle link dropped", b.signed_request(b.w.third_agent, {chain[0], chain[2]}, read_cap(10))),
          as_json("root link dropped", b.signed_request(b.w.third_agent, {chain[1], chain[2]}, read_cap(10))),
          as_json("leaf link dropped", b.signed_request(b.w.third_agent, {chain[0], chain[1]}, read_cap(10)))};
}

// ---- the table -------------------------------------------------------------------------------------------

const std::set<Subject> kRequestOnly = {Subject::kHandshakeRequest};
const std::set<Subject> kCarriesInteger = {Subject::kHandshakeRequest, Subject::kDelegationInRequest,
                                           Subject::kDelegationToken};
const std::set<Subject> kScopeBearing = {Subject::kHandshakeRequest, Subject::kDelegationInRequest};

const std::string kSig = "signature_invalid";
const std::string kProto = "protocol_version_unsupported";
const std::string kBroken = "chain_broken";

std::vector<Row> rows() {
  return {
      {"signature: one byte flipped", flip_signature_bytes, {refused(kSig), refused("sig.invalid")}},
      {"signature: wrong length or non-canonical base64url", malformed_signatures,
       {refused(kSig), refused("sig.malformed")}},
      {"payload: one character of a signed value changed", tweak_payload, {refused(kSig), refused("sig.invalid")}},
      {"drop: each required member", drop_required, {refused(kProto), refused("message.field")}},
      {"drop: kind", [](const Bench&, const Target& t) { return std::vector<Variant>{as_json("kind", erased(t.message, "/kind"))}; },
       {refused(kProto), refused("message.kind")}},
      {"drop: version",
       [](const Bench&, const Target& t) { return std::vector<Variant>{as_json("version", erased(t.message, "/version"))}; },
       {refused(kProto), refused("message.version")}},
      {"drop: an optional or nested member", drop_nested_optional, {refused(kSig), refused("sig.invalid")}},
      {"duplicate: a member named twice in the text", duplicate_members, {refused(kProto), refused("json.duplicate_key")}},
      {"reorder: members reversed, reformatted (not a mutation: JCS signing)", reorder, {accepted(), accepted()}},
      {"retype: each member given another JSON type", retype_members, {refused(kProto), refused("message.field")}},
      {"retype: an integer spelled as a float (same JCS bytes)", integer_as_float,
       {refused(kProto), refused("message.field")}, kCarriesInteger},
      {"look-alike: Cyrillic letters and zero-width space in DIDs", cyrillic_dids,
       {refused(kProto), refused("message.field")}},
      {"look-alike: ASCII confusable issuer DID, signed by its holder", ascii_confusable_issuer,
       {refused(kSig), refused("did.unresolved"),
        {{Subject::kDelegationInRequest, refused(kBroken)},  // the leaf no longer continues the chain
         {Subject::kAcceptance, refused("sig.invalid")},     // the agent checks the key of the service it asked
         {Subject::kRefusal, refused("sig.invalid")}}}},
      {"key: signed by a different valid key", other_valid_key, {refused(kSig), refused("sig.invalid")}},
      {"key: rotated-out key, outside its validity window", rotated_out_key, {refused(kSig), refused("sig.invalid")}},
      {"key: rotated-out key inside its window (control: verifies; a request that old is expired)",
       rotated_key_inside_window, {refused("expired"), accepted()}},
      {"alg: ML-DSA-65 / hybrid (not verified by 0.2.3 EdDSA verifiers)", alg_unsupported,
       {refused(kSig), refused("sig.alg_unsupported")}},
      {"alg: unregistered values", alg_unregistered, {refused(kProto), refused("message.field")}},
      {"huge numbers: beyond a double", number_overflow, {refused(kProto), refused("json.number_out_of_range")}},
      {"huge numbers: integers no double holds", inexact_integer, {refused(kProto), refused("json.inexact_integer")}},
      {"huge numbers: beyond int64 where an integer is required", integer_beyond_int64,
       {refused(kProto), refused("message.field")}, kCarriesInteger},
      {"huge numbers: a constraint widened to 1e308 and signed", huge_constraint,
       {refused("scope_exceeded"), refused("")}, kScopeBearing},
      {"deep nesting: 200000 levels in place of a value", deep_nesting, {refused(kProto), refused("json.too_deep")}},
      {"deep nesting: 40 levels in an open extension point, signed", nesting_in_extension_point,
       {refused(kProto), refused("")}, kScopeBearing},
      {"10 MB strings: as text", ten_mb_text, {refused(kProto), refused("json.too_large")}},
      {"10 MB strings: in an already-parsed document", ten_mb_parsed, {refused(kProto), refused("message.field")}},
      {"aud: the request addressed to another service", wrong_request_aud, {refused("aud_mismatch"), refused("")},
       kRequestOnly},
      {"aud: wrong at each link of a three-link chain", wrong_link_aud, {refused(kBroken), refused("")}, kRequestOnly},
      {"chain: three links (control)", three_link_control, {accepted(), refused("")}, kRequestOnly},
      {"chain: length 0 (the schema requires a link)",
       [](const Bench& b, const Target&) { return chain_of_length(b, 0); }, {refused(kProto), refused("")},
       kRequestOnly},
      {"chain: length 1 (control)", [](const Bench& b, const Target&) { return chain_of_length(b, 1); },
       {accepted(), refused("")}, kRequestOnly},
      {"chain: length max = 8 (control)", [](const Bench& b, const Target&) { return chain_of_length(b, 8); },
       {accepted(), refused("")}, kRequestOnly},
      {"chain: length max + 1 = 9", [](const Bench& b, const Target&) { return chain_of_length(b, 9); },
       {refused(kBroken), refused("")}, kRequestOnly},
      {"chain: a cycle", chain_cycles, {refused(kBroken), refused("")}, kRequestOnly},
      {"chain: links reordered or dropped", chain_surgery, {refused(kBroken), refused("")}, kRequestOnly},
  };
}

// "No unbounded memory": the peak resident set (VmHWM) reached while one verification runs, above
// the resident set before it. Linux resets the peak when "5" is written to /proc/self/clear_refs.
// Under AddressSanitizer the allocator's quarantine and shadow memory make the figure meaningless.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMeasureMemory = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kMeasureMemory = false;
#else
constexpr bool kMeasureMemory = true;
#endif
#else
constexpr bool kMeasureMemory = true;
#endif

long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  }
  return -1;
}

struct PeakProbe {
  long before_kb = -1;
  PeakProbe() {
    std::ofstream("/proc/self/clear_refs") << "5";
    before_kb = status_kb("VmRSS");
  }
  [[nodiscard]] long growth_kb() const { return status_kb("VmHWM") - before_kb; }
};

// The largest input of the matrix is a 10 MB string; verifying anything may cost a few copies of
// its input, never more.
constexpr long kMaxGrowthKb = 64 * 1024;

}  // namespace

TEST_CASE("adversarial matrix: every signed kind under every mutation", "[adversarial]") {
  const Bench b;

  // The honest messages verify: the matrix starts from valid input.
  for (const auto& t : b.targets) {
    INFO(name_of(t.subject) << " (honest)");
    const Outcome o = b.verify(t.subject, t.message);
    INFO(o.code << ": " << o.detail);
    REQUIRE(o.accepted);
  }

  std::size_t checked = 0;
  long max_growth_kb = 0;
  for (const Row& row : rows()) {
    for (const auto& t : b.targets) {
      if (!row.only.empty() && row.only.count(t.subject) == 0) continue;
      const Want want = row.expect.for_subject(t.subject);
      const auto variants = row.mutate(b, t);
      INFO("mutation: " << row.name << "; subject: " << name_of(t.subject));
      REQUIRE_FALSE(variants.empty());
      for (const auto& v : variants) {
        INFO("variant: " << v.label);
        const PeakProbe probe;
        const Outcome o = b.verify(t.subject, v.message);
        const long growth = probe.growth_kb();
        INFO("outcome: " << (o.accepted ? "accepted" : o.code) << " (" << o.detail << "); peak RSS +" << growth << " kB");
        CHECK(o.accepted == want.accept);
        if (!want.accept) CHECK(o.code == want.code);
        if (kMeasureMemory) CHECK(growth <= kMaxGrowthKb);
        max_growth_kb = std::max(max_growth_kb, growth);
        ++checked;
      }
    }
  }
  CHECK(checked > 300);
  // The probe itself works: the peak was read (the 10 MB variants raise it measurably).
  if (kMeasureMemory) CHECK(max_growth_kb > 1024);
  WARN("largest peak RSS growth of one verification: " << max_growth_kb << " kB");
}

TEST_CASE("adversarial matrix: every signed kind has every mandatory mutation", "[adversarial]") {
  const Bench b;
  // Rows that must reach all six kinds (the request and the offline verifiers alike).
  const std::set<std::string> universal = {
      "signature: one byte flipped",
      "payload: one character of a signed value changed",
      "drop: each required member",
      "duplicate: a member named twice in the text",
      "reorder: members reversed, reformatted (not a mutation: JCS signing)",
      "retype: each member given another JSON type",
      "look-alike: Cyrillic letters and zero-width space in DIDs",
      "key: signed by a different valid key",
      "key: rotated-out key, outside its validity window",
      "alg: ML-DSA-65 / hybrid (not verified by 0.2.3 EdDSA verifiers)",
      "huge numbers: beyond a double",
      "deep nesting: 200000 levels in place of a value",
      "10 MB strings: as text",
  };
  std::set<std::string> seen;
  for (const Row& row : rows()) {
    if (universal.count(row.name) == 0) continue;
    CHECK(row.only.empty());
    seen.insert(row.name);
  }
  CHECK(seen == universal);
  std::set<Subject> subjects;
  for (const auto& t : b.targets) subjects.insert(t.subject);
  CHECK(subjects.size() == std::size(kAllSubjects));
}

// Every single-bit flip anywhere in the text of each honest message: never accepted, no crash.
TEST_CASE("adversarial matrix: no single-bit flip of a message's text is accepted", "[adversarial]") {
  const Bench b;
  for (const auto& t : b.targets) {
    if (t.subject == Subject::kDelegationInRequest) continue;  // the same bytes as the DelegationToken
    const std::string text = t.message.dump();
    INFO(name_of(t.subject) << ", " << text.size() << " bytes");
    std::size_t accepted_count = 0;
    // Requests are costlier (a service per try): every third position, all bits of it.
    const std::size_t step = t.subject == Subject::kHandshakeRequest ? 3 : 1;
    for (std::size_t i = 0; i < text.size(); i += step) {
      for (const unsigned bit : {0u, 5u, 7u}) {
        std::string m = text;
        m[i] = static_cast<char>(static_cast<unsigned char>(m[i]) ^ (1u << bit));
        const Outcome o = b.verify(t.subject, m);
        if (o.accepted) {
          ++accepted_count;
          UNSCOPED_INFO("accepted with byte " << i << " bit " << bit << ": " << m.substr(i > 20 ? i - 20 : 0, 60));
        }
      }
    }
    CHECK(accepted_count == 0);
  }
}
