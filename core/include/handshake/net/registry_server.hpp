// The registry's HTTP API (cpp-httplib), part of handshake::net. JSON in and out; errors are
// 4xx/5xx with {"error": {"code": <reason token>, "message": ...}}.
//
//   POST /v1/receipts                   a signed Receipt. Checked (strict JSON, schema, signature by
//                                       its issuer) before anything is committed; its commitment
//                                       (registry::receipt_commitment) becomes a leaf (§18: the
//                                       registry keeps commitments, not receipts). Concurrent
//                                       appends are integrated together, one durable transaction
//                                       per group. 200 {"leaf_index", "leaf_hash", "tree_head",
//                                       "inclusion_proof", "registry_anchor"}: the anchor object
//                                       for that tree head, which the service puts into the
//                                       receipt (registry::attach_registry_anchor)
//   GET  /v1/tree-head                  the signed tree head
//   GET  /v1/proofs/inclusion?leaf_hash=HEX[&tree_size=N]
//                                       {"leaf_index", "tree_size", "inclusion_proof", "tree_head"}
//   GET  /v1/proofs/consistency?first=N&second=M
//                                       {"first", "second", "consistency_proof"}
//   POST /v1/dids                       a DID Document version (self-certifying DID; version 1 or the
//                                       next, signed by the previous); the registry countersigns it
//                                       (§5.1) → {"did", "doc_version", "document"}
//   GET  /v1/dids/{did}                 {"did", "role", "document", "primary_ed25519_pubkey_b64u",
//                                        "doc_version"} for the newest version (DID URL-encoded)
//   GET  /v1/dids/{did}/versions        {"did", "versions": [every version, oldest first]} so a
//                                       client can check the whole history itself
//   POST /v1/revocations                a signed RevocationStatement. Checked (schema, the issuer's
//                                       signature, authority: revocation.hpp) and anchored (its
//                                       commitment SHA-256(JCS(statement)) becomes a leaf) before it
//                                       is stored; a principal revocation becomes a feed entry.
//                                       200 {"statement_id", "leaf_index", "leaf_hash", "tree_head",
//                                       "tree_head_id", "inclusion_proof", "entry" (or null)}
//   GET  /v1/revocations/statements     every stored statement (a JSON array; the format
//                                       net::PolledRevocationFeed polls, each signed by its issuer)
//   GET  /v1/revocations/published[?cursor=C&limit=N]
//                                       the registry-signed feed (§22.2, revocations-published-feed)
//   POST /v1/admin/revocations/publish  (§22.3) Authorization: Bearer <admin token>; body exactly
//                                       {subject_did, key_id, reason, tree_head_id}; idempotent on
//                                       the triple → {"id", "published_at"}; 404 did_not_found when
//                                       the subject has no document here; 401 without the token
//   GET  /.well-known/handshake/did.json  the registry's own DID Document
// Every answer carries Cache-Control: no-store. Hashes are lowercase hex; tree heads as
// registry_log.hpp describes; receipt commitments and anchors as registry_anchor.hpp describes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/registry_dids.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/registry_revocations.hpp"
#include "handshake/resolver.hpp"
#include "handshake/metrics.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace httplib {
class Server;
}

namespace handshake::net {

struct RegistryServerOptions {
  std::size_t max_body_bytes = 256 * 1024;
  std::size_t workers = 64;  // connections served at once (net/http_server.hpp)
  registry::DidStore* dids = nullptr;  // enables /v1/dids (borrowed; must outlive the server)
  Json did_document;  // served at /.well-known/handshake/did.json (the registry's own, signed)
  registry::RevocationPublisher* revocations = nullptr;  // enables /v1/revocations* (borrowed)
  std::vector<std::string> revocation_authorities;       // may revoke other principals (revocation.hpp)
  // Enables POST /v1/admin/revocations/publish (with `dids`); compared in constant time. Empty: off.
  std::string admin_token;
  std::size_t feed_page_size = 1000;
  // The listener the routes go on, e.g. a TLS one from net::make_server (net/http.hpp); absent: a
  // plain http one. Serve it with start()/listen() or net::serve_until_signal.
  std::shared_ptr<httplib::Server> server;
  // Set: GET /metrics, /healthz and /readyz (net/ops.hpp) with the registry's own metrics
  // (hsk_registry_tree_size, hsk_registry_append_seconds: one durable group commit,
  // hsk_registry_appends_total{outcome}) and readiness (the log answers, the key signs).
  // Borrowed.
  metrics::Registry* metrics = nullptr;
};


class RegistryServer {
 public:
  // Borrowed collaborators must outlive the server.
  RegistryServer(const Identity& registry, registry::LogStore& log, const KeyResolver& keys, const Clock& clock,
                 RegistryServerOptions options = {});
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  // Binds host:port (port 0: any free port) and serves on a background thread. Errors: kIo
  // "registry.bind".
  [[nodiscard]] Result<int> start(const std::string& host, int port);
  // Serves on the calling thread until stop() (for `hsk registry serve`).
  [[nodiscard]] Status listen(const std::string& host, int port);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace handshake::net
