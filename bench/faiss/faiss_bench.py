#!/usr/bin/python3
"""The second peer for `bench/Bench ann`: Debian's python3-faiss (1.7.3) HNSW on the same files, same M /
efConstruction, same ground truth (.ivecs written by our benchmark). Cosine = normalise, then inner product.
Two variants: IndexHNSWFlat (float32 walk) and IndexHNSWSQ with 8-bit scalar quantization (faiss's int8 walk,
no re-ranking). Queries run as one batch on one OpenMP thread, i.e. one after another on one core.

usage: /usr/bin/python3 bench/faiss/faiss_bench.py BASE.fvecs QUERY.fvecs GT.ivecs K M EF_CONSTRUCTION EF1,EF2,... THREADS
"""
import resource
import sys
import time

import faiss
import numpy as np


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(dtype).copy()


def normalise(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)


def main():
    base_path, query_path, gt_path, k, m, efc, efs, threads = sys.argv[1:9]
    k, m, efc, threads = int(k), int(m), int(efc), int(threads)
    base = normalise(read_vecs(base_path, np.float32)).astype(np.float32)
    queries = normalise(read_vecs(query_path, np.float32)).astype(np.float32)
    truth = read_vecs(gt_path, np.int32)[:, :k]
    n, d = base.shape
    print(f"faiss {faiss.__version__} ({faiss.get_compile_options().strip()}): {n} x {d}, M = {m}, "
          f"efConstruction = {efc}, {threads} build threads")
    variants = (
        ("HNSWFlat", lambda: faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)),
        ("HNSWSQ8", lambda: faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, m, faiss.METRIC_INNER_PRODUCT)),
    )
    for name, make in variants:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        index = make()
        index.hnsw.efConstruction = efc
        faiss.omp_set_num_threads(threads)
        start = time.perf_counter()
        if not index.is_trained:
            index.train(base)
        index.add(base)
        build = time.perf_counter() - start
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
        print(f"  {name}: build {build:.1f} s, max RSS growth {grown:.0f} MiB")
        faiss.omp_set_num_threads(1)
        for ef in (int(e) for e in efs.split(",")):
            index.hnsw.efSearch = ef
            index.search(queries[:50], k)  # warm-up
            start = time.perf_counter()
            _, found = index.search(queries, k)
            elapsed = time.perf_counter() - start
            hits = sum(len(set(found[i]) & set(truth[i])) for i in range(len(queries)))
            print(f"    ef {ef:4d}: recall@{k} {hits / (len(queries) * k):.4f}  "
                  f"{len(queries) / elapsed:8.0f} queries/s (1 thread)")
        del index


if __name__ == "__main__":
    main()
