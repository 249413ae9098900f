#!/bin/bash
# bench_ranks.sh - `deltabench bench --ranks` on 1 process and under `mpirun -np N` (default 2), one OpenMP
# thread per rank, for the README's data-parallel table. Options after the script name go to the bench
# (defaults below). Needs an MPI build (make prints "MPI: yes") and mpirun.
#   scripts/bench_ranks.sh [N] [bench options...]
set -e
N=${1:-2}
[ $# -gt 0 ] && shift
ARGS=${*:-"--backbone swin-t --size 224 --batch 4 --threads 1 --steps 5 --warmup 2 --methods all"}
BIN=${DB_BIN:-build/deltabench}
MPIRUN=${MPIRUN:-mpirun}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$BIN" version | grep -q '^mpi: yes' || { echo "bench_ranks: $BIN was built without MPI" >&2; exit 1; }
echo "== 1 process"
# shellcheck disable=SC2086
"$BIN" bench --ranks $ARGS
echo "== mpirun -np $N"
# shellcheck disable=SC2086
"$MPIRUN" -np "$N" --oversubscribe "$BIN" bench --ranks $ARGS
