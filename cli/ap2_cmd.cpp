// hsk ap2 capabilities | constraints | verify | receipt | bundle, and hsk verify bundle: AP2
// payment mandates with Handshake (adapters/ap2, docs/ap2.md). Every command only translates
// files into calls of handshake::ap2 and handshake core.
//
// Exit codes as everywhere in hsk: 0 success, 1 the input was read but refused, 2 usage error;
// `hsk ap2 verify` adds 3: the service refused the request (the signed Refusal is printed).

#include <iostream>
#include <string>
#include <vector>

#include "common.hpp"

#ifdef HSK_WITH_AP2
#include "handshake/ap2/bundle.hpp"
#include "handshake/ap2/mandates.hpp"
#include "handshake/ap2/mapping.hpp"
#include "handshake/ap2/receipts.hpp"
#include "handshake/ap2/sd_jwt.hpp"
#include "handshake/config.hpp"
#include "handshake/did_document.hpp"
#include "handshake/messages.hpp"
#include "handshake/resolver.hpp"
#endif

namespace hsk::cli {

namespace {
const char* const kAp2Help =
    "usage: hsk ap2 capabilities [--map MAP.yaml]\n"
    "       hsk ap2 constraints --mandate M.json [--map MAP.yaml] [--issuer-key KEY] [--require-kb] [--kb-audience AUD]\n"
    "       hsk ap2 verify --config SERVICE.yaml --mandate M.json [--map MAP.yaml] [--issuer-key KEY] REQUEST.json\n"
    "       hsk ap2 receipt --config SERVICE.yaml --acceptance A.json --mandate M.json [--payment-receipt PR.json]\n"
    "       hsk ap2 bundle --mandate M.json --chain CHAIN.json --acceptance A.json --receipt R.json\n"
    "                      [--payment-receipt PR.json] [--anchor ANSWER.json] [--request REQ.json] [--map MAP.yaml]\n"
    "                      [--out BUNDLE.json]\n"
    "\n"
    "AP2 payment mandates with Handshake (docs/ap2.md). A mandate file (M.json) is an A2A message or\n"
    "task holding one ap2.mandates.* DataPart, a DataPart data object, a bare v0.1 mandate, or a\n"
    "JSON string holding a v0.2 SD-JWT payment mandate (then --issuer-key: the issuer's ES256 key, a\n"
    "P-256 JWK or PEM file). MAP.yaml maps mandates to a capability and constraint names (default:\n"
    "pay.transfer with max_amount, currency, payee, execution_window).\n"
    "  capabilities  print the §10 capability document typing the mapped constraints\n"
    "  constraints   print {capability, constraints} derived from the mandate (what to request)\n"
    "  verify        verify REQUEST as the configured service, bound to the mandate's derived\n"
    "                constraints (a mandate outside the delegation: scope_exceeded); exit 3 refused\n"
    "  receipt       print the service's signed Receipt committing to mandate + payment receipt\n"
    "  bundle        print (or write) the dispute bundle; check it with hsk verify bundle\n";
}  // namespace

#ifdef HSK_WITH_AP2
namespace {

namespace ap2 = handshake::ap2;
using handshake::Error;
using handshake::Json;


handshake::Result<ap2::MandateMap> load_map(const Args& a) {
  const auto path = opt(a, "map");
  if (!path) return ap2::MandateMap();
  auto text = read_input(*path);
  if (!text.ok()) return in_file(*path, text.error());
  auto map = ap2::MandateMap::from_yaml(*text);
  if (!map.ok()) return in_file(*path, map.error());
  return map;
}

// An ES256 key file: a JWK (JSON) or a PEM public key.
handshake::Result<std::optional<ap2::Es256PublicKey>> load_issuer_key(const Args& a) {
  const auto path = opt(a, "issuer-key");
  if (!path) return std::optional<ap2::Es256PublicKey>();
  auto text = read_input(*path);
  if (!text.ok()) return in_file(*path, text.error());
  if (text->find("-----BEGIN") != std::string::npos) {
    auto k = ap2::Es256PublicKey::from_pem(*text);
    if (!k.ok()) return in_file(*path, k.error());
    return std::optional<ap2::Es256PublicKey>(std::move(k).value());
  }
  auto j = handshake::json::parse_strict(*text);
  if (!j.ok()) return in_file(*path, j.error());
  auto k = ap2::Es256PublicKey::from_jwk(*j);
  if (!k.ok()) return in_file(*path, k.error());
  return std::optional<ap2::Es256PublicKey>(std::move(k).value());
}

handshake::Result<ap2::FoundPart> load_mandate(const std::string& path) {
  auto doc = read_json_input(path);
  if (!doc.ok()) return in_file(path, doc.error());
  auto found = ap2::mandate_from_document(*doc);
  if (!found.ok()) return in_file(path, found.error());
  return found;
}

handshake::Result<std::optional<Json>> optional_json(const Args& a, const std::string& name) {
  const auto path = opt(a, name);
  if (!path) return std::optional<Json>();
  auto j = read_json_input(*path);
  if (!j.ok()) return in_file(*path, j.error());
  return std::optional<Json>(std::move(j).value());
}

// A mandate's binding at `now`, with the key and mapping options of `a`.
handshake::Result<handshake::ActionBinding> binding_for(const Args& a, const ap2::MandateMap& map,
                                                        const ap2::FoundPart& mandate, handshake::Timestamp now) {
  HSK_ASSIGN_OR_RETURN(auto key, load_issuer_key(a));
  ap2::MandateCheckOptions o;
  if (key) o.sd_jwt_issuer_key = &*key;
  o.sd_jwt.expected_audience = opt(a, "kb-audience");
  o.sd_jwt.require_key_binding = flag(a, "require-kb");
  HSK_ASSIGN_OR_RETURN(auto terms, ap2::payment_terms(mandate, map.currencies(), o, now));
  return map.binding(terms);
}

int cmd_ap2_capabilities(const Args& a) {
  auto map = load_map(a);
  if (!map.ok()) return refused("ap2 capabilities", map.error());
  std::cout << canonical(map->discovery_document()) << "\n";
  return kOk;
}

int cmd_ap2_constraints(const Args& a) {
  const std::string cmd = "ap2 constraints";
  const auto mandate_path = opt(a, "mandate");
  if (!mandate_path) return usage_error(cmd, "--mandate is required");
  auto map = load_map(a);
  if (!map.ok()) return refused(cmd, map.error());
  auto mandate = load_mandate(*mandate_path);
  if (!mandate.ok()) return refused(cmd, mandate.error());
  auto b = binding_for(a, *map, *mandate, wall_clock().now());
  if (!b.ok()) return refused(cmd, b.error());
  std::cout << canonical(Json{{"capability", b->capability}, {"constraints", b->constraints}}) << "\n";
  return kOk;
}

int cmd_ap2_verify(const Args& a) {
  const std::string cmd = "ap2 verify";
  const auto config = opt(a, "config"), mandate_path = opt(a, "mandate");
  if (!config || !mandate_path || a.positional.size() != 1) {
    return usage_error(cmd, "--config, --mandate and one REQUEST are required");
  }
  auto map = load_map(a);
  if (!map.ok()) return refused(cmd, map.error());
  auto setup = handshake::ServiceSetup::load(*config);
  if (!setup.ok()) return refused(cmd, in_file(*config, setup.error()));
  auto mandate = load_mandate(*mandate_path);
  if (!mandate.ok()) return refused(cmd, mandate.error());
  auto b = binding_for(a, *map, *mandate, wall_clock().now());
  if (!b.ok()) return refused(cmd, b.error());
  auto text = read_input(a.positional[0]);
  if (!text.ok()) return refused(cmd, text.error());
  auto service = (*setup)->make_service(wall_clock());
  const handshake::Decision d = service->verify(std::string_view(*text), *b);
  std::cout << canonical(d.response) << "\n";
  if (d.accepted) return kOk;
  std::cerr << "refused: " << handshake::to_string(d.refusal->code) << ": " << d.refusal->detail << "\n";
  return kServiceRefused;
}

int cmd_ap2_receipt(const Args& a) {
  const std::string cmd = "ap2 receipt";
  const auto config = opt(a, "config"), acc_path = opt(a, "acceptance"), mandate_path = opt(a, "mandate");
  if (!config || !acc_path || !mandate_path) return usage_error(cmd, "--config, --acceptance and --mandate are required");
  auto map = load_map(a);
  if (!map.ok()) return refused(cmd, map.error());
  auto setup = handshake::ServiceSetup::load(*config);
  if (!setup.ok()) return refused(cmd, in_file(*config, setup.error()));
  auto acc_json = read_json_input(*acc_path);
  if (!acc_json.ok()) return refused(cmd, in_file(*acc_path, acc_json.error()));
  auto acceptance = handshake::Acceptance::from_json(*acc_json);
  if (!acceptance.ok()) return refused(cmd, in_file(*acc_path, acceptance.error()));
  const handshake::Identity& identity = (*setup)->identity();
  if (auto s = handshake::verify_message_signature(*acc_json, identity.public_key()); !s.ok()) {
    return refused(cmd, in_file(*acc_path + ": not signed by " + identity.did_string(), s.error()));
  }
  auto mandate = load_mandate(*mandate_path);
  if (!mandate.ok()) return refused(cmd, mandate.error());
  auto pr = optional_json(a, "payment-receipt");
  if (!pr.ok()) return refused(cmd, pr.error());
  const ap2::PaymentEvidence evidence{mandate->key, mandate->value, *pr};
  auto receipt = ap2::issue_payment_receipt(identity, *acceptance, evidence, map->currencies(),
                                            std::chrono::floor<std::chrono::seconds>(wall_clock().now()));
  if (!receipt.ok()) return refused(cmd, receipt.error());
  std::cout << canonical(*receipt) << "\n";
  return kOk;
}

int cmd_ap2_bundle(const Args& a) {
  const std::string cmd = "ap2 bundle";
  const auto mandate_path = opt(a, "mandate"), chain_path = opt(a, "chain"), acc_path = opt(a, "acceptance"),
             receipt_path = opt(a, "receipt");
  if (!mandate_path || !chain_path || !acc_path || !receipt_path) {
    return usage_error(cmd, "--mandate, --chain, --acceptance and --receipt are required");
  }
  if (!a.positional.empty()) return usage_error(cmd, "unexpected argument " + a.positional[0]);
  auto map = load_map(a);
  if (!map.ok()) return refused(cmd, map.error());
  auto mandate = load_mandate(*mandate_path);
  if (!mandate.ok()) return refused(cmd, mandate.error());
  ap2::BundleInputs inputs{*mandate, {}, {}, {}, {}, {}, {}, map->to_json()};
  for (auto [path, slot] : {std::pair{*chain_path, &inputs.delegation_chain}, std::pair{*acc_path, &inputs.acceptance},
                            std::pair{*receipt_path, &inputs.receipt}}) {
    auto j = read_json_input(path);
    if (!j.ok()) return refused(cmd, in_file(path, j.error()));
    *slot = std::move(j).value();
  }
  auto pr = optional_json(a, "payment-receipt");
  auto request = optional_json(a, "request");
  auto anchor = optional_json(a, "anchor");
  for (auto* r : {&pr, &request, &anchor}) {
    if (!r->ok()) return refused(cmd, r->error());
  }
  inputs.payment_receipt = *pr;
  inputs.request = *request;
  inputs.registry_answer = *anchor;
  auto bundle = ap2::make_dispute_bundle(inputs);
  if (!bundle.ok()) return refused(cmd, bundle.error());
  if (auto out = opt(a, "out")) {
    if (auto w = write_text_file(*out, canonical(*bundle) + "\n"); !w.ok()) return refused(cmd, w.error());
    std::cout << "wrote " << *out << "\n";
    return kOk;
  }
  std::cout << canonical(*bundle) << "\n";
  return kOk;
}

}  // namespace
#endif

int cmd_ap2(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") return std::cout << kAp2Help, argv.empty() ? kUsage : kOk;
#ifndef HSK_WITH_AP2
  return usage_error("ap2", "this hsk was built without the AP2 adapter");
#else
  const std::string sub = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  std::string err;
  auto a = parse_args(rest,
                      {"map", "mandate", "issuer-key", "kb-audience", "config", "acceptance", "payment-receipt", "chain",
                       "receipt", "anchor", "request", "out"},
                      {"require-kb"}, err);
  if (!a) return usage_error("ap2 " + sub, err);
  if (a->help) return std::cout << kAp2Help, kOk;
  if (sub == "capabilities") return cmd_ap2_capabilities(*a);
  if (sub == "constraints") return cmd_ap2_constraints(*a);
  if (sub == "verify") return cmd_ap2_verify(*a);
  if (sub == "receipt") return cmd_ap2_receipt(*a);
  if (sub == "bundle") return cmd_ap2_bundle(*a);
  return usage_error("ap2", "unknown subcommand '" + sub + "' (capabilities, constraints, verify, receipt, bundle)");
#endif
}

// hsk verify bundle (dispatched from cmd_verify).
int cmd_verify_bundle(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk verify bundle --did-doc FILE... [--registry-did-doc REG.did.json] [--trust-root DID]...\n"
      "                         [--map MAP.yaml] [--issuer-key KEY] [--require-registry] BUNDLE.json\n"
      "\n"
      "Checks an AP2 dispute bundle (hsk ap2 bundle) offline, end to end: the mandate (an SD-JWT one\n"
      "with --issuer-key, at the acceptance's time) mapped with MAP.yaml (default pay.transfer); the\n"
      "acceptance's signature; the request's (when bundled) and its binding; the delegation chain by\n"
      "the §11 algorithm at the acceptance's time, authorizing the mandate's derived constraints; the\n"
      "receipt's signature, its binding to the acceptance and its result hash committing to the\n"
      "mandate and payment receipt; the registry inclusion proof against the signed tree head (needs\n"
      "--registry-did-doc). --did-doc files are trusted as given. Without --trust-root the chain's\n"
      "root issuer is taken as the root (and printed). Revocation is not checked offline.\n"
      "Exit 0 valid, 1 invalid (reason on stderr), 2 usage.\n";
  const std::string cmd = "verify bundle";
  if (!argv.empty() && (argv[0] == "--help" || argv[0] == "-h")) return std::cout << kHelp, kOk;
#ifndef HSK_WITH_AP2
  return usage_error(cmd, "this hsk was built without the AP2 adapter");
#else
  std::string err;
  auto a = parse_args(argv, {"did-doc", "registry-did-doc", "trust-root", "map", "issuer-key"}, {"require-registry"}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  if (a->positional.size() != 1) return usage_error(cmd, "expected exactly one BUNDLE file");
  handshake::DidDirectory directory;
  if (auto it = a->options.find("did-doc"); it != a->options.end()) {
    for (const auto& path : it->second) {
      auto doc = read_json_input(path);
      if (!doc.ok()) return refused(cmd, in_file(path, doc.error()));
      directory.add(std::move(doc).value());
    }
  }
  if (auto s = directory.finish(/*trusted_source=*/true); !s.ok()) return refused(cmd, s.error());
  const handshake::DirectoryKeyResolver keys(std::move(directory));
  auto map = load_map(*a);
  if (!map.ok()) return refused(cmd, map.error());
  ap2::BundleVerifyOptions options;
  options.map = std::move(map).value();
  if (auto it = a->options.find("trust-root"); it != a->options.end()) options.trust_roots = it->second;
  options.require_registry = flag(*a, "require-registry");
  if (auto reg = opt(*a, "registry-did-doc")) {
    auto doc = read_json_input(*reg);
    if (!doc.ok()) return refused(cmd, in_file(*reg, doc.error()));
    auto history = handshake::DidKeyHistory::build({*doc}, /*trusted_source=*/true);
    if (!history.ok()) return refused(cmd, in_file(*reg, history.error()));
    options.registry_key = history->current().key;
    options.registry_did = history->did().str();
  }
  auto issuer_key = load_issuer_key(*a);
  if (!issuer_key.ok()) return refused(cmd, issuer_key.error());
  if (*issuer_key) options.mandate.sd_jwt_issuer_key = &**issuer_key;
  auto bundle = read_json_input(a->positional[0]);
  if (!bundle.ok()) return refused(cmd, in_file(a->positional[0], bundle.error()));
  auto verdict = ap2::verify_dispute_bundle(*bundle, keys, options);
  if (!verdict.ok()) return refused(cmd, verdict.error());
  std::cout << "valid: " << verdict->mandate_key << " paid under " << verdict->capability << " "
            << canonical(verdict->derived_constraints) << "; chain rooted at " << verdict->chain_root
            << (options.trust_roots.empty() ? " (taken as the root: no --trust-root given)" : "") << "; accepted by "
            << verdict->service << " for " << verdict->agent << "; receipt " << verdict->receipt_id
            << (verdict->payment_receipt ? " commits to the mandate and the payment receipt" : " commits to the mandate");
  if (verdict->leaf_index) {
    std::cout << "; leaf " << *verdict->leaf_index << " of the " << *verdict->tree_size << "-leaf registry tree";
  } else {
    std::cout << "; no registry proof";
  }
  std::cout << "\n";
  return kOk;
#endif
}

}  // namespace hsk::cli
