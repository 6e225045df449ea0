// The HTTP layer (net/http.hpp): URLs, and TLS and mutual TLS between our own client and our own
// listener, with certificates made by tests/tools/make_certs.sh (the openssl command).
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "handshake/net/http.hpp"
#include "handshake/net/http_server.hpp"
#include "net_fixture.hpp"
#include "test_util.hpp"

#include <openssl/ssl.h>

namespace fs = std::filesystem;
namespace net = handshake::net;
using namespace std::chrono_literals;

namespace {

using hsk_net_fx::certs;
using hsk_net_fx::Listener;
using hsk_net_fx::why;

net::TlsServerOptions server_tls(const std::string& name = "server") {
  net::TlsServerOptions o;
  o.cert_file = certs() / (name + ".pem");
  o.key_file = certs() / (name + ".key");
  return o;
}

net::ClientOptions trusting_test_ca() {
  net::ClientOptions o;
  o.tls.ca_file = certs() / "ca.pem";
  o.connect_timeout = 2s;
  o.read_timeout = 2s;
  return o;
}

handshake::Result<net::Response> get(const net::Url& url, const net::ClientOptions& options, const std::string& path = "/hello") {
  auto client = net::Client::open(url, options);
  if (!client.ok()) return client.error();
  return (*client)->get(path);
}

void require_refused(const handshake::Result<net::Response>& r, const std::string& words = {}) {
  INFO(why(r));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == "http.unavailable");
  if (!words.empty()) CHECK(r.error().message.find(words) != std::string::npos);
}

}  // namespace

TEST_CASE("net url: one parser with one set of rules", "[net]") {
  auto u = net::Url::parse("https://Example.COM:8443/mcp?x=1").value();
  CHECK(u.scheme == "https");
  CHECK(u.host == "example.com");
  CHECK(u.port == 8443);
  CHECK(u.path == "/mcp?x=1");
  CHECK(u.origin() == "https://example.com:8443");
  CHECK(u.str() == "https://example.com:8443/mcp?x=1");
  CHECK(net::Url::parse("http://127.0.0.1").value().port == 80);
  CHECK(net::Url::parse("https://h").value().origin() == "https://h");
  CHECK(net::Url::parse("http://h?q").value().path == "/?q");
  const auto v6 = net::Url::parse("http://[::1]:8080/a").value();
  CHECK(v6.host == "::1");
  CHECK(v6.origin() == "http://[::1]:8080");

  for (const char* bad : {"", "ftp://h/", "h:80", "/relative", "http://", "http://:80/", "http://h:/", "http://h:0/",
                          "http://h:65536/", "http://h:8o/", "http://user:pw@h/", "http://h/#frag", "http://h /",
                          "http://[::1/", "http://[nothex]/", "http://h_$/", "http://h\n/"}) {
    CAPTURE(bad);
    auto r = net::Url::parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "url.invalid");
  }
  // The credentials of a refused URL are not repeated back in a way that leaks more than was given.
  CHECK(net::Url::parse("http://user:pw@h/").error().message.find("credentials") != std::string::npos);
}

TEST_CASE("net tls: verified server, host name, CA, expiry, protocol", "[net][tls]") {
  Listener tls(server_tls());
  SECTION("trusting the test CA: served") {
    auto r = get(tls.url("https"), trusting_test_ca());
    INFO(why(r));
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "hello");
    CHECK(get(tls.url("https", "localhost"), trusting_test_ca()).ok());  // DNS name in the certificate too
  }
  SECTION("the system trust store does not know the test CA") {
    require_refused(get(tls.url("https"), net::ClientOptions{}), "certificate");
  }
  SECTION("another CA") {
    auto o = trusting_test_ca();
    o.tls.ca_file = certs() / "other-ca.pem";
    require_refused(get(tls.url("https"), o), "certificate");
  }
  SECTION("plain http to a TLS port") { require_refused(get(tls.url("http"), net::ClientOptions{})); }
  SECTION("a response larger than the bound") {
    auto o = trusting_test_ca();
    o.max_response_bytes = 1000;
    require_refused(get(tls.url("https"), o, "/big"), "larger than 1000 bytes");
  }
}

TEST_CASE("net tls: wrong host, expired certificate, TLS to a plain port, minimum version", "[net][tls]") {
  SECTION("a certificate for another host") {
    Listener other(server_tls("otherhost"));
    require_refused(get(other.url("https"), trusting_test_ca()));
  }
  SECTION("an expired certificate") {
    Listener expired(server_tls("expired"));
    require_refused(get(expired.url("https"), trusting_test_ca()), "expired");
  }
  SECTION("TLS to a plain http port") {
    Listener plain(std::nullopt);
    require_refused(get(plain.url("https"), trusting_test_ca()));
    CHECK(get(plain.url("http"), net::ClientOptions{}).ok());
  }
  SECTION("a TLS 1.2-only server for a client that needs 1.3") {
    Listener old(server_tls());
    SSL_CTX_set_max_proto_version(static_cast<httplib::SSLServer&>(*old.server).ssl_context(), TLS1_2_VERSION);
    auto o = trusting_test_ca();
    CHECK(get(old.url("https"), o).ok());  // 1.2 is the default minimum
    o.tls.min_version = net::TlsVersion::k13;
    require_refused(get(old.url("https"), o));
  }
}

