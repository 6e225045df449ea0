#include "handshake/ap2/mandates.hpp"

#include "fields.hpp"
#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"

namespace handshake::ap2 {

using detail::Fields;

namespace {

constexpr const char* kMandateInvalid = "ap2.mandate_invalid";
constexpr const char* kReceiptInvalid = "ap2.payment_receipt_invalid";

// An amount error keeps its stable token and gains the field's path.
Error at_path(Error e, const std::string& path) {
  e.message = path + ": " + e.message;
  return e;
}

Result<Amount> parse_amount(const Json& j, const std::string& path, const std::string& reason,
                            const CurrencyTable& currencies) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, path, reason));
  Amount a;
  HSK_ASSIGN_OR_RETURN(a.currency, f.str("currency"));
  HSK_ASSIGN_OR_RETURN(const Json* value, f.required("value"));
  a.value = *value;
  auto minor = to_minor_units(*value, a.currency, currencies);
  if (!minor.ok()) return at_path(minor.error(), path);
  a.minor = *minor;
  return a;
}

Result<PaymentItem> parse_item(const Json& j, const std::string& path, const std::string& reason,
                               const CurrencyTable& currencies) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, path, reason));
  PaymentItem item;
  HSK_ASSIGN_OR_RETURN(item.label, f.str("label"));
  HSK_ASSIGN_OR_RETURN(const Json* amount, f.required("amount"));
  HSK_ASSIGN_OR_RETURN(item.amount, parse_amount(*amount, f.at("amount"), reason, currencies));
  HSK_ASSIGN_OR_RETURN(item.pending, f.opt_bool("pending"));
  HSK_ASSIGN_OR_RETURN(auto refund, f.opt_int("refund_period"));
  item.refund_period = refund.value_or(30);
  return item;
}

Result<std::vector<PaymentItem>> parse_items(const Fields& f, std::string_view name, const CurrencyTable& currencies,
                                             bool required) {
  std::vector<PaymentItem> out;
  HSK_ASSIGN_OR_RETURN(const Json* list, f.opt_array(name));
  if (!list) {
    if (required) return f.error(name, "required");
    return out;
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    HSK_ASSIGN_OR_RETURN(auto item, parse_item((*list)[i], f.at(name) + "[" + std::to_string(i) + "]", f.reason(),
                                               currencies));
    out.push_back(std::move(item));
  }
  return out;
}

// W3C ContactAddress: optional strings and address_line: string[].
Status check_address(const Json& j, const std::string& path, const std::string& reason) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, path, reason));
  for (const char* s : {"city", "country", "dependent_locality", "organization", "phone_number", "postal_code",
                        "recipient", "region", "sorting_code"}) {
    HSK_TRY(f.opt_str(s));
  }
  HSK_TRY(f.opt_strings("address_line"));
  return ok_status();
}

// PaymentShippingOption {id, label, amount, selected?}.
Status check_shipping_option(const Json& j, const std::string& path, const std::string& reason,
                             const CurrencyTable& currencies) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, path, reason));
  HSK_TRY(f.str("id"));
  HSK_TRY(f.str("label"));
  HSK_ASSIGN_OR_RETURN(const Json* amount, f.required("amount"));
  HSK_TRY(parse_amount(*amount, f.at("amount"), reason, currencies));
  HSK_TRY(f.opt_bool("selected"));
  return ok_status();
}

