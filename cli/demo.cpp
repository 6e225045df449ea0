// hsk demo: the main job end to end, on throw-away keys in a private temporary directory (or, with
// --keep DIR, in DIR, left there with every message of the run).

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "handshake/agent.hpp"
#include "handshake/storage/sqlite.hpp"
#include "handshake/crypto.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/receipt.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/service.hpp"
#include "handshake/time.hpp"

#include "common.hpp"

namespace hsk::cli {

using handshake::Json;

namespace {

struct Step {
  int n = 0;
  void operator()(const std::string& title) { std::cout << "\n== " << ++n << ". " << title << "\n"; }
};

int fail(const std::string& what, const handshake::Error& e) {
  std::cerr << "hsk demo: " << what << ": " << e.to_string() << "\n";
  return 1;
}

std::string mode_of(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return "?";
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return buf;
}

// Removes the demo's key directory on every exit path, unless it is kept.
struct TempDir {
  std::filesystem::path path;
  bool keep = false;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty() && !keep) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

int cmd_demo(const std::vector<std::string>& argv) {
  std::string err;
  auto a = parse_args(argv, {"keep"}, {}, err);
  if (!a) return usage_error("demo", err);
  if (a->help) {
    std::cout << "usage: hsk demo [--keep DIR]\n\n"
                 "Runs the main job end to end on fresh keys: an org (the deployer), an agent and a service get\n"
                 "Ed25519 identities (key files 0600) and self-certifying DID Documents; the org delegates\n"
                 "billing.invoices.read {max_invoices: 100} to the agent for 600 s; the agent signs a\n"
                 "HandshakeRequest for 50 invoices; the service (handshake::Service, trust root = the org,\n"
                 "replay protection in an embedded SQLite database) verifies it and signs an Acceptance,\n"
                 "which the agent checks; the action's result gets a signed receipt, verified offline. The\n"
                 "same request replayed, and a tampered copy, are refused with signed Refusals. Exit 0 when\n"
                 "every step came out as expected.\n"
                 "  --keep DIR  run in DIR (created; refused when not empty) and leave its files there: the\n"
                 "              key files, DID Documents, chain.json, request.json, acceptance.json,\n"
                 "              result.json, receipt.json, the refusals and nonces.db\n";
    return kOk;
  }
  if (!a->positional.empty()) return usage_error("demo", "unexpected argument " + a->positional[0]);
  const auto keep = opt(*a, "keep");
  Step step;
  const handshake::SystemClock clock;
  const auto now = std::chrono::floor<std::chrono::seconds>(clock.now());

  step("Identities (Ed25519, libsodium) and key files");
  TempDir dir;
  if (keep) {
    std::error_code ec;
    dir.path = std::filesystem::absolute(*keep, ec);
    if (!ec && std::filesystem::exists(dir.path, ec) &&
        (!std::filesystem::is_directory(dir.path, ec) || !std::filesystem::is_empty(dir.path, ec))) {
      std::cerr << "hsk demo: --keep " << *keep << ": exists and is not an empty directory\n";
      return kRefused;
    }
    if (!ec) std::filesystem::create_directories(dir.path, ec);
    if (ec) {
      std::cerr << "hsk demo: --keep " << *keep << ": cannot create it\n";
      return kRefused;
    }
    dir.keep = true;
  } else {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hsk-demo-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::cerr << "hsk demo: cannot create a temporary directory\n";
      return 1;
    }
    dir.path = tmpl;
  }
  struct Named {
    const char* role;
    handshake::PrincipalType type;
  };
  const Named roles[] = {{"org", handshake::PrincipalType::kOrg},
                         {"agent", handshake::PrincipalType::kAgent},
                         {"svc", handshake::PrincipalType::kSvc}};
  std::vector<handshake::Identity> ids;
  for (const auto& r : roles) {
    const auto path = dir.path / (std::string(r.role) + ".key");
    auto loaded = new_key_file(r.type, path, /*overwrite=*/false);
    if (!loaded.ok()) return fail("key file", loaded.error());
    std::cout << "  " << r.role << ":   " << loaded->did_string() << "   (key file mode " << mode_of(path) << ")\n";
    ids.push_back(std::move(loaded).value());
  }
  const handshake::Identity& org = ids[0];
  const handshake::Identity& agent = ids[1];
  const handshake::Identity& svc = ids[2];
  // With --keep, each message of the run is left in the directory as it was made.
  bool kept_ok = true;
  const auto keep_json = [&](const std::string& name, const Json& j) {
    if (dir.keep) kept_ok = write_text_file((dir.path / name).string(), j.dump(2) + "\n").ok() && kept_ok;
  };
  const char* const role_names[] = {"org", "agent", "svc"};

