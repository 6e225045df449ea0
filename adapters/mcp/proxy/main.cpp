// hsk-mcp-proxy: the Handshake MCP adapter as a drop-in process, one binary, two roles.
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <variant>

#include "handshake/agent.hpp"
#include "handshake/command_line.hpp"
#include "handshake/config.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/operations.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/mcp/agent_gate.hpp"
#include "handshake/storage/receipts.hpp"
#include "handshake/mcp/envelope.hpp"
#include "handshake/mcp/service_gate.hpp"
#include "handshake/net/registry_client.hpp"
#include "oauth_gateway.hpp"
#include "relay.hpp"

namespace hsk::mcp_proxy {

namespace mcp = handshake::mcp;

namespace {

std::string g_role = "proxy";

constexpr const char* kHelp =
    "usage: hsk-mcp-proxy --role service --config SERVICE.yaml --tools TOOLS.yaml [options] -- COMMAND [ARGS...]\n"
    "       hsk-mcp-proxy --role service --config SERVICE.yaml --tools TOOLS.yaml [options] --listen HOST:PORT --upstream URL\n"
    "       hsk-mcp-proxy --role agent --key AGENT.key --chain CHAIN.json [options] -- COMMAND [ARGS...]\n"
    "       hsk-mcp-proxy --role agent --key AGENT.key --chain CHAIN.json [options] --listen HOST:PORT --upstream URL\n"
    "\n"
    "Puts the Handshake Protocol in front of an MCP server (--role service) or behind an MCP client\n"
    "(--role agent), unchanged. With `-- COMMAND`, stdio: the proxy spawns COMMAND and relays\n"
    "newline-delimited JSON-RPC between its own stdin/stdout and COMMAND's, both ways. With --listen and\n"
    "--upstream, Streamable HTTP: it serves the MCP endpoint at HOST:PORT (port 0: any free port; the\n"
    "address is printed on stderr) and forwards to the upstream MCP endpoint URL.\n"
    "\n"
    "service role:\n"
    "  --config FILE        the service configuration (identity, trust roots, DID Documents, ...; docs/verifier.md)\n"
    "  --tools FILE         the tool map (YAML): capability and constraint sources per tool (docs/mcp.md)\n"
    "  --did-doc FILE       the service's DID Document to publish (default: generated from its key)\n"
    "  --oauth FILE         (HTTP) be an OAuth 2.1 resource server: tokens introspected, turned into\n"
    "                       delegations, handshakes signed for OAuth clients (docs/oauth.md)\n"
    "  --registry URL       anchor every receipt in a registry (POST URL/v1/receipts, in the background)\n"
    "  --registry-ca-file FILE   verify an https registry against this CA (default: the system store)\n"
    "  --registry-client-cert FILE --registry-client-key FILE   client certificate for the registry (mTLS)\n"
    "agent role:\n"
    "  --key FILE           the agent's key file\n"
    "  --chain FILE         its delegation chain (JSON array of signed DelegationTokens, root first)\n"
    "  --service-did DID    accept answers only from this service\n"
    "  --service-did-doc F  the service's DID Document (trusted), instead of the one it publishes\n"
    "  --deployer DID       agent_attestation.deployer (default: the chain root's issuer)\n"
    "  --model NAME         agent_attestation.model (default \"unknown\")\n"
    "  --instance ID        agent_attestation.instance_id (default \"hsk-mcp-proxy\")\n"
    "both:\n"
    "  --receipts FILE      append receipts to FILE (JSON Lines): the agent keeps those it verified, the\n"
    "                       service those it issued and its refusals\n"
    "  --receipts-db DB     the same in a SQLite file, or a PostgreSQL database (postgresql://...;\n"
    "                       password from --receipts-db-password-file FILE, owner-only, or PGPASSFILE)\n"
    "                       that several instances share\n"
    "  --max-message-bytes N   refuse messages longer than N bytes (default 4194304)\n"
    "  --audit-log FILE     one JSON line per decision (- for stderr; owner-only file, reopened on SIGHUP)\n"
    "  --metrics-listen HOST:PORT   serve /metrics, /healthz and /readyz there (in HTTP mode they are also\n"
    "                       on the --listen address)\n"
    "  --path P             the HTTP endpoint path (default /mcp)\n"
    "  --tls-cert FILE --tls-key FILE   (HTTP) serve https with this certificate chain and key (PEM, the\n"
    "                       key owner-only; TLS 1.2+); SIGHUP reloads both without dropping the listener\n"
    "  --tls-client-ca FILE (HTTP) require client certificates issued by this CA (mutual TLS)\n"
    "  --ca-file FILE       (HTTP) verify an https upstream against this CA (default: the system store)\n"
    "  --client-cert FILE --client-key FILE   (HTTP) client certificate for an https upstream (mTLS)\n"
    "An option of the other role is refused. --version prints the version.\n"
    "--check loads everything the role would (configuration, keys, DID Documents, maps, stores, TLS\n"
    "files), asks the server for tools/list once, and prints one line per thing checked (ok, warning:\n"
    "a mapped tool the server does not offer, error); exit 0 without errors, 1 with.\n"
    "Only protocol messages go to stdout; logs go to stderr.\n";

// Every option, with the roles it belongs to (handshake/command_line.hpp).
const handshake::CommandLineRules& rules() {
  static const handshake::CommandLineRules r = [] {
    handshake::CommandLineRules c;
    c.command_after_dashes = true;
    const std::vector<std::string> service{"service"}, agent{"agent"}, both;
    for (const char* n : {"config", "tools", "did-doc", "registry", "oauth", "registry-ca-file", "registry-client-cert",
                          "registry-client-key"}) {
      c.options.push_back({n, true, service});
    }
    for (const char* n : {"key", "chain", "service-did", "service-did-doc", "deployer", "model", "instance"}) {
      c.options.push_back({n, true, agent});
    }
    c.options.push_back({"check", false, {}});
    for (const char* n : {"role", "receipts", "receipts-db", "receipts-db-password-file", "max-message-bytes", "path",
                          "audit-log", "metrics-listen",
                          "listen", "upstream", "tls-cert", "tls-key", "tls-client-ca", "ca-file", "client-cert",
                          "client-key"}) {
      c.options.push_back({n, true, both});
    }
    return c;
  }();
  return r;
}

using Args = handshake::CommandLine;

std::optional<std::string> opt(const Args& a, const std::string& k) { return a.get(k); }

handshake::Result<Json> read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return handshake::make_error(handshake::ErrorCode::kIo, "file.read", "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return handshake::json::parse_strict(ss.str());
}

int usage(const std::string& msg) {
  std::cerr << "hsk-mcp-proxy: " << msg << " (see --help)\n";
  return 2;
}

int fail(const std::string& what, const handshake::Error& e) {
  log(what + ": " + e.to_string());
  return 1;
}

// Posts receipts to a registry on one background thread, so calls never wait for it.
class RegistryAnchor {
 public:
  explicit RegistryAnchor(std::unique_ptr<handshake::net::RegistryClient> client)
      : client_(std::move(client)), worker_([this] { run(); }) {
    worker_.detach();
  }
  void push(const Json& receipt) {
    std::lock_guard lock(mu_);
    if (queue_.size() < 10000) queue_.push_back(receipt);
    cv_.notify_one();
  }