// PaymentRequest {method_data, details, options?, shipping_address?} into `cart`.
Status parse_payment_request(const Json& j, const std::string& path, const CurrencyTable& currencies,
                             CartContents& cart) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, path, kMandateInvalid));
  HSK_ASSIGN_OR_RETURN(const Json* methods, f.opt_array("method_data"));
  if (!methods) return f.error("method_data", "required");
  for (std::size_t i = 0; i < methods->size(); ++i) {
    HSK_ASSIGN_OR_RETURN(auto m, Fields::of((*methods)[i], f.at("method_data") + "[" + std::to_string(i) + "]",
                                            kMandateInvalid));
    HSK_ASSIGN_OR_RETURN(auto name, m.str("supported_methods"));
    HSK_TRY(m.opt_object("data"));
    cart.supported_methods.push_back(std::move(name));
  }
  HSK_ASSIGN_OR_RETURN(const Json* details_json, f.required("details"));
  HSK_ASSIGN_OR_RETURN(auto d, Fields::of(*details_json, f.at("details"), kMandateInvalid));
  HSK_ASSIGN_OR_RETURN(cart.payment_details_id, d.str("id"));
  HSK_ASSIGN_OR_RETURN(cart.display_items, parse_items(d, "display_items", currencies, true));
  HSK_ASSIGN_OR_RETURN(const Json* total, d.required("total"));
  HSK_ASSIGN_OR_RETURN(cart.total, parse_item(*total, d.at("total"), kMandateInvalid, currencies));
  if (cart.total.amount.minor < 0) return d.error("total", "a total is never negative");
  HSK_ASSIGN_OR_RETURN(const Json* shipping, d.opt_array("shipping_options"));
  if (shipping) {
    for (std::size_t i = 0; i < shipping->size(); ++i) {
      HSK_TRY(check_shipping_option((*shipping)[i], d.at("shipping_options") + "[" + std::to_string(i) + "]",
                                    kMandateInvalid, currencies));
    }
  }
  HSK_ASSIGN_OR_RETURN(const Json* modifiers, d.opt_array("modifiers"));
  if (modifiers) {
    for (std::size_t i = 0; i < modifiers->size(); ++i) {
      const std::string mp = d.at("modifiers") + "[" + std::to_string(i) + "]";
      HSK_ASSIGN_OR_RETURN(auto m, Fields::of((*modifiers)[i], mp, kMandateInvalid));
      HSK_TRY(m.str("supported_methods"));
      if (const Json* t = m.get("total")) HSK_TRY(parse_item(*t, m.at("total"), kMandateInvalid, currencies));
      HSK_TRY(parse_items(m, "additional_display_items", currencies, false));
      HSK_TRY(m.opt_object("data"));
    }
  }
  HSK_ASSIGN_OR_RETURN(const Json* options, f.opt_object("options"));
  if (options) {
    HSK_ASSIGN_OR_RETURN(auto o, Fields::of(*options, f.at("options"), kMandateInvalid));
    for (const char* b : {"request_payer_name", "request_payer_email", "request_payer_phone", "request_shipping"}) {
      HSK_TRY(o.opt_bool(b));
    }
    HSK_ASSIGN_OR_RETURN(auto type, o.opt_str("shipping_type"));
    if (type && *type != "shipping" && *type != "delivery" && *type != "pickup") {
      return o.error("shipping_type", "expected shipping, delivery or pickup");
    }
  }
  if (const Json* addr = f.get("shipping_address")) HSK_TRY(check_address(*addr, f.at("shipping_address"), kMandateInvalid));
  return ok_status();
}

}  // namespace

std::string_view to_string(PaymentReceipt::Status s) noexcept {
  switch (s) {
    case PaymentReceipt::Status::kSuccess: return "success";
    case PaymentReceipt::Status::kError: return "error";
    case PaymentReceipt::Status::kFailure: return "failure";
  }
  return "unknown";
}

Result<IntentMandate> parse_intent_mandate(const Json& j) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, "IntentMandate", kMandateInvalid));
  IntentMandate m;
  HSK_ASSIGN_OR_RETURN(auto confirm, f.opt_bool("user_cart_confirmation_required"));
  m.user_cart_confirmation_required = confirm.value_or(true);
  HSK_ASSIGN_OR_RETURN(m.natural_language_description, f.str("natural_language_description"));
  HSK_ASSIGN_OR_RETURN(m.merchants, f.opt_strings("merchants"));
  HSK_ASSIGN_OR_RETURN(m.skus, f.opt_strings("skus"));
  HSK_ASSIGN_OR_RETURN(auto refundable, f.opt_bool("requires_refundability"));
  m.requires_refundability = refundable.value_or(false);
  HSK_ASSIGN_OR_RETURN(m.intent_expiry, f.time("intent_expiry"));
  m.source = j;
  return m;
}

