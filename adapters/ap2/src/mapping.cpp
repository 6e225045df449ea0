#include "handshake/ap2/mapping.hpp"

#include "handshake/yaml.hpp"

namespace handshake::ap2 {

namespace {

Error mapping_error(std::string m) { return make_error(ErrorCode::kSchema, "ap2.mapping", std::move(m)); }

}  // namespace

PaymentTerms terms_of(const PaymentMandate& m) {
  PaymentTerms t;
  t.mandate_key = std::string(kPaymentMandateKey);
  t.amount_minor = m.contents.payment_details_total.amount.minor;
  t.currency = m.contents.payment_details_total.amount.currency;
  t.payees = {m.contents.merchant_agent};
  if (m.contents.timestamp) t.time = time::format_rfc3339(*m.contents.timestamp);
  return t;
}

PaymentTerms terms_of(const CartMandate& m) {
  PaymentTerms t;
  t.mandate_key = std::string(kCartMandateKey);
  t.amount_minor = m.contents.total.amount.minor;
  t.currency = m.contents.total.amount.currency;
  t.payees = {m.contents.merchant_name};
  return t;
}

PaymentTerms terms_of(const IntentMandate& m) {
  PaymentTerms t;
  t.mandate_key = std::string(kIntentMandateKey);
  if (m.merchants) t.payees = *m.merchants;
  return t;
}

PaymentTerms terms_of(const SdJwtPaymentMandate& m) {
  PaymentTerms t;
  t.mandate_key = std::string(kPaymentMandateSdJwtKey);
  t.amount_minor = m.amount_minor;
  t.currency = m.currency;
  t.payees = {m.payee_id};
  // execution_date as sent when it is a date or a time the constraint algebra reads; else iat.
  if (m.execution_date) {
    if (m.execution_date->size() == 10 && time::parse_rfc3339(*m.execution_date + "T00:00:00Z").ok()) {
      t.time = *m.execution_date;  // a date: the whole day must lie in the window
    } else if (auto at = time::parse_rfc3339(*m.execution_date); at.ok()) {
      t.time = time::format_rfc3339(*at);
    } else {
      t.time = *m.execution_date;  // unreadable: the service refuses it as a malformed value
    }
  }
  if (!t.time) t.time = time::format_rfc3339(m.iat);
  return t;
}

MandateMap::MandateMap() : currencies_(CurrencyTable::iso4217()) {}

Result<MandateMap> MandateMap::from_yaml(std::string_view text) {
  HSK_ASSIGN_OR_RETURN(auto doc, yaml_to_json(text));
  return from_json(doc);
}

Result<MandateMap> MandateMap::from_json(const Json& doc) {
  MandateMap m;
  if (doc.is_null()) return m;
  if (!doc.is_object()) return mapping_error("the mapping must be an object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    if (key == "capability") {
      if (!v.is_string()) return mapping_error("capability must be a string");
      HSK_TRY(capability::validate_name(v.get<std::string>()));
      m.capability_ = v.get<std::string>();
    } else if (key == "constraints") {
      if (!v.is_object()) return mapping_error("constraints must be an object");
      for (auto c = v.begin(); c != v.end(); ++c) {
        std::optional<std::string>* slot = c.key() == "amount"     ? &m.amount_
                                           : c.key() == "currency" ? &m.currency_
                                           : c.key() == "payee"    ? &m.payee_
                                           : c.key() == "time"     ? &m.time_
                                                                   : nullptr;
        if (slot == nullptr) return mapping_error("constraints." + c.key() + ": unknown (amount, currency, payee, time)");
        if (c.value().is_null()) {
          slot->reset();
        } else if (c.value().is_string() && !c.value().get<std::string>().empty()) {
          *slot = c.value().get<std::string>();
        } else {
          return mapping_error("constraints." + c.key() + " must be a constraint name or null");
        }
      }
    } else if (key == "currencies") {
      if (!v.is_object()) return mapping_error("currencies must be an object {CODE: exponent}");
      for (auto c = v.begin(); c != v.end(); ++c) {
        if (!c.value().is_number_integer()) return mapping_error("currencies." + c.key() + " must be an integer");
        HSK_TRY(m.currencies_.add(c.key(), static_cast<int>(c.value().get<std::int64_t>())));
      }
    } else {
      return mapping_error("unknown key '" + key + "' (capability, constraints, currencies)");
    }
  }
  std::vector<std::string> names;
  for (const auto* n : {&m.amount_, &m.currency_, &m.payee_, &m.time_}) {
    if (!*n) continue;
    for (const auto& other : names) {
      if (other == **n) return mapping_error("constraint name '" + **n + "' bound twice");
    }
    names.push_back(**n);
  }
  return m;
}

Json MandateMap::to_json() const {
  auto name = [](const std::optional<std::string>& n) { return n ? Json(*n) : Json(nullptr); };
  return Json{{"capability", capability_},
              {"constraints",
               {{"amount", name(amount_)}, {"currency", name(currency_)}, {"payee", name(payee_)}, {"time", name(time_)}}}};
}

Json MandateMap::constraints(const PaymentTerms& terms) const {
  Json c = Json::object();
  if (amount_ && terms.amount_minor) c[*amount_] = *terms.amount_minor;
  if (currency_ && terms.currency) c[*currency_] = *terms.currency;
  if (payee_ && !terms.payees.empty()) {
    c[*payee_] = terms.payees.size() == 1 ? Json(terms.payees.front()) : Json(terms.payees);
  }
  if (time_ && terms.time) c[*time_] = *terms.time;
  return c;
}

Result<ActionBinding> MandateMap::binding(const PaymentTerms& terms) const {
  const bool payment = terms.mandate_key != kIntentMandateKey;
  if (payment && ((amount_ && !terms.amount_minor) || (currency_ && !terms.currency) ||
                  (payee_ && terms.payees.empty()))) {
    return make_error(ErrorCode::kInvalidArgument, "ap2.mapping_incomplete",
                      terms.mandate_key + ": amount, currency or payee could not be derived");
  }
  ActionBinding b;
  b.capability = capability_;
  b.constraints = constraints(terms);
  return b;
}

capability::CapabilitySchema MandateMap::capability_schema() const {
  capability::CapabilitySchema s;
  s.name = capability_;
  s.description = "A payment authorized by an AP2 mandate (amount in minor units)";
  if (amount_) s.constraints[*amount_] = capability::ConstraintType::kNumericMax;
  if (currency_) s.constraints[*currency_] = capability::ConstraintType::kEnum;
  if (payee_) s.constraints[*payee_] = capability::ConstraintType::kEnum;
  if (time_) s.constraints[*time_] = capability::ConstraintType::kTimeWindow;
  return s;
}

Json MandateMap::discovery_document() const {
  capability::CapabilitySchemaSet set;
  set.add(capability_schema());
  return set.to_json();
}

}  // namespace handshake::ap2
