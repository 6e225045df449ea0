#include "handshake/config.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "handshake/encoding.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/net/registry_resolver.hpp"
#include "handshake/net/revocation_feed.hpp"
#include "handshake/net/wellknown_resolver.hpp"
#include "handshake/storage/postgres.hpp"
#include "handshake/storage/sqlite.hpp"

namespace handshake {
namespace {

Error invalid(const std::string& key, const std::string& why) {
  return make_error(ErrorCode::kSchema, "config.invalid", key + ": " + why);
}

Result<std::string> read_text(const std::filesystem::path& p, std::size_t max_bytes = 16 * 1024 * 1024) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIo, "config.read", "cannot open " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (text.size() > max_bytes) return make_error(ErrorCode::kIo, "config.read", p.string() + " is too large");
  return text;
}

}  // namespace

// The part of the key resolution reload() replaces: fixed keys and trusted DID Documents.
class SwappableKeys final : public KeyResolver {
 public:
  explicit SwappableKeys(std::shared_ptr<const KeyResolver> r) : current_(std::move(r)) {}
  Answer key_at(const std::string& did, Timestamp at) const override { return current_.load()->key_at(did, at); }
  void swap(std::shared_ptr<const KeyResolver> r) { current_.store(std::move(r)); }

 private:
  std::atomic<std::shared_ptr<const KeyResolver>> current_;
};

// The statements of the revocation files, replaced by reload().
class SwappableRevocations final : public RevocationSource {
 public:
  explicit SwappableRevocations(std::shared_ptr<const RevocationSource> r) : current_(std::move(r)) {}
  Answer delegation_revoked(std::string_view id, std::string_view issuer, Timestamp at) const override {
    return current_.load()->delegation_revoked(id, issuer, at);
  }
  Answer principal_revoked(std::string_view did, Timestamp at) const override {
    return current_.load()->principal_revoked(did, at);
  }
  void swap(std::shared_ptr<const RevocationSource> r) { current_.store(std::move(r)); }

 private:
  std::atomic<std::shared_ptr<const RevocationSource>> current_;
};

namespace {

// A source owned elsewhere, as one member of AnyRevocationSource.
class BorrowedRevocations final : public RevocationSource {
 public:
  explicit BorrowedRevocations(std::shared_ptr<const RevocationSource> r) : r_(std::move(r)) {}
  Answer delegation_revoked(std::string_view id, std::string_view issuer, Timestamp at) const override {
    return r_->delegation_revoked(id, issuer, at);
  }
  Answer principal_revoked(std::string_view did, Timestamp at) const override { return r_->principal_revoked(did, at); }

 private:
  std::shared_ptr<const RevocationSource> r_;
};

using PathOf = std::function<std::filesystem::path(const std::string&)>;
Result<ServiceOptions> read_options(const Json& cfg, const std::filesystem::path& base, const PathOf& path_of);
Result<std::vector<std::string>> strings(const Json& cfg, const char* key);

// public_keys, then did_documents (files or directories of *.json), as one resolver.
Result<std::shared_ptr<const KeyResolver>> load_trusted_keys(const Json& cfg, const PathOf& path_of) {
  auto chain = std::make_shared<ChainedKeyResolver>();
  if (cfg.contains("public_keys")) {
    if (!cfg["public_keys"].is_object()) return invalid("public_keys", "must map DIDs to base64url keys");
    auto fixed = std::make_shared<StaticKeyResolver>();
    for (const auto& [did, v] : cfg["public_keys"].items()) {
      if (!v.is_string() || !parse_did(did).ok()) return invalid("public_keys", did + ": bad entry");
      auto key = encoding::base64url_decode(v.get<std::string>());
      if (!key.ok() || key->size() != 32) return invalid("public_keys", did + ": not a 32-byte base64url key");
      crypto::PublicKey pk{};
      std::copy(key->begin(), key->end(), pk.begin());
      fixed->add(did, pk);
    }
    chain->add(fixed);
  }
  DidDirectory directory;
  HSK_ASSIGN_OR_RETURN(auto docs, strings(cfg, "did_documents"));
  for (const auto& d : docs) {
    std::vector<std::filesystem::path> files;
    const auto p = path_of(d);
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (e.path().extension() == ".json") files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(p);
    }
    for (const auto& f : files) {
      HSK_ASSIGN_OR_RETURN(auto text, read_text(f));
      auto doc = json::parse_strict(text);
      if (!doc.ok()) {
        Error e = doc.error();
        e.message = f.string() + ": " + e.message;
        return e;
      }
      directory.add(std::move(doc).value());
    }
  }
  HSK_TRY(directory.finish(/*trusted_source=*/true));
  chain->add(std::make_shared<DirectoryKeyResolver>(std::move(directory)));
  return std::shared_ptr<const KeyResolver>(std::move(chain));
}

