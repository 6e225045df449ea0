// hsk delegate | request | service verify | receipt issue | receipt verify | revoke | session-key:
// the protocol's flows from the command line. Every command only translates arguments and files
// into calls of the library (agent.hpp, service.hpp, config.hpp, receipt.hpp, revocation.hpp,
// session_ticket.hpp); the protocol's rules live there.
//
// Exit codes as everywhere in hsk: 0 success, 1 the input was read but refused, 2 usage error;
// `hsk service verify` adds 3: the service refused the request (the signed Refusal is printed).

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "common.hpp"
#include "handshake/agent.hpp"
#include "handshake/capability.hpp"
#include "handshake/chain.hpp"
#include "handshake/command_line.hpp"
#include "handshake/config.hpp"
#include "handshake/did.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/ids.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/receipt.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/service.hpp"
#include "handshake/session_ticket.hpp"
#include "handshake/time.hpp"
#ifdef HSK_WITH_MCP
#include "handshake/mcp/envelope.hpp"
#endif

namespace hsk::cli {

using handshake::Error;
using handshake::Json;

namespace {


handshake::Timestamp now_seconds() { return std::chrono::floor<std::chrono::seconds>(wall_clock().now()); }

// A non-negative integer option value, at most `max`.
std::optional<std::int64_t> parse_count(const std::string& text, std::int64_t max) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || p != end || v < 0 || v > max) return std::nullopt;
  return v;
}

// --constraints: JSON object text through the strict parser. An absent option is {}.
std::optional<Json> parse_constraints(const Args& a, std::string& error) {
  const auto text = opt(a, "constraints");
  if (!text) return Json::object();
  auto j = handshake::json::parse_strict(*text);
  if (!j.ok()) {
    error = "--constraints: " + j.error().to_string();
    return std::nullopt;
  }
  if (!j->is_object()) {
    error = "--constraints must be a JSON object";
    return std::nullopt;
  }
  return std::move(j).value();
}

// Checks that an option holding a DID is one; empty string when it is.
std::string did_error(const std::string& option, const std::string& value) {
  auto d = handshake::parse_did(value);
  return d.ok() ? std::string() : "--" + option + ": " + d.error().to_string();
}

// A delegation chain file: a JSON array of signed DelegationTokens (root first) or one token.
handshake::Result<std::vector<handshake::DelegationToken>> load_chain(const std::string& path) {
  auto doc = read_json_input(path);
  if (!doc.ok()) return in_file(path, doc.error());
  std::vector<Json> links;
  if (doc->is_array()) {
    for (auto& l : *doc) links.push_back(std::move(l));
  } else {
    links.push_back(std::move(doc).value());
  }
  if (links.empty()) {
    return handshake::make_error(handshake::ErrorCode::kInvalidArgument, "chain.empty",
                                 path + ": the chain holds no delegation");
  }
  std::vector<handshake::DelegationToken> out;
  for (std::size_t i = 0; i < links.size(); ++i) {
    auto t = handshake::DelegationToken::from_json(links[i]);
    if (!t.ok()) return in_file(path + "[" + std::to_string(i) + "]", t.error());
    out.push_back(std::move(t).value());
  }
  return out;
}

// DID Documents named by repeated --did-doc, as a directory (trusted as given, like hsk verify).
handshake::Result<handshake::DidDirectory> load_did_docs(const Args& a) {
  handshake::DidDirectory directory;
  if (auto it = a.options.find("did-doc"); it != a.options.end()) {
    for (const auto& path : it->second) {
      auto doc = read_json_input(path);
      if (!doc.ok()) return in_file(path, doc.error());
      directory.add(std::move(doc).value());
    }
  }
  HSK_TRY(directory.finish(/*trusted_source=*/true));
  return directory;
}

handshake::Result<std::unique_ptr<handshake::ServiceSetup>> load_setup(const std::string& path) {
  auto setup = handshake::ServiceSetup::load(path);
  if (!setup.ok()) return in_file(path, setup.error());
  return setup;
}

