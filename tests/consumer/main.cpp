// Signs and verifies a delegation with nothing but the installed headers and library.
#include <chrono>
#include <cstdio>

#include <handshake/identity.hpp>
#include <handshake/ids.hpp>
#include <handshake/json.hpp>
#include <handshake/messages.hpp>

int main() {
  using namespace handshake;
  auto org = Identity::generate({PrincipalType::kOrg, {}, {}, {}});
  auto agent = Identity::generate({PrincipalType::kAgent, {}, {}, {}});
  if (!org.ok() || !agent.ok()) return 1;
  const auto now = std::chrono::floor<std::chrono::seconds>(SystemClock().now());
  DelegationToken t;
  t.id = ids::make_id(ids::kDelegationPrefix, now);
  t.iss = org->did_string();
  t.sub = t.aud = agent->did_string();
  t.iat = t.nbf = now;
  t.exp = now + std::chrono::seconds(600);
  t.capabilities.push_back({"billing.invoices.read", Json{{"max_invoices", 100}}, false});
  auto signed_token = sign_message(t.to_json(), org->key());
  if (!signed_token.ok()) return std::puts(signed_token.error().to_string().c_str()), 1;
  if (!verify_message_signature(*signed_token, org->public_key()).ok()) return 1;
  if (verify_message_signature(*signed_token, agent->public_key()).ok()) return 1;  // wrong key must fail
  std::puts("consumer: ok");
  return 0;
}
