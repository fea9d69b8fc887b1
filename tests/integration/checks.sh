# What the shell tests share (sourced): counting results, and checking a
# command's exit code and output. The output of the last command is kept in
# "$work/out" and shown under a failure.
passed=0 failed=0

ok() { passed=$((passed + 1)); echo "ok: $1"; }
bad() { failed=$((failed + 1)); echo "FAILED: $1"; [ -f "$work/out" ] && sed 's/^/    /' "$work/out" | head -30; }

# expect NAME EXIT-CODE PATTERN -- command...: the exit code and a line of output
expect() {
  local name=$1 code=$2 pattern=$3; shift 4
  "$@" >"$work/out" 2>&1; local rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$name (exit $rc, wanted $code)"; return; fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$work/out"; then bad "$name (no line matching '$pattern')"; return; fi
  ok "$name"
}

# check NAME PATTERN command...: success, and a line matching PATTERN (if any)
check() {
  local name=$1 pattern=$2; shift 2
  "$@" >"$work/out" 2>&1 && { [ -z "$pattern" ] || grep -qE -- "$pattern" "$work/out"; } && ok "$name" || bad "$name"
}
