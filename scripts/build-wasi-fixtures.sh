#!/usr/bin/env bash
# Rebuilds the WASI test programs in test/fixtures/wasi/ (each <name>.c beside its <name>.wasm).
# The tests use the committed .wasm files; run this only after changing a .c file.
#
# Installs nothing. On Debian 12 the toolchain is:
#   apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32
# (libclang-rt-14-dev-wasm32 holds compiler-rt's wasm32 builtins, which the linker asks for.)
# Debian puts wasi-libc at /usr/include/wasm32-wasi and /usr/lib/wasm32-wasi, where clang-14 finds
# it with no --sysroot; with an upstream wasi-sdk style sysroot set WASI_SYSROOT=/path/to/wasi-sysroot.
set -euo pipefail

cd "$(dirname "$0")/../test/fixtures/wasi"
CC=${CC:-clang-14}
command -v "$CC" >/dev/null || { echo "$CC not found; see the package list at the top of $0" >&2; exit 1; }

sysroot=()
if [[ -n "${WASI_SYSROOT:-}" ]]; then sysroot=(--sysroot="$WASI_SYSROOT"); fi

# --strip-all drops the name and producers sections: the fixtures stay a few KiB to tens of KiB.
flags=(--target=wasm32-wasi "${sysroot[@]}" -O2 -Wl,--strip-all)

for src in *.c; do
  name=${src%.c}
  extra=()
  # lib.c is a reactor: no main, exports called after _initialize.
  if [[ $name == lib ]]; then extra=(-mexec-model=reactor); fi
  "$CC" "${flags[@]}" "${extra[@]}" "$src" -o "$name.wasm"
  echo "built test/fixtures/wasi/$name.wasm ($(wc -c <"$name.wasm") bytes)"
done
