// cgi.fcgi under hostile peers on its own socket (issue 17), figures only:
//   1. 1,024 silent connections and 200 drip-feeding ones (a byte of a
//      request every 500 ms), each reopened 100 ms after the responder
//      closes it, while the front (4 kept connections, as nginx keeps
//      them, and one loop opening a connection per request) asks
//      GET /api/time back to back: requests sent and answered, p50, p99
//      and the longest, per kind; the responder's RSS meanwhile;
//   2. standard error a pipe nobody reads: 10,000 requests that each log
//      a line, all answered or not, and the count of lines dropped that
//      it logs once the pipe has been read.
// A benchmark, not a test: it prints figures and exits 0 unless it cannot
// run. cgi.fcgi listens on a Unix socket in a temporary directory under
// spawn-fcgi -n and is stopped by PID.
//
//   node tests/bench/fcgi-hostile.mjs [CGI.FCGI] [SECONDS]   (./cgi.fcgi, 20)
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { drain } from "../lib/fifo.mjs";

const FCGI = process.argv[2] || "./cgi.fcgi";
const SECS = Number(process.argv[3] || 20);
const SILENT = 1024, DRIP = 200, KEPT = 4, ANSWER_MS = 10000;
const DIR = mkdtempSync(join(tmpdir(), "mt-fcgi-bench-"));

// ---- records (the FastCGI 1.0 format, as tests/suites/fcgi.mjs writes them)
const rec = (type, id, c = Buffer.alloc(0)) => Buffer.concat([Buffer.from([1, type, id >> 8, id & 255, c.length >> 8, c.length & 255, 0, 0]), c]);
const pairs = (list) => Buffer.concat(list.flatMap(([k, v]) => [Buffer.from([k.length, v.length]), Buffer.from(k), Buffer.from(v)]));
const vars = [["REQUEST_METHOD", "GET"], ["SCRIPT_NAME", ""], ["PATH_INFO", "/api/time"], ["SERVER_PROTOCOL", "HTTP/1.1"]];
function request(id, keep, params = pairs(vars)) {
  return Buffer.concat([rec(1, id, Buffer.from([0, 1, keep ? 1 : 0, 0, 0, 0, 0, 0])), rec(4, id, params), rec(4, id), rec(5, id)]);
}
// parameters that end in a malformed pair: the 500, and one log line
const bad = (id) => request(id, true, Buffer.concat([pairs(vars), Buffer.from([5, 100]), Buffer.from("HELLOworld")]));
// FCGI_END_REQUEST records in buf
function ends(buf) {
  let n = 0;
  for (let i = 0; buf.length - i >= 8;) {
    const len = buf.readUInt16BE(i + 4) + buf[i + 6];
    if (buf.length - i < 8 + len) break;
    if (buf[i + 1] === 3) n++;
    i += 8 + len;
  }
  return n;
}

// ---- the responder
const procs = [];
async function start(shell = "") {
  const sock = join(DIR, `s${procs.length}.sock`);
  const argv = ["-n", "-s", sock, "-b", "1024", "--", ...(shell ? ["/bin/sh", "-c", `${shell} exec "$0"`] : []), FCGI];
  const p = spawn("spawn-fcgi", argv, { env: { PATH: process.env.PATH }, stdio: ["ignore", "ignore", "inherit"] });
  procs.push(p);
  for (let i = 0; i < 200 && p.exitCode === null; i++) {
    if (existsSync(sock) && await new Promise((r) => { const s = net.connect(sock); s.on("connect", () => { s.destroy(); r(true); }); s.on("error", () => r(false)); })) return { p, sock };
    await sleep(20);
  }
  throw new Error(`${FCGI} did not start`);
}
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
const pct = (a, q) => (a.length ? a[Math.min(a.length - 1, Math.floor(a.length * q))] : NaN);
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : "-");

// A connection that answers ask(bytes, n): resolves with ms taken once n
// more FCGI_END_REQUEST records came, or null on close or after ANSWER_MS.
function conn(sock) {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    let buf = Buffer.alloc(0), wait = null;
    const check = () => { if (wait && (ends(buf) >= wait.n || s.destroyed)) { const w = wait; wait = null; clearTimeout(w.t); w.res(ends(buf) >= w.n ? performance.now() - w.t0 : null); } };
    s.on("data", (d) => { buf = Buffer.concat([buf, d]); check(); });
    s.on("close", () => { c.closed = true; check(); });
    s.on("error", () => {});
    const c = {
      closed: false, s,
      ask(bytes, n = 1) {
        return new Promise((res) => {
          const t0 = performance.now(), target = ends(buf) + n;
          wait = { n: target, res, t0, t: setTimeout(() => { wait = null; res(null); }, ANSWER_MS) };
          s.write(bytes);
          check();
        });
      },
      close: () => s.destroy(),
    };
    s.on("connect", () => resolve(c));
    s.on("error", () => resolve(c));
  });
}

