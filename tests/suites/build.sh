#!/bin/sh
# The build as a user would run it, in a scratch copy of the tree: warnings
# are errors, a static musl build is static, install puts the files where
# PREFIX and DESTDIR say.
set -u
cd "$(dirname "$0")/../.." || exit 1
W=tests/.build/buildtest
rm -rf "$W"
mkdir -p "$W"
cp -R Makefile ./*.c ./*.h ./*.1 templates "$W"/
rm -f "$W"/templates/embed "$W"/templates/index.h

check() {
	if [ "$2" = 0 ]; then echo "ok - build: $1"; else echo "FAIL - build: $1"; fi
}

make -s -C "$W" CFLAGS='-std=c99 -pedantic -Wall -Wextra -Werror -O2' cgi serve fcgi >"$W/log" 2>&1
check "cc -Wall -Wextra -Werror -pedantic" $?
make -s -C "$W" WASI_CFLAGS='--target=wasm32-wasi --sysroot=/usr -std=c99 -Wall -Wextra -Werror -Oz' wasm >>"$W/log" 2>&1
check "clang-19 wasm32-wasi -Wall -Wextra -Werror" $?
make -s -C "$W" WASI_CFLAGS='--target=wasm32-wasi --sysroot=/usr -std=c99 -pedantic -Wall -Wextra -Werror -Oz' tests/.build/cgi-core.wasm >>"$W/log" 2>&1
check "the component's core module (component.c + cgi.c): clang-19 -pedantic -Wall -Wextra -Werror" $?
rm -f "$W/cgi" "$W/serve"
make -s -C "$W" CC=musl-gcc LDFLAGS=-static >>"$W/log" 2>&1 &&
    ! readelf -l "$W/cgi" | grep -q INTERP && ! readelf -l "$W/serve" | grep -q INTERP &&
    [ "$(MODE=once "$W/cgi" | wc -l)" -eq 4 ] && [ "$(MODE=once "$W/serve" | wc -l)" -eq 4 ]
check "make CC=musl-gcc LDFLAGS=-static gives static binaries that run" $?
# cgi.c's AFTER_BSS: in that build the body buffer is .lbss, after every
# other zeroed variable, and .data and .bss share one 4 KiB page
readelf -SW "$W/cgi" | awk '
	function hex(s, i, v) {
		for (i = 1; i <= length(s); i++)
			v = v * 16 + index("0123456789abcdef", substr(tolower(s), i, 1)) - 1
		return v
	}
	{ sub(/^ *\[ *[0-9]+\] */, "") }
	$1 == ".data" { d = hex($3) }
	$1 == ".bss" { e = hex($3) + hex($5) }
	$1 == ".lbss" { l = hex($3); n = hex($5) }
	END { exit !(d && e && l >= e && n == 32768 && int(d / 4096) == int((e - 1) / 4096)) }'
check "static cgi: .data and .bss in one page, the 32 KiB body after them (.lbss)" $?
make -s -C "$W" DESTDIR="$PWD/$W/root" PREFIX=/usr install >>"$W/log" 2>&1 &&
    [ -x "$W/root/usr/bin/cgi" ] && [ -x "$W/root/usr/bin/serve" ] &&
    [ -f "$W/root/usr/share/man/man1/cgi.1" ] && [ -f "$W/root/usr/share/man/man1/serve.1" ]
check "make install honours DESTDIR and PREFIX" $?
make -s -C "$W" clean >>"$W/log" 2>&1 && [ ! -e "$W/cgi" ] && [ ! -e "$W/serve" ] && [ ! -e "$W/cgi.wasm" ] && [ ! -e "$W/cgi.fcgi" ] &&
    [ ! -e "$W/templates/index.h" ]
check "make clean removes what was built" $?
grep -i warning "$W/log" && check "no warnings" 1
exit 0
