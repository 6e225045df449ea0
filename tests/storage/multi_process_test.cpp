// Several service processes on one PostgreSQL database, through the command a user runs
// (`hsk service verify --lines`): the same signed request sent to all of them at once is accepted
// exactly once; a revocation added through one reaches the others.
#include <signal.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "child_process.hpp"
#include "handshake/agent.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/revocation.hpp"
#include "handshake/time.hpp"
#include "fixtures.hpp"
#include "pg_fixture.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
using namespace std::chrono_literals;

namespace {

using hsk_storage_fx::identity;
using hsk_storage_fx::must;


// An org delegating to an agent, a service configured to trust the org and to keep its nonces and
// revocations in PostgreSQL; `instances` processes of `hsk service verify --lines` on it.
struct Deployment {
  hsk_storage_fx::TempDir tmp{"hsk-multi"};
  const fs::path& dir = tmp.path();
  hs::Identity org = identity(hs::PrincipalType::kOrg, 21);
  hs::Identity agent_id = identity(hs::PrincipalType::kAgent, 22);
  hs::Identity svc = identity(hs::PrincipalType::kSvc, 23);
  std::vector<hs::Json> chain;
  std::unique_ptr<hs::Agent> agent;
  std::vector<std::unique_ptr<hsk_test::ChildProcess>> instances;

  explicit Deployment(int n) {
    const hs::Timestamp now = hs::SystemClock().now();
    hs::DelegationSpec spec;
    spec.holder = agent_id.did_string();
    spec.capabilities = {hs::Capability{"billing.invoices.read", hs::Json::object(), std::nullopt}};
    spec.ttl = 600s;
    chain.push_back(must(hs::delegate(org, {}, spec, now)));
    hs::AgentAttestation attestation;
    attestation.deployer = org.did_string();
    attestation.model = "test-model";
    attestation.instance_id = "instance-1";
    agent = std::make_unique<hs::Agent>(identity(hs::PrincipalType::kAgent, 22), chain, attestation);
    if (!hs::save_key_file(svc, dir / "svc.key").ok()) throw std::runtime_error("cannot write svc.key");
    const std::string url = hsk_test::PgCluster::shared().fresh_url();
    std::ofstream(dir / "service.yaml")
        << "identity: svc.key\n"
        << "trust_roots: [" << org.did_string() << "]\n"
        << "public_keys:\n"
        << "  " << org.did_string() << ": " << hs::encoding::base64url_encode(org.public_key()) << "\n"
        << "  " << agent_id.did_string() << ": " << hs::encoding::base64url_encode(agent_id.public_key()) << "\n"
        << "nonce_store: {type: postgres, url: \"" << url << "\", pool_size: 2}\n"
        << "revocations: {postgres: {url: \"" << url << "\", pool_size: 2}}\n";
    for (int i = 0; i < n; ++i) {
      instances.push_back(std::make_unique<hsk_test::ChildProcess>(
          std::vector<std::string>{HSK_CLI, "service", "verify", "--config", (dir / "service.yaml").string(), "--lines"},
          dir.string()));
    }
  }
  ~Deployment() { instances.clear(); }  // the processes end before their directory goes
  Deployment(const Deployment&) = delete;
  Deployment& operator=(const Deployment&) = delete;

  [[nodiscard]] std::string request() const {
    const hs::Capability cap{"billing.invoices.read", hs::Json::object(), std::nullopt};
    return must(hs::json::canonicalize(must(agent->request(svc.did_string(), cap, hs::SystemClock().now()))));
  }
};

// The answer's kind and, for a Refusal, its code.
std::string outcome(const std::optional<std::string>& line) {
  if (!line) return "no answer";
  auto doc = hs::json::parse_strict(*line);
  if (!doc.ok() || !doc->is_object()) return "not JSON";
  if (doc->contains("reason")) return "refused:" + (*doc)["reason"].value("code", std::string("?"));
  if (doc->contains("effective_scope")) return "accepted";
  return "unknown";
}

}  // namespace

TEST_CASE("three service processes on one database: the same request is accepted exactly once",
          "[postgres][multi]") {
  ::signal(SIGPIPE, SIG_IGN);
  Deployment d(3);
  constexpr int kRounds = 1000;
  int not_exactly_once = 0;
  int other_answers = 0;
  for (int round = 0; round < kRounds; ++round) {
    const std::string line = d.request() + "\n";
    for (auto& p : d.instances) REQUIRE(p->write(line));  // all three have it before any answers
    int accepted = 0;
    for (auto& p : d.instances) {
      const std::string o = outcome(p->read_line(10s));
      if (o == "accepted") {
        ++accepted;
      } else if (o != "refused:replay_detected") {
        ++other_answers;
        UNSCOPED_INFO("round " << round << ": " << o);
      }
    }
    if (accepted != 1) ++not_exactly_once;
  }
  CHECK(other_answers == 0);
  CHECK(not_exactly_once == 0);
}

TEST_CASE("three service processes on one database: a revocation added through one reaches all",
          "[postgres][multi]") {
  ::signal(SIGPIPE, SIG_IGN);
  Deployment d(3);
  for (auto& p : d.instances) {
    REQUIRE(p->write(d.request() + "\n"));
    REQUIRE(outcome(p->read_line(10s)) == "accepted");
  }
  const hs::Json statement = must(hs::make_revocation(
      d.org, d.chain[0]["id"].get<std::string>(), std::nullopt, "policy_change", hs::SystemClock().now()));
  std::ofstream(d.dir / "revocation.json") << statement.dump();
  hsk_test::ChildProcess revoke({HSK_CLI, "service", "revoke", "--config", (d.dir / "service.yaml").string(),
                                 (d.dir / "revocation.json").string()},
                                d.dir.string());
  REQUIRE(revoke.read_line(10s).value_or("").rfind("stored ", 0) == 0);
  // Pushed (LISTEN/NOTIFY), not polled: every instance refuses within moments.
  for (auto& p : d.instances) {
    std::string o;
    const auto start = std::chrono::steady_clock::now();
    do {
      REQUIRE(p->write(d.request() + "\n"));
      o = outcome(p->read_line(10s));
    } while (o == "accepted" && std::chrono::steady_clock::now() - start < 1500ms);
    CHECK(o == "refused:credential_revoked");
  }
}

TEST_CASE("a service on PostgreSQL: the database down is a signed service_unavailable, and accepts resume by themselves",
          "[postgres][multi]") {
  ::signal(SIGPIPE, SIG_IGN);
  Deployment d(1);
  auto& service = *d.instances[0];
  REQUIRE(service.write(d.request() + "\n"));
  REQUIRE(outcome(service.read_line(10s)) == "accepted");

  auto& cluster = hsk_test::PgCluster::shared();
  cluster.halt();
  for (int i = 0; i < 5; ++i) {
    REQUIRE(service.write(d.request() + "\n"));
    const auto line = service.read_line(15s);
    CHECK(outcome(line) == "refused:service_unavailable");  // signed, never an accept, never a crash
    if (line) CHECK(line->find("\"retry_after_seconds\":") != std::string::npos);
  }
  cluster.resume();
  const auto start = std::chrono::steady_clock::now();
  std::string o;
  do {
    REQUIRE(service.write(d.request() + "\n"));
    o = outcome(service.read_line(15s));
    if (o != "accepted") std::this_thread::sleep_for(100ms);
  } while (o != "accepted" && std::chrono::steady_clock::now() - start < 10s);
  CHECK(o == "accepted");
  CHECK(std::chrono::steady_clock::now() - start < 5s);  // without a restart
}
