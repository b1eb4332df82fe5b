// serve's FastCGI back end (-F, -f): a responder answering in odd shapes
// (tests/fixtures/odd-fcgi.mjs), supervision, -c, -t, SIGTERM, keep-alive
// and inetd mode, and the startup errors. Every serve binds 127.0.0.1
// with -p 0 and is stopped by its PID; every request loop is bounded in
// count and time.
//
//   node tests/suites/serve-fcgi.mjs [SERVE [CGI_FCGI]]   (./serve ./cgi.fcgi)
//
// Prints "ok - ..." or "FAIL - ..." per test; exits 1 if any failed.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { printedPort } from "../lib/port.mjs";
import { assert, eq, exchange, get, one, parseResponses } from "../lib/http.mjs";

const SERVE = process.argv[2] || "./serve";
const CGI_FCGI = process.argv[3] || "./cgi.fcgi";
const ODD = [process.execPath, "tests/fixtures/odd-fcgi.mjs"];
const DIR = mkdtempSync(join(tmpdir(), "mt-serve-fcgi-"));
const started = [];

function startServe(args, env = {}) {
  const argv = [SERVE, "-b", "127.0.0.1", "-p", "0", ...args];
  const proc = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  started.push(proc);
  let err = "";
  proc.stderr.on("data", (d) => { err += d.toString("latin1"); });
  const exited = new Promise((resolve) => proc.on("exit", (code, sig) => resolve({ code, sig })));
  const port = printedPort(proc, "serve", { ms: 10000, detail: () => `: ${err}` });
  return {
    proc, port, exited, log: () => err,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}

// The odd responder on its own, on a Unix socket path.
function startOdd(path) {
  const p = spawn(ODD[0], [...ODD.slice(1), path], { stdio: "ignore" });
  started.push(p);
  return p;
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const body = (r) => r.body.toString("latin1");
async function pidOf(port) { return Number(body(await one(port, get("/pid")))); }

const tests = [];
function test(name, fn) { tests.push({ name, fn }); }

for (const mpx of [false, true]) test(`odd shapes${mpx ? ", the responder multiplexing (FCGI_MPXS_CONNS 1)" : ""}: each is the right answer or a clean 502, 503 or 504, and serve goes on`, async () => {
  const s = startServe(["-t", "2", "-c", "4", "-F", ...ODD], mpx ? { ODD_FCGI_MPXS: "1" } : {});
  try {
    const port = await s.port;
    const shapes = [
      ["/ok", 200, "ok\n"], ["/split", 200, "ok\n"], ["/padding", 200, "ok\n"], ["/unknown", 200, "ok\n"],
      ["/stderr", 200, "ok\n"], ["/empty", 502], ["/end-first", 502], ["/wrong-id", 502],
      ["/garbage", 502], ["/close-head", 502], ["/close-body", 502], ["/overloaded", 503],
    ];
    for (const [path, status, text] of shapes) {
      const r = await one(port, get(path), { timeout: 10000 });
      eq(r.status, status, path);
      if (text !== undefined) eq(body(r), text, `${path} body`);
    }
    const big = await one(port, get("/big"), { timeout: 10000 });
    eq(big.status, 200, "/big");
    eq(big.body.length, 300000, "/big body");
    // the two that never end, at once: each 504 at -t; the responder,
    // which ignores the aborts, is then killed and started again
    const t0 = Date.now();
    const [lie, never] = await Promise.all([one(port, get("/lie"), { timeout: 10000 }), one(port, get("/never"), { timeout: 10000 })]);
    eq(lie.status, 504, "/lie");
    eq(never.status, 504, "/never");
    assert(Date.now() - t0 < 8000, "504s at -t");
    let last = null;
    for (let i = 0; i < 50 && last?.status !== 200; i++) {
      await sleep(200);
      last = await one(port, get("/ok"), { timeout: 10000 }).catch(() => null);
    }
    eq(last && body(last), "ok\n", "an answer after them all");
    assert(/serve: FastCGI stderr: A{100}/.test(s.log()), "FCGI_STDERR is not in the log");
    assert(s.proc.exitCode === null, "serve exited");
  } finally { await s.stop(); }
});

test("a responder that dies mid-request: that request 502, a restarted one answers the next, logged once", async () => {
  const s = startServe(["-q", "-F", ...ODD]);
  try {
    const port = await s.port;
    const first = await pidOf(port);
    eq((await one(port, get("/die"), { timeout: 10000 })).status, 502, "the request it died on");
    let second = first;
    for (let i = 0; i < 50 && (second === first || !second); i++) {
      await sleep(100);
      try { second = await pidOf(port); } catch { /* restarting */ }
    }
    assert(second !== first && alive(second), `the responder was not restarted (${first} ${second})`);
    eq((s.log().match(/exited with status 3; restarting it/g) || []).length, 1, "restart log lines");
  } finally { await s.stop(); }
});

test("a responder that stops answering is aborted at -t, then killed and restarted", async () => {
  const s = startServe(["-q", "-t", "1", "-F", ...ODD]);
  try {
    const port = await s.port;
    const first = await pidOf(port);
    eq((await one(port, get("/never"), { timeout: 10000 })).status, 504, "/never");
    for (let i = 0; i < 60 && alive(first); i++) await sleep(100);
    assert(!alive(first), "the silent responder still runs 6 s after -t");
    let next = 0;
    for (let i = 0; i < 50 && !next; i++) {
      try { next = await pidOf(port); } catch { await sleep(100); }
    }
    assert(next && next !== first, "no new responder answers");
  } finally { await s.stop(); }
});

for (const mpx of [false, true]) test(`-c caps the requests in flight to the responder${mpx ? ", all on one connection when it multiplexes" : ", one connection each"}`, async () => {
  const s = startServe(["-q", "-c", "2", "-F", ...ODD], mpx ? { ODD_FCGI_MPXS: "1" } : {});
  try {
    const port = await s.port;
    const rs = await Promise.all(Array.from({ length: 6 }, () => one(port, get("/slow"), { timeout: 10000 })));
    const n = rs.map((r) => Number(body(r)));
    eq(Math.max(...n), 2, `requests in flight at once: ${n}`);
    eq(Number(body(await one(port, get("/conns")))), mpx ? 1 : 2, "the responder's connections");
  } finally { await s.stop(); }
});

test("multiplexed: a client that does not read a 300,000-byte answer holds up no other request on the connection", async () => {
  const s = startServe(["-q", "-F", ...ODD], { ODD_FCGI_MPXS: "1" });
  const net = await import("node:net");
  let sock;
  try {
    const port = await s.port;
    sock = net.connect(port, "127.0.0.1");
    await new Promise((resolve, reject) => { sock.once("connect", resolve); sock.once("error", reject); });
    sock.pause();	// never reads: its answer waits in socket buffers and serve
    sock.write(get("/big"));
    await sleep(300);
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: 8 }, () => one(port, get("/ok"), { timeout: 10000 })));
    assert(rs.every((r) => r.status === 200 && body(r) === "ok\n"), "the others' answers");
    assert(Date.now() - t0 < 3000, `the others waited ${Date.now() - t0} ms`);
    eq(Number(body(await one(port, get("/conns")))), 1, "the responder's connections");
  } finally { sock?.destroy(); await s.stop(); }
});

