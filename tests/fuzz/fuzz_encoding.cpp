// Strict binary-to-text decoders (encoding.hpp): base64url, base58btc, multibase 'z', hex.
//
// Byte 0 of the input picks the decoder, the rest is the text. Properties: a decoder accepts only
// the one canonical encoding of some bytes (encode(decode(t)) == t, hex modulo case), and encoding
// any bytes decodes back to them.
#include <cctype>
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"

namespace {

using namespace hsk_fuzz;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto codec = static_cast<Codec>(data[0] % 4);
  const auto text = as_text(data + 1, size - 1);
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);
  switch (codec) {
    case Codec::kBase64url: {
      if (auto d = hs::encoding::base64url_decode(text); d.ok()) {
        if (hs::encoding::base64url_encode(*d) != text) violated("base64url: a non-canonical text decoded", text);
      }
      const auto e = hs::encoding::base64url_encode(bytes);
      auto back = hs::encoding::base64url_decode(e);
      if (!back.ok() || !std::equal(back->begin(), back->end(), bytes.begin(), bytes.end())) {
        violated("base64url: encode/decode round trip", e);
      }
      break;
    }
    case Codec::kBase58btc: {
      if (auto d = hs::encoding::base58btc_decode(text); d.ok()) {
        if (text.size() > hs::encoding::kMaxBase58Chars) violated("base58: an over-long text decoded");
        if (hs::encoding::base58btc_encode(*d) != text) violated("base58: a non-canonical text decoded", text);
      }
      if (bytes.size() <= 512) {
        const auto e = hs::encoding::base58btc_encode(bytes);
        auto back = hs::encoding::base58btc_decode(e);
        if (e.size() <= hs::encoding::kMaxBase58Chars &&
            (!back.ok() || !std::equal(back->begin(), back->end(), bytes.begin(), bytes.end()))) {
          violated("base58: encode/decode round trip", e);
        }
      }
      break;
    }
    case Codec::kMultibase: {
      if (auto d = hs::encoding::multibase_decode(text); d.ok()) {
        if (hs::encoding::multibase_z_encode(*d) != text) violated("multibase: a non-canonical text decoded", text);
      }
      break;
    }
    case Codec::kHex: {
      if (auto d = hs::encoding::hex_decode(text); d.ok()) {
        if (hs::encoding::hex_encode(*d) != lower(text)) violated("hex: decode/encode differs", text);
      }
      auto back = hs::encoding::hex_decode(hs::encoding::hex_encode(bytes));
      if (!back.ok() || !std::equal(back->begin(), back->end(), bytes.begin(), bytes.end())) {
        violated("hex: encode/decode round trip");
      }
      break;
    }
  }
  return 0;
}
