// hsk-a2a-proxy --check: everything the chosen role would load, loaded and reported one line per
// thing (handshake::CheckReport), and the upstream's Agent Card fetched once: the service role
// compares its skills with the skill map, the agent role checks the card as it would serve it.
#include <fstream>
#include <iterator>
#include <set>

#include "handshake/chain.hpp"
#include "handshake/command_line.hpp"
#include "handshake/config.hpp"
#include "handshake/identity.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/storage/receipts.hpp"
#include "relay.hpp"
#ifdef HSK_A2A_PROXY_AP2
#include "handshake/ap2/payment_skill.hpp"
#endif

namespace hsk::a2a_proxy {

namespace {

handshake::Result<Json> read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return handshake::make_error(handshake::ErrorCode::kIo, "a2a.read", "cannot read " + path);
  return handshake::json::parse_strict(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
}

// The listener, TLS files, receipts and the upstream's card (both roles).
std::optional<Json> check_common(const handshake::CommandLine& a, handshake::CheckReport& report) {
  if (auto listen = a.get("listen")) {
    report.check("--listen " + *listen, handshake::parse_listen(*listen));
  } else {
    report.error("--listen HOST:PORT is required");
  }
  auto tls = handshake::net::tls_server_options(a.get("tls-cert"), a.get("tls-key"), a.get("tls-client-ca"));
  if (report.check("listener TLS options", tls) && *tls) report.check("--tls-cert/--tls-key", handshake::net::make_server(*tls));
  if (a.get("receipts") || a.get("receipts-db")) {
    report.check("receipts store", handshake::storage::open_receipt_option(a.get("receipts"), a.get("receipts-db"),
                                                                           a.get("receipts-db-password-file")));
  }
  const auto upstream = a.get("upstream");
  if (!upstream) {
    report.error("--upstream URL is required");
    return std::nullopt;
  }
  auto url = handshake::net::Url::parse(*upstream);
  if (!report.check("--upstream " + *upstream, url)) return std::nullopt;
  handshake::net::ClientOptions client;
  auto up_tls = handshake::net::tls_client_options(a.get("ca-file"), a.get("client-cert"), a.get("client-key"));
  if (!report.check("upstream TLS options", up_tls)) return std::nullopt;
  client.tls = std::move(up_tls).value();
  client.read_timeout = std::chrono::seconds(10);
  auto c = handshake::net::Client::open(*url, client);
  if (!report.check("upstream client", c)) return std::nullopt;
  auto res = (*c)->get("/.well-known/agent-card.json");
  if (!res.ok()) {
    report.error("the upstream's Agent Card: " + res.error().message);
    return std::nullopt;
  }
  if (res->status != 200) {
    report.error("the upstream's Agent Card: HTTP " + std::to_string(res->status) + " " + res->body.substr(0, 200));
    return std::nullopt;
  }
  auto card = handshake::json::parse_strict(res->body);
  if (!report.check("the upstream's Agent Card", card)) return std::nullopt;
  return std::move(card).value();
}

void check_service(const handshake::CommandLine& a, handshake::CheckReport& report) {
  const auto config = a.get("config"), skills = a.get("skills");
  if (!config) report.error("--role service needs --config SERVICE.yaml");
  if (!skills) report.error("--role service needs --skills SKILLS.yaml");
  if (config) (void)handshake::check_service_config(*config, report);
  std::optional<handshake::ActionMap> map;
  if (skills) {
    auto loaded = handshake::ActionMap::load(*skills, a2a::skill_map_format());
    if (report.check(*skills + ": skill map", loaded)) map = std::move(loaded).value();
  }
  if (auto d = a.get("did-doc")) report.check("--did-doc " + *d, read_json(*d));
#ifdef HSK_A2A_PROXY_AP2
  if (a.get("ap2-skill")) {
    report.check("--ap2-mapping / --ap2-issuer-key",
                 handshake::ap2::load_payment_skill_config(a.get("ap2-mapping"), a.get("ap2-issuer-key")));
  }
#else
  if (a.get("ap2-skill")) report.error("--ap2-skill: this hsk-a2a-proxy was built without the AP2 adapter");
#endif
  auto card = check_common(a, report);
  if (!card || !map) return;
  std::set<std::string> offered;
  if (card->contains("skills") && (*card)["skills"].is_array()) {
    for (const auto& s : (*card)["skills"]) {
      if (s.is_object() && s.contains("id") && s["id"].is_string()) offered.insert(s["id"].get<std::string>());
    }
  }
  report.ok("the upstream agent offers " + std::to_string(offered.size()) + " skills");
  for (const auto& [id, rule] : map->rules()) {
    if (offered.count(id) == 0) {
      report.warning(*skills + ": skill '" + id + "' is mapped but the upstream's Agent Card does not offer it (a typo?)");
    }
  }
}

void check_agent(const handshake::CommandLine& a, handshake::CheckReport& report) {
  auto files = handshake::check_agent_files(a.get("key"), a.get("chain"), report);
  std::optional<handshake::Identity>& identity = files.identity;
  std::vector<Json>& links = files.links;
  a2a::AgentGateOptions go;
  go.service_did = a.get("service-did");
  if (auto d = a.get("service-did-doc")) {
    auto doc = read_json(*d);
    if (report.check("--service-did-doc " + *d, doc)) go.service_did_document = std::move(doc).value();
  }
  auto card = check_common(a, report);
  if (!card || !identity || links.empty()) return;
  // The card as the agent role takes it: the extension declared, the service's DID and document.
  static const handshake::SystemClock clock;
  handshake::AgentAttestation att;
  att.deployer = links.front().value("iss", std::string());
  a2a::AgentGate gate(handshake::Agent(std::move(*identity), std::move(links), std::move(att)), clock, std::move(go));
  report.check("the service's Agent Card (Handshake extension, service DID)", gate.learn(*card));
}

}  // namespace

int run_check(const handshake::CommandLine& a, const std::string& role) {
  handshake::CheckReport report;
  if (role == "service") {
    check_service(a, report);
  } else {
    check_agent(a, report);
  }
  return report.print(stdout);
}

}  // namespace hsk::a2a_proxy
