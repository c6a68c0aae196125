#!/usr/bin/env bash
# Tests scripts/fuzz.sh's verdicts with a fake `go` (no fuzzing): a clean run
# passes; a bare "context deadline exceeded" with no input written (Go 1.26's
# coordinator race, golang/go#75804) passes after a clean corpus replay; a
# written failing input fails; a deadline race whose replay fails, fails.
set -euo pipefail
cd "$(dirname "$0")/.."
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
cat >"$fake/go" <<'GO'
#!/usr/bin/env bash
case "$*" in
*-fuzz*)
	case "$MODE" in
	flake | flake-replay-fails) printf -- '--- FAIL: FuzzX (20.1s)\n    context deadline exceeded\nFAIL\n'; exit 1 ;;
	real) printf -- '--- FAIL: FuzzX (1.0s)\n    x_test.go:10: bad\n    Failing input written to testdata/fuzz/FuzzX/1\n'; exit 1 ;;
	esac
	echo ok ;;
*) [ "$MODE" = flake-replay-fails ] && { echo "--- FAIL: FuzzX/seed#0"; exit 1; }; echo "ok (replay)" ;;
esac
GO
chmod +x "$fake/go"
check() { # mode, want rc, want text
	local out rc=0
	out=$(MODE=$1 PATH="$fake:$PATH" bash scripts/fuzz.sh 1s 2>&1) || rc=$?
	if [ "$rc" -ne "$2" ] || ! grep -q -- "$3" <<<"$out"; then
		echo "test-fuzz: mode $1: rc $rc, want $2 and '$3' in:"; echo "$out"; exit 1
	fi
}
check ok 0 'fuzz: 7 targets'
check flake 0 'deadline race(s) replayed clean'
check real 1 'Failing input written'
check flake-replay-fails 1 'FuzzX/seed#0'
echo "test-fuzz: ok"
