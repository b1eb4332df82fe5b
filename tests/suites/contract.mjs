// Replays the contract table (tests/contract.json) against one runner and
// checks every response against the case and against the CGI rules that
// hold for all of them (RFC 3875 6, and what the hosts need; see README).
//
//   node tests/suites/contract.mjs native PROGRAM      ./cgi, or a sanitizer build
//   node tests/suites/contract.mjs wasi MODULE         cgi.wasm under node:wasi
//   node tests/suites/contract.mjs jco DIR             cgi.wasm wrapped by jco in
//                                               the preview1 adapter, DIR
//                                               holding its transpiled cgi.js
//   node tests/suites/contract.mjs serve SERVE         the cases that have an HTTP
//                                               form (request), over HTTP
//                                               to SERVE running ./cgi
//   node tests/suites/contract.mjs spin DIR [--route R] the same cases over HTTP
//                                               to the Spin emulation
//                                               (tests/lib/spin.mjs) running
//                                               DIR's component at route R
//                                               ("/..." or "/mt/...")
//   node tests/suites/contract.mjs component FILE [--isolate] [--route R]
//                                               the same cases over HTTP
//                                               to the wasi:http component
//                                               FILE under jco serve (one
//                                               instance; --isolate: one per
//                                               request); under a route
//                                               "/mt/..." the client sends
//                                               the headers Spin's router
//                                               adds (spin-path-info, ...)
//   node tests/suites/contract.mjs host NAME [--root]   the same cases over HTTP
//                                               to a real host started
//                                               from deploy/ by
//                                               tests/lib/hosts.mjs, the app
//                                               at /mt (at / with --root,
//                                               and always for the hosts
//                                               that run serve)
// Runners other than native are also compared with ./cgi (--ref PROGRAM):
// the same bytes but for the clock.
//
// Prints "ok - ..." or "FAIL - ..." per case; exits 1 if any failed.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { printedPort } from "../lib/port.mjs";

const here = new URL("..", import.meta.url).pathname;	// tests/
const table = JSON.parse(readFileSync(join(here, "contract.json"), "utf8"));
const [kind, target, ...rest] = process.argv.slice(2);
const refIdx = rest.indexOf("--ref");
const refProgram = refIdx >= 0 ? rest[refIdx + 1] : null;
const routeIdx = rest.indexOf("--route");
const route = routeIdx >= 0 ? rest[routeIdx + 1] : "/...";
// the mount point an HTTP host puts the app under: its SCRIPT_NAME
const SERVE_HOSTS = ["systemd", "systemd-accept", "tcpserver", "inetd", "xinetd",
  "serve-fastcgi", "serve-spawn-fcgi", "serve-fcgiwrap"];
const atRoot = rest.includes("--root") || SERVE_HOSTS.includes(target);
const isolate = rest.includes("--isolate");
const prefix = kind === "spin" || kind === "component" ? route.replace(/\/\.\.\.$/, "")
  : kind === "host" && !atRoot ? "/mt" : "";
// the name a case's "via" overrides know this runner by
const via = kind === "host" ? target : kind;
const label = kind === "host" ? `host ${target}${prefix ? " at " + prefix : " at /"}`
  : kind === "component" ? `component${isolate ? " (instance per request)" : ""}${prefix ? " at " + prefix : ""}` : kind;
if (!["native", "wasi", "jco", "serve", "spin", "host", "component"].includes(kind) || !target) {
  console.error("usage: node tests/suites/contract.mjs native|wasi|jco|serve|spin|host|component TARGET [--ref PROGRAM] [--route R] [--root] [--isolate]");
  process.exit(2);
}

// ---- building a case's environment ------------------------------------

function expand(v) {
  if (v !== null && typeof v === "object") {
    return v.repeat.repeat(Math.ceil(v.bytes / v.repeat.length)).slice(0, v.bytes);
  }
  return v;
}

