#!/usr/bin/env bash
# Side by side in one run, on the same files, with the same M / efConstruction / ef sweep and the same ground truth:
# our HNSW (bench/Bench ann) with a float32 and with an int8 walk, hnswlib (Debian's libhnswlib-dev compiled with
# g++ -O3 -march=native) and faiss (Debian's python3-faiss, a generic build; skip it with FAISS=0), ours interleaved
# before and after the peers.
# usage: bench/ann-vs-hnswlib.sh DIR [M] [EF_CONSTRUCTION] [EFS] [THREADS]   (DIR holds base.fvecs and query.fvecs,
#        e.g. from /usr/bin/python3 ../shared/bench/make_fvecs.py DIR 100000 1000 1280)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1; m=${2:-16}; efc=${3:-200}; efs=${4:-10,20,40,80,160}; threads=${5:-2}
command -v g++ >/dev/null && test -f /usr/include/hnswlib/hnswlib.h || { echo "needs g++ and libhnswlib-dev" >&2; exit 1; }
bin=$(mktemp -d)/hnswlib_bench
g++ -O3 -march=native -std=c++17 -pthread bench/hnswlib/hnswlib_bench.cpp -o "$bin"
dotnet build -c Release bench/Bench >/dev/null
ours() { dotnet run -c Release --no-build --project bench/Bench -- ann --base "$dir/base.fvecs" --queries "$dir/query.fvecs" \
           --ground-truth "$dir/gt.ivecs" --m "$m" --ef-construction "$efc" --ef "$efs" --threads "$threads" --quantization "$1"; }
ours none                                                              # float32 walk; also writes the shared ground truth
ours int8                                                              # int8 walk, float32 re-rank
"$bin" "$dir/base.fvecs" "$dir/query.fvecs" "$dir/gt.ivecs" 10 "$m" "$efc" "$efs" "$threads"
if [[ ${FAISS:-1} == 1 ]] && /usr/bin/python3 -c 'import faiss' 2>/dev/null; then     # second peer: Debian's python3-faiss
  /usr/bin/python3 bench/faiss/faiss_bench.py "$dir/base.fvecs" "$dir/query.fvecs" "$dir/gt.ivecs" 10 "$m" "$efc" "$efs" "$threads"
fi
ours int8                                                              # interleaved: ours again after the peers
ours none
