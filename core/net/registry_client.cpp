#include "handshake/net/registry_client.hpp"

namespace handshake::net {

Result<std::unique_ptr<RegistryClient>> RegistryClient::open(const std::string& url, const ClientOptions& options) {
  auto parsed = Url::parse(url);
  if (!parsed.ok()) {
    Error e = parsed.error();
    e.message = "the registry URL: " + e.message;
    return e;
  }
  HSK_ASSIGN_OR_RETURN(auto client, Client::open(*parsed, options));
  return std::unique_ptr<RegistryClient>(new RegistryClient(std::move(parsed).value(), std::move(client)));
}

Result<Json> RegistryClient::post_receipt(const Json& receipt) {
  HSK_ASSIGN_OR_RETURN(auto body, json::canonicalize(receipt));
  std::string path = url_.path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  path += "/v1/receipts";
  auto res = client_->post(path, body, "application/json");
  if (!res.ok()) return make_error(ErrorCode::kUnavailable, "registry.unreachable", res.error().message);
  auto answer = json::parse_strict(res->body);
  if (res->status != 200 || !answer.ok() || !answer->is_object()) {
    std::string code = "registry.refused";
    if (answer.ok() && answer->is_object() && answer->contains("error") && (*answer)["error"].is_object() &&
        (*answer)["error"].contains("code") && (*answer)["error"]["code"].is_string()) {
      code = (*answer)["error"]["code"].get<std::string>();
    }
    return make_error(ErrorCode::kInvalidArgument, code,
                      url_.origin() + " answered HTTP " + std::to_string(res->status) +
                          (res->status == 200 ? " with an answer that is not a JSON object"
                                              : (peer_says(*res).empty() ? "" : ": " + peer_says(*res))));
  }
  return std::move(answer).value();
}

}  // namespace handshake::net
