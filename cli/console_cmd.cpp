// hsk console: the audit console, a single-page application over a receipt store and, optionally,
// a registry. The server hands out the records exactly as stored and the registry's answers
// exactly as given; every check (signatures, DID self-certification, inclusion proofs, tree
// heads) runs in the browser (cli/console/verify.js), so a server or store that lies is caught.

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common.hpp"
#include "console_assets.hpp"
#include "handshake/net/http.hpp"
#include "handshake/receipt_store.hpp"
#include "handshake/storage/receipts.hpp"
#include "handshake/time.hpp"

namespace hsk::cli {

using handshake::Json;

namespace {

constexpr const char* kCmd = "console";
constexpr std::size_t kMaxSamples = 2000;

// No script, style, font, image or connection from anywhere but the console itself.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The registry routes the page may read through the console (same origin): GETs only.
bool registry_path_allowed(std::string_view path) {
  for (std::string_view p : {"/v1/tree-head", "/v1/proofs/inclusion", "/v1/proofs/consistency",
                             "/.well-known/handshake/did.json"}) {
    if (path == p || (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '?')) return true;
  }
  return path.rfind("/v1/dids/", 0) == 0;
}

void secure_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

void json_answer(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(canonical(body), "application/json");
}

void error_answer(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  json_answer(res, status, Json{{"error", {{"code", code}, {"message", message}}}});
}

Json record_json(const handshake::StoredRecord& r) {
  return Json{{"kind", r.kind == handshake::StoredRecord::Kind::kReceipt ? "receipt" : "refusal"},
              {"action", r.action},
              {"message", r.message},
              {"acceptance", r.acceptance},
              {"delegation_chain", r.delegation_chain}};
}

// One client of the registry, shared by the sampler and the page's requests (a net::Client is not
// for concurrent use), and the tree heads seen, oldest first, bounded.
class RegistryView {
 public:
  RegistryView(std::unique_ptr<handshake::net::Client> client, std::string base_path)
      : client_(std::move(client)), base_(std::move(base_path)) {}

  handshake::Result<handshake::net::Response> get(const std::string& path_and_query) {
    std::lock_guard lock(client_mu_);
    return client_->get(base_ + path_and_query);
  }
  // Reads the signed tree head and keeps it (as given: the page checks its signature).
  void sample() {
    auto r = get("/v1/tree-head");
    if (!r.ok() || r->status != 200) return;
    auto head = handshake::json::parse_strict(r->body);
    if (!head.ok()) return;
    std::lock_guard lock(mu_);
    samples_.push_back(Json{{"at", handshake::time::format_rfc3339(wall_clock().now())}, {"tree_head", *head}});
    while (samples_.size() > kMaxSamples) samples_.pop_front();
  }
  Json history() const {
    std::lock_guard lock(mu_);
    return Json{{"samples", Json(std::vector<Json>(samples_.begin(), samples_.end()))}};
  }
  std::string origin() const { return client_->origin().origin() + base_; }

