#!/usr/bin/env bash
# The PyTorch parity tests (and the fused recurrence's) once more in each mode of rnnkit's kernels
# that `pnpm test` does not cover by default: 1 thread and 3 threads (more than this machine's cores
# is fine for correctness), plain and relaxed SIMD. `pnpm test` itself runs the machine's thread
# count with plain SIMD (Node 20). Writes one vitest JSON report per mode into $1.
set -uo pipefail
out=${1:?usage: test-modes.sh REPORT_DIR}
mkdir -p "$out"
files=(
  packages/cells/src/kernels/mode.test.ts
  packages/cells/src/parity.test.ts
  packages/models/src/layers-parity.test.ts
  packages/models/src/fused/recurrence.test.ts
  packages/models/src/encoder-decoder.test.ts
  packages/training/src/parity.test.ts
  packages/training/src/rnn-model-parity.test.ts
  packages/training/src/rnn-model.test.ts
  packages/training/src/classifier.test.ts
)
status=0
for mode in "1 plain" "1 relaxed" "3 plain" "3 relaxed"; do
  read -r threads simd <<<"$mode"
  echo "== parity tests on $threads thread(s), $simd SIMD"
  relaxed=0
  [ "$simd" = relaxed ] && relaxed=1
  RNNKIT_THREADS=$threads RNNKIT_TEST_RELAXED_SIMD=$relaxed pnpm exec vitest run --project cells --project models --project training \
    --reporter=dot --reporter=json --outputFile="$out/modes-$threads-$simd.json" "${files[@]}" || status=1
done
exit "$status"
