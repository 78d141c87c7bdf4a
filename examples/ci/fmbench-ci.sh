#!/usr/bin/env bash
# fmbench in any CI: run a study on this commit, gate it against the recent history of the main branch
# on this machine and software stack (a feature branch is judged against what it would merge into),
# then (on the main branch only, and only if the gate passed) add it to the history. Exit status: the
# gate's (0 pass, 1 regression, 2 bad input).
#
# Settings (environment variables, all optional):
#   FMBENCH_HISTORY     the history store: a folder (cached or committed by the CI) or an fsspec URL
#                       such as s3://bucket/fmbench-history (default .fmbench/history)
#   FMBENCH_MAIN_BRANCH the branch whose studies become history (default main)
#   FMBENCH_RUN_ARGS    arguments of `fmbench run` (default: a 2-seed smoke study)
#   FMBENCH_OUT         where the study and its report go (default fmbench-out)
#   FMBENCH_BRANCH      the branch this commit is on (default: git's; a CI's detached checkout says HEAD)
#
# The first study of a machine and software stack has no history to be gated against: it passes
# with --bootstrap, and becomes the start of that history.
set -euo pipefail

history="${FMBENCH_HISTORY:-.fmbench/history}"
main_branch="${FMBENCH_MAIN_BRANCH:-main}"
out="${FMBENCH_OUT:-fmbench-out}"
read -r -a run_args <<< "${FMBENCH_RUN_ARGS:---profile smoke --n-seeds 2}"
branch="${FMBENCH_BRANCH:-$(git rev-parse --abbrev-ref HEAD)}"

fmbench --quiet run "${run_args[@]}" --out "$out/study"
fmbench --quiet report "$out/study" --out "$out/report"

status=0
fmbench check "$out/study" --history "$history" --branch "$main_branch" --bootstrap \
    --markdown "$out/gate.md" --junit "$out/gate.xml" || status=$?

if [ "$status" -eq 0 ] && [ "$branch" = "$main_branch" ]; then
    fmbench history add "$out/study" --history "$history" --branch "$branch"
fi
exit "$status"
