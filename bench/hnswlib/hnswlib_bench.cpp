// The peer for `bench/Bench ann`: Debian's libhnswlib-dev (hnswlib 0.6.2) on the same files, same M/efConstruction,
// same ground truth (.ivecs written by our benchmark). Cosine = normalise, then inner product, as ours does.
// Build: g++ -O3 -march=native -std=c++17 -pthread hnswlib_bench.cpp -o hnswlib_bench
// Usage: hnswlib_bench BASE.fvecs QUERY.fvecs GT.ivecs K M EF_CONSTRUCTION EF1,EF2,... THREADS
#include <hnswlib/hnswlib.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/resource.h>
#include <thread>
#include <unordered_set>
#include <vector>

static std::vector<std::vector<float>> read_fvecs(const char* path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::vector<float>> rows;
    int d;
    while (in.read(reinterpret_cast<char*>(&d), 4)) {
        std::vector<float> row(d);
        in.read(reinterpret_cast<char*>(row.data()), 4 * d);
        rows.push_back(std::move(row));
    }
    return rows;
}

static std::vector<std::vector<int>> read_ivecs(const char* path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::vector<int>> rows;
    int d;
    while (in.read(reinterpret_cast<char*>(&d), 4)) {
        std::vector<int> row(d);
        in.read(reinterpret_cast<char*>(row.data()), 4 * d);
        rows.push_back(std::move(row));
    }
    return rows;
}

static void normalize(std::vector<float>& v) {
    double n = 0;
    for (float x : v) n += double(x) * x;
    n = std::sqrt(n);
    if (n > 0) for (float& x : v) x = float(x / n);
}

static long max_rss_kib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

int main(int argc, char** argv) {
    if (argc != 9) {
        std::fprintf(stderr, "usage: %s BASE.fvecs QUERY.fvecs GT.ivecs K M EF_CONSTRUCTION EF1,EF2,... THREADS\n", argv[0]);
        return 2;
    }
    auto base = read_fvecs(argv[1]);
    auto queries = read_fvecs(argv[2]);
    auto truth = read_ivecs(argv[3]);
    int k = std::atoi(argv[4]), m = std::atoi(argv[5]), efc = std::atoi(argv[6]), threads = std::atoi(argv[8]);
    std::vector<int> efs;
    std::stringstream list(argv[7]);
    for (std::string item; std::getline(list, item, ',');) efs.push_back(std::stoi(item));
    for (auto& v : base) normalize(v);
    for (auto& v : queries) normalize(v);
    size_t n = base.size(), d = base[0].size();

    long rss_before = max_rss_kib();
    hnswlib::InnerProductSpace space(d);
    hnswlib::HierarchicalNSW<float> index(&space, n, m, efc, 42);
    auto t0 = std::chrono::steady_clock::now();
    index.addPoint(base[0].data(), 0);
    std::atomic<size_t> next{1};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; t++)
        workers.emplace_back([&] { for (size_t i; (i = next++) < n;) index.addPoint(base[i].data(), i); });
    for (auto& w : workers) w.join();
    double build = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("hnswlib 0.6.2: %zu x %zu, M = %d, efConstruction = %d, %d build threads: build %.1f s, max RSS growth %.0f MiB\n",
                n, d, m, efc, threads, build, (max_rss_kib() - rss_before) / 1024.0);

    for (int ef : efs) {
        index.setEf(ef);
        for (size_t i = 0; i < std::min<size_t>(50, queries.size()); i++) index.searchKnn(queries[i].data(), k);
        std::vector<std::vector<size_t>> results(queries.size());
        auto q0 = std::chrono::steady_clock::now();
        for (size_t i = 0; i < queries.size(); i++) {
            auto top = index.searchKnn(queries[i].data(), k);
            while (!top.empty()) { results[i].push_back(top.top().second); top.pop(); }
        }
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - q0).count();
        size_t hits = 0;
        for (size_t i = 0; i < queries.size(); i++) {
            std::unordered_set<int> expected(truth[i].begin(), truth[i].begin() + k);
            for (auto id : results[i]) hits += expected.count(int(id));
        }
        std::printf("  ef %4d: recall@%d %.4f  %8.0f queries/s (1 thread)\n", ef, k, double(hits) / (queries.size() * k), queries.size() / seconds);
    }
    return 0;
}
