// hsk init mcp|a2a|http DIR: a working starting point for a newcomer. Keys for an org (the trust root),
// an agent and a service, their DID Documents, a service configuration with comments, the tool or
// skill map, the capability schema and a root delegation, then the exact commands that run both
// proxy roles against it. Everything is made by the library calls hsk keygen, hsk did and
// hsk delegate use; nothing here signs by itself.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "handshake/agent.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/time.hpp"

#include "common.hpp"

namespace hsk::cli {

using handshake::Json;

handshake::Result<handshake::Identity> new_key_file(handshake::PrincipalType type, const std::filesystem::path& path,
                                                    bool overwrite) {
  HSK_ASSIGN_OR_RETURN(auto generated, handshake::Identity::generate({type, {}, {}, {}}));
  HSK_TRY(handshake::save_key_file(generated, path, overwrite));
  return handshake::load_key_file(path);  // what a deployment does at start-up
}

namespace {

constexpr const char* kHelp =
    "usage: hsk init mcp|a2a|http DIR [--ttl SECONDS] [--force]\n"
    "\n"
    "Writes a working starting point into DIR (created if missing; refused when not empty unless\n"
    "--force, which replaces the files init writes):\n"
    "  org.key, agent.key, svc.key   Ed25519 key files (owner-only, 0600): the org is the trust root\n"
    "                                that delegates, the agent acts, the service verifies and signs\n"
    "  dids/                         the three self-certifying DID Documents\n"
    "  service.yaml                  the service's configuration, every key explained\n"
    "  tools.yaml (mcp)              server-everything's echo and get-sum mapped to capabilities,\n"
    "                                every other tool refused\n"
    "  skills.yaml (a2a)             an A2A agent's echo and list-invoices skills mapped likewise\n"
    "  routes.yaml (http)            GET /invoices and GET /invoices/{id} of an HTTP API mapped likewise,\n"
    "                                for hsk gate (docs/gate.md); nginx.conf: its auth_request block\n"
    "  capabilities.json             the capability schema (constraint types)\n"
    "  revoked.json                  signed RevocationStatements the service honours (empty)\n"
    "  chain.json                    the org's delegation to the agent\n"
    "then prints the commands that run both proxy roles (http: hsk gate, and a request) against it and\n"
    "renew the delegation.\n"
    "  --ttl    the delegation's lifetime in seconds (default 600)\n"
    "  --force  write into a non-empty DIR\n"

