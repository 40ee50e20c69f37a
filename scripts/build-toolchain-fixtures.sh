#!/usr/bin/env bash
# Rebuilds test/fixtures/toolchains/ (each source beside its .wasm) with the toolchains users bring:
# C without libc (plain numeric exports), C++ with clang++ and wasi libc++, C with Emscripten as a
# standalone module, and Rust for WASI and for plain numeric exports. The tests use the committed
# .wasm files; run this only after changing a source. (The C WASI programs are test/fixtures/wasi/,
# built by build-wasi-fixtures.sh.)
#
# Installs nothing. On Debian 12:
#   apt-get install -y clang-14 lld-14 wasi-libc libc++-14-dev-wasm32 libclang-rt-14-dev-wasm32 emscripten \
#     rustc libstd-rust-dev-wasm32
# Debian's rustc (1.63) is /usr/bin/rustc; a rustup one earlier in PATH lacks the wasm standard
# libraries unless `rustup target add wasm32-wasip1 wasm32-unknown-unknown`: set RUSTC to choose.
# Debian's wasm32 libc++ is built without exceptions, so C++ needs -fno-exceptions (else the link
# fails on __cxa_allocate_exception).
set -euo pipefail

cd "$(dirname "$0")/../test/fixtures/toolchains"
CC=${CC:-clang-14}
CXX=${CXX:-clang++-14}
EMCC=${EMCC:-emcc}
RUSTC=${RUSTC:-rustc}
for tool in "$CC" "$CXX" "$EMCC" "$RUSTC"; do
  command -v "$tool" >/dev/null || { echo "$tool not found; see the package list at the top of $0" >&2; exit 1; }
done
# Rust renamed wasm32-wasi to wasm32-wasip1 (1.78) and dropped the old name (1.84); Debian 12's has only the old.
rust_wasi=wasm32-wasip1
"$RUSTC" --print target-list | grep -qx "$rust_wasi" || rust_wasi=wasm32-wasi
for target in "$rust_wasi" wasm32-unknown-unknown; do
  [[ -d "$("$RUSTC" --print sysroot)/lib/rustlib/$target" ]] || {
    echo "$RUSTC has no standard library for $target: see the note at the top of $0" >&2; exit 1; }
done

built() { echo "built test/fixtures/toolchains/$1 ($(wc -c <"$1") bytes)"; }

# C without libc: each function named in --export, no imports, no _start: a module of functions.
"$CC" --target=wasm32-wasi -O2 -nostdlib -Wl,--no-entry -Wl,--strip-all \
  -Wl,--export=add -Wl,--export=gcd -Wl,--export=average c-lib.c -o c-lib.wasm
built c-lib.wasm
"$CXX" --target=wasm32-wasi -std=c++17 -O2 -fno-exceptions -Wl,--strip-all cpp-hello.cpp -o cpp-hello.wasm
built cpp-hello.wasm
# A reactor: extern "C" functions named by export_name, _initialize for the constructors.
"$CXX" --target=wasm32-wasi -std=c++17 -O2 -fno-exceptions -mexec-model=reactor -Wl,--strip-all cpp-lib.cpp -o cpp-lib.wasm
built cpp-lib.wasm
# A command: only WASI imports (args, fd_write, proc_exit…).
"$EMCC" -O2 -sSTANDALONE_WASM em-hello.c -o em-hello.wasm
built em-hello.wasm
# A reactor with numeric exports and no imports at all: _initialize runs its constructors.
"$EMCC" -O2 -sSTANDALONE_WASM --no-entry em-reactor.c -o em-reactor.wasm
built em-reactor.wasm
# Rust's std on WASI: a command (-C strip=symbols keeps it ~100 KiB instead of ~6 MiB of debug info).
"$RUSTC" --target "$rust_wasi" -O -C strip=symbols rust-hello.rs -o rust-hello.wasm
built rust-hello.wasm
# #[no_mangle] extern "C" functions with no imports at all: a module of functions.
"$RUSTC" --target wasm32-unknown-unknown --crate-type cdylib -O -C strip=symbols rust-lib.rs -o rust-lib.wasm
built rust-lib.wasm
