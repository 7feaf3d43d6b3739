#!/usr/bin/env bash
# The action's deploy step: `shipsafe deploy` with the inputs as arguments (never through a
# shell: each --set is one argument), JSON lines kept in $RUNNER_TEMP, the outcome written to
# $GITHUB_OUTPUT, the summary to $GITHUB_STEP_SUMMARY, and the step's exit code = shipsafe's.
set -uo pipefail

venv="${SHIPSAFE_VENV:-${RUNNER_TEMP:-/tmp}/shipsafe-venv}"
shipsafe="$venv/bin/shipsafe"
[ -n "${INPUT_PLAN:-}" ] || { echo "shipsafe: the action needs a plan input" >&2; exit 2; }

args=(deploy "$INPUT_PLAN" --output json --timeout "${INPUT_TIMEOUT:-30m}")
[ -n "${INPUT_VERSION:-}" ] && args+=(--set "release.version=$INPUT_VERSION")
while IFS= read -r line; do
    line="${line#"${line%%[![:space:]]*}"}"       # trim leading blanks
    line="${line%"${line##*[![:space:]]}"}"       # and trailing ones
    [ -n "$line" ] && args+=(--set "$line")
done <<< "${INPUT_SET:-}"
[ -n "${INPUT_STATE:-}" ] && args+=(--state "$INPUT_STATE")
[ -n "${INPUT_JUNIT:-}" ] && args+=(--junit "$INPUT_JUNIT")

log="${RUNNER_TEMP:-/tmp}/shipsafe-deploy.jsonl"
"$shipsafe" "${args[@]}" | tee "$log"
code=${PIPESTATUS[0]}

# the last line is always the result (refusals included): {"kind": "result", ...}
result="$(tail -n 1 "$log")"
field() { "$venv/bin/python" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2]) or "")' "$result" "$1" 2>/dev/null; }
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
        echo "rollout-id=$(field rollout_id)"
        echo "phase=$(field phase)"
        echo "exit-code=$code"
    } >> "$GITHUB_OUTPUT"
fi
case "$code" in
    0) ;;
    3) echo "::error title=shipsafe rolled back::$(field message)" ;;
    5) echo "::error title=shipsafe ROLLBACK FAILED - page a human::$(field message)" ;;
    *) echo "::error title=shipsafe exit $code::$(field message)" ;;
esac
exit "$code"