 private:
  void run() {
    for (;;) {
      Json receipt;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        receipt = std::move(queue_.front());
        queue_.pop_front();
      }
      if (auto answer = client_->post_receipt(receipt); !answer.ok()) {
        log("registry anchor failed: " + answer.error().to_string());
      }
    }
  }
  std::unique_ptr<handshake::net::RegistryClient> client_;  // used by the worker only
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Json> queue_;
  std::thread worker_;
};

// --receipts FILE (JSON Lines) or --receipts-db FILE|postgresql://...: where receipts are kept.
int open_receipts(const Args& a, std::unique_ptr<handshake::ReceiptStore>& out) {
  auto s = handshake::storage::open_receipt_option(opt(a, "receipts"), opt(a, "receipts-db"),
                                                   opt(a, "receipts-db-password-file"));
  if (!s.ok()) return s.error().reason == "usage" ? usage(s.error().message) : fail("receipts", s.error());
  out = std::move(s).value();
  return 0;
}

// --audit-log and --metrics-listen: what the operator watches (handshake/operations.hpp).
int open_operations(const Args& a, std::unique_ptr<handshake::Operations>& out) {
  auto ops = handshake::Operations::open(opt(a, "audit-log"));
  if (!ops.ok()) return fail("--audit-log", ops.error());
  out = std::move(ops).value();
  if (auto l = opt(a, "metrics-listen")) {
    if (auto st = out->listen(*l); !st.ok()) return st.error().reason == "listen" ? usage(st.error().message) : fail("--metrics-listen", st.error());
    log("metrics, health and readiness on http://" + *l + " (port " + std::to_string(out->metrics_port()) + ")");
  }
  return 0;
}

int run_transport(const Args& a, const Route& route, std::size_t max_bytes, handshake::Operations& ops,
                  std::optional<HttpAuth> auth = std::nullopt, std::function<handshake::Status()> on_reload = nullptr) {
  if (!a.command().empty()) {
    if (opt(a, "listen") || opt(a, "upstream")) return usage("give either -- COMMAND or --listen/--upstream");
    if (auth) return usage("--oauth needs Streamable HTTP (--listen/--upstream)");
    for (const char* k : {"tls-cert", "tls-key", "tls-client-ca", "ca-file", "client-cert", "client-key"}) {
      if (opt(a, k)) return usage(std::string("--") + k + " needs Streamable HTTP (--listen/--upstream)");
    }
    StdioOptions so;
    so.command = a.command();
    so.max_message_bytes = max_bytes;
    so.on_reload = on_reload;
    return run_stdio(so, route);
  }
  const auto listen = opt(a, "listen"), upstream = opt(a, "upstream");
  if (!listen || !upstream) return usage("give -- COMMAND (stdio) or --listen HOST:PORT and --upstream URL (HTTP)");
  HttpOptions h;
  auto host_port = handshake::parse_listen(*listen);
  if (!host_port.ok()) return usage(host_port.error().message);
  h.listen_host = host_port->first;
  h.listen_port = host_port->second;
  h.upstream = *upstream;
  auto listen_tls = handshake::net::tls_server_options(opt(a, "tls-cert"), opt(a, "tls-key"), opt(a, "tls-client-ca"));
  if (!listen_tls.ok()) return usage(listen_tls.error().message);
  h.listen_tls = std::move(listen_tls).value();
  auto upstream_tls = handshake::net::tls_client_options(opt(a, "ca-file"), opt(a, "client-cert"), opt(a, "client-key"));
  if (!upstream_tls.ok()) return usage(upstream_tls.error().message);
  h.upstream_tls = std::move(upstream_tls).value();
  h.path = opt(a, "path").value_or("/mcp");
  h.max_message_bytes = max_bytes;
  h.auth = std::move(auth);
  h.on_reload = std::move(on_reload);
  h.ops = ops.endpoints();
  return run_http(h, route);
}

int run_service(const Args& a, std::size_t max_bytes) {
  const auto config = opt(a, "config"), tools = opt(a, "tools");
  if (!config || !tools) return usage("--role service needs --config and --tools");
  auto setup = handshake::ServiceSetup::load(*config);
  if (!setup.ok()) return fail(*config, setup.error());
  auto map = mcp::ToolMap::load(*tools);
  if (!map.ok()) return fail(*tools, map.error());
  static const handshake::SystemClock clock;
  auto service = (*setup)->make_service(clock);
  std::unique_ptr<handshake::Operations> ops;
  if (int rc = open_operations(a, ops); rc != 0) return rc;
  (*setup)->add_checks(ops->readiness);
  (*setup)->add_metrics(ops->registry);

  mcp::GateOptions options;
  options.log = [](const std::string& line) { log(line); };
  options.observer = ops->observer.get();
  if (auto d = opt(a, "did-doc")) {
    auto doc = read_json(*d);
    if (!doc.ok()) return fail(*d, doc.error());
    options.did_document = std::move(doc).value();
  } else {
    handshake::DidDocumentOptions o;
    o.version_time = handshake::time::parse_rfc3339("2020-01-01T00:00:00Z").value();
    auto doc = handshake::make_did_document(service->identity(), o);
    if (doc.ok()) options.did_document = std::move(doc).value();
  }
  std::unique_ptr<RegistryAnchor> anchor;
  if (auto r = opt(a, "registry")) {
    auto tls = handshake::net::tls_client_options(opt(a, "registry-ca-file"), opt(a, "registry-client-cert"),
                                                  opt(a, "registry-client-key"));
    if (!tls.ok()) return usage("--registry-client-cert and --registry-client-key go together");
    handshake::net::ClientOptions client_options;
    client_options.tls = std::move(tls).value();
    auto client = handshake::net::RegistryClient::open(*r, client_options);
    if (!client.ok()) return fail("--registry", client.error());
    anchor = std::make_unique<RegistryAnchor>(std::move(client).value());
    options.on_receipt = [p = anchor.get()](const Json& receipt, const handshake::Decision&) { p->push(receipt); };
  } else if (opt(a, "registry-ca-file") || opt(a, "registry-client-cert") || opt(a, "registry-client-key")) {
    return usage("--registry-ca-file, --registry-client-cert and --registry-client-key need --registry");
  }
  std::unique_ptr<handshake::ReceiptStore> issued;
  if (int rc = open_receipts(a, issued); rc != 0) return rc;
  if (issued) {
    options.on_receipt = [store = issued.get(), anchor_to = std::move(options.on_receipt)](
                             const Json& receipt, const handshake::Decision& decision) {
      // Kept with the request's delegation chain, so an auditor can see on whose authority it ran.
      const Json chain = decision.request ? decision.request->source.value("delegation_chain", Json()) : Json();
      if (auto st = store->put_receipt(receipt, Json(), receipt.value("action", std::string()), chain); !st.ok()) {
        log("cannot keep receipt: " + st.error().to_string());
      }
      if (anchor_to) anchor_to(receipt, decision);
    };
  }
  options.on_refusal = [store = issued.get()](const handshake::Decision& d, std::string_view tool) {
    log("refused tools/call " + std::string(tool) + ": " +
        (d.refusal ? std::string(handshake::to_string(d.refusal->code)) + ": " + d.refusal->detail : "?"));
    if (store != nullptr) {
      if (auto st = store->put_refusal(d.response, tool); !st.ok()) log("cannot keep refusal: " + st.error().to_string());
    }
  };
  mcp::ServiceGate gate(*service, std::move(map).value(), std::move(options));
  log("service " + service->did() + " ready");
  Route route = [&gate](Json message, std::string_view raw) {
    mcp::Inbound in = gate.on_client_message(std::move(message), raw);
    Routed r;
    r.answer_now = in.kind == mcp::Inbound::Kind::kAnswer;
    r.modified = in.exchange.kind == mcp::Exchange::Kind::kToolCall && in.exchange.decision != nullptr;
    r.message = std::move(in.message);
    if (!r.answer_now && in.exchange.kind != mcp::Exchange::Kind::kOther) {
      r.finish = [&gate, ex = std::move(in.exchange)](Json response) {
        return Finished{gate.on_response(ex, std::move(response)), nullptr};
      };
    }
    return r;
  };
  std::optional<HttpAuth> auth;
  if (auto o = opt(a, "oauth")) {
    auto loaded = load_oauth(*o, gate, route, clock);
    if (!loaded.ok()) return fail(*o, loaded.error());
    auth = std::move(loaded).value();
    log("OAuth resource server: protected resource metadata at " + auth->metadata_path);
  }
  // SIGHUP: the configuration (DID Documents, public_keys, revocation files, trust roots, policy,
  // ...) and the tool map again, checked whole before anything changes; the audit log reopened.
  auto reload = [&setup, &service, &gate, tools_path = *tools, &ops]() -> handshake::Status {
    // The audit log first: rotation must not wait for a configuration that is being fixed.
    const handshake::Status audit = ops->reopen();
    HSK_ASSIGN_OR_RETURN(auto next_map, mcp::ToolMap::load(tools_path));
    HSK_TRY((*setup)->reload(service.get()));
    gate.set_tool_map(std::move(next_map));
    return audit;
  };
  return run_transport(a, route, max_bytes, *ops, std::move(auth), reload);
}

// The agent gate's answer to a response: for the client, or (a warm call refused for its session)
// the same call signed cold, sent upstream in its place with its own finish.
Finish agent_finish(mcp::AgentGate& gate, mcp::AgentExchange exchange) {
  return [&gate, ex = std::move(exchange)](Json response) {
    return std::visit(
        [&gate](auto&& reply) -> Finished {
          using T = std::decay_t<decltype(reply)>;
          if constexpr (std::is_same_v<T, mcp::ColdRetry>) {
            return Finished{std::move(reply.request.message), agent_finish(gate, std::move(reply.request.exchange))};
          } else {
            return Finished{std::move(reply.message), nullptr};
          }
        },
        gate.on_response(ex, std::move(response)));
  };
}

int run_agent(const Args& a, std::size_t max_bytes) {
  const auto key = opt(a, "key"), chain_path = opt(a, "chain");
  if (!key || !chain_path) return usage("--role agent needs --key and --chain");
  auto identity = handshake::load_identity(*key);
  if (!identity.ok()) return fail(*key, identity.error());
  auto chain_doc = read_json(*chain_path);
  if (!chain_doc.ok()) return fail(*chain_path, chain_doc.error());
  std::vector<Json> chain;
  if (chain_doc->is_array()) {
    for (auto& l : *chain_doc) chain.push_back(l);
  } else {
    chain.push_back(*chain_doc);
  }
  if (chain.empty() || !chain.front().is_object() || !chain.front().contains("iss")) {
    return fail(*chain_path, handshake::make_error(handshake::ErrorCode::kInvalidArgument, "chain.empty",
                                                   "the chain holds no delegation"));
  }
  handshake::AgentAttestation att;
  att.deployer = opt(a, "deployer").value_or(chain.front()["iss"].is_string() ? chain.front()["iss"].get<std::string>() : "");
  att.model = opt(a, "model").value_or("unknown");
  att.instance_id = opt(a, "instance").value_or("hsk-mcp-proxy");

  std::unique_ptr<handshake::ReceiptStore> sink;
  if (int rc = open_receipts(a, sink); rc != 0) return rc;
  mcp::AgentGateOptions options;
  options.service_did = opt(a, "service-did");
  if (auto d = opt(a, "service-did-doc")) {
    auto doc = read_json(*d);
    if (!doc.ok()) return fail(*d, doc.error());
    options.service_did_document = std::move(doc).value();
  }
  options.receipts = sink.get();
  options.log = [](const std::string& line) { log(line); };
  static const handshake::SystemClock clock;
  const handshake::Identity signer = *identity;  // shares the key, copies no secret
  mcp::AgentGate gate(handshake::Agent(std::move(identity).value(), std::move(chain), std::move(att)), std::move(options),
                      clock);
  Route route = [&gate](Json message, std::string_view) {
    mcp::AgentInbound in = gate.on_client_message(std::move(message));
    Routed r;
    r.answer_now = in.answer_now;
    r.modified = in.exchange.request_id.has_value();
    r.message = std::move(in.message);
    if (in.exchange.kind != mcp::AgentExchange::Kind::kOther) r.finish = agent_finish(gate, std::move(in.exchange));
    return r;
  };
  std::unique_ptr<handshake::Operations> ops;
  if (int rc = open_operations(a, ops); rc != 0) return rc;
  ops->readiness.add("signing_key", handshake::ops::signing_key_check(signer));
  return run_transport(a, route, max_bytes, *ops, std::nullopt, [&ops] { return ops->reopen(); });
}

}  // namespace

