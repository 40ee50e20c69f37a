#!/usr/bin/env bash
# Rebuilds the AssemblyScript test modules in test/fixtures/assemblyscript/ (each <name>.ts beside its
# <name>.wasm) with the assemblyscript devDependency, exactly as a user would: `asc <name>.ts -O3`.
# The tests use the committed .wasm files; run this only after changing a .ts file.
set -euo pipefail

cd "$(dirname "$0")/.."
for src in test/fixtures/assemblyscript/*.ts; do
  out=${src%.ts}.wasm
  npx --no-install asc "$src" -O3 -o "$out"
  echo "built $out ($(wc -c <"$out") bytes)"
done
