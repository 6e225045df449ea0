// Mandate -> capability request: the capability a payment needs and the constraint values the
// service derives from the mandate itself (never from what the agent declares), as a
// handshake::ActionBinding for Service::verify(request, binding). A delegation such as
// {"max_amount": 20000, "currency": ["EUR"], "payee": ["m-1", "m-2"],
//  "execution_window": ["2026-08-24", "2026-08-30"]} then refuses, with scope_exceeded, a mandate
// over 200.00 EUR, in another currency, to another payee or dated outside that week.
//
// Mapping file (YAML or the same as JSON; unknown keys are refused so a typo cannot silently
// disable a check):
//   capability: pay.transfer          # default pay.transfer
//   constraints:                      # the constraint name each derived value is bound to;
//     amount: max_amount              #   numeric_max, integer minor units
//     currency: currency              #   enum
//     payee: payee                    #   enum
//     time: execution_window          #   time_window
//                                     # (these are the defaults; null drops a binding)
//   currencies: {XTS: 2}              # ISO 4217 codes beyond the built-in table (amount.hpp)
//
// Derived values per mandate kind:
//   kind                          amount (minor)              currency            payee                    time
//   v0.1 PaymentMandate           payment_details_total       its currency        merchant_agent           timestamp (when present)
//   v0.1 CartMandate              details.total               its currency        merchant_name            -
//   v0.1 IntentMandate            -                           -                   merchants (when listed)  -
//   v0.2 mandate.payment.1        payment_amount.amount       payment_amount.     payee.id                 execution_date, else iat
//                                                             currency
// A value that a kind does not have is not derived; for a time_window that means the service
// checks "now" against the delegated window (capability.hpp). Payment kinds always derive amount,
// currency and payee.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/ap2/amount.hpp"
#include "handshake/ap2/mandates.hpp"
#include "handshake/ap2/sd_jwt.hpp"
#include "handshake/capability.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/service.hpp"

namespace handshake::ap2 {

// What a mandate commits its payer to, in the mapping's terms.
struct PaymentTerms {
  std::string mandate_key;                  // the DataPart key of the mandate kind
  std::optional<std::int64_t> amount_minor;
  std::optional<std::string> currency;
  std::vector<std::string> payees;          // one for payments and carts; the allowed list of an intent
  std::optional<Json> time;                 // an RFC 3339 time or a YYYY-MM-DD date
};

[[nodiscard]] PaymentTerms terms_of(const PaymentMandate& m);
[[nodiscard]] PaymentTerms terms_of(const CartMandate& m);
[[nodiscard]] PaymentTerms terms_of(const IntentMandate& m);
[[nodiscard]] PaymentTerms terms_of(const SdJwtPaymentMandate& m);

class MandateMap {
 public:
  MandateMap();  // the defaults above, ISO 4217 built-in table

  // Errors: kParse "yaml.invalid", kSchema "ap2.mapping" naming the key, capability names checked
  // with capability::validate_name, "ap2.currency_invalid".
  [[nodiscard]] static Result<MandateMap> from_yaml(std::string_view text);
  [[nodiscard]] static Result<MandateMap> from_json(const Json& doc);
  [[nodiscard]] Json to_json() const;

  [[nodiscard]] const std::string& capability() const noexcept { return capability_; }
  [[nodiscard]] const CurrencyTable& currencies() const noexcept { return currencies_; }

  // The constraint values derived from `terms` (an object; only the bound names).
  [[nodiscard]] Json constraints(const PaymentTerms& terms) const;
  // {capability, constraints(terms)}. Errors: kInvalidArgument "ap2.mapping_incomplete" when a
  // payment kind lacks its amount, currency or payee while the map binds them.
  [[nodiscard]] Result<ActionBinding> binding(const PaymentTerms& terms) const;
  // The §10 capability schema that types the bound names (numeric_max, enum, enum, time_window),
  // for ServiceOptions::capabilities and for offline bundle verification.
  [[nodiscard]] capability::CapabilitySchema capability_schema() const;
  // The §10 discovery document holding capability_schema().
  [[nodiscard]] Json discovery_document() const;

 private:
  std::string capability_ = "pay.transfer";
  std::optional<std::string> amount_ = "max_amount", currency_ = "currency", payee_ = "payee",
                             time_ = "execution_window";
  CurrencyTable currencies_;
};

}  // namespace handshake::ap2
