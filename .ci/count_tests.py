#!/usr/bin/env python3
"""Counts test results from one or more meson testlog.json files.

A cmocka executable counts its own test cases ("[  PASSED  ] N test(s)."
and "[  FAILED  ] N test(s)"); any other test (tutorial checks, scripts)
counts as one. A cmocka executable that crashed before its summary counts
one failure. Prints a line per log and the closing "N passed, N failed".
"""
import json
import re
import sys

total_p = total_f = 0
paths = []
for arg in sys.argv[1:]:
    # --extra NAME=ok|fail: a check run outside meson (e.g. the clang build)
    if arg.startswith("--extra="):
        name, _, res = arg[len("--extra="):].partition("=")
        ok = res == "ok"
        print(f"{name}: {int(ok)} passed, {int(not ok)} failed")
        total_p += ok
        total_f += not ok
    else:
        paths.append(arg)
for path in paths:
    p = f = 0
    failed_names = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            out = (t.get("stdout") or "") + (t.get("stderr") or "")  # cmocka prints its summary on stderr
            ok = t.get("result") == "OK"
            mp = re.findall(r"\[  PASSED  \] (\d+) test", out)
            mf = re.findall(r"\[  FAILED  \] (\d+) test", out)
            if mp or mf:
                tp = sum(map(int, mp))
                tf = sum(map(int, mf))
                if not ok and tf == 0:
                    tf = 1  # the executable failed outside its test cases
                p += tp
                f += tf
            elif "[==========]" in out and not ok:
                f += 1  # crashed mid-run
            else:
                p += ok
                f += not ok
            if not ok:
                failed_names.append(t.get("name"))
    print(f"{path}: {p} passed, {f} failed" + (f" ({', '.join(failed_names)})" if failed_names else ""))
    total_p += p
    total_f += f
print(f"{total_p} passed, {total_f} failed")
sys.exit(1 if total_f else 0)
