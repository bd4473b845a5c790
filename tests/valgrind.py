#!/usr/bin/env python3
"""tests/valgrind.py BUILDDIR [NAME...] — every test of a (non-sanitizer)
build under valgrind memcheck: the cmocka executables directly,
the tutorials through tests/check_output.sh with NB_WRAP, so their output is
still checked. A program passes when it passes as usual, memcheck reports no
error (invalid read/write, uninitialised value, ...) and no block is
definitely lost. Prints a line per program and "N passed, N failed".

  NB_VALGRIND_TIMEOUT  seconds per program (default 3600)
  NB_VALGRIND_SKIP     comma-separated test names not to run

Threads: OpenMP runs with NB_NUM_THREADS=1 (memcheck serializes threads
anyway). valgrind masks AVX-512 in CPUID, so the run-time dispatch picks the
AVX2 kernels: the AVX-512 ones are covered by the ASan/UBSan build."""
import json
import os
import re
import subprocess
import sys
import time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
only = set(sys.argv[2:])
skip = set(filter(None, os.environ.get("NB_VALGRIND_SKIP", "").split(",")))
timeout = int(os.environ.get("NB_VALGRIND_TIMEOUT", "3600"))
tests = json.loads(subprocess.check_output(["meson", "introspect", "--tests", build]))
if only:  # in the order given
    order = {n: i for i, n in enumerate(sys.argv[2:])}
    tests = sorted((t for t in tests if t["name"] in order), key=lambda t: order[t["name"]])
vg = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full", "--show-leak-kinds=definite",
      "--errors-for-leak-kinds=definite", "--track-origins=no", "--num-callers=30"]
passed = failed = 0
for t in tests:
    name, cmd = t["name"], t["cmd"]
    if (only and name not in only) or name in skip or name in ("installed_user_op",):
        continue
    env = dict(os.environ, **(t.get("env") or {}))
    env.update(NB_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    if len(cmd) > 1 and cmd[1].endswith("check_output.sh"):
        env["NB_WRAP"] = " ".join(vg)
        run = cmd
    else:
        run = vg + cmd
    t0 = time.time()
    try:
        p = subprocess.run(run, cwd=t.get("workdir") or build, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, text=True, errors="replace")
        rc, out = p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        rc, out = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    dt = time.time() - t0
    lost = re.findall(r"definitely lost: ([\d,]+) bytes", out)
    errs = re.findall(r"==\d+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|.*definitely lost)", out)
    ok = rc in (0, 77) and not errs
    status = "ok" if ok else f"FAIL (rc {rc})"
    if rc == 77:
        status = "skipped (missing data)"
    print(f"{name:40s} {status:24s} {dt:7.1f} s", flush=True)
    if not ok:
        print("\n".join(out.splitlines()[-60:]))
        failed += 1
    elif rc == 0:
        passed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
