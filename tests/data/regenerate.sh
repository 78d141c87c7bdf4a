#!/usr/bin/env bash
# Re-make the fast tier's committed studies with the real harness (about 2 minutes on 2 cores).
# Run from the project root with fmbench installed: bash tests/data/regenerate.sh
# tiny-a: the smoke protocol over seeds 0-2; tiny-b: the same with 3 baseline epochs (a real change,
# for compare and the gate). Both score a fixed 1,000-image test subset (tests/data/tiny.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."
export FMBENCH_DATA_DIR="${FMBENCH_DATA_DIR:-../shared/datasets/fashion-mnist}"
rm -rf tests/data/studies/tiny-a tests/data/studies/tiny-b
fmbench --quiet run --profile smoke --config tests/data/tiny.toml --seeds 0 1 2 --name tiny-a \
    --out tests/data/studies/tiny-a
fmbench --quiet run --profile smoke --config tests/data/tiny.toml --seeds 0 1 2 --epochs 3 --name tiny-b \
    --out tests/data/studies/tiny-b