// revocations.files, checked with `keys` under revocations.authorities.
Result<std::shared_ptr<const RevocationSource>> load_revocation_files(const Json& rv, const PathOf& path_of,
                                                                      const KeyResolver& keys) {
  HSK_ASSIGN_OR_RETURN(auto authorities, strings(rv, "authorities"));
  auto list = std::make_shared<RevocationList>();
  for (const auto& a : authorities) list->add_authority(a);
  HSK_ASSIGN_OR_RETURN(auto files, strings(rv, "files"));
  for (const auto& f : files) HSK_TRY(load_revocation_file(path_of(f), keys, *list));
  return std::shared_ptr<const RevocationSource>(std::move(list));
}

// Revoked if any source says so; unavailable if any cannot tell and none says revoked.
class AnyRevocationSource final : public RevocationSource {
 public:
  void add(std::unique_ptr<RevocationSource> s) { sources_.push_back(std::move(s)); }
  Answer delegation_revoked(std::string_view id, std::string_view issuer, Timestamp at) const override {
    return combine([&](const RevocationSource& s) { return s.delegation_revoked(id, issuer, at); });
  }
  Answer principal_revoked(std::string_view did, Timestamp at) const override {
    return combine([&](const RevocationSource& s) { return s.principal_revoked(did, at); });
  }

 private:
  template <typename F>
  Answer combine(F f) const {
    bool unavailable = false;
    for (const auto& s : sources_) {
      const Answer a = f(*s);
      if (a == Answer::kRevoked) return a;
      if (a == Answer::kUnavailable) unavailable = true;
    }
    return unavailable ? Answer::kUnavailable : Answer::kNotRevoked;
  }
  std::vector<std::unique_ptr<RevocationSource>> sources_;
};

Result<std::int64_t> positive(const Json& cfg, const char* key, std::int64_t fallback, std::int64_t min = 1) {
  if (!cfg.contains(key)) return fallback;
  if (!cfg[key].is_number_integer() || cfg[key].get<std::int64_t>() < min) {
    return invalid(key, "must be an integer >= " + std::to_string(min));
  }
  return cfg[key].get<std::int64_t>();
}

