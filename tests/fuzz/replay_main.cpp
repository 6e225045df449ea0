// A main() for a fuzz harness built without libFuzzer (GCC, the normal build): runs every file of
// the given corpus directories (or single files) through LLVMFuzzerTestOneInput, then a fixed
// number of deterministic mutations of each (bit flips, byte substitutions, deletions,
// duplications, insertions, splices with another input), so that every CI run exercises each
// harness beyond its seeds. A violated property aborts, as under libFuzzer.
//
// Usage: fuzz_<name> [--mutations N] [--seed S] PATH...    (N defaults to $HSK_FUZZ_REPLAY_MUTATIONS or 128)
// Fails when no input was found, so that a missing corpus is not a silent pass.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;
using Input = std::vector<std::uint8_t>;

constexpr std::size_t kMaxInput = 1 << 20;

Input read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Input(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void run(const Input& in) { LLVMFuzzerTestOneInput(in.empty() ? nullptr : in.data(), in.size()); }

// Bytes that tend to matter to JSON, base64url and the harness layouts.
constexpr std::uint8_t kInteresting[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, '"', '\\', '{', '}', '[', ']', ',', ':',
                                         '0',  '9',  '-',  '.',  'e',  'E', 'u',  '=', '+', '/', ' ', 'z'};

Input mutate(const Input& seed, const std::vector<Input>& all, std::mt19937_64& rng) {
  Input m = seed;
  auto pick = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
  const int steps = 1 + static_cast<int>(rng() % 3);
  for (int s = 0; s < steps; ++s) {
    switch (rng() % 7) {
      case 0:  // flip one bit
        if (!m.empty()) m[pick(m.size())] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // substitute an interesting byte
        if (!m.empty()) m[pick(m.size())] = kInteresting[pick(std::size(kInteresting))];
        break;
      case 2: {  // delete a range
        if (m.empty()) break;
        const auto at = pick(m.size());
        const auto n = 1 + pick(std::min<std::size_t>(16, m.size() - at));
        m.erase(m.begin() + static_cast<std::ptrdiff_t>(at), m.begin() + static_cast<std::ptrdiff_t>(std::min(m.size(), at + n)));
        break;
      }
      case 3: {  // duplicate a range
        if (m.empty() || m.size() > kMaxInput / 2) break;
        const auto at = pick(m.size());
        const auto n = 1 + pick(std::min<std::size_t>(64, m.size() - at));
        const Input piece(m.begin() + static_cast<std::ptrdiff_t>(at), m.begin() + static_cast<std::ptrdiff_t>(at + n));
        m.insert(m.begin() + static_cast<std::ptrdiff_t>(pick(m.size() + 1)), piece.begin(), piece.end());
        break;
      }
      case 4: {  // insert random bytes
        const auto at = pick(m.size() + 1);
        const auto n = 1 + pick(8);
        Input piece(n);
        for (auto& b : piece) b = static_cast<std::uint8_t>(rng());
        m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), piece.begin(), piece.end());
        break;
      }
      case 5: {  // splice: our head, another input's tail
        const Input& other = all[pick(all.size())];
        if (other.empty()) break;
        const auto cut = pick(m.size() + 1);
        const auto from = pick(other.size());
        m.resize(cut);
        m.insert(m.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
        break;
      }
      default:  // truncate
        if (!m.empty()) m.resize(pick(m.size()));
        break;
    }
  }
  if (m.size() > kMaxInput) m.resize(kMaxInput);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mutations = 128;
  if (const char* env = std::getenv("HSK_FUZZ_REPLAY_MUTATIONS")) mutations = std::strtoull(env, nullptr, 10);
  std::uint64_t seed = 0x48534b;  // "HSK"
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      mutations = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (fs::is_directory(arg)) {
      for (const auto& e : fs::recursive_directory_iterator(arg)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else if (fs::is_regular_file(arg)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "replay: no such file or directory: %s (ignored)\n", arg.c_str());
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs found\n");
    return 2;
  }
  std::vector<Input> inputs;
  for (const auto& f : files) inputs.push_back(read_file(f));

  const auto start = std::chrono::steady_clock::now();
  for (const auto& in : inputs) run(in);
  std::mt19937_64 rng(seed);
  std::size_t runs = inputs.size();
  for (const auto& in : inputs) {
    for (std::size_t k = 0; k < mutations; ++k, ++runs) run(mutate(in, inputs, rng));
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  std::printf("replay: %zu seeds, %zu executions (%zu mutations each), %lld ms, no property violated\n", inputs.size(),
              runs, mutations, static_cast<long long>(ms));
  return 0;
}