// ---- 1. hostile peers and the front
async function hostile() {
  const { p, sock } = await start();
  let running = true, opened = 0, rss = [];
  const front = [];
  for (let i = 0; i < KEPT; i++) front.push(await conn(sock));
  const attackers = new Set();
  const silent = () => {
    if (!running) return;
    const s = net.connect(sock);
    opened++;
    attackers.add(s);
    s.on("error", () => {});
    s.on("close", () => { attackers.delete(s); setTimeout(silent, 100); });
  };
  const drip = () => {
    if (!running) return;
    const s = net.connect(sock), r = request(1, true);
    let i = 0;
    opened++;
    attackers.add(s);
    const t = setInterval(() => { if (i < r.length) s.write(r.subarray(i, ++i)); }, 500);
    s.on("error", () => {});
    s.on("close", () => { clearInterval(t); attackers.delete(s); setTimeout(drip, 100); });
  };
  for (let i = 0; i < SILENT; i++) silent();
  for (let i = 0; i < DRIP; i++) drip();
  await sleep(3000);
  const sampler = setInterval(() => { try { rss.push(rssKiB(p.pid)); } catch { /* gone */ } }, 250);
  const kept = [], fresh = [];
  let keptSent = 0, freshSent = 0;
  const until = performance.now() + SECS * 1000;
  const keptLoop = async (k) => {
    for (let id = 1; performance.now() < until; id = id % 65535 + 1) {
      if (front[k].closed) front[k] = await conn(sock);
      keptSent++;
      const t = await front[k].ask(request(id, true));
      if (t !== null) kept.push(t);
    }
  };
  const freshLoop = async () => {
    while (performance.now() < until) {
      freshSent++;
      const t0 = performance.now(), c = await conn(sock);
      const t = await c.ask(request(1, false));
      c.close();
      if (t !== null) fresh.push(performance.now() - t0);
    }
  };
  await Promise.all([...front.map((_, k) => keptLoop(k)), freshLoop()]);
  clearInterval(sampler);
  running = false;
  const held = attackers.size;
  for (const s of attackers) s.destroy();
  for (const c of front) c.close();
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"))[1]);
  p.kill("SIGKILL");
  kept.sort((a, b) => a - b);
  fresh.sort((a, b) => a - b);
  console.log(`## ${FCGI}: ${SILENT} silent + ${DRIP} drip-feeding connections, reopened 100 ms after each close; the front for ${SECS} s`);
  console.log(`attack connections opened: ${opened} (${held} open at the end)`);
  console.log(`front, ${KEPT} kept connections: ${kept.length} of ${keptSent} answered; p50 ${ms(pct(kept, 0.5))}, p99 ${ms(pct(kept, 0.99))}, max ${ms(kept.at(-1))}`);
  console.log(`front, a connection per request: ${fresh.length} of ${freshSent} answered (connect included); p50 ${ms(pct(fresh, 0.5))}, p99 ${ms(pct(fresh, 0.99))}, max ${ms(fresh.at(-1))}`);
  rss.sort((a, b) => a - b);
  console.log(`responder RSS under the load: median ${pct(rss, 0.5)} KiB, max ${rss.at(-1)} KiB (VmHWM ${hwm} KiB)`);
}


// ---- 2. a log nobody reads
async function log() {
  const N = 10000, fifo = join(DIR, "stderr.fifo");
  execFileSync("mkfifo", [fifo]);
  const { p, sock } = await start(`exec 2<>'${fifo}';`);
  const cs = [];
  for (let i = 0; i < KEPT; i++) cs.push(await conn(sock));
  let answered = 0;
  const t0 = performance.now();
  await Promise.all(cs.map(async (c, k) => {
    for (let i = k; i < N; i += KEPT * 50) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 50 * KEPT); j += KEPT) batch.push(bad((j % 65535) + 1));
      const t = await c.ask(Buffer.concat(batch), batch.length);
      if (t === null) return;
      answered += batch.length;
    }
  }));
  const took = performance.now() - t0;
  const first = drain(fifo);
  const after = (await cs[0].ask(bad(1))) !== null;
  await sleep(200);
  const second = drain(fifo);
  const lines = (t) => (t.match(/^cgi: the environment is unreadable or over the limit$/gm) || []).length;
  const m = /^cgi: (\d+) log lines dropped \(standard error was full\)$/m.exec(second);
  console.log(`## ${FCGI}: standard error a pipe nobody reads`);
  console.log(`${answered} of ${N} requests answered in ${(took / 1000).toFixed(2)} s; ${lines(first)} lines were in the pipe`);
  console.log(`after the pipe was read, request ${N + 1} ${after ? "answered" : "not answered"}; logged: ${m ? JSON.stringify(m[0]) : "no count"}` +
    (m ? ` (${lines(first)} + ${m[1]} + ${lines(second)} = ${lines(first) + Number(m[1]) + lines(second)} lines for ${N + 1} requests)` : ""));
  for (const c of cs) c.close();
  p.kill("SIGKILL");
}

try {
  await hostile();
  await log();
} finally {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  rmSync(DIR, { recursive: true, force: true });
}
process.exit(0);
