// Registry log: durable batched append throughput and inclusion-proof generation, each beside
// the raw SHA-256 cost of the same hashing in the same run.
//
//   append       leaves/s acknowledged (batches of 1000 in one transaction, synchronous=FULL)
//   append_hash  the SHA-256 work alone (leaf hash + the node hashes the batch closes)
//   proof        inclusion proof generation at HSK_BENCH_LEAVES leaves (default 1,000,000)
//   proof_hash   the hashes a proof's subtree reads cost if recomputed from stored nodes
// Targets: >= 20k acknowledged leaves/s; inclusion proof < 50 us at 1M leaves.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <bit>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "handshake/encoding.hpp"
#include "handshake/merkle.hpp"
#include "handshake/registry_log.hpp"

namespace {

namespace hm = handshake::merkle;
namespace hr = handshake::registry;
namespace fs = std::filesystem;

hm::Hash commitment(std::uint64_t n) {
  hm::Hash h{};
  for (int i = 0; i < 8; ++i) h[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  return hm::leaf_hash(h);
}

fs::path temp_db(const char* name) {
  std::string tmpl = (fs::temp_directory_path() / "hsk-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return fs::path(tmpl) / name;
}

std::uint64_t leaves_for_proofs() {
  const char* env = std::getenv("HSK_BENCH_LEAVES");
  return env ? std::strtoull(env, nullptr, 10) : 1'000'000;
}

void BM_Append(benchmark::State& state) {
  const auto path = temp_db("append.db");
  auto log = hr::open_sqlite_log(path).value();
  std::uint64_t next = 0;
  std::vector<hm::Hash> batch(1000);
  for (auto _ : state) {
    for (auto& leaf : batch) leaf = commitment(next++);
    auto r = log->append(batch);
    if (!r.ok()) state.SkipWithError(r.error().message.c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(next));
  log.reset();
  fs::remove_all(path.parent_path());
}

void BM_AppendHashBound(benchmark::State& state) {
  hm::MemoryTree tree;
  std::uint64_t next = 0;
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) tree.append(commitment(next++));
    if (tree.size() > 4'000'000) {
      state.PauseTiming();
      tree = hm::MemoryTree();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(next));
}

struct ProofFixture {
  fs::path path;
  std::unique_ptr<hr::LogStore> log;
  std::uint64_t size = 0;
};

ProofFixture& proof_fixture() {
  static ProofFixture f = [] {
    ProofFixture p;
    p.path = temp_db("proofs.db");
    p.log = hr::open_sqlite_log(p.path).value();
    const std::uint64_t n = leaves_for_proofs();
    std::vector<hm::Hash> batch;
    for (std::uint64_t i = 0; i < n;) {
      batch.clear();
      for (int j = 0; j < 10000 && i < n; ++j) batch.push_back(commitment(i++));
      if (!p.log->append(batch).ok()) std::abort();
    }
    p.size = n;
    return p;
  }();
  return f;
}

void BM_InclusionProof(benchmark::State& state) {
  auto& f = proof_fixture();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto proof = hm::inclusion_proof(rng() % f.size, f.size, *f.log);
    if (!proof.ok()) state.SkipWithError(proof.error().message.c_str());
    benchmark::DoNotOptimize(proof);
  }
  state.counters["leaves"] = static_cast<double>(f.size);
}

void BM_InclusionProofHashBound(benchmark::State& state) {
  // About log2(n) node hashes: what verifying (recomputing) the path costs.
  auto& f = proof_fixture();
  const auto depth = static_cast<int>(std::bit_width(f.size));
  hm::Hash h{};
  for (auto _ : state) {
    for (int i = 0; i < depth; ++i) h = hm::node_hash(h, h);
    benchmark::DoNotOptimize(h);
  }
}

}  // namespace

BENCHMARK(BM_AppendHashBound)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Append)->Unit(benchmark::kMillisecond)->UseRealTime();  // durable: wall time counts
BENCHMARK(BM_InclusionProofHashBound)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_InclusionProof)->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