export function caseEnv(c) {
  const env = {};
  for (const [k, v] of Object.entries({ ...table.hosts[c.host], ...c.env })) {
    if (v !== null) env[k] = expand(v);
  }
  return env;
}

// ---- runners: (args, env) -> { code, stdout: Buffer, stderr: Buffer } --

const LIMIT = { timeout: 20000, maxBuffer: 1 << 24 };

function nativeRunner(program) {
  return (args, env) => {
    const r = spawnSync(program, args, { env, ...LIMIT });
    if (r.error) throw r.error;
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  };
}

async function wasiRunner(path) {
  const { WASI } = await import("node:wasi");
  const module = new WebAssembly.Module(readFileSync(path));
  const dir = mkdtempSync(join(tmpdir(), "mt-wasi-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return (args, env) => {
    const out = join(dir, "out"), err = join(dir, "err");
    const fo = openSync(out, "w"), fe = openSync(err, "w");
    let code;
    try {
      const wasi = new WASI({ version: "preview1", args: ["cgi", ...args], env,
        stdout: fo, stderr: fe, returnOnExit: true });
      code = wasi.start(new WebAssembly.Instance(module, wasi.getImportObject()));
    } finally {
      closeSync(fo);
      closeSync(fe);
    }
    return { code, stdout: readFileSync(out), stderr: readFileSync(err) };
  };
}

// jco's preview2 host passes process.env and process.argv (from [1]) to
// the component; tests/lib/jco-run.mjs sets argv[1] to "cgi".
function jcoRunner(dir) {
  const run = join(here, "lib/jco-run.mjs");
  return (args, env) => {
    const r = spawnSync(process.execPath, [run, join(dir, "cgi.js"), ...args], { env, ...LIMIT });
    if (r.error) throw r.error;
    return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  };
}

// An HTTP host: start it (it prints its port first), send each case's
// request with the case's method under the host's prefix, and turn the
// HTTP response back into CGI output (Status, the fields but hop-by-hop
// and Date, the body) so the same checks apply. The host is stopped by
// its PID on exit.
async function httpRunner(argv) {
  const proc = spawn(argv[0], argv.slice(1), { env: kind === "host" ? process.env : {}, stdio: ["pipe", "pipe", "inherit"] });
  // the host stops what it started when it gets SIGTERM (or its stdin ends)
  process.on("exit", () => proc.kill("SIGTERM"));
  const port = await printedPort(proc, argv.join(" "));
  return (args, env) => new Promise((resolve, reject) => {
    const method = env.REQUEST_METHOD;
    const s = net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => { s.destroy(); reject(new Error("no answer from the host")); }, 10000);
    // a bodiless POST or PUT says so, as browsers do (lighttpd wants it)
    const cl = method === "POST" || method === "PUT" ? "Content-Length: 0\r\n" : "";
    const extra = Object.entries({ ...spinHeaders(port, current.request.target), ...current.request.headers })
      .map(([k, v]) => `${k}: ${expand(v)}\r\n`).join("");
    s.on("connect", () => s.write(`${method} ${prefix}${current.request.target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}${cl}Connection: close\r\n\r\n`, "latin1"));
    s.on("data", (d) => { buf = Buffer.concat([buf, d]); });
    s.on("error", reject);
    s.on("end", () => {
      clearTimeout(timer);
      const end = buf.indexOf("\r\n\r\n");
      const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
      const sl = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]);
      if (end < 0 || !sl) { reject(new Error(`no HTTP response: ${JSON.stringify(buf.toString("latin1").slice(0, 80))}`)); return; }
      const [, code, reason] = sl;
      const keep = lines.slice(1).filter((l) => !/^(connection|date|keep-alive|transfer-encoding):/i.test(l));
      if (code !== "200") keep.unshift(`Status: ${code} ${reason}`);
      const chunked = lines.some((l) => /^transfer-encoding: *chunked$/i.test(l));
      const body = chunked ? dechunk(buf.subarray(end + 4)) : buf.subarray(end + 4);
      // A host may re-frame the program's output (Apache sends some of it
      // chunked): the length is then the host's, not the program's.
      const reframed = kind === "host" && !keep.some((l) => /^content-length:/i.test(l));
      resolve({ code: 0, reframed, stdout: Buffer.concat([Buffer.from(keep.join("\r\n") + "\r\n\r\n", "latin1"), body]), stderr: Buffer.alloc(0) });
    });
  });
}

