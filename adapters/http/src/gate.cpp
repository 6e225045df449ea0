#include "handshake/http/gate.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"

namespace handshake::http {

namespace {

Error route_error(const std::string& why) { return make_error(ErrorCode::kSchema, "http.route_map", why); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const std::size_t end = path.find('/', i);
    out.emplace_back(path.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
    if (end == std::string_view::npos) break;
    i = end;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding ('+' as a space in a query); nullopt for a malformed escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

// A text value as the sources see it: a JSON number when it is one, else the text.
Json typed(const std::string& text) {
  static const auto is_number = [](const std::string& t) {
    std::size_t i = 0;
    if (i < t.size() && t[i] == '-') ++i;
    if (i >= t.size() || !std::isdigit(static_cast<unsigned char>(t[i]))) return false;
    if (t[i] == '0' && i + 1 < t.size() && std::isdigit(static_cast<unsigned char>(t[i + 1]))) return false;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    if (i < t.size() && t[i] == '.') {
      ++i;
      if (i >= t.size() || !std::isdigit(static_cast<unsigned char>(t[i]))) return false;
      while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    }
    if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
      ++i;
      if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
      if (i >= t.size() || !std::isdigit(static_cast<unsigned char>(t[i]))) return false;
      while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
    }
    return i == t.size() && t.size() <= 64;
  };
  if (is_number(text)) {
    auto n = json::parse_strict(text);
    if (n.ok() && n->is_number()) return *n;
  }
  return text;
}

RefusalInfo refusal(RefusalCode code, VerificationStep step, std::string detail) {
  RefusalInfo r;
  r.code = code;
  r.step = step;
  r.detail = std::move(detail);
  return r;
}

std::string b64u(const std::string& text) {
  return encoding::base64url_encode(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace

ActionMapFormat route_map_format() { return ActionMapFormat{"routes", "request", "http.route_map"}; }

Result<Routes> Routes::compile(const ActionMap& map, bool without_body) {
  Routes out;
  static const std::set<std::string, std::less<>> kMethods{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (const auto& [action, rule] : map.rules()) {
    const auto space = action.find(' ');
    if (space == std::string::npos) return route_error("route " + action + ": write it as \"METHOD /path\"");
    Route r;
    r.method = action.substr(0, space);
    const std::string path = action.substr(space + 1);
    if (!kMethods.count(r.method)) return route_error("route " + action + ": unknown method " + r.method);
    if (path.empty() || path.front() != '/' || path.find_first_of("?# ") != std::string::npos) {
      return route_error("route " + action + ": the path must start with / and carry no query");
    }
    std::set<std::string> names;
    for (auto& seg : split_path(path)) {
      if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
        const std::string name = seg.substr(1, seg.size() - 2);
        if (name.empty() || name.find_first_of("{}/.") != std::string::npos || !names.insert(name).second) {
          return route_error("route " + action + ": bad or repeated parameter " + seg);
        }
      } else if (seg.find_first_of("{}") != std::string::npos) {
        return route_error("route " + action + ": a parameter is a whole segment, {name}");
      } else {
        ++r.literals;
      }
      r.segments.push_back(std::move(seg));
    }
    for (const auto& c : rule.constraints) {
      if (c.path.empty() || (c.path[0] != "path" && c.path[0] != "query" && c.path[0] != "headers" && c.path[0] != "body")) {
        return route_error("route " + action + ": constraint " + c.name + " reads " + c.from +
                           "; sources are request.path, request.query, request.headers or request.body");
      }
      if (c.path[0] == "path" && (c.path.size() != 2 || !names.count(c.path[1]))) {
        return route_error("route " + action + ": " + c.from + " is not a parameter of the path");
      }
      if (c.path[0] == "headers" && c.path.size() == 2 && c.path[1] != lower(c.path[1])) {
        return route_error("route " + action + ": header names are written in lower case: " + c.from);
      }
      if (without_body && c.path[0] == "body") {
        return route_error("route " + action + ": constraint " + c.name + " reads the body, which an authorization " +
                           "subrequest does not carry; use hsk gate as a reverse proxy (--upstream) for it");
      }
    }
    r.rule = &rule;
    out.routes_.push_back(std::move(r));
  }
  // Most literal segments first, so /invoices/latest wins over /invoices/{id}.
  std::stable_sort(out.routes_.begin(), out.routes_.end(), [](const Route& a, const Route& b) { return a.literals > b.literals; });
  return out;
}

std::optional<Routes::Match> Routes::match(std::string_view method, std::string_view path) const {
  const auto segments = split_path(path);
  for (const auto& r : routes_) {
    if (r.method != method || r.segments.size() != segments.size()) continue;
    Match m;
    bool ok = true;
    for (std::size_t i = 0; i < segments.size() && ok; ++i) {
      const std::string& t = r.segments[i];
      if (t.size() >= 2 && t.front() == '{') {
        auto value = percent_decode(segments[i], false);
        if (!value) {
          ok = false;
        } else {
          m.path[t.substr(1, t.size() - 2)] = typed(*value);
        }
      } else {
        ok = t == segments[i];
      }
    }
    if (!ok) continue;
    m.rule = r.rule;
    return m;
  }
  return std::nullopt;
}

std::optional<std::string> header(const Request& request, std::string_view name) {
  for (const auto& [k, v] : request.headers) {
    if (k.size() == name.size() && lower(k) == lower(name)) return v;
  }
  return std::nullopt;
}

Result<Json> request_arguments(const Request& request, const Json& path_params) {
  Json out = Json::object();
  out["path"] = path_params;
  Json query = Json::object();
  if (const auto q = request.target.find('?'); q != std::string::npos) {
    std::string_view rest = std::string_view(request.target).substr(q + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (pair.empty()) continue;
      const auto eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
      if (!key || !value) return make_error(ErrorCode::kParse, "http.query", "a malformed percent escape in the query");
      Json v = typed(*value);
      if (auto it = query.find(*key); it != query.end()) {
        if (!it->is_array()) *it = Json::array({*it});
        it->push_back(std::move(v));
      } else {
        query[*key] = std::move(v);
      }
    }
  }
  out["query"] = std::move(query);
  Json headers = Json::object();
  for (const auto& [k, v] : request.headers) {
    const std::string name = lower(k);
    if (!headers.contains(name)) headers[name] = typed(v);
  }
  out["headers"] = std::move(headers);
  if (request.body && !request.body->empty() && request.content_type.find("json") != std::string::npos) {
    HSK_ASSIGN_OR_RETURN(out["body"], json::parse_strict(*request.body));
  }
  return out;
}

std::optional<Result<std::string>> carried_request(const Request& request) {
  auto value = header(request, kRequestHeader);
  if (!value) value = header(request, kPythonRequestHeader);
  if (!value) return std::nullopt;
  auto bytes = encoding::base64url_decode(*value);
  if (!bytes.ok()) return Result<std::string>(bytes.error());
  return Result<std::string>(std::string(bytes->begin(), bytes->end()));
}

Result<std::unique_ptr<Gate>> Gate::create(Service& service, ActionMap map, bool without_body, GateOptions options) {
  std::unique_ptr<Gate> gate(new Gate(service, without_body, std::move(options)));
  HSK_TRY(gate->set_map(std::move(map)));
  return gate;
}

Status Gate::set_map(ActionMap map) {
  // The routes point into the rules of the map the table keeps.
  auto table = std::make_shared<Table>();
  table->map = std::move(map);
  HSK_ASSIGN_OR_RETURN(table->routes, Routes::compile(table->map, without_body_));
  table_.store(std::move(table));
  return ok_status();
}

Answer Gate::refused(const Decision& d, std::string_view capability, bool unauthenticated) const {
  if (options_.on_refusal) options_.on_refusal(d);
  if (options_.observer != nullptr) options_.observer->decided(d, ops::Outcome{"http", capability, std::nullopt, std::nullopt});
  Answer a;
  const auto code = d.refusal ? d.refusal->code : RefusalCode::kPolicyDenied;
  a.status = unauthenticated ? 401 : code == RefusalCode::kRateLimited ? 429 : code == RefusalCode::kServiceUnavailable ? 503 : 403;
  if (unauthenticated) a.headers.emplace_back("WWW-Authenticate", "Handshake");
  if (d.refusal && d.refusal->retry_after_seconds) {
    a.headers.emplace_back("Retry-After", std::to_string(*d.refusal->retry_after_seconds));
  }
  if (d.response.is_null()) {  // the key cannot sign now: nothing signed to give
    a.status = 503;
    a.body = Json{{"error", "service_unavailable"}, {"error_description", d.refusal ? d.refusal->detail : "cannot sign"}}.dump();
    return a;
  }
  a.body = d.response.dump();
  a.headers.emplace_back(std::string(kRefusalHeader), b64u(a.body));
  return a;
}

Answer Gate::check(const Request& request) const {
  const std::string_view target = request.target;
  const std::string path(target.substr(0, target.find('?')));
  const auto table = table_.load();  // one map for the whole request, even if SIGHUP replaces it
  const auto match = table->routes.match(request.method, path);
  const auto carried = carried_request(request);
  if (!match) {
    if (table->map.unmapped() == UnmappedActions::kPassThrough) return Answer{};
    const RefusalInfo why = refusal(RefusalCode::kPolicyDenied, VerificationStep::kPolicy,
                                    request.method.substr(0, 16) + " " + path.substr(0, 128) + " is not offered through handshakes");
    return refused(service_.refuse_unverified(why), {}, false);
  }
  const ActionRule& rule = *match->rule;
  if (!carried) {
    return refused(service_.refuse_unverified(refusal(RefusalCode::kPolicyDenied, VerificationStep::kPolicy,
                                                      request.method + " " + path.substr(0, 128) +
                                                          " needs a HandshakeRequest in the Handshake-Request header for " +
                                                          rule.capability)),
                   rule.capability, true);
  }
  if (!carried->ok()) {
    return refused(service_.refuse_unverified(refusal(RefusalCode::kProtocolVersionUnsupported,
                                                      VerificationStep::kSchemaValidation,
                                                      "the Handshake-Request header is not base64url: " +
                                                          carried->error().message)),
                   rule.capability, false);
  }
  auto arguments = request_arguments(request, match->path);
  if (!arguments.ok()) {
    auto parsed = json::parse_strict(**carried);
    const RefusalInfo why = refusal(RefusalCode::kPolicyDenied, VerificationStep::kPolicy,
                                    "cannot read the call's arguments: " + arguments.error().message);
    return refused(parsed.ok() ? service_.refuse_request(*parsed, why) : service_.refuse_unverified(why), rule.capability,
                   false);
  }
  // The text as sent: Service::verify parses it strictly (duplicate members refused).
  auto decision = std::make_shared<Decision>(service_.verify(std::string_view(**carried), bind_action(rule, *arguments)));
  if (!decision->accepted) return refused(*decision, rule.capability, false);
  Answer a;
  a.headers.emplace_back(std::string(kAcceptanceHeader), b64u(decision->response.dump()));
  a.decision = std::move(decision);
  a.rule = &rule;
  a.map = table;
  return a;
}

void Gate::done(const Answer& answer, const std::optional<std::string>& receipt_id,
                std::optional<std::chrono::nanoseconds> upstream) const {
  if (options_.observer == nullptr || !answer.decision) return;
  options_.observer->decided(*answer.decision, ops::Outcome{"http", answer.rule ? std::string_view(answer.rule->capability)
                                                                                 : std::string_view(),
                                                            receipt_id, upstream});
}

Result<Json> receipt_over_body(const Service& service, const Decision& decision, int status,
                               std::string_view content_type, std::string_view body) {
  ReceiptOptions o;
  Json result;
  bool json_body = false;
  if (content_type.find("json") != std::string_view::npos) {
    auto parsed = json::parse_strict(body);
    if (parsed.ok()) {
      result = std::move(parsed).value();
      json_body = true;
    }
  }
  if (json_body) {
    o.result_summary = Json{{"body", "json"}, {"http_status", status}};
  } else {
    const auto digest = crypto::sha256(std::span(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
    const std::string hex = encoding::hex_encode(digest);
    result = Json{{"body_sha256", hex}};
    o.result_summary = Json{{"body", "bytes"}, {"http_status", status}};
  }
  return service.issue_receipt(decision, result, status >= 200 && status < 300 ? "ok" : "error", o);
}

}  // namespace handshake::http
