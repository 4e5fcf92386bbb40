#!/bin/bash
# Runs every `bior2 benchmark <domain> --quick` of a checkout, one after another (the refactor check in
# RESULTS.md): bash benchmarks/base_quick.sh CHECKOUT OUT_DIR   (uses CHECKOUT/.venv or $PY)
T=$1; O=$2; mkdir -p $O
cd $T
export PYTHONPATH=$T OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PY=${PY:-$T/.venv/bin/python}
for d in theory vision text dna sc; do
  extra=""
  [ $d = sc ] && extra="--jobs 1"
  [ $d = vision ] || [ $d = text ] && extra="--jobs 1 --threads 1"
  [ $d = dna ] && extra="--threads 1"
  s=$(date +%s)
  nice -n 5 $PY -m bioR2 benchmark $d --quick --out $O/$d $extra > $O/$d.log 2>&1
  echo "$d rc=$? $(( $(date +%s) - s )) s" >> $O/summary.txt
done
