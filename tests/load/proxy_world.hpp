// What the two proxy load programs (mcp_proxy_load.cpp, a2a_proxy_load.cpp) set up alike: an org
// that delegates billing.invoices.read {max_invoices: N} to an agent, a service, their DID
// Documents, and the service's configuration with short windows (requests valid 10 s, sessions
// 15 s) so that its replay and session stores reach their steady size early in a run. Plus the
// error tally their workers share.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "handshake/agent.hpp"
#include "handshake/chain.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/time.hpp"

namespace hsk_load {

class ServiceWorld {
 public:
  // Writes svc.key, {org,agent,svc}.did.json and service.yaml into `dir`.
  ServiceWorld(const std::filesystem::path& dir, int granted_invoices, const handshake::Clock& clock)
      : agent_seed_(32),
        org_(handshake::Identity::generate({handshake::PrincipalType::kOrg, {}, {}, {}}).value()),
        svc_(handshake::Identity::generate({handshake::PrincipalType::kSvc, {}, {}, {}}).value()) {
    std::random_device rd;
    for (auto& b : agent_seed_) b = static_cast<std::uint8_t>(rd());
    const auto now = std::chrono::floor<std::chrono::seconds>(clock.now());
    const handshake::Identity agent = agent_identity();
    agent_did_ = agent.did_string();
    handshake::Json docs = handshake::Json::array();
    using Named = std::pair<const char*, const handshake::Identity*>;
    for (const auto& [name, id] : {Named{"org", &org_}, Named{"agent", &agent}, Named{"svc", &svc_}}) {
      handshake::DidDocumentOptions o;
      o.version_time = now - std::chrono::hours(1);
      std::ofstream(dir / (std::string(name) + ".did.json")) << handshake::make_did_document(*id, o).value().dump();
      docs.push_back(std::string(name) + ".did.json");
    }
    if (!handshake::save_key_file(svc_, dir / "svc.key").ok()) throw std::runtime_error("cannot write svc.key");
    std::ofstream(dir / "service.yaml") << "identity: svc.key\ntrust_roots: [" << org_.did_string() << "]\n"
                                        << "did_documents: " << docs.dump() << "\n"
                                        << "max_request_age_seconds: 10\nclock_skew_seconds: 2\n"
                                        << "session_ttl_seconds: 15\n"
                                        // The delegation below outlives a long run: 2 h, allowed here.
                                        << "max_delegation_ttl_seconds: 7200\n";
    handshake::DelegationSpec spec;
    spec.holder = agent_did_;
    spec.ttl = std::chrono::hours(2);
    spec.capabilities = {{"billing.invoices.read", handshake::Json{{"max_invoices", granted_invoices}}, std::nullopt}};
    delegation_ = handshake::delegate(org_, {}, spec, now).value();
  }

  [[nodiscard]] std::string service_did() const { return svc_.did_string(); }

  // A new agent Agent (same key each time: one per worker side), its chain the org's delegation.
  [[nodiscard]] handshake::Agent agent(const std::string& instance) const {
    handshake::AgentAttestation att;
    att.deployer = org_.did_string();
    att.model = "load";
    att.instance_id = instance;
    return handshake::Agent(agent_identity(), std::vector<handshake::Json>{delegation_}, att);
  }

 private:
  [[nodiscard]] handshake::Identity agent_identity() const {
    return handshake::Identity::generate({handshake::PrincipalType::kAgent, {}, {}, agent_seed_}).value();
  }

  std::vector<std::uint8_t> agent_seed_;
  handshake::Identity org_, svc_;
  std::string agent_did_;
  handshake::Json delegation_;
};

// Errors by kind, the first few of each printed (thread-safe).
class ErrorTally {
 public:
  void note(const std::string& kind, const std::string& detail) {
    std::lock_guard lock(mu_);
    if (kinds_[kind]++ < 3) std::cerr << "error (" << kind << "): " << detail.substr(0, 400) << "\n";
  }
  [[nodiscard]] std::map<std::string, std::uint64_t> kinds() const {
    std::lock_guard lock(mu_);
    return kinds_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> kinds_;
};

}  // namespace hsk_load
