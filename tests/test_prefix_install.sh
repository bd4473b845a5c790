#!/bin/bash
# test_prefix_install.sh SOURCE_DIR — nabla installed under a non-system
# prefix, used as its README says: a fresh `meson setup --prefix=P` builds
# the library alone and installs it (Debian's multiarch libdir,
# lib/<triplet>); a program is built with nothing but
# PKG_CONFIG_PATH=<libdir>/pkgconfig and pkg-config, linked with an rpath to
# pkg-config's libdir, and runs without LD_LIBRARY_PATH. The generated .pc
# must point at the prefix (its libdir and includedir exist and hold the
# library and headers). Run by the default build only (a library built
# again under the sanitizers would only repeat it slowly).
set -u
src=${1:?usage: test_prefix_install.sh SOURCE_DIR}
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nabla-prefix.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

meson setup "$tmp/build" "$src" --prefix="$prefix" -Doptimization=1 -Ddebug=false >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; fail "meson setup --prefix failed"; }
meson compile -C "$tmp/build" nabla:shared_library nabla:static_library >"$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; fail "the library did not build"; }
meson install -C "$tmp/build" --no-rebuild >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install failed"; }

pc=$(find "$prefix" -name nabla.pc -print -quit)
[ -n "$pc" ] || fail "no nabla.pc under $prefix"
echo "nabla.pc: ${pc#"$prefix"/}"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir nabla) || fail "pkg-config can't read nabla.pc"
incdir=$(pkg-config --variable=includedir nabla)
echo "pkg-config: libdir $libdir, includedir $incdir"
case "$libdir" in "$prefix"/*) ;; *) fail "libdir $libdir is not under the prefix";; esac
ls "$libdir"/libnabla.so* >/dev/null 2>&1 || fail "no libnabla.so in $libdir"
[ -f "$incdir/nabla/nabla.h" ] || fail "no nabla/nabla.h in $incdir"
[ "$(dirname "$pc")" = "$libdir/pkgconfig" ] || fail "nabla.pc is not in $libdir/pkgconfig"

# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/prog" "$src/tests/user_op_external.c" \
    $(pkg-config --cflags --libs nabla) -Wl,-rpath,"$libdir" -lm || fail "a program does not build with pkg-config alone"
env -u LD_LIBRARY_PATH ldd "$tmp/prog" | grep libnabla
env -u LD_LIBRARY_PATH ldd "$tmp/prog" | grep libnabla | grep -q "$libdir" || fail "the rpath does not find the installed library"
out=$(env -u LD_LIBRARY_PATH "$tmp/prog") || fail "the program failed"
[ "$(printf '%s\n' "$out" | tail -n 1)" = PASS ] || fail "the program did not print PASS"
echo "installed under a prefix: OK"
