#!/usr/bin/env python3
"""tests/test_graph_html.py TUTORIAL_01 TUTORIAL_03 — the backprop stepper
(nb_graph_html) in a real browser: headless Chromium (Debian's chromium,
installed by .ci/deps.sh) opens the page tutorial 01 writes, steps it to the
end (#end; #step=N selects a step the way the buttons and arrow keys do) and
the page must show df/dx = -4, df/dy = -4, df/dz = 3, with nothing before the
first step; its screenshot must not be blank. Tutorial 03's XOR network: the
page stepped to its end shows the dE/dw1 the program computed."""
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

CHROMIUM = ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,900"]


def dom(page, frag):
    out = subprocess.run(CHROMIUM + ["--dump-dom", "file://%s%s" % (page, frag)], capture_output=True, text=True,
                         timeout=120)
    return out.stdout


def cell(html, name):
    m = re.search(r'id="grad-%s">([^<]*)<' % re.escape(name), html)
    return m.group(1) if m else None


def numbers(s):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", s or "")]


def png_spread(path):
    """distinct colours and the share of the most common one, from the PNG's own bytes"""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG layout"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    counts = {}
    for r in rows[::4]:
        for i in range(0, stride, bpp * 4):
            counts[r[i:i + 3]] = counts.get(r[i:i + 3], 0) + 1
    return len(counts), max(counts.values()) / sum(counts.values())


def main():
    t01, t03 = sys.argv[1], sys.argv[2]
    ok = True
    with tempfile.TemporaryDirectory() as d:
        page = os.path.join(d, "graph.html")
        subprocess.run([t01, "--html", page], check=True, capture_output=True, timeout=60)
        end, start = dom(page, "#end"), dom(page, "#step=0")
        got = {n: cell(end, n) for n in "xyz"}
        print("tutorial 01 page at its end:", got, "| status:", re.search(r'id="status">([^<]*)', end).group(1))
        ok &= got == {"x": "[-4]", "y": "[-4]", "z": "[3]"}
        ok &= "step 2 of 2 (done)" in end
        ok &= cell(start, "x") == "\u2014" and "step 0 of 2" in start  # nothing accumulated before step 1
        shot = os.path.join(d, "graph.png")
        subprocess.run(CHROMIUM + ["--screenshot=" + shot, "file://%s#step=1" % page], capture_output=True,
                       timeout=120)
        colours, top = png_spread(shot)
        print("screenshot: %d colours, the most common covers %.0f%%" % (colours, 100 * top))
        ok &= colours >= 8 and top < 0.99  # a graph, buttons and a table, not a blank page

        page3 = os.path.join(d, "xor.html")
        out = subprocess.run([t03, "--html", page3], check=True, capture_output=True, text=True, timeout=120).stdout
        want = numbers(out.split("dE/dw1 =")[1].splitlines()[0])
        end3 = dom(page3, "#end")
        shown = numbers(cell(end3, "w1"))
        m = re.search(r"step (\d+) of (\d+) \(done\)", end3)
        print("tutorial 03 page: %s steps; dE/dw1 shown %s, computed %s" % (m and m.group(2), shown, want))
        ok &= bool(m) and len(shown) == 4 and all(abs(a - b) <= 1e-5 * max(abs(b), 1e-3) for a, b in zip(shown, want))
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
