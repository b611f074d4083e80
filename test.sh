#!/usr/bin/env bash
# Runs every test. Installs what the tests use when it is missing (Debian): Python with NumPy and OpenCV for the
# independent encoder reference, Pillow for the preprocessing reference.
set -euo pipefail
cd "$(dirname "$0")"

need=()
/usr/bin/python3 -c "import numpy, cv2, PIL" 2>/dev/null || need+=(python3-numpy python3-opencv python3-pil)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "Missing Debian packages: ${need[*]} (install them, then run again)" >&2; exit 1
  fi
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
