#!/usr/bin/env bash
# check_output.sh EXPECT PROGRAM [ARGS...]
# Runs PROGRAM and checks that every non-empty line of EXPECT occurs, in order,
# as a substring of one of its output lines. Prints the first line not found.
# NB_WRAP (optional) prefixes PROGRAM: tests/valgrind.py runs it under memcheck.
set -u
expect=$1; shift
out=$(${NB_WRAP:-} "$@" 2>&1 </dev/null)
rc=$?
if [ $rc -eq 77 ]; then
  printf '%s\n' "$out"
  echo "SKIP: $* exited with 77 (missing data)"
  exit 77
fi
if [ $rc -ne 0 ]; then
  printf '%s\n' "$out"
  echo "FAIL: $* exited with $rc"
  exit 1
fi
n=0
rest=$out
while IFS= read -r want || [ -n "$want" ]; do
  [ -z "$want" ] && continue
  n=$((n + 1))
  # find the first output line at or after the current position containing $want
  found=0
  remaining=""
  while IFS= read -r line; do
    if [ $found -eq 0 ]; then
      case "$line" in *"$want"*) found=1 ;; esac
    else
      remaining+="$line"$'\n'
    fi
  done <<< "$rest"
  if [ $found -eq 0 ]; then
    printf '%s\n' "$out"
    echo "FAIL: expected line $n not found (in order): $want"
    exit 1
  fi
  rest=$remaining
done < "$expect"
echo "PASS: $n expected lines found in order"
