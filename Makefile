# moscow-time: see README.md. POSIX make; every variable can be overridden.
.POSIX:

VERSION   = 0.1.0
PREFIX    = /usr/local
MANPREFIX = $(PREFIX)/share/man
CC        = cc
HOSTCC    = cc
CPPFLAGS  = -D_POSIX_C_SOURCE=200809L -DVERSION=\"$(VERSION)\"
CFLAGS    = -std=c99 -pedantic -Wall -Wextra -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables
LDFLAGS   =
# Sections the program does not use are dropped; text and read-only data share
# pages instead of each being padded to its own 4 KiB (still never writable).
LDSIZE    = -Wl,--gc-sections -Wl,-z,noseparate-code
# wasm32-wasi with Debian's clang-19, lld-19 and wasi-libc (Spin 3 rejects
# modules from clang older than 15.0.7).
WASI_CC      = clang-19
WASI_SYSROOT = /usr
WASI_CFLAGS  = --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -std=c99 -Wall -Wextra -Oz -flto
WASI_LDFLAGS = -Wl,--gc-sections -Wl,--strip-all
# The component's core module: no libc start-up and no entry (the host
# calls its exports), and memory.copy in place of libc's 1.3 KB memcpy.
COMPONENT_CFLAGS = -mexec-model=reactor -nostartfiles -Wl,--no-entry -mbulk-memory
# libFuzzer and the sanitizers come with clang-19.
FUZZ_CC   = clang-19
SAN_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS = 20

all: cgi serve

cgi: cgi.c cgi.h render.h templates/index.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ cgi.c $(LDFLAGS) $(LDSIZE)

# The loop (serve.c) around the HTTP layer (http.c), optimised as one
# program (-flto).
SERVE_SRC = serve.c http.c
SERVE_DEPS = $(SERVE_SRC) http.h outq.h render.h

serve: $(SERVE_DEPS)
	$(CC) $(CPPFLAGS) $(CFLAGS) -flto -o $@ $(SERVE_SRC) $(LDFLAGS) $(LDSIZE)

wasm: cgi.wasm

# The wasi:http component: component.c (the front end) and its glue
# (wasi-http.h) around the application in cgi.c, a core module with no
# libc start-up, made a component by jco (wit/component.mjs: wasi 0.2.0,
# the world in wit/world.wit).
component: cgi.component.wasm

# A FastCGI responder from the same cgi.c, libc only.
fcgi: cgi.fcgi

# The responder (fcgi.c) around the application (cgi.c), optimised as one
# program (-flto): the seam costs no bytes.
cgi.fcgi: fcgi.c cgi.c cgi.h fcgi.h outq.h render.h templates/index.h
	$(CC) $(CPPFLAGS) -DFASTCGI $(CFLAGS) -flto -o $@ fcgi.c cgi.c $(LDFLAGS) $(LDSIZE)

cgi.wasm: cgi.c cgi.h render.h templates/index.h
	$(WASI_CC) $(CPPFLAGS) $(WASI_CFLAGS) -o $@ cgi.c $(WASI_LDFLAGS)

tests/.build/cgi-core.wasm: component.c wasi-http.h cgi.c cgi.h render.h templates/index.h
	@mkdir -p tests/.build
	$(WASI_CC) $(CPPFLAGS) -DCGI_NO_MAIN $(WASI_CFLAGS) $(COMPONENT_CFLAGS) \
	    -o $@ component.c cgi.c $(WASI_LDFLAGS)

cgi.component.wasm: tests/.build/cgi-core.wasm wit/world.wit wit/component.mjs
	node wit/component.mjs tests/.build/cgi-core.wasm $@

# The page is compiled in: templates/embed turns it into C at build time.
templates/embed: templates/embed.c
	$(HOSTCC) -O2 -o $@ templates/embed.c -lm

templates/index.h: templates/index.html templates/embed
	templates/embed page < templates/index.html > $@.tmp
	mv $@.tmp $@

# serve on :8080 (PORT=... to change), running ./cgi per request
run: cgi serve
	./serve

