// Shared by the tests of handshake::net: test certificates and a listener of ours.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "handshake/net/http.hpp"
#include "handshake/net/http_server.hpp"

namespace hsk_net_fx {

namespace fs = std::filesystem;
namespace net = handshake::net;

template <typename T>
std::string why(const handshake::Result<T>& r) {
  return r.ok() ? std::string("ok") : r.error().to_string();
}

// The certificates of make_certs.sh, made once per test process.
inline const fs::path& certs() {
  static const fs::path dir = [] {
    const fs::path d = fs::temp_directory_path() / ("hsk-certs-" + std::to_string(::getpid()));
    const std::string cmd = "bash " + (fs::path(HSK_TEST_SOURCE_DIR) / "tools" / "make_certs.sh").string() + " " + d.string();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make_certs.sh failed");
    return d;
  }();
  return dir;
}

// One of our listeners on a free loopback port, serving GET /hello, until destroyed.
struct Listener {
  std::unique_ptr<httplib::Server> server;
  std::shared_ptr<net::TlsCredentials> credentials;
  std::thread thread;
  int port = 0;

  explicit Listener(const std::optional<net::TlsServerOptions>& tls) {
    auto made = net::make_server(tls, &credentials);
    INFO(why(made));
    REQUIRE(made.ok());
    server = std::move(made).value();
    server->Get("/hello", [](const httplib::Request&, httplib::Response& res) { res.set_content("hello", "text/plain"); });
    server->Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(100000, 'x'), "text/plain");
    });
    port = net::bind_server(*server, "127.0.0.1", 0);
    REQUIRE(port > 0);
    thread = std::thread([this] { server->listen_after_bind(); });
    for (int i = 0; i < 100 && !server->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~Listener() {
    server->stop();
    thread.join();
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  [[nodiscard]] net::Url url(const std::string& scheme, const std::string& host = "127.0.0.1") const {
    return net::Url::parse(scheme + "://" + host + ":" + std::to_string(port) + "/").value();
  }
};


}  // namespace hsk_net_fx