Result<CartMandate> parse_cart_mandate(const Json& j, const CurrencyTable& currencies) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, "CartMandate", kMandateInvalid));
  CartMandate m;
  HSK_ASSIGN_OR_RETURN(const Json* contents, f.required("contents"));
  HSK_ASSIGN_OR_RETURN(auto c, Fields::of(*contents, f.at("contents"), kMandateInvalid));
  CartContents& cart = m.contents;
  HSK_ASSIGN_OR_RETURN(cart.id, c.str("id"));
  HSK_ASSIGN_OR_RETURN(auto confirm, c.opt_bool("user_cart_confirmation_required"));
  if (!confirm) return c.error("user_cart_confirmation_required", "required");
  cart.user_cart_confirmation_required = *confirm;
  HSK_ASSIGN_OR_RETURN(const Json* request, c.required("payment_request"));
  HSK_TRY(parse_payment_request(*request, c.at("payment_request"), currencies, cart));
  HSK_ASSIGN_OR_RETURN(cart.cart_expiry, c.time("cart_expiry"));
  HSK_ASSIGN_OR_RETURN(cart.merchant_name, c.str("merchant_name"));
  cart.source = *contents;
  HSK_ASSIGN_OR_RETURN(m.merchant_authorization, f.opt_str("merchant_authorization"));
  m.source = j;
  return m;
}

Result<PaymentMandate> parse_payment_mandate(const Json& j, const CurrencyTable& currencies) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, "PaymentMandate", kMandateInvalid));
  PaymentMandate m;
  HSK_ASSIGN_OR_RETURN(const Json* contents, f.required("payment_mandate_contents"));
  HSK_ASSIGN_OR_RETURN(auto c, Fields::of(*contents, f.at("payment_mandate_contents"), kMandateInvalid));
  PaymentMandateContents& p = m.contents;
  HSK_ASSIGN_OR_RETURN(p.payment_mandate_id, c.str("payment_mandate_id"));
  HSK_ASSIGN_OR_RETURN(p.payment_details_id, c.str("payment_details_id"));
  HSK_ASSIGN_OR_RETURN(const Json* total, c.required("payment_details_total"));
  HSK_ASSIGN_OR_RETURN(p.payment_details_total,
                       parse_item(*total, c.at("payment_details_total"), kMandateInvalid, currencies));
  if (p.payment_details_total.amount.minor < 0) return c.error("payment_details_total", "a total is never negative");
  HSK_ASSIGN_OR_RETURN(const Json* response, c.required("payment_response"));
  HSK_ASSIGN_OR_RETURN(auto r, Fields::of(*response, c.at("payment_response"), kMandateInvalid));
  HSK_ASSIGN_OR_RETURN(p.request_id, r.str("request_id"));
  HSK_ASSIGN_OR_RETURN(p.method_name, r.str("method_name"));
  HSK_TRY(r.opt_object("details"));
  if (const Json* addr = r.get("shipping_address")) HSK_TRY(check_address(*addr, r.at("shipping_address"), kMandateInvalid));
  if (const Json* option = r.get("shipping_option")) {
    HSK_TRY(check_shipping_option(*option, r.at("shipping_option"), kMandateInvalid, currencies));
  }
  for (const char* s : {"payer_name", "payer_email", "payer_phone"}) HSK_TRY(r.opt_str(s));
  HSK_ASSIGN_OR_RETURN(p.merchant_agent, c.str("merchant_agent"));
  HSK_ASSIGN_OR_RETURN(p.timestamp, c.opt_time("timestamp"));
  p.source = *contents;
  HSK_ASSIGN_OR_RETURN(m.user_authorization, f.opt_str("user_authorization"));
  m.source = j;
  return m;
}

