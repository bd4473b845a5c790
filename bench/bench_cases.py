"""bench/bench_cases.py — the best-of-N case loop of the PyTorch twins
bench_losses.py, bench_eltwise.py and bench_tfops.py (twin of bench_cases()
in bench_util.h). Their command line is `PROGRAM REPS [CASE]`: REPS
repetitions per case (default 15), only CASE if given."""
import sys
import time


def first_elem(out):
    """out itself when a scalar, else the sum of its first element
    (flattened, sliced): backward does the op's full work."""
    return out if out.numel() == 1 else out.view(-1)[0:1].sum()


def time_case(op, loss, reps, backward):
    """The fastest of reps repetitions (after one warm-up) of op(), forward
    only or forward plus backward from loss(op()), in seconds."""
    best = 1e30
    for rep in range(-1, reps):  # -1: warm-up
        t0 = time.perf_counter()
        out = op()
        if backward:
            loss(out).backward()
        dt = time.perf_counter() - t0
        if rep >= 0:
            best = min(best, dt)
    return best


def run_cases(cases, untotalled=()):
    """Times each (name, op) or (name, op, loss) of cases (loss defaults to
    first_elem), forward and forward+backward, and prints
    "case: NAME fwd_s F fwdbwd_s FB  (bwd/fwd R)" per case. Returns the sum
    of FB over the cases timed whose names are not in untotalled."""
    reps = int(sys.argv[1]) if len(sys.argv) > 1 and int(sys.argv[1]) > 0 else 15
    only = sys.argv[2] if len(sys.argv) > 2 else None
    total = 0.0
    for name, op, *rest in cases:
        if only and name != only:
            continue
        loss = rest[0] if rest else first_elem
        f = time_case(op, loss, reps, False)
        fb = time_case(op, loss, reps, True)
        print(f"case: {name} fwd_s {f:.6g} fwdbwd_s {fb:.6g}  (bwd/fwd {(fb - f) / f:.2f})")
        if name not in untotalled:
            total += fb
    return total
