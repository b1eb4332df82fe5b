#!/bin/sh
# The systemd units of deploy/systemd: each passes `systemd-analyze verify`
# (with its paths pointed at this tree's programs), and each service's
# sandbox rates at most 2.0 in `systemd-analyze security --offline=true`.
# Running them for real is tests/lib/hosts.mjs's (systemd-socket-activate).
set -u
cd "$(dirname "$0")/../.." || exit 1
MAX=2.0
for t in systemd-analyze; do
	command -v $t >/dev/null 2>&1 || { echo "FAIL - systemd: $t is not installed: run make deps"; exit 1; }
done
d=tests/.build/systemd
rm -rf "$d"
mkdir -p "$d"
for f in deploy/systemd/*; do
	sed "s|/usr/local/bin/|$PWD/|g" "$f" > "$d/$(basename "$f")"
done
pass=0
fail=0
for f in "$d"/*; do
	u=$(basename "$f")
	if out=$(cd "$d" && systemd-analyze verify --man=no "./$u" 2>&1) && [ -z "$out" ]; then
		echo "ok - systemd: $u passes systemd-analyze verify"
		pass=$((pass + 1))
	else
		printf '%s\n' "$out"
		echo "FAIL - systemd: $u: systemd-analyze verify"
		fail=$((fail + 1))
	fi
done
for f in "$d"/*.service; do
	u=$(basename "$f")
	score=$(cd "$d" && systemd-analyze security --offline=true "./$u" 2>&1 |
	    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	if [ -n "$score" ] && awk "BEGIN { exit !($score <= $MAX) }"; then
		echo "ok - systemd: $u rates $score (at most $MAX) in systemd-analyze security"
		pass=$((pass + 1))
	else
		echo "FAIL - systemd: $u rates ${score:-nothing}, more than $MAX"
		fail=$((fail + 1))
	fi
done
echo "# systemd: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
