#!/bin/sh
# Runs every test suite of `make check` (the Makefile builds what they need
# first), or with "unit" only the C tables (`make unit`), and closes with
# one "N passed, N failed" line. A suite is a
# command that prints "ok - ..." and "FAIL - ..." lines; one that exits
# non-zero without a FAIL line counts as one failure. Nothing is skipped:
# a missing tool is a failure that says what to install (make deps).
set -u
cd "$(dirname "$0")/.." || exit 1
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
NODE=${NODE:-node}
pass=0
fail=0

suite() {
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep -c '^FAIL')
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL - $*: exit status $rc"
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
}

# One ok/FAIL line for a command that succeeds or not.
one() {
	name=$1
	shift
	if out=$("$@" 2>&1); then
		echo "ok - $name"
	else
		printf '%s\n' "$out" | tail -n 20
		echo "FAIL - $name"
	fi
}

# need TOOL [PACKAGE]: a failure unless TOOL is on PATH (or in /usr/sbin,
# where a user's PATH may not reach)
need() {
	command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] && return 0
	echo "FAIL - $1 is not installed: run make deps${2:+ (package $2)}"
	fail=$((fail + 1))
	return 1
}

# the C tables: the pure parts, alone in seconds (make unit)
suite tests/unit/t_render
suite tests/unit/t_cgi
suite tests/unit/t_serve
if [ "${1:-}" = unit ]; then
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
fi

need "$NODE"
need llvm-nm-19
need mandoc

suite sh tests/suites/build.sh
# clang's static analyzer finds nothing in the application and the
# FastCGI responder
analyze() {
	out=$(clang-19 --analyze -D_POSIX_C_SOURCE=200809L "$@" -o /dev/null 2>&1)
	[ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
}
suite one "clang-19 --analyze cgi.c: no findings" analyze cgi.c
suite one "clang-19 --analyze cgi.c -DFASTCGI: no findings" analyze -DFASTCGI cgi.c
suite one "clang-19 --analyze fcgi.c: no findings" analyze -DFASTCGI fcgi.c
suite one "clang-19 --analyze component.c (wasm32-wasi): no findings" analyze --target=wasm32-wasi --sysroot=/usr component.c
# a limit's name means one thing: no name is #defined with two different
# values in the project's sources
SOURCES="cgi.h cgi.c fcgi.h fcgi.c outq.h log.h http.h http.c serve.c component.c wasi-http.h"
one_meaning() {
	bad=$(for f in $SOURCES; do
		sed -n 's/^#define[[:space:]]\{1,\}\([A-Z_][A-Z0-9_]*\)[[:space:]]\{1,\}\([^/]*\).*/\1 \2/p' "$f" |
		    sed 's/[[:space:]]*$//'
	done | sort -u | cut -d' ' -f1 | uniq -d)
	[ -z "$bad" ] || { echo "defined with other values in two files:" $bad; return 1; }
}
suite one "a #define name means the same in every source file" one_meaning
suite "$NODE" tests/suites/contract.mjs native ./cgi
suite env ASAN_OPTIONS=detect_leaks=1 "$NODE" tests/suites/contract.mjs native tests/.build/cgi-san
suite sh tests/suites/wasm.sh
suite "$NODE" tests/suites/contract.mjs wasi cgi.wasm --ref ./cgi
suite "$NODE" tests/suites/contract.mjs jco tests/.build/jco --ref ./cgi
# the wasi:http component: its world, size and hostile requests under jco
# serve; the contract through it at / with no Spin headers, as wasmtime
# serve runs it (make matrix replays it at /mt, in both jco serve modes)
suite "$NODE" tests/suites/component.mjs
suite "$NODE" tests/suites/contract.mjs component cgi.component.wasm
suite "$NODE" tests/suites/spin-toml.mjs
# the slow tier: the matrix of every context (serve, the Spin emulation at
# / and /mt, every real host of deploy/ at /mt and /), with its own summary
# line, and the systemd units; each missing server is a failure
hosts=1
for t in apache2:apache2 lighttpd:lighttpd nginx:nginx-light fcgiwrap:fcgiwrap \
    spawn-fcgi:spawn-fcgi tcpserver:ucspi-tcp xinetd:xinetd \
    systemd-socket-activate:systemd systemd-analyze:systemd; do
	need "${t%%:*}" "${t#*:}" || hosts=0
done
# the FastCGI responder: outside a FastCGI server it is the plain CGI (the
# whole table); under spawn-fcgi, the protocol as a web server speaks it,
# on the plain build and the sanitizer build
suite "$NODE" tests/suites/contract.mjs native ./cgi.fcgi
suite "$NODE" tests/suites/fcgi.mjs ./cgi.fcgi
suite env ASAN_OPTIONS=detect_leaks=0 "$NODE" tests/suites/fcgi.mjs tests/.build/cgi-san.fcgi
[ $hosts = 1 ] && suite "$NODE" tests/suites/matrix.mjs --markdown tests/.build/matrix.md
suite sh tests/suites/systemd.sh
# the slow tier: the page in headless Chromium through serve, lighttpd and
# the Spin emulation, with its own summary line
suite "$NODE" tests/suites/browser.mjs
# the slow tier: both OCI images built and run, and the Kubernetes manifest
# run with podman kube play, with its own summary line
suite sh tests/suites/image.sh
# the benchmark's one-minute smoke run, so its scripts cannot rot: figures
# are printed, not asserted; a failure to run is a failure
suite one "make bench runs (BENCH_QUICK=1): tests/.build/bench/report.md" env BENCH_QUICK=1 "$NODE" tests/bench/bench.mjs
suite "$NODE" tests/suites/serve.mjs ./serve
suite env ASAN_OPTIONS=detect_leaks=0 "$NODE" tests/suites/serve.mjs tests/.build/serve-san
# serve's FastCGI back end (-F, -f): odd responders, supervision, limits
suite "$NODE" tests/suites/serve-fcgi.mjs ./serve ./cgi.fcgi
suite env ASAN_OPTIONS=detect_leaks=0 "$NODE" tests/suites/serve-fcgi.mjs tests/.build/serve-san ./cgi.fcgi
for f in cgi serve fcgi; do
	mkdir -p tests/.build/corpus-$f
	suite one "fuzz: $f for ${FUZZ_SECONDS} s under ASan and UBSan" \
	    tests/fuzz/fuzz_$f -max_len=9000 -max_total_time="$FUZZ_SECONDS" \
	    -artifact_prefix=tests/.build/ tests/.build/corpus-$f tests/fuzz/seeds-$f
done
suite one "mandoc -Tlint cgi.1 serve.1" mandoc -Tlint -W warning cgi.1 serve.1

echo "# sizes: cgi $(wc -c < cgi), serve $(wc -c < serve), cgi.wasm $(wc -c < cgi.wasm), cgi.component.wasm $(wc -c < cgi.component.wasm) bytes"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