  step("DID Documents, each signed by its own key and self-certifying");
  handshake::DidDirectory directory;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& id = ids[i];
    handshake::DidDocumentOptions o;
    o.version_time = now - std::chrono::hours(1);
    auto doc = handshake::make_did_document(id, o);
    if (!doc.ok()) return fail("DID Document", doc.error());
    if (&id == &svc) std::cout << doc->dump(2) << "\n";
    keep_json(std::string(role_names[i]) + ".did.json", *doc);
    directory.add(std::move(doc).value());
  }
  // Not trusted as a source: the documents must prove themselves by their key hashes.
  if (auto s = directory.finish(/*trusted_source=*/false); !s.ok()) return fail("DID Documents", s.error());
  std::cout << "  3 documents verified: proofs valid, identifiers = z + base58btc(SHA-256(key))\n";

  step("The org delegates billing.invoices.read {max_invoices: 100} to the agent for 600 s");
  handshake::DelegationToken dt;
  dt.id = handshake::ids::make_id(handshake::ids::kDelegationPrefix, now);
  dt.iss = org.did_string();
  dt.sub = dt.aud = agent.did_string();
  dt.iat = dt.nbf = now;
  dt.exp = now + std::chrono::seconds(600);
  dt.capabilities.push_back({"billing.invoices.read", Json{{"max_invoices", 100}}, false});
  dt.sub_delegation_depth_remaining = 0;
  auto delegation = handshake::sign_message(dt.to_json(), org.key());
  if (!delegation.ok()) return fail("delegation", delegation.error());
  std::cout << delegation->dump(2) << "\n";
  keep_json("chain.json", Json::array({*delegation}));

  step("The agent signs a HandshakeRequest for 50 invoices, addressed to the service");
  handshake::HandshakeRequest rq;
  rq.id = handshake::ids::make_id(handshake::ids::kRequestPrefix, now);
  rq.iss = agent.did_string();
  rq.aud = svc.did_string();
  rq.iat = now;
  rq.nonce = handshake::crypto::make_nonce();
  rq.agent_attestation.deployer = org.did_string();
  rq.agent_attestation.model = "demo-model";
  rq.agent_attestation.instance_id = "demo-1";
  rq.capability = {"billing.invoices.read", Json{{"max_invoices", 50}}, std::nullopt};
  auto parsed_dt = handshake::DelegationToken::from_json(*delegation);
  if (!parsed_dt.ok()) return fail("delegation", parsed_dt.error());
  rq.delegation_chain.push_back(std::move(parsed_dt).value());
  auto request = handshake::sign_message(rq.to_json(), agent.key());
  if (!request.ok()) return fail("request", request.error());
  auto request_text = handshake::json::canonicalize(*request);
  std::cout << "  signing input is JCS(request without \"signature\"); the request travels as "
            << request_text->size() << " bytes:\n"
            << request->dump(2) << "\n";
  keep_json("request.json", *request);

