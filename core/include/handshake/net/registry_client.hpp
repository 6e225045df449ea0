// The registry anchoring client (§22): POST /v1/receipts. One client, shared by
// `hsk registry anchor` and the MCP proxy's background anchor (`hsk-mcp-proxy --registry URL`).
// Part of handshake::net; TLS and mutual TLS as every net::Client (ClientOptions::tls).
#pragma once

#include <memory>
#include <string>

#include "handshake/json.hpp"
#include "handshake/net/http.hpp"
#include "handshake/result.hpp"

namespace handshake::net {

class RegistryClient {
 public:
  // `url` is the registry's http(s)://host[:port] (a path, if any, is a prefix of /v1/...).
  // Checks the URL and the TLS options now, so a bad configuration is a start-up error:
  // kInvalidArgument "url.invalid", and the errors of net::Client::open.
  [[nodiscard]] static Result<std::unique_ptr<RegistryClient>> open(const std::string& url,
                                                                    const ClientOptions& options = {});
  // Posts `receipt` (RFC 8785 canonical JSON) and returns the registry's answer (leaf index, leaf
  // hash, signed tree head, inclusion proof, registry_anchor), as sent; nothing in it is verified
  // here. Errors: kUnavailable "registry.unreachable" (no answer: connection, TLS, timeout, too
  // large), kInvalidArgument with the registry's error code (or "registry.refused") for a status
  // other than 200 or an answer that is not a JSON object, and those of json::canonicalize.
  // Not for concurrent calls (one net::Client inside).
  [[nodiscard]] Result<Json> post_receipt(const Json& receipt);
  [[nodiscard]] const Url& url() const { return url_; }

 private:
  RegistryClient(Url url, std::unique_ptr<Client> client) : url_(std::move(url)), client_(std::move(client)) {}
  Url url_;
  std::unique_ptr<Client> client_;
};

}  // namespace handshake::net
