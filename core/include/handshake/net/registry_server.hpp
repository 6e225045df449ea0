// The registry's HTTP API (cpp-httplib), part of handshake::net. JSON in and out; errors are
// 4xx/5xx with {"error": {"code": <reason token>, "message": ...}}.
//
//   POST /v1/receipts                   a signed Receipt. Checked (strict JSON, schema, signature by
//                                       its issuer) before anything is committed; its commitment
//                                       SHA-256(JCS(receipt)) becomes a leaf (§18: the registry
//                                       keeps commitments, not receipts). Concurrent appends are
//                                       integrated together, one durable transaction per group.
//                                       200 {"leaf_index", "leaf_hash", "tree_head", "inclusion_proof"}
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
//   GET  /.well-known/handshake/did.json  the registry's own DID Document
// Hashes are lowercase hex; tree heads as registry_log.hpp describes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/registry_dids.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::net {

struct RegistryServerOptions {
  std::size_t max_body_bytes = 256 * 1024;
  registry::DidStore* dids = nullptr;  // enables /v1/dids (borrowed; must outlive the server)
  Json did_document;  // served at /.well-known/handshake/did.json (the registry's own, signed)
};

// The commitment a receipt contributes: SHA-256(JCS(receipt)); its leaf is merkle::leaf_hash of
// those 32 bytes.
[[nodiscard]] Result<merkle::Hash> receipt_leaf(const Json& receipt);

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
