// hsk — the one command a user learns: keys, DID Documents, signing, verification, JCS, demo.
//
// Exit codes: 0 success (for verify: valid), 1 the input was read but refused (invalid
// signature, schema violation, bad key file...), 2 usage error.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "handshake/chain.hpp"
#include "handshake/command_line.hpp"
#include "handshake/crypto.hpp"
#include "handshake/did.hpp"
#include "handshake/did_document.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/ids.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/time.hpp"

#include "common.hpp"

namespace hsk::cli {

using handshake::Error;
using handshake::Json;

// ---- arguments ---------------------------------------------------------------------------------

// The one parser of every binary (handshake/command_line.hpp): `with_value` take a value, `flags` none.
std::optional<Args> parse_args(const std::vector<std::string>& argv, const std::vector<std::string>& with_value,
                               const std::vector<std::string>& flags, std::string& error) {
  handshake::CommandLineRules rules;
  rules.positional = true;
  for (const auto& n : with_value) rules.options.push_back({n, true, {}});
  for (const auto& n : flags) rules.options.push_back({n, false, {}});
  auto cl = handshake::CommandLine::parse(argv, rules);
  if (!cl.ok()) {
    error = cl.error().message;
    return std::nullopt;
  }
  if (cl->version()) {
    error = "--version is hsk's own: hsk --version";
    return std::nullopt;
  }
  Args a;
  a.help = cl->help();
  a.positional = cl->positional();
  for (const auto& o : rules.options) {
    if (cl->has(o.name)) a.options[o.name] = cl->all(o.name);
  }
  return a;
}

std::optional<std::string> opt(const Args& a, const std::string& name) {
  auto it = a.options.find(name);
  if (it == a.options.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}
bool flag(const Args& a, const std::string& name) { return a.options.count(name) > 0; }

int usage_error(const std::string& cmd, const std::string& message) {
  std::cerr << "hsk " << cmd << ": " << message << " (see hsk " << cmd << " --help)\n";
  return kUsage;
}

int refused(const std::string& cmd, const Error& e) {
  std::string line = e.to_string();
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "hsk " << cmd << ": " << line << "\n";
  return kRefused;
}

Error in_file(const std::string& where, Error e) {
  if (e.message.find(where) != std::string::npos) return e;
  e.message = e.message.empty() ? where : where + ": " + e.message;
  return e;
}

// Reads FILE or standard input ("-" or no argument). Bounded so hostile input cannot exhaust memory.
handshake::Status write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return handshake::make_error(handshake::ErrorCode::kIo, "output.write", "cannot write " + path);
  return {};
}

handshake::Result<std::string> read_input(const std::optional<std::string>& path) {
  constexpr std::size_t kMax = 16 * 1024 * 1024;
  std::string data;
  auto read_stream = [&](std::istream& in) -> bool {
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      data.append(buf, static_cast<std::size_t>(in.gcount()));
      if (data.size() > kMax) return false;
    }
    return true;
  };
  bool ok;
  if (!path || *path == "-") {
    ok = read_stream(std::cin);
  } else {
    std::ifstream in(*path, std::ios::binary);
    if (!in) return handshake::make_error(handshake::ErrorCode::kIo, "input.read", "cannot open " + *path);
    ok = read_stream(in);
  }
  if (!ok) return handshake::make_error(handshake::ErrorCode::kIo, "input.too_large", "input exceeds 16 MiB");
  return data;
}

handshake::Result<Json> read_json_input(const std::optional<std::string>& path) {
  HSK_ASSIGN_OR_RETURN(auto text, read_input(path));
  return handshake::json::parse_strict(text);
}

std::string canonical(const Json& j) { return handshake::json::canonicalize(j).value_or(std::string("null")); }

const handshake::SystemClock& wall_clock() {
  static const handshake::SystemClock clock;
  return clock;
}

// ---- keygen ------------------------------------------------------------------------------------

