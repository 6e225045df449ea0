// hsk-mcp-proxy --check: everything the chosen role would load, loaded and reported one line per
// thing (handshake::CheckReport), and the server asked for its tools once, so that a map naming a
// tool it does not offer is found before the first call.
#include <fstream>
#include <sstream>

#include "handshake/agent.hpp"
#include "handshake/chain.hpp"
#include "handshake/command_line.hpp"
#include "handshake/config.hpp"
#include "handshake/identity.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/mcp/service_gate.hpp"
#include "handshake/messages.hpp"
#include "handshake/net/registry_client.hpp"
#include "handshake/storage/receipts.hpp"
#include "relay.hpp"

namespace hsk::mcp_proxy {

namespace mcp = handshake::mcp;

namespace {

handshake::Result<Json> read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return handshake::make_error(handshake::ErrorCode::kIo, "file.read", "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return handshake::json::parse_strict(ss.str());
}

// The listener and upstream options (both roles): TLS files, the upstream URL and its client.
std::optional<handshake::net::Url> check_transport(const handshake::CommandLine& a, handshake::CheckReport& report,
                                                   handshake::net::ClientOptions& client) {
  if (a.command().empty() && !a.get("upstream")) {
    report.error("give -- COMMAND (stdio) or --listen HOST:PORT and --upstream URL (HTTP)");
    return std::nullopt;
  }
  if (auto listen = a.get("listen")) report.check("--listen " + *listen, handshake::parse_listen(*listen));
  auto tls = handshake::net::tls_server_options(a.get("tls-cert"), a.get("tls-key"), a.get("tls-client-ca"));
  if (report.check("listener TLS options", tls) && *tls) {
    report.check("--tls-cert/--tls-key", handshake::net::make_server(*tls));
  }
  auto up_tls = handshake::net::tls_client_options(a.get("ca-file"), a.get("client-cert"), a.get("client-key"));
  if (!report.check("upstream TLS options", up_tls)) return std::nullopt;
  client.tls = std::move(up_tls).value();
  if (!a.command().empty()) return std::nullopt;
  auto url = handshake::net::Url::parse(*a.get("upstream"));
  if (!report.check("--upstream " + *a.get("upstream"), url)) return std::nullopt;
  if (!report.check("upstream client", handshake::net::Client::open(*url, client))) return std::nullopt;
  return std::move(url).value();
}

// The server's tools/list, through stdio or HTTP.
handshake::Result<Json> ask_tools(const handshake::CommandLine& a, const std::optional<handshake::net::Url>& url,
                                  const handshake::net::ClientOptions& client) {
  if (!a.command().empty()) return probe_tools_stdio(a.command(), std::chrono::seconds(20));
  return probe_tools_http(*url, client);
}

void check_receipts(const handshake::CommandLine& a, handshake::CheckReport& report) {
  if (!a.get("receipts") && !a.get("receipts-db")) return;
  report.check("receipts store", handshake::storage::open_receipt_option(a.get("receipts"), a.get("receipts-db"),
                                                                         a.get("receipts-db-password-file")));
}

void check_service(const handshake::CommandLine& a, handshake::CheckReport& report) {
  const auto config = a.get("config"), tools = a.get("tools");
  if (!config) report.error("--role service needs --config SERVICE.yaml");
  if (!tools) report.error("--role service needs --tools TOOLS.yaml");
  if (config) (void)handshake::check_service_config(*config, report);
  std::optional<mcp::ToolMap> map;
  if (tools) {
    auto loaded = mcp::ToolMap::load(*tools);
    if (report.check(*tools + ": tool map", loaded)) map = std::move(loaded).value();
  }
  if (auto d = a.get("did-doc")) report.check("--did-doc " + *d, read_json(*d));
  if (auto o = a.get("oauth")) {
    // Its parts need the gate; the file itself is read here, and in full at start-up.
    std::ifstream in(*o);
    if (in) {
      report.ok("--oauth " + *o + ": readable (checked in full when serving)");
    } else {
      report.error("--oauth " + *o + ": cannot read it");
    }
  }
  if (auto r = a.get("registry")) {
    handshake::net::ClientOptions options;
    auto tls = handshake::net::tls_client_options(a.get("registry-ca-file"), a.get("registry-client-cert"),
                                                  a.get("registry-client-key"));
    if (report.check("registry TLS options", tls)) {
      options.tls = std::move(tls).value();
      report.check("--registry " + *r, handshake::net::RegistryClient::open(*r, options));
    }
  }
  check_receipts(a, report);
  handshake::net::ClientOptions client;
  const auto url = check_transport(a, report, client);
  if (!map || (a.command().empty() && !url)) return;
  auto list = ask_tools(a, url, client);
  if (!list.ok()) {
    report.error("the server's tools/list: " + list.error().to_string());
    return;
  }
  std::size_t offered = 0;
  if (list->contains("tools") && (*list)["tools"].is_array()) offered = (*list)["tools"].size();
  report.ok("the server offers " + std::to_string(offered) + " tools");
  for (const auto& name : mcp::missing_tools(*map, *list)) {
    report.warning(*tools + ": tool '" + name + "' is mapped but the server does not offer it (a typo?)");
  }
  if (map->unmapped() == mcp::UnmappedTools::kRefuse && list->contains("tools")) {
    std::size_t hidden = 0;
    for (const auto& t : (*list)["tools"]) {
      if (t.is_object() && t.contains("name") && t["name"].is_string() && !map->find(t["name"].get<std::string>())) {
        ++hidden;
      }
    }
    if (hidden > 0) {
      report.ok(std::to_string(hidden) + " tools the map does not name are hidden from clients (unmapped: refuse)");
    }
  }
}

void check_agent(const handshake::CommandLine& a, handshake::CheckReport& report) {
  (void)handshake::check_agent_files(a.get("key"), a.get("chain"), report);
  if (auto d = a.get("service-did-doc")) report.check("--service-did-doc " + *d, read_json(*d));
  check_receipts(a, report);
  handshake::net::ClientOptions client;
  const auto url = check_transport(a, report, client);
  if (a.command().empty() && !url) return;
  auto list = ask_tools(a, url, client);
  if (!list.ok()) {
    report.error("the service's tools/list: " + list.error().to_string());
    return;
  }
  const auto meta = list->find("_meta");
  if (meta == list->end() || !meta->is_object() || !meta->contains(std::string(mcp::kServiceKey))) {
    report.warning("the service's tools/list carries no Handshake service metadata: is a service proxy in front of it?");
    return;
  }
  const Json& svc = (*meta)[std::string(mcp::kServiceKey)];
  const std::string did = svc.value("did", std::string());
  if (auto pinned = a.get("service-did"); pinned && *pinned != did) {
    report.error("the service presents itself as " + did + ", not --service-did " + *pinned);
  } else {
    report.ok("the service is " + did);
  }
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

}  // namespace hsk::mcp_proxy