test("cgi.fcgi behind -F: keep-alive, pipelining in order, HEAD without a body", async () => {
  const s = startServe(["-q", "-F", CGI_FCGI]);
  try {
    const port = await s.port;
    const req = (m, p) => `${m} ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const x = await exchange(port, req("GET", "/api/time") + req("HEAD", "/") + req("GET", "/nope") +
      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { timeout: 10000 });
    const rs = parseResponses(x.buf, [false, true]);
    eq(rs.map((r) => r.status).join(","), "200,200,404,200", "statuses");
    assert(/^\{"moscow_time":"[^"]+ MSK","timestamp":\d+\}$/.test(body(rs[0]).trim()), "the API's JSON");
    eq(rs[1].body.length, 0, "HEAD's body");
    eq(rs[1].h("content-length"), rs[3].h("content-length"), "HEAD's Content-Length is GET's");
    assert(x.closed, "Connection: close");
  } finally { await s.stop(); }
});

test("SIGTERM: the request in flight is answered, then the responder is stopped and serve exits 0", async () => {
  const s = startServe(["-q", "-F", ...ODD]);
  try {
    const port = await s.port;
    const pid = await pidOf(port);
    const slow = one(port, get("/slow"), { timeout: 10000 });
    await sleep(100);
    s.proc.kill("SIGTERM");
    eq((await slow).status, 200, "the request in flight");
    const { code } = await s.exited;
    eq(code, 0, "serve's exit status");
    assert(!alive(pid), "the responder outlived serve");
  } finally { await s.stop(); }
});

test("a responder that cannot run is an error at startup", async () => {
  const cases = [
    [["-F", "/nonexistent/responder"], /not an executable file/],
    [["-F", "/bin/true"], /exited at once/],
    [["-f", `unix:${join(DIR, "none.sock")}`], /cannot connect to the FastCGI responder/],
    [["-f", "127.0.0.1:1"], /cannot connect to the FastCGI responder 127\.0\.0\.1:1: Connection refused/],
    [["-f", "no-such-address"], /-f: not an address/],
  ];
  for (const [args, want] of cases) {
    const r = spawnSync(SERVE, ["-b", "127.0.0.1", "-p", "0", ...args], { timeout: 10000, encoding: "latin1" });
    assert(r.status === 1 || r.status === 2, `${args.join(" ")}: exit status ${r.status}`);
    assert(want.test(r.stderr), `${args.join(" ")}: ${JSON.stringify(r.stderr)}`);
  }
});

test("-f: a responder on a Unix socket; a kept connection it closed is replaced", async () => {
  const sock = join(DIR, "odd.sock");
  let odd = startOdd(sock);
  for (let i = 0; i < 50 && !existsSync(sock); i++) await sleep(100);
  const s = startServe(["-q", "-f", `unix:${sock}`, "/srv/app"]);
  try {
    const port = await s.port;
    const first = await pidOf(port);
    eq(first, odd.pid, "the responder's pid");
    odd.kill("SIGKILL");
    await new Promise((r) => odd.on("exit", r));
    rmSync(sock, { force: true });
    odd = startOdd(sock);
    for (let i = 0; i < 50 && !existsSync(sock); i++) await sleep(100);
    await sleep(100);
    eq(await pidOf(port), odd.pid, "the new responder answers");
  } finally {
    odd.kill("SIGKILL");
    await s.stop();
  }
});

test("a client that leaves mid-response costs the responder nothing", async () => {
  const s = startServe(["-q", "-c", "1", "-F", ...ODD]);
  try {
    const port = await s.port;
    for (let i = 0; i < 5; i++) await exchange(port, get("/big"), { timeout: 2000, until: (b) => b.length > 0 });
    eq(body(await one(port, get("/ok"), { timeout: 10000 })), "ok\n", "the next request");
  } finally { await s.stop(); }
});

test("inetd mode with -F: one connection on standard input and output", async () => {
  const p = spawn(SERVE, ["-i", "-q", "-F", CGI_FCGI], { stdio: ["pipe", "pipe", "pipe"] });
  started.push(p);
  let out = Buffer.alloc(0);
  p.stdout.on("data", (d) => { out = Buffer.concat([out, d]); });
  p.stdin.end("GET /api/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const code = await Promise.race([new Promise((r) => p.on("exit", r)), sleep(10000).then(() => "timeout")]);
  eq(code, 0, "exit status");
  const rs = parseResponses(out);
  eq(rs.length, 1, "responses");
  eq(rs[0].status, 200, "status");
});

const only = process.env.SERVE_TESTS ? new RegExp(process.env.SERVE_TESTS) : null;
let passed = 0, failed = 0;
try {
  for (const t of tests) {
    if (only && !only.test(t.name)) continue;
    try {
      await Promise.race([t.fn(), sleep(60000).then(() => { throw new Error("test timed out"); })]);
      passed++;
      console.log(`ok - serve -F: ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL - serve -F: ${t.name}: ${e.message}`);
    }
  }
} finally {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  rmSync(DIR, { recursive: true, force: true });
}
console.log(`# serve -F: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