Result<std::vector<std::string>> strings(const Json& cfg, const char* key) {
  std::vector<std::string> out;
  if (!cfg.contains(key)) return out;
  if (!cfg[key].is_array()) return invalid(key, "must be a list of strings");
  for (const auto& e : cfg[key]) {
    if (!e.is_string()) return invalid(key, "must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

// session_keys: [current.key, previous.key]: session ticket key files (session_ticket.hpp), the
// first seals, all open. Absent: null (a service with session_ttl_seconds > 0 makes its own key).
Result<std::shared_ptr<const SessionTicketKeys>> session_keys(const Json& cfg, const std::filesystem::path& base) {
  if (!cfg.contains("session_keys")) return std::shared_ptr<const SessionTicketKeys>();
  HSK_ASSIGN_OR_RETURN(auto names, strings(cfg, "session_keys"));
  if (names.empty()) return invalid("session_keys", "must list at least one key file (hsk session-key)");
  std::vector<std::filesystem::path> paths;
  for (const auto& n : names) paths.push_back(std::filesystem::path(n).is_absolute() ? std::filesystem::path(n) : base / n);
  return SessionTicketKeys::from_files(paths);
}

// One entry of `resolvers:`:
//   {type: well_known, cache_ttl_seconds: 300, tls: {ca_file: ...}, origins: {acme.com: https://...}}
// A registry's DID and key, from its DID Document (what it serves at
// /.well-known/handshake/did.json), a self-certifying history. `key` names the setting.
Result<std::pair<std::string, crypto::PublicKey>> registry_identity(const Json& r, const std::filesystem::path& base,
                                                                    const std::string& key) {
  if (!r.contains("registry_did_document") || !r["registry_did_document"].is_string()) {
    return invalid(key + ".registry_did_document", "the registry's DID Document file is required");
  }
  const std::filesystem::path p = r["registry_did_document"].get<std::string>();
  HSK_ASSIGN_OR_RETURN(auto text, read_text(p.is_absolute() ? p : base / p));
  HSK_ASSIGN_OR_RETURN(auto doc, json::parse_strict(text));
  auto history = DidKeyHistory::build({doc}, /*trusted_source=*/true);
  if (!history.ok()) return invalid(key + ".registry_did_document", history.error().message);
  return std::make_pair(history->did().str(), history->current().key);
}

// {type: registry, url, registry_did_document, cache_ttl_seconds, tls}: DID Documents from a
// registry (§22.1), each countersigned by it and proving itself.
Result<std::shared_ptr<KeyResolver>> make_registry_resolver(const Json& r, const std::filesystem::path& base) {
  static const SystemClock clock;
  for (const auto& [k, v] : r.items()) {
    if (k != "type" && k != "url" && k != "registry_did_document" && k != "cache_ttl_seconds" && k != "tls") {
      return invalid("resolvers." + k, "unknown key");
    }
  }
  net::RegistryResolverOptions o;
  if (!r.contains("url") || !r["url"].is_string()) return invalid("resolvers.url", "the registry's URL is required");
  o.url = r["url"].get<std::string>();
  HSK_ASSIGN_OR_RETURN(auto id, registry_identity(r, base, "resolvers"));
  o.registry_did = id.first;
  o.registry_key = id.second;
  HSK_ASSIGN_OR_RETURN(auto ttl, positive(r, "cache_ttl_seconds", 60, 0));
  o.cache_ttl = std::chrono::seconds(ttl);
  if (r.contains("tls")) {
    HSK_ASSIGN_OR_RETURN(o.client.tls, net::tls_client_options_from_json(r["tls"], base));
  }
  auto made = net::RegistryKeyResolver::create(std::move(o), clock);
  if (!made.ok()) {
    Error e = made.error();
    e.message = "resolvers: " + e.message;
    return e;
  }
  return std::shared_ptr<KeyResolver>(std::move(made).value());
}

// revocations.feeds[i]: {url, registry_did_document (the registry-signed format), poll_interval_seconds,
// max_staleness_seconds, tls}. Polled once now (a failure is not fatal: the feed answers
// unavailable, failing closed, until a poll succeeds), then in the background.
Result<std::unique_ptr<net::PolledRevocationFeed>> make_feed(const Json& f, const std::filesystem::path& base,
                                                             const KeyResolver& keys,
                                                             const std::vector<std::string>& authorities) {
  static const SystemClock clock;
  if (!f.is_object()) return invalid("revocations.feeds", "each feed is a map with a url");
  for (const auto& [k, v] : f.items()) {
    if (k != "url" && k != "registry_did_document" && k != "poll_interval_seconds" && k != "max_staleness_seconds" &&
        k != "tls") {
      return invalid("revocations.feeds." + k, "unknown key");
    }
  }
  net::FeedOptions o;
  if (!f.contains("url") || !f["url"].is_string()) return invalid("revocations.feeds.url", "required");
  o.url = f["url"].get<std::string>();
  if (f.contains("registry_did_document")) {
    HSK_ASSIGN_OR_RETURN(auto id, registry_identity(f, base, "revocations.feeds"));
    o.registry = net::FeedOptions::RegistryFeed{id.first, id.second};
  }
  HSK_ASSIGN_OR_RETURN(auto every, positive(f, "poll_interval_seconds", 30));
  HSK_ASSIGN_OR_RETURN(auto stale, positive(f, "max_staleness_seconds", 120));
  if (stale < every) return invalid("revocations.feeds.max_staleness_seconds", "must be at least poll_interval_seconds");
  o.poll_interval = std::chrono::seconds(every);
  o.max_staleness = std::chrono::seconds(stale);
  if (f.contains("tls")) {
    HSK_ASSIGN_OR_RETURN(o.client.tls, net::tls_client_options_from_json(f["tls"], base));
  }
  auto feed = net::PolledRevocationFeed::create(std::move(o), keys, clock);
  if (!feed.ok()) {
    Error e = feed.error();
    e.message = "revocations.feeds: " + e.message;
    return e;
  }
  for (const auto& a : authorities) (*feed)->add_authority(a);
  (void)(*feed)->poll_once();
  (*feed)->start();
  return std::move(feed).value();
}

Result<std::shared_ptr<KeyResolver>> make_resolver(const Json& r, const std::filesystem::path& base) {
  static const SystemClock clock;
  if (!r.is_object() || !r.contains("type") || !r["type"].is_string()) {
    return invalid("resolvers", "each entry is a map with a type (well_known)");
  }
  const std::string type = r["type"].get<std::string>();
  if (type == "registry") return make_registry_resolver(r, base);
  if (type != "well_known") return invalid("resolvers.type", "must be well_known or registry");
  for (const auto& [k, v] : r.items()) {
    if (k != "type" && k != "cache_ttl_seconds" && k != "tls" && k != "origins") {
      return invalid("resolvers." + k, "unknown key");
    }
  }
  net::WellKnownResolverOptions o;
  HSK_ASSIGN_OR_RETURN(auto ttl, positive(r, "cache_ttl_seconds", 300, 0));
  o.cache_ttl = std::chrono::seconds(ttl);
  if (r.contains("tls")) {
    HSK_ASSIGN_OR_RETURN(o.client.tls, net::tls_client_options_from_json(r["tls"], base));
  }
  if (r.contains("origins")) {
    if (!r["origins"].is_object()) return invalid("resolvers.origins", "must map host names to https URLs");
    for (const auto& [host, url] : r["origins"].items()) {
      if (!url.is_string()) return invalid("resolvers.origins", host + ": must be an https URL");
      o.origins[host] = url.get<std::string>();
    }
  }
  auto made = net::WellKnownKeyResolver::create(std::move(o), clock);
  if (!made.ok()) {
    Error e = made.error();
    e.message = "resolvers: " + e.message;
    return e;
  }
  return std::shared_ptr<KeyResolver>(std::move(made).value());
}

}  // namespace

Result<std::unique_ptr<ServiceSetup>> ServiceSetup::load(const std::filesystem::path& config_path) {
  HSK_ASSIGN_OR_RETURN(auto text, read_text(config_path, 1024 * 1024));
  HSK_ASSIGN_OR_RETURN(auto cfg, yaml_to_json(text));
  HSK_ASSIGN_OR_RETURN(auto setup, from_json(cfg, config_path.parent_path()));
  setup->config_path_ = config_path;
  return setup;
}

Status ServiceSetup::reload(Service* service) {
  if (config_path_.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "config.reload", "this configuration was not read from a file");
  }
  HSK_ASSIGN_OR_RETURN(auto text, read_text(config_path_, 1024 * 1024));
  HSK_ASSIGN_OR_RETURN(auto cfg, yaml_to_json(text));
  if (!cfg.is_object()) return invalid("(top)", "the configuration must be a map");
  const auto base = base_;
  const PathOf path_of = [&](const std::string& p) {
    return std::filesystem::path(p).is_absolute() ? std::filesystem::path(p) : base / p;
  };
  // Everything is read and checked before anything is replaced: a bad new file keeps the old keys.
  HSK_ASSIGN_OR_RETURN(auto keys, load_trusted_keys(cfg, path_of));
  ChainedKeyResolver with_new_keys;  // revocation statements are checked with the new documents
  with_new_keys.add(keys);
  const Json rv = cfg.value("revocations", Json::object());
  if (!rv.is_object()) return invalid("revocations", "must be a map");
  HSK_ASSIGN_OR_RETURN(auto revoked, load_revocation_files(rv, path_of, with_new_keys));
  if (service != nullptr) {
    const auto& top_level = known_keys();
    for (const auto& [k, v] : cfg.items()) {
      if (std::find(top_level.begin(), top_level.end(), k) == top_level.end()) return invalid(k, "unknown key");
    }
    HSK_ASSIGN_OR_RETURN(auto options, read_options(cfg, base, path_of));
    HSK_TRY(service->reconfigure(std::move(options)));  // the last check; then nothing can fail
  }
  trusted_->swap(std::move(keys));
  revocation_files_->swap(std::move(revoked));
  return {};
}

const std::vector<std::string_view>& ServiceSetup::known_keys() {
  static const std::vector<std::string_view> kKnown = {
      "identity",          "trust_roots",          "capabilities",       "did_documents",
      "public_keys",       "policy",               "clock_skew_seconds", "max_request_age_seconds",
      "max_request_bytes", "max_chain_length",     "session_ttl_seconds", "rate_limits",
      "nonce_store",       "revocations",          "max_sessions",       "rate_limit_store",   "resolvers",
      "session_keys",      "max_delegation_ttl_seconds"};
  return kKnown;
}

namespace {

// Everything of ServiceOptions the file says (all of it reloadable but session_keys).
Result<ServiceOptions> read_options(const Json& cfg, const std::filesystem::path& base, const PathOf& path_of) {
  ServiceOptions o;
  HSK_ASSIGN_OR_RETURN(o.chain.trust_roots, strings(cfg, "trust_roots"));
  if (o.chain.trust_roots.empty()) return invalid("trust_roots", "at least one trusted root is required");
  for (const auto& r : o.chain.trust_roots) {
    if (!parse_did(r).ok()) return invalid("trust_roots", r + " is not a did:hsk DID");
  }
  HSK_ASSIGN_OR_RETURN(auto skew, positive(cfg, "clock_skew_seconds", 60, 0));
  o.chain.clock_skew = std::chrono::seconds(skew);
  HSK_ASSIGN_OR_RETURN(auto age, positive(cfg, "max_request_age_seconds", 300));
  o.max_request_age = std::chrono::seconds(age);
  HSK_ASSIGN_OR_RETURN(auto bytes, positive(cfg, "max_request_bytes", 256 * 1024, 1024));
  o.max_request_bytes = static_cast<std::size_t>(bytes);
  HSK_ASSIGN_OR_RETURN(auto max_ttl, positive(cfg, "max_delegation_ttl_seconds", 600, 0));
  o.chain.max_delegation_ttl = std::chrono::seconds(max_ttl);
  HSK_ASSIGN_OR_RETURN(auto len, positive(cfg, "max_chain_length", 8));
  o.chain.max_chain_length = static_cast<std::size_t>(len);
  HSK_ASSIGN_OR_RETURN(auto ttl, positive(cfg, "session_ttl_seconds", 0, 0));
  o.session_ttl = std::chrono::seconds(ttl);
  if (cfg.contains("max_sessions")) {
    // A setting that would silently do nothing is refused: there is no session table to bound.
    return invalid("max_sessions", "no longer used: warm sessions are sealed tickets (session_keys), no table is kept");
  }
  HSK_ASSIGN_OR_RETURN(o.ticket_keys, session_keys(cfg, base));

  if (cfg.contains("capabilities")) {
    Json doc = cfg["capabilities"];
    if (doc.is_string()) {
      HSK_ASSIGN_OR_RETURN(auto text, read_text(path_of(doc.get<std::string>())));
      HSK_ASSIGN_OR_RETURN(doc, json::parse_strict(text));
    }
    HSK_ASSIGN_OR_RETURN(o.capabilities, capability::CapabilitySchemaSet::from_json(doc));
  }
  if (cfg.contains("policy")) {
    HSK_ASSIGN_OR_RETURN(o.policy, Policy::from_json(cfg["policy"]));
  }
  if (cfg.contains("rate_limits")) {
    if (!cfg["rate_limits"].is_array()) return invalid("rate_limits", "must be a list");
    for (const auto& r : cfg["rate_limits"]) {
      if (!r.is_object()) return invalid("rate_limits", "each entry must be a map");
      for (const auto& [k, v] : r.items()) {
        if (k != "capability" && k != "count" && k != "per_seconds" && k != "per") {
          return invalid("rate_limits." + k, "unknown key");
        }
      }
      // Types checked before reading: a wrong one is a configuration error, not an exception.
      if (r.contains("capability") && !r["capability"].is_string()) return invalid("rate_limits.capability", "must be a glob");
      if (r.contains("per") && !r["per"].is_string()) return invalid("rate_limits.per", "must be agent or deployer");
      RateLimitRule rule;
      if (r.contains("capability")) rule.capability = r["capability"].get<std::string>();
      HSK_ASSIGN_OR_RETURN(rule.count, positive(r, "count", 0));
      HSK_ASSIGN_OR_RETURN(rule.per_seconds, positive(r, "per_seconds", 0));
      if (rule.count < 1 || rule.per_seconds < 1) return invalid("rate_limits", "count and per_seconds are required");
      const std::string per = r.value("per", "agent");
      if (per != "agent" && per != "deployer") return invalid("rate_limits.per", "must be agent or deployer");
      rule.per = per == "agent" ? RateLimitRule::Per::kAgent : RateLimitRule::Per::kDeployer;
      o.rate_limits.push_back(std::move(rule));
    }
  }

  return o;
}

}  // namespace

Result<std::unique_ptr<ServiceSetup>> ServiceSetup::from_json(const Json& cfg, const std::filesystem::path& base) {
  if (!cfg.is_object()) return invalid("(top)", "the configuration must be a map");
  const auto& top_level = known_keys();
  for (const auto& [k, v] : cfg.items()) {
    if (std::find(top_level.begin(), top_level.end(), k) == top_level.end()) return invalid(k, "unknown key");
  }
  auto path_of = [&](const std::string& p) { return std::filesystem::path(p).is_absolute() ? std::filesystem::path(p) : base / p; };
  std::unique_ptr<ServiceSetup> s(new ServiceSetup());

  if (!cfg.contains("identity") || !cfg["identity"].is_string()) return invalid("identity", "a key file path is required");
  // A key file (relative to this file) or a PKCS#11 URI (pkcs11.hpp).
  const std::string identity = cfg["identity"].get<std::string>();
  HSK_ASSIGN_OR_RETURN(auto id, pkcs11::is_uri(identity) ? load_identity(identity) : load_key_file(path_of(identity)));
  s->identity_.emplace(std::move(id));

  HSK_ASSIGN_OR_RETURN(s->options_, read_options(cfg, base, path_of));

  // Keys: fixed keys first, then the DID Documents given (both reloaded by reload()), then the
  // resolvers that fetch.
  s->config_path_.clear();
  s->base_ = base;
  HSK_ASSIGN_OR_RETURN(auto trusted, load_trusted_keys(cfg, path_of));
  s->trusted_ = std::make_shared<SwappableKeys>(std::move(trusted));
  s->resolver_ = std::make_shared<ChainedKeyResolver>();
  s->resolver_->add(s->trusted_);
  // Then the resolvers that fetch (§5.1), in the order given.
  if (cfg.contains("resolvers")) {
    if (!cfg["resolvers"].is_array()) return invalid("resolvers", "must be a list");
    for (const auto& r : cfg["resolvers"]) {
      HSK_ASSIGN_OR_RETURN(auto resolver, make_resolver(r, base));
      s->resolver_->add(std::move(resolver));
    }
  }

  // Stores: memory / SQLite for one host, PostgreSQL for several (storage/). Stores naming the same
  // database share one connection pool.
  std::map<std::string, std::shared_ptr<storage::PgPool>> pools;
  auto pool_for = [&](const Json& spec, const std::string& key) -> Result<std::shared_ptr<storage::PgPool>> {
    static const char* kPgKeys[] = {"type", "url", "password_file", "pool_size", "max_entries"};
    for (const auto& [k, v] : spec.items()) {
      if (std::none_of(std::begin(kPgKeys), std::end(kPgKeys), [&n = k](const char* known) { return n == known; })) {
        return invalid(key + "." + k, "unknown key");
      }
    }
    if (!spec.contains("url") || !spec["url"].is_string()) return invalid(key + ".url", "required for postgres");
    storage::PgOptions o;
    o.url = spec["url"].get<std::string>();
    if (spec.contains("password_file")) {
      if (!spec["password_file"].is_string()) return invalid(key + ".password_file", "must be a path");
      o.password_file = path_of(spec["password_file"].get<std::string>());
    }
    HSK_ASSIGN_OR_RETURN(auto size, positive(spec, "pool_size", 8));
    o.pool_size = static_cast<std::size_t>(size);
    const std::string id = o.url + '\n' + (o.password_file ? o.password_file->string() : std::string());
    if (auto it = pools.find(id); it != pools.end()) return it->second;
    auto pool = storage::PgPool::open(o);
    if (!pool.ok()) {
      Error e = pool.error();
      e.message = key + ": " + e.message;
      return e;
    }
    pools.emplace(id, *pool);
    s->pools_.push_back(*pool);
    return *pool;
  };

  // Nonces.
  Json ns = cfg.value("nonce_store", Json{{"type", "memory"}});
  if (!ns.is_object()) return invalid("nonce_store", "must be a map");
  if (ns.contains("type") && !ns["type"].is_string()) return invalid("nonce_store.type", "must be memory, sqlite or postgres");
  const std::string type = ns.value("type", "memory");
  if (type == "memory" || type == "sqlite") {
    // (postgres keys are checked by pool_for)
    for (const auto& [k, v] : ns.items()) {
      if (k != "type" && k != "max_entries" && !(type == "sqlite" && k == "path")) {
        return invalid("nonce_store." + k, "unknown key for type " + type);
      }
    }
  }
  HSK_ASSIGN_OR_RETURN(auto max_entries, positive(ns, "max_entries", type == "memory" ? 1'000'000 : 10'000'000));
  if (type == "memory") {
    s->nonces_ = make_memory_nonce_store(static_cast<std::size_t>(max_entries));
  } else if (type == "sqlite") {
    if (!ns.contains("path") || !ns["path"].is_string()) return invalid("nonce_store.path", "required for sqlite");
    HSK_ASSIGN_OR_RETURN(s->nonces_, storage::open_sqlite_nonce_store(path_of(ns["path"].get<std::string>()),
                                                                      static_cast<std::size_t>(max_entries)));
  } else if (type == "postgres") {
    HSK_ASSIGN_OR_RETURN(auto pool, pool_for(ns, "nonce_store"));
    HSK_ASSIGN_OR_RETURN(s->nonces_, storage::open_pg_nonce_store(pool, static_cast<std::size_t>(max_entries)));
  } else {
    return invalid("nonce_store.type", "must be memory, sqlite or postgres");
  }

  // Rate-limit counters: per process in memory, or shared by every instance in PostgreSQL.
  Json rs = cfg.value("rate_limit_store", Json{{"type", "memory"}});
  if (!rs.is_object()) return invalid("rate_limit_store", "must be a map");
  if (rs.contains("type") && !rs["type"].is_string()) return invalid("rate_limit_store.type", "must be memory or postgres");
  const std::string rate_type = rs.value("type", "memory");
  if (rate_type == "memory") {
    for (const auto& [k, v] : rs.items()) {
      if (k != "type" && k != "max_entries") return invalid("rate_limit_store." + k, "unknown key for type memory");
    }
    HSK_ASSIGN_OR_RETURN(auto max_keys, positive(rs, "max_entries", 1'000'000));
    s->limiter_ = make_memory_rate_limiter(static_cast<std::size_t>(max_keys));
  } else if (rate_type == "postgres") {
    HSK_ASSIGN_OR_RETURN(auto pool, pool_for(rs, "rate_limit_store"));
    HSK_ASSIGN_OR_RETURN(s->limiter_, storage::open_pg_rate_limiter(pool));
  } else {
    return invalid("rate_limit_store.type", "must be memory or postgres");
  }

  // Revocations.
  auto any = std::make_unique<AnyRevocationSource>();
  Json rv = cfg.value("revocations", Json::object());
  if (!rv.is_object()) return invalid("revocations", "must be a map");
  for (const auto& [k, v] : rv.items()) {
    if (k != "files" && k != "sqlite" && k != "postgres" && k != "authorities" && k != "feeds") {
      return invalid("revocations." + k, "unknown key");
    }
  }
  HSK_ASSIGN_OR_RETURN(auto authorities, strings(rv, "authorities"));
  HSK_ASSIGN_OR_RETURN(auto list, load_revocation_files(rv, path_of, *s->resolver_));
  s->revocation_files_ = std::make_shared<SwappableRevocations>(std::move(list));
  any->add(std::make_unique<BorrowedRevocations>(s->revocation_files_));
  if (rv.contains("feeds")) {
    if (!rv["feeds"].is_array()) return invalid("revocations.feeds", "must be a list");
    for (const auto& f : rv["feeds"]) {
      HSK_ASSIGN_OR_RETURN(auto feed, make_feed(f, base, *s->resolver_, authorities));
      s->feeds_.push_back(feed.get());
      any->add(std::move(feed));
    }
  }
  if (rv.contains("sqlite") && rv.contains("postgres")) {
    return invalid("revocations", "one store: sqlite or postgres, not both");
  }
  if (rv.contains("sqlite")) {
    if (!rv["sqlite"].is_string()) return invalid("revocations.sqlite", "must be a path");
    HSK_ASSIGN_OR_RETURN(auto store, storage::open_sqlite_revocation_store(path_of(rv["sqlite"].get<std::string>()),
                                                                           *s->resolver_, authorities));
    s->revocation_store_ = store.get();
    any->add(std::move(store));
  }
  if (rv.contains("postgres")) {
    if (!rv["postgres"].is_object()) return invalid("revocations.postgres", "must be a map (url, password_file, pool_size)");
    HSK_ASSIGN_OR_RETURN(auto pool, pool_for(rv["postgres"], "revocations.postgres"));
    HSK_ASSIGN_OR_RETURN(auto store, storage::open_pg_revocation_store(pool, *s->resolver_, authorities));
    s->revocation_store_ = store.get();
    any->add(std::move(store));
  }
  s->revocations_ = std::move(any);
  return s;
}

std::unique_ptr<Service> ServiceSetup::make_service(const Clock& clock) const {
  // The service shares the setup's signer: no copy of the key is made. The setup was checked
  // when it loaded, so create() cannot refuse it.
  ServiceConfig c;
  c.identity = *identity_;
  c.options = options_;
  c.clock = &clock;
  c.keys = resolver_.get();
  c.revocations = revocations_.get();
  c.nonces = nonces_.get();
  c.limiter = limiter_.get();
  return Service::create(std::move(c)).value();
}

void ServiceSetup::add_checks(ops::Readiness& readiness) const {
  if (!pools_.empty()) {
    readiness.add("postgres", [pools = pools_]() -> Status {
      for (const auto& p : pools) HSK_TRY(p->ping());
      return ok_status();
    });
  }
  if (!feeds_.empty()) {
    readiness.add("revocation_feeds", [feeds = feeds_]() -> Status {
      for (const auto* f : feeds) HSK_TRY(f->health());
      return ok_status();
    });
  }
  readiness.add("signing_key", ops::signing_key_check(*identity_));
}

void ServiceSetup::add_metrics(metrics::Registry& registry) const {
  const NonceStore* nonces = nonces_.get();
  registry.callback("hsk_nonce_store_entries", "Nonces remembered for replay detection (expired ones until swept)",
                    metrics::Type::kGauge, {},
                    [nonces] { return std::vector<metrics::Sample>{{{}, static_cast<double>(nonces->size())}}; });
  if (!feeds_.empty()) {
    registry.callback("hsk_revocation_feed_age_seconds", "Seconds since each revocation feed last answered",
                      metrics::Type::kGauge, {"feed"}, [feeds = feeds_] {
                        std::vector<metrics::Sample> out;
                        for (std::size_t i = 0; i < feeds.size(); ++i) {
                          // The feed's position in the configuration: a URL may carry a token.
                          // No sample before the first answer: the readiness probe says not ready then.
                          if (auto age = feeds[i]->age_seconds()) out.push_back({{std::to_string(i)}, *age});
                        }
                        return out;
                      });
  }
}

}  // namespace handshake
