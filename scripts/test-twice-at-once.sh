#!/usr/bin/env bash
# Runs the full test command (`npm test`) in two fresh clones of HEAD at the same time, as when two
# people test on one machine, and fails if either run fails. Each run picks its own random ports,
# starts its own nats-server/redis-server where it stops or freezes them, and namespaces its Redis
# keys and NATS subjects on the machine's shared NATS (4222) and Redis (6379), so the two must not
# disturb each other beyond sharing the CPU. About 10 minutes on 2 cores; not part of CI.
#
#   scripts/test-twice-at-once.sh              # npm test, twice at once
#   scripts/test-twice-at-once.sh npm test     # the same, spelled out (any command works)
#
# Only committed work is tested (HEAD). The clones are removed when both pass; the logs stay.
set -uo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
sha="$(git -C "$repo" rev-parse HEAD)"
work="$(mktemp -d "${TMPDIR:-/tmp}/test-twice.XXXXXX")"
if [ $# -gt 0 ]; then cmd=("$@"); else cmd=(npm test); fi
# As CI: the distributed suites must run, not skip.
export E2E_REQUIRE_DISTRIBUTED=1 TURBO_TELEMETRY_DISABLED=1

if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "note: uncommitted changes are not tested, HEAD ${sha:0:10} is" >&2
fi
echo "two clones of ${sha:0:10} in $work; command: ${cmd[*]}"
for run in a b; do
  git clone --quiet --no-checkout "$repo" "$work/$run" && git -C "$work/$run" checkout --quiet --detach "$sha" || exit 1
  # One install at a time (they share pnpm's store), so the runs start together and only test.
  (cd "$work/$run" && pnpm install --frozen-lockfile --prefer-offline --reporter=silent) || exit 1
done

pids=()
started=$(date +%s)
for run in a b; do
  (cd "$work/$run" && "${cmd[@]}"; rc=$?; date +%s >"$work/$run.end"; exit "$rc") >"$work/$run.log" 2>&1 &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' INT TERM

failed=0
for i in 0 1; do
  run=$([ "$i" = 0 ] && echo a || echo b)
  if wait "${pids[$i]}"; then rc=0; else rc=$?; fi
  took=$(($(cat "$work/$run.end" 2>/dev/null || date +%s) - started))
  if [ "$rc" = 0 ]; then
    echo "run $run: passed after ${took} s"
  else
    echo "run $run: FAILED (exit $rc) after ${took} s; log: $work/$run.log"
    # The failures, without the colours.
    sed 's/\x1b\[[0-9;]*m//g' "$work/$run.log" | grep -E '(FAIL|×|Error:|failed)' | head -40
    failed=1
  fi
done

if [ "$failed" = 0 ]; then
  rm -rf "$work/a" "$work/b"
  echo "both runs passed; logs: $work/a.log $work/b.log"
fi
exit "$failed"