  step("The service verifies the request (handshake::Service, SQLite nonce store)");
  // The service side as a deployment runs it: keys from the trusted DID Documents, the org as its
  // only trust root, replay protection in an embedded SQLite database.
  auto nonces = handshake::storage::open_sqlite_nonce_store(dir.path / "nonces.db");
  if (!nonces.ok()) return fail("nonce store", nonces.error());
  auto limiter = handshake::make_memory_rate_limiter();
  handshake::DirectoryKeyResolver keys(directory);
  handshake::RevocationList revocations;
  handshake::ServiceOptions options;
  options.chain.trust_roots = {org.did_string()};
  auto svc_again = handshake::load_key_file(dir.path / "svc.key");
  if (!svc_again.ok()) return fail("load key", svc_again.error());
  handshake::Service service(std::move(svc_again).value(), options, clock, keys, revocations, **nonces, *limiter);
  const auto decision = service.verify(*request_text);
  if (!decision.accepted) {
    std::cerr << "hsk demo: refused: " << handshake::to_string(decision.refusal->code) << ": "
              << decision.refusal->detail << "\n";
    return 1;
  }
  std::cout << "  accepted: signatures, audience bindings, validity window, trust root, scope, nonce\n"
            << decision.response.dump(2) << "\n";
  keep_json("acceptance.json", decision.response);

  step("The agent checks the Acceptance");
  handshake::AgentAttestation att = rq.agent_attestation;
  auto agent_again = handshake::load_key_file(dir.path / "agent.key");
  if (!agent_again.ok()) return fail("load key", agent_again.error());
  handshake::Agent agent_side(std::move(agent_again).value(), {*delegation}, att);
  auto answer = agent_side.check_answer(decision.response, svc.did_string(), svc.public_key(), rq.id);
  if (!answer.ok() || !answer->accepted) return fail("acceptance", answer.ok() ? handshake::Error{} : answer.error());
  std::cout << "  ok: signed by the service, addressed to this agent, bound to " << rq.id << "\n";

  step("The action runs; the service signs a receipt; anyone verifies it offline");
  const Json result{{"invoices", Json::array({{{"id", "inv-1"}, {"total_cents", 12050}}})}};
  auto receipt = service.issue_receipt(decision, result, "ok", {"sha-256", {}, Json{{"count", 1}}});
  if (!receipt.ok()) return fail("receipt", receipt.error());
  std::cout << receipt->dump(2) << "\n";
  keep_json("result.json", result);
  keep_json("receipt.json", *receipt);
  if (auto s = handshake::verify_receipt(*receipt, keys, result); !s.ok()) return fail("receipt", s.error());
  std::cout << "  ok: receipt signature valid, result_hash = SHA-256(JCS(result))\n";

  step("Refusals are signed too");
  const auto replay = service.verify(*request_text);
  Json tampered = *request;
  tampered["capability"]["constraints"]["max_invoices"] = 500;
  const auto forged = service.verify(handshake::json::canonicalize(tampered).value());
  if (replay.accepted || forged.accepted) {
    std::cerr << "hsk demo: a replayed or tampered request was accepted; this must never happen\n";
    return 1;
  }
  for (const auto* d : {&replay, &forged}) {
    auto checked = agent_side.check_answer(d->response, svc.did_string(), svc.public_key(), rq.id);
    std::cout << "  refused: " << handshake::to_string(d->refusal->code) << " (" << d->refusal->detail << ")"
              << (checked.ok() ? ", Refusal signed by the service" : "") << "\n";
  }
  keep_json("refusal-replayed.json", replay.response);
  keep_json("refusal-tampered.json", forged.response);
  if (dir.keep) {
    if (!kept_ok) {
      std::cerr << "hsk demo: could not write every file into " << dir.path.string() << "\n";
      return kRefused;
    }
    const std::string d = dir.path.string();
    std::cout << "\nFiles kept in " << d << " (key files 0600). Check them again offline:\n"
              << "  hsk verify --did-doc " << d << "/svc.did.json " << d << "/acceptance.json\n"
              << "  hsk receipt verify --did-doc " << d << "/svc.did.json --result " << d << "/result.json " << d
              << "/receipt.json\n";
  }

  std::cout << "\nDemo complete: every signature verified, every binding held, replay and tampering refused.\n";
  return 0;
}

}  // namespace hsk::cli