// The headers Spin's router adds to a request for a component mounted at
// route (tests/lib/spin.mjs plays its WAGI executor, which turns them into
// variables): the component under jco serve gets them from the client.
function spinHeaders(port, target) {
  if (kind !== "component" || !prefix) return {};
  const path = target.replace(/\?.*$/s, "");
  return {
    "spin-full-url": `http://127.0.0.1:${port}${prefix}${target}`,
    "spin-path-info": path,
    "spin-matched-route": route,
    "spin-raw-component-route": route,
    "spin-component-route": prefix,
    "spin-base-path": "/",
  };
}

// The body of a chunked HTTP message (RFC 9112 7.1), trailers dropped.
function dechunk(b) {
  const out = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf("\r\n", i);
    if (eol < 0) throw new Error("truncated chunked body");
    const n = parseInt(b.subarray(i, eol).toString("latin1"), 16);
    if (!(n >= 0)) throw new Error("bad chunk size");
    if (n === 0) return Buffer.concat(out);
    out.push(b.subarray(eol + 2, eol + 2 + n));
    i = eol + 2 + n + 2;
  }
}

let current = null;
const runner = kind === "native" ? nativeRunner(target)
  : kind === "wasi" ? await wasiRunner(target)
  : kind === "jco" ? jcoRunner(target)
  : kind === "serve" ? await httpRunner([target, "-q", "-b", "127.0.0.1", "-p", "0", "./cgi"])
  : kind === "host" ? await httpRunner([process.execPath, join(here, "lib/hosts.mjs"), target, ...(atRoot ? ["--root"] : [])])
  : kind === "component" ? await httpRunner([process.execPath, join(here, "lib/jco-serve.mjs"), target, ...(isolate ? ["--isolate"] : [])])
  : await httpRunner([process.execPath, join(here, "lib/spin.mjs"), "--component", target, "--route", route]);
const reference = refProgram ? nativeRunner(refProgram) : null;

// ---- what every CGI response must be ----------------------------------

function parseCgi(buf) {
  const s = buf.toString("latin1");
  const end = s.indexOf("\r\n\r\n");
  if (end < 0) throw new Error("no CRLF CRLF after the header block");
  const headers = new Map();
  for (const line of s.slice(0, end).split("\r\n")) {
    if (/[\r\n\0]/.test(line)) throw new Error(`bare CR or LF in header line ${JSON.stringify(line)}`);
    const m = /^([A-Za-z0-9-]+): (.*)$/.exec(line);
    if (!m) throw new Error(`malformed header line ${JSON.stringify(line)}`);
    const key = m[1].toLowerCase();
    if (headers.has(key)) throw new Error(`header ${m[1]} sent twice`);
    headers.set(key, m[2]);
  }
  return { headers, body: buf.subarray(end + 4) };
}

const SECURITY = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

function two(n) { return String(n).padStart(2, "0"); }
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July",
  "August", "September", "October", "November", "December"];

// The Moscow wall clock for Unix seconds t, computed by JavaScript's Date.
function msk(t) {
  const d = new Date((t + 3 * 3600) * 1000);
  const ymd = `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
  const hms = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  const long = `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
  return { ymd, hms, long };
}

function checkNow(t) {
  const now = Date.now() / 1000;
  if (!(Math.abs(t - now) < 5)) throw new Error(`timestamp ${t} is not now (${Math.round(now)})`);
}