TEST_CASE("net mtls: a client without a certificate is refused in the handshake", "[net][tls]") {
  auto tls = server_tls();
  tls.client_ca_file = certs() / "ca.pem";
  Listener mtls(tls);
  require_refused(get(mtls.url("https"), trusting_test_ca()));
  auto o = trusting_test_ca();
  o.tls.client_cert = certs() / "client.pem";
  o.tls.client_key = certs() / "client.key";
  auto r = get(mtls.url("https"), o);
  INFO(why(r));
  REQUIRE(r.ok());
  CHECK(r->body == "hello");
}

TEST_CASE("net tls: key files owner-only, pairs that match, clear errors", "[net][tls]") {
  const fs::path dir = certs();
  const fs::path loose = dir / "loose.key";
  fs::copy_file(dir / "server.key", loose, fs::copy_options::overwrite_existing);
  fs::permissions(loose, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  net::TlsServerOptions o = server_tls();
  o.key_file = loose;
  auto r = net::make_server(o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == "keyfile.permissions");
  o = server_tls();
  o.key_file = dir / "client.key";  // not the certificate's key
  r = net::make_server(o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == "tls.config");
  o = server_tls();
  o.cert_file = dir / "missing.pem";
  CHECK_FALSE(net::make_server(o).ok());
  CHECK(net::tls_server_options(std::string("a.pem"), std::nullopt, std::nullopt).error().reason == "tls.config");
  CHECK(net::tls_client_options(std::nullopt, std::string("c.pem"), std::nullopt).error().reason == "tls.config");
  net::ClientOptions c;
  c.tls.client_cert = dir / "client.pem";
  c.tls.client_key = loose;
  auto client = net::Client::open(net::Url::parse("https://127.0.0.1:1/").value(), c);
  REQUIRE_FALSE(client.ok());
  CHECK(client.error().reason == "keyfile.permissions");
}

TEST_CASE("net tls: a new certificate is presented after reload, the listener stays", "[net][tls]") {
  const fs::path dir = certs() / "rotating";
  fs::create_directories(dir);
  fs::copy_file(certs() / "otherhost.pem", dir / "cert.pem", fs::copy_options::overwrite_existing);
  fs::copy_file(certs() / "otherhost.key", dir / "key.pem", fs::copy_options::overwrite_existing);
  net::TlsServerOptions o;
  o.cert_file = dir / "cert.pem";
  o.key_file = dir / "key.pem";
  Listener l(o);
  require_refused(get(l.url("https"), trusting_test_ca()));  // a certificate for another host
  // A bad pair is refused and the old one stays.
  fs::copy_file(certs() / "server2.pem", dir / "cert.pem", fs::copy_options::overwrite_existing);
  CHECK_FALSE(net::reload(*l.credentials).ok());  // server2.pem with otherhost's key
  require_refused(get(l.url("https"), trusting_test_ca()));
  fs::copy_file(certs() / "server2.key", dir / "key.pem", fs::copy_options::overwrite_existing);
  REQUIRE(net::reload(*l.credentials).ok());
  auto r = get(l.url("https"), trusting_test_ca());
  INFO(why(r));
  CHECK(r.ok());
}

TEST_CASE("net tls: TLS files are loaded once and again only when they change", "[net][tls]") {
  Listener tls(server_tls());
  hsk_test::TempDir dir("hsk-net-ca");
  const fs::path ca = dir / "ca.pem";
  fs::copy_file(certs() / "other-ca.pem", ca);
  auto o = trusting_test_ca();
  o.tls.ca_file = ca;
  require_refused(get(tls.url("https"), o), "certificate");
  require_refused(get(tls.url("https"), o), "certificate");  // from the cache: the same answer
  // The file replaced (a CA bundle renewed on disk): the next client trusts what it now says.
  fs::copy_file(certs() / "ca.pem", ca, fs::copy_options::overwrite_existing);
  auto r = get(tls.url("https"), o);
  INFO(why(r));
  CHECK(r.ok());
  // And a key made readable by others is refused at the next client, cached or not.
  const fs::path key = dir / "client.key";
  fs::copy_file(certs() / "client.key", key);
  o.tls.client_cert = certs() / "client.pem";
  o.tls.client_key = key;
  REQUIRE(net::Client::open(tls.url("https"), o).ok());
  fs::permissions(key, fs::perms::group_read, fs::perm_options::add);
  auto loose = net::Client::open(tls.url("https"), o);
  REQUIRE_FALSE(loose.ok());
  CHECK(loose.error().reason == "keyfile.permissions");
}
