// The plain-HTTP adapter: which requests of an HTTP API need a handshake, and the decision for
// one request in HTTP's own terms (status, headers, body). Transport-free: `hsk gate` serves it
// to nginx auth_request and Envoy ext_authz, and in front of an API as a reverse proxy.
//
// The route map is core's ActionMap (action_map.hpp) in its HTTP form: section "routes", each
// action "METHOD /path/template" (a {name} segment matches one path segment), sources rooted at
// "request":
//   unmapped: refuse
//   routes:
//     "GET /invoices":
//       capability: billing.invoices.read
//       constraints:
//         max_invoices: request.query.limit        # ?limit=...
//     "POST /accounts/{account}/payments":
//       capability: payments.send
//       constraints:
//         account: request.path.account            # the {account} segment
//         max_amount: request.body.amount          # a member of the JSON body
//         currency: request.headers.x-currency     # a header (names in lower case)
// Path, query and header values are text; one that is a JSON number (-12, 3.5, 1e3) is taken as
// that number. A query parameter given twice is a list, which no scalar constraint accepts
// (refused scope_exceeded rather than guessing which one the API reads).
//
// The request travels as the reference SDKs send it (docs/interop.md): a header Handshake-Request
// (or x-handshake-request) holding base64url, without padding, of the HandshakeRequest's JSON text.
// It is decoded strictly and parsed strictly (duplicate members refused) before it is verified.
//
// Answers (check()):
//   accepted            200; Handshake-Acceptance: base64url of the signed Acceptance
//   no handshake        401 (WWW-Authenticate: Handshake), a signed policy_denied Refusal
//   rate_limited        429 + Retry-After; service_unavailable 503 + Retry-After
//   any other refusal   403
//   every refusal       the signed Refusal as the JSON body and, base64url, in Handshake-Refusal
//                       (nginx passes headers of an auth_request answer on, not its body)
//   unmapped route      under `unmapped: pass`: 200 without a handshake; else 403 policy_denied
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "handshake/action_map.hpp"
#include "handshake/json.hpp"
#include "handshake/ops.hpp"
#include "handshake/receipt.hpp"
#include "handshake/service.hpp"

namespace handshake::http {

inline constexpr std::string_view kRequestHeader = "handshake-request";
inline constexpr std::string_view kPythonRequestHeader = "x-handshake-request";
inline constexpr std::string_view kAcceptanceHeader = "Handshake-Acceptance";
inline constexpr std::string_view kRefusalHeader = "Handshake-Refusal";
inline constexpr std::string_view kReceiptHeader = "Handshake-Receipt";

// The route map's format: section "routes", root "request", reason "http.route_map".
[[nodiscard]] ActionMapFormat route_map_format();

// One HTTP request as the gate sees it. Header names in any case.
struct Request {
  std::string method;  // GET, POST, ...
  std::string target;  // path with query, as on the request line: /invoices?limit=5
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::string> body;  // absent: not available (auth_request sends none)
  std::string content_type;
};

// The routes of a map, compiled for matching. Errors: kSchema "http.route_map" for an action that
// is not "METHOD /path" (an upper-case method, a path of segments, {name} parameters, each name
// once), and, when `without_body`, for a constraint read from request.body (an authorization
// subrequest carries no body: that constraint would silently not be checked).
class Routes {
 public:
  [[nodiscard]] static Result<Routes> compile(const ActionMap& map, bool without_body = false);
  struct Match {
    const ActionRule* rule = nullptr;
    Json path = Json::object();  // {name: value} of the template's parameters
  };
  // The first route (in the map's order of names) whose method and template match; nullopt when
  // none does. A literal segment wins over a parameter: routes are tried most literal first.
  [[nodiscard]] std::optional<Match> match(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{name}" for a parameter
    const ActionRule* rule = nullptr;
    int literals = 0;
  };
  std::vector<Route> routes_;
};

// The object the sources read: {"path": {...}, "query": {...}, "headers": {...}, "body": ...}
// (body: the parsed JSON body when there is one and it is JSON, else absent). Errors: kParse for
// a JSON body that does not parse strictly (refused, not guessed at).
[[nodiscard]] Result<Json> request_arguments(const Request& request, const Json& path_params);

// The value of the first header named `name` (case-insensitive), if any.
[[nodiscard]] std::optional<std::string> header(const Request& request, std::string_view name);

// The HandshakeRequest a request carries (kRequestHeader or kPythonRequestHeader): nullopt when it
// carries none; else its JSON text, or the decode error.
[[nodiscard]] std::optional<Result<std::string>> carried_request(const Request& request);

struct Answer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // JSON (a refusal), or empty
  std::shared_ptr<const Decision> decision;  // accepted: for the receipt of the proxied call
  const ActionRule* rule = nullptr;          // the route's rule, when one matched (kept alive by `map`)
  std::shared_ptr<const void> map;           // the route map the answer was made with
};

struct GateOptions {
  const ops::Observer* observer = nullptr;  // metrics and audit lines (transport "http")
  std::function<void(const Decision&)> on_refusal;  // e.g. keep the signed Refusal
};

class Gate {
 public:
  // `service` is borrowed. Errors: those of Routes::compile.
  [[nodiscard]] static Result<std::unique_ptr<Gate>> create(Service& service, ActionMap map, bool without_body,
                                                            GateOptions options = {});
  // The decision for `request`, as an HTTP answer. Thread-safe.
  [[nodiscard]] Answer check(const Request& request) const;
  // Replaces the route map for the requests that arrive after it (SIGHUP); a map that does not
  // compile keeps the running one. Errors: those of Routes::compile.
  [[nodiscard]] Status set_map(ActionMap map);
  // Tells the observer an accepted call is done: as an authorization endpoint when it answered;
  // as a proxy after the upstream answered (how long it took), with the receipt.
  void done(const Answer& answer, const std::optional<std::string>& receipt_id,
            std::optional<std::chrono::nanoseconds> upstream) const;

  [[nodiscard]] Service& service() const { return service_; }

 private:
  struct Table {
    ActionMap map;
    Routes routes;  // points into map's rules
  };
  Gate(Service& service, bool without_body, GateOptions options)
      : service_(service), without_body_(without_body), options_(std::move(options)) {}
  Answer refused(const Decision& d, std::string_view capability, bool unauthenticated) const;
  Service& service_;
  bool without_body_;
  GateOptions options_;
  std::atomic<std::shared_ptr<const Table>> table_;
};

// A receipt of a proxied call over its response body: SHA-256 over JCS of the body when it is
// JSON (result_summary {"body": "json"}), else over the raw bytes (result_summary {"body": "bytes",
// "sha256": hex}: the receipt's result commits to that object). status "ok" for 2xx, else "error".
[[nodiscard]] Result<Json> receipt_over_body(const Service& service, const Decision& decision, int status,
                                             std::string_view content_type, std::string_view body);

}  // namespace handshake::http
