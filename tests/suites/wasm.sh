#!/bin/sh
# Checks on cgi.wasm beyond the contract table (which also runs it under
# jco with a 56 KB Cookie). It must never touch the heap: Debian's
# wasi-libc (2022) can corrupt the preview1 adapter's state once the heap
# grows past the initial memory, and Spin runs every module through that
# adapter. And it must name clang >= 15.0.7 as its producer, or Spin 3
# refuses it.
set -u
cd "$(dirname "$0")/../.." || exit 1

check() {
	if [ "$2" = 0 ]; then echo "ok - wasm: $1"; else echo "FAIL - wasm: $1"; fi
}

# tests/.build/cgi-names.wasm is cgi.wasm linked the same way but with its names.
syms=$(llvm-nm-19 tests/.build/cgi-names.wasm 2>&1)
echo "$syms" | grep -q ' main$\| __original_main$' ; check "the names build lists symbols" $?
heap=$(echo "$syms" | grep -E ' (malloc|calloc|realloc|free|sbrk|aligned_alloc|posix_memalign|__wasilibc_initialize_environ|__wasilibc_ensure_environ)$')
[ -z "$heap" ]; check "no allocator, sbrk or libc environ in the module${heap:+: $heap}" $?

imports=$(node -e '
const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
console.log(WebAssembly.Module.imports(m).map((i) => i.module + "." + i.name).sort().join(" "));
' cgi.wasm)
want="wasi_snapshot_preview1.clock_time_get wasi_snapshot_preview1.environ_get wasi_snapshot_preview1.environ_sizes_get wasi_snapshot_preview1.fd_write wasi_snapshot_preview1.proc_exit"
[ "$imports" = "$want" ]; check "imports only environ, clock, fd_write, proc_exit: no arguments (got: $imports)" $?

exports=$(node -e '
const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
console.log(WebAssembly.Module.exports(m).map((e) => e.name).sort().join(" "));
' cgi.wasm)
[ "$exports" = "_start memory" ]; check "exports _start and memory (got: $exports)" $?

# Spin 3 refuses a module whose producers section names clang before
# 15.0.7. Debian's wasi-libc was built by clang 14 and wasm-ld keeps that
# entry (the names build shows it), so the shipped module must carry none.
prod() {
	node -e '
const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
const s = WebAssembly.Module.customSections(m, "producers");
console.log(s.length ? Buffer.from(s[0]).toString("latin1").replace(/[^ -~]+/g, " ") : "none");
' "$1"
}
echo "$(prod tests/.build/cgi-names.wasm)" | grep -q 'clang 14\.'
check "an unstripped link names wasi-libc's clang 14 ($(prod tests/.build/cgi-names.wasm))" $?
[ "$(prod cgi.wasm)" = none ]
check "cgi.wasm carries no producers section ($(prod cgi.wasm))" $?