int cmd_keygen(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk keygen --kind user|agent|svc|org [--handle H] [--domain D] [--seed HEX] --out FILE [--force]\n"
      "       hsk keygen --kind agent|svc|org --pkcs11 'pkcs11:token=T;object=O?module-path=M&pin-source=file:P'\n"
      "\n"
      "Creates an Ed25519 identity, writes its key file (mode 0600) and prints its DID.\n"
      "  --pkcs11  generate the key inside a PKCS#11 token instead (sensitive, never extractable; the DID\n"
      "            is kept in the key's CKA_ID); then give the same URI wherever a key file is taken\n"
      "  --kind    principal type\n"
      "  --handle  user only (required): e-mail or OIDC subject, did:hsk:user:<handle>\n"
      "  --domain  org only: name the org by its domain (did:hsk:org:<domain>)\n"
      "  --seed    64 hex digits: a deterministic key (tests only; never for real keys)\n"
      "  --out     key file to create; an existing file is never replaced unless --force\n"
      "A registry (hsk registry serve --key) is an svc identity: did:hsk has no registry type.\n"
      "agent, svc and org DIDs (without --domain) are z + base58btc(SHA-256(public key)).\n";
  std::string err;
  auto a = parse_args(argv, {"kind", "handle", "domain", "seed", "out", "pkcs11"}, {"force"}, err);
  if (!a) return usage_error("keygen", err);
  if (a->help) return std::cout << kHelp, kOk;
  if (!a->positional.empty()) return usage_error("keygen", "unexpected argument " + a->positional[0]);
  const auto kind = opt(*a, "kind");
  const auto out = opt(*a, "out");
  if (!kind) return usage_error("keygen", "--kind is required");
  if (auto uri_text = opt(*a, "pkcs11")) {
    if (out || opt(*a, "seed") || opt(*a, "handle") || opt(*a, "domain")) {
      return usage_error("keygen", "--pkcs11 makes the key in the token: no --out, --seed, --handle or --domain");
    }
    auto type = handshake::parse_principal_type(*kind);
    if (!type.ok()) return usage_error("keygen", type.error().message);
    auto uri = handshake::pkcs11::Uri::parse(*uri_text);
    if (!uri.ok()) return usage_error("keygen", uri.error().message);
    auto id = handshake::pkcs11::generate_identity(*uri, *type);
    if (!id.ok()) return refused("keygen", id.error());
    std::cout << id->did_string() << "\n";
    return kOk;
  }
  if (!out) return usage_error("keygen", "--out is required");
  // The did:hsk method (§5, did.hpp) has no registry type: a registry signs as a service.
  if (*kind == "registry") {
    return usage_error("keygen", "did:hsk has no registry principal type; a registry's key is a service identity: "
                                 "hsk keygen --kind svc --out registry.key");
  }
  auto type = handshake::parse_principal_type(*kind);
  if (!type.ok()) return usage_error("keygen", type.error().message);
  handshake::IdentityOptions o;
  o.type = *type;
  o.handle = opt(*a, "handle");
  o.domain = opt(*a, "domain");
  if (auto seed_hex = opt(*a, "seed")) {
    auto seed = handshake::encoding::hex_decode(*seed_hex);
    if (!seed.ok() || seed->size() != 32) return usage_error("keygen", "--seed must be 64 hex digits (32 bytes)");
    o.seed = std::move(seed).value();
  }
  auto id = handshake::Identity::generate(o);
  if (!id.ok()) return usage_error("keygen", id.error().message);
  if (auto s = handshake::save_key_file(*id, *out, flag(*a, "force")); !s.ok()) return refused("keygen", s.error());
  std::cout << id->did_string() << "\n";
  return kOk;
}

// ---- did ---------------------------------------------------------------------------------------

int cmd_did(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk did KEYFILE [--revocation-endpoint URI] [--version-time RFC3339]\n"
      "\n"
      "Prints the signed DID Document (version 1) of the identity in KEYFILE: its Ed25519 key as an\n"
      "RFC 8037 JWK, authentication, handshake:credentials, handshake:revocation and a proof by the\n"
      "key itself. --version-time defaults to now.\n";
  std::string err;
  auto a = parse_args(argv, {"revocation-endpoint", "version-time"}, {}, err);
  if (!a) return usage_error("did", err);
  if (a->help) return std::cout << kHelp, kOk;
  if (a->positional.size() != 1) return usage_error("did", "expected exactly one KEYFILE");
  auto id = handshake::load_identity(a->positional[0]);
  if (!id.ok()) return refused("did", id.error());
  handshake::DidDocumentOptions o;
  o.version_time = std::chrono::floor<std::chrono::seconds>(wall_clock().now());
  if (auto t = opt(*a, "version-time")) {
    auto parsed = handshake::time::parse_rfc3339(*t);
    if (!parsed.ok()) return usage_error("did", parsed.error().message);
    o.version_time = *parsed;
  }
  o.revocation_endpoint = opt(*a, "revocation-endpoint");
  auto doc = handshake::make_did_document(*id, o);
  if (!doc.ok()) return refused("did", doc.error());
  std::cout << doc->dump(2) << "\n";
  return kOk;
}