// Appends `statement` to the revocations file at `path` (the JSON array a service's
// `revocations: {files: [...]}` reads), creating it when absent. The new array goes to a temporary
// file in the same directory, which then replaces `path` by rename(2): a service reading the file
// meanwhile sees the old array or the new one, never half of one. Returns the number of
// statements now in the file. Errors: kSchema "revocations.not_array", those of read_json_input,
// kIo "output.write".
handshake::Result<std::size_t> append_revocation(const std::string& path, const Json& statement) {
  Json list = Json::array();
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    auto existing = read_json_input(path);
    if (!existing.ok()) {
      Error e = in_file(path, existing.error());
      e.message += " (a revocations file is a JSON array of statements, [] when it holds none); not changed";
      return e;
    }
    if (!existing->is_array()) {
      return handshake::make_error(handshake::ErrorCode::kSchema, "revocations.not_array",
                                   path + " is not a JSON array of RevocationStatements; not changed");
    }
    list = std::move(existing).value();
  }
  list.push_back(statement);
  const std::string text = canonical(list) + "\n";

  const std::filesystem::path target(path);
  std::string tmp = (target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path()) /
                    ("." + target.filename().string() + ".XXXXXX");
  auto write_error = [&](const std::string& what) {
    return handshake::make_error(handshake::ErrorCode::kIo, "output.write",
                                 "cannot " + what + " " + tmp + ": " + std::strerror(errno) + "; " + path +
                                     " not changed");
  };
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return write_error("create");
  bool ok = ::fchmod(fd, 0644) == 0;  // public statements: a service may run as another user
  for (std::size_t done = 0; ok && done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    auto e = write_error(ok ? "rename" : "write");
    ::unlink(tmp.c_str());
    return e;
  }
  return list.size();
}

bool one_of(const std::string& v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed) {
    if (v == a) return true;
  }
  return false;
}

}  // namespace

// ---- delegate ----------------------------------------------------------------------------------