    "Exit 0 written, 1 refused, 2 usage.\n";

enum class Flavour { kMcp, kA2a, kHttp };

struct Layout {
  Flavour flavour;
  std::string map_file;     // tools.yaml or skills.yaml
  std::string capability;   // what the delegation grants: a resource glob over the mapped names
  Json constraints;         // the delegation's limits
  Json schema;              // capabilities.json
  std::string map_yaml;
};

Json capability_entry(const std::string& name, const std::string& description, Json constraints = Json::object()) {
  Json e{{"name", name}, {"description", description}};
  if (!constraints.empty()) e["constraints"] = std::move(constraints);
  return e;
}

Layout mcp_layout() {
  Layout l{Flavour::kMcp, "tools.yaml", "everything.tools:*", Json{{"max_a", 100}, {"max_b", 100}}, {}, {}};
  const Json numeric{{"type", "numeric_max"}, {"description", "the largest operand the call may pass"}};
  l.schema = Json{{"capabilities",
                   Json::array({capability_entry("everything.tools:echo", "server-everything's echo tool"),
                                capability_entry("everything.tools:get-sum", "server-everything's get-sum tool",
                                                 Json{{"max_a", numeric}, {"max_b", numeric}})})}};
  l.map_yaml =
      "# Which tools of the MCP server need a handshake, and for which capability (docs/mcp.md).\n"
      "# Written by `hsk init mcp` for @modelcontextprotocol/server-everything.\n"
      "unmapped: refuse            # every tool not listed here is refused (policy_denied)\n"
      "tools:\n"
      "  echo:\n"
      "    capability: \"everything.tools:echo\"        # no constraint: a delegation of it is enough\n"
      "  get-sum:\n"
      "    capability: \"everything.tools:get-sum\"\n"
      "    constraints:                              # checked against the call's real arguments\n"
      "      max_a: arguments.a                      # max_a <- arguments.a (numeric_max: a <= the grant)\n"
      "      max_b: arguments.b\n";
  return l;
}

Layout a2a_layout() {
  Layout l{Flavour::kA2a, "skills.yaml", "agent.skills:*", Json{{"max_invoices", 100}}, {}, {}};
  l.schema = Json{
      {"capabilities",
       Json::array({capability_entry("agent.skills:echo", "the agent's echo skill"),
                    capability_entry("agent.skills:list-invoices", "the agent's list-invoices skill",
                                     Json{{"max_invoices", {{"type", "numeric_max"},
                                                            {"description", "the most invoices one task lists"}}}})})}};
  l.map_yaml =
      "# Which skills of the A2A agent need a handshake, and for which capability (docs/a2a.md).\n"
      "# Written by `hsk init a2a`: rename the skills to the ids in your agent's card (skills[].id).\n"
      "unmapped: refuse            # every skill not listed here is refused (policy_denied)\n"
      "skills:\n"
      "  echo:\n"
      "    capability: \"agent.skills:echo\"            # no constraint: a delegation of it is enough\n"
      "  list-invoices:\n"
      "    capability: \"agent.skills:list-invoices\"\n"
      "    constraints:                              # checked against the message's first data part\n"
      "      max_invoices: data.limit                # max_invoices <- data.limit\n";
  return l;
}

Layout http_layout() {
  Layout l{Flavour::kHttp, "routes.yaml", "api.routes:*", Json{{"max_invoices", 100}}, {}, {}};
  l.schema = Json{
      {"capabilities",
       Json::array({capability_entry("api.routes:get-invoice", "GET /invoices/{id}"),
                    capability_entry("api.routes:list-invoices", "GET /invoices",
                                     Json{{"max_invoices", {{"type", "numeric_max"},
                                                            {"description", "the most invoices one request lists"}}}})})}};
  l.map_yaml =
      "# Which requests of the HTTP API need a handshake, and for which capability (docs/gate.md).\n"
      "# Written by `hsk init http`: replace the routes with your API's.\n"
      "unmapped: refuse            # every route not listed here is refused (policy_denied)\n"
      "routes:\n"
      "  \"GET /invoices\":\n"
      "    capability: \"api.routes:list-invoices\"\n"
      "    constraints:                              # checked against the request itself\n"
      "      max_invoices: request.query.limit       # max_invoices <- ?limit=\n"
      "  \"GET /invoices/{id}\":\n"
      "    capability: \"api.routes:get-invoice\"      # no constraint: a delegation of it is enough\n";
  return l;
}

// nginx in front of the API on 127.0.0.1:8080, asking hsk gate on 127.0.0.1:8091 (docs/gate.md).
const char* kNginxConf =
    "# The server block of nginx in front of your API (127.0.0.1:8080), with hsk gate as its\n"
    "# auth_request endpoint (127.0.0.1:8091). Written by `hsk init http`; see docs/gate.md.\n"
    "server {\n"
    "    listen 127.0.0.1:8000;\n"
    "    location / {\n"
    "        auth_request /_handshake;\n"
    "        auth_request_set $hs_acceptance $upstream_http_handshake_acceptance;\n"
    "        auth_request_set $hs_refusal $upstream_http_handshake_refusal;\n"
    "        proxy_set_header Handshake-Acceptance $hs_acceptance;\n"
    "        proxy_set_header Handshake-Request \"\";\n"
    "        proxy_pass http://127.0.0.1:8080;\n"
    "        error_page 401 403 429 503 = @refused;\n"
    "    }\n"
    "    location = /_handshake {\n"
    "        internal;\n"
    "        proxy_pass http://127.0.0.1:8091;\n"
    "        proxy_pass_request_body off;\n"
    "        proxy_set_header Content-Length \"\";\n"
    "        proxy_set_header X-Original-Method $request_method;\n"
    "        proxy_set_header X-Original-URI $request_uri;\n"
    "    }\n"
    "    location @refused {\n"
    "        add_header Handshake-Refusal $hs_refusal always;\n"
    "        return 403 '{\"error\":\"handshake_refused\"}';\n"
    "    }\n"
    "}\n";

std::string service_yaml(const Layout& l, const std::string& org_did, const std::string& svc_did,
                         const std::string& agent_did, std::int64_t ttl) {
  std::ostringstream y;
  y << "# The service's configuration (docs/verifier.md; every key: core/include/handshake/config.hpp),\n"
       "# written by `hsk init "
    << (l.flavour == Flavour::kMcp ? "mcp" : l.flavour == Flavour::kA2a ? "a2a" : "http")
    << "`. Relative paths are relative to this file.\n"
       "#\n"
       "# Three Ed25519 keys, each in an owner-only (0600) file beside this one:\n"
       "#   svc.key    the service's own key (" << svc_did << ").\n"
       "#              Only the service proxy reads it: it signs every Acceptance, Refusal and Receipt.\n"
       "#   org.key    the org's key (" << org_did << "), the trust root.\n"
       "#              It signs delegations (chain.json, hsk delegate); keep it offline, away from both proxies.\n"
       "#   agent.key  the agent's key (" << agent_did << ").\n"
       "#              Only the agent proxy reads it: it signs each HandshakeRequest under chain.json.\n"
       "\n"
       "# The service's identity: its key file.\n"
       "identity: svc.key\n"
       "# The principals a delegation chain may start at: only the org.\n"
       "trust_roots: [" << org_did << "]\n"
       "# Trusted DID Documents (a directory of them): where the service finds the org's and the agent's keys.\n"
       "did_documents: [dids]\n"
       "# The capability schema: the type of each constraint (numeric_max, enum, ...).\n"
       "capabilities: capabilities.json\n"
       "# Revocations: signed RevocationStatements (hsk revoke) listed in revoked.json, and those added\n"
       "# with `hsk service revoke --config service.yaml STATEMENT.json` (kept in revocations.db).\n"
       "revocations: {files: [revoked.json], sqlite: revocations.db}\n"
       "# Replay protection that survives a restart.\n"
       "nonce_store: {type: sqlite, path: nonces.db}\n"
       "# Warm handshakes: after one full check, the agent's session lasts 300 s.\n"
       "session_ttl_seconds: 300\n"
       "# Delegations that live longer are refused (policy_denied; the protocol recommends at most 600 s).\n"
       "max_delegation_ttl_seconds: "
    << std::max<std::int64_t>(600, ttl) << "\n";
  return y.str();
}

// A word as a POSIX shell reads it back: quoted unless every character is plainly safe.
std::string shell_word(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || std::string_view("_-./:=@%+,").find(static_cast<char>(c)) != std::string_view::npos;
  });
  if (plain) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string command_line(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& w : words) line += (line.empty() ? "" : " ") + shell_word(w);
  return line;
}

