// The plain-HTTP adapter through its public API: the route map's form and its mistakes, matching,
// the values a request gives its constraints, and every answer of Gate::check.
#include <catch2/catch.hpp>

#include "core/fixtures.hpp"
#include "handshake/encoding.hpp"
#include "handshake/http/gate.hpp"

using namespace hsk_fx;
using hs::Json;
namespace http = handshake::http;

namespace {

hs::Result<hs::ActionMap> routes(const std::string& yaml) { return hs::ActionMap::from_yaml(yaml, http::route_map_format()); }

std::string b64u(const std::string& text) {
  return hs::encoding::base64url_encode(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

Json from_b64u(const std::string& text) {
  auto bytes = must(hs::encoding::base64url_decode(text));
  return Json::parse(std::string(bytes.begin(), bytes.end()));
}

std::optional<std::string> answer_header(const http::Answer& a, const std::string& name) {
  for (const auto& [k, v] : a.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

const char* kMap = R"(
unmapped: refuse
routes:
  "GET /invoices":
    capability: billing.invoices.read
    constraints: {max_invoices: request.query.limit}
  "GET /invoices/{id}": {capability: billing.invoices.read}
  "GET /invoices/latest": {capability: billing.invoices.read, constraints: {max_invoices: request.headers.x-limit}}
)";

}  // namespace

TEST_CASE("route map: the form and its mistakes", "[http][routes]") {
  CHECK(http::Routes::compile(must(routes(kMap))).ok());
  auto bad = [](const std::string& yaml, bool without_body = false) {
    auto map = routes(yaml);
    if (!map.ok()) return map.error().to_string();
    auto compiled = http::Routes::compile(*map, without_body);
    return compiled.ok() ? std::string("ok") : compiled.error().to_string();
  };
  CHECK_THAT(bad("routes: {\"/invoices\": {capability: a.b}}"), Catch::Contains("METHOD /path"));
  CHECK_THAT(bad("routes: {\"FETCH /x\": {capability: a.b}}"), Catch::Contains("unknown method"));
  CHECK_THAT(bad("routes: {\"GET x\": {capability: a.b}}"), Catch::Contains("must start with /"));
  CHECK_THAT(bad("routes: {\"GET /x?y=1\": {capability: a.b}}"), Catch::Contains("no query"));
  CHECK_THAT(bad("routes: {\"GET /a/{id}/{id}\": {capability: a.b}}"), Catch::Contains("repeated parameter"));
  CHECK_THAT(bad("routes: {\"GET /a/x{id}\": {capability: a.b}}"), Catch::Contains("whole segment"));
  CHECK_THAT(bad("routes: {\"GET /a\": {capability: a.b, constraints: {n: request.path.id}}}"),
             Catch::Contains("not a parameter of the path"));
  CHECK_THAT(bad("routes: {\"GET /a\": {capability: a.b, constraints: {n: request.cookies.x}}}"),
             Catch::Contains("sources are"));
  CHECK_THAT(bad("routes: {\"GET /a\": {capability: a.b, constraints: {n: request.headers.X-Limit}}}"),
             Catch::Contains("lower case"));
  const std::string body_route = "routes: {\"POST /p\": {capability: a.b, constraints: {max_amount: request.body.amount}}}";
  CHECK(bad(body_route) == "ok");
  CHECK_THAT(bad(body_route, true), Catch::Contains("reads the body"));
}

TEST_CASE("route map: matching, literal segments first, and the values a request gives", "[http][routes]") {
  const auto map = must(routes(kMap));
  const auto r = must(http::Routes::compile(map));
  auto latest = r.match("GET", "/invoices/latest");
  REQUIRE(latest);
  CHECK(latest->rule->constraints.size() == 1);  // the literal route, not {id}
  auto one = r.match("GET", "/invoices/inv%2042");
  REQUIRE(one);
  CHECK(one->path["id"] == "inv 42");
  CHECK(r.match("GET", "/invoices/42")->path["id"] == 42);
  CHECK_FALSE(r.match("POST", "/invoices"));
  CHECK_FALSE(r.match("GET", "/invoices/1/2"));
  CHECK_FALSE(r.match("GET", "/invoices/%zz"));

  http::Request req;
  req.method = "GET";
  req.target = "/invoices?limit=5&name=a+b%21&tag=x&tag=y&neg=-1.5e2&lead=007";
  req.headers = {{"X-Limit", "12"}, {"Accept", "text/plain"}};
  auto args = must(http::request_arguments(req, Json::object()));
  CHECK(args["query"]["limit"] == 5);
  CHECK(args["query"]["name"] == "a b!");
  CHECK(args["query"]["tag"] == Json::array({"x", "y"}));  // twice: a list no scalar constraint takes
  CHECK(args["query"]["neg"] == -150.0);
  CHECK(args["query"]["lead"] == "007");  // not a JSON number
  CHECK(args["headers"]["x-limit"] == 12);
  CHECK_FALSE(args.contains("body"));
  req.target = "/invoices?limit=%4";
  CHECK_FALSE(http::request_arguments(req, Json::object()).ok());
  req.target = "/p";
  req.content_type = "application/json";
  req.body = R"({"amount": 1, "amount": 2})";
  CHECK_FALSE(http::request_arguments(req, Json::object()).ok());  // duplicate members: not guessed at
  req.body = R"({"amount": 40})";
  CHECK(must(http::request_arguments(req, Json::object()))["body"]["amount"] == 40);
}

TEST_CASE("gate: every answer of check()", "[http][gate]") {
  World w;
  auto agent = w.default_agent();
  auto gate = must(http::Gate::create(w.service(), must(routes(kMap)), true));
  auto call = [&](std::string target, std::optional<std::string> carried, std::string header_name = "Handshake-Request") {
    http::Request r;
    r.method = "GET";
    r.target = std::move(target);
    if (carried) r.headers.emplace_back(header_name, *carried);
    return gate->check(r);
  };
  auto code_of = [&](const http::Answer& a) {
    REQUIRE(answer_header(a, "Handshake-Refusal"));
    const Json refusal = from_b64u(*answer_header(a, "Handshake-Refusal"));
    CHECK(Json::parse(a.body) == refusal);
    CHECK(hs::verify_message_signature(refusal, w.svc.public_key()).ok());
    return refusal["reason"]["code"].get<std::string>();
  };

  const Json ok_req = w.request(agent, read_cap(5));
  const auto ok = call("/invoices?limit=5", b64u(ok_req.dump()));
  CHECK(ok.status == 200);
  REQUIRE(answer_header(ok, "Handshake-Acceptance"));
  CHECK(from_b64u(*answer_header(ok, "Handshake-Acceptance"))["request_id"] == ok_req["id"]);
  REQUIRE(ok.decision);
  CHECK(ok.decision->accepted);

  const auto replay = call("/invoices?limit=5", b64u(ok_req.dump()));
  CHECK(replay.status == 403);
  CHECK(code_of(replay) == "replay_detected");

  const auto over = call("/invoices?limit=500", b64u(w.request(agent, read_cap(5)).dump()), "x-handshake-request");
  CHECK(over.status == 403);
  CHECK(code_of(over) == "scope_exceeded");

  const auto listed = call("/invoices?limit=1&limit=2", b64u(w.request(agent, read_cap(5)).dump()));
  CHECK(code_of(listed) == "scope_exceeded");

  const auto none = call("/invoices?limit=1", std::nullopt);
  CHECK(none.status == 401);
  CHECK(answer_header(none, "WWW-Authenticate") == std::optional<std::string>("Handshake"));
  CHECK(code_of(none) == "policy_denied");

  const auto garbled = call("/invoices?limit=1", "not+base64url=");
  CHECK(garbled.status == 403);
  CHECK(code_of(garbled) == "protocol_version_unsupported");

  std::string dup = w.request(agent, read_cap(1)).dump();
  dup.insert(1, "\"aud\":\"did:hsk:svc:zX\",");
  CHECK(code_of(call("/invoices?limit=1", b64u(dup))) == "protocol_version_unsupported");

  const auto unmapped = call("/payments", b64u(w.request(agent, read_cap(1)).dump()));
  CHECK(unmapped.status == 403);
  CHECK(code_of(unmapped) == "policy_denied");

  auto pass_map = must(routes("unmapped: pass\nroutes: {\"GET /x\": {capability: billing.invoices.read}}"));
  auto open_gate = must(http::Gate::create(w.service(), std::move(pass_map), true));
  http::Request free_call;
  free_call.method = "GET";
  free_call.target = "/elsewhere";
  const auto passed = open_gate->check(free_call);
  CHECK(passed.status == 200);
  CHECK_FALSE(passed.decision);
}

TEST_CASE("gate: a receipt over a response body, JSON or bytes", "[http][gate][receipt]") {
  World w;
  auto agent = w.default_agent();
  const auto d = w.service().verify(w.request(agent, read_cap(5)));
  REQUIRE(d.accepted);
  auto json_receipt = must(http::receipt_over_body(w.service(), d, 200, "application/json", R"({"b":1, "a":2})"));
  CHECK(json_receipt["result_summary"]["body"] == "json");
  CHECK(json_receipt["result"] == "ok");
  CHECK(hs::verify_receipt(json_receipt, w.keys, Json{{"a", 2}, {"b", 1}}).ok());
  auto bytes_receipt = must(http::receipt_over_body(w.service(), d, 500, "text/plain", "plain"));
  CHECK(bytes_receipt["result_summary"]["body"] == "bytes");
  CHECK(bytes_receipt["result"] == "error");
  const auto digest = hs::crypto::sha256(std::span(reinterpret_cast<const std::uint8_t*>("plain"), 5));
  CHECK(hs::verify_receipt(bytes_receipt, w.keys, Json{{"body_sha256", hs::encoding::hex_encode(digest)}}).ok());
  CHECK_FALSE(hs::verify_receipt(bytes_receipt, w.keys, Json{{"body_sha256", "00"}}).ok());
}
