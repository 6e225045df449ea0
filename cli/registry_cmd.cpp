// hsk registry serve | anchor, and the offline proof checks hsk verify inclusion | consistency.

#include <httplib.h>

#include <pthread.h>

#include <csignal>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "common.hpp"
#include "handshake/did_document.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/merkle.hpp"
#include "handshake/net/http.hpp"
#include "handshake/net/registry_client.hpp"
#include "handshake/net/registry_server.hpp"
#include "handshake/registry_anchor.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/storage/postgres.hpp"
#include "handshake/registry_dids.hpp"
#include "handshake/registry_revocations.hpp"
#include "handshake/did.hpp"
#include "handshake/resolver.hpp"

namespace hsk::cli {

using handshake::Json;

namespace {

handshake::Result<std::vector<handshake::merkle::Hash>> hashes(const Json& list, const char* what) {
  std::vector<handshake::merkle::Hash> out;
  if (!list.is_array()) {
    return handshake::make_error(handshake::ErrorCode::kSchema, "proof.format", std::string(what) + " must be an array");
  }
  for (const auto& e : list) {
    auto b = e.is_string() ? handshake::encoding::hex_decode(e.get<std::string>())
                           : handshake::Result<handshake::encoding::Bytes>(
                                 handshake::make_error(handshake::ErrorCode::kSchema, "proof.format", "not hex"));
    if (!b.ok() || b->size() != 32) {
      return handshake::make_error(handshake::ErrorCode::kSchema, "proof.format",
                                   std::string(what) + " entries must be 64 hex digits");
    }
    handshake::merkle::Hash h{};
    std::copy(b->begin(), b->end(), h.begin());
    out.push_back(h);
  }
  return out;
}

// The registry's key from its DID Document (self-certifying, or trusted as given).
handshake::Result<handshake::crypto::PublicKey> registry_key(const std::string& path) {
  HSK_ASSIGN_OR_RETURN(auto doc, read_json_input(path));
  HSK_ASSIGN_OR_RETURN(auto history, handshake::DidKeyHistory::build({doc}, /*trusted_source=*/true));
  return history.current().key;
}

// hsk verify inclusion without --anchor: the receipt's own registry_anchor names the tree (its
// size and root, signed by the registry). It carries no leaf index or audit path (receipt.json
// closes the member to four fields), so only a one-leaf tree, where the leaf is the root and the
// path is empty, is decided from the receipt alone.
int verify_anchored_alone(const std::string& cmd, const std::string& path, const Json& receipt,
                          const handshake::crypto::PublicKey& key) {
  auto anchor = handshake::registry::verify_registry_anchor(receipt["registry_anchor"], key);
  if (!anchor.ok()) return refused(cmd, in_file(path + ": registry_anchor", anchor.error()));
  if (anchor->tree_size != 1) {
    return refused(cmd, handshake::make_error(
                            handshake::ErrorCode::kInvalidArgument, "proof.missing",
                            path + ": its registry_anchor signs a " + std::to_string(anchor->tree_size) +
                                "-leaf tree but holds no leaf index or inclusion proof: give --anchor ANCHOR.json "
                                "(the answer of hsk registry anchor)"));
  }
  auto verified = handshake::registry::verify_anchored_receipt(receipt, key, 0, {});
  if (!verified.ok()) return refused(cmd, in_file(path, verified.error()));
  std::cout << "valid: receipt is leaf 0 of the 1-leaf tree signed by " << verified->registry_did
            << " (from its registry_anchor)\n";
  return kOk;
}

}  // namespace

int cmd_registry(const std::vector<std::string>& argv) {
  static const char* kHelp =
      "usage: hsk registry serve --key REGISTRY.key --db LOG.db|postgresql://... [--db-password-file FILE]\n"
      "                          [--host 127.0.0.1] [--port 8080] [--tls-cert CERT.pem --tls-key KEY.pem\n"
      "                           [--tls-client-ca CA.pem]]\n"
      "                          [--did-doc SERVICE.did.json]... [--did-db DIDS.db|postgresql://...]\n"
      "                          [--revocation-db REVOCATIONS.db|postgresql://... [--revocation-authority DID]...\n"
      "                           [--admin-token-file TOKEN]] [--check]\n"
      "       hsk registry anchor --url http(s)://HOST:PORT [--key SERVICE.key [--out ANCHORED.json]]\n"
      "                           [--ca-file CA.pem] [--client-cert CERT.pem --client-key KEY.pem] RECEIPT.json\n"
      "\n"
      "--check loads everything serve would (key, documents, databases, token, TLS files), prints one\n"
      "        line and exits 0, or the first problem and exits 1; nothing is served.\n"
      "serve   runs the registry's HTTP API on a Merkle log (see docs/registry.md): an embedded SQLite\n"
      "        file, or a PostgreSQL database that several registry processes share (one linear log;\n"
      "        the password, if any, from --db-password-file, owner-only, or PGPASSFILE):\n"
      "        receipts from the services whose DID Documents are given are checked and their\n"
      "        commitments appended durably; tree heads are signed with REGISTRY.key. Prints\n"
      "        'listening on HOST:PORT' (port 0 picks a free one); SIGINT/SIGTERM stop it. With\n"
      "        --tls-cert/--tls-key it serves https (TLS 1.2+; the key file owner-only; SIGHUP reloads\n"
      "        both files), with --tls-client-ca only to clients with a certificate from that CA. With\n"
      "        --did-db it also publishes countersigned DID Documents (/v1/dids). With\n"
      "        --revocation-db it publishes RevocationStatements (POST /v1/revocations, from the\n"
      "        principals above or in --did-db) and serves the registry-signed revocation feed; the\n"
      "        admin route POST /v1/admin/revocations/publish needs --did-db and --admin-token-file\n"
      "        (a file only its owner can read, holding the bearer token).\n"
      "anchor  posts a receipt and prints the registry's answer: leaf index, leaf hash, signed tree\n"
      "        head, inclusion proof and registry_anchor (check it offline with hsk verify\n"
      "        inclusion). With --key (the receipt's issuer), the answer also holds \"receipt\": the\n"
      "        receipt with its registry_anchor, re-signed (also written to --out). https: the\n"
      "        registry's certificate is checked against the system trust store or --ca-file;\n"
      "        --client-cert/--client-key for a registry that requires client certificates.\n";
  if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") return std::cout << kHelp, argv.empty() ? kUsage : kOk;
  const std::string sub = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  std::string err;
  if (sub == "serve") {
    auto a = parse_args(rest, {"key", "db", "db-password-file", "host", "port", "did-doc", "did-db", "revocation-db",
                               "revocation-authority", "admin-token-file", "tls-cert", "tls-key", "tls-client-ca"},
                        {"check"}, err);
    if (!a) return usage_error("registry serve", err);
    if (a->help) return std::cout << kHelp, kOk;
    const auto key = opt(*a, "key"), db = opt(*a, "db");
    if (!key || !db) return usage_error("registry serve", "--key and --db are required");
    int port = 8080;
    if (auto p = opt(*a, "port")) {
      try {
        port = std::stoi(*p);
      } catch (...) {
        port = -1;
      }
      if (port < 0 || port > 65535) return usage_error("registry serve", "--port must be 0..65535");
    }
    auto tls = handshake::net::tls_server_options(opt(*a, "tls-cert"), opt(*a, "tls-key"), opt(*a, "tls-client-ca"));
    if (!tls.ok()) return refused("registry serve", tls.error());
    std::shared_ptr<handshake::net::TlsCredentials> credentials;
    auto listener = handshake::net::make_server(*tls, &credentials);
    if (!listener.ok()) return refused("registry serve", listener.error());
    auto identity = handshake::load_identity(*key);
    if (!identity.ok()) return refused("registry serve", identity.error());
    handshake::DidDirectory directory;
    if (auto it = a->options.find("did-doc"); it != a->options.end()) {
      for (const auto& path : it->second) {
        auto doc = read_json_input(path);
        if (!doc.ok()) return refused("registry serve", doc.error());
        directory.add(std::move(doc).value());
      }
    }
    if (auto s = directory.finish(true); !s.ok()) return refused("registry serve", s.error());
    handshake::ChainedKeyResolver keys;
    keys.add(std::make_shared<handshake::DirectoryKeyResolver>(std::move(directory)));
    auto is_pg = [](const std::string& v) { return v.rfind("postgresql://", 0) == 0 || v.rfind("postgres://", 0) == 0; };
    const bool on_postgres = is_pg(*db);
    if (opt(*a, "db-password-file") && !on_postgres && !is_pg(opt(*a, "did-db").value_or("")) &&
        !is_pg(opt(*a, "revocation-db").value_or(""))) {
      return usage_error("registry serve", "--db-password-file is for a postgresql:// database");
    }
    // One pool per database URL, shared by the log and the DID Documents.
    std::map<std::string, std::shared_ptr<handshake::storage::PgPool>> pools;
    auto pool_for = [&](const std::string& url) -> handshake::Result<std::shared_ptr<handshake::storage::PgPool>> {
      if (auto it = pools.find(url); it != pools.end()) return it->second;
      handshake::storage::PgOptions pg;
      pg.url = url;
      if (auto pw = opt(*a, "db-password-file")) pg.password_file = *pw;
      auto pool = handshake::storage::PgPool::open(pg);
      if (!pool.ok()) return pool.error();
      pools.emplace(url, *pool);
      return *pool;
    };
    handshake::Result<std::unique_ptr<handshake::registry::LogStore>> log =
        handshake::make_error(handshake::ErrorCode::kInvalidArgument, "registry.store_failed", "no log");
    if (on_postgres) {
      auto pool = pool_for(*db);
      if (!pool.ok()) return refused("registry serve", pool.error());
      log = handshake::storage::open_pg_log(*pool);
    } else {
      log = handshake::registry::open_sqlite_log(*db);
    }
    if (!log.ok()) return refused("registry serve", log.error());
    handshake::net::RegistryServerOptions options;
    std::unique_ptr<handshake::registry::DidStore> did_store;
    if (auto did_db = opt(*a, "did-db")) {
      if (is_pg(*did_db)) {
        auto pool = pool_for(*did_db);
        if (!pool.ok()) return refused("registry serve", pool.error());
        auto rows = handshake::storage::open_pg_did_rows(*pool);
        if (!rows.ok()) return refused("registry serve", rows.error());
        did_store = std::make_unique<handshake::registry::DidStore>(std::move(rows).value());
      } else {
        auto opened = handshake::registry::DidStore::open(*did_db);
        if (!opened.ok()) return refused("registry serve", opened.error());
        did_store = std::move(opened).value();
      }
      options.dids = did_store.get();
      keys.add(std::make_shared<handshake::registry::DidStoreKeyResolver>(*did_store));
    }
    std::unique_ptr<handshake::registry::RevocationPublisher> revocations;
    if (auto rev_db = opt(*a, "revocation-db")) {
      if (is_pg(*rev_db)) {
        auto pool = pool_for(*rev_db);
        if (!pool.ok()) return refused("registry serve", pool.error());
        auto rows = handshake::storage::open_pg_revocation_rows(*pool);
        if (!rows.ok()) return refused("registry serve", rows.error());
        revocations = std::make_unique<handshake::registry::RevocationPublisher>(std::move(rows).value());
      } else {
        auto opened = handshake::registry::RevocationPublisher::open(*rev_db);
        if (!opened.ok()) return refused("registry serve", opened.error());
        revocations = std::move(opened).value();
      }
      options.revocations = revocations.get();
      if (auto it = a->options.find("revocation-authority"); it != a->options.end()) {
        for (const auto& did : it->second) {
          if (auto d = handshake::parse_did(did); !d.ok()) return refused("registry serve", d.error());
          options.revocation_authorities.push_back(did);
        }
      }
    }
    if (auto token_file = opt(*a, "admin-token-file")) {
      if (!revocations || !did_store) {
        return usage_error("registry serve", "--admin-token-file needs --revocation-db and --did-db");
      }
      auto token = handshake::read_secret_file(*token_file, 4096);
      if (!token.ok()) return refused("registry serve", token.error());
      std::string t = std::move(token).value();
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      if (t.size() < 16) {
        return refused("registry serve", handshake::make_error(handshake::ErrorCode::kInvalidArgument, "token.weak",
                                                               "the admin token must be at least 16 characters"));
      }
      options.admin_token = std::move(t);
    }
    handshake::DidDocumentOptions doc_options;
    doc_options.version_time = std::chrono::floor<std::chrono::seconds>(wall_clock().now());
    if (identity->key_version() == 1) {
      if (auto doc = handshake::make_did_document(*identity, doc_options); doc.ok()) options.did_document = *doc;
    }
    if (flag(*a, "check")) {
      // Everything above loaded (key, documents, databases, token, TLS files): not served.
      auto leaves = (**log).size();
      if (!leaves.ok()) return refused("registry serve", leaves.error());
      std::cout << "ok: registry " << identity->did_string() << ", log " << (on_postgres ? "on PostgreSQL" : *db)
                << " (" << *leaves << " leaves)" << (did_store ? ", DID Documents kept" : "")
                << (revocations ? ", revocations published" : "") << (*tls ? ", https" : ", http")
                << "; --check: not started\n";
      return kOk;
    }
    // The listener (plain, or TLS with its certificate reloaded on SIGHUP) until SIGINT/SIGTERM.
    options.server = std::shared_ptr<httplib::Server>(std::move(listener).value());
    handshake::metrics::Registry metrics;  // GET /metrics, /healthz, /readyz
    options.metrics = &metrics;
    handshake::net::RegistryServer server(*identity, **log, keys, wall_clock(), options);
    handshake::net::ServeOptions serve;
    serve.host = opt(*a, "host").value_or("127.0.0.1");
    serve.port = port;
    serve.on_listening = [&](int bound) { std::cout << "listening on " << serve.host << ":" << bound << std::endl; };
    if (credentials) serve.on_reload = [&] { return handshake::net::reload(*credentials); };
    serve.log = [](const std::string& line) { std::cerr << "hsk registry serve: " << line << std::endl; };
    return handshake::net::serve_until_signal(*options.server, serve) == 0 ? kOk : kRefused;
  }
  if (sub == "anchor") {
    auto a = parse_args(rest, {"url", "key", "out", "ca-file", "client-cert", "client-key"}, {}, err);
    if (!a) return usage_error("registry anchor", err);
    if (a->help) return std::cout << kHelp, kOk;
    const auto url = opt(*a, "url");
    if (!url || a->positional.size() != 1) return usage_error("registry anchor", "--url and one RECEIPT are required");
    auto tls = handshake::net::tls_client_options(opt(*a, "ca-file"), opt(*a, "client-cert"), opt(*a, "client-key"));
    if (!tls.ok()) return usage_error("registry anchor", tls.error().message);
    handshake::net::ClientOptions client_options;
    client_options.tls = std::move(tls).value();
    auto client = handshake::net::RegistryClient::open(*url, client_options);
    if (!client.ok()) return refused("registry anchor", client.error());
    auto receipt = read_json_input(a->positional[0]);
    if (!receipt.ok()) return refused("registry anchor", receipt.error());
    std::optional<handshake::Identity> issuer;
    if (auto key = opt(*a, "key")) {
      auto loaded = handshake::load_identity(*key);
      if (!loaded.ok()) return refused("registry anchor", loaded.error());
      issuer = std::move(loaded).value();
    }
    auto body = (*client)->post_receipt(*receipt);
    if (!body.ok()) return refused("registry anchor", body.error());
    if (issuer) {
      if (!body->is_object() || !body->contains("registry_anchor")) {
        return refused("registry anchor", handshake::make_error(handshake::ErrorCode::kSchema, "anchor.missing",
                                                                "the registry's answer holds no registry_anchor"));
      }
      auto anchored = handshake::registry::attach_registry_anchor(*receipt, (*body)["registry_anchor"], *issuer);
      if (!anchored.ok()) return refused("registry anchor", anchored.error());
      if (auto out = opt(*a, "out")) {
        if (auto w = write_text_file(*out, canonical(*anchored) + "\n"); !w.ok()) return refused("registry anchor", w.error());
      }
      (*body)["receipt"] = std::move(anchored).value();
    }
    std::cout << canonical(*body) << "\n";
    return kOk;
  }
  return usage_error("registry", "unknown subcommand '" + sub + "' (serve or anchor)");
}

// hsk verify inclusion | consistency (dispatched from cmd_verify).
int cmd_verify_proof(const std::string& what, const std::vector<std::string>& argv) {
  std::string err;
  auto a = parse_args(argv, {"registry-did-doc", "anchor", "old", "new", "proof"}, {}, err);
  const std::string cmd = "verify " + what;
  if (!a) return usage_error(cmd, err);
  if (a->help) {
    std::cout << "usage: hsk verify inclusion --registry-did-doc REG.did.json [--anchor ANCHOR.json] RECEIPT.json\n"
                 "       hsk verify consistency --registry-did-doc REG.did.json --old HEAD1.json --new HEAD2.json"
                 " --proof PROOF.json\n\n"
                 "Offline checks against signed tree heads: the head's signature with the registry's key, then\n"
                 "the receipt's leaf (SHA-256(0x00 || SHA-256(JCS(receipt)))) in the tree (inclusion), or the\n"
                 "newer tree extending the older (consistency, RFC 9162). Exit 0 valid, 1 invalid, 2 usage.\n"
                 "ANCHOR.json is the answer of hsk registry anchor. An anchored receipt (one with a\n"
                 "registry_anchor member, hsk registry anchor --key) may come alone: its registry_anchor then\n"
                 "gives the signed tree. That member holds no leaf index and no inclusion proof, so alone it\n"
                 "proves inclusion only in a one-leaf tree; for a larger tree give --anchor as well.\n";
    return kOk;
  }
  const auto reg = opt(*a, "registry-did-doc");
  if (!reg) return usage_error(cmd, "--registry-did-doc is required");
  auto key = registry_key(*reg);
  if (!key.ok()) return refused(cmd, key.error());
  if (what == "inclusion") {
    const auto anchor_path = opt(*a, "anchor");
    if (a->positional.size() != 1) return usage_error(cmd, "expected one RECEIPT file");
    auto receipt = read_json_input(a->positional[0]);
    if (!receipt.ok()) return refused(cmd, in_file(a->positional[0], receipt.error()));
    if (!anchor_path) {
      if (!receipt->is_object() || !receipt->contains("registry_anchor")) {
        return usage_error(cmd, a->positional[0] + " carries no registry_anchor: give --anchor ANCHOR.json (the answer of "
                                                   "hsk registry anchor)");
      }
      return verify_anchored_alone(cmd, a->positional[0], *receipt, *key);
    }
    auto anchor = read_json_input(*anchor_path);
    if (!anchor.ok()) return refused(cmd, in_file(*anchor_path, anchor.error()));
    if (!anchor->is_object() || !anchor->contains("tree_head") || !anchor->contains("leaf_index") ||
        !(*anchor)["leaf_index"].is_number_integer()) {
      return refused(cmd, handshake::make_error(handshake::ErrorCode::kSchema, "proof.format",
                                                "the anchor needs tree_head, leaf_index and inclusion_proof"));
    }
    auto head = handshake::registry::verify_tree_head((*anchor)["tree_head"], *key);
    if (!head.ok()) return refused(cmd, head.error());
    auto proof = hashes(anchor->value("inclusion_proof", Json()), "inclusion_proof");
    if (!proof.ok()) return refused(cmd, proof.error());
    auto leaf = handshake::registry::receipt_leaf(*receipt);
    if (!leaf.ok()) return refused(cmd, leaf.error());
    const auto index = (*anchor)["leaf_index"].get<std::int64_t>();
    if (index < 0) return refused(cmd, handshake::make_error(handshake::ErrorCode::kSchema, "proof.format", "bad leaf_index"));
    if (auto s = handshake::merkle::verify_inclusion(static_cast<std::uint64_t>(index), head->tree_size, *leaf, *proof,
                                                     head->root_hash);
        !s.ok()) {
      return refused(cmd, s.error());
    }
    std::string anchored_note;
    if (receipt->is_object() && receipt->contains("registry_anchor")) {
      // An anchored receipt: its own registry_anchor must hold too, against the same proof when
      // it names the same tree.
      const auto anchor_size = handshake::registry::verify_registry_anchor((*receipt)["registry_anchor"], *key);
      if (!anchor_size.ok()) return refused(cmd, anchor_size.error());
      if (anchor_size->tree_size == head->tree_size) {
        auto s = handshake::registry::verify_anchored_receipt(*receipt, *key, static_cast<std::uint64_t>(index), *proof);
        if (!s.ok()) return refused(cmd, s.error());
        anchored_note = "; its registry_anchor verifies";
      } else {
        anchored_note = "; its registry_anchor is signed (tree of " + std::to_string(anchor_size->tree_size) + ")";
      }
    }
    std::cout << "valid: receipt is leaf " << index << " of the " << head->tree_size << "-leaf tree signed by "
              << head->log_id << anchored_note << "\n";
    return kOk;
  }
  const auto old_path = opt(*a, "old"), new_path = opt(*a, "new"), proof_path = opt(*a, "proof");
  if (!old_path || !new_path || !proof_path) return usage_error(cmd, "--old, --new and --proof are required");
  auto h1 = read_json_input(*old_path);
  auto h2 = read_json_input(*new_path);
  auto p = read_json_input(*proof_path);
  if (!h1.ok()) return refused(cmd, h1.error());
  if (!h2.ok()) return refused(cmd, h2.error());
  if (!p.ok()) return refused(cmd, p.error());
  auto head1 = handshake::registry::verify_tree_head(*h1, *key);
  auto head2 = handshake::registry::verify_tree_head(*h2, *key);
  if (!head1.ok()) return refused(cmd, head1.error());
  if (!head2.ok()) return refused(cmd, head2.error());
  auto proof = hashes(p->is_object() ? p->value("consistency_proof", Json()) : *p, "consistency_proof");
  if (!proof.ok()) return refused(cmd, proof.error());
  if (auto s = handshake::merkle::verify_consistency(head1->tree_size, head2->tree_size, *proof, head1->root_hash,
                                                     head2->root_hash);
      !s.ok()) {
    return refused(cmd, s.error());
  }
  std::cout << "valid: the " << head2->tree_size << "-leaf tree extends the " << head1->tree_size << "-leaf tree\n";
  return kOk;
}

}  // namespace hsk::cli
