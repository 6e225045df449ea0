#include "handshake/net/registry_server.hpp"
#include "handshake/net/ops.hpp"

#include <httplib.h>

#include <charconv>
#include <condition_variable>
#include <deque>
#include <thread>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "handshake/net/http_server.hpp"
#include "handshake/did.hpp"
#include "handshake/did_document.hpp"
#include "handshake/receipt.hpp"
#include "handshake/registry_anchor.hpp"
#include "handshake/revocation.hpp"

namespace handshake::net {
namespace {

Json hashes_json(const std::vector<merkle::Hash>& v) {
  Json a = Json::array();
  for (const auto& h : v) a.push_back(encoding::hex_encode(h));
  return a;
}

void send_json(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(json::canonicalize(body).value_or("{}"), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  send_json(res, status, Json{{"error", {{"code", code}, {"message", message}}}});
}

int status_for(const Error& e) {
  switch (e.code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kInternal:
    case ErrorCode::kIo: return 503;
    case ErrorCode::kNotFound: return 404;
    default: return 400;
  }
}

std::optional<std::uint64_t> parse_u64(const std::string& s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

struct RegistryServer::Impl {
  const Identity& registry;
  registry::LogStore& log;
  const KeyResolver& keys;
  const Clock& clock;
  RegistryServerOptions options;
  std::shared_ptr<httplib::Server> holder;
  httplib::Server& server;
  std::thread thread;

  // Group commit: appenders queue their leaf; one of them integrates the whole queue in one
  // durable transaction and wakes the others.
  struct Pending {
    merkle::Hash leaf{};
    std::optional<Result<std::uint64_t>> outcome;
  };
  std::mutex mu;
  std::condition_variable done;
  std::deque<Pending*> queue;
  bool integrating = false;
  // With options.metrics:
  metrics::Histogram* append_seconds = nullptr;
  std::optional<metrics::Counter> appends;
  ops::Readiness readiness;

  Impl(const Identity& r, registry::LogStore& l, const KeyResolver& k, const Clock& c, RegistryServerOptions o)
      : registry(r), log(l), keys(k), clock(c), options(std::move(o)),
        holder(options.server ? options.server : std::make_shared<httplib::Server>()), server(*holder) {}

  Result<std::uint64_t> append(const merkle::Hash& leaf) {
    Pending me;
    me.leaf = leaf;
    std::unique_lock lock(mu);
    queue.push_back(&me);
    while (!me.outcome) {
      if (!integrating) {
        integrating = true;
        std::vector<Pending*> batch(queue.begin(), queue.end());
        queue.clear();
        lock.unlock();
        std::vector<merkle::Hash> leaves;
        for (auto* p : batch) leaves.push_back(p->leaf);
        const auto started = std::chrono::steady_clock::now();
        auto indexes = log.append(leaves);
        if (append_seconds) {
          append_seconds->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
          appends->with({indexes.ok() ? "ok" : "failed"}).inc(static_cast<double>(leaves.size()));
        }
        lock.lock();
        for (std::size_t i = 0; i < batch.size(); ++i) {
          batch[i]->outcome = indexes.ok() ? Result<std::uint64_t>((*indexes)[i]) : Result<std::uint64_t>(indexes.error());
        }
        integrating = false;
        done.notify_all();
      } else {
        done.wait(lock);
      }
    }
    return *me.outcome;
  }

  Result<Json> tree_head() { return registry::sign_tree_head(log, registry, clock.now()); }

  void post_receipt(const httplib::Request& req, httplib::Response& res) {
    if (req.body.size() > options.max_body_bytes) return send_error(res, 413, "request.too_large", "body too large");
    json::ParseLimits limits;
    limits.max_bytes = options.max_body_bytes;
    auto doc = json::parse_strict(req.body, limits);
    if (!doc.ok()) return send_error(res, 400, doc.error().reason, doc.error().message);
    // Nothing unverified is ever committed.
    if (auto s = verify_receipt(*doc, keys); !s.ok()) return send_error(res, status_for(s.error()), s.error().reason, s.error().message);
    auto leaf = registry::receipt_leaf(*doc);
    if (!leaf.ok()) return send_error(res, 400, leaf.error().reason, leaf.error().message);
    auto anchored = anchor_leaf(*leaf);
    if (!anchored.ok()) return send_error(res, 503, anchored.error().reason, anchored.error().message);
    const auto size = anchored->head["tree_size"].get<std::uint64_t>();
    auto root = encoding::hex_decode(anchored->head["root_hash"].get<std::string>());
    merkle::Hash root_hash{};
    std::copy(root->begin(), root->end(), root_hash.begin());
    auto anchor = registry::sign_registry_anchor(registry, size, root_hash);
    if (!anchor.ok()) return send_error(res, 503, anchor.error().reason, anchor.error().message);
    send_json(res, 200,
              Json{{"leaf_index", anchored->index}, {"leaf_hash", encoding::hex_encode(*leaf)},
                   {"tree_head", anchored->head}, {"inclusion_proof", hashes_json(anchored->proof)},
                   {"registry_anchor", std::move(anchor).value()}});
  }

  // Appends a leaf (group commit) and returns its index, the signed head that includes it and
  // the inclusion proof against that head.
  struct Anchored {
    std::uint64_t index = 0;
    Json head;
    std::vector<merkle::Hash> proof;
  };
  Result<Anchored> anchor_leaf(const merkle::Hash& leaf) {
    Anchored out;
    HSK_ASSIGN_OR_RETURN(out.index, append(leaf));
    HSK_ASSIGN_OR_RETURN(out.head, tree_head());
    const auto size = out.head["tree_size"].get<std::uint64_t>();
    HSK_ASSIGN_OR_RETURN(out.proof, merkle::inclusion_proof(out.index, size, log));
    return out;
  }

  static std::string head_id(const Json& head) {
    merkle::Hash root{};
    auto bytes = encoding::hex_decode(head["root_hash"].get<std::string>());
    if (bytes.ok() && bytes->size() == root.size()) std::copy(bytes->begin(), bytes->end(), root.begin());
    return registry::tree_head_id(head["tree_size"].get<std::uint64_t>(), root);
  }

  void post_revocation(const httplib::Request& req, httplib::Response& res) {
    json::ParseLimits limits;
    limits.max_bytes = options.max_body_bytes;
    auto doc = json::parse_strict(req.body, limits);
    if (!doc.ok()) return send_error(res, 400, doc.error().reason, doc.error().message);
    RevocationList rules;  // only for its checks: schema, signature, authority
    for (const auto& a : options.revocation_authorities) rules.add_authority(a);
    if (auto s = rules.check_statement(*doc, keys); !s.ok()) {
      const int status = s.error().code == ErrorCode::kPermission ? 403 : status_for(s.error());
      return send_error(res, status, s.error().reason, s.error().message);
    }
    auto canon = json::canonicalize(*doc);
    if (!canon.ok()) return send_error(res, 400, canon.error().reason, canon.error().message);
    const auto leaf = merkle::leaf_hash(crypto::sha256(encoding::as_bytes(*canon)));
    auto anchored = anchor_leaf(leaf);
    if (!anchored.ok()) return send_error(res, 503, anchored.error().reason, anchored.error().message);
    const std::string th = head_id(anchored->head);
    auto entry = options.revocations->add_statement(*doc, th, clock.now());
    if (!entry.ok()) return send_error(res, status_for(entry.error()), entry.error().reason, entry.error().message);
    send_json(res, 200,
              Json{{"statement_id", (*doc)["id"]},
                   {"leaf_index", anchored->index},
                   {"leaf_hash", encoding::hex_encode(leaf)},
                   {"tree_head", anchored->head},
                   {"tree_head_id", th},
                   {"inclusion_proof", hashes_json(anchored->proof)},
                   {"entry", *entry ? (*entry)->to_json() : Json(nullptr)}});
  }

  void get_published(const httplib::Request& req, httplib::Response& res) {
    std::optional<std::string> cursor;
    if (req.has_param("cursor")) cursor = req.get_param_value("cursor");
    std::size_t limit = options.feed_page_size;
    if (req.has_param("limit")) {
      auto l = parse_u64(req.get_param_value("limit"));
      if (!l || *l == 0) return send_error(res, 400, "request.limit", "limit must be a positive integer");
      limit = static_cast<std::size_t>(std::min<std::uint64_t>(*l, options.feed_page_size));
    }
    auto page = options.revocations->page(cursor, limit);
    if (!page.ok()) return send_error(res, status_for(page.error()), page.error().reason, page.error().message);
    auto feed = registry::sign_revocation_feed(registry, *page, clock.now());
    if (!feed.ok()) return send_error(res, 503, feed.error().reason, feed.error().message);
    send_json(res, 200, *feed);
  }

  bool admin_authorized(const httplib::Request& req) const {
    const std::string header = req.get_header_value("Authorization");
    static constexpr std::string_view kBearer = "Bearer ";
    if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) return false;
    // Hash both sides first so the comparison takes the same time whatever the lengths.
    const auto given = crypto::sha256(encoding::as_bytes(std::string_view(header).substr(kBearer.size())));
    const auto want = crypto::sha256(encoding::as_bytes(options.admin_token));
    return crypto::constant_time_equal(given, want);
  }

  void post_admin_publish(const httplib::Request& req, httplib::Response& res) {
    if (!admin_authorized(req)) {
      res.set_header("WWW-Authenticate", "Bearer");
      return send_error(res, 401, "auth.required", "a valid admin bearer token is required");
    }
    json::ParseLimits limits;
    limits.max_bytes = options.max_body_bytes;
    auto doc = json::parse_strict(req.body, limits);
    if (!doc.ok()) return send_error(res, 400, doc.error().reason, doc.error().message);
    static constexpr const char* kFields[] = {"subject_did", "key_id", "reason", "tree_head_id"};
    bool shape = doc->is_object() && doc->size() == 4;
    for (const char* f : kFields) shape = shape && doc->contains(f) && (*doc)[f].is_string();
    if (!shape) {
      return send_error(res, 400, "request.body", "the body is exactly {subject_did, key_id, reason, tree_head_id}, all strings");
    }
    const auto subject = (*doc)["subject_did"].get<std::string>();
    if (!parse_did(subject).ok()) return send_error(res, 400, "request.body", "subject_did is not a did:hsk DID");
    auto known = options.dids->versions(subject);
    if (!known.ok()) {
      if (known.error().code == ErrorCode::kNotFound) {
        return send_error(res, 404, "did_not_found", "the subject is not registered with this registry");
      }
      return send_error(res, 503, known.error().reason, known.error().message);
    }
    const auto now = clock.now();
    auto entry = options.revocations->publish(subject, (*doc)["key_id"].get<std::string>(),
                                              (*doc)["reason"].get<std::string>(),
                                              (*doc)["tree_head_id"].get<std::string>(), now, now);
    if (!entry.ok()) return send_error(res, status_for(entry.error()), entry.error().reason, entry.error().message);
    send_json(res, 200, Json{{"id", entry->id}, {"published_at", time::format_rfc3339(entry->published_at)}});
  }

  void get_inclusion(const httplib::Request& req, httplib::Response& res) {
    const auto hex = req.get_param_value("leaf_hash");
    auto bytes = encoding::hex_decode(hex);
    if (!bytes.ok() || bytes->size() != 32) return send_error(res, 400, "request.leaf_hash", "leaf_hash must be 64 hex digits");
    merkle::Hash leaf{};
    std::copy(bytes->begin(), bytes->end(), leaf.begin());
    auto index = log.index_of(leaf);
    if (!index.ok()) return send_error(res, status_for(index.error()), index.error().reason, index.error().message);
    auto head = tree_head();
    if (!head.ok()) return send_error(res, 503, head.error().reason, head.error().message);
    std::uint64_t size = (*head)["tree_size"].get<std::uint64_t>();
    if (req.has_param("tree_size")) {
      auto s = parse_u64(req.get_param_value("tree_size"));
      if (!s || *s > size || *s <= *index) return send_error(res, 400, "request.tree_size", "tree_size out of range");
      size = *s;
    }
    auto proof = merkle::inclusion_proof(*index, size, log);
    if (!proof.ok()) return send_error(res, status_for(proof.error()), proof.error().reason, proof.error().message);
    send_json(res, 200, Json{{"leaf_index", *index}, {"tree_size", size}, {"inclusion_proof", hashes_json(*proof)},
                             {"tree_head", *head}});
  }

  void get_consistency(const httplib::Request& req, httplib::Response& res) {
    auto first = parse_u64(req.get_param_value("first"));
    auto second = parse_u64(req.get_param_value("second"));
    auto size = log.size();
    if (!size.ok()) return send_error(res, 503, size.error().reason, size.error().message);
    if (!first || !second || *first == 0 || *first > *second || *second > *size) {
      return send_error(res, 400, "request.sizes", "need 0 < first <= second <= the tree size");
    }
    auto proof = merkle::consistency_proof(*first, *second, log);
    if (!proof.ok()) return send_error(res, status_for(proof.error()), proof.error().reason, proof.error().message);
    send_json(res, 200, Json{{"first", *first}, {"second", *second}, {"consistency_proof", hashes_json(*proof)}});
  }

  void post_did(const httplib::Request& req, httplib::Response& res) {
    json::ParseLimits limits;
    limits.max_bytes = options.max_body_bytes;
    auto doc = json::parse_strict(req.body, limits);
    if (!doc.ok()) return send_error(res, 400, doc.error().reason, doc.error().message);
    auto stored = options.dids->publish(*doc, registry, clock.now());
    if (!stored.ok()) {
      const int status = stored.error().code == ErrorCode::kUnavailable ? 503 : 400;
      return send_error(res, status, stored.error().reason, stored.error().message);
    }
    send_json(res, 200, Json{{"did", (*stored)["id"]}, {"doc_version", (*stored)["versionId"]}, {"document", *stored}});
  }

  void get_did(const httplib::Request& req, httplib::Response& res) {
    const std::string did = httplib::detail::decode_url(req.matches[1].str(), false);
    auto parsed = parse_did(did);
    if (!parsed.ok()) return send_error(res, 400, parsed.error().reason, parsed.error().message);
    auto versions = options.dids->versions(did);
    if (!versions.ok()) return send_error(res, status_for(versions.error()), versions.error().reason, versions.error().message);
    auto latest = parse_did_document(versions->back());
    if (!latest.ok()) return send_error(res, 503, latest.error().reason, latest.error().message);
    static constexpr const char* kRoles[] = {"user", "agent", "service", "org"};
    send_json(res, 200,
              Json{{"did", did},
                   {"role", kRoles[static_cast<int>(parsed->type)]},
                   {"document", versions->back()},
                   {"primary_ed25519_pubkey_b64u", encoding::base64url_encode(latest->key)},
                   {"doc_version", std::to_string(latest->version)}});
  }

  void get_did_versions(const httplib::Request& req, httplib::Response& res) {
    const std::string did = httplib::detail::decode_url(req.matches[1].str(), false);
    if (auto parsed = parse_did(did); !parsed.ok()) return send_error(res, 400, parsed.error().reason, parsed.error().message);
    auto versions = options.dids->versions(did);
    if (!versions.ok()) return send_error(res, status_for(versions.error()), versions.error().reason, versions.error().message);
    send_json(res, 200, Json{{"did", did}, {"versions", Json(std::move(versions).value())}});
  }

  void routes() {
    net::HttpServerLimits limits;
    limits.workers = options.workers;
    limits.max_body_bytes = options.max_body_bytes;
    apply_limits(server, limits);
    if (options.metrics != nullptr) {
      metrics::Registry& m = *options.metrics;
      append_seconds = &m.histogram("hsk_registry_append_seconds", "One durable group commit of receipt commitments", {})
                            .with({});
      appends = m.counter("hsk_registry_appends_total", "Receipt commitments given to the log (one already there answers with its index), by outcome", {"outcome"});
      m.callback("hsk_registry_tree_size", "Leaves in the registry's log", metrics::Type::kGauge, {}, [this] {
        auto size = log.size();
        return size.ok() ? std::vector<metrics::Sample>{{{}, static_cast<double>(*size)}} : std::vector<metrics::Sample>{};
      });
      readiness.add("log", [this]() -> Status {
        HSK_TRY(log.size());
        return ok_status();
      });
      readiness.add("signing_key", ops::signing_key_check(registry));
      mount_ops(server, OpsEndpoints{options.metrics, &readiness});
    }
    server.Post("/v1/receipts", [this](const httplib::Request& q, httplib::Response& r) { post_receipt(q, r); });
    server.Get("/v1/tree-head", [this](const httplib::Request&, httplib::Response& r) {
      auto head = tree_head();
      if (!head.ok()) return send_error(r, 503, head.error().reason, head.error().message);
      send_json(r, 200, *head);
    });
    server.Get("/v1/proofs/inclusion", [this](const httplib::Request& q, httplib::Response& r) { get_inclusion(q, r); });
    server.Get("/v1/proofs/consistency", [this](const httplib::Request& q, httplib::Response& r) { get_consistency(q, r); });
    if (options.dids != nullptr) {
      server.Post("/v1/dids", [this](const httplib::Request& q, httplib::Response& r) { post_did(q, r); });
      server.Get(R"(/v1/dids/([^/]+)/versions)", [this](const httplib::Request& q, httplib::Response& r) {
        get_did_versions(q, r);
      });
      server.Get(R"(/v1/dids/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) { get_did(q, r); });
    }
    if (options.revocations != nullptr) {
      server.Post("/v1/revocations", [this](const httplib::Request& q, httplib::Response& r) { post_revocation(q, r); });
      server.Get("/v1/revocations/statements", [this](const httplib::Request&, httplib::Response& r) {
        auto all = options.revocations->statements();
        if (!all.ok()) return send_error(r, 503, all.error().reason, all.error().message);
        send_json(r, 200, Json(std::move(all).value()));
      });
      server.Get("/v1/revocations/published", [this](const httplib::Request& q, httplib::Response& r) { get_published(q, r); });
      if (options.dids != nullptr && !options.admin_token.empty()) {
        server.Post("/v1/admin/revocations/publish", [this](const httplib::Request& q, httplib::Response& r) {
          post_admin_publish(q, r);
        });
      }
    }
    server.Get("/.well-known/handshake/did.json", [this](const httplib::Request&, httplib::Response& r) {
      if (options.did_document.is_null()) return send_error(r, 404, "registry.no_did_document", "not configured");
      send_json(r, 200, options.did_document);
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& r, std::exception_ptr) {
      send_error(r, 500, "internal", "internal error");
    });
  }
};

RegistryServer::RegistryServer(const Identity& registry, registry::LogStore& log, const KeyResolver& keys,
                               const Clock& clock, RegistryServerOptions options)
    : impl_(std::make_unique<Impl>(registry, log, keys, clock, std::move(options))) {
  impl_->routes();
}

RegistryServer::~RegistryServer() { stop(); }

Result<int> RegistryServer::start(const std::string& host, int port) {
  const int bound = net::bind_server(impl_->server, host, port);
  if (bound <= 0) return make_error(ErrorCode::kIo, "registry.bind", "cannot listen on " + host + ":" + std::to_string(port));
  impl_->thread = std::thread([this] { impl_->server.listen_after_bind(); });
  for (int i = 0; i < 400 && !impl_->server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return bound;
}

Status RegistryServer::listen(const std::string& host, int port) {
  if (net::bind_server(impl_->server, host, port) <= 0 || !impl_->server.listen_after_bind()) {
    return make_error(ErrorCode::kIo, "registry.bind", "cannot listen on " + host + ":" + std::to_string(port));
  }
  return {};
}

void RegistryServer::stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace handshake::net
