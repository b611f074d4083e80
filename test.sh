#!/usr/bin/env bash
# Runs every test. Installs what the tests use when it is missing (Debian): PostgreSQL and Redis (the cluster
# tests start their own servers), and what the Python helpers import. The Python helpers the tests run
# (tests/Encoders.Tests/references/*.py) import: sys (stdlib), cv2 + numpy + onnx (the independent encoder
# reference: OpenCV's DNN runtime, the graph read with onnx) and PIL (the preprocessing reference).
set -euo pipefail
cd "$(dirname "$0")"

# Debian package per imported module; every module the helper scripts import is listed here.
declare -A package=([cv2]=python3-opencv [numpy]=python3-numpy [onnx]=python3-onnx [PIL]=python3-pil)
need=()
for module in "${!package[@]}"; do
  /usr/bin/python3 -c "import $module" 2>/dev/null || need+=("${package[$module]}")
done
# The cluster tests start their own PostgreSQL and Redis servers from the packages' binaries.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
# The web UI tests drive Debian's Chromium through Playwright (never a downloaded browser).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "Missing Debian packages: ${need[*]} (install them, then run again)" >&2; exit 1
  fi
fi

# House style: the tree must be formatted as .editorconfig says.
if ! dotnet format Catalogs.sln --verify-no-changes --verbosity quiet; then
  echo "The code is not formatted as .editorconfig says: run 'dotnet format Catalogs.sln'." >&2
  exit 1
fi

# dotnet format does not wrap lines: the 120-column limit of .editorconfig is checked here (characters, not bytes).
if ! git ls-files -z --cached --others --exclude-standard '*.cs' | /usr/bin/python3 -c '
import sys
long = [f"{p}:{n}: {len(l)} characters" for p in sys.stdin.read().split("\0") if p
        for n, l in enumerate(open(p, encoding="utf-8").read().split("\n"), 1) if len(l) > 120]
print("\n".join(long), file=sys.stderr)
sys.exit(1 if long else 0)'; then
  echo "Lines longer than 120 characters (.editorconfig max_line_length): wrap them." >&2
  exit 1
fi

log=$(mktemp)
set +e
dotnet test Catalogs.sln -c Release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line for CI: totals over all test assemblies.
awk '/(Passed|Failed)! +- +Failed:/ { gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