# ---- images: the scratch image and the wasi/wasm image ----
# With docker (an engine that answers), else podman, else buildah; make
# image-deps installs podman, buildah and runc and a local base image.
IMAGE = moscow-time
BUILDER = sh -c 'if docker info >/dev/null 2>&1; then exec docker build "$$@"; \
	elif command -v podman >/dev/null 2>&1; then exec podman build "$$@"; \
	elif command -v buildah >/dev/null 2>&1; then exec buildah bud "$$@"; \
	else echo "no docker, podman or buildah: run make image-deps" >&2; exit 1; fi' build

image:
	$(BUILDER) --network host -t $(IMAGE):latest -f Dockerfile .

# The build stage runs on this machine's own platform (older buildah does
# not resolve BUILDPLATFORM by itself).
image-wasm:
	$(BUILDER) --network host --platform wasi/wasm \
	    --build-arg BUILDPLATFORM=linux/$$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/') \
	    -t $(IMAGE):wasm -f Dockerfile.wasm .

image-deps:
	sh tests/install/image-deps.sh

# ---- tests: `make deps check` installs what they need and runs them all ----

deps:
	sh tests/install/deps.sh
	sh tests/install/image-deps.sh

# The C tables (make unit), the fuzzers, the fixture programs the suites
# run, and the sanitizer builds (in tests/.build) the suites run again.
UNIT = tests/unit/t_render tests/unit/t_cgi tests/unit/t_serve
UNIT_CFLAGS = -std=c99 -Wall -Wextra -O1 -g

tests/unit/t_render: tests/unit/t_render.c tests/unit/report.h render.h
	$(CC) $(CPPFLAGS) $(UNIT_CFLAGS) -o $@ tests/unit/t_render.c

tests/unit/t_cgi: tests/unit/t_cgi.c tests/unit/report.h cgi.c cgi.h render.h templates/index.h
	$(CC) $(CPPFLAGS) $(UNIT_CFLAGS) -o $@ tests/unit/t_cgi.c

tests/unit/t_serve: tests/unit/t_serve.c tests/unit/report.h http.c http.h render.h
	$(CC) $(CPPFLAGS) $(UNIT_CFLAGS) -o $@ tests/unit/t_serve.c http.c

tests/fixtures/testcgi: tests/fixtures/testcgi.c
	$(CC) $(CPPFLAGS) -std=c99 -Wall -Wextra -O2 -o $@ tests/fixtures/testcgi.c

# a static no-op CGI: the fastest program serve can run (tests/suites/serve.mjs)
tests/fixtures/noop: tests/fixtures/noop.c
	musl-gcc -std=c99 -Os -static -s -o $@ tests/fixtures/noop.c

tests/fixtures/activate: tests/fixtures/activate.c
	$(CC) $(CPPFLAGS) -std=c99 -Wall -Wextra -O2 -o $@ tests/fixtures/activate.c

# a socket that has no peer and does not listen on a program's standard input
tests/fixtures/sockstdin: tests/fixtures/sockstdin.c
	$(CC) $(CPPFLAGS) -std=c99 -Wall -Wextra -O2 -o $@ tests/fixtures/sockstdin.c

tests/.build/serve-san: $(SERVE_DEPS) tests/fixtures/asan-options.c
	@mkdir -p tests/.build
	$(FUZZ_CC) $(CPPFLAGS) -std=c99 -Wall -Wextra $(SAN_FLAGS) -o $@ $(SERVE_SRC) tests/fixtures/asan-options.c

tests/.build/cgi-san.fcgi: fcgi.c cgi.c cgi.h fcgi.h outq.h render.h templates/index.h
	@mkdir -p tests/.build
	$(FUZZ_CC) $(CPPFLAGS) -DFASTCGI -std=c99 -Wall -Wextra $(SAN_FLAGS) -o $@ fcgi.c cgi.c

tests/.build/cgi-san: cgi.c cgi.h render.h templates/index.h
	@mkdir -p tests/.build
	$(FUZZ_CC) $(CPPFLAGS) -std=c99 -Wall -Wextra $(SAN_FLAGS) -o $@ cgi.c

tests/.build/cgi-names.wasm: cgi.c cgi.h render.h templates/index.h
	@mkdir -p tests/.build
	$(WASI_CC) $(CPPFLAGS) $(WASI_CFLAGS) -o $@ cgi.c -Wl,--gc-sections

