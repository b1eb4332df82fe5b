#!/bin/sh
# The hosts tier of make check: the matrix (tests/matrix.mjs), which
# replays the contract table's HTTP cases through every context, the real
# hosts started from their files in deploy/ (tests/hosts.mjs) among them,
# under /mt and at the root; the systemd
# units checked; one summary line. A missing server or library is a
# failure that says what to install.
set -u
cd "$(dirname "$0")/.." || exit 1
NODE=${NODE:-node}
pass=0
fail=0
count() {
	out=$("$@" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	p=$(printf '%s\n' "$out" | grep -c '^ok ')
	f=$(printf '%s\n' "$out" | grep -c '^FAIL')
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "FAIL - $*: exit status $rc"; f=1; }
	pass=$((pass + p))
	fail=$((fail + f))
}
missing() {
	echo "FAIL - hosts: $1 is not installed: run make deps (package $2)"
	fail=$((fail + 1))
}

ok=1
for t in apache2:apache2 lighttpd:lighttpd nginx:nginx-light fcgiwrap:fcgiwrap \
    spawn-fcgi:spawn-fcgi tcpserver:ucspi-tcp xinetd:xinetd \
    systemd-socket-activate:systemd systemd-analyze:systemd; do
	command -v "${t%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${t%%:*}" ] ||
	    { missing "${t%%:*}" "${t#*:}"; ok=0; }
done
if ! make -s cgi.fcgi >/dev/null 2>&1; then
	echo "FAIL - hosts: cannot build cgi.fcgi: the FastCGI tests need libfcgi-dev (make deps installs it)"
	fail=$((fail + 1))
fi
if [ $ok = 1 ]; then
	count "$NODE" tests/matrix.mjs --markdown tests/.build/matrix.md
fi
count sh tests/systemd.sh
echo "# hosts: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
