#!/bin/sh
# Runs the unit test binaries given as arguments, then (unless --unit-only) the integration tests
# with node's test runner, and prints one closing line "N passed, N failed" over all of them.
# RUNNER (e.g. valgrind) wraps each unit binary. TOOLHOSTD names the daemon binary under test.
set -u
cd "$(dirname "$0")/.."
mode=all
case "${1:-}" in
--unit-only) mode=unit; shift ;;
--integration-only) mode=integration; shift ;;
esac
pass=0 fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

if [ "$mode" != integration ]; then
	for t in "$@"; do
		${RUNNER:-} "$t" >"$out" 2>&1
		rc=$?
		cat "$out"
		line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
		p=$(echo "$line" | sed -nE 's/^(.*[^0-9])?([0-9]+) passed.*/\2/p')
		f=$(echo "$line" | sed -nE 's/.*passed, ([0-9]+) failed.*/\1/p')
		[ -n "$p" ] || p=0
		[ -n "$f" ] || f=0
		# A binary that crashed or exited non-zero without reporting a failure still fails.
		if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "$t: exited with status $rc"
			f=1
		fi
		pass=$((pass + p)) fail=$((fail + f))
	done
fi

if [ "$mode" != unit ]; then
	files=$(ls tests/integration/*.test.mjs 2>/dev/null)
	if [ -n "$files" ]; then
		TOOLHOSTD=$(realpath "${TOOLHOSTD:-build/release/toolhostd}") \
			node --test --test-concurrency=2 --test-reporter=spec $files >"$out" 2>&1
		rc=$?
		cat "$out"
		p=$(sed -n 's/^ℹ pass \([0-9][0-9]*\)$/\1/p' "$out" | tail -n 1)
		f=$(sed -n 's/^ℹ fail \([0-9][0-9]*\)$/\1/p' "$out" | tail -n 1)
		[ -n "$p" ] || p=0
		[ -n "$f" ] || f=0
		if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "integration: node --test exited with status $rc"
			f=1
		fi
		pass=$((pass + p)) fail=$((fail + f))
	fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
