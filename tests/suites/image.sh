#!/bin/sh
# The images tier of make check: both OCI images built (vfs storage,
# chroot isolation, --pull=never, from the local base image make deps
# makes) and run with podman and runc, and deploy/kubernetes.yaml run with
# podman kube play. Servers bind 127.0.0.1 only; every container and pod
# is removed by name at the end. Closes with one summary line.
set -u
cd "$(dirname "$0")/../.." || exit 1
NODE=${NODE:-node}
TAG=localhost/moscow-time:check
WTAG=localhost/moscow-time:check-wasm
NATIVE_MAX=112000	# bytes, the native image, both modes
WASM_MAX=24000		# bytes, the wasm image
CTAG=localhost/moscow-time:check-component
COMPONENT_MAX=28000	# bytes, the component image
B="buildah --storage-driver vfs"
P="podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs"
T=tests/.build/image
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - image: $1"; }
no() { fail=$((fail + 1)); echo "FAIL - image: $1"; }
check() { name=$1; shift; if "$@"; then ok "$name"; else no "$name"; fi; }
done_() { echo "# images: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

for t in podman buildah runc; do
	command -v $t >/dev/null 2>&1 || { no "$t is not installed: run make deps"; done_; }
done
$P image exists localhost/debian:bookworm-slim ||
    { no "no local debian:bookworm-slim base image: run make deps (tests/install/image-deps.sh)"; done_; }
mkdir -p $T
make -s cgi.wasm cgi.component.wasm

names=""
cleanup() {
	for n in $names; do $P rm -f -t 0 "$n" >/dev/null 2>&1; done
	[ -f $T/kube.yaml ] && $P kube down $T/kube.yaml >/dev/null 2>&1
}
trap cleanup EXIT INT TERM

free_port() {
	$NODE -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
# wait_http PORT PATH: 0 once it answers 200 (5 s at most)
wait_http() {
	i=0
	while [ $i -lt 50 ]; do
		[ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$1$2")" = 200 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# wasm_config TAG WHAT MAX ENTRY: a wasi/wasm image's platform, its size
# (at most MAX bytes) and its entrypoint
wasm_config() {
	plat=$($P image inspect "$1" --format '{{.Os}}/{{.Architecture}}')
	check "$2's config says os=wasi, architecture=wasm ($plat)" [ "$plat" = wasi/wasm ]
	size=$($P image inspect "$1" --format '{{.Size}}')
	check "$2 is $size bytes, at most $3" [ "$size" -le "$3" ]
	entry=$($P image inspect "$1" --format '{{.Config.Entrypoint}}')
	check "$2's entrypoint is $4 ($entry)" [ "$entry" = "[$4]" ]
}
# sigterm_check NAME MS WHAT: SIGTERM to container NAME ends it with
# status 0 within MS milliseconds; the container is removed
sigterm_check() {
	t0=$(date +%s%N)
	$P kill --signal TERM "$1" >/dev/null
	st=$($P wait "$1" 2>/dev/null)
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	check "$3: exit $st in $ms ms (at most $2, status 0)" sh -c "[ '$st' = 0 ] && [ $ms -le $2 ]"
	$P rm -f -t 0 "$1" >/dev/null 2>&1
}
# the JSON MODE=once prints: valid, the Moscow time of its timestamp, now
valid_json() {
	$NODE -e '
const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
const d = new Date((j.timestamp + 3 * 3600) * 1000).toISOString().replace("T", " ").slice(0, 19);
if (j.moscow_time !== d + " MSK") throw new Error(`${j.moscow_time} is not ${d} MSK`);
if (Math.abs(j.timestamp - Date.now() / 1000) > 5) throw new Error("not now");' < "$1"
}

# ---- the native image ---------------------------------------------------
if $B bud --isolation chroot --pull=never --network host -q -t $TAG -f Dockerfile . > $T/build.log 2>&1; then
	ok "Dockerfile builds (buildah, vfs, chroot isolation, --pull=never)"
else
	tail -n 20 $T/build.log
	no "Dockerfile builds"
	done_
fi
size=$($P image inspect $TAG --format '{{.Size}}')
check "the native image is $size bytes, at most $NATIVE_MAX" [ "$size" -le $NATIVE_MAX ]
user=$($P image inspect $TAG --format '{{.Config.User}}')
check "the image runs as a numeric non-root user ($user)" sh -c "echo '$user' | grep -Eq '^[1-9][0-9]*(:[0-9]+)?$'"
entry=$($P image inspect $TAG --format '{{.Config.Entrypoint}}')
check "the entrypoint is /serve ($entry)" [ "$entry" = "[/serve]" ]
c=$($B from --pull=never --name mt-check-native $TAG 2>/dev/null)
m=$($B mount "$c" 2>/dev/null)
files=$(cd "$m" && find . -type f | sort | tr '\n' ' ')
link=$(readlink "$m/cgi")
$B umount "$c" >/dev/null 2>&1
$B rm "$c" >/dev/null 2>&1
check "the image holds serve, cgi.fcgi, /etc/passwd and /etc/group, nothing else ($files)" \
    [ "$files" = "./cgi.fcgi ./etc/group ./etc/passwd ./serve " ]
check "/cgi is a link to cgi.fcgi ($link)" [ "$link" = cgi.fcgi ]

$P run --rm --network none -e MODE=once $TAG > $T/once.json 2> $T/once.err
rc=$?
check "MODE=once exits 0" [ $rc -eq 0 ]
if ! valid_json $T/once.json 2> $T/once.check; then
	cat $T/once.check
	no "MODE=once's JSON is valid and has the right time"
else
	ok "MODE=once's JSON is valid and has the right time"
fi

# server mode on a host-network port; PORT moves it
port=$(free_port)
names="$names mt-check-serve"
$P run -d --name mt-check-serve --network host -e PORT=$port $TAG -b 127.0.0.1 >/dev/null 2>&1
check "server mode answers /api/time on PORT=$port" wait_http $port /api/time
check "server mode answers / with the page" sh -c "curl -s -m 2 http://127.0.0.1:$port/ | grep -q 'Current time in Moscow'"
check "the startup line is in the log" sh -c "$P logs mt-check-serve 2>&1 | grep -q 'listening on http://127.0.0.1:$port/'"
# SIGTERM to PID 1 while idle: gone within 1 s, status 0
sigterm_check mt-check-serve 1000 "SIGTERM as PID 1 when idle"

# read-only, no capabilities, no new privileges, an arbitrary uid
port=$(free_port)
names="$names mt-check-locked"
$P run -d --name mt-check-locked --network host --read-only --cap-drop ALL \
    --security-opt no-new-privileges --user 40123:40123 -e PORT=$port $TAG -b 127.0.0.1 >/dev/null 2>&1
check "read-only, --cap-drop ALL, no-new-privileges, --user 40123: answers /api/time" wait_http $port /api/time
$P rm -f -t 0 mt-check-locked >/dev/null 2>&1

# the persistent mode: docker run IMAGE -F (cgi.fcgi beside serve)
port=$(free_port)
names="$names mt-check-fcgi"
$P run -d --name mt-check-fcgi --network host --read-only --cap-drop ALL \
    -e PORT=$port $TAG -F -b 127.0.0.1 >/dev/null 2>&1
check "-F: the persistent responder answers /api/time" wait_http $port /api/time
check "-F: and / with the page" sh -c "curl -s -m 2 http://127.0.0.1:$port/ | grep -q 'Current time in Moscow'"
check "-F: the startup line names /cgi.fcgi" sh -c "$P logs mt-check-fcgi 2>&1 | grep -q 'running /cgi.fcgi'"
sigterm_check mt-check-fcgi 3000 "-F: SIGTERM stops serve and its responder"

# ---- the wasm image -----------------------------------------------------
if $B bud --isolation chroot --pull=never --network host --platform wasi/wasm \
    --build-arg BUILDPLATFORM=linux/amd64 -q -t $WTAG -f Dockerfile.wasm . > $T/build-wasm.log 2>&1; then
	ok "Dockerfile.wasm builds for --platform wasi/wasm"
else
	tail -n 20 $T/build-wasm.log
	no "Dockerfile.wasm builds"
	done_
fi
wasm_config $WTAG "the wasm image" $WASM_MAX /cgi.wasm
c=$($B from --pull=never --name mt-check-wasm $WTAG 2>/dev/null)
m=$($B mount "$c" 2>/dev/null)
cp "$m/cgi.wasm" $T/image.wasm 2>/dev/null
$B umount "$c" >/dev/null 2>&1
$B rm "$c" >/dev/null 2>&1
check "the module in the image is byte-identical to make wasm's" cmp -s $T/image.wasm cgi.wasm
# under node:wasi, MODE=once
$NODE -e '
const { WASI } = require("node:wasi");
const w = new WASI({ version: "preview1", args: ["cgi"], env: { MODE: "once" }, returnOnExit: true });
const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
process.exitCode = w.start(new WebAssembly.Instance(m, w.getImportObject()));' $T/image.wasm > $T/wasi.json 2> $T/wasi.err
check "the image's module under node:wasi prints the time (MODE=once)" valid_json $T/wasi.json
# wrapped as Spin does, MODE=once and as a WAGI request
rm -rf $T/jco
if tests/node_modules/.bin/jco new $T/image.wasm --wasi-command -o $T/image.component.wasm >/dev/null 2>&1 &&
    tests/node_modules/.bin/jco transpile $T/image.component.wasm -o $T/jco --name cgi --no-typescript -q >/dev/null 2>&1; then
	echo '{"type":"module"}' > $T/jco/package.json
	MODE=once $NODE tests/lib/jco-run.mjs $T/jco/cgi.js > $T/jco.json 2> $T/jco.err
	check "the image's module under jco's preview1 adapter prints the time (MODE=once)" valid_json $T/jco.json
	rm -f $T/spin.port
	$NODE tests/lib/spin.mjs --component $T/jco --route "/mt/..." > $T/spin.port 2>$T/spin.err &
	spid=$!
	i=0
	while [ ! -s $T/spin.port ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	sport=$(head -n 1 $T/spin.port)
	curl -s -m 20 "http://127.0.0.1:$sport/mt/api/time" > $T/spin.json
	check "the image's module answers GET /mt/api/time through the Spin emulation" valid_json $T/spin.json
	kill $spid 2>/dev/null
	wait $spid 2>/dev/null
else
	no "jco cannot wrap the image's module: run make deps"
fi

# ---- the component image: Dockerfile.wasm --target component -------------
# Built from a copy of the context in which the parts of tests/node_modules
# it needs are real directories (in a worktree tests/node_modules may be a
# symlink, which a build context cannot follow).
NM=tests/node_modules/@bytecodealliance
rm -rf $T/ctx
mkdir -p $T/ctx/wit $T/ctx/templates $T/ctx/$NM/jco/lib/wit
cp Makefile cgi.c cgi.h render.h component.c wasi-http.h Dockerfile.wasm .dockerignore $T/ctx/
cp templates/embed.c templates/index.html $T/ctx/templates/
cp wit/world.wit wit/component.mjs $T/ctx/wit/
cp -RL $NM/jco-transpile $NM/preview2-shim $T/ctx/$NM/ && cp -RL $NM/jco/lib/wit/builtin $T/ctx/$NM/jco/lib/wit/
if $B bud --isolation chroot --pull=never --network host --platform wasi/wasm \
    --build-arg BUILDPLATFORM=linux/amd64 --target component -q -t $CTAG -f Dockerfile.wasm $T/ctx > $T/build-component.log 2>&1; then
	ok "Dockerfile.wasm --target component builds for --platform wasi/wasm"
	wasm_config $CTAG "the component image" $COMPONENT_MAX /cgi.component.wasm
	c=$($B from --pull=never --name mt-check-component $CTAG 2>/dev/null)
	m=$($B mount "$c" 2>/dev/null)
	cp "$m/cgi.component.wasm" $T/image-http.wasm 2>/dev/null
	check "the component image holds nothing else ($(ls -A "$m" | tr '\n' ' '))" [ "$(ls -A "$m")" = cgi.component.wasm ]
	$B umount "$c" >/dev/null 2>&1
	$B rm "$c" >/dev/null 2>&1
	check "the component in the image is byte-identical to make component's" cmp -s $T/image-http.wasm cgi.component.wasm
	# served by jco serve, one instance per request as Spin does
	rm -f $T/jco-serve.port
	$NODE tests/lib/jco-serve.mjs $T/image-http.wasm --isolate > $T/jco-serve.port 2>$T/jco-serve.err &
	jpid=$!
	i=0
	while [ ! -s $T/jco-serve.port ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
	jport=$(head -n 1 $T/jco-serve.port)
	curl -s -m 20 "http://127.0.0.1:$jport/api/time" > $T/jco-serve.json
	check "the image's component answers GET /api/time under jco serve" valid_json $T/jco-serve.json
	kill $jpid 2>/dev/null
	wait $jpid 2>/dev/null
else
	tail -n 20 $T/build-component.log
	no "Dockerfile.wasm --target component builds"
fi

# ---- Kubernetes, with podman kube play ----------------------------------
# Templated for the local image and a port: one replica (each would bind
# the same host port here) published on 127.0.0.1 only.
kport=$(free_port)
sed -e "s|image: moscow-time:latest|image: $TAG|" -e 's/replicas: 3/replicas: 1/' \
    -e "s|containerPort: 8080|containerPort: 8080\n              hostIP: 127.0.0.1\n              hostPort: $kport|" \
    deploy/kubernetes.yaml > $T/kube.yaml
if $P kube play $T/kube.yaml > $T/kube.log 2>&1; then
	ok "podman kube play deploy/kubernetes.yaml starts the Deployment"
	check "the pod answers /api/time on 127.0.0.1:$kport" wait_http $kport /api/time
	ctr=$($P ps --format '{{.Names}}' | grep '^moscow-time-pod-0-' | head -n 1)
	got=$($P inspect "$ctr" --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.HostConfig.SecurityOpt}}' 2>/dev/null)
	check "kube play applied readOnlyRootFilesystem, runAsUser 65532 and no privilege escalation ($got)" \
	    sh -c "echo '$got' | grep -q '^true 65532:65532 .*no-new-privileges'"
	if $P kube down $T/kube.yaml > $T/kube-down.log 2>&1 && ! $P pod exists moscow-time-pod-0; then
		ok "podman kube down removes it"
	else
		no "podman kube down removes it"
	fi
else
	cat $T/kube.log
	no "podman kube play deploy/kubernetes.yaml starts the Deployment"
fi
# what kube play does not apply, checked in the file
for f in 'runAsNonRoot: true' 'allowPrivilegeEscalation: false' 'drop: \["ALL"\]' \
    'type: RuntimeDefault' 'replicas: 3' 'readinessProbe:' 'livenessProbe:' \
    'kind: Service' 'kind: PodDisruptionBudget' 'path: /api/time'; do
	check "deploy/kubernetes.yaml has $f" grep -q "$f" deploy/kubernetes.yaml
done
check "deploy/spinkube.yaml is a SpinApp for the module" sh -c \
    "grep -q 'kind: SpinApp' deploy/spinkube.yaml && grep -q 'executor: containerd-shim-spin' deploy/spinkube.yaml"
done_
