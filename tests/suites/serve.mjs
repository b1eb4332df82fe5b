// Integration tests for serve: every test starts its own serve on
// 127.0.0.1 with -p 0, talks to it over raw sockets, and stops it by PID.
// Every loop that sends requests is bounded in count and in time.
//
//   node tests/suites/serve.mjs [SERVE]        (default ./serve)
//
// Prints "ok - ..." or "FAIL - ..." per test; exits 1 if any failed.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, constants as fsc, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { printedPort } from "../lib/port.mjs";
import { drain } from "../lib/fifo.mjs";
import { assert, eq, exchange, get, one, parseResponses } from "../lib/http.mjs";
import { setTimeout as sleep } from "node:timers/promises";

const SERVE = process.argv[2] || "./serve";
const TESTCGI = "tests/fixtures/testcgi";
const started = [];

// ---- processes -----------------------------------------------------------

function startServe(args, { env = {}, program = TESTCGI, cmd = null } = {}) {
  const argv = cmd || [SERVE, "-b", "127.0.0.1", "-p", "0", ...args, ...(program ? [program] : [])];
  const proc = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
  started.push(proc);
  let err = Buffer.alloc(0);
  proc.stderr.on("data", (d) => { err = Buffer.concat([err, d]); });
  const exited = new Promise((resolve) => {
    proc.on("exit", (code, sig) => resolve({ code, sig }));
    proc.on("error", () => resolve({ code: null, sig: null }));
  });
  const port = printedPort(proc, "serve", { ms: 5000, detail: () => `: ${err}` });
  return {
    proc, port, exited,
    log: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}

// Processes whose parent is pid, from /proc.
function children(pid) {
  const kids = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, "latin1");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      if (Number(f[1]) === pid) kids.push({ pid: Number(d), state: f[0] });
    } catch { /* gone */ }
  }
  return kids;
}

