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

# The number on node's summary line "ℹ NAME N" (the last one), or nothing.
summary() {
	sed -n "s/^ℹ $1 \([0-9][0-9]*\)\$/\1/p" "$out" | tail -n 1
}

if [ "$mode" != integration ]; then
	for t in "$@"; do
		${RUNNER:-} "$t" >"$out" 2>&1
		rc=$?
		cat "$out"
		line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
		p=$(echo "$line" | sed -nE 's/^(.*[^0-9])?([0-9]+) passed.*/\2/p')
		f=$(echo "$line" | sed -nE 's/.*passed, ([0-9]+) failed.*/\1/p')
		# No closing line is a failure, not zero tests: the binary died early or its format changed.
		if [ -z "$p" ] || [ -z "$f" ]; then
			echo "$t: no \"N passed, N failed\" line in its output"
			p=0 f=1
		fi
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
		# node's spec reporter closes with "ℹ tests N", "ℹ pass N", "ℹ fail N", "ℹ cancelled N", ...
		# Every one of these must be there and add up: a reporter that changed its summary (or a
		# run that never got to it) fails instead of counting 0.
		n=$(summary tests) p=$(summary pass) f=$(summary fail) c=$(summary cancelled)
		s=$(summary skipped) d=$(summary todo)
		if [ -z "$n" ] || [ -z "$p" ] || [ -z "$f" ] || [ -z "$c" ] || [ -z "$s" ] || [ -z "$d" ]; then
			echo "integration: node's summary (ℹ tests/pass/fail/cancelled/skipped/todo N) not found in its output"
			p=${p:-0} f=$((${f:-0} + 1))
		elif [ $((p + f + c + s + d)) -ne "$n" ]; then
			echo "integration: node's summary does not add up: $n tests, $p pass, $f fail, $c cancelled, $s skipped, $d todo"
			f=$((f + 1))
		else
			# A cancelled test (its file timed out or crashed) did not pass.
			f=$((f + c))
		fi
		if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "integration: node --test exited with status $rc"
			f=1
		fi
		pass=$((pass + p)) fail=$((fail + f))
	fi
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
