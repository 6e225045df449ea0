// Our A2A extension URI. The A2A adapter (adapters/a2a) uses the same URI for the Handshake
// extension; adapters never depend on each other, so each names it itself, and a test pins both
// to this value.
#pragma once

#include <string_view>

namespace handshake::ap2 {

// The A2A metadata key (and extension URI) under which Handshake data travels: receipts, and for
// AP2 the mandate the receipt commits to (receipts.hpp).
inline constexpr std::string_view kExtensionUri = "https://handshake.ai/ext/a2a/v1";

// The AP2 extension URI the AP2 samples declare and activate (wire-formats §3.1), and the form the
// v0.1 document wrote; both are recognised.
inline constexpr std::string_view kAp2ExtensionUri = "https://github.com/google-agentic-commerce/ap2/v1";
inline constexpr std::string_view kAp2ExtensionUriV01Doc = "https://github.com/google-agentic-commerce/ap2/tree/v0.1";

}  // namespace handshake::ap2
