// The FastCGI responder (cgi.fcgi) spoken to as a web server would: each
// test starts its own cgi.fcgi under `spawn-fcgi -n` (the listening socket
// on its standard input, as spawn-fcgi and lighttpd arrange) on a Unix
// socket in a temporary directory, or on 127.0.0.1, talks FastCGI records
// to it and stops it by PID. Every exchange is bounded in bytes and time.
//
//   node tests/suites/fcgi.mjs [CGI.FCGI]        (default ./cgi.fcgi)
//
// Prints "ok - ..." or "FAIL - ..." per test; exits 1 if any failed.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../lib/port.mjs";
import { drain } from "../lib/fifo.mjs";

const FCGI = process.argv[2] || "./cgi.fcgi";
const DIR = mkdtempSync(join(tmpdir(), "mt-fcgi-"));
// the limits, read from the source (cgi.h, fcgi.c) so a change there is tested here
const src = ["cgi.h", "fcgi.c"].map((f) => readFileSync(f, "utf8")).join("\n");
const limit = (name) => Number(Function(`return ${new RegExp(`^#define\\s+${name}\\s+([^/\\n]+)`, "m").exec(src)[1]}`)());
const ENV_BYTES_MAX = limit("ENV_BYTES_MAX"), ENV_VARS_MAX = limit("ENV_VARS_MAX");
const CONNS_MAX = limit("FCGI_CONNS_MAX"), MPX_OPEN = limit("FCGI_MPX_OPEN");

const T = { BEGIN: 1, ABORT: 2, END: 3, PARAMS: 4, STDIN: 5, STDOUT: 6, STDERR: 7, DATA: 8, GET_VALUES: 9, GET_VALUES_RESULT: 10, UNKNOWN_TYPE: 11 };

// ---- records ---------------------------------------------------------------

function rec(type, id, content = Buffer.alloc(0), pad = 0, version = 1) {
  const h = Buffer.from([version, type, id >> 8, id & 255, content.length >> 8, content.length & 255, pad, 0]);
  return Buffer.concat([h, content, Buffer.alloc(pad)]);
}
const len = (n) => (n < 128 ? Buffer.from([n]) : Buffer.from([0x80 | (n >>> 24), (n >> 16) & 255, (n >> 8) & 255, n & 255]));
function pairs(list) {
  return Buffer.concat(list.flatMap(([k, v]) => {
    const kb = Buffer.isBuffer(k) ? k : Buffer.from(k), vb = Buffer.isBuffer(v) ? v : Buffer.from(v);
    return [len(kb.length), len(vb.length), kb, vb];
  }));
}
// a stream's records: content in records of at most 65535 bytes, then the empty one
function stream(type, id, content) {
  const out = [];
  for (let i = 0; i < content.length; i += 65535) out.push(rec(type, id, content.subarray(i, i + 65535)));
  out.push(rec(type, id));
  return Buffer.concat(out);
}
const begin = (id, { keep = true, role = 1 } = {}) => rec(T.BEGIN, id, Buffer.from([role >> 8, role & 255, keep ? 1 : 0, 0, 0, 0, 0, 0]));
const cgiVars = (path, method = "GET") => [["REQUEST_METHOD", method], ["SCRIPT_NAME", ""], ["PATH_INFO", path],
  ["QUERY_STRING", ""], ["SERVER_PROTOCOL", "HTTP/1.1"], ["GATEWAY_INTERFACE", "CGI/1.1"], ["SERVER_SOFTWARE", "test"]];
function request(id, path, { keep = true, method = "GET", vars = null, body = Buffer.alloc(0) } = {}) {
  return Buffer.concat([begin(id, { keep }), stream(T.PARAMS, id, pairs(vars || cgiVars(path, method))), stream(T.STDIN, id, body)]);
}

// records in buf: [{ type, id, content }], and the bytes left over
function parse(buf) {
  const out = [];
  let i = 0;
  while (buf.length - i >= 8) {
    const n = buf.readUInt16BE(i + 4), pad = buf[i + 6];
    if (buf.length - i < 8 + n + pad) break;
    out.push({ version: buf[i], type: buf[i + 1], id: buf.readUInt16BE(i + 2), content: buf.subarray(i + 8, i + 8 + n) });
    i += 8 + n + pad;
  }
  return { recs: out, rest: buf.length - i };
}
// the responses in recs: [{ id, stdout, ended, status }] in END_REQUEST order
function responses(recs) {
  const outs = new Map(), done = [];
  for (const r of recs) {
    if (r.type === T.STDOUT) outs.set(r.id, Buffer.concat([outs.get(r.id) || Buffer.alloc(0), r.content]));
    if (r.type === T.END) {
      done.push({ id: r.id, stdout: (outs.get(r.id) || Buffer.alloc(0)).toString("latin1"),
        app: r.content.readUInt32BE(0), status: r.content[4],
        stdoutEnded: recs.some((x) => x.type === T.STDOUT && x.id === r.id && x.content.length === 0) });
      outs.delete(r.id);
    }
  }
  return done;
}

// ---- processes and connections ----------------------------------------------

const started = [];
// cgi.fcgi on a Unix socket (or on 127.0.0.1:port when tcp), env added
// shell: commands run by sh before it execs cgi.fcgi (redirections of its descriptors)
async function startFcgi({ tcp = false, env = {}, nofile = 0, shell = "" } = {}) {
  const where = tcp ? ["-a", "127.0.0.1", "-p", String(tcp)] : ["-s", join(DIR, `s${started.length}.sock`)];
  const argv = ["spawn-fcgi", "-n", ...where, "--", ...(shell ? ["/bin/sh", "-c", `${shell} exec "$0"`] : []), FCGI];
  // nofile: the descriptor limit, soft and hard, cgi.fcgi starts under
  const cmd = nofile ? ["sh", "-c", `ulimit -n ${nofile} && exec "$@"`, "sh", ...argv] : argv;
  const proc = spawn(cmd[0], cmd.slice(1), { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  started.push(proc);
  let err = "";
  proc.stderr.on("data", (d) => { err += d; });
  const exited = new Promise((r) => proc.on("exit", (code, sig) => r({ code, sig })));
  const addr = tcp ? { port: tcp, host: "127.0.0.1" } : { path: where[1] };
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) break;
    // a Unix socket's file exists from bind(2), before listen(2): connect to it
    if ((tcp || existsSync(addr.path)) && await canConnect(addr)) break;
    await sleep(20);
  }
  if (proc.exitCode !== null) throw new Error(`spawn-fcgi exited: ${err}`);
  return {
    proc, addr, exited, log: () => err,
    async stop() { if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL"); await exited; },
  };
}
function canConnect(addr) {
  return new Promise((res) => { const s = net.connect(addr); s.on("connect", () => { s.destroy(); res(true); }); s.on("error", () => res(false)); });
}

// A connection: write(bytes), until(pred, ms) waits for the records so far
// to satisfy pred (or the close, or ms), closed tells whether it closed.
function connect(addr) {
  return new Promise((resolve, reject) => {
    const s = net.connect(addr);
    let buf = Buffer.alloc(0), closed = false, waiters = [];
    const wake = () => { for (const w of waiters) w(); };
    s.on("data", (d) => { if (buf.length < 64 << 20) buf = Buffer.concat([buf, d]); wake(); });
    s.on("close", () => { closed = true; wake(); });
    s.on("error", () => {});
    s.on("connect", () => resolve({
      sock: s,
      write: (b) => new Promise((r) => s.write(b, () => r())),
      get buf() { return buf; },
      get closed() { return closed; },
      until(pred, ms = 3000) {
        return new Promise((res) => {
          const check = () => {
            const p = parse(buf);
            if (pred(p.recs) || closed) { clearTimeout(t); waiters = waiters.filter((w) => w !== check); res(p.recs); }
          };
          const t = setTimeout(() => { waiters = waiters.filter((w) => w !== check); res(parse(buf).recs); }, ms);
          waiters.push(check);
          check();
        });
      },
      close() { s.destroy(); },
    }));
    s.on("error", reject);
  });
}
const ends = (n) => (recs) => recs.filter((r) => r.type === T.END).length >= n;

// ---- the tests -------------------------------------------------------------

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
function assert(ok, what) { if (!ok) throw new Error(what); }
const statusOf = (stdout) => { const m = /^Status: (\d{3})/m.exec(stdout.split("\r\n\r\n")[0]); return m ? Number(m[1]) : 200; };
const bodyOf = (stdout) => stdout.slice(stdout.indexOf("\r\n\r\n") + 4);

test("a kept connection answers request after request: FCGI_STDOUT, its end, FCGI_END_REQUEST complete", async (f) => {
  const c = await connect(f.addr);
  const want = [["/api/time", 200], ["/", 200], ["/nope", 404]];
  for (let i = 0; i < want.length; i++) {
    await c.write(request(i + 1, want[i][0]));
    await c.until(ends(i + 1));
  }
  const rs = responses(parse(c.buf).recs);
  assert(rs.length === 3, `${rs.length} answers`);
  rs.forEach((r, i) => {
    assert(r.id === i + 1 && r.app === 0 && r.status === 0 && r.stdoutEnded, `answer ${i + 1}: ${JSON.stringify({ ...r, stdout: undefined })}`);
    assert(statusOf(r.stdout) === want[i][1], `${want[i][0]}: status ${statusOf(r.stdout)}`);
  });
  const t = JSON.parse(bodyOf(rs[0].stdout));
  assert(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d MSK$/.test(t.moscow_time) && Math.abs(t.timestamp - Date.now() / 1000) < 5, bodyOf(rs[0].stdout));
  assert(/Content-Length: (\d+)/.exec(rs[1].stdout)[1] == Buffer.byteLength(bodyOf(rs[1].stdout), "latin1"), "the page's Content-Length");
  await sleep(200);
  assert(!c.closed, "the responder closed a kept connection");
  c.close();
});

test("without FCGI_KEEP_CONN: answered, then the responder closes the connection", async (f) => {
  const c = await connect(f.addr);
  await c.write(request(1, "/api/time", { keep: false }));
  await c.until(() => false, 2000);
  assert(c.closed, "still open");
  const rs = responses(parse(c.buf).recs);
  assert(rs.length === 1 && statusOf(rs[0].stdout) === 200, JSON.stringify(rs));
});

test("a request written one byte at a time is answered once it is complete", async (f) => {
  const c = await connect(f.addr);
  const b = request(7, "/api/time");
  for (let i = 0; i < b.length; i++) {
    await c.write(b.subarray(i, i + 1));
    if (i === b.length - 2) assert(parse(c.buf).recs.length === 0, "answered before the end of FCGI_STDIN");
    await sleep(1);
  }
  const recs = await c.until(ends(1));
  const rs = responses(recs);
  assert(rs.length === 1 && rs[0].id === 7 && statusOf(rs[0].stdout) === 200, JSON.stringify(rs));
  c.close();
});

test("two requests in one write are answered in order; padding is skipped", async (f) => {
  const c = await connect(f.addr);
  const padded = Buffer.concat([begin(2), rec(T.PARAMS, 2, pairs(cgiVars("/nope")), 7), rec(T.PARAMS, 2, Buffer.alloc(0), 3), rec(T.STDIN, 2, Buffer.alloc(0), 255)]);
  await c.write(Buffer.concat([request(1, "/api/time"), padded]));
  const rs = responses(await c.until(ends(2)));
  assert(rs.length === 2 && rs[0].id === 1 && rs[1].id === 2, JSON.stringify(rs.map((r) => r.id)));
  assert(statusOf(rs[0].stdout) === 200 && statusOf(rs[1].stdout) === 404, "statuses");
  c.close();
});

test("FCGI_STDIN ending before FCGI_PARAMS: answered once both have ended", async (f) => {
  const c = await connect(f.addr);
  await c.write(Buffer.concat([begin(4), rec(T.STDIN, 4), rec(T.PARAMS, 4, pairs(cgiVars("/api/time")))]));
  assert((await c.until(ends(1), 300)).length === 0, "answered before FCGI_PARAMS ended");
  await c.write(rec(T.PARAMS, 4));
  const rs = responses(await c.until(ends(1)));
  assert(rs.length === 1 && rs[0].id === 4 && statusOf(rs[0].stdout) === 200, JSON.stringify(rs));
  c.close();
});

test("a body on FCGI_STDIN is read and dropped: POST is 405 with Allow", async (f) => {
  const c = await connect(f.addr);
  await c.write(request(1, "/api/time", { method: "POST", body: Buffer.alloc(100000, 120) }));
  const rs = responses(await c.until(ends(1)));
  assert(rs.length === 1 && statusOf(rs[0].stdout) === 405 && /^Allow: GET, HEAD, OPTIONS\r$/m.test(rs[0].stdout), JSON.stringify(rs));
  await c.write(request(2, "/api/time"));
  assert(responses(await c.until(ends(2))).length === 2, "the next request");
  c.close();
});

test("FCGI_GET_VALUES: the names asked for that it knows, and no others", async (f) => {
  const c = await connect(f.addr);
  await c.write(rec(T.GET_VALUES, 0, pairs([["FCGI_MPXS_CONNS", ""], ["FCGI_MAX_CONNS", ""], ["NOPE", ""]])));
  const recs = await c.until((r) => r.length > 0);
  assert(recs.length === 1 && recs[0].type === T.GET_VALUES_RESULT && recs[0].id === 0, JSON.stringify(recs));
  const got = {};
  const b = recs[0].content;
  for (let i = 0; i < b.length;) { const nl = b[i], vl = b[i + 1]; got[b.toString("latin1", i + 2, i + 2 + nl)] = b.toString("latin1", i + 2 + nl, i + 2 + nl + vl); i += 2 + nl + vl; }
  assert(Object.keys(got).length === 2 && got.FCGI_MAX_CONNS === String(CONNS_MAX) && got.FCGI_MPXS_CONNS === "1", JSON.stringify(got));
  c.close();
});

test("a management record of an unknown type: FCGI_UNKNOWN_TYPE naming it", async (f) => {
  const c = await connect(f.addr);
  await c.write(rec(42, 0, Buffer.from("x")));
  const recs = await c.until((r) => r.length > 0);
  assert(recs.length === 1 && recs[0].type === T.UNKNOWN_TYPE && recs[0].content[0] === 42 && recs[0].content.length === 8, JSON.stringify(recs));
  c.close();
});

test("a role other than responder: FCGI_UNKNOWN_ROLE, then closed without FCGI_KEEP_CONN", async (f) => {
  const c = await connect(f.addr);
  await c.write(Buffer.concat([begin(3, { role: 2, keep: false }), stream(T.PARAMS, 3, pairs(cgiVars("/"))), stream(T.STDIN, 3, Buffer.alloc(0))]));
  await c.until(() => false, 1500);
  const rs = responses(parse(c.buf).recs);
  assert(rs.length === 1 && rs[0].id === 3 && rs[0].status === 3 && rs[0].stdout === "", JSON.stringify(rs));
  assert(c.closed, "still open");
});

test("requests multiplexed on one connection, their records interleaved: each answered under its own id as its FCGI_STDIN ends", async (f) => {
  const c = await connect(f.addr);
  const p1 = pairs(cgiVars("/api/time")), p2 = pairs(cgiVars("/")), p3 = pairs(cgiVars("/api/time", "HEAD"));
  await c.write(Buffer.concat([begin(1), begin(2), rec(T.PARAMS, 1, p1.subarray(0, 20)), rec(T.PARAMS, 2, p2),
    rec(T.PARAMS, 1, p1.subarray(20)), begin(3), rec(T.PARAMS, 2), rec(T.PARAMS, 3, p3), rec(T.PARAMS, 3),
    rec(T.STDIN, 3), rec(T.STDIN, 2)]));
  await c.until(ends(2));
  await c.write(Buffer.concat([rec(T.PARAMS, 1), rec(T.STDIN, 1)]));
  const rs = responses(await c.until(ends(3)));
  assert(rs.map((r) => r.id).join() === "3,2,1" && rs.every((r) => r.status === 0 && r.stdoutEnded), JSON.stringify(rs.map((r) => [r.id, r.status])));
  assert(statusOf(rs[0].stdout) === 200 && /\r\n\r\n$/.test(rs[0].stdout), `HEAD: ${rs[0].stdout.slice(-40)}`);
  assert(statusOf(rs[1].stdout) === 200 && /<title>Moscow Time<\/title>/.test(rs[1].stdout), "the page");
  assert(statusOf(rs[2].stdout) === 200 && /"moscow_time"/.test(rs[2].stdout), "the JSON");
  c.close();
});

test(`FCGI_MPX_OPEN (${MPX_OPEN}) requests arriving at once on a connection: one more is FCGI_OVERLOADED, the others answered, and the connection goes on`, async (f) => {
  const c = await connect(f.addr);
  const ids = Array.from({ length: MPX_OPEN + 1 }, (_, i) => i + 1);
  await c.write(Buffer.concat(ids.map((id) => Buffer.concat([begin(id), rec(T.PARAMS, id, pairs(cgiVars("/api/time")))]))));
  await c.until(ends(1));
  await c.write(Buffer.concat(ids.map((id) => Buffer.concat([rec(T.PARAMS, id), rec(T.STDIN, id)]))));
  await c.until(ends(MPX_OPEN + 1));
  await c.write(request(MPX_OPEN + 2, "/api/time"));
  const rs = responses(await c.until(ends(MPX_OPEN + 2)));
  assert(rs[0].id === MPX_OPEN + 1 && rs[0].status === 2 && rs[0].stdout === "", `the one too many: ${JSON.stringify(rs[0])}`);
  assert(rs.slice(1).every((r) => r.status === 0 && statusOf(r.stdout) === 200) && rs.length === MPX_OPEN + 2,
    JSON.stringify(rs.map((r) => [r.id, r.status])));
  c.close();
});

test("200 requests in one write on one connection (pipelined, as serve sends them): all answered, in order", async (f) => {
  const c = await connect(f.addr);
  const n = 200;
  await c.write(Buffer.concat(Array.from({ length: n }, (_, i) => request(i + 1, "/api/time"))));
  const rs = responses(await c.until(ends(n)));
  assert(rs.length === n && rs.every((r, i) => r.id === i + 1 && statusOf(r.stdout) === 200), `${rs.length} answers`);
  c.close();
});

test("FCGI_ABORT_REQUEST mid-request: ended without output, and the next request answered", async (f) => {
  const c = await connect(f.addr);
  await c.write(Buffer.concat([begin(5), rec(T.PARAMS, 5, pairs(cgiVars("/api/time"))), rec(T.ABORT, 5)]));
  await c.until(ends(1));
  await c.write(request(6, "/api/time"));
  const rs = responses(await c.until(ends(2)));
  assert(rs.length === 2 && rs[0].id === 5 && rs[0].stdout === "" && rs[0].status === 0, JSON.stringify(rs[0]));
  assert(rs[1].id === 6 && statusOf(rs[1].stdout) === 200, JSON.stringify(rs[1]));
  c.close();
});

// parameters of exactly n bytes as the PARAMS stream carries them
function paramsOf(n, extra = [], method = "GET") {
  const base = pairs([...cgiVars("/api/time", method), ...extra]);
  const fill = n - base.length - 1 - 4 - 6;	// name 6 bytes, 1-byte name length, 4-byte value length
  return Buffer.concat([base, pairs([["X_FILL", "y".repeat(fill)]])]);
}
test(`parameters of ENV_BYTES_MAX (${ENV_BYTES_MAX}) bytes are answered; one byte more is the 500 for an environment too large`, async (f) => {
  const c = await connect(f.addr);
  const at = paramsOf(ENV_BYTES_MAX), over = paramsOf(ENV_BYTES_MAX + 1);
  assert(at.length === ENV_BYTES_MAX && over.length === ENV_BYTES_MAX + 1, "the test's own sizes");
  await c.write(Buffer.concat([begin(1), stream(T.PARAMS, 1, at), stream(T.STDIN, 1, Buffer.alloc(0))]));
  await c.until(ends(1));
  await c.write(Buffer.concat([begin(2), stream(T.PARAMS, 2, over), stream(T.STDIN, 2, Buffer.alloc(0))]));
  await c.until(ends(2));
  await c.write(request(3, "/api/time"));
  const rs = responses(await c.until(ends(3)));
  assert(rs.length === 3, `${rs.length} answers`);
  assert(statusOf(rs[0].stdout) === 200, `at the limit: ${rs[0].stdout.slice(0, 60)}`);
  assert(statusOf(rs[1].stdout) === 500 && /environment is too large/.test(rs[1].stdout), `over: ${rs[1].stdout.slice(0, 300)}`);
  assert(statusOf(rs[2].stdout) === 200, "the connection goes on");
  c.close();
});

test(`ENV_VARS_MAX (${ENV_VARS_MAX}) variables are answered; one more is the 500`, async (f) => {
  const c = await connect(f.addr);
  const n = ENV_VARS_MAX - cgiVars("/").length;
  const many = (k) => pairs([...cgiVars("/api/time"), ...Array.from({ length: k }, (_, i) => [`HTTP_X_${i}`, "1"])]);
  await c.write(Buffer.concat([begin(1), stream(T.PARAMS, 1, many(n)), stream(T.STDIN, 1, Buffer.alloc(0)),
    begin(2), stream(T.PARAMS, 2, many(n + 1)), stream(T.STDIN, 2, Buffer.alloc(0))]));
  const rs = responses(await c.until(ends(2)));
  assert(rs.length === 2 && statusOf(rs[0].stdout) === 200 && statusOf(rs[1].stdout) === 500, rs.map((r) => statusOf(r.stdout)).join(" "));
  c.close();
});

test("malformed parameters (a NUL in a value, '=' or nothing as a name, a length past the end): the 500, and the connection goes on", async (f) => {
  const c = await connect(f.addr);
  const bad = [
    pairs([...cgiVars("/api/time"), ["PATH_INFO", Buffer.from("/api/time\0x")]]),
    pairs([["PATH_INFO=/", "x"], ...cgiVars("/api/time")]),
    pairs([["", "x"], ...cgiVars("/api/time")]),
    Buffer.concat([pairs(cgiVars("/api/time")), Buffer.from([5, 100]), Buffer.from("HELLOworld")]),
  ];
  const all = bad.map((p, i) => Buffer.concat([begin(i + 1), stream(T.PARAMS, i + 1, p), stream(T.STDIN, i + 1, Buffer.alloc(0))]));
  await c.write(Buffer.concat([...all, request(9, "/api/time")]));
  const rs = responses(await c.until(ends(5)));
  assert(rs.length === 5, `${rs.length} answers`);
  rs.slice(0, 4).forEach((r, i) => assert(statusOf(r.stdout) === 500, `case ${i + 1}: ${statusOf(r.stdout)}`));
  assert(statusOf(rs[4].stdout) === 200, "the next request");
  c.close();
});

test("a record that is not FastCGI version 1: the connection is closed unanswered", async (f) => {
  const c = await connect(f.addr);
  await c.write(Buffer.concat([rec(T.BEGIN, 1, Buffer.from([0, 1, 1, 0, 0, 0, 0, 0]), 0, 2), request(1, "/api/time").subarray(16)]));
  await c.until(() => false, 1500);
  assert(c.closed && c.buf.length === 0, `closed ${c.closed}, ${c.buf.length} bytes`);
});

test("answers that the socket cannot take at once: 60 pages asked at once, not read for 300 ms, all come in order while another connection is answered", async (f) => {
  const c = await connect(f.addr);
  await c.write(Buffer.concat(Array.from({ length: 60 }, (_, i) => request(i + 1, "/"))));
  c.sock.pause();
  await sleep(100);
  const other = await connect(f.addr);
  await other.write(request(1, "/api/time"));
  const o = responses(await other.until(ends(1)));
  assert(o.length === 1 && statusOf(o[0].stdout) === 200, "the other connection waited");
  other.close();
  await sleep(200);
  c.sock.resume();
  const rs = responses(await c.until(ends(60), 10000));
  assert(rs.length === 60 && rs.every((r, i) => r.id === i + 1 && statusOf(r.stdout) === 200 && /<html/.test(r.stdout)), `${rs.length} answers`);
  c.close();
});

// a request begun and a management record answered: the connection is accepted, its request in flight
async function busy(c, id = 1) {
  const had = parse(c.buf).recs.length;
  await c.write(Buffer.concat([begin(id), rec(T.GET_VALUES, 0, pairs([["FCGI_MPXS_CONNS", ""]]))]));
  assert((await c.until((r) => r.length > had)).length > had, "no FCGI_GET_VALUES_RESULT");
}
test(`FCGI_CONNS_MAX (${CONNS_MAX}) connections are held; a newcomer closes the one idle longest, and waits while every one has a request in flight`, async () => {
  const f = await startFcgi({ env: { FCGI_REQUEST_TIMEOUT: "120" } });	// nothing expires meanwhile
  const held = [];
  try {
    // two kept connections idle since their answers, a before b; the rest with a request in flight
    for (let i = 0; i < 2; i++) {
      const c = await connect(f.addr);
      held.push(c);
      await c.write(request(1, "/api/time"));
      assert(responses(await c.until(ends(1))).length === 1, "a kept connection is not answered");
      await sleep(20);
    }
    const [a, b] = held;
    for (let i = 2; i < CONNS_MAX; i++) {
      const c = await connect(f.addr);
      held.push(c);
      await busy(c);
    }
    const x = await connect(f.addr);
    held.push(x);
    await x.write(request(1, "/api/time"));
    assert(responses(await x.until(ends(1), 5000)).length === 1, "the newcomer is not answered");
    await a.until(() => false, 1000);
    assert(a.closed && !b.closed, `idle longest closed: ${a.closed}, the other: ${b.closed}`);
    // now every connection held has a request in flight
    await busy(b, 2);
    await busy(x, 2);
    const y = await connect(f.addr);	// the kernel accepts it into the backlog
    held.push(y);
    await y.write(request(1, "/api/time"));
    assert((await y.until(ends(1), 500)).length === 0, "answered past the limit");
    held[2].close();
    assert(responses(await y.until(ends(1), 5000)).length === 1, "not answered after a connection closed");
  } finally {
    for (const c of held) c.close();
    await f.stop();
  }
});

test("out of descriptors: connections past the limit wait, and are answered once one closes", async () => {
  // 10 descriptors: 0-2 and the listener's copy leave 7 for connections
  const f = await startFcgi({ nofile: 10 });
  const held = [];
  try {
    for (let i = 0; i < 9; i++) held.push(await connect(f.addr));
    await held[0].write(request(1, "/api/time"));
    assert(responses(await held[0].until(ends(1))).length === 1, "a held connection is not answered");
    const last = held[8];
    await last.write(request(1, "/api/time"));
    assert((await last.until(ends(1), 500)).length === 0, "answered past the descriptor limit");
    held[1].close();
    held[2].close();
    assert(responses(await last.until(ends(1), 3000)).length === 1, "not answered after two closed");
    assert(f.proc.exitCode === null, "cgi.fcgi exited");
  } finally {
    for (const c of held) c.close();
    await f.stop();
  }
});

test("FCGI_WEB_SERVER_ADDRS over TCP: a peer not listed is closed unanswered, a listed one answered", async () => {
  for (const [list, ok] of [["127.0.0.2, 10.0.0.1", false], ["10.0.0.1,127.0.0.1", true], ["::1", false]]) {
    const port = await freePort();
    const f = await startFcgi({ tcp: port, env: { FCGI_WEB_SERVER_ADDRS: list } });
    try {
      const c = await connect(f.addr);
      await c.write(request(1, "/api/time"));
      const rs = responses(await c.until(ends(1), 1500));
      assert(ok ? rs.length === 1 && statusOf(rs[0].stdout) === 200 : rs.length === 0 && c.closed, `${list}: ${rs.length} answers, closed ${c.closed}`);
      c.close();
    } finally {
      await f.stop();
    }
  }
});

// a request whose parameters end in a malformed pair: the 500 (and one log line)
const badParams = (id, method = "GET") => Buffer.concat([begin(id), stream(T.PARAMS, id,
  Buffer.concat([pairs(cgiVars("/api/time", method)), Buffer.from([5, 100]), Buffer.from("HELLOworld")])), stream(T.STDIN, id, Buffer.alloc(0))]);

test("HEAD gets no body with the 500 for parameters malformed or over the limit; GET gets it", async (f) => {
  const c = await connect(f.addr);
  const over = Buffer.concat([begin(3), stream(T.PARAMS, 3, paramsOf(ENV_BYTES_MAX + 1, [], "HEAD")), stream(T.STDIN, 3, Buffer.alloc(0))]);
  await c.write(Buffer.concat([badParams(1, "HEAD"), badParams(2, "GET"), over]));
  const rs = responses(await c.until(ends(3)));
  assert(rs.length === 3 && rs.every((r) => statusOf(r.stdout) === 500), rs.map((r) => statusOf(r.stdout)).join(" "));
  const cl = (r) => Number(/^Content-Length: (\d+)\r$/m.exec(r.stdout)?.[1]);
  for (const i of [0, 2]) assert(bodyOf(rs[i].stdout) === "" && cl(rs[i]) > 0, `HEAD ${i + 1}: ${cl(rs[i])}, body ${JSON.stringify(bodyOf(rs[i].stdout).slice(0, 40))}`);
  assert(bodyOf(rs[1].stdout).length === cl(rs[1]) && cl(rs[1]) === cl(rs[0]), `GET: ${cl(rs[1])}`);
  c.close();
});

test("standard error a pipe nobody reads: 2,000 requests that log a line all answered; the lines dropped counted once it drains", async () => {
  const fifo = join(DIR, "stderr.fifo"), N = 2000;
  execFileSync("mkfifo", [fifo]);
  // the pipe's only reader is cgi.fcgi itself, which never reads it
  const f = await startFcgi({ shell: `exec 2<>'${fifo}';` });
  try {
    const c = await connect(f.addr);
    for (let i = 0; i < N; i += 100) {
      await c.write(Buffer.concat(Array.from({ length: 100 }, (_, k) => badParams(((i + k) % 65535) + 1))));
      const got = responses(await c.until(ends(i + 100), 10000)).length;
      assert(got === i + 100, `${got} of ${i + 100} answered: the log stalled it`);
    }
    // standard error is shared: it stays blocking (O_NONBLOCK is octal 4000 in Linux's fdinfo flags)
    const flags = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/${f.proc.pid}/fdinfo/2`, "utf8"));
    assert(flags && (parseInt(flags[1], 8) & 0o4000) === 0, `descriptor 2 flags: ${flags && flags[1]}`);
    const first = drain(fifo);
    await c.write(badParams(1));
    assert(responses(await c.until(ends(N + 1), 10000)).length === N + 1, "the request after the pipe drained");
    let second = "";
    for (let k = 0; k < 50 && !second.includes("\n", second.indexOf("dropped") + 1); k++) { second += drain(fifo); await sleep(20); }
    const lines = (t) => (t.match(/^cgi: the environment is unreadable or over the limit$/gm) || []).length;
    const m = /^cgi: (\d+) log lines dropped \(standard error was full\)$/m.exec(second);
    assert(m && !/dropped/.test(first), `no count of the lines dropped: ${JSON.stringify(second.slice(0, 200))}`);
    assert(lines(first) + Number(m[1]) + lines(second) === N + 1, `${lines(first)} + ${m[1]} + ${lines(second)} lines for ${N + 1} requests`);
    c.close();
  } finally {
    await f.stop();
  }
});

test("started with descriptors 1 and 2 closed: another peer's bad request writes nothing into the connections that took them", async () => {
  const f = await startFcgi({ shell: "exec 1>&- 2>&-;" });
  try {
    // the first two connections accepted would be descriptors 1 and 2
    const held = [];
    for (let i = 0; i < 2; i++) {
      const c = await connect(f.addr);
      await c.write(rec(T.GET_VALUES, 0, pairs([["FCGI_MPXS_CONNS", ""]])));
      assert((await c.until((r) => r.length > 0)).length === 1, `connection ${i + 1} not accepted`);
      held.push(c);
    }
    const bad = await connect(f.addr);
    await bad.write(badParams(1));
    assert(responses(await bad.until(ends(1))).length === 1, "the bad request is not answered");
    for (const [i, c] of held.entries()) {
      await c.write(request(2, "/api/time"));
      const recs = await c.until(ends(1), 3000);
      const p = parse(c.buf);
      assert(p.rest === 0 && recs.every((r) => r.version === 1) && responses(recs).length === 1,
        `connection ${i + 1} got ${JSON.stringify(c.buf.toString("latin1").slice(0, 80))}`);
      c.close();
    }
    bad.close();
  } finally {
    await f.stop();
  }
});

test("standard input a socket that does not listen (bound Unix, bound TCP, UDP with a datagram queued): a message and exit status 1", async () => {
  const SOCKSTDIN = "tests/fixtures/sockstdin";
  assert(existsSync(SOCKSTDIN), `${SOCKSTDIN} is not built: make ${SOCKSTDIN}`);
  for (const kind of [["unix", join(DIR, "bound.sock")], ["tcp"], ["udp"]]) {
    const p = spawn(SOCKSTDIN, [...kind, FCGI], { stdio: ["ignore", "ignore", "pipe"] });
    started.push(p);
    let err = "";
    p.stderr.on("data", (d) => { err += d; });
    const r = await Promise.race([new Promise((res) => p.on("close", (code, sig) => res({ code, sig }))), sleep(5000).then(() => null)]);
    if (r === null) p.kill("SIGKILL");
    assert(r !== null && r.code === 1 && /^cgi: standard input is a socket that does not listen/.test(err),
      `${kind[0]}: ${r === null ? "still running after 5 s" : `exit ${r.code ?? r.sig}`}, ${JSON.stringify(err)}`);
  }
});

test("FCGI_REQUEST_TIMEOUT=2: a silent connection and a drip-fed request are closed at 2 s; a request whole in 1 s is answered", async () => {
  const f = await startFcgi({ env: { FCGI_REQUEST_TIMEOUT: "2", FCGI_KEEP_TIMEOUT: "4" } });
  const t0 = Date.now();
  const [silent, drip, within] = await Promise.all([connect(f.addr), connect(f.addr), connect(f.addr)]);
  try {
    const r = request(1, "/api/time");
    const closedAt = (c) => c.until(() => false, 8000).then(() => (c.closed ? Date.now() - t0 : Infinity));
    const dripping = (async () => { for (let i = 0; i < r.length && !drip.closed; i++) { await drip.write(r.subarray(i, i + 1)); await sleep(100); } })();
    const half = (async () => {
      await within.write(r.subarray(0, r.length >> 1));
      await sleep(1000);
      await within.write(r.subarray(r.length >> 1));
      return responses(await within.until(ends(1), 3000)).length;
    })();
    const [ts, td, answered] = await Promise.all([closedAt(silent), closedAt(drip), half]);
    await dripping;
    assert(answered === 1, "the request whole in 1 s is not answered");
    assert(ts >= 1900 && ts < 6000, `the silent connection closed at ${ts} ms`);
    assert(td >= 1900 && td < 6000 && responses(parse(drip.buf).recs).length === 0, `the drip-fed one closed at ${td} ms`);
  } finally {
    for (const c of [silent, drip, within]) c.close();
    await f.stop();
  }
});

test("FCGI_REQUEST_TIMEOUT=2 on a connection carrying several: one begun and never ended closes it 2 s after its begin, though others are answered meanwhile", async () => {
  const f = await startFcgi({ env: { FCGI_REQUEST_TIMEOUT: "2", FCGI_KEEP_TIMEOUT: "60" } });
  const c = await connect(f.addr);
  try {
    const t0 = Date.now();
    await c.write(Buffer.concat([begin(1), rec(T.PARAMS, 1, pairs(cgiVars("/api/time")))]));
    for (let id = 2; id < 10 && !c.closed; id++) {
      await c.write(request(id, "/api/time"));
      await sleep(500);
    }
    const closed = c.closed ? Date.now() - t0 : Infinity;
    const rs = responses(parse(c.buf).recs);
    assert(c.closed && closed < 3500, `closed at ${closed} ms`);
    assert(rs.length >= 3 && rs.every((r) => r.id !== 1), `answers: ${rs.map((r) => r.id)}`);
  } finally {
    c.close();
    await f.stop();
  }
});

test("FCGI_KEEP_TIMEOUT=4: a kept connection idles past FCGI_REQUEST_TIMEOUT (2 s) and is closed 4 s after its last answer", async () => {
  const f = await startFcgi({ env: { FCGI_REQUEST_TIMEOUT: "2", FCGI_KEEP_TIMEOUT: "4" } });
  const c = await connect(f.addr);
  try {
    await c.write(request(1, "/api/time"));
    assert(responses(await c.until(ends(1))).length === 1, "not answered");
    await sleep(3000);
    assert(!c.closed, "closed before FCGI_KEEP_TIMEOUT");
    await c.write(request(2, "/api/time"));
    assert(responses(await c.until(ends(2))).length === 2, "the next request after 3 s idle");
    const t1 = Date.now();
    await c.until(() => false, 9000);
    const t = Date.now() - t1;
    assert(c.closed && t >= 3900 && t < 8000, `closed ${c.closed} after ${t} ms idle`);
  } finally {
    c.close();
    await f.stop();
  }
});

test("FCGI_REQUEST_TIMEOUT and FCGI_KEEP_TIMEOUT: 1 and 3600 are taken; 0, 3601 and 5s refused with exit status 1", async () => {
  for (const [name, v, ok] of [["FCGI_REQUEST_TIMEOUT", "1", true], ["FCGI_KEEP_TIMEOUT", "3600", true], ["FCGI_REQUEST_TIMEOUT", "0", false],
    ["FCGI_KEEP_TIMEOUT", "3601", false], ["FCGI_REQUEST_TIMEOUT", "5s", false]]) {
    const sock = join(DIR, `t-${name}-${v}.sock`);
    const p = spawn("spawn-fcgi", ["-n", "-s", sock, "--", FCGI], { env: { PATH: process.env.PATH, [name]: v }, stdio: ["ignore", "ignore", "pipe"] });
    started.push(p);
    let err = "";
    p.stderr.on("data", (d) => { err += d; });
    const r = await Promise.race([new Promise((res) => p.on("close", (code) => res(code))), sleep(ok ? 1000 : 5000).then(() => "running")]);
    if (ok) {
      assert(r === "running", `${name}=${v}: exited ${r} ${err}`);
      const c = await connect({ path: sock });
      await c.write(request(1, "/api/time"));
      assert(responses(await c.until(ends(1))).length === 1, `${name}=${v}: not answered`);
      c.close();
      p.kill("SIGKILL");
    } else
      assert(r === 1 && /FCGI_REQUEST_TIMEOUT and FCGI_KEEP_TIMEOUT are seconds, 1 to 3600/.test(err), `${name}=${v}: ${r} ${JSON.stringify(err)}`);
  }
});

test("out of descriptors, one record every 30 ms on a held connection: a waiting connection is accepted on a timer once descriptors come back", async () => {
  const f = await startFcgi({ env: { FCGI_REQUEST_TIMEOUT: "60" } });
  const held = [];
  let dripping = true;
  try {
    // once its loop runs (it raises its own soft limit first): 10 descriptors, as the test above;
    // the hard limit 64 lets the soft one come back without privilege
    const first = await connect(f.addr);
    await first.write(request(1, "/api/time", { keep: false }));
    assert(responses(await first.until(ends(1))).length === 1, "not answered");
    await first.until(() => false, 1000);
    assert(first.closed, "not closed");
    execFileSync("prlimit", ["--pid", String(f.proc.pid), "--nofile=10:64"]);
    for (let i = 0; i < 9; i++) held.push(await connect(f.addr));
    const drip = (async () => {
      while (dripping && !held[0].closed) { await held[0].write(rec(42, 0, Buffer.from("x"))); await sleep(30); }
    })();
    const last = held[8];
    await last.write(request(1, "/api/time"));
    assert((await last.until(ends(1), 500)).length === 0, "answered past the descriptor limit");
    execFileSync("prlimit", ["--pid", String(f.proc.pid), "--nofile=64:64"]);
    const ok = responses(await last.until(ends(1), 5000)).length === 1;
    dripping = false;
    await drip;
    assert(ok, "not accepted 5 s after descriptors came back");
    assert(!held[0].closed && parse(held[0].buf).recs.every((r) => r.type === T.UNKNOWN_TYPE), "the dripping connection");
  } finally {
    dripping = false;
    for (const c of held) c.close();
    await f.stop();
  }
});

test("SIGTERM as the ends of 50 requests arrive: all 50 answered, a kept idle connection closed, exit status 0", async () => {
  const f = await startFcgi();
  const cs = [];
  try {
    const r = request(1, "/api/time"), tail = r.length - 8;	// all but the empty FCGI_STDIN record
    for (let i = 0; i < 50; i++) {
      const c = await connect(f.addr);
      cs.push(c);
      await c.write(r.subarray(0, tail));
    }
    const idle = await connect(f.addr);
    cs.push(idle);
    await idle.write(request(1, "/api/time"));
    assert(responses(await idle.until(ends(1))).length === 1, "the kept connection is not answered");
    await sleep(300);
    assert(cs.slice(0, 50).every((c) => parse(c.buf).recs.length === 0), "answered before its end");
    await Promise.all(cs.slice(0, 50).map((c) => c.write(r.subarray(tail))));
    f.proc.kill("SIGTERM");
    const ex = await Promise.race([f.exited, sleep(10000).then(() => null)]);
    const answered = cs.slice(0, 50).filter((c) => responses(parse(c.buf).recs).length === 1).length;
    assert(answered === 50, `${answered} of 50 answered`);
    assert(ex !== null && ex.code === 0, `exit ${ex === null ? "none after 10 s" : ex.code ?? ex.sig}`);
    await Promise.all(cs.map((c) => c.until(() => false, 3000)));
    assert(cs.every((c) => c.closed), `${cs.filter((c) => !c.closed).length} connections left open`);
  } finally {
    for (const c of cs) c.close();
    await f.stop();
  }
});

test(`SIGTERM with FCGI_MPX_OPEN (${MPX_OPEN}) requests open on one connection: every one answered as it ends, then the connection closed, exit status 0`, async () => {
  const f = await startFcgi();
  let c;
  try {
    c = await connect(f.addr);
    const ids = Array.from({ length: MPX_OPEN }, (_, i) => i + 1);
    await c.write(Buffer.concat(ids.map((id) => Buffer.concat([begin(id), stream(T.PARAMS, id, pairs(cgiVars("/api/time")))]))));
    await sleep(300);
    f.proc.kill("SIGTERM");
    await sleep(300);
    await c.write(Buffer.concat(ids.map((id) => rec(T.STDIN, id))));
    const ex = await Promise.race([f.exited, sleep(10000).then(() => null)]);
    await c.until(() => false, 1000);
    const rs = responses(parse(c.buf).recs);
    assert(rs.length === MPX_OPEN && rs.every((r) => statusOf(r.stdout) === 200), `${rs.length} of ${MPX_OPEN} answered`);
    assert(c.closed, "the connection is still open");
    assert(ex !== null && ex.code === 0, `exit ${ex === null ? "none after 10 s" : ex.code ?? ex.sig}`);
  } finally {
    c?.close();
    await f.stop();
  }
});

test("SIGTERM with a request that never ends: closed unanswered after FCGI_REQUEST_TIMEOUT (2 s), exit status 0", async () => {
  const f = await startFcgi({ env: { FCGI_REQUEST_TIMEOUT: "2" } });
  const c = await connect(f.addr);
  try {
    await c.write(begin(1));
    await sleep(200);
    const t0 = Date.now();
    f.proc.kill("SIGTERM");
    const ex = await Promise.race([f.exited, sleep(10000).then(() => null)]);
    const t = Date.now() - t0;
    assert(ex !== null && ex.code === 0, `exit ${ex === null ? "none after 10 s" : ex.code ?? ex.sig}`);
    assert(t >= 1500 && t < 6000, `exited ${t} ms after SIGTERM`);
    await c.until(() => false, 1000);
    assert(c.closed && c.buf.length === 0, `closed ${c.closed}, ${c.buf.length} bytes`);
  } finally {
    c.close();
    await f.stop();
  }
});

let failed = 0;
try {
  for (const t of tests) {
    let f = null;
    try {
      f = await startFcgi();
      await Promise.race([t.fn(f), sleep(30000).then(() => { throw new Error("took over 30 s"); })]);
      if (f.proc.exitCode !== null || f.proc.signalCode !== null) throw new Error(`cgi.fcgi exited: ${f.proc.exitCode ?? f.proc.signalCode} ${f.log()}`);
      console.log(`ok - fcgi: ${t.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL - fcgi: ${t.name}: ${e.message}`);
    } finally {
      if (f) await f.stop();
    }
  }
} finally {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  rmSync(DIR, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