std::optional<std::int64_t> parse_ttl(const std::string& text) {
  constexpr std::int64_t kMaxTtl = 100LL * 366 * 24 * 3600;  // as hsk delegate
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v <= 0 || v > kMaxTtl) return std::nullopt;
  return v;
}

}  // namespace

int cmd_init(const std::vector<std::string>& argv) {
  const std::string cmd = "init";
  std::string err;
  auto a = parse_args(argv, {"ttl"}, {"force"}, err);
  if (!a) return usage_error(cmd, err);
  if (a->help) return std::cout << kHelp, kOk;
  if (a->positional.empty()) return usage_error(cmd, "expected mcp, a2a or http, then DIR");
  const std::string what = a->positional[0];
  if (what != "mcp" && what != "a2a" && what != "http") {
    return usage_error(cmd, "unknown kind '" + what + "': expected mcp, a2a or http");
  }
  if (a->positional.size() != 2) return usage_error(cmd, "expected exactly one DIR after " + what);
  std::int64_t ttl = 600;
  if (auto t = opt(*a, "ttl")) {
    auto v = parse_ttl(*t);
    if (!v) return usage_error(cmd, "--ttl must be a positive number of seconds");
    ttl = *v;
  }
  const bool force = flag(*a, "force");
  const Layout layout = what == "mcp" ? mcp_layout() : what == "a2a" ? a2a_layout() : http_layout();

  namespace fs = std::filesystem;
  const auto io_refused = [&](const char* reason, const std::string& message) {
    return refused(cmd, handshake::make_error(handshake::ErrorCode::kIo, reason, message));
  };
  std::error_code ec;
  const fs::path dir = fs::absolute(a->positional[1], ec);
  if (ec) return io_refused("init.dir", "cannot resolve " + a->positional[1]);
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return io_refused("init.dir", dir.string() + " is not a directory");
    if (!force && !fs::is_empty(dir, ec)) {
      return io_refused("init.not_empty", dir.string() + " is not empty (--force writes into it anyway)");
    }
  }
  fs::create_directories(dir / "dids", ec);
  if (ec) return io_refused("init.dir", "cannot create " + dir.string());

  // Keys and DID Documents (hsk keygen, hsk did).
  struct Role {
    const char* name;
    handshake::PrincipalType type;
  };
  const Role roles[] = {{"org", handshake::PrincipalType::kOrg},
                        {"agent", handshake::PrincipalType::kAgent},
                        {"svc", handshake::PrincipalType::kSvc}};
  std::vector<handshake::Identity> ids;
  const auto now = std::chrono::floor<std::chrono::seconds>(wall_clock().now());
  for (const auto& r : roles) {
    auto id = new_key_file(r.type, dir / (std::string(r.name) + ".key"), force);
    if (!id.ok()) return refused(cmd, id.error());
    handshake::DidDocumentOptions o;
    o.version_time = now;
    auto doc = handshake::make_did_document(*id, o);
    if (!doc.ok()) return refused(cmd, doc.error());
    const auto doc_path = dir / "dids" / (std::string(r.name) + ".did.json");
    if (auto s = write_text_file(doc_path.string(), doc->dump(2) + "\n"); !s.ok()) return refused(cmd, s.error());
    ids.push_back(std::move(id).value());
  }
  const auto& org = ids[0];
  const auto& agent = ids[1];
  const auto& svc = ids[2];

  // The root delegation (hsk delegate).
  handshake::DelegationSpec spec;
  spec.holder = agent.did_string();
  spec.capabilities.push_back({layout.capability, layout.constraints, false});
  spec.ttl = std::chrono::seconds(ttl);
  auto link = handshake::delegate(org, {}, spec, now);
  if (!link.ok()) return refused(cmd, link.error());
  const Json chain = Json::array({std::move(link).value()});

  const std::pair<std::string, std::string> files[] = {
      {"service.yaml", service_yaml(layout, org.did_string(), svc.did_string(), agent.did_string(), ttl)},
      {layout.map_file, layout.map_yaml},
      {"capabilities.json", layout.schema.dump(2) + "\n"},
      {"revoked.json", "[]\n"},
      {"chain.json", canonical(chain) + "\n"},
  };
  for (const auto& [name, text] : files) {
    if (auto s = write_text_file((dir / name).string(), text); !s.ok()) return refused(cmd, s.error());
  }
  if (layout.flavour == Flavour::kHttp) {
    if (auto s = write_text_file((dir / "nginx.conf").string(), kNginxConf); !s.ok()) return refused(cmd, s.error());
  }

  const auto p = [&](const std::string& name) { return (dir / name).string(); };
  const std::vector<std::string> service_role =
      layout.flavour == Flavour::kHttp
          ? std::vector<std::string>{"hsk", "gate", "--config", p("service.yaml"), "--routes", p("routes.yaml"),
                                     "--port", "8091"}
      : layout.flavour == Flavour::kMcp
          ? std::vector<std::string>{"hsk-mcp-proxy", "--role", "service", "--config", p("service.yaml"), "--tools",
                                     p("tools.yaml"), "--", "npx", "-y", "@modelcontextprotocol/server-everything",
                                     "stdio"}
          : std::vector<std::string>{"hsk-a2a-proxy", "--role", "service", "--config", p("service.yaml"), "--skills",
                                     p("skills.yaml"), "--listen", "127.0.0.1:8081", "--upstream",
                                     "http://127.0.0.1:41241/"};
  std::vector<std::string> agent_role{layout.flavour == Flavour::kMcp ? "hsk-mcp-proxy" : "hsk-a2a-proxy",
                                      "--role", "agent", "--key", p("agent.key"), "--chain", p("chain.json"),
                                      "--service-did-doc", p("dids/svc.did.json"), "--receipts",
                                      p("receipts.jsonl")};
  if (layout.flavour == Flavour::kMcp) {
    agent_role.push_back("--");
    agent_role.insert(agent_role.end(), service_role.begin(), service_role.end());
  } else {
    for (const char* w : {"--listen", "127.0.0.1:8082", "--upstream", "http://127.0.0.1:8081/"}) {
      agent_role.push_back(w);
    }
  }
  const std::vector<std::string> renew{
      "hsk", "delegate", "--key", p("org.key"), "--to", agent.did_string(), "--capability", layout.capability,
      "--constraints", canonical(layout.constraints), "--ttl", std::to_string(ttl)};

  auto& out = std::cout;
  out << "Wrote a Handshake " << what << " starting point to " << dir.string() << ":\n"
      << "  org.key agent.key svc.key  key files (0600): org " << org.did_string() << " (trust root)\n"
      << "                             agent " << agent.did_string() << "\n"
      << "                             service " << svc.did_string() << "\n"
      << "  dids/                      their DID Documents\n"
      << "  service.yaml " << layout.map_file << " capabilities.json revoked.json\n"
      << "  chain.json                 org -> agent: " << layout.capability << " " << canonical(layout.constraints)
      << ", valid " << ttl << " s (until " << handshake::time::format_rfc3339(now + std::chrono::seconds(ttl))
      << ")\n\n";
  if (layout.flavour == Flavour::kHttp) {
    const std::vector<std::string> request{"hsk", "request", "--key", p("agent.key"), "--chain", p("chain.json"),
                                           "--to", svc.did_string(), "--capability", "api.routes:list-invoices",
                                           "--constraints", "{\"max_invoices\":5}"};
    out << "Start hsk gate as nginx's auth_request endpoint (nginx.conf holds the server block):\n"
        << "  " << command_line(service_role) << "\n"
        << "or as a reverse proxy in front of your API, signing a receipt over every response:\n"
        << "  " << command_line(service_role) << " --upstream http://127.0.0.1:8080\n\n"
        << "A request as the agent sends it (base64url of the signed HandshakeRequest in Handshake-Request):\n"
        << "  curl -H \"Handshake-Request: $(" << command_line(request)
        << " | basenc --base64url -w0 | tr -d =)\" 'http://127.0.0.1:8000/invoices?limit=5'\n\n"
        << "GET /invoices and GET /invoices/{id} need a handshake; ?limit above the delegation is refused.\n\n";
  } else if (layout.flavour == Flavour::kMcp) {
    out << "Run both roles over stdio: your MCP client launches this command instead of the server's\n"
           "(the agent role starts the service role, which starts server-everything):\n"
        << "  " << command_line(agent_role) << "\n\n"
        << "The service role alone, in front of the server (what the agent role above starts):\n"
        << "  " << command_line(service_role) << "\n\n"
        << "echo and get-sum run with a receipt (kept in receipts.jsonl); every other tool is refused.\n\n";
  } else {
    out << "Start your A2A agent on http://127.0.0.1:41241/ (or change --upstream), then the service role:\n"
        << "  " << command_line(service_role) << "\n\n"
        << "and the agent role, where your A2A client sends instead (http://127.0.0.1:8082/):\n"
        << "  " << command_line(agent_role) << "\n\n"
        << "The skills echo and list-invoices run with a receipt; rename them in skills.yaml to your agent's.\n\n";
  }
  out << "Renew the delegation before it expires (then restart the agent role):\n"
      << "  " << command_line(renew) << " > " << shell_word(p("chain.json.new")) << " && mv "
      << shell_word(p("chain.json.new")) << " " << shell_word(p("chain.json")) << "\n";
  return kOk;
}

}  // namespace hsk::cli