// ---- rotate ------------------------------------------------------------------------------------

int cmd_rotate(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk rotate --key KEYFILE --did-doc CURRENT.json --out NEW_KEYFILE [--version-time RFC3339]\n"
      "\n"
      "Key rotation (§5.3): creates the next key of the same DID in NEW_KEYFILE and prints the next DID\n"
      "Document version, signed by the current key (previousVersionSignature) and by the new one.\n"
      "Verifiers given every version accept the old key for signatures made inside its window.\n";
  std::string err;
  auto a = parse_args(argv, {"key", "did-doc", "out", "version-time"}, {}, err);
  if (!a) return usage_error("rotate", err);
  if (a->help) return std::cout << kHelp, kOk;
  const auto key = opt(*a, "key"), doc_path = opt(*a, "did-doc"), out = opt(*a, "out");
  if (!key || !doc_path || !out) return usage_error("rotate", "--key, --did-doc and --out are required");
  auto current = handshake::load_identity(*key);
  if (!current.ok()) return refused("rotate", current.error());
  auto doc = read_json_input(*doc_path);
  if (!doc.ok()) return refused("rotate", doc.error());
  handshake::DidDocumentOptions o;
  o.version_time = std::chrono::floor<std::chrono::seconds>(wall_clock().now());
  if (auto t = opt(*a, "version-time")) {
    auto parsed = handshake::time::parse_rfc3339(*t);
    if (!parsed.ok()) return usage_error("rotate", parsed.error().message);
    o.version_time = *parsed;
  }
  const handshake::Identity next = current->rotated();
  auto next_doc = handshake::rotate_did_document(*doc, current->key(), next, o);
  if (!next_doc.ok()) return refused("rotate", next_doc.error());
  if (auto s = handshake::save_key_file(next, *out); !s.ok()) return refused("rotate", s.error());
  std::cout << next_doc->dump(2) << "\n";
  return kOk;
}

// ---- sign --------------------------------------------------------------------------------------

int cmd_sign(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk sign --key KEYFILE [FILE|-]\n"
      "\n"
      "Signs a message (any of the six kinds, named by \"kind\") as the identity in KEYFILE and prints it.\n"
      "Members left out are filled in: version, iss (the key's DID), id, iat (now), and for a\n"
      "HandshakeRequest a fresh 128-bit nonce. A present iss must be the key's DID. The result is\n"
      "checked against the kind's schema before it is printed; alg is set to EdDSA and the signature\n"
      "is Ed25519 over JCS(message without \"signature\").\n";
  std::string err;
  auto a = parse_args(argv, {"key"}, {}, err);
  if (!a) return usage_error("sign", err);
  if (a->help) return std::cout << kHelp, kOk;
  const auto key = opt(*a, "key");
  if (!key) return usage_error("sign", "--key is required");
  if (a->positional.size() > 1) return usage_error("sign", "expected at most one input FILE");
  auto id = handshake::load_identity(*key);
  if (!id.ok()) return refused("sign", id.error());
  auto doc = read_json_input(a->positional.empty() ? std::nullopt : std::optional(a->positional[0]));
  if (!doc.ok()) return refused("sign", doc.error());
  auto kind = handshake::kind_of(*doc);
  if (!kind.ok()) return refused("sign", kind.error());
  Json& j = *doc;
  const auto now = std::chrono::floor<std::chrono::seconds>(wall_clock().now());
  if (!j.contains("version")) j["version"] = handshake::kProtocolVersion;
  if (!j.contains("iss")) j["iss"] = id->did_string();
  if (j["iss"] != id->did_string()) {
    return refused("sign", handshake::make_error(handshake::ErrorCode::kKey, "sign.iss_mismatch",
                                                 "\"iss\" is not the DID of this key (" + id->did_string() + ")"));
  }
  const char* prefix = nullptr;
  switch (*kind) {
    case handshake::MessageKind::kDelegationToken: prefix = "dt_"; break;
    case handshake::MessageKind::kHandshakeRequest: prefix = "hs_"; break;
    case handshake::MessageKind::kReceipt: prefix = "rc_"; break;
    case handshake::MessageKind::kRevocationStatement: prefix = "rv_"; break;
    default: break;
  }
  if (prefix && !j.contains("id")) j["id"] = handshake::ids::make_id(prefix, now);
  if (*kind == handshake::MessageKind::kReceipt) {
    if (!j.contains("executed_at")) j["executed_at"] = handshake::time::format_rfc3339(now);
  } else if (!j.contains("iat")) {
    j["iat"] = handshake::time::format_rfc3339(now);
  }
  if (*kind == handshake::MessageKind::kHandshakeRequest && !j.contains("nonce")) j["nonce"] = handshake::crypto::make_nonce();
  auto signed_doc = handshake::sign_message(std::move(j), id->key());
  if (!signed_doc.ok()) return refused("sign", signed_doc.error());
  std::cout << canonical(*signed_doc) << "\n";
  return kOk;
}

