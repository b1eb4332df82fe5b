#!/bin/sh
# Installs what `make check` needs on Debian 12 (bookworm): the C and
# wasm32-wasi toolchains, the sanitizer and libFuzzer runtimes, tzdata for
# the Europe/Moscow cross-check, mandoc, the real hosts of deploy/ (Apache,
# lighttpd, nginx, fcgiwrap, spawn-fcgi, tcpserver, xinetd, systemd's
# tools), Chromium for the browser test, what make bench runs and compares
# against (wrk, hyperfine, gnuplot, Go, busybox, mini_httpd),
# Node.js, and jco and playwright-core into tests/node_modules. Safe to run
# again; apt runs only when a package is missing. The servers' packages would start them on
# port 80: they are installed with their services kept from starting.
set -eu
cd "$(dirname "$0")/../.."
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

pkgs="make gcc libc6-dev musl-tools clang-19 lld-19 llvm-19
    libclang-rt-19-dev libclang-rt-19-dev-wasm32 wasi-libc tzdata mandoc
    apache2 lighttpd nginx-light fcgiwrap spawn-fcgi ucspi-tcp
    xinetd systemd chromium curl
    wrk hyperfine golang-go busybox mini-httpd gnuplot-nox"
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"
missing=
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	$SUDO apt-get update -qq
	# keep apache2, lighttpd, nginx and xinetd from starting as services
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	    --no-install-recommends $missing
fi
# npm ci refuses this lock file (its platform-only optional packages carry
# no addresses), so install from package.json's exact versions and the lock.
(cd tests && npm install --no-save --no-audit --no-fund --loglevel=error)
echo "deps: ready"
