// Keys in hardware (pkcs11.hpp) against a SoftHSM2 token made for this test (tests/tools/
// softhsm_token.sh, its own SOFTHSM2_CONF in a temp dir): URIs, a key generated in the token, one
// signer used by 8 threads at once, every signature checked with libsodium against the public key
// the token reports.
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/crypto.hpp"
#include "handshake/pkcs11.hpp"
#include "handshake/encoding.hpp"
#include "test_util.hpp"

#include <atomic>
#include <fstream>

namespace hs = handshake;
namespace p11 = handshake::pkcs11;

namespace {

// One token for the whole test process: the module reads SOFTHSM2_CONF once, at C_Initialize.
struct Token {
  hsk_test::TempDir dir{"hsk-p11"};
  std::string module;
  Token() {
    const std::string script = std::string(HSK_TEST_SOURCE_DIR) + "/tools/softhsm_token.sh";
    const std::string out = (dir.path() / "module").string();
    const std::string cmd = "bash " + script + " " + (dir.path() / "hsm").string() + " hsk-test > " + out;
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("softhsm_token.sh failed (is softhsm2 installed?)");
    std::ifstream in(out);
    std::getline(in, module);
    ::setenv("SOFTHSM2_CONF", (dir.path() / "hsm" / "softhsm2.conf").c_str(), 1);
  }
  [[nodiscard]] std::string uri(const std::string& object) const {
    return "pkcs11:token=hsk-test;object=" + object + "?module-path=" + module +
           "&pin-source=file:" + (dir.path() / "hsm" / "pin").string();
  }
};

Token& token() {
  static Token t;
  return t;
}

}  // namespace

TEST_CASE("pkcs11: RFC 7512 URIs: what is taken, what is refused", "[pkcs11]") {
  auto u = p11::Uri::parse("pkcs11:token=My%20Token;object=svc;type=private?module-path=/m.so&pin-source=file:/p");
  REQUIRE(u.ok());
  CHECK(u->token == "My Token");
  CHECK(u->object == "svc");
  CHECK(u->module_path == "/m.so");
  CHECK(u->pin_file == "/p");
  for (const char* bad : {"pkcs:token=a;object=b?module-path=/m", "pkcs11:object=b?module-path=/m",
                          "pkcs11:token=a;object=b", "pkcs11:token=a;token=b;object=c?module-path=/m",
                          "pkcs11:token=a;object=b?module-path=/m&pin-value=1234", "pkcs11:token=a%2;object=b?module-path=/m",
                          "pkcs11:token=a;object=b;type=public?module-path=/m", "pkcs11:token=a;object=b?module-path=/m&pin-source=/p",
                          "pkcs11:token=a;object=b;serial=1?module-path=/m"}) {
    CAPTURE(bad);
    auto r = p11::Uri::parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "pkcs11.uri");
  }
}

TEST_CASE("pkcs11: a key generated in the token signs for its DID; 8 threads through one signer", "[pkcs11]") {
  auto uri = p11::Uri::parse(token().uri("svc-threads"));
  REQUIRE(uri.ok());
  auto id = p11::generate_identity(*uri, hs::PrincipalType::kSvc);
  INFO((id.ok() ? std::string() : id.error().to_string()));
  REQUIRE(id.ok());
  CHECK(id->did() == hs::did_for_key(hs::PrincipalType::kSvc, id->public_key()));
  CHECK(id->key().where() == "pkcs11:token=hsk-test;object=svc-threads");
  // No key file for a key in hardware.
  CHECK(hs::save_key_file(*id, token().dir.path() / "x.key").error().reason == "keyfile.not_exportable");
  // The same key again from the token, by URI.
  auto again = hs::load_identity(token().uri("svc-threads"));
  REQUIRE(again.ok());
  CHECK(again->did() == id->did());
  CHECK(again->public_key() == id->public_key());

  std::vector<std::thread> threads;
  std::atomic<int> good{0}, bad{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string m = "message " + std::to_string(t) + "/" + std::to_string(i);
        auto sig = id->key().try_sign(hs::encoding::as_bytes(m));
        if (sig.ok() && hs::crypto::verify(id->public_key(), hs::encoding::as_bytes(m), *sig)) {
          ++good;
        } else {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(good == 200);
  CHECK(bad == 0);
}
