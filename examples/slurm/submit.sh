#!/usr/bin/env bash
# Submits the whole pipeline to Slurm: capture (array) -> analyze (array) -> merge, each stage
# waiting for the previous one with --dependency=afterok, and prints the three job ids.
# Re-running it after a cancelled or pre-empted task resumes: finished corpus files and
# analysed units are skipped. Edit the settings below, or override any of them from the
# environment (POC_SHARDS=16 ./submit.sh).
set -euo pipefail

# ---------------------------------------------------------------- settings to edit
POC_MODEL=${POC_MODEL:-$HOME/llama31-onnx}   # ONNX export folder, a hub repo id, or "tiny"
POC_CORPUS=${POC_CORPUS:-$PWD/corpus}         # one corpus folder shared by all capture tasks
POC_OUT=${POC_OUT:-$PWD/analysis}             # report.md, its units csv and the per-shard csvs
POC_SHARDS=${POC_SHARDS:-8}                   # capture array tasks
POC_ANALYZE_SHARDS=${POC_ANALYZE_SHARDS:-$POC_SHARDS}  # analysis array tasks
POC_PARTITION=${POC_PARTITION:-}              # empty: the cluster's default partition
POC_GPUS_PER_TASK=${POC_GPUS_PER_TASK:-1}     # GPUs per capture task (0: CPU only)
POC_CPUS_PER_TASK=${POC_CPUS_PER_TASK:-8}     # CPU cores per task (analysis uses them all)
POC_TIME=${POC_TIME:-08:00:00}                # time limit per task
POC_CAPTURE_ARGS=${POC_CAPTURE_ARGS:---prompts 5}  # more `poc capture` flags (--source, --max-length, ...)
POC_ANALYZE_ARGS=${POC_ANALYZE_ARGS:-}        # more `poc analyze` flags (--k-max, --granularity, ...)
# how a task runs poc: this checkout's launcher by default (the tasks run copies of the
# .sbatch files from Slurm's spool folder, so they cannot find it themselves)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POC_BIN=${POC_BIN:-node $(cd "$HERE/../.." && pwd)/bin/poc.js}
# ----------------------------------------------------------------

die() { echo "submit.sh: $*" >&2; exit 1; }
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node"
[[ $POC_SHARDS =~ ^[1-9][0-9]*$ ]] || die "POC_SHARDS must be a positive integer, got '$POC_SHARDS'"
[[ $POC_ANALYZE_SHARDS =~ ^[1-9][0-9]*$ ]] || die "POC_ANALYZE_SHARDS must be a positive integer, got '$POC_ANALYZE_SHARDS'"
# tasks start in other folders (and on other nodes): absolute paths only
POC_CORPUS=$(realpath -m "$POC_CORPUS")
POC_OUT=$(realpath -m "$POC_OUT")
[[ $POC_MODEL == tiny || ! -e $POC_MODEL ]] || POC_MODEL=$(realpath "$POC_MODEL")
mkdir -p "$POC_CORPUS" "$POC_OUT/shards" "$POC_OUT/logs"

export POC_MODEL POC_CORPUS POC_OUT POC_SHARDS POC_ANALYZE_SHARDS POC_CAPTURE_ARGS POC_ANALYZE_ARGS POC_BIN

common=(--parsable --export=ALL --time="$POC_TIME")
[[ -n $POC_PARTITION ]] && common+=(--partition="$POC_PARTITION")
gpus=()
[[ $POC_GPUS_PER_TASK != 0 ]] && gpus=(--gres="gpu:$POC_GPUS_PER_TASK")

# --parsable prints "jobid" or "jobid;cluster"
capture=$(sbatch "${common[@]}" --cpus-per-task="$POC_CPUS_PER_TASK" "${gpus[@]}" --array="0-$((POC_SHARDS - 1))" \
  --output="$POC_OUT/logs/capture-%A_%a.log" "$HERE/capture.sbatch")
capture=${capture%%;*}
# a failed capture task never satisfies afterok: the later stages are then cancelled, not left pending
analyze=$(sbatch "${common[@]}" --cpus-per-task="$POC_CPUS_PER_TASK" --array="0-$((POC_ANALYZE_SHARDS - 1))" \
  --dependency="afterok:$capture" --kill-on-invalid-dep=yes \
  --output="$POC_OUT/logs/analyze-%A_%a.log" "$HERE/analyze.sbatch")
analyze=${analyze%%;*}
merge=$(sbatch "${common[@]}" --cpus-per-task=1 --dependency="afterok:$analyze" --kill-on-invalid-dep=yes \
  --output="$POC_OUT/logs/merge-%j.log" "$HERE/merge.sbatch")
merge=${merge%%;*}

echo "capture $capture array 0-$((POC_SHARDS - 1)) into $POC_CORPUS"
echo "analyze $analyze array 0-$((POC_ANALYZE_SHARDS - 1)) after capture, into $POC_OUT/shards"
echo "merge $merge after analyze: $POC_OUT/report.md"
echo "logs: $POC_OUT/logs; follow with: squeue -j $capture,$analyze,$merge"