void log(const std::string& line) {
  const std::string out = "hsk-mcp-proxy[" + g_role + "]: " + line + "\n";
  std::fwrite(out.data(), 1, out.size(), stderr);
}

}  // namespace hsk::mcp_proxy

int main(int argc, char** argv) {
  using namespace hsk::mcp_proxy;
  (void)handshake::net::block_signals();  // before any thread starts (http.hpp)
  auto a = handshake::CommandLine::parse(std::vector<std::string>(argv + 1, argv + argc), rules());
  if (!a.ok()) return usage(a.error().message);
  if (a->help()) {
    std::cout << kHelp;
    return 0;
  }
  if (a->version()) {
    std::cout << handshake::version_line("hsk-mcp-proxy") << "\n";
    return 0;
  }
  const auto role = opt(*a, "role");
  if (!role || (*role != "service" && *role != "agent")) return usage("--role service or --role agent is required");
  if (auto st = a->check_role(*role); !st.ok()) return usage(st.error().message);
  g_role = *role;
  // Mistakes on the command line are answered before any file is read.
  if (auto listen = opt(*a, "listen")) {
    if (auto hp = handshake::parse_listen(*listen); !hp.ok()) return usage(hp.error().message);
  }
  std::size_t max_bytes = 4 * 1024 * 1024;
  if (auto m = opt(*a, "max-message-bytes")) {
    try {
      max_bytes = std::stoull(*m);
    } catch (...) {
      return usage("--max-message-bytes must be a number");
    }
    if (max_bytes < 1024) return usage("--max-message-bytes must be at least 1024");
  }
  if (a->has("check")) return run_check(*a, *role);
  if (*role == "service") return run_service(*a, max_bytes);
  return run_agent(*a, max_bytes);
}