Result<PaymentReceipt> parse_payment_receipt(const Json& j, const CurrencyTable& currencies) {
  HSK_ASSIGN_OR_RETURN(auto f, Fields::of(j, "PaymentReceipt", kReceiptInvalid));
  PaymentReceipt r;
  HSK_ASSIGN_OR_RETURN(r.payment_mandate_id, f.str("payment_mandate_id"));
  HSK_ASSIGN_OR_RETURN(r.timestamp, f.time("timestamp"));
  HSK_ASSIGN_OR_RETURN(r.payment_id, f.str("payment_id"));
  HSK_ASSIGN_OR_RETURN(const Json* amount, f.required("amount"));
  HSK_ASSIGN_OR_RETURN(r.amount, parse_amount(*amount, f.at("amount"), kReceiptInvalid, currencies));
  HSK_ASSIGN_OR_RETURN(const Json* status, f.required("payment_status"));
  HSK_ASSIGN_OR_RETURN(auto s, Fields::of(*status, f.at("payment_status"), kReceiptInvalid));
  // Exactly one of the three shapes (Success | Error | Failure).
  const bool success = s.get("merchant_confirmation_id") != nullptr;
  const bool error = s.get("error_message") != nullptr;
  const bool failure = s.get("failure_message") != nullptr;
  if (int(success) + int(error) + int(failure) != 1) {
    return f.error("payment_status", "expected exactly one of merchant_confirmation_id, error_message, failure_message");
  }
  if (success) {
    HSK_ASSIGN_OR_RETURN(auto id, s.str("merchant_confirmation_id"));
    HSK_TRY(s.opt_str("psp_confirmation_id"));
    HSK_TRY(s.opt_str("network_confirmation_id"));
    r.merchant_confirmation_id = std::move(id);
    r.status = PaymentReceipt::Status::kSuccess;
  } else if (error) {
    HSK_TRY(s.str("error_message"));
    r.status = PaymentReceipt::Status::kError;
  } else {
    HSK_TRY(s.str("failure_message"));
    r.status = PaymentReceipt::Status::kFailure;
  }
  HSK_TRY(f.opt_object("payment_method_details"));
  r.source = j;
  return r;
}

Json drop_nulls(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!it.value().is_null()) out[it.key()] = drop_nulls(it.value());
    }
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const auto& e : v) out.push_back(drop_nulls(e));
    return out;
  }
  return v;
}

Result<HashValue> commitment(const Json& v) {
  HSK_ASSIGN_OR_RETURN(auto text, json::canonicalize(drop_nulls(v)));
  const auto digest = crypto::sha256(encoding::as_bytes(text));
  return HashValue{"sha-256", encoding::hex_encode(digest)};
}

namespace {

void scan_parts(const Json& parts, const std::string& where, std::vector<FoundPart>& out) {
  if (!parts.is_array()) return;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Json& part = parts[i];
    if (!part.is_object()) continue;
    if (auto kind = part.find("kind"); kind != part.end() && *kind != "data") continue;
    auto data = part.find("data");
    if (data == part.end() || !data->is_object()) continue;
    for (auto it = data->begin(); it != data->end(); ++it) {
      if (it.key().rfind("ap2.", 0) == 0) {
        out.push_back({it.key(), it.value(), where + "parts[" + std::to_string(i) + "]"});
      }
    }
  }
}

void scan_message(const Json& m, const std::string& where, std::vector<FoundPart>& out) {
  if (!m.is_object()) return;
  if (auto p = m.find("parts"); p != m.end()) scan_parts(*p, where, out);
}

}  // namespace

std::vector<FoundPart> find_ap2_parts(const Json& container) {
  std::vector<FoundPart> out;
  if (!container.is_object()) return out;
  scan_message(container, "", out);
  if (auto s = container.find("status"); s != container.end() && s->is_object()) {
    if (auto m = s->find("message"); m != s->end()) scan_message(*m, "status.message.", out);
  }
  for (const char* list : {"artifacts", "history"}) {
    auto a = container.find(list);
    if (a == container.end() || !a->is_array()) continue;
    for (std::size_t i = 0; i < a->size(); ++i) {
      scan_message((*a)[i], std::string(list) + "[" + std::to_string(i) + "].", out);
    }
  }
  return out;
}

Result<FoundPart> find_ap2_part(const Json& container, std::string_view key) {
  std::optional<FoundPart> found;
  for (auto& p : find_ap2_parts(container)) {
    if (p.key != key) continue;
    if (found) {
      return make_error(ErrorCode::kInvalidArgument, "ap2.ambiguous",
                        "two DataParts carry " + std::string(key) + ": " + found->where + " and " + p.where);
    }
    found = std::move(p);
  }
  if (!found) return make_error(ErrorCode::kNotFound, "ap2.not_found", "no DataPart carries " + std::string(key));
  return std::move(*found);
}

}  // namespace handshake::ap2