// Processes running the test CGI, anywhere.
function testcgiProcs() {
  const found = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/exe`).endsWith("/tests/fixtures/testcgi")) found.push(Number(d));
    } catch { /* gone or not ours */ }
  }
  return found;
}

function envOf(body) {
  const env = new Map(), fds = [], args = [];
  let bodyLen = -1;
  for (const l of body.toString("latin1").split("\n")) {
    if (l.startsWith("ENV ")) { const i = l.indexOf("="); env.set(l.slice(4, i), l.slice(i + 1)); }
    if (l.startsWith("FD ")) fds.push(Number(l.slice(3)));
    if (l.startsWith("ARG ")) args.push(l.slice(4));
    if (l.startsWith("BODY ")) bodyLen = Number(l.slice(5));
  }
  return { env, fds, args, bodyLen };
}

// ---- the tests -----------------------------------------------------------

const tests = [];
function test(name, fn) { tests.push({ name, fn }); }

// One shared serve for the stateless probes.
let shared;

// RFC 9112 probes (cgi-hosts.md 2g), each with the strict answer.
const probes = [
  ["CL with TE", "POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400],
  ["two different CLs", "POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400],
  ["two equal CLs", "POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400],
  ["signed CL", "POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 400],
  ["non-decimal CL", "POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc", 400],
  ["TE xchunked", "POST /env HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501],
  ["TE chunked, identity", "POST /env HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501],
  ["TE gzip", "POST /env HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501],
  ["TE on HTTP/1.0", "POST /env HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
  ["obs-fold", "GET /env HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n", 400],
  ["space before colon", "GET /env HTTP/1.1\r\nHost : x\r\n\r\n", 400],
  ["bare LF", "GET /env HTTP/1.1\nHost: x\n\n", 400],
  ["NUL in a header", "GET /env HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400],
  ["CR inside a header value", "GET /env HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400],
  ["no Host on 1.1", "GET /env HTTP/1.1\r\n\r\n", 400],
  ["two Hosts", "GET /env HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
  ["Host with a slash", "GET /env HTTP/1.1\r\nHost: a/b\r\n\r\n", 400],
  ["Host <x>", "GET /env HTTP/1.1\r\nHost: <x>\r\n\r\n", 400],
  ["Host x:abc", "GET /env HTTP/1.1\r\nHost: x:abc\r\n\r\n", 400],
  ["Host [::1", "GET /env HTTP/1.1\r\nHost: [::1\r\n\r\n", 400],
  ["Host a\"b", "GET /env HTTP/1.1\r\nHost: a\"b\r\n\r\n", 400],
  ["Host x:1:2", "GET /env HTTP/1.1\r\nHost: x:1:2\r\n\r\n", 400],
  ["Host h\\xe9", Buffer.from("GET /env HTTP/1.1\r\nHost: h\xe9\r\n\r\n", "latin1"), 400],
  ["empty Host on 1.1", "GET /env HTTP/1.1\r\nHost:\r\n\r\n", 400],
  ["Host [zz]", "GET /env HTTP/1.1\r\nHost: [zz]\r\n\r\n", 400],
  ["absolute-form with userinfo", "GET http://u@h/env HTTP/1.1\r\nHost: h\r\n\r\n", 400],
  ["HTTP/0.9", "GET /env\r\n\r\n", 400],
  ["HTTP/2.0", "GET /env HTTP/2.0\r\nHost: x\r\n\r\n", 505],
  ["HTTP/1.2", "GET /env HTTP/1.2\r\nHost: x\r\n\r\n", 505],
  ["HTTX/1.1", "GET /env HTTX/1.1\r\nHost: x\r\n\r\n", 400],
  ["lowercase method", "get /env HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["two spaces in the request line", "GET  /env HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["target not starting with /", "GET env HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["fragment in the target", "GET /env#x HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["../ above the root", "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["%2e%2e above the root", "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["%00 in the path", "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["%0d%0a in the path", "GET /a%0d%0aSet-Cookie:%20x=1 HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["malformed escape", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["raw control byte in the target", "GET /a\x1bb HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["target of 4097 bytes", `GET /${"a".repeat(4096)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
  ["request line of 9000 bytes", `GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
  ["target of 64 KiB", `GET /${"a".repeat(65536)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
  ["a 64 KiB field", `GET /env HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(65536)}\r\n\r\n`, 431],
  ["1000 fields", `GET /env HTTP/1.1\r\nHost: x\r\n${"X-F: 1\r\n".repeat(1000)}\r\n`, 431],
  ["head over 8 KiB", `GET /env HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(8200)}\r\n\r\n`, 431],
  ["101 fields", `GET /env HTTP/1.1\r\nHost: x\r\n${"X-F: 1\r\n".repeat(100)}\r\n`, 431],
  ["body over 1 MiB", `POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * 1024 + 1}\r\n\r\n`, 413],
  ["Expect other than 100-continue", "GET /env HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417],
  ["malformed chunk size", "POST /env HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400],
  ["OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 204],
  ["* with GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400],
];
for (const [name, bytes, want] of probes) {
  test(`probe: ${name} -> ${want}`, async () => {
    const r = await one(await shared.port, bytes);
    eq(r.status, want, "status");
    if (want >= 400) {
      assert(r.closed, "the connection stays open after an error");
      eq(r.h("connection"), "close", "Connection header");
    }
  });
}

test("the edges: a target of 4096 bytes, 100 fields, 1 MiB body pass", async () => {
  const port = await shared.port;
  let r = await one(port, get(`/${"a".repeat(4095)}`));
  eq(r.status, 404, "4096-byte target (testcgi answers 404)");
  r = await one(port, `GET /env HTTP/1.1\r\nHost: x\r\n${"X-F: 1\r\n".repeat(98)}Connection: close\r\n\r\n`);
  eq(r.status, 200, "100 fields");
  const body = Buffer.alloc(1024 * 1024, "z");
  r = await one(port, Buffer.concat([Buffer.from(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]), { timeout: 10000 });
  eq(r.status, 200, "1 MiB body");
  assert(r.body.equals(body), "the body came back changed");
});

test("a head of exactly 8192 bytes passes, 8193 does not", async () => {
  const port = await shared.port;
  const base = "GET /env HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: \r\n\r\n";
  const pad = (n) => base.replace("X-Pad: ", `X-Pad: ${"p".repeat(n - base.length)}`);
  eq(pad(8192).length, 8192, "test setup");
  eq((await one(port, pad(8192))).status, 200, "8192-byte head");
  eq((await one(port, pad(8193))).status, 431, "8193-byte head");
});

test("absolute-form target: its authority is the host", async () => {
  const r = await one(await shared.port, "GET http://example.test:81/env?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n");
  eq(r.status, 200, "status");
  const { env } = envOf(r.body);
  eq(env.get("SERVER_NAME"), "example.test", "SERVER_NAME");
  eq(env.get("PATH_INFO"), "/env", "PATH_INFO");
  eq(env.get("QUERY_STRING"), "q=1", "QUERY_STRING");
});

test("the CGI environment is built from scratch (RFC 3875 4.1)", async () => {
  const r = await one(await shared.port, get("/a/../x/./../env?x=1&y=a%20b", "User-Agent: () { :; }; echo vulnerable\r\n"));
  eq(r.status, 200, "status");
  const { env, args, fds } = envOf(r.body);
  const want = {
    GATEWAY_INTERFACE: "CGI/1.1", SERVER_PROTOCOL: "HTTP/1.1", REQUEST_METHOD: "GET",
    SCRIPT_NAME: "", PATH_INFO: "/env", QUERY_STRING: "x=1&y=a%20b", REMOTE_ADDR: "127.0.0.1",
    SERVER_NAME: "127.0.0.1", REQUEST_URI: "/a/../x/./../env?x=1&y=a%20b", X_MATCHED_ROUTE: "/...",
    X_RAW_PATH_INFO: "/a/../x/./../env", X_FULL_URL: "http://127.0.0.1/a/../x/./../env?x=1&y=a%20b",
    HTTP_HOST: "127.0.0.1", HTTP_USER_AGENT: "() { :; }; echo vulnerable",
  };
  for (const [k, v] of Object.entries(want)) eq(env.get(k), v, k);
  assert(/^moscow-time-serve\//.test(env.get("SERVER_SOFTWARE")), "SERVER_SOFTWARE");
  eq(env.get("SERVER_PORT"), String(await shared.port), "SERVER_PORT");
  assert(/^\d+$/.test(env.get("REMOTE_PORT")), "REMOTE_PORT");
  for (const k of ["PATH", "HOME", "CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_CONNECTION", "SERVE_SECRET"]) {
    assert(!env.has(k), `${k} must not be set`);
  }
  eq(args.length, 1, "argv from the query");
  eq(fds.join(","), "0,1,2", "descriptors the CGI inherited");
});

test("QUERY_STRING is set and empty without a query", async () => {
  const { env } = envOf((await one(await shared.port, get("/env"))).body);
  eq(env.get("QUERY_STRING"), "", "QUERY_STRING");
  eq(env.get("PATH_INFO"), "/env", "PATH_INFO");
});

test("path: decoded once, // . .. resolved, %2F decoded", async () => {
  const port = await shared.port;
  for (const [target, want] of [["//env", "/env"], ["/x/%2e%2e/env", "/env"], ["/a%2Fb/%2e%2e/c/..//env", "/a/env"],
    ["/caf%C3%A9/../env", "/env"], ["/%2525/../env", "/env"], ["/env%2F", "/env/"]]) {
    const r = await one(port, get(target));
    if (want === "/env/") { eq(r.status, 404, `${target}: status`); continue; }
    eq(r.status, 200, `${target}: status`);
    eq(envOf(r.body).env.get("PATH_INFO"), want, `${target}: PATH_INFO`);
  }
});

test("httpoxy, Authorization, odd names and repeated fields", async () => {
  const r = await one(await shared.port, get("/env",
    "Proxy: http://evil:1\r\nAuthorization: Basic eDp5\r\nProxy-Authorization: Basic eDp5\r\n" +
    "X_Test: u\r\nContent_Length: 99\r\nFoo.Bar: d\r\nX-Test: a\r\nx-test: b\r\nContent-Type: text/evil\r\n" +
    "Keep-Alive: 5\r\nTE: trailers\r\nUpgrade: h2c\r\nX-Empty:\r\n"));
  const { env } = envOf(r.body);
  for (const k of ["HTTP_PROXY", "HTTP_AUTHORIZATION", "HTTP_PROXY_AUTHORIZATION", "HTTP_CONTENT_LENGTH",
    "HTTP_FOO_BAR", "HTTP_CONTENT_TYPE", "HTTP_KEEP_ALIVE", "HTTP_TE", "HTTP_UPGRADE", "CONTENT_TYPE", "HTTP_CONNECTION"]) {
    assert(!env.has(k), `${k} must not reach the CGI`);
  }
  eq(env.get("HTTP_X_TEST"), "a, b", "HTTP_X_TEST");
  eq(env.get("HTTP_X_EMPTY"), "", "HTTP_X_EMPTY");
  const names = r.body.toString("latin1").split("\n").filter((l) => l.startsWith("ENV HTTP_X_TEST="));
  eq(names.length, 1, "HTTP_X_TEST entries");
});

test("request bodies: Content-Length and de-chunked, with CONTENT_LENGTH", async () => {
  const port = await shared.port;
  let r = await one(port, "POST /env HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world");
  let e = envOf(r.body);
  eq(e.env.get("CONTENT_LENGTH"), "11", "CONTENT_LENGTH");
  eq(e.env.get("CONTENT_TYPE"), "text/plain", "CONTENT_TYPE");
  eq(e.bodyLen, 11, "bytes the CGI read");
  r = await one(port, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  eq(r.status, 200, "chunked status");
  eq(r.body.toString(), "hello world", "de-chunked body");
  r = await one(port, "POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  e = envOf(r.body);
  assert(!e.env.has("CONTENT_LENGTH"), "CONTENT_LENGTH for an empty body");
  r = await one(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    { until: (b) => b.includes("100 Continue") });
  eq(r.status, 100, "interim 100 Continue before the body is sent");
});

test("a body the CGI never reads does not block serve", async () => {
  const body = Buffer.alloc(900 * 1024, "q");
  const r = await one(await shared.port, Buffer.concat([Buffer.from(`POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]), { timeout: 8000 });
  eq(r.status, 200, "status");
  eq(r.body.toString(), "not read\n", "body");
});

// CGI output -> HTTP (cgi-hosts.md 2f)
const outputs = [
  ["/status404", 404, (r) => eq(r.body.toString(), "nope\n", "body")],
  ["/crlf", 201, (r) => { eq(r.reason, "Created", "reason"); eq(r.body.toString(), "crlf-ok\n", "body"); }],
  ["/lf", 200, (r) => eq(r.h("content-length"), "6", "Content-Length")],
  ["/location", 302, (r) => eq(r.h("location"), "http://example.invalid/x", "Location")],
  ["/location-local", 302, (r) => eq(r.h("location"), "/elsewhere", "Location")],
  ["/redirect-doc", 301, (r) => assert(r.body.toString().includes("moved"), "body")],
  ["/204", 204, (r) => { eq(r.body.length, 0, "body"); assert(r.h("content-length") === undefined, "Content-Length on 204"); }],
  ["/noct", 502, null],
  ["/cl", 200, (r) => { eq(r.h("content-length"), "6", "Content-Length"); eq(r.body.toString(), "abcdef", "body"); }],
  ["/hop", 200, (r) => { eq(r.body.toString(), "raw\n", "body"); assert(r.h("keep-alive") === undefined && r.h("transfer-encoding") === undefined, "hop-by-hop passed"); }],
  ["/garbage", 502, null],
  ["/noblank", 502, null],
  ["/empty", 502, null],
  ["/statusbad", 502, null],
  ["/status99", 502, null],
  ["/inject", 502, (r) => assert(r.h("set-cookie") === undefined, "injected header")],
  ["/nul", 502, (r) => assert(r.h("set-cookie") === undefined, "injected header")],
  ["/spacecolon", 502, null],
  ["/crash", 502, null],
  ["/cookies", 200, (r) => eq((r.headers.get("set-cookie") || []).join("|"), "a=1|b=2", "Set-Cookie")],
  ["/stderr", 200, (r) => eq(r.body.toString(), "ok\n", "body")],
];
for (const [path, want, more] of outputs) {
  test(`CGI output ${path} -> ${want}`, async () => {
    const r = await one(await shared.port, get(path));
    eq(r.status, want, "status");
    if (want === 502) assert(!r.body.toString().includes("body"), "502 forwarded CGI output");
    if (more) more(r);
  });
}

test("a CGI header block over 8 KiB is a 502", async () => {
  const r = await one(await shared.port, get("/hugehead"));
  eq(r.status, 502, "status");
  assert(r.h("x-huge") === undefined, "forwarded");
});

test("a CGI header block of 64 fields passes, 65 is a 502", async () => {
  eq((await one(await shared.port, get("/fields64"))).status, 200, "64 fields");
  eq((await one(await shared.port, get("/fields65"))).status, 502, "65 fields");
});

// the limit, read from the source, so that a change there is tested here
const REQS_PER_CONN = Number(/^#define\s+REQS_PER_CONN\s+(\d+)/m.exec(readFileSync("serve.c", "latin1"))[1]);
test(`a connection closes after REQS_PER_CONN (${REQS_PER_CONN}) requests`, async () => {
  const x = await exchange(await shared.port, "GET /lf HTTP/1.1\r\nHost: x\r\n\r\n".repeat(REQS_PER_CONN + 1), { timeout: 30000 });
  const rs = parseResponses(x.buf);
  eq(rs.length, REQS_PER_CONN, "answers");
  eq(rs[REQS_PER_CONN - 1].h("connection"), "close", "the last says close");
  eq(rs[REQS_PER_CONN - 2].h("connection"), undefined, "the one before keeps the connection");
  assert(x.closed, `still open after ${REQS_PER_CONN}`);
});

test("a long body streams: chunked on 1.1, close-delimited on 1.0", async () => {
  const port = await shared.port;
  let r = await one(port, get("/big"), { timeout: 8000 });
  eq(r.h("transfer-encoding"), "chunked", "Transfer-Encoding");
  eq(r.body.length, 200 * 1024, "body length");
  assert(r.body.subarray(0, 26).toString() === "abcdefghijklmnopqrstuvwxyz", "body bytes");
  r = await one(port, "GET /big HTTP/1.0\r\n\r\n", { timeout: 8000 });
  eq(r.version, "0", "version");
  assert(r.h("transfer-encoding") === undefined && r.h("content-length") === undefined, "framing on 1.0");
  eq(r.body.length, 200 * 1024, "1.0 body length");
  assert(r.closed, "1.0 closes");
});

test("HEAD through serve: GET's headers and Content-Length, no body", async () => {
  const s = startServe(["-q"], { program: "./cgi" });
  try {
    const port = await s.port;
    for (const path of ["/", "/api/time", "/nope"]) {
      const g = await one(port, get(path));
      const h = await one(port, `HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { heads: [true] });
      eq(h.status, g.status, `${path} status`);
      eq(h.h("content-length"), g.h("content-length"), `${path} Content-Length`);
      eq(h.h("content-length"), String(g.body.length), `${path} Content-Length vs GET body`);
      const x = await exchange(port, `HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert(x.buf.toString("latin1").endsWith("\r\n\r\n"), `${path}: HEAD has a body`);
    }
  } finally { await s.stop(); }
});

test("the app behind serve: / and /api/time, WAGI variables", async () => {
  const s = startServe(["-q"], { program: "./cgi" });
  try {
    const port = await s.port;
    let r = await one(port, get("/api/time"));
    eq(r.status, 200, "status");
    assert(/^\{"moscow_time":"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d MSK","timestamp":\d+\}\n$/.test(r.body.toString()), "API body");
    r = await one(port, get("/api/%74ime"));
    eq(r.status, 200, "X_RAW_PATH_INFO is decoded once by the cgi");
    r = await one(port, get("/api//time"));
    eq(r.status, 404, "a raw // reaches the cgi as under Spin");
    r = await one(port, get("/"));
    assert(r.body.toString().includes('<a href="/api/time">'), "page links at the root");
  } finally { await s.stop(); }
});

test("keep-alive, pipelining in order, Connection: close, HTTP/1.0", async () => {
  const port = await shared.port;
  const a = "GET /lf HTTP/1.1\r\nHost: x\r\n\r\n";
  const b = "GET /status404 HTTP/1.1\r\nHost: x\r\n\r\n";
  const c = "GET /crlf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  let x = await exchange(port, a + b + c);
  let rs = parseResponses(x.buf);
  eq(rs.map((r) => r.status).join(","), "200,404,201", "pipelined answers in order");
  assert(x.closed, "Connection: close honoured");
  eq(rs[0].h("connection"), undefined, "keep-alive answer has no Connection");
  x = await exchange(port, [[a, 0], [b, 300], [c, 300]]);
  rs = parseResponses(x.buf);
  eq(rs.length, 3, "three answers on one connection");
  x = await exchange(port, "GET /lf HTTP/1.0\r\n\r\n");
  rs = parseResponses(x.buf);
  eq(rs[0].version, "0", "HTTP/1.0 answer");
  assert(x.closed, "HTTP/1.0 closes");
  x = await exchange(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /lf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  rs = parseResponses(x.buf);
  eq(rs.map((r) => r.status).join(","), "200,200", "a request right after a body");
  eq(rs[0].body.toString(), "abc", "first body");
});

test("idle keep-alive connections close after 5 s", async () => {
  const x = await exchange(await shared.port, "GET /lf HTTP/1.1\r\nHost: x\r\n\r\n", { timeout: 9000 });
  assert(x.closed, "still open");
  assert(x.ms >= 4500 && x.ms < 8000, `closed after ${x.ms} ms`);
});

test("slowloris: drip-fed heads get 408 at the -T deadline, others are served", async () => {
  const s = startServe(["-q", "-T", "2", "-c", "32"]);
  try {
    const port = await s.port;
    const drip = [["GET /env HTTP/1.1\r\n", 0]];
    for (let i = 0; i < 12; i++) drip.push([`X-Drip-${i}: 1\r\n`, 400]);
    const slow = Array.from({ length: 10 }, () => exchange(port, drip, { timeout: 8000 }));
    await sleep(500);
    for (let i = 0; i < 5; i++) {
      const r = await one(port, get("/lf"));
      eq(r.status, 200, "a normal request meanwhile");
    }
    for (const x of await Promise.all(slow)) {
      assert(x.closed, "a slow connection was left open");
      assert(x.ms >= 1900 && x.ms < 4000, `closed after ${x.ms} ms, not at the 2 s deadline`);
      eq(parseResponses(x.buf)[0].status, 408, "status");
    }
  } finally { await s.stop(); }
});

test("-c: more concurrent requests than the cap are all served, children never above it", async () => {
  const s = startServe(["-q", "-c", "3"]);
  try {
    const port = await s.port;
    let most = 0, sampling = true;
    const sampler = (async () => {
      for (let i = 0; i < 400 && sampling; i++) {
        most = Math.max(most, children(s.proc.pid).length);
        await sleep(10);
      }
    })();
    const rs = await Promise.all(Array.from({ length: 9 }, () => one(port, get("/slow"), { timeout: 15000 })));
    sampling = false;
    await sampler;
    eq(rs.filter((r) => r.status === 200).length, 9, "answered with 200");
    assert(most >= 2 && most <= 3, `children peaked at ${most}, cap 3`);
  } finally { await s.stop(); }
});

test("a hung CGI: 504 at -t, its process group gone", async () => {
  const s = startServe(["-q", "-t", "2"]);
  try {
    const port = await s.port;
    for (const path of ["/sleep", "/doublefork"]) {
      const r = await one(port, get(path), { timeout: 10000 });
      eq(r.status, 504, `${path} status`);
      assert(r.ms >= 1900 && r.ms < 4000, `${path} answered after ${r.ms} ms`);
      await sleep(300);
      eq(testcgiProcs().length, 0, `${path}: CGI processes left`);
    }
  } finally { await s.stop(); }
});

// Going away is a reset or a failed write: a client that only half-closes
// still gets its answer (see "half-close" below).
test("a client that resets mid-request costs nothing", async () => {
  const port = await shared.port;
  const x = await exchange(port, get("/sleep"), { timeout: 300, reset: true });
  assert(!x.closed && x.buf.length === 0, "setup");
  await sleep(500);
  eq(testcgiProcs().length, 0, "the CGI was left running");
  const x2 = await exchange(port, get("/big"), { timeout: 5000, until: (b) => b.length > 1000 });
  assert(x2.buf.length > 1000, "setup 2");
  await sleep(300);
  eq(testcgiProcs().length, 0, "the CGI was left running after a streamed disconnect");
  eq((await one(port, get("/lf"))).status, 200, "serve still answers");
  eq(shared.proc.exitCode, null, "serve died");
});

test("SIGTERM: requests in flight complete, serve exits 0", async () => {
  const s = startServe(["-q"]);
  const port = await s.port;
  const inflight = Array.from({ length: 3 }, () => one(port, get("/slow"), { timeout: 8000 }));
  await sleep(300);
  s.proc.kill("SIGTERM");
  const rs = await Promise.all(inflight);
  eq(rs.map((r) => r.status).join(","), "200,200,200", "in-flight answers");
  const ex = await s.exited;
  eq(ex.code, 0, "exit status");
  const x = await exchange(port, get("/lf"), { timeout: 1000 });
  eq(x.buf.length, 0, "still accepting after SIGTERM");
});

test("SIGTERM closes idle keep-alive connections at once", async () => {
  const s = startServe(["-q"]);
  const port = await s.port;
  const idle = exchange(port, "GET /lf HTTP/1.1\r\nHost: x\r\n\r\n", { timeout: 8000 });
  await sleep(300);
  const t0 = Date.now();
  s.proc.kill("SIGTERM");
  const ex = await s.exited;
  eq(ex.code, 0, "exit status");
  assert(Date.now() - t0 < 2000, `exit took ${Date.now() - t0} ms`);
  assert((await idle).closed, "idle connection closed");
});

test("a supervisor in serve's process group survives serve's SIGTERM", async () => {
  const sh = spawn("sh", ["-c", `${SERVE} -q -b 127.0.0.1 -p 0 ${TESTCGI} & echo pid $!; wait; echo supervisor-alive`],
    { stdio: ["ignore", "pipe", "pipe"], env: {} });
  started.push(sh);
  let out = "";
  sh.stdout.on("data", (d) => { out += d; });
  const done = new Promise((resolve) => sh.on("exit", (code) => resolve(code)));
  for (let i = 0; i < 50 && !/\n\d+\n/.test(out); i++) await sleep(50);
  const pid = Number(/pid (\d+)/.exec(out)[1]);
  process.kill(pid, "SIGTERM");
  const code = await Promise.race([done, sleep(5000).then(() => "timeout")]);
  eq(code, 0, "supervisor exit");
  assert(out.includes("supervisor-alive"), "the supervisor was killed");
});

test("thousands of requests: no zombie, no leaked descriptor", async () => {
  const s = startServe(["-q"]);
  try {
    const port = await s.port;
    const fds = () => readdirSync(`/proc/${s.proc.pid}/fd`).length;
    await one(port, get("/lf"));
    await sleep(100);
    const before = fds();
    // 20 connections x 100 keep-alive requests, 5 at a time
    const req = "GET /lf HTTP/1.1\r\nHost: x\r\n\r\n";
    for (let round = 0; round < 4; round++) {
      const batch = Array.from({ length: 5 }, () => exchange(port, req.repeat(99) +
        "GET /lf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeout: 20000 }));
      for (const x of await Promise.all(batch)) eq(parseResponses(x.buf).length, 100, "answers per connection");
    }
    await sleep(300);
    eq(fds(), before, "serve's descriptors");
    const zombies = children(s.proc.pid).filter((k) => k.state === "Z");
    eq(zombies.length, 0, "zombies");
    eq(testcgiProcs().length, 0, "CGI processes left");
  } finally { await s.stop(); }
});

test("as PID 1, serve reaps orphans", async () => {
  // --kill-child: serve, PID 1 inside, dies with unshare even on SIGKILL
  const s = startServe([], { cmd: ["unshare", "--fork", "--pid", "--mount-proc", "--kill-child",
    SERVE, "-q", "-b", "127.0.0.1", "-p", "0", TESTCGI] });
  let pid1 = 0;
  try {
    const port = await s.port;
    pid1 = children(s.proc.pid)[0].pid;
    for (let i = 0; i < 3; i++) eq((await one(port, get("/orphan"))).status, 200, "status");
    await sleep(1000);
    const kids = children(pid1);
    eq(kids.filter((k) => k.state === "Z").length, 0, `zombies under PID 1 (${JSON.stringify(kids)})`);
  } finally {
    await s.stop();
    if (pid1) try { process.kill(pid1, "SIGKILL"); } catch { /* gone already */ }
  }
});

test("out of descriptors: accept pauses instead of spinning", async () => {
  // 0-2, /dev/null and the listener: no descriptor left for a connection
  const s = startServe([], { cmd: ["prlimit", "--nofile=5:5", SERVE, "-q", "-b", "127.0.0.1", "-p", "0", TESTCGI] });
  try {
    const port = await s.port;
    const cpu = () => { const f = readFileSync(`/proc/${s.proc.pid}/stat`, "latin1").split(") ")[1].split(" "); return Number(f[11]) + Number(f[12]); };
    const conns = Array.from({ length: 3 }, () => exchange(port, get("/lf"), { timeout: 2500 }));
    await sleep(300);
    const before = cpu();
    await sleep(2000);
    const used = cpu() - before;
    await Promise.all(conns);
    assert(used < 30, `serve used ${used} ticks of CPU in 2 s while out of descriptors`);
    assert(s.log().toString().includes("pausing"), "no message about the pause");
  } finally { await s.stop(); }
});

test("the access log is CLF with control bytes escaped", async () => {
  const s = startServe([]);
  try {
    const port = await s.port;
    await one(port, "GET /a\x1b[2J\x07b HTTP/1.1\r\nHost: x\r\nUser-Agent: \x1b[31mred\r\n\r\n");
    await one(port, get("/lf"));
    await sleep(200);
    const log = s.log();
    assert(!log.includes(0x1b) && !log.includes(0x07), "raw control bytes in the log");
    const lines = log.toString("latin1").trim().split("\n");
    assert(lines.some((l) => /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/lf HTTP\/1\.1" 200 6$/.test(l)), `no CLF line: ${lines.join(" | ")}`);
    assert(lines.some((l) => l.includes("\\x1b[2J\\x07b") && / 400 /.test(l)), "the hostile line is not logged escaped");
  } finally { await s.stop(); }
});

test("a log nobody reads never stalls serve: lines are dropped, counted, and the count logged", async () => {
  // standard error a FIFO held open and never read until the end
  const dir = mkdtempSync(join(tmpdir(), "mt-log-"));
  const fifo = join(dir, "log");
  spawnSync("mkfifo", [fifo]);
  const rd = openSync(fifo, fsc.O_RDONLY | fsc.O_NONBLOCK);
  const wr = openSync(fifo, "w");
  const argv = [SERVE, "-b", "127.0.0.1", "-p", "0", TESTCGI];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", wr] });
  started.push(proc);
  closeSync(wr);
  try {
    const port = await printedPort(proc, "serve", { ms: 5000 });
    // 2,000 requests, 100 pipelined on each of 20 connections, 4 at a time:
    // about 140 KiB of log, twice what the pipe holds
    let answered = 0;
    for (let k = 0; k < 5; k++) {
      const xs = await Promise.all(Array.from({ length: 4 }, () =>
        exchange(port, "GET /lf HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100), { timeout: 20000 })));
      answered += xs.reduce((a, x) => a + parseResponses(x.buf).length, 0);
    }
    eq(answered, 2000, "answers with the log full");
    const first = drain(fifo);
    assert(first.length > 30000, `only ${first.length} bytes of log before the pipe was read`);
    eq((await one(port, get("/lf"))).status, 200, "a request once the log is read");
    await sleep(200);
    const m = /^serve: (\d+) log lines dropped \(standard error was full\)$/m.exec(drain(fifo));
    assert(m, "no count of dropped lines once the log is read");
    const kept = first.split("\n").filter((l) => / 200 /.test(l)).length;
    eq(kept + Number(m[1]), 2000, `lines written (${kept}) and dropped (${m[1]})`);
  } finally {
    proc.kill("SIGKILL");
    closeSync(rd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("-q turns the access log off", async () => {
  const s = startServe(["-q"]);
  try {
    await one(await s.port, get("/lf"));
    await sleep(100);
    eq(s.log().length, 0, "stderr");
  } finally { await s.stop(); }
});

test("inetd mode (-i): one connection on stdin and stdout", async () => {
  const p = spawn(SERVE, ["-i", "-q", TESTCGI], { stdio: ["pipe", "pipe", "pipe"], env: { REMOTE_ADDR: "192.0.2.7", REMOTE_PORT: "4242" } });
  started.push(p);
  let out = Buffer.alloc(0);
  p.stdout.on("data", (d) => { out = Buffer.concat([out, d]); });
  const code = new Promise((resolve) => p.on("exit", (c) => resolve(c)));
  p.stdin.write("GET /env HTTP/1.1\r\nHost: x\r\n\r\nGET /lf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  eq(await Promise.race([code, sleep(5000).then(() => "timeout")]), 0, "exit status");
  p.stdin.end();
  const rs = parseResponses(out);
  eq(rs.length, 2, "answers");
  const { env } = envOf(rs[0].body);
  eq(env.get("REMOTE_ADDR"), "192.0.2.7", "REMOTE_ADDR from the environment");
  eq(env.get("REMOTE_PORT"), "4242", "REMOTE_PORT from the environment");
});

test("socket activation: a listener on fd 3 with LISTEN_FDS", async () => {
  const s = startServe([], { cmd: ["tests/fixtures/activate", SERVE, "-q", TESTCGI] });
  try {
    const r = await one(await s.port, get("/env"));
    eq(r.status, 200, "status");
    const { env, fds } = envOf(r.body);
    assert(!env.has("LISTEN_FDS") && !env.has("LISTEN_PID"), "activation variables leaked");
    eq(fds.join(","), "0,1,2", "the CGI's descriptors");
  } finally { await s.stop(); }
});

test("MODE=once runs the program once, like the reference container", async () => {
  const r = spawnSync(SERVE, ["-p", "1", "./cgi"], { env: { MODE: "once" }, timeout: 5000 });
  eq(r.status, 0, "exit status");
  assert(/^\{\n  "moscow_time": "[^"]+ MSK",\n  "timestamp": \d+\n\}\n$/.test(r.stdout.toString()), `output ${r.stdout}`);
});

test("command line: -h, -V, bad options and a missing program", async () => {
  let r = spawnSync(SERVE, ["-h"], { env: {} });
  eq(r.status, 0, "-h status");
  assert(r.stdout.toString().startsWith("usage: serve"), "-h output");
  r = spawnSync(SERVE, ["-V"], { env: {} });
  assert(/^moscow-time serve \d+\.\d+\.\d+\n$/.test(r.stdout.toString()), "-V output");
  for (const args of [["-c", "0"], ["-c", "1025"], ["-C", "0"], ["-C", "65537"], ["-t", "x"], ["-T", "0"], ["-p", "65536"], ["-Z"]]) {
    r = spawnSync(SERVE, args, { env: {} });
    eq(r.status, 2, `${args.join(" ")} status`);
    assert(r.stderr.length > 0 && r.stdout.length === 0, `${args.join(" ")} message`);
  }
  r = spawnSync(SERVE, ["-b", "example.com", "-p", "0", TESTCGI], { env: {} });
  eq(r.status, 1, "-b with a name: status");
  assert(/not a numeric IPv4 or IPv6 address/.test(r.stderr.toString()), "-b with a name: message");
  r = spawnSync(SERVE, ["-p", "0", "/nonexistent/cgi"], { env: {} });
  eq(r.status, 1, "missing program status");
  assert(r.stderr.toString().includes("/nonexistent/cgi"), "missing program message");
});

// ---- the event loop: connections cost bytes, programs run only for requests

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) : 0;
}

// CPU of pid and of its reaped children (the forking serve worked in them)
function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

// Open n sockets that send nothing; resolves once all are connected.
async function idleSockets(port, n) {
  const socks = [];
  for (let i = 0; i < n; i++) {
    socks.push(await new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(s));
      s.on("error", () => {});
      setTimeout(() => reject(new Error(`idle socket ${i} did not connect`)), 3000);
    }));
  }
  return socks;
}

test("1,000 idle connections: requests from another client are answered, at under 1 KiB each", async () => {
  const s = startServe(["-q", "-T", "30"]);
  let socks = [];
  try {
    const port = await s.port;
    eq((await one(port, get("/lf"))).status, 200, "warm-up");
    const before = rssKiB(s.proc.pid);
    socks = await idleSockets(port, 1000);
    await sleep(300);
    const grew = rssKiB(s.proc.pid) - before;
    for (let i = 0; i < 20; i++) {
      const r = await one(port, get("/lf"), { timeout: 3000 });
      eq(r.status, 200, `request ${i} beside 1,000 idle connections`);
    }
    // the program copies only the descriptors it needs of serve's 1,000+
    const r = await one(port, "POST /env HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    eq(r.status, 200, "a request with a body beside 1,000 idle connections");
    const { fds, bodyLen } = envOf(r.body);
    eq(fds.join(","), "0,1,2", "descriptors the CGI inherited");
    eq(bodyLen, 5, "body bytes the CGI read");
    // the sanitizers' allocator pads every allocation: a looser bound there
    const bound = /san/.test(SERVE) ? 4096 : 1024;
    assert(grew < bound, `1,000 idle connections grew serve by ${grew} KiB`);
    eq(children(s.proc.pid).length, 0, "processes for idle connections");
  } finally {
    for (const x of socks) x.destroy();
    await s.stop();
  }
});

test("-c counts programs, not connections: idle connections leave the slot free", async () => {
  const s = startServe(["-q", "-c", "1", "-T", "30"]);
  let socks = [];
  try {
    const port = await s.port;
    socks = await idleSockets(port, 5);
    const r = await one(port, get("/lf"), { timeout: 3000 });
    eq(r.status, 200, "a request beside 5 idle connections at -c 1");
  } finally {
    for (const x of socks) x.destroy();
    await s.stop();
  }
});

test("-C: at the cap the longest-idle connection is closed for a new one", async () => {
  const s = startServe(["-q", "-C", "3", "-T", "30"]);
  let socks = [];
  try {
    const port = await s.port;
    socks = await idleSockets(port, 3);
    const closed = socks.map(() => false);
    socks.forEach((x, i) => x.on("close", () => { closed[i] = true; }));
    await sleep(200);
    const r = await one(port, get("/lf"), { timeout: 3000 });
    eq(r.status, 200, "a fourth connection at -C 3");
    await sleep(200);
    eq(closed.join(","), "true,false,false", "which idle connections were closed");
  } finally {
    for (const x of socks) x.destroy();
    await s.stop();
  }
});

test("-C: busy connections are never closed; a new one waits in the backlog", async () => {
  const s = startServe(["-q", "-C", "1"]);
  try {
    const port = await s.port;
    const busy = one(port, get("/slow"), { timeout: 5000 });
    busy.catch(() => {});
    await sleep(200);
    const t0 = Date.now();
    const r = await one(port, get("/lf"), { timeout: 5000 });
    eq(r.status, 200, "the waiting request");
    eq((await busy).status, 200, "the busy one");
    assert(Date.now() - t0 >= 500, "the second was accepted while the first was busy");
  } finally { await s.stop(); }
});

test("-C: requests accepted but not yet read are never closed for a newcomer; each is answered and logged", async () => {
  // 40 clients at once against -C 8: each sends a whole GET at connect,
  // and the slow program keeps the cap full for seconds
  const s = startServe(["-C", "8", "-c", "8"]);
  try {
    const port = await s.port;
    const all = await Promise.all(Array.from({ length: 40 }, () =>
      exchange(port, get("/slow", "Connection: close\r\n"), { timeout: 20000 })));
    const codes = all.map((x) => parseResponses(x.buf)[0]?.status ?? "none");
    eq(codes.filter((c) => c === 200).length, 40, `answers: ${codes.join(",")}`);
    await sleep(200);
    const logged = s.log().toString().split("\n").filter((l) => /"GET \/slow HTTP\/1\.1" 200 /.test(l));
    eq(logged.length, 40, "log lines for 200");
  } finally { await s.stop(); }
});

test("half-close after a complete request: the response still comes", async () => {
  const port = await shared.port;
  for (const path of ["/lf", "/slow", "/big"]) {
    const x = await new Promise((resolve) => {
      const c = net.connect(port, "127.0.0.1");
      let buf = Buffer.alloc(0);
      c.on("connect", () => c.end(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
      c.on("data", (d) => { buf = Buffer.concat([buf, d]); });
      c.on("close", () => resolve(buf));
      c.on("error", () => {});
      setTimeout(() => c.destroy(), 5000);
    });
    const rs = parseResponses(x);
    eq(rs.length, 1, `${path}: answers after shutdown(SHUT_WR)`);
    eq(rs[0].status, 200, `${path}: status`);
  }
});

test("inetd mode: end of input after a complete request is answered", async () => {
  const p = spawn(SERVE, ["-i", "-q", "./cgi"], { stdio: ["pipe", "pipe", "pipe"], env: {} });
  started.push(p);
  let out = Buffer.alloc(0);
  p.stdout.on("data", (d) => { out = Buffer.concat([out, d]); });
  const code = new Promise((resolve) => p.on("close", (c) => resolve(c)));
  p.stdin.end("GET /api/time HTTP/1.0\r\n\r\n");
  eq(await Promise.race([code, sleep(5000).then(() => "timeout")]), 0, "exit status");
  const rs = parseResponses(out);
  eq(rs.length, 1, "answers");
  eq(rs[0].status, 200, "status");
  assert(/"moscow_time"/.test(rs[0].body.toString()), "the time document");
});

test("inetd mode with the socket on fd 0, 1 and 2: no log or stderr in the stream", async () => {
  const srv = net.createServer({ pauseOnConnect: true });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const child = new Promise((resolve) => srv.once("connection", (sock) => {
    const p = spawn(SERVE, ["-i", TESTCGI], { stdio: [sock, sock, sock], env: {} });
    started.push(p);
    p.on("exit", (c) => resolve(c));
    sock.destroy();
  }));
  try {
    const x = await exchange(srv.address().port,
      "GET /stderr HTTP/1.1\r\nHost: x\r\n\r\nGET /lf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const text = x.buf.toString("latin1");
    assert(!text.includes("testcgi: to stderr"), "the program's stderr reached the client");
    assert(!/\] "GET /.test(text), "the access log reached the client");
    const rs = parseResponses(x.buf);
    eq(rs.map((r) => r.status).join(","), "200,200", "both answers, intact");
    eq(rs[1].body.toString(), "lf-ok\n", "the second body");
    eq(await Promise.race([child, sleep(5000).then(() => "timeout")]), 0, "serve -i exit status");
  } finally { srv.close(); }
});

// Read a close-delimited HTTP/1.0 response at about rate bytes a second.
function slowRead(port, request, rate, onStart) {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    let n = 0, err = null;
    const t0 = Date.now();
    c.on("connect", () => { c.write(request); onStart && onStart(); });
    c.on("data", (d) => {
      n += d.length;
      const ahead = n / rate * 1000 - (Date.now() - t0);
      if (ahead > 20) { c.pause(); setTimeout(() => c.resume(), ahead); }
    });
    c.on("error", (e) => { err = e; });
    c.on("close", () => resolve({ n, err, ms: Date.now() - t0 }));
    setTimeout(() => c.destroy(), 20000);
  });
}

test("SIGTERM mid-response: a 50 MiB answer to a slow reader is not cut", async () => {
  const s = startServe(["-q", "-t", "30"]);
  const port = await s.port;
  const got = slowRead(port, "GET /huge HTTP/1.0\r\n\r\n", 25 * 1024 * 1024,
    () => setTimeout(() => s.proc.kill("SIGTERM"), 400));
  const r = await got;
  const ex = await s.exited;
  assert(r.err === null, `the client saw ${r.err}`);
  const headLen = 100;	// a status line and a few fields: under 200 bytes
  assert(r.n >= 50 * 1024 * 1024 + headLen && r.n < 50 * 1024 * 1024 + 400, `received ${r.n} bytes`);
  eq(ex.code, 0, "serve's exit status");
});

test("-t holds while the client stalls: a program writing to a client that never reads is killed", async () => {
  const s = startServe(["-q", "-t", "2"]);
  let c;
  try {
    const port = await s.port;
    c = net.connect(port, "127.0.0.1");
    c.on("error", () => {});
    c.pause();
    c.write(get("/huge"));
    await sleep(1000);
    assert(testcgiProcs().length === 1, "setup: the program runs");
    await sleep(2500);
    eq(testcgiProcs().length, 0, "the program outlived -t 2 by 1.5 s");
  } finally {
    if (c) c.destroy();
    await s.stop();
  }
});

test("a chunked body of 1-byte chunks trickled in 300-byte writes is de-chunked in linear time", async () => {
  const s = startServe(["-q"]);
  try {
    const port = await s.port;
    const n = 262000;	// 6 raw bytes each: just under the 1.5 MiB raw cap
    const body = Buffer.from("1\r\nx\r\n".repeat(n) + "0\r\n\r\n");
    const before = cpuTicks(s.proc.pid);
    const x = await new Promise((resolve) => {
      const c = net.connect(port, "127.0.0.1");
      let buf = Buffer.alloc(0);
      c.setNoDelay(true);
      c.on("data", (d) => { buf = Buffer.concat([buf, d]); });
      c.on("close", () => resolve(buf));
      c.on("error", () => {});
      c.on("connect", async () => {
        c.write("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        // paced, so that serve reads a few hundred bytes at a time
        for (let i = 0, k = 0; i < body.length; i += 300, k++) {
          c.write(body.subarray(i, i + 300));
          if (k % 2) await sleep(1);
        }
      });
      setTimeout(() => c.destroy(), 30000);
    });
    await sleep(200);	// reaped, so children's time is counted
    const used = cpuTicks(s.proc.pid) - before;
    const r = parseResponses(x)[0];
    eq(r.status, 200, "status");
    eq(r.body.length, n, "de-chunked length");
    console.log(`# serve used ${used} ticks of CPU for 1.5 MiB of 1-byte chunks`);
    assert(used < 60, `serve used ${used} ticks of CPU for 1.5 MiB of chunks (quadratic: 178)`);
  } finally { await s.stop(); }
});

// Send request (and extra bytes), read nothing for delay ms, then all of it.
function lateReader(port, parts, delay) {
  return new Promise((resolve) => {
    const c = net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0), err = null;
    c.pause();
    c.on("connect", async () => {
      for (const [bytes, wait] of parts) {
        if (wait) await sleep(wait);
        if (!c.destroyed) c.write(bytes);
      }
      setTimeout(() => c.resume(), delay);
    });
    c.on("data", (d) => { buf = Buffer.concat([buf, d]); });
    c.on("error", (e) => { err = e; });
    c.on("close", () => resolve({ buf, err }));
    setTimeout(() => c.destroy(), 8000);
  });
}

test("lingering close: unread input after Connection: close does not reset the response", async () => {
  const port = await shared.port;
  // the two bytes come after serve has read the request: unread at close
  const x = await lateReader(port, [["GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 0], ["XY", 50]], 500);
  assert(x.err === null, `the client saw ${x.err && x.err.code}`);
  const r = parseResponses(x.buf)[0];
  eq(r.body.length, 200 * 1024, "body bytes received");
});

test("lingering close: serve's own 413 reaches a client still sending its body", async () => {
  const port = await shared.port;
  const chunk = Buffer.alloc(64 * 1024, "b");
  const parts = [[`POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`, 0]];
  for (let i = 0; i < 16; i++) parts.push([chunk, 10]);
  const x = await lateReader(port, parts, 300);
  assert(x.err === null, `the client saw ${x.err && x.err.code}`);
  eq(parseResponses(x.buf)[0].status, 413, "status");
});

test("orphans: a child that leaves the process group and holds stdout dies at -t", async () => {
  const s = startServe(["-q", "-t", "2"]);
  try {
    const port = await s.port;
    const r = await one(port, get("/setsid"), { timeout: 8000 });
    eq(r.status, 504, "status");
    assert(r.ms >= 1900 && r.ms < 4000, `answered after ${r.ms} ms`);
    await sleep(500);
    eq(testcgiProcs().length, 0, "processes left from the program");
  } finally { await s.stop(); }
});

test("orphans: when serve itself is killed, its programs die with it", async () => {
  const s = startServe(["-q"]);
  const port = await s.port;
  const x = exchange(port, get("/sleep"), { timeout: 2000 });
  await sleep(400);
  eq(testcgiProcs().length, 1, "setup: the program runs");
  s.proc.kill("SIGKILL");
  await s.exited;
  await sleep(300);
  eq(testcgiProcs().length, 0, "programs left after serve was killed");
  await x;
});

test("as PID 1: SIGTERM drains the request in flight and exits 0", async () => {
  const s = startServe([], { cmd: ["unshare", "--fork", "--pid", "--mount-proc", "--kill-child",
    SERVE, "-q", "-b", "127.0.0.1", "-p", "0", TESTCGI] });
  try {
    const port = await s.port;
    const inner = children(s.proc.pid)[0].pid;
    const slow = one(port, get("/slow"), { timeout: 8000 });
    await sleep(300);
    process.kill(inner, "SIGTERM");
    eq((await slow).status, 200, "the request in flight");
    const ex = await Promise.race([s.exited, sleep(3000).then(() => ({ code: "timeout" }))]);
    eq(ex.code, 0, "exit status");
  } finally { await s.stop(); }
});

test("a 7.5 KiB head within the limits fits the CGI's environment", async () => {
  const port = await shared.port;
  const target = `/${"a".repeat(4095 - 5)}/env`;
  eq(target.length, 4095, "setup");
  const host = "h".repeat(3400);
  const r = await one(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  eq(r.status, 200, "status");
  const { env } = envOf(r.body);
  eq(env.get("SERVER_NAME"), host, "SERVER_NAME");
  eq(env.get("REQUEST_URI"), target, "REQUEST_URI");
});

test("IPv6 without Host: SERVER_NAME and X_FULL_URL bracket the address", async () => {
  const s = startServe(["-q"], { cmd: [SERVE, "-q", "-b", "::1", "-p", "0", TESTCGI] });
  try {
    const port = await s.port;
    const x = await exchange(port, "GET /env HTTP/1.0\r\n\r\n", { host: "::1" });
    const { env } = envOf(parseResponses(x.buf)[0].body);
    eq(env.get("SERVER_NAME"), "[::1]", "SERVER_NAME");
    eq(env.get("X_FULL_URL"), "http://[::1]/env", "X_FULL_URL");
    eq(env.get("REMOTE_ADDR"), "::1", "REMOTE_ADDR (no brackets, RFC 3875 4.1.8)");
  } finally { await s.stop(); }
});

test("serve's own answers to HEAD carry no body", async () => {
  const x = await exchange(await shared.port, "HEAD /a%zz HTTP/1.1\r\nHost: x\r\n\r\n");
  const text = x.buf.toString("latin1");
  assert(/^HTTP\/1\.1 400 /.test(text), "status");
  assert(text.endsWith("\r\n\r\n"), `a body after the head: ${JSON.stringify(text.slice(text.indexOf("\r\n\r\n")))}`);
  assert(/\r\nContent-Length: \d+\r\n/.test(text), "Content-Length of the GET body");
});

test("a program's Date gives way to serve's: one Date", async () => {
  const r = await one(await shared.port, get("/date"));
  eq((r.headers.get("date") || []).length, 1, "Date fields");
  assert(!r.h("date").startsWith("Mon, 01 Jan 2001"), "the program's Date was sent");
});

test("out of descriptors for a program's pipes is serve's 503, not the program's 502", async () => {
  // 8: room for the program's pipes (musl's posix_spawn needed one more:
  // 502); 6: 0-2, /dev/null, the listener and the connection, no room
  for (const [nofile, want] of [[8, 200], [6, 503]]) {
    const s = startServe([], { cmd: ["prlimit", `--nofile=${nofile}:${nofile}`, SERVE, "-b", "127.0.0.1", "-p", "0", TESTCGI] });
    try {
      const r = await one(await s.port, get("/lf"));
      eq(r.status, want, `status at nofile=${nofile}`);
      await sleep(100);
      const log = s.log().toString();
      assert(!/cannot run/.test(log), `the program was blamed: ${log}`);
      if (want === 503) assert(/serve: pipe: /.test(log), `log: ${log}`);
    } finally { await s.stop(); }
  }
});

test("a program that cannot be executed: 502, and the log says why", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mt-serve-"));
  const prog = join(dir, "badinterp");
  writeFileSync(prog, "#!/nonexistent/interpreter\n", { mode: 0o755 });
  const s = startServe([], { program: prog });
  try {
    const r = await one(await s.port, get("/lf"));
    eq(r.status, 502, "status");
    // the line is written before the answer; under load its pipe may lag
    for (let i = 0; i < 40 && !/cannot run/.test(s.log().toString()); i++) await sleep(50);
    assert(/cannot run .*badinterp: no such file/.test(s.log().toString()), `log: ${s.log()}`);
    eq((await one(await s.port, get("/lf"))).status, 502, "serve goes on");
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("under load, a finished program gives its slot back at once, not at -t", async () => {
  // 256 keep-alive clients for 3 s against -t 1, running a static no-op:
  // a program whose output was over but whose exit serve had not yet seen
  // used to keep its slot until -t ("ran out of time"), a few times a run
  // (-q: no access log; wrk runs beside the test, which keeps reading
  // serve's stderr: a log pipe left full would stall serve itself)
  const s = startServe(["-q", "-t", "1"], { program: "tests/fixtures/noop" });
  try {
    const port = await s.port;
    const w = spawn("sh", ["-c", `ulimit -n 4096 2>/dev/null; exec wrk -t2 -c256 -d3s http://127.0.0.1:${port}/`]);
    let out = "";
    w.stdout.on("data", (d) => { out += d; });
    const timer = setTimeout(() => w.kill("SIGKILL"), 15000);
    const code = await new Promise((resolve) => { w.on("close", resolve); w.on("error", () => resolve(-1)); });
    clearTimeout(timer);
    if (code !== 0) throw new Error(`wrk exited ${code} (make deps installs wrk)`);
    assert(/Requests\/sec/.test(out), `wrk: ${out}`);
    await sleep(1500);
    const late = s.log().toString().split("\n").filter((l) => /ran out of time/.test(l));
    eq(late.length, 0, `programs held to -t: ${late.length}`);
  } finally { await s.stop(); }
});

test("LISTEN_FDS naming something that is not a listening socket: refused at once", async () => {
  const r = spawnSync("sh", ["-c", `exec 3</dev/null; LISTEN_PID=$$ LISTEN_FDS=1 exec ${SERVE} -q ${TESTCGI}`],
    { env: {}, timeout: 3000, killSignal: "SIGKILL" });
  eq(r.status, 1, "exit status");
  assert(/descriptor 3 is not a listening socket/.test(r.stderr.toString()), `stderr: ${r.stderr}`);
});

test("the startup line says where to go, unless -q", async () => {
  const s = startServe([]);
  try {
    const port = await s.port;
    await sleep(100);
    const first = s.log().toString().split("\n")[0];
    eq(first, `serve: listening on http://127.0.0.1:${port}/, running ${TESTCGI}`, "startup line");
  } finally { await s.stop(); }
});

// ---- run -----------------------------------------------------------------

// SERVE_TESTS=regex runs only the tests whose names match (for debugging)
const only = process.env.SERVE_TESTS ? new RegExp(process.env.SERVE_TESTS) : null;
let passed = 0, failed = 0;
// a sentinel and a PATH in serve's own environment, which must not reach the CGI
shared = startServe(["-q"], { env: { SERVE_SECRET: "leak", PATH: "/usr/bin:/bin" } });
try {
  for (const t of tests) {
    if (only && !only.test(t.name)) continue;
    try {
      await Promise.race([t.fn(), sleep(40000).then(() => { throw new Error("test timed out"); })]);
      passed++;
      console.log(`ok - serve: ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL - serve: ${t.name}: ${e.message}`);
    }
  }
} finally {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
}
console.log(`# serve: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