tests/fuzz/fuzz_serve: tests/fuzz/fuzz_serve.c tests/fuzz/check.h http.c http.h render.h
	$(FUZZ_CC) $(CPPFLAGS) -std=c99 -Wall -Wextra $(SAN_FLAGS) -fsanitize=fuzzer -o $@ tests/fuzz/fuzz_serve.c http.c

tests/fuzz/fuzz_fcgi: tests/fuzz/fuzz_fcgi.c tests/fuzz/check.h fcgi.c cgi.c cgi.h fcgi.h outq.h render.h templates/index.h
	$(FUZZ_CC) $(CPPFLAGS) -DFASTCGI -std=c99 -Wall -Wextra $(SAN_FLAGS) -fsanitize=fuzzer -o $@ tests/fuzz/fuzz_fcgi.c cgi.c

tests/fuzz/fuzz_cgi: tests/fuzz/fuzz_cgi.c tests/fuzz/check.h cgi.c cgi.h render.h templates/index.h
	$(FUZZ_CC) $(CPPFLAGS) -std=c99 -Wall -Wextra $(SAN_FLAGS) -fsanitize=fuzzer -o $@ tests/fuzz/fuzz_cgi.c

JCO = tests/node_modules/.bin/jco

# cgi.wasm wrapped in the WASI preview1 command adapter, as Spin does, and
# turned into JavaScript for Node's preview2 host.
tests/.build/jco/cgi.js: cgi.wasm
	@test -x $(JCO) || { echo "jco is not installed: run make deps" >&2; exit 1; }
	mkdir -p tests/.build
	$(JCO) new cgi.wasm --wasi-command -o tests/.build/cgi.command.wasm
	$(JCO) transpile tests/.build/cgi.command.wasm -o tests/.build/jco --name cgi --no-typescript -q
	echo '{"type":"module"}' > tests/.build/jco/package.json

TEST_BINS = $(UNIT) tests/.build/cgi-san tests/.build/serve-san \
	tests/fixtures/testcgi tests/fixtures/noop tests/fixtures/activate tests/fixtures/sockstdin tests/fuzz/fuzz_cgi tests/fuzz/fuzz_serve \
	tests/fuzz/fuzz_fcgi tests/.build/cgi-san.fcgi \
	tests/.build/cgi-names.wasm tests/.build/jco/cgi.js

check: cgi serve cgi.wasm cgi.fcgi cgi.component.wasm $(TEST_BINS)
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/check.sh

test: check

# the C tables alone, in seconds
unit: $(UNIT)
	sh tests/check.sh unit

# the contract's requests through every context this machine has, as one
# matrix (also part of check)
matrix: cgi serve cgi.wasm cgi.fcgi cgi.component.wasm tests/.build/jco/cgi.js
	node tests/suites/matrix.mjs

fuzz: tests/fuzz/fuzz_cgi tests/fuzz/fuzz_serve tests/fuzz/fuzz_fcgi

# figures, not tests: the seed's table beside the Go reference and the
# servers people use, every goal met or missed (tests/bench/bench.mjs;
# BENCH_QUICK=1 for the one-minute smoke run make check does)
bench: cgi.wasm cgi.component.wasm
	node tests/bench/bench.mjs

bench-deps: deps

# serve's connection model against the forking serve it replaced
bench-serve:
	sh tests/bench/serve-load.sh

lint:
	mandoc -Tlint -W warning cgi.1 serve.1

install: cgi serve
	mkdir -p "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(MANPREFIX)/man1"
	cp -f cgi serve "$(DESTDIR)$(PREFIX)/bin/"
	cp -f cgi.1 serve.1 "$(DESTDIR)$(MANPREFIX)/man1/"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/cgi" "$(DESTDIR)$(PREFIX)/bin/serve"
	rm -f "$(DESTDIR)$(MANPREFIX)/man1/cgi.1" "$(DESTDIR)$(MANPREFIX)/man1/serve.1"

clean:
	rm -f cgi serve cgi.wasm cgi.fcgi cgi.component.wasm templates/embed templates/index.h templates/index.h.tmp
	rm -f $(TEST_BINS)
	rm -rf tests/.build

.PHONY: all wasm component fcgi run image image-wasm image-deps deps check test unit matrix fuzz bench bench-deps bench-serve lint install uninstall clean
