#!/bin/bash
# run_tests.sh - run every cmocka test binary, then print one closing line "N passed, N failed".
# Usage: run_tests.sh build/tests/test_a build/tests/test_b ...   (TESTS=substring runs a subset)
pass=0; fail=0; failed_bins=()
for t in "$@"; do
    [ -n "$TESTS" ] && [[ "$t" != *"$TESTS"* ]] && continue
    out=$("$t" 2>&1); rc=$?
    echo "$out"
    p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    pass=$((pass + p)); fail=$((fail + f))
    if [ $rc -ne 0 ]; then
        failed_bins+=("$(basename "$t")")
        [ "$f" -eq 0 ] && fail=$((fail + 1))
    fi
done
echo
[ ${#failed_bins[@]} -gt 0 ] && echo "failing test programs: ${failed_bins[*]}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
