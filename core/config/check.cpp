// `--check` for a service configuration (config.hpp: check_service_config).
#include "handshake/command_line.hpp"
#include "handshake/config.hpp"
#include "handshake/crypto.hpp"

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

}  // namespace handshake
