#!/bin/bash
# test_installed.sh BUILD_DIR SOURCE_DIR
#
# Installs the build into a temporary DESTDIR, compiles tests/user_op_external.c
# against the installed headers and library found through pkg-config (as a
# user's program would be), runs it against the installed shared library and
# expects it to print PASS. Exit 77 (skipped) when a tool is missing.
set -u
build=${1:?usage: test_installed.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: test_installed.sh BUILD_DIR SOURCE_DIR}

for tool in meson pkg-config; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool not found"; exit 77; }
done
CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "SKIP: no C compiler ($CC)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nabla-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

fail() { echo "FAIL: $*"; exit 1; }

if ! meson install -C "$build" --destdir "$root" --no-rebuild >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log"
    fail "meson install failed"
fi

pc=$(find "$root" -name nabla.pc -print -quit)
[ -n "$pc" ] || fail "nabla.pc was not installed"
pcdir=$(dirname "$pc")
find "$root" -path '*/include/nabla/nabla.h' -print -quit | grep -q . || fail "nabla/nabla.h was not installed"

flags=$(PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs nabla) ||
    fail "pkg-config can't resolve nabla"
echo "pkg-config: $flags"
case "$flags" in *"$root"*) ;; *) fail "pkg-config flags don't point into the install ($root)";; esac

# A library built with sanitizers needs their runtime in the program too.
san=$(meson introspect "$build" --buildoptions 2>/dev/null |
      python3 -c 'import json,sys; print(next((o["value"] for o in json.load(sys.stdin) if o["name"]=="b_sanitize"), "none"))' 2>/dev/null)
sanflags=
case "$san" in ""|none) ;; *) sanflags="-fsanitize=$san";; esac

# A user's program: only the installed headers and library, strict warnings.
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror $sanflags -o "$tmp/user_op" "$src/tests/user_op_external.c" $flags -lm ||
    fail "user_op_external.c does not compile against the installed headers"

lib=$(find "$root" -name 'libnabla.so*' -print -quit)
[ -n "$lib" ] || fail "libnabla.so was not installed"
libdir=$(dirname "$lib")
LD_LIBRARY_PATH="$libdir" ldd "$tmp/user_op" | grep libnabla
LD_LIBRARY_PATH="$libdir" ldd "$tmp/user_op" | grep libnabla | grep -q "$root" ||
    fail "the program does not load the installed libnabla"

out=$(LD_LIBRARY_PATH="$libdir" "$tmp/user_op")
status=$?
echo "$out"
[ $status -eq 0 ] || fail "user_op_external exited with $status"
[ "$(printf '%s\n' "$out" | tail -n 1)" = PASS ] || fail "user_op_external did not print PASS"
echo "installed library: OK"