 private:
  std::mutex client_mu_;
  std::unique_ptr<handshake::net::Client> client_;
  std::string base_;
  mutable std::mutex mu_;
  std::deque<Json> samples_;
};

int usage_text() {
  std::cout
      << "usage: hsk console (--receipts FILE.jsonl | --receipts-db DB [--receipts-db-password-file FILE])\n"
         "                   [--registry URL [--ca-file CA.pem] [--client-cert CERT.pem --client-key KEY.pem]\n"
         "                    [--sample-seconds 10]]\n"
         "                   [--did-doc DID.json ...] [--host 127.0.0.1] [--port 8477]\n"
         "                   [--tls-cert CERT.pem --tls-key KEY.pem [--tls-client-ca CA.pem]] [--check]\n"
         "\n"
         "Serves the audit console: a web page (shipped inside hsk, nothing loaded from elsewhere) listing\n"
         "the receipts and refusals of a receipt store (a JSON Lines file; a SQLite file; postgresql://...)\n"
         "with filters (agent, capability, code, time), each call's delegation chain and the receipt DAG\n"
         "drawn as graphs, and the registry's tree size over time. The page checks every receipt itself\n"
         "(Ed25519 and SHA-256 by the browser's WebCrypto): its signature with the issuer's key from a DID\n"
         "Document that must certify itself (SHA-256 of its key = its identifier), its result hash when\n"
         "the result is at hand, and its inclusion in the registry's log against a signed tree head. The\n"
         "console serves what the store and the registry hold as they hold it, and never vouches for it.\n"
         "\n"
         "  --did-doc FILE     DID Documents the page may use (issuers, the registry); repeatable. With\n"
         "                     --registry the page also reads them from the registry's /v1/dids.\n"
         "  --registry URL     the registry whose signed tree head is sampled every --sample-seconds and\n"
         "                     whose proofs and DID Documents the page reads through the console\n"
         "                     (/api/registry/..., same origin)\n"
         "  --host, --port     where to listen (default 127.0.0.1:8477; port 0 picks a free one). Prints\n"
         "                     'listening on HOST:PORT'; SIGINT/SIGTERM stop it.\n"
         "  --check            open everything, serve nothing\n"
         "\n"
         "API (JSON): GET /api/records?kind=&agent=&capability=&code=&since=&until=&limit=  GET /api/dids\n"
         "            GET /api/sth-history  GET /api/config  GET /api/registry/<registry path>\n";
  return kOk;
}

}  // namespace

int cmd_console(const std::vector<std::string>& argv) {
  std::string err;
  auto a = parse_args(argv,
                      {"receipts", "receipts-db", "receipts-db-password-file", "registry", "ca-file", "client-cert",
                       "client-key", "sample-seconds", "did-doc", "host", "port", "tls-cert", "tls-key", "tls-client-ca"},
                      {"check"}, err);
  if (!a) return usage_error(kCmd, err);
  if (a->help) return usage_text();
  if (!a->positional.empty()) return usage_error(kCmd, "unexpected argument '" + a->positional[0] + "'");
  if (!opt(*a, "receipts") && !opt(*a, "receipts-db")) return usage_error(kCmd, "--receipts or --receipts-db is required");
  long port = 8477, sample_seconds = 10;
  try {
    if (auto p = opt(*a, "port")) port = std::stol(*p);
    if (auto s = opt(*a, "sample-seconds")) sample_seconds = std::stol(*s);
  } catch (const std::exception&) {
    return usage_error(kCmd, "--port and --sample-seconds take numbers");
  }
  if (port < 0 || port > 65535) return usage_error(kCmd, "--port must be 0..65535");
  if (sample_seconds < 1 || sample_seconds > 86400) return usage_error(kCmd, "--sample-seconds must be 1..86400");

  // An audit reads what exists: a misspelt file name is an error, not a new empty store. (Both
  // options given is open_receipt_option's usage error.)
  const auto log_file = opt(*a, "receipts"), db = opt(*a, "receipts-db");
  const auto where = log_file ? log_file : db;
  if (!(log_file && db) && where->rfind("postgres", 0) != 0 && !std::filesystem::is_regular_file(*where)) {
    return refused(kCmd, handshake::make_error(handshake::ErrorCode::kIo, "receipts.store_failed", "no such file: " + *where));
  }
  auto store = handshake::storage::open_receipt_option(log_file, db, opt(*a, "receipts-db-password-file"));
  if (!store.ok()) {
    if (store.error().reason == "usage") return usage_error(kCmd, store.error().message);
    return refused(kCmd, store.error());
  }
  handshake::RecordFilter probe_one;
  probe_one.limit = 1;
  if (auto probe = (*store)->list(probe_one); !probe.ok()) return refused(kCmd, probe.error());

  Json did_documents = Json::array();
  if (auto it = a->options.find("did-doc"); it != a->options.end()) {
    for (const auto& path : it->second) {
      auto doc = read_json_input(path);
      if (!doc.ok()) return refused(kCmd, in_file(path, doc.error()));
      if (doc->is_array()) {
        for (const auto& d : *doc) did_documents.push_back(d);
      } else {
        did_documents.push_back(*doc);
      }
    }
  }

  std::unique_ptr<RegistryView> registry;
  if (auto url_text = opt(*a, "registry")) {
    auto url = handshake::net::Url::parse(*url_text);
    if (!url.ok()) return refused(kCmd, url.error());
    auto tls = handshake::net::tls_client_options(opt(*a, "ca-file"), opt(*a, "client-cert"), opt(*a, "client-key"));
    if (!tls.ok()) return refused(kCmd, tls.error());
    handshake::net::ClientOptions co;
    co.tls = *tls;
    auto client = handshake::net::Client::open(*url, co);
    if (!client.ok()) return refused(kCmd, client.error());
    std::string base = url->path == "/" ? "" : url->path;
    while (!base.empty() && base.back() == '/') base.pop_back();
    registry = std::make_unique<RegistryView>(std::move(client).value(), base);
  } else if (opt(*a, "ca-file") || opt(*a, "client-cert") || opt(*a, "client-key")) {
    return usage_error(kCmd, "--ca-file, --client-cert and --client-key need --registry");
  }

  auto tls = handshake::net::tls_server_options(opt(*a, "tls-cert"), opt(*a, "tls-key"), opt(*a, "tls-client-ca"));
  if (!tls.ok()) return refused(kCmd, tls.error());
  std::shared_ptr<handshake::net::TlsCredentials> credentials;
  auto listener = handshake::net::make_server(*tls, &credentials);
  if (!listener.ok()) return refused(kCmd, listener.error());
  if (flag(*a, "check")) {
    std::cout << "ok: console over " << *where << ", "
              << did_documents.size() << " DID Document(s)"
              << (registry ? ", registry " + registry->origin() : std::string()) << "; --check: not started\n";
    return kOk;
  }
  httplib::Server& server = **listener;
  const handshake::ReceiptStore& records = **store;

  server.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) { secure_headers(res); });
  for (const auto& asset : console_assets()) {
    const std::string path = asset.path == "index.html" ? "/" : "/" + std::string(asset.path);
    server.Get(path, [&asset](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(asset.body), std::string(asset.content_type));
    });
  }
  server.Get("/api/config", [&](const httplib::Request&, httplib::Response& res) {
    json_answer(res, 200, Json{{"registry", registry != nullptr}, {"sample_seconds", sample_seconds}});
  });
  server.Get("/api/records", [&](const httplib::Request& req, httplib::Response& res) {
    handshake::RecordFilter f;
    auto param = [&](const char* name) -> std::optional<std::string> {
      if (!req.has_param(name) || req.get_param_value(name).empty()) return std::nullopt;
      return req.get_param_value(name);
    };
    if (auto k = param("kind")) {
      if (*k != "receipt" && *k != "refusal") return error_answer(res, 400, "console.bad_filter", "kind: receipt or refusal");
      f.kind = *k == "receipt" ? handshake::StoredRecord::Kind::kReceipt : handshake::StoredRecord::Kind::kRefusal;
    }
    f.agent = param("agent");
    f.capability = param("capability");
    f.code = param("code");
    f.since = param("since");
    f.until = param("until");
    for (auto* bound : {&f.since, &f.until}) {
      if (*bound && !handshake::time::parse_rfc3339(**bound).ok()) {
        return error_answer(res, 400, "console.bad_filter", "since/until: RFC 3339 with an offset");
      }
    }
    if (auto l = param("limit")) {
      try {
        f.limit = static_cast<std::size_t>(std::stoul(*l));
      } catch (const std::exception&) {
        return error_answer(res, 400, "console.bad_filter", "limit: a number");
      }
    }
    auto listed = records.list(f);
    if (!listed.ok()) return error_answer(res, 503, listed.error().reason, listed.error().message);
    Json out = Json::array();
    for (const auto& r : *listed) out.push_back(record_json(r));
    json_answer(res, 200, Json{{"count", out.size()}, {"records", std::move(out)}});
  });
  server.Get("/api/dids", [&](const httplib::Request&, httplib::Response& res) {
    json_answer(res, 200, Json{{"documents", did_documents}});
  });
  server.Get("/api/sth-history", [&](const httplib::Request&, httplib::Response& res) {
    if (!registry) return json_answer(res, 200, Json{{"samples", Json::array()}});
    registry->sample();
    json_answer(res, 200, registry->history());
  });
  server.Get(R"(/api/registry/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    if (!registry) return error_answer(res, 404, "console.no_registry", "the console runs without --registry");
    constexpr std::string_view kPrefix = "/api/registry";
    const std::string target = req.target.substr(kPrefix.size());
    if (!registry_path_allowed(target)) return error_answer(res, 404, "console.not_proxied", "not a registry read");
    auto answer = registry->get(target);
    if (!answer.ok()) return error_answer(res, 502, answer.error().reason, answer.error().message);
    res.status = answer->status;
    res.set_content(answer->body, "application/json");
  });

  // The tree head over time: one sample now, then every sample_seconds, and one per history read.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread sampler;
  handshake::net::block_signals();  // the sampler thread leaves SIGINT/SIGTERM/SIGHUP to the serving loop
  if (registry) {
    sampler = std::thread([&] {
      std::unique_lock lock(stop_mu);
      while (!stopping) {
        lock.unlock();
        registry->sample();
        lock.lock();
        stop_cv.wait_for(lock, std::chrono::seconds(sample_seconds), [&] { return stopping; });
      }
    });
  }
  handshake::net::ServeOptions serve;
  serve.host = opt(*a, "host").value_or("127.0.0.1");
  serve.port = static_cast<int>(port);
  serve.on_listening = [&](int bound) { std::cout << "listening on " << serve.host << ":" << bound << std::endl; };
  if (credentials) serve.on_reload = [&] { return handshake::net::reload(*credentials); };
  serve.log = [](const std::string& line) { std::cerr << "hsk console: " << line << std::endl; };
  const int rc = handshake::net::serve_until_signal(server, serve);
  if (sampler.joinable()) {
    {
      std::lock_guard lock(stop_mu);
      stopping = true;
    }
    stop_cv.notify_all();
    sampler.join();
  }
  return rc == 0 ? kOk : kRefused;
}

}  // namespace hsk::cli
