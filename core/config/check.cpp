// `--check` for a service configuration (config.hpp: check_service_config).
#include "handshake/command_line.hpp"
#include "handshake/config.hpp"
#include "handshake/crypto.hpp"
#include "handshake/chain.hpp"
#include "handshake/pkcs11.hpp"

#include <fstream>
#include <iterator>

namespace handshake {

std::unique_ptr<ServiceSetup> check_service_config(const std::filesystem::path& path, CheckReport& report) {
  auto loaded = ServiceSetup::load(path);
  if (!loaded.ok()) {
    report.error(path.string() + ": " + loaded.error().to_string());
    return nullptr;
  }
  auto setup = std::move(loaded).value();
  const ServiceOptions& o = setup->options();
  report.ok(path.string() + ": service " + setup->identity().did_string());
  // The key signs (every answer is signed): a key that cannot is found now, not at the first call.
  {
    static constexpr std::uint8_t kProbe[] = {'h', 's', 'k', '-', 'c', 'h', 'e', 'c', 'k'};
    const auto sig = setup->identity().key().try_sign(kProbe);
    if (!sig.ok()) {
      report.error("the service's key cannot sign: " + sig.error().to_string());
    } else if (crypto::verify(setup->identity().public_key(), kProbe, *sig)) {
      report.ok("the service's key signs (" + setup->identity().key().where() + ")");
    } else {
      report.error("the service's key does not produce signatures its public key verifies");
    }
  }
  // A chain starts at a trust root: its key must be known, or every chain is refused
  // signature_invalid ("no key known").
  const Timestamp now = SystemClock().now();
  for (const auto& root : o.chain.trust_roots) {
    const auto answer = setup->keys().key_at(root, now);
    switch (answer.status) {
      case KeyResolver::Status::kFound:
        report.ok("trust root " + root + ": key known");
        break;
      case KeyResolver::Status::kNotFound:
        report.error("trust root " + root +
                     ": no key known (add its DID Document to did_documents, or a public_keys entry); every "
                     "chain from it would be refused signature_invalid");
        break;
      case KeyResolver::Status::kUnavailable:
        report.warning("trust root " + root + ": its key cannot be fetched now (" + answer.detail + ")");
        break;
    }
  }
  report.ok("agents: their DID Documents must be in did_documents (or public_keys, or a resolver); a request "
            "from an agent whose key is not known is refused signature_invalid");
  if (o.chain.max_delegation_ttl.count() > 0) {
    report.ok("delegations may live at most " + std::to_string(o.chain.max_delegation_ttl.count()) +
              " s (max_delegation_ttl_seconds); clock skew " + std::to_string(o.chain.clock_skew.count()) + " s");
  }
  if (o.session_ttl.count() > 0) {
    report.ok("warm sessions for " + std::to_string(o.session_ttl.count()) + " s" +
              (o.ticket_keys ? " (session_keys: shared between instances)" : " (a random key: this instance only)"));
  }
  return setup;
}

AgentFiles check_agent_files(const std::optional<std::string>& key, const std::optional<std::string>& chain_path,
                             CheckReport& report) {
  AgentFiles out;
  if (!key) report.error("--role agent needs --key AGENT.key");
  if (!chain_path) report.error("--role agent needs --chain CHAIN.json");
  if (key) {
    auto id = load_identity(*key);
    if (report.check(*key + ": key", id)) {
      out.identity.emplace(std::move(id).value());
      report.ok("agent " + out.identity->did_string());
    }
  }
  if (!chain_path) return out;
  std::ifstream in(*chain_path, std::ios::binary);
  if (!in) {
    report.error(*chain_path + ": cannot read it");
    return out;
  }
  auto doc = json::parse_strict(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  if (!report.check(*chain_path + ": JSON", doc)) return out;
  const Json links = doc->is_array() ? *doc : Json::array({*doc});
  if (links.empty()) {
    report.error(*chain_path + ": holds no delegation");
    return out;
  }
  std::vector<DelegationToken> chain;
  for (std::size_t i = 0; i < links.size(); ++i) {
    auto t = DelegationToken::from_json(links[i]);
    if (!t.ok()) {
      report.error(*chain_path + "[" + std::to_string(i) + "]: " + t.error().to_string());
      return out;
    }
    chain.push_back(std::move(t).value());
  }
  if (!out.identity) return out;
  if (report.check(*chain_path + ": held by the key and valid now",
                   check_held_chain(chain, out.identity->did_string(), SystemClock().now(), {}, *chain_path))) {
    out.links.assign(links.begin(), links.end());
  }
  return out;
}

}  // namespace handshake