function checkTimeJson(text, pretty) {
  const re = pretty
    ? /^\{\n  "moscow_time": "(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) MSK",\n  "timestamp": (\d+)\n\}\n$/
    : /^\{"moscow_time":"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) MSK","timestamp":(\d+)\}\n$/;
  const m = re.exec(text);
  if (!m) throw new Error(`not the time document: ${JSON.stringify(text.slice(0, 200))}`);
  const t = Number(m[2]), want = msk(t);
  if (m[1] !== `${want.ymd} ${want.hms}`) throw new Error(`moscow_time ${m[1]} is not ${t} at UTC+3`);
  checkNow(t);
}

function htmlEsc(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function sha256(s) { return createHash("sha256").update(s, "utf8").digest("base64"); }

function checkPage(text, headers, exp) {
  const base = expand(exp.base);
  if (!exp.big && Buffer.byteLength(text) >= 8192) throw new Error(`page is ${Buffer.byteLength(text)} bytes, not under 8 KiB`);
  if (!text.startsWith("<!doctype html>")) throw new Error("page does not start with a doctype");
  const dm = /<script type="application\/json" id="mt-data">([^<]*)<\/script>/.exec(text);
  if (!dm) throw new Error("no data block, or a raw < inside it");
  const data = JSON.parse(dm[1]);
  if (data.api !== base + "/api/time") throw new Error(`data.api is ${JSON.stringify(data.api)}`);
  checkNow(data.timestamp);
  const w = msk(data.timestamp);
  for (const piece of [
    `<time id="clock" datetime="${w.ymd}T${w.hms}+03:00">${w.hms}</time>`,
    `<p id="date">${w.long}</p>`, "MSK, UTC+3",
    `<a href="${htmlEsc(base)}/api/time">`]) {
    if (!text.includes(piece)) throw new Error(`page lacks ${JSON.stringify(piece.slice(0, 120))}`);
  }
  const script = /<script>([\s\S]*?)<\/script>/.exec(text)[1];
  const style = /<style>([\s\S]*?)<\/style>/.exec(text)[1];
  const csp = headers.get("content-security-policy") || "";
  const want = `default-src 'none'; style-src 'sha256-${sha256(style)}'; script-src 'sha256-${sha256(script)}'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  if (csp !== want) throw new Error(`CSP ${csp} is not ${want}`);
  if (/\ssrc=|https?:\/\/|url\(|@import/i.test(text)) throw new Error("page loads an external resource");
}

async function checkCgi(c, res, exp, env) {
  if (res.code !== 0) throw new Error(`exit status ${res.code}: CGI mode must return 0`);
  if (res.stderr.length) throw new Error(`stderr: ${res.stderr.toString().slice(0, 300)}`);
  const { headers, body } = parseCgi(res.stdout);
  const st = headers.get("status");
  const status = st === undefined ? 200 : Number(st.slice(0, 3));
  if (st !== undefined && !/^\d{3} [A-Za-z ]+$/.test(st)) throw new Error(`bad Status: ${st}`);
  if (st !== undefined && status === 200) throw new Error("Status: 200 sent");
  if (status !== exp.status) throw new Error(`status ${status}, want ${exp.status}`);
  for (const h of (exp.absent_headers || []).map((x) => x.toLowerCase())) {
    if (headers.has(h)) throw new Error(`header ${h} must not be sent`);
  }
  // the host's own answer, before any program ran: only its status is ours
  if (exp.body === "host") return;
  for (const h of ["connection", "transfer-encoding", "keep-alive"]) {
    if (headers.has(h)) throw new Error(`header ${h} must not be sent`);
  }
  for (const [k, v] of Object.entries(SECURITY)) {
    if (headers.get(k) !== v) throw new Error(`${k}: ${headers.get(k)}, want ${v}`);
  }
  if (!headers.has("content-security-policy")) throw new Error("no Content-Security-Policy");
  for (const [k, v] of Object.entries(exp.headers || {})) {
    if (headers.get(k.toLowerCase()) !== v) throw new Error(`${k}: ${headers.get(k.toLowerCase())}, want ${v}`);
  }
  const ct = headers.get("content-type");
  const cl = res.reframed && status !== 204 ? String(body.length) : headers.get("content-length");
  if (status === 204) {
    if (ct !== undefined || cl !== undefined || body.length) throw new Error("204 with a body, Content-Type or Content-Length");
    return;
  }
  if (!/; charset=utf-8$/.test(ct || "")) throw new Error(`Content-Type ${ct} lacks charset=utf-8`);
  if (!/^\d+$/.test(cl || "")) throw new Error(`Content-Length ${cl}`);
  const text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  for (const t of exp.absent_text || []) {
    if (res.stdout.toString().includes(t)) throw new Error(`response holds ${JSON.stringify(t)}`);
  }
  if (exp.body === "head") {
    if (body.length) throw new Error("HEAD response has a body");
    const get = await runner(c.args || [], { ...env, REQUEST_METHOD: "GET" });
    const g = parseCgi(get.stdout);
    // a host that re-frames may drop the length from HEAD alone
    const skip = res.reframed ? ["content-length"] : [];
    for (const [k, v] of g.headers) {
      if (!skip.includes(k) && headers.get(k) !== v) throw new Error(`HEAD ${k}: ${headers.get(k)}, GET ${v}`);
    }
    const size = (m) => [...m.keys()].filter((k) => !skip.includes(k)).length;
    if (size(g.headers) !== size(headers)) throw new Error("HEAD and GET header sets differ");
    if (!res.reframed && Number(cl) !== g.body.length) throw new Error("HEAD Content-Length is not GET's body length");
    return;
  }
  if (Number(cl) !== body.length) throw new Error(`Content-Length ${cl}, body ${body.length}`);
  for (const t of exp.contains || []) {
    if (!text.includes(t)) throw new Error(`body lacks ${JSON.stringify(t)}: ${text.slice(0, 300)}`);
  }
  switch (exp.body) {
  case "time-json":
    if (ct !== "application/json; charset=utf-8") throw new Error(`Content-Type ${ct}`);
    checkTimeJson(text, false);
    break;
  case "page":
    if (ct !== "text/html; charset=utf-8") throw new Error(`Content-Type ${ct}`);
    checkPage(text, headers, exp);
    break;
  case "json": {
    if (ct !== "application/json; charset=utf-8") throw new Error(`Content-Type ${ct}`);
    const j = JSON.parse(text);
    if (j.status !== status || typeof j.error !== "string") throw new Error(`error document ${text}`);
    break;
  }
  case "html":
    if (ct !== "text/html; charset=utf-8") throw new Error(`Content-Type ${ct}`);
    if (!text.startsWith("<!doctype html>") || !text.includes(`<h1>${status} `)) throw new Error(`error page ${text.slice(0, 200)}`);
    break;
  default:
    throw new Error(`unknown body kind ${exp.body}`);
  }
}

function checkCli(c, res, exp) {
  const out = res.stdout.toString(), err = res.stderr.toString();
  // A preview2 host has no exit codes but 0 and 1.
  const wantCode = kind === "jco" && exp.exit !== 0 ? 1 : exp.exit;
  if (res.code !== wantCode) throw new Error(`exit status ${res.code}, want ${wantCode}; stderr ${err}`);
  switch (exp.stdout) {
  case "pretty-json": checkTimeJson(out, true); break;
  case "usage": if (!out.startsWith("usage: cgi ")) throw new Error(`no usage: ${out}`); break;
  case "version": if (!/^moscow-time cgi \d+\.\d+\.\d+\n$/.test(out)) throw new Error(`version: ${out}`); break;
  case "empty": if (out !== "") throw new Error(`stdout not empty: ${out}`); break;
  default: throw new Error(`unknown stdout kind ${exp.stdout}`);
  }
  if (exp.stderr ? !err.includes(exp.stderr) : err !== "") throw new Error(`stderr: ${JSON.stringify(err)}`);
}

// The clock is the only thing allowed to differ between two runs.
function normalize(buf) {
  return buf.toString("latin1")
    .replace(/\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d/g, "DATETIME")
    .replace(/\d\d:\d\d:\d\d/g, "HMS")
    .replace(/"timestamp": ?\d+/g, "\"timestamp\":T")
    .replace(new RegExp(`(${DAYS.join("|")}), \\d+ (${MONTHS.join("|")}) \\d+`, "g"), "LONGDATE")
    .replace(/Content-Length: \d+/g, "Content-Length: N");
}

// A case's answer through this runner: its own expect, or the one its
// "via" gives for a host that answers it differently before or around the
// program (each with its why). via's keys are space-separated runner names.
export function expectFor(c, name = via) {
  for (const [names, e] of Object.entries(c.via || {})) {
    if (names.split(" ").includes(name)) return e;
  }
  return c.expect;
}

let passed = 0, failed = 0, other = 0;
// --http: only the cases with an HTTP form (the matrix's rows)
const overHttp = kind === "serve" || kind === "spin" || kind === "host" || kind === "component";
const httpOnly = overHttp || rest.includes("--http");
const jsonIdx = rest.indexOf("--json");
const cells = [];	// per case: { name, cell } for make matrix
const native = nativeRunner("./cgi");

function statusOf(res) {
  try {
    const st = parseCgi(res.stdout).headers.get("status");
    return st === undefined ? 200 : Number(st.slice(0, 3));
  } catch { return "?"; }
}

// Through a server the program's body must be the one ./cgi writes for the
// same variables (SCRIPT_NAME the mount point), but for the clock.
function sameBody(res, env) {
  const ref = native([], overHttp ? { ...env, SCRIPT_NAME: prefix } : env);
  const body = (b) => { const i = b.indexOf("\r\n\r\n"); return normalize(b.subarray(i + 4)); };
  return body(ref.stdout) === body(res.stdout);
}

for (const c of table.cases) {
  const env = caseEnv(c);
  const args = c.args || [];
  if (httpOnly && !c.request) {
    other++;	// an environment no HTTP request through serve produces
    continue;
  }
  current = c;
  let res = null, cell = "";
  try {
    res = await runner(args, env);
    // under a prefix, the page's links go through it
    const want = expectFor(c);
    const exp = prefix && want.base !== undefined ? { ...want, base: prefix + want.base } : want;
    if (c.cli) checkCli(c, res, exp);
    else await checkCgi(c, res, exp, env);
    if (reference && want === c.expect) {
      const ref = reference(args, env);
      if (normalize(ref.stdout) !== normalize(res.stdout)) {
        throw new Error(`output differs from ${refProgram}:\n${normalize(res.stdout).slice(0, 400)}\n---\n${normalize(ref.stdout).slice(0, 400)}`);
      }
    }
    // the cell: status, then = (the body is cgi's), host (the server's own
    // answer) or via (another answer the table explains)
    cell = `${statusOf(res)} ${want.body === "host" ? "host" : want !== c.expect ? "via" : "="}`;
    if (!c.cli && want === c.expect && !sameBody(res, env)) {
      throw new Error("the body is not the one ./cgi writes for these variables, and the table does not say why");
    }
    passed++;
    console.log(`ok - ${label}: ${c.name}`);
  } catch (e) {
    failed++;
    cell = `${res ? statusOf(res) : "-"} FAIL`;
    console.log(`FAIL - ${label}: ${c.name}: ${e.message}`);
  }
  cells.push({ name: c.name, cell });
}
if (jsonIdx >= 0) {
  (await import("node:fs")).writeFileSync(rest[jsonIdx + 1], JSON.stringify({ label, cells }));
}
if (other) console.log(`# contract ${label}: ${other} cases are host environments with no HTTP form here`);
console.log(`# contract ${label}: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
