#!/usr/bin/env bash
# The GPU kit: CUDA checks, throughput and quality of bioR2 on one GPU, inside 9 minutes.
#
#   bash benchmarks/gpu/run.sh                         # on the GPU machine, OUT set (carry benchmarks/gpu/.kit)
#   OUT=/tmp/kit bash benchmarks/gpu/run.sh --smoke    # the same stages, tiny, on the CPU (< 2 minutes)
#
# Options: --smoke; --budget=SECONDS (the driver's; default: what is left of 540 s, or 75 with --smoke);
# --stages=a,b (run only these stages). Environment: OUT (required), PYTHON (default python3),
# KIT_SMOKE_DATA=1 (--smoke on the kit's real data bundle instead of synthetic inputs).
# Writes into $OUT, flat: results.json, log.txt, dna_quality.json, sc_quality.json, vision_quality.json.
set -uo pipefail
START=$(date +%s)
TOTAL_S=540
SMOKE=0
BUDGET=""
STAGES=""
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    --budget=*) BUDGET=${arg#--budget=} ;;
    --stages=*) STAGES=${arg#--stages=} ;;
    *) echo "run.sh: unknown argument $arg (see the header of this file)" >&2; exit 2 ;;
  esac
done
: "${OUT:?set OUT to the folder the results go to}"
mkdir -p "$OUT"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KIT="$HERE/.kit"
PY=${PYTHON:-python3}
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "[run.sh $(date +%H:%M:%S)] bioR2 GPU kit in $REPO, smoke=$SMOKE, python $($PY -c 'import sys; print(sys.version.split()[0])')"

# 1. the wheels the GPU machine's Python lacks (anndata, scanpy, pyfaidx, biopython and their small deps)
T=$(date +%s)
if [ "$SMOKE" = 0 ] && compgen -G "$KIT/wheels/*.whl" > /dev/null; then
  SITE=$(mktemp -d /tmp/bior2-site.XXXXXX)
  if $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$KIT"/wheels/*.whl; then
    export PYTHONPATH="$SITE:$REPO"
  else
    echo "[run.sh] pip install of the kit's wheels failed; the stages that need them will fail and say so" >&2
    export PYTHONPATH="$REPO"
  fi
else
  [ "$SMOKE" = 0 ] && echo "[run.sh] no wheels in $KIT/wheels: run benchmarks/gpu/prepare.sh first (and carry benchmarks/gpu/.kit)" >&2
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi
INSTALL_S=$(( $(date +%s) - T ))

# 2. the data: a fresh cache, filled from the kit's bundle (absent: the stages use synthetic inputs)
T=$(date +%s)
export BIOR2_CACHE=$(mktemp -d /tmp/bior2-cache.XXXXXX)
if { [ "$SMOKE" = 0 ] || [ "${KIT_SMOKE_DATA:-0}" = 1 ]; } && [ -f "$KIT/data.tar.gz" ]; then
  tar xzf "$KIT/data.tar.gz" -C "$BIOR2_CACHE" || echo "[run.sh] could not unpack $KIT/data.tar.gz" >&2
else
  echo "[run.sh] no data bundle unpacked: stages without real data run on synthetic inputs"
fi
EXTRACT_S=$(( $(date +%s) - T ))
export KIT_SETUP="{\"install_s\": $INSTALL_S, \"extract_s\": $EXTRACT_S}"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

# 3. the driver, with what is left of the time (a margin for its last write and this script's end)
if [ -z "$BUDGET" ]; then
  if [ "$SMOKE" = 1 ]; then BUDGET=75; else BUDGET=$(( TOTAL_S - ($(date +%s) - START) - 25 )); fi
fi
ARGS=(run --out "$OUT" --budget "$BUDGET")
[ "$SMOKE" = 1 ] && ARGS+=(--smoke)
[ -n "$STAGES" ] && ARGS+=(--stages "$STAGES")
echo "[run.sh $(date +%H:%M:%S)] setup: install ${INSTALL_S} s, data ${EXTRACT_S} s; driver budget ${BUDGET} s"
timeout -k 10 $(( BUDGET + 60 )) $PY "$HERE/kit.py" "${ARGS[@]}"
RC=$?
[ "$RC" = 124 ] && echo "[run.sh] the driver ran past its budget and was stopped; results.json holds the stages it finished"
rm -rf "$BIOR2_CACHE"
echo "[run.sh $(date +%H:%M:%S)] done in $(( $(date +%s) - START )) s (driver exit $RC); files in $OUT:"
ls -la "$OUT"
$PY - "$OUT/results.json" <<'EOF' || true
import json, sys
r = json.load(open(sys.argv[1]))
for name, s in r["stages"].items():
    extra = s.get("error") or ", ".join(s.get("failed_checks", [])) or s.get("reason", "")
    print(f"  {name:18s} {s['status']:8s} {s.get('seconds', 0):7.1f} s  {extra}"[:200])
EOF
exit $RC