int cmd_delegate(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk delegate --key ISSUER.key --to DID --capability NAME [--constraints JSON] [--delegable]\n"
      "                    [--depth N] [--ttl SECONDS] [--parent CHAIN.json]\n"
      "\n"
      "Signs a DelegationToken (sub = aud = --to) granting one capability, as the identity in ISSUER.key,\n"
      "and prints the resulting chain as a JSON array (the --parent links, then the new one), ready for\n"
      "hsk request --chain or for the next hsk delegate --parent.\n"
      "  --constraints  JSON object, e.g. '{\"max_invoices\":100}' (default {})\n"
      "  --delegable    the holder may sub-delegate the capability\n"
      "  --depth        sub_delegation_depth_remaining (default: 0 for a root, the parent's - 1 below)\n"
      "  --ttl          lifetime in seconds (default 600; a sub-delegation never outlives its parent)\n"
      "  --parent       the chain to extend (JSON array of signed DelegationTokens, or one token): the\n"
      "                 key must hold its leaf, which must grant the capability as delegable, and the\n"
      "                 new link must not widen its constraints (refused: delegation.widen, ...)\n"
      "Exit 0 printed, 1 refused, 2 usage.\n";
  const std::string cmd = "delegate";
  std::string err;
  auto a = parse_args(argv, {"key", "to", "capability", "constraints", "depth", "ttl", "parent"}, {"delegable"}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  if (!a->positional.empty()) return usage_error(cmd, "unexpected argument " + a->positional[0]);
  const auto key = opt(*a, "key"), to = opt(*a, "to"), name = opt(*a, "capability");
  if (!key || !to || !name) return usage_error(cmd, "--key, --to and --capability are required");
  if (auto e = did_error("to", *to); !e.empty()) return usage_error(cmd, e);
  auto constraints = parse_constraints(*a, err);
  if (!constraints) return usage_error(cmd, err);

  handshake::DelegationSpec spec;
  spec.holder = *to;
  spec.capabilities.push_back({*name, std::move(*constraints), flag(*a, "delegable")});
  if (auto d = opt(*a, "depth")) {
    auto v = parse_count(*d, 1'000'000);
    if (!v) return usage_error(cmd, "--depth must be a non-negative integer");
    spec.depth = *v;
  }
  if (auto t = opt(*a, "ttl")) {
    constexpr std::int64_t kMaxTtl = 100LL * 366 * 24 * 3600;  // keeps exp representable
    auto v = parse_count(*t, kMaxTtl);
    if (!v || *v == 0) return usage_error(cmd, "--ttl must be a positive number of seconds");
    spec.ttl = std::chrono::seconds(*v);
  }

  auto issuer = handshake::load_identity(*key);
  if (!issuer.ok()) return refused(cmd, issuer.error());
  std::vector<Json> parent;
  if (auto p = opt(*a, "parent")) {
    auto chain = load_chain(*p);
    if (!chain.ok()) return refused(cmd, chain.error());
    for (auto& link : *chain) parent.push_back(std::move(link.source));
  }
  auto link = handshake::delegate(*issuer, parent, spec, now_seconds());
  if (!link.ok()) return refused(cmd, link.error());
  Json out = Json::array();
  for (auto& l : parent) out.push_back(std::move(l));
  out.push_back(std::move(link).value());
  std::cout << canonical(out) << "\n";
  return kOk;
}

// ---- request -----------------------------------------------------------------------------------

int cmd_request(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk request --key AGENT.key --chain CHAIN.json --to SERVICE_DID --capability NAME\n"
      "                   [--constraints JSON] [--deployer DID] [--model M] [--instance ID] [--session TOKEN]\n"
      "\n"
      "Prints a signed HandshakeRequest from the identity in AGENT.key to SERVICE_DID for one capability,\n"
      "carrying the delegation chain of CHAIN.json (JSON array of signed DelegationTokens, root first,\n"
      "the leaf held by AGENT.key; or one token) and a fresh 128-bit nonce.\n"
      "  --constraints  the values requested, a JSON object (default {})\n"
      "  --deployer     agent_attestation.deployer (default: the chain root's issuer)\n"
      "  --model        agent_attestation.model (default \"unknown\")\n"
      "  --instance     agent_attestation.instance_id (default \"cli\")\n"
      "  --session      a warm handshake: the session token of an earlier Acceptance\n"
      "Before signing, the chain's leaf must be held by AGENT.key (its sub is the key's DID) and every\n"
      "link must be valid now (nbf and iat <= now <= exp, 60 s of clock skew allowed); otherwise the\n"
      "link at fault is named (chain.not_holder, chain.not_yet_valid, chain.expired).\n"
      "Exit 0 printed, 1 refused, 2 usage.\n";
  const std::string cmd = "request";
  std::string err;
  auto a = parse_args(argv, {"key", "chain", "to", "capability", "constraints", "deployer", "model", "instance", "session"},
                      {}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  if (!a->positional.empty()) return usage_error(cmd, "unexpected argument " + a->positional[0]);
  const auto key = opt(*a, "key"), chain_path = opt(*a, "chain"), to = opt(*a, "to"), name = opt(*a, "capability");
  if (!key || !chain_path || !to || !name) return usage_error(cmd, "--key, --chain, --to and --capability are required");
  if (auto e = did_error("to", *to); !e.empty()) return usage_error(cmd, e);
  const auto deployer = opt(*a, "deployer");
  if (deployer) {
    if (auto e = did_error("deployer", *deployer); !e.empty()) return usage_error(cmd, e);
  }
  auto constraints = parse_constraints(*a, err);
  if (!constraints) return usage_error(cmd, err);

  auto id = handshake::load_identity(*key);
  if (!id.ok()) return refused(cmd, id.error());
  auto chain = load_chain(*chain_path);
  if (!chain.ok()) return refused(cmd, chain.error());
  const auto now = now_seconds();
  if (auto s = handshake::check_held_chain(*chain, id->did_string(), now, {}, *chain_path); !s.ok()) {
    return refused(cmd, s.error());
  }

  handshake::AgentAttestation attestation;
  attestation.deployer = deployer.value_or(chain->front().iss);
  attestation.model = opt(*a, "model").value_or("unknown");
  attestation.instance_id = opt(*a, "instance").value_or("cli");
  std::vector<Json> links;
  for (auto& l : *chain) links.push_back(std::move(l.source));
  const handshake::Agent agent(std::move(id).value(), std::move(links), std::move(attestation));
  const handshake::Capability capability{*name, std::move(*constraints), std::nullopt};
  auto request = agent.request(*to, capability, wall_clock().now(), opt(*a, "session"));
  if (!request.ok()) return refused(cmd, request.error());
  std::cout << canonical(*request) << "\n";
  return kOk;
}

// ---- service verify ----------------------------------------------------------------------------

namespace {

int cmd_service_verify(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk service verify --config SERVICE.yaml [REQUEST|-]\n"
      "       hsk service verify --config SERVICE.yaml --lines\n"
      "\n"
      "Verifies a HandshakeRequest (FILE, or standard input) as the service SERVICE.yaml configures\n"
      "(identity, trust_roots, did_documents, revocations, policy, ...; see config.hpp), at the current\n"
      "time, and prints its signed answer, an Acceptance or a Refusal, as canonical JSON.\n"
      "Replay protection only spans runs when the configuration uses a sqlite or postgres nonce_store.\n"
      "  --lines  one request per line of standard input, one answer per line of standard output\n"
      "           (flushed), until the input ends; exit 0 then\n"
      "Exit 0 accepted; 3 refused (\"refused: <code>: <detail>\" on stderr); 1 configuration or input\n"
      "error; 2 usage.\n";
  const std::string cmd = "service verify";
  std::string err;
  auto a = parse_args(argv, {"config"}, {"lines"}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  const auto config = opt(*a, "config");
  if (!config) return usage_error(cmd, "--config is required");
  if (a->positional.size() > 1) return usage_error(cmd, "expected at most one REQUEST file");
  const bool lines = flag(*a, "lines");
  if (lines && !a->positional.empty()) return usage_error(cmd, "--lines reads standard input, not a file");

  auto setup = load_setup(*config);
  if (!setup.ok()) return refused(cmd, setup.error());
  if (lines) {
    auto service = (*setup)->make_service(wall_clock());
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      const handshake::Decision d = service->verify(std::string_view(line));
      if (d.response.is_null()) {
        // No signed answer can be given (the key cannot sign now): an unsigned error line.
        std::cout << canonical(handshake::Json{{"error", {{"code", "service_unavailable"},
                                                         {"message", d.refusal ? d.refusal->detail : std::string()}}}})
                  << std::endl;
        continue;
      }
      std::cout << canonical(d.response) << std::endl;
    }
    return kOk;
  }
  auto text = read_input(a->positional.empty() ? std::nullopt : std::optional(a->positional[0]));
  if (!text.ok()) return refused(cmd, text.error());
  auto service = (*setup)->make_service(wall_clock());
  const handshake::Decision d = service->verify(std::string_view(*text));
  if (d.response.is_null()) {
    std::cerr << "hsk service verify: service_unavailable: " << (d.refusal ? d.refusal->detail : std::string()) << "\n";
    return kRefused;
  }
  std::cout << canonical(d.response) << "\n";
  if (d.accepted) return kOk;

  // The line names the code and detail the signed Refusal carries (already printable ASCII).
  std::string line = "refused";
  if (auto reason = d.response.find("reason"); reason != d.response.end() && reason->is_object()) {
    line += ": " + reason->value("code", std::string("?"));
    if (auto detail = reason->find("detail"); detail != reason->end() && detail->is_string()) {
      line += ": " + detail->get<std::string>();
    }
  }
  std::cerr << line << "\n";
  return kServiceRefused;
}

int cmd_service_revoke(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk service revoke --config SERVICE.yaml STATEMENT.json|-\n"
      "\n"
      "Adds a signed RevocationStatement (hsk revoke) to the revocation store SERVICE.yaml configures\n"
      "(revocations.sqlite or revocations.postgres), after checking it as the service would (schema,\n"
      "the issuer's signature, its authority). Every service instance sharing that store refuses the\n"
      "revoked delegation or principal from then on (PostgreSQL: at once, through LISTEN/NOTIFY).\n"
      "Exit 0 stored; 1 refused or no store configured; 2 usage.\n";
  const std::string cmd = "service revoke";
  std::string err;
  auto a = parse_args(argv, {"config"}, {}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  const auto config = opt(*a, "config");
  if (!config) return usage_error(cmd, "--config is required");
  if (a->positional.size() != 1) return usage_error(cmd, "expected one STATEMENT file (or -)");
  auto setup = load_setup(*config);
  if (!setup.ok()) return refused(cmd, setup.error());
  if ((*setup)->revocation_store() == nullptr) {
    return refused(cmd, handshake::make_error(handshake::ErrorCode::kInvalidArgument, "config.invalid",
                                              *config + " configures no revocation store (revocations.sqlite or "
                                                        "revocations.postgres)"));
  }
  auto statement = read_json_input(a->positional[0]);
  if (!statement.ok()) return refused(cmd, in_file(a->positional[0], statement.error()));
  if (auto st = (*setup)->revocation_store()->add_statement(*statement); !st.ok()) {
    return refused(cmd, in_file(a->positional[0], st.error()));
  }
  std::cout << "stored " << statement->value("id", std::string("?")) << "\n";
  return kOk;
}

}  // namespace

int cmd_service_check(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk service check --config SERVICE.yaml     (also: hsk service --check --config SERVICE.yaml)\n"
      "\n"
      "Loads SERVICE.yaml and everything it names (key, DID Documents, capabilities, revocations, stores)\n"
      "and prints one line per thing checked: ok, warning or error (a trust root whose key is not known,\n"
      "a key that does not sign, ...). Exit 0 when there is no error, 1 otherwise, 2 usage.\n";
  const std::string cmd = "service check";
  std::string err;
  auto a = parse_args(argv, {"config"}, {"check"}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  const auto config = opt(*a, "config");
  if (!config) return usage_error(cmd, "--config is required");
  if (!a->positional.empty()) return usage_error(cmd, "unexpected argument " + a->positional[0]);
  handshake::CheckReport report;
  (void)handshake::check_service_config(*config, report);
  return report.print(stdout);
}

int cmd_service(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk service verify --config SERVICE.yaml [REQUEST|-|--lines]\n"
      "       hsk service revoke --config SERVICE.yaml STATEMENT.json|-\n"
      "       hsk service check --config SERVICE.yaml\n"
      "\n"
      "  verify   verify a HandshakeRequest as the configured service; prints the signed answer\n"
      "  revoke   add a signed RevocationStatement to the configured revocation store\n"
      "  check    load the configuration and everything it names; one line per problem\n"
      "(hsk service verify --help, hsk service revoke --help, hsk service check --help for details)\n";
  if (argv.empty()) return usage_error("service", "expected a subcommand: verify, revoke or check");
  if (argv[0] == "--help" || argv[0] == "-h") return std::cout << kHelp, kOk;
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (argv[0] == "verify") return cmd_service_verify(rest);
  if (argv[0] == "revoke") return cmd_service_revoke(rest);
  if (argv[0] == "check") return cmd_service_check(rest);
  if (argv[0] == "--check") return cmd_service_check(argv);
  return usage_error("service", "unknown subcommand '" + argv[0] + "'");
}

// ---- receipt issue | verify --------------------------------------------------------------------

namespace {

int cmd_receipt_issue(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk receipt issue --config SERVICE.yaml --acceptance ACC.json --result RESULT.json\n"
      "                         [--status ok|error|partial] [--hash sha-256|sha3-256] [--upstream RC_ID]...\n"
      "\n"
      "Prints the signed Receipt (§12) of an action the service authorized: ACC.json must be an\n"
      "Acceptance signed by the key of SERVICE.yaml's identity; the receipt commits to RESULT.json\n"
      "(any JSON) by result_hash = H(JCS(result)).\n"
      "  --status    the action's outcome (default ok)\n"
      "  --hash      result_hash algorithm (default sha-256)\n"
      "  --upstream  id of a receipt this action consumed (repeatable): the receipt DAG\n"
      "Exit 0 printed, 1 refused, 2 usage.\n";
  const std::string cmd = "receipt issue";
  std::string err;
  auto a = parse_args(argv, {"config", "acceptance", "result", "status", "hash", "upstream"}, {}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  if (!a->positional.empty()) return usage_error(cmd, "unexpected argument " + a->positional[0]);
  const auto config = opt(*a, "config"), acc_path = opt(*a, "acceptance"), result_path = opt(*a, "result");
  if (!config || !acc_path || !result_path) return usage_error(cmd, "--config, --acceptance and --result are required");
  const std::string status = opt(*a, "status").value_or("ok");
  if (!one_of(status, {"ok", "error", "partial"})) return usage_error(cmd, "--status must be ok, error or partial");
  handshake::ReceiptOptions options;
  options.hash_alg = opt(*a, "hash").value_or("sha-256");
  if (!one_of(options.hash_alg, {"sha-256", "sha3-256"})) return usage_error(cmd, "--hash must be sha-256 or sha3-256");
  if (auto it = a->options.find("upstream"); it != a->options.end()) options.upstream_receipts = it->second;

  auto setup = load_setup(*config);
  if (!setup.ok()) return refused(cmd, setup.error());
  auto acc_json = read_json_input(*acc_path);
  if (!acc_json.ok()) return refused(cmd, in_file(*acc_path, acc_json.error()));
  auto acceptance = handshake::Acceptance::from_json(*acc_json);
  if (!acceptance.ok()) return refused(cmd, in_file(*acc_path, acceptance.error()));
  const handshake::Identity& identity = (*setup)->identity();
  if (auto s = handshake::verify_message_signature(*acc_json, identity.public_key()); !s.ok()) {
    return refused(cmd, in_file(*acc_path + ": not signed by " + identity.did_string(), s.error()));
  }
  auto result = read_json_input(*result_path);
  if (!result.ok()) return refused(cmd, in_file(*result_path, result.error()));
  auto receipt = handshake::issue_receipt(identity, *acceptance, *result, status, now_seconds(), options);
  if (!receipt.ok()) return refused(cmd, receipt.error());
  std::cout << canonical(*receipt) << "\n";
  return kOk;
}

int cmd_receipt_verify(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk receipt verify [--did-doc FILE]... [--result RESULT.json | --mcp-result CALL_RESULT.json]\n"
      "                          [--dag FILE]... RECEIPT.json\n"
      "\n"
      "Verifies a Receipt: schema and its issuer's signature, with the key the issuer held at\n"
      "executed_at, taken from the --did-doc files (trusted as given).\n"
      "  --result  also check that result_hash commits to this JSON result\n"
      "  --mcp-result  the same for an MCP tools/call result object as the server returned it\n"
      "            ({content, structuredContent?, isError?, _meta?}): the receipt must commit to what\n"
      "            the MCP service gate commits to (structuredContent when present, else the result\n"
      "            without the gate's own _meta members)\n"
      "  --dag     receipts (one per file, or a JSON array of them) the receipt's upstream_receipts\n"
      "            refer to: the whole DAG reachable from RECEIPT.json must be present, verify and\n"
      "            have no cycle\n"
      "Exit 0 valid (\"valid: Receipt <id> ...\"), 1 invalid (reason on stderr), 2 usage.\n";
  const std::string cmd = "receipt verify";
  std::string err;
  auto a = parse_args(argv, {"did-doc", "result", "mcp-result", "dag"}, {}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  if (a->positional.size() != 1) return usage_error(cmd, "expected exactly one RECEIPT file");
  if (opt(*a, "result") && opt(*a, "mcp-result")) return usage_error(cmd, "give --result or --mcp-result, not both");
#ifndef HSK_WITH_MCP
  if (opt(*a, "mcp-result")) return usage_error(cmd, "--mcp-result needs hsk built with the MCP adapter (handshake::mcp)");
#endif
  const std::string& receipt_path = a->positional[0];

  auto directory = load_did_docs(*a);
  if (!directory.ok()) return refused(cmd, directory.error());
  const handshake::DirectoryKeyResolver keys(std::move(directory).value());
  auto receipt = read_json_input(receipt_path);
  if (!receipt.ok()) return refused(cmd, in_file(receipt_path, receipt.error()));
  std::optional<Json> result;
  if (auto r = opt(*a, "result")) {
    auto j = read_json_input(*r);
    if (!j.ok()) return refused(cmd, in_file(*r, j.error()));
    result = std::move(j).value();
  }
#ifdef HSK_WITH_MCP
  if (auto r = opt(*a, "mcp-result")) {
    auto j = read_json_input(*r);
    if (!j.ok()) return refused(cmd, in_file(*r, j.error()));
    // A whole JSON-RPC response is a common slip: the receipt commits to its "result" member.
    if (j->is_object() && j->contains("jsonrpc")) {
      return refused(cmd, handshake::make_error(handshake::ErrorCode::kInvalidArgument, "mcp.not_result",
                                                *r + " is a JSON-RPC message; give its \"result\" object"));
    }
    if (!j->is_object() || !j->contains("content")) {
      return refused(cmd, handshake::make_error(handshake::ErrorCode::kInvalidArgument, "mcp.not_result",
                                                *r + " is not an MCP tools/call result (an object with \"content\")"));
    }
    // The subject the service gate hashed (handshake::mcp::receipt_subject), not the raw object.
    result = handshake::mcp::receipt_subject(*j);
  }
#endif
  if (auto s = handshake::verify_receipt(*receipt, keys, result); !s.ok()) return refused(cmd, s.error());
  const auto parsed = handshake::Receipt::from_json(*receipt);
  if (!parsed.ok()) return refused(cmd, parsed.error());  // verify_receipt parsed it already

  std::string verdict = "valid: Receipt " + parsed->id + " signed by " + parsed->iss;
  if (result) verdict += ", result matches";
  if (auto it = a->options.find("dag"); it != a->options.end()) {
    std::map<std::string, Json> receipts{{parsed->id, *receipt}};
    for (const auto& path : it->second) {
      auto doc = read_json_input(path);
      if (!doc.ok()) return refused(cmd, in_file(path, doc.error()));
      std::vector<Json> items;
      if (doc->is_array()) {
        for (auto& r : *doc) items.push_back(std::move(r));
      } else {
        items.push_back(std::move(doc).value());
      }
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string where = path + (doc->is_array() ? "[" + std::to_string(i) + "]" : "");
        auto r = handshake::Receipt::from_json(items[i]);
        if (!r.ok()) return refused(cmd, in_file(where, r.error()));
        auto [pos, inserted] = receipts.emplace(r->id, items[i]);
        if (!inserted && pos->second != items[i]) {
          return refused(cmd, handshake::make_error(handshake::ErrorCode::kInvalidArgument, "receipt.duplicate",
                                                 where + ": another receipt with id " + r->id + " was given"));
        }
      }
    }
    if (auto s = handshake::verify_receipt_dag(parsed->id, receipts, keys); !s.ok()) return refused(cmd, s.error());
    verdict += ", upstream DAG verified";
  }
  std::cout << verdict << "\n";
  return kOk;
}

}  // namespace

int cmd_receipt(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk receipt issue|verify [options]\n"
      "\n"
      "  issue    sign the Receipt of an accepted request's action, as the configured service\n"
      "  verify   verify a Receipt, its result commitment and its upstream DAG\n"
      "(hsk receipt issue --help, hsk receipt verify --help for details)\n";
  if (argv.empty()) return usage_error("receipt", "expected a subcommand: issue or verify");
  if (argv[0] == "--help" || argv[0] == "-h") return std::cout << kHelp, kOk;
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (argv[0] == "issue") return cmd_receipt_issue(rest);
  if (argv[0] == "verify") return cmd_receipt_verify(rest);
  return usage_error("receipt", "unknown subcommand '" + argv[0] + "'");
}

// ---- revoke ------------------------------------------------------------------------------------

int cmd_revoke(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk revoke --key ISSUER.key (--delegation DT_ID | --principal DID)\n"
      "                  [--reason key_compromise|policy_change|principal_terminated|rotation|unspecified]\n"
      "                  [--effective-at RFC3339] [--append REVOCATIONS.json]\n"
      "\n"
      "Prints a RevocationStatement (§11) signed by the identity in ISSUER.key, for a service's\n"
      "revocations file (a JSON array of statements). A delegation is revoked only by its own\n"
      "issuer; a principal by itself or by a revocation authority the service configures.\n"
      "  --reason        default unspecified\n"
      "  --effective-at  when the revocation takes effect (default: its iat, now)\n"
      "  --append        also add the statement to this revocations file (the JSON array that\n"
      "                  service.yaml's revocations: {files: [...]} reads), created (mode 0644) when\n"
      "                  absent; a file that is not a JSON array is refused and left as it was. The\n"
      "                  file is replaced atomically (temporary file in its directory, then rename)\n"
      "Exit 0 printed, 1 refused, 2 usage.\n";
  const std::string cmd = "revoke";
  std::string err;
  auto a = parse_args(argv, {"key", "delegation", "principal", "reason", "effective-at", "append"}, {}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  if (!a->positional.empty()) return usage_error(cmd, "unexpected argument " + a->positional[0]);
  const auto key = opt(*a, "key"), delegation = opt(*a, "delegation"), principal = opt(*a, "principal");
  if (!key) return usage_error(cmd, "--key is required");
  if (delegation.has_value() == principal.has_value()) {
    return usage_error(cmd, "exactly one of --delegation and --principal is required");
  }
  if (delegation && !handshake::ids::is_id(*delegation, handshake::ids::kDelegationPrefix)) {
    return usage_error(cmd, "--delegation must be a delegation id (dt_ + ULID)");
  }
  if (principal) {
    if (auto e = did_error("principal", *principal); !e.empty()) return usage_error(cmd, e);
  }
  const std::string reason = opt(*a, "reason").value_or("unspecified");
  if (!one_of(reason, {"key_compromise", "policy_change", "principal_terminated", "rotation", "unspecified"})) {
    return usage_error(cmd, "--reason must be key_compromise, policy_change, principal_terminated, rotation or unspecified");
  }
  std::optional<handshake::Timestamp> effective_at;
  if (auto t = opt(*a, "effective-at")) {
    auto parsed = handshake::time::parse_rfc3339(*t);
    if (!parsed.ok()) return usage_error(cmd, "--effective-at: " + parsed.error().to_string());
    effective_at = *parsed;
  }

  auto issuer = handshake::load_identity(*key);
  if (!issuer.ok()) return refused(cmd, issuer.error());
  auto statement = handshake::make_revocation(*issuer, delegation, principal, reason, now_seconds(), effective_at);
  if (!statement.ok()) return refused(cmd, statement.error());
  if (auto file = opt(*a, "append")) {
    auto count = append_revocation(*file, *statement);
    if (!count.ok()) return refused(cmd, count.error());
    std::cerr << "hsk revoke: appended " << statement->value("id", std::string("?")) << " to " << *file << " ("
              << *count << " statement" << (*count == 1 ? "" : "s") << ")\n";
  }
  std::cout << canonical(*statement) << "\n";
  return kOk;
}

// ---- session-key -------------------------------------------------------------------------------

int cmd_session_key(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk session-key --out FILE [--force]\n"
      "\n"
      "Writes a new random 32-byte session ticket key (mode 0600) and prints its key id. Services\n"
      "that list the same key files (session_keys: [current.key, previous.key] in service.yaml)\n"
      "accept each other's warm sessions; the first file seals new tickets, all of them open.\n"
      "To rotate: generate a key, list it first and the old one second for one session ttl, then\n"
      "drop the old one.\n"
      "  --out    key file to create; an existing file is never replaced unless --force\n"
      "Exit 0 written, 1 refused, 2 usage.\n";
  const std::string cmd = "session-key";
  std::string err;
  auto a = parse_args(argv, {"out"}, {"force"}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  if (!a->positional.empty()) return usage_error(cmd, "unexpected argument " + a->positional[0]);
  const auto out = opt(*a, "out");
  if (!out) return usage_error(cmd, "--out is required");
  auto id = handshake::write_session_key_file(*out, flag(*a, "force"));
  if (!id.ok()) return refused(cmd, id.error());
  std::cout << *id << "\n";
  return kOk;
}

}  // namespace hsk::cli