// ---- verify ------------------------------------------------------------------------------------

int cmd_verify_proof(const std::string& what, const std::vector<std::string>& argv);
int cmd_verify_bundle(const std::vector<std::string>& argv);  // ap2_cmd.cpp

namespace {

// hsk verify of a chain file (a JSON array of DelegationTokens, root first, as hsk delegate
// prints). Core's chain validation (chain.hpp) only takes a HandshakeRequest, so each prefix
// chain[0..i] is validated as the chain of an unsigned, in-memory request from link i's holder
// for each capability link i grants: so every grant of every link is checked against its
// ancestors (linkage, delegable, depth, narrowing), with every signature (key at the link's iat,
// from the --did-doc files) and the times at now. The first prefix that fails names the first
// bad link. There is no trust root here (as for any hsk verify: the documents are trusted as
// given) and no revocation source; a service checks both.
int verify_chain_file(const Json& j, const handshake::DidDirectory& directory) {
  const std::string cmd = "verify";
  if (j.empty()) {
    return refused(cmd, handshake::make_error(handshake::ErrorCode::kInvalidArgument, "chain.empty",
                                              "the chain holds no delegation"));
  }
  std::vector<handshake::DelegationToken> chain;
  for (std::size_t i = 0; i < j.size(); ++i) {
    auto t = handshake::DelegationToken::from_json(j[i]);
    if (!t.ok()) return refused(cmd, in_file("chain[" + std::to_string(i) + "]", t.error()));
    chain.push_back(std::move(t).value());
  }
  const handshake::DirectoryKeyResolver keys(directory);
  const handshake::RevocationList no_revocations;
  handshake::ChainOptions options;
  options.trust_any_root = true;
  options.max_chain_length = std::max(options.max_chain_length, chain.size());
  const handshake::capability::CapabilitySchemaSet schemas;
  const auto now = wall_clock().now();

  std::vector<std::string> lines;
  std::optional<handshake::RefusalInfo> failure;
  for (std::size_t i = 0; i < chain.size() && !failure; ++i) {
    handshake::HandshakeRequest request;
    request.iss = chain[i].sub;
    request.delegation_chain.assign(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    std::string names;
    for (const auto& c : chain[i].capabilities) {
      request.capability = handshake::Capability{c.name, Json::object(), std::nullopt};
      auto verdict = handshake::validate_chain(request, options, schemas, keys, no_revocations, now);
      if (verdict.refusal) {
        failure = std::move(verdict.refusal);
        break;
      }
      names += (names.empty() ? "" : ", ") + c.name;
    }
    const auto& link = chain[i];
    std::string line = "chain[" + std::to_string(i) + "] " + link.id + ": ";
    if (failure) {
      line += "invalid: " + std::string(handshake::to_string(failure->code)) + ": " + failure->detail;
    } else {
      line += "valid: " + link.iss + " -> " + link.sub + ", " + names + ", depth " +
              std::to_string(link.sub_delegation_depth_remaining) + ", until " + handshake::time::format_rfc3339(link.exp);
    }
    lines.push_back(std::move(line));
  }
  for (std::size_t i = lines.size(); i < chain.size(); ++i) {
    lines.push_back("chain[" + std::to_string(i) + "] " + chain[i].id + ": not checked (an earlier link is invalid)");
  }
  for (const auto& l : lines) std::cout << l << "\n";
  if (failure) {
    return refused(cmd, handshake::make_error(handshake::ErrorCode::kInvalidArgument,
                                              "chain." + std::string(handshake::to_string(failure->code)),
                                              failure->detail));
  }
  return kOk;
}

}  // namespace

int cmd_verify(const std::vector<std::string>& argv) {
  if (!argv.empty() && (argv[0] == "inclusion" || argv[0] == "consistency")) {
    return cmd_verify_proof(argv[0], std::vector<std::string>(argv.begin() + 1, argv.end()));
  }
  if (!argv.empty() && argv[0] == "bundle") return cmd_verify_bundle(std::vector<std::string>(argv.begin() + 1, argv.end()));
  static const char* kHelp =
      "usage: hsk verify [--did-doc FILE]... [FILE|-]\n"
      "       hsk verify [--did-doc FILE]... CHAIN.json   (a delegation chain, as hsk delegate prints)\n"
      "       hsk verify inclusion | consistency ...   (registry proofs; see hsk verify inclusion --help)\n"
      "       hsk verify bundle ...   (AP2 dispute bundles; see hsk verify bundle --help)\n"
      "\n"
      "Verifies a signed message or a DID Document and prints a one-line verdict.\n"
      "  message       strict JSON, schema, then the signature with the key its issuer held at\n"
      "                signing time (iat; executed_at for receipts), taken from the --did-doc files;\n"
      "                a HandshakeRequest's delegation links are each verified the same way\n"
      "  DID Document  its proof, and that version 1's key hashes to a self-certifying identifier;\n"
      "                other versions given with --did-doc are checked as one history\n"
      "  chain         a JSON array of DelegationTokens, root first: every link's signature, the\n"
      "                linkage (each iss the previous sub, parent_delegation_id), depth, narrowing and\n"
      "                validity now; one line per link (valid, invalid: reason, or not checked).\n"
      "                Trust roots and revocations are a service's checks, not made here\n"
      "--did-doc files are trusted as given (that is how user and domain DIDs get resolved here);\n"
      "self-certifying documents prove themselves. Exit 0 valid, 1 invalid (reason on stderr), 2 usage.\n";
  std::string err;
  auto a = parse_args(argv, {"did-doc"}, {}, err);
  if (!a) return usage_error("verify", err);
  if (a->help) return std::cout << kHelp, kOk;
  if (a->positional.size() > 1) return usage_error("verify", "expected at most one input FILE");
  handshake::DidDirectory directory;
  if (auto it = a->options.find("did-doc"); it != a->options.end()) {
    for (const auto& path : it->second) {
      auto doc = read_json_input(path);
      if (!doc.ok()) return refused("verify", {doc.error().code, doc.error().reason, path + ": " + doc.error().message});
      directory.add(std::move(doc).value());
    }
  }
  auto input = read_json_input(a->positional.empty() ? std::nullopt : std::optional(a->positional[0]));
  if (!input.ok()) return refused("verify", input.error());
  const Json& j = *input;
  if (j.is_array()) {
    if (auto s = directory.finish(true); !s.ok()) return refused("verify", s.error());
    return verify_chain_file(j, directory);
  }

  if (j.is_object() && !j.contains("kind") && j.contains("id") && j.contains("verificationMethod")) {
    directory.add(j);
    if (auto s = directory.finish(true); !s.ok()) return refused("verify", s.error());
    const auto* h = directory.find(j["id"].get<std::string>());
    std::cout << "valid: DID Document " << h->did().str() << " (" << h->versions().size() << " version"
              << (h->versions().size() == 1 ? "" : "s") << ")\n";
    return kOk;
  }
  if (auto s = directory.finish(true); !s.ok()) return refused("verify", s.error());
  auto msg = handshake::parse_message(j);
  if (!msg.ok()) return refused("verify", msg.error());
  if (auto s = handshake::verify_with_directory(j, directory); !s.ok()) return refused("verify", s.error());
  if (std::holds_alternative<handshake::HandshakeRequest>(*msg)) {
    std::size_t i = 0;
    for (const auto& link : j["delegation_chain"]) {
      if (auto s = handshake::verify_with_directory(link, directory); !s.ok()) {
        Error e = s.error();
        e.message = "delegation_chain[" + std::to_string(i) + "]: " + e.message;
        return refused("verify", e);
      }
      ++i;
    }
  }
  std::cout << "valid: " << handshake::to_string(handshake::kind_of(*msg)) << " signed by "
            << handshake::signer_of(*msg) << "\n";
  return kOk;
}

// ---- canon -------------------------------------------------------------------------------------

int cmd_canon(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk canon [FILE|-]\n"
      "\n"
      "Prints exactly the RFC 8785 (JCS) canonical bytes of the JSON input, with no trailing newline.\n"
      "The input goes through the strict parser: duplicate names, invalid UTF-8, lone surrogates and\n"
      "integers no double holds exactly are refused.\n";
  std::string err;
  auto a = parse_args(argv, {}, {}, err);
  if (!a) return usage_error("canon", err);
  if (a->help) return std::cout << kHelp, kOk;
  if (a->positional.size() > 1) return usage_error("canon", "expected at most one input FILE");
  auto doc = read_json_input(a->positional.empty() ? std::nullopt : std::optional(a->positional[0]));
  if (!doc.ok()) return refused("canon", doc.error());
  auto c = handshake::json::canonicalize(*doc);
  if (!c.ok()) return refused("canon", c.error());
  std::cout << *c << std::flush;
  return kOk;
}

int cmd_demo(const std::vector<std::string>& argv);
int cmd_conformance(const std::vector<std::string>& argv);
int cmd_registry(const std::vector<std::string>& argv);
int cmd_console(const std::vector<std::string>& argv);
int cmd_gate(const std::vector<std::string>& argv);
// protocol_commands.cpp
int cmd_delegate(const std::vector<std::string>& argv);
int cmd_request(const std::vector<std::string>& argv);
int cmd_service(const std::vector<std::string>& argv);
int cmd_receipt(const std::vector<std::string>& argv);
int cmd_revoke(const std::vector<std::string>& argv);
int cmd_session_key(const std::vector<std::string>& argv);
int cmd_oauth(const std::vector<std::string>& argv);
int cmd_ap2(const std::vector<std::string>& argv);

// ---- dispatch ----------------------------------------------------------------------------------

int top_usage(std::ostream& out) {
  out << "usage: hsk <command> [options]   (hsk <command> --help for details; hsk --version)\n"
         "\n"
         "  init     mcp|a2a DIR: keys, DID Documents, configuration and a delegation to start from\n"
         "  keygen   create an identity and its key file; prints the DID\n"
         "  did      print the signed DID Document of a key file\n"
         "  rotate   rotate a key: next key file and next DID Document version\n"
         "  sign     sign a message with a key file\n"
         "  verify   verify a signed message or DID Document\n"
         "  canon    print the JCS canonical form of JSON\n"
         "  delegate sign a delegation (root or sub-delegation); prints the chain\n"
         "  request  sign a HandshakeRequest under a delegation chain\n"
         "  service  verify a request as a configured service (service verify)\n"
         "  receipt  issue or verify receipts (receipt issue | receipt verify)\n"
         "  revoke   sign a RevocationStatement for a delegation or a principal\n"
         "  session-key  write a new session ticket key file (warm sessions shared by instances)\n"
         "  conformance  run conformance vectors (or generate ours)\n"
         "  registry serve | anchor   the registry's HTTP API; anchor a receipt\n"
         "  console  the audit console: a web page over a receipt store (and a registry), checked in the browser\n"
         "  gate     a plain HTTP API behind a handshake: nginx auth_request, Envoy ext_authz, reverse proxy\n"
         "  oauth bridge   access tokens in, signed DelegationTokens out (RFC 7662, RFC 8693)\n"
         "  ap2      AP2 payment mandates: derived constraints, receipts, dispute bundles\n"
         "  demo     keys, a delegation, a signed request, verified, printed\n";
  return kOk;
}

int run(int argc, char** argv) {
  if (argc < 2) return top_usage(std::cerr), kUsage;
  const std::string cmd = argv[1];
  std::vector<std::string> rest(argv + 2, argv + argc);
  static const std::map<std::string, std::function<int(const std::vector<std::string>&)>> kCommands = {
      {"keygen", cmd_keygen}, {"did", cmd_did},     {"rotate", cmd_rotate}, {"sign", cmd_sign},
      {"verify", cmd_verify}, {"canon", cmd_canon}, {"demo", cmd_demo}, {"init", cmd_init},
      {"delegate", cmd_delegate}, {"request", cmd_request}, {"service", cmd_service},
      {"receipt", cmd_receipt},   {"revoke", cmd_revoke},     {"conformance", cmd_conformance},
      {"session-key", cmd_session_key},
      {"registry", cmd_registry}, {"oauth", cmd_oauth},       {"ap2", cmd_ap2},
      {"console", cmd_console}, {"gate", cmd_gate},
  };
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return top_usage(std::cout);
  if (cmd == "--version" || cmd == "version") return std::cout << handshake::version_line("hsk") << "\n", kOk;
  auto it = kCommands.find(cmd);
  if (it == kCommands.end()) {
    std::cerr << "hsk: unknown command '" << cmd << "'\n";
    top_usage(std::cerr);
    return kUsage;
  }
  return it->second(rest);
}

}  // namespace hsk::cli

int main(int argc, char** argv) {
  try {
    return hsk::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "hsk: internal error: " << e.what() << "\n";
    return 70;
  }
}
