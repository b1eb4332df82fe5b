#!/bin/sh
# make bench: the figures the project is measured by, on this machine.
#   sizes         static musl cgi and serve, cgi.wasm
#   start time    MODE=once ./cgi against a static no-op, with hyperfine
#   throughput    wrk, 2 threads, 16 and 64 connections, BENCH_SECONDS (10)
#                 each, GET /api/time: serve + cgi, lighttpd mod_cgi + the
#                 same cgi, and serve + a static no-op CGI (the floor)
#   memory        idle RSS of a static serve
# A benchmark, not a test: it prints figures and asserts nothing. Every
# server binds 127.0.0.1 and is stopped by its PID.
set -eu
cd "$(dirname "$0")/../.."
SECONDS_EACH=${BENCH_SECONDS:-10}
B=tests/.build/bench
LPORT=${BENCH_LIGHTTPD_PORT:-18182}
mkdir -p "$B"
for t in musl-gcc wrk hyperfine lighttpd; do
	command -v $t >/dev/null 2>&1 || { echo "bench: $t is missing: make deps" >&2; exit 1; }
done

FLAGS="-std=c99 -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables"
make -s templates/index.h cgi.wasm
musl-gcc $FLAGS -D_POSIX_C_SOURCE=200809L -o $B/cgi cgi.c -static -s -Wl,--gc-sections -Wl,-z,noseparate-code
musl-gcc $FLAGS -o $B/serve serve.c -static -s -Wl,--gc-sections -Wl,-z,noseparate-code
musl-gcc $FLAGS -o $B/noop tests/bench/noop.c -static -s -Wl,--gc-sections -Wl,-z,noseparate-code

pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

echo "## moscow-time bench ($(nproc) cores, $(uname -r))"
echo
echo "| size | bytes |"
echo "|---|---|"
echo "| static cgi (musl, stripped) | $(wc -c < $B/cgi) |"
echo "| static serve (musl, stripped) | $(wc -c < $B/serve) |"
echo "| cgi.wasm | $(wc -c < cgi.wasm) |"
echo "| static no-op (musl, stripped) | $(wc -c < $B/noop) |"
echo

echo "### start time: MODE=once ./cgi against a static no-op"
# hyperfine's own tables round to 0.1 ms: read its JSON in microseconds
MODE=once hyperfine -N --warmup 50 --runs 2000 --export-json $B/start.json \
    "$B/cgi" "$B/noop" >/dev/null 2>&1
echo "| command (2000 runs) | mean µs | σ µs | median µs | min µs |"
echo "|---|---|---|---|---|"
awk -F'[:,]' '
	/"command"/ { gsub(/[" ]/, "", $2); cmd = $2 }
	/"mean"/ { mean = $2 * 1e6 } /"stddev"/ { sd = $2 * 1e6 }
	/"median"/ { med = $2 * 1e6 }
	/"min"/ { printf "| MODE=once %s | %.0f | %.0f | %.0f | %.0f |\n", cmd, mean, sd, med, $2 * 1e6 }
' $B/start.json
echo

# serve on an ephemeral port; its port is the first line it prints
start_serve() {
	rm -f "$B/port.$2"
	"$B/serve" -q -b 127.0.0.1 -p 0 -c 256 "$1" > "$B/port.$2" &
	pids="$pids $!"
	spid=$!
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		[ -s "$B/port.$2" ] && break
		sleep 0.1
	done
	sport=$(head -n 1 "$B/port.$2")
}

# one wrk run: prints "req/s p50 p99"
load() {
	wrk -t2 -c"$1" -d"${SECONDS_EACH}s" --latency "$2" > $B/wrk.txt 2>&1 || true
	awk '/Requests\/sec/ { r = $2 } $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
	    /Non-2xx|Socket errors/ { err = err " " $0 }
	    END { printf "%s %s %s%s\n", r, p50, p99, err ? " (" err ")" : "" }' $B/wrk.txt
}

start_serve "$PWD/$B/cgi" cgi
SERVE_PID=$spid
SERVE_PORT=$sport
sleep 0.3
rss=$(awk '/VmRSS/ { print $2 " " $3 }' /proc/$SERVE_PID/status)
start_serve "$PWD/$B/noop" noop
FLOOR_PORT=$sport

mkdir -p $B/lighttpd
cat > $B/lighttpd/lighttpd.conf <<CONF
server.modules       = ( "mod_alias", "mod_cgi" )
server.bind          = "127.0.0.1"
server.port          = $LPORT
server.document-root = "$PWD/$B/lighttpd"
server.pid-file      = "$PWD/$B/lighttpd/lighttpd.pid"
server.errorlog      = "$PWD/$B/lighttpd/error.log"
server.max-connections = 1024
\$HTTP["url"] =~ "^/mt(/|\$)" {
    alias.url  = ( "/mt" => "$PWD/$B/cgi" )
    cgi.assign = ( "" => "" )
}
CONF
lighttpd -D -f $B/lighttpd/lighttpd.conf &
pids="$pids $!"
sleep 0.5

echo "### GET /api/time, wrk -t2, ${SECONDS_EACH} s per row"
echo
echo "| server | connections | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|"
for c in 16 64; do
	set -- $(load $c "http://127.0.0.1:$SERVE_PORT/api/time")
	s_rps=$1
	echo "| serve + cgi | $c | $1 | $2 | $3 |"
	set -- $(load $c "http://127.0.0.1:$LPORT/mt/api/time")
	l_rps=$1
	echo "| lighttpd 1.4 mod_cgi + cgi | $c | $1 | $2 | $3 |"
	set -- $(load $c "http://127.0.0.1:$FLOOR_PORT/api/time")
	echo "| serve + static no-op (floor) | $c | $1 | $2 | $3 |"
	echo "| serve / lighttpd | $c | $(awk "BEGIN { printf \"%.2f\", $s_rps / $l_rps }") | | |"
done
echo
echo "idle RSS of static serve: $rss"
