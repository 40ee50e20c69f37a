#!/usr/bin/env bash
# Rebuilds test/fixtures/toolchains/ (each source beside its .wasm) with the toolchains users bring:
# C++ with clang++ and wasi libc++, and C with Emscripten as a standalone module. The tests use the
# committed .wasm files; run this only after changing a source.
#
# Installs nothing. On Debian 12:
#   apt-get install -y clang-14 lld-14 wasi-libc libc++-14-dev-wasm32 libclang-rt-14-dev-wasm32 emscripten
# Debian's wasm32 libc++ is built without exceptions, so C++ needs -fno-exceptions (else the link
# fails on __cxa_allocate_exception).
set -euo pipefail

cd "$(dirname "$0")/../test/fixtures/toolchains"
CXX=${CXX:-clang++-14}
EMCC=${EMCC:-emcc}
for tool in "$CXX" "$EMCC"; do
  command -v "$tool" >/dev/null || { echo "$tool not found; see the package list at the top of $0" >&2; exit 1; }
done

built() { echo "built test/fixtures/toolchains/$1 ($(wc -c <"$1") bytes)"; }

"$CXX" --target=wasm32-wasi -std=c++17 -O2 -fno-exceptions -Wl,--strip-all cpp-hello.cpp -o cpp-hello.wasm
built cpp-hello.wasm
# A command: only WASI imports (args, fd_write, proc_exit…).
"$EMCC" -O2 -sSTANDALONE_WASM em-hello.c -o em-hello.wasm
built em-hello.wasm
# A reactor with numeric exports and no imports at all: _initialize runs its constructors.
"$EMCC" -O2 -sSTANDALONE_WASM --no-entry em-reactor.c -o em-reactor.wasm
built em-reactor.wasm
