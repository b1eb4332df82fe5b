#!/bin/sh
# serve's connection model, measured against the forking serve it
# replaced (BENCH_BASE, the last commit before the event loop), both
# built the same way (static musl, stripped), in one run:
#   - 1,000 idle connections plus 1,000 drip-feeding heads, and 100
#     sequential GET /api/time from another client (tests/bench/flood.c):
#     how many are answered, p50 and p99, and the peak RSS of serve's
#     whole process tree meanwhile;
#   - wrk keep-alive throughput on /api/time at 16, 64 and 1,024
#     connections: old serve, new serve and new serve with a static no-op
#     program taking turns, BENCH_ROUNDS rounds (3), medians reported.
# A benchmark, not a test: it prints figures and the goals met or missed,
# and exits 0 either way. Servers bind 127.0.0.1 and are stopped by PID.
set -eu
cd "$(dirname "$0")/../.."
SECONDS_EACH=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
BASE=${BENCH_BASE:-e124c5c}
B=tests/.build/bench-serve
mkdir -p "$B"
for t in musl-gcc wrk git; do
	command -v $t >/dev/null 2>&1 || { echo "bench: $t is missing: make deps" >&2; exit 1; }
done
# 1,024 wrk connections and a 2,000-connection flood need descriptors
[ "$(ulimit -n)" -ge 8192 ] || ulimit -n 8192

FLAGS="-std=c99 -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables"
LD="-static -s -Wl,--gc-sections -Wl,-z,noseparate-code"
make -s templates/index.h
# the old serve from its own tree, built by its own Makefile
rm -rf "$B/old"
mkdir -p "$B/old"
git archive "$BASE" | tar -x -C "$B/old"
make -s -C "$B/old" CC=musl-gcc CPPFLAGS= CFLAGS="$FLAGS" LDFLAGS="$LD" serve
musl-gcc $FLAGS -D_POSIX_C_SOURCE=200809L -o $B/cgi cgi.c $LD
musl-gcc $FLAGS -flto -o $B/serve serve.c http.c $LD
musl-gcc $FLAGS -o $B/noop tests/fixtures/noop.c $LD
cc -O2 -o $B/flood tests/bench/flood.c

pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# start NAME SERVE PROGRAM [ARGS]: sets port_NAME and pid_NAME
start() {
	name=$1 bin=$2 prog=$3
	shift 3
	rm -f "$B/port.$name"
	"$bin" -q -b 127.0.0.1 -p 0 "$@" "$prog" > "$B/port.$name" &
	pids="$pids $!"
	eval "pid_$name=$!"
	for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		[ -s "$B/port.$name" ] && break
		sleep 0.1
	done
	eval "port_$name=$(head -n 1 "$B/port.$name")"
}

# RSS in KiB of a process and all its descendants
tree_rss() {
	ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
		{ ppid[$1] = $2; rss[$1] = $3 }
		END { for (p in rss) { q = p; while (q != "" && q != root && q > 1) q = ppid[q];
			if (q == root) sum += rss[p] } print sum + 0 }'
}

# one wrk run: prints "req/s p50 p99", latencies in ms
load() {
	wrk -t2 -c"$1" -d"${SECONDS_EACH}s" --latency "$2" > $B/wrk.txt 2>&1 || true
	awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
		if (v ~ /s$/) return v * 1000; return v }
	    /Requests\/sec/ { r = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
	    /Non-2xx|Socket errors/ { err = err " " $0 }
	    END { printf "%s %s %s%s\n", r, p50, p99, err ? " (" err ")" : "" }' $B/wrk.txt
}

ratio() { awk "BEGIN { printf \"%.2f\", $1 / $2 }"; }
goal() { awk "BEGIN { exit !($1 >= $2) }" && echo met || echo MISSED; }

echo "## serve: the connection model ($(nproc) cores, $(uname -r), $(date -u +%Y-%m-%d))"
echo
echo "new: this tree; old: $BASE (forking, one child per connection); static musl, stripped:"
echo "new serve $(wc -c < $B/serve) bytes, old serve $(wc -c < $B/old/serve) bytes."
echo

start new $B/serve "$PWD/$B/cgi" -T 30
start old $B/old/serve "$PWD/$B/cgi" -T 30
start noop $B/serve "$PWD/$B/noop"
sleep 0.3
echo "idle RSS of new serve: $(tree_rss $pid_new) KiB"
echo

echo "### 1,000 idle + 1,000 drip-feeding connections, 100 sequential GET /api/time"
echo
peak=0
$B/flood "$port_new" 1000 1000 100 > $B/flood.new &
fpid=$!
while kill -0 $fpid 2>/dev/null; do
	r=$(tree_rss $pid_new)
	[ "$r" -gt "$peak" ] && peak=$r
	sleep 0.1
done
wait $fpid || true
echo "- new serve: $(cat $B/flood.new); peak RSS of its process tree $peak KiB"
if [ "${BENCH_FLOOD_OLD:-1}" = 1 ]; then
	# the old serve takes a minute or two here: each of 2,000 connects waits
	$B/flood "$port_old" 1000 1000 20 > $B/flood.old || true
	echo "- old serve (20 requests): $(cat $B/flood.old)"
fi
p99=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' $B/flood.new)
echo "- goal: all 100 answered with p99 under 50 ms: $(grep -q 'answered 100/100' $B/flood.new && goal 50 "${p99:-99999}")"
echo "- goal: peak RSS at most 12 MiB: $(goal 12288 "$peak")"
echo
# let the flood's connections time out before the throughput rows
kill $pid_new $pid_old
sleep 1
start new $B/serve "$PWD/$B/cgi"
start old $B/old/serve "$PWD/$B/cgi" -c 1024
sleep 0.3

echo "### keep-alive GET /api/time, wrk -t2, ${SECONDS_EACH} s per run"
echo
echo "Each figure is the median of $ROUNDS runs; in every round the three"
echo "servers run one after another, so a slow moment of the machine falls"
echo "on all of them."
echo
echo "| server | connections | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|"
# median FILE COLUMN: the median of a column of "req/s p50 p99" lines
median() {
	awk -v k="$2" '{ print $k }' "$1" | sort -n |
	    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
row() {
	echo "| $1 | $2 | $(median "$3" 1) | $(median "$3" 2) ms | $(median "$3" 3) ms |"
}
for c in 16 64 1024; do
	: > $B/old.$c; : > $B/new.$c; : > $B/noop.$c
	for r in $(seq "$ROUNDS"); do
		load $c "http://127.0.0.1:$port_old/api/time" >> $B/old.$c
		load $c "http://127.0.0.1:$port_new/api/time" >> $B/new.$c
		load $c "http://127.0.0.1:$port_noop/api/time" >> $B/noop.$c
	done
	row "old serve + cgi" $c $B/old.$c
	row "new serve + cgi" $c $B/new.$c
	row "new serve + static no-op" $c $B/noop.$c
	o=$(median $B/old.$c 1) n=$(median $B/new.$c 1) f=$(median $B/noop.$c 1)
	eval "n$c=$n"
	[ $c = 1024 ] && continue
	echo "| new / old: $(ratio $n $o) (goal 0.95: $(goal "$(ratio $n $o)" 0.95)); new / no-op: $(ratio $n $f) (goal 0.90: $(goal "$(ratio $n $f)" 0.90)) | | | | |"
done
echo "| new, 1,024 / 16 connections: $(ratio $n1024 $n16) (goal 0.90: $(goal "$(ratio $n1024 $n16)" 0.90)) | | | | |"
