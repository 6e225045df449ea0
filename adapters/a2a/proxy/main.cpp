// hsk-a2a-proxy: the Handshake extension in front of an unchanged A2A agent (--role service) or
// behind an unchanged A2A client (--role agent), over A2A JSON-RPC on HTTP, v1.0 and v0.3, with
// SSE streaming. This file only wires: the relay is relay.cpp (on the net relay kit), the protocol
// the A2A adapter's gates. Protocol messages only on the wire; logs on stderr.
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "handshake/command_line.hpp"
#include "handshake/config.hpp"
#include "handshake/operations.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/storage/receipts.hpp"
#include "relay.hpp"
#ifdef HSK_A2A_PROXY_AP2
#include "handshake/ap2/payment_skill.hpp"
#endif

namespace hsk::a2a_proxy {

void log(const std::string& line) { std::cerr << "hsk-a2a-proxy: " << line << std::endl; }

namespace {

const char* kUsage =
    "usage: hsk-a2a-proxy --role service --config SERVICE.yaml --skills SKILLS.yaml --listen HOST:PORT --upstream URL\n"
    "                     [--did-doc FILE] [--optional] [--max-body-bytes N] [--receipts FILE|--receipts-db DB]\n"
    "                     [--ap2-skill ID [--ap2-mapping FILE] [--ap2-issuer-key FILE]]\n"
    "       hsk-a2a-proxy --role agent --key AGENT.key --chain CHAIN.json --listen HOST:PORT --upstream URL\n"
    "                     [--skill ID] [--service-did DID] [--service-did-doc FILE] [--receipts FILE|--receipts-db DB]\n"
    "                     [--deployer DID] [--model NAME] [--instance ID] [--ap2-skill ID]\n"
    "\n"
    "--role service: serves the upstream agent's card (/.well-known/agent-card.json) with the Handshake\n"
    "extension declared (required unless --optional) and checks every message sent to it (docs/a2a.md):\n"
    "a refused message becomes a rejected task carrying the signed Refusal; an accepted one is forwarded\n"
    "and its task or reply gets the Acceptance and a signed receipt. With --ap2-skill, that skill is a\n"
    "payment: its constraint values come from the AP2 payment mandate in the message (v0.1, or a v0.2\n"
    "SD-JWT verified with --ap2-issuer-key, an EC P-256 JWK or PEM public key; docs/ap2.md mapping), and\n"
    "its receipt commits to the mandate and the merchant's PaymentReceipt (both carried beside it).\n"
    "--role agent: in front of an A2A client; signs a HandshakeRequest into every message (skill from\n"
    "the message's metadata or --skill), activates the extension, checks acceptances, refusals and\n"
    "receipts (an answer that does not verify becomes a JSON-RPC error), and appends verified receipts\n"
    "to --receipts (JSON Lines); with --ap2-skill it checks that skill's receipts against the mandate it\n"
    "sent and the PaymentReceipt it got. Both print 'listening on HOST:PORT' and stop on SIGINT/SIGTERM.\n"
    "TLS: --tls-cert FILE --tls-key FILE serve https (TLS 1.2+, key owner-only; SIGHUP reloads both),\n"
    "--tls-client-ca FILE requires client certificates from that CA; an https --upstream is verified\n"
    "against the system store or --ca-file FILE, --client-cert FILE --client-key FILE for mutual TLS.\n"
    "--receipts FILE appends receipts (JSON Lines; the service: those it issued), --receipts-db keeps them\n"
    "in a SQLite file or a PostgreSQL database (postgresql://...; password from --receipts-db-password-file\n"
    "FILE, owner-only, or PGPASSFILE). An option of the other role is refused. --version prints the version.\n"
    "Operations: GET /metrics (Prometheus), /healthz and /readyz on the listener (also on --metrics-listen\n"
    "HOST:PORT when given); --audit-log FILE writes one JSON line per decision (- for stderr; reopened on\n"
    "SIGHUP). SIGHUP also reloads the configuration, the skill map and the TLS pair; SIGTERM drains.\n"
    "--check loads everything the role would, fetches the upstream's Agent Card once (service: skills the\n"
    "map names that the card lacks are warnings; agent: the card is checked as the role would take it)\n"
    "and prints one line per thing checked; exit 0 without errors, 1 with.\n";


// Every option, with the roles it belongs to.
const handshake::CommandLineRules& rules() {
  static const handshake::CommandLineRules r = [] {
    handshake::CommandLineRules c;
    const std::vector<std::string> service{"service"}, agent{"agent"}, both;
    for (const char* n : {"config", "skills", "did-doc", "ap2-mapping", "ap2-issuer-key"}) {
      c.options.push_back({n, true, service});
    }
    c.options.push_back({"optional", false, service});
    c.options.push_back({"check", false, both});
    for (const char* n : {"key", "chain", "skill", "service-did", "service-did-doc", "deployer", "model", "instance"}) {
      c.options.push_back({n, true, agent});
    }
    for (const char* n : {"role", "listen", "upstream", "receipts", "receipts-db", "receipts-db-password-file", "ap2-skill",
                          "max-body-bytes", "tls-cert", "tls-key", "tls-client-ca", "ca-file", "client-cert", "client-key",
                          "audit-log", "metrics-listen"}) {
      c.options.push_back({n, true, both});
    }
    return c;
  }();
  return r;
}

int usage(const std::string& msg) {
  std::cerr << "hsk-a2a-proxy: " << msg << " (see --help)\n";
  return 2;
}

handshake::Result<Json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return handshake::make_error(handshake::ErrorCode::kIo, "a2a.read", "cannot read " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return handshake::json::parse_strict(text);
}

#ifdef HSK_A2A_PROXY_AP2
// The evidence of the payment skill's tasks (payment_skill.hpp). The service side has the config
// (currencies, issuer key for the v0.2 terms the payment receipt is matched against); the agent
// side only hashes what it sent and got.
a2a::EvidenceFn payment_evidence(std::string skill, std::optional<handshake::ap2::PaymentSkillConfig> config) {
  return [skill = std::move(skill), config = std::move(config)](std::string_view s, const Json& message, const Json& artifacts,
                                                                 a2a::State state)
             -> std::optional<handshake::Result<a2a::ReceiptEvidence>> {
    namespace ap2 = handshake::ap2;
    if (s != skill) return std::nullopt;
    auto evidence = ap2::evidence_in_task(message, artifacts);
    if (!evidence.ok()) return handshake::Result<a2a::ReceiptEvidence>(evidence.error());
    a2a::ReceiptEvidence out;
    if (!config) {
      auto result = ap2::payment_result(*evidence);
      if (!result.ok()) return handshake::Result<a2a::ReceiptEvidence>(result.error());
      out.result = std::move(result).value();
      return handshake::Result<a2a::ReceiptEvidence>(std::move(out));
    }
    std::optional<ap2::PaymentTerms> terms;
    if (auto p = ap2::payment_in_message(message, *config, handshake::SystemClock().now()); p.ok()) terms = p->terms;
    auto content = ap2::payment_receipt_content(*evidence, config->map.currencies(), terms);
    if (!content.ok()) return handshake::Result<a2a::ReceiptEvidence>(content.error());
    out.result = std::move(content->result);
    out.status = state == a2a::State::kCompleted ? content->status : "error";
    out.summary = std::move(content->summary);
    out.carried = std::move(content->carried);
    return handshake::Result<a2a::ReceiptEvidence>(std::move(out));
  };
}
#endif

int run(int argc, char** argv) {
  auto parsed = handshake::CommandLine::parse(std::vector<std::string>(argv + 1, argv + argc), rules());
  if (!parsed.ok()) return usage(parsed.error().message);
  const handshake::CommandLine& a = *parsed;
  if (a.help()) return std::cout << kUsage, 0;
  if (a.version()) return std::cout << handshake::version_line("hsk-a2a-proxy") << "\n", 0;
  const auto role = a.get("role");
  if (!role || (*role != "service" && *role != "agent")) return usage("--role service or --role agent is required");
  if (auto st = a.check_role(*role); !st.ok()) return usage(st.error().message);
  if (a.has("check")) return run_check(a, *role);
  const auto listen = a.get("listen"), upstream_url = a.get("upstream");
  if (!listen || !upstream_url) return usage("--listen HOST:PORT and --upstream URL are required");
  auto host_port = handshake::parse_listen(*listen);
  if (!host_port.ok()) return usage(host_port.error().message);
  const std::string host = host_port->first;
  const int port = host_port->second;
  auto upstream = handshake::net::Url::parse(*upstream_url);
  if (!upstream.ok()) return usage("--upstream: " + upstream.error().message);
  handshake::net::ClientOptions upstream_client;
  auto upstream_tls = handshake::net::tls_client_options(a.get("ca-file"), a.get("client-cert"), a.get("client-key"));
  if (!upstream_tls.ok()) return usage(upstream_tls.error().message);
  upstream_client.tls = std::move(upstream_tls).value();
  // The TLS options (files, key permissions) are checked now, not at the first request.
  if (auto probe = handshake::net::Client::open(*upstream, upstream_client); !probe.ok()) {
    return log("--upstream: " + probe.error().message), 2;
  }
  auto listen_tls = handshake::net::tls_server_options(a.get("tls-cert"), a.get("tls-key"), a.get("tls-client-ca"));
  if (!listen_tls.ok()) return usage(listen_tls.error().message);
  std::shared_ptr<handshake::net::TlsCredentials> credentials;
  auto listener = handshake::net::make_server(*listen_tls, &credentials);
  if (!listener.ok()) return log("--tls-cert/--tls-key: " + listener.error().message), 2;
  std::size_t max_body = 1024 * 1024;
  if (auto m = a.get("max-body-bytes")) {
    try {
      max_body = static_cast<std::size_t>(std::stoul(*m));
    } catch (...) {
      return usage("--max-body-bytes must be a number");
    }
  }
  auto opened = handshake::storage::open_receipt_option(a.get("receipts"), a.get("receipts-db"),
                                                        a.get("receipts-db-password-file"));
  if (!opened.ok()) {
    if (opened.error().reason == "usage") return usage(opened.error().message);
    return log("receipts: " + opened.error().to_string()), 1;
  }
  std::unique_ptr<handshake::ReceiptStore> receipts = std::move(opened).value();
  auto operations = handshake::Operations::open(a.get("audit-log"));
  if (!operations.ok()) return log("--audit-log: " + operations.error().to_string()), 1;
  handshake::Operations& ops = **operations;
  if (auto l = a.get("metrics-listen")) {
    if (auto st = ops.listen(*l); !st.ok()) {
      return st.error().reason == "listen" ? usage(st.error().message) : (log("--metrics-listen: " + st.error().to_string()), 1);
    }
  }

  handshake::SystemClock clock;
  std::unique_ptr<handshake::ServiceSetup> setup;
  std::unique_ptr<handshake::Service> service;
  std::unique_ptr<a2a::ServiceGate> service_gate;
  std::unique_ptr<a2a::AgentGate> agent_gate;
  std::unique_ptr<Proxy> proxy;

  if (*role == "service") {
    const auto config = a.get("config"), skills_path = a.get("skills");
    if (!config || !skills_path) return usage("--role service needs --config and --skills");
    auto loaded = handshake::ServiceSetup::load(*config);
    if (!loaded.ok()) return log(loaded.error().to_string()), 1;
    setup = std::move(loaded).value();
    auto skills = handshake::ActionMap::load(*skills_path, a2a::skill_map_format());
    if (!skills.ok()) return log(skills.error().to_string()), 1;
    service = setup->make_service(clock);
    setup->add_checks(ops.readiness);
    setup->add_metrics(ops.registry);
    a2a::GateOptions go;
    go.observer = ops.observer.get();
    go.required = !a.has("optional");
    if (auto d = a.get("did-doc")) {
      auto doc = read_json_file(*d);
      if (!doc.ok()) return log(doc.error().to_string()), 1;
      go.did_document = std::move(doc).value();
    } else if (setup->identity().key_version() == 1) {
      handshake::DidDocumentOptions o;
      o.version_time = std::chrono::floor<std::chrono::seconds>(clock.now()) - std::chrono::hours(24);
      if (auto doc = handshake::make_did_document(setup->identity(), o); doc.ok()) go.did_document = *doc;
    }
    if (auto ap2_skill = a.get("ap2-skill")) {
#ifdef HSK_A2A_PROXY_AP2
      auto payment = handshake::ap2::load_payment_skill_config(a.get("ap2-mapping"), a.get("ap2-issuer-key"));
      if (!payment.ok()) return log(payment.error().to_string()), 1;
      go.derive = [skill = *ap2_skill, payment = *payment, &clock](const handshake::ActionRule& rule, const Json& message)
          -> std::optional<handshake::Result<handshake::ActionBinding>> {
        if (rule.action != skill) return std::nullopt;
        return handshake::ap2::payment_binding(message, payment, clock.now());
      };
      go.evidence = payment_evidence(*ap2_skill, std::move(payment).value());
#else
      (void)ap2_skill;
      return usage("this hsk-a2a-proxy was built without the AP2 adapter");
#endif
    }
    if (receipts) {
      go.on_receipt = [store = receipts.get()](const Json& receipt, const handshake::Decision& decision) {
        const Json chain = decision.request ? decision.request->source.value("delegation_chain", Json()) : Json();
        if (auto st = store->put_receipt(receipt, Json(), receipt.value("action", std::string()), chain); !st.ok()) {
          log("cannot keep receipt: " + st.error().to_string());
        }
      };
      go.on_refusal = [store = receipts.get()](const handshake::Decision& d) {
        if (auto st = store->put_refusal(d.response, ""); !st.ok()) log("cannot keep refusal: " + st.error().to_string());
      };
    }
    service_gate = std::make_unique<a2a::ServiceGate>(*service, std::move(skills).value(), std::move(go));
    proxy = service_proxy(*service_gate);
  } else {
    const auto key = a.get("key"), chain_path = a.get("chain");
    if (!key || !chain_path) return usage("--role agent needs --key and --chain");
    auto identity = handshake::load_identity(*key);
    if (!identity.ok()) return log(identity.error().to_string()), 1;
    auto chain = read_json_file(*chain_path);
    if (!chain.ok() || !chain->is_array() || chain->empty()) return log("--chain must be a JSON array of DelegationTokens"), 1;
    std::vector<Json> links(chain->begin(), chain->end());
    handshake::AgentAttestation att;
    att.deployer = a.get("deployer").value_or(links.front().value("iss", std::string()));
    att.model = a.get("model").value_or("unknown");
    att.instance_id = a.get("instance").value_or("hsk-a2a-proxy");
    a2a::AgentGateOptions go;
    go.default_skill = a.get("skill");
    go.log = [](const std::string& line) { log(line); };
    go.service_did = a.get("service-did");
    if (auto d = a.get("service-did-doc")) {
      auto doc = read_json_file(*d);
      if (!doc.ok()) return log(doc.error().to_string()), 1;
      go.service_did_document = std::move(doc).value();
    }
    if (receipts) {
      go.on_receipt = [store = receipts.get(), chain = *chain](const Json& receipt, const Json& acceptance) {
        if (auto st = store->put_receipt(receipt, acceptance, receipt.value("action", std::string()), chain); !st.ok()) {
          log("cannot keep receipt: " + st.error().to_string());
        }
      };
    }
    if (auto ap2_skill = a.get("ap2-skill")) {
#ifdef HSK_A2A_PROXY_AP2
      // Only the evidence: the agent recomputes the receipt's result from what it sent and got.
      go.evidence = payment_evidence(*ap2_skill, std::nullopt);
#else
      (void)ap2_skill;
      return usage("this hsk-a2a-proxy was built without the AP2 adapter");
#endif
    }
    ops.readiness.add("signing_key", handshake::ops::signing_key_check(*identity));
    agent_gate = std::make_unique<a2a::AgentGate>(
        handshake::Agent(std::move(identity).value(), std::move(links), std::move(att)), clock, std::move(go));
    proxy = agent_proxy(*agent_gate);
  }

  httplib::Server& server = **listener;
  proxy->upstream = *upstream;
  proxy->upstream_client = upstream_client;
  proxy->max_body = max_body;
  handshake::net::mount_ops(server, ops.endpoints());  // before the proxy's catch-all routes
  proxy->serve(server);  // before binding: the limits set socket options of the listening socket
  // The listener (plain, or TLS with its certificate reloaded on SIGHUP) until SIGINT/SIGTERM.
  handshake::net::ServeOptions serve;
  serve.host = host;
  serve.port = port;
  serve.on_listening = [&](int bound) {
    proxy->self_url = std::string(*listen_tls ? "https://" : "http://") + host + ":" + std::to_string(bound) + "/";
    std::cout << "listening on " << host << ":" << bound << std::endl;
  };
  // SIGHUP: the service's configuration and skill map (checked whole before anything changes),
  // the TLS pair, the audit log.
  serve.on_reload = [&]() -> handshake::Status {
    // The audit log first: rotation must not wait for a configuration that is being fixed.
    const handshake::Status audit = ops.reopen();
    if (setup) {
      HSK_ASSIGN_OR_RETURN(auto skills, handshake::ActionMap::load(*a.get("skills"), a2a::skill_map_format()));
      HSK_TRY(setup->reload(service.get()));
      service_gate->set_skills(std::move(skills));
    }
    if (credentials) HSK_TRY(handshake::net::reload(*credentials));
    return audit;
  };
  serve.log = [](const std::string& line) { log(line); };
  return handshake::net::serve_until_signal(server, serve);
}

}  // namespace
}  // namespace hsk::a2a_proxy

int main(int argc, char** argv) {
  using namespace hsk::a2a_proxy;
  (void)handshake::net::block_signals();  // before any thread starts (http.hpp)
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    log(std::string("internal error: ") + e.what());
    return 70;
  }
}
