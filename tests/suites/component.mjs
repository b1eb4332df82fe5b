// cgi.component.wasm beyond the contract table (which tests/suites/matrix.mjs
// replays through it under jco serve at /mt): what it is (its size, the
// world it imports and exports as `jco wit` prints it, no preview1 adapter,
// nothing of wasi:cli or the filesystem, a reproducible build), its core
// module under a wasi:http host written here (what Node never lets
// through: a 1 MiB path, an unknown method, a NUL; writes of at most 4096
// bytes; every handle dropped), and how it
// takes hostile requests under jco serve, with one instance and with an
// instance per request: a clean 4xx from Node's HTTP server or from the
// component, never a trap, a 500 or a header the request put there, and
// the server answering afterwards.
//
//   node tests/suites/component.mjs [COMPONENT]
// Prints "ok - ..." or "FAIL - ..." per check; exits 1 if any failed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JCO, startJcoServe } from "../lib/jco-serve.mjs";

const root = new URL("../..", import.meta.url).pathname;
const file = process.argv[2] || join(root, "cgi.component.wasm");
const SIZE_MAX = 20 * 1024;
let passed = 0, failed = 0;

function check(name, ok, detail = "") {
  if (ok) { passed++; console.log(`ok - component: ${name}`); }
  else { failed++; console.log(`FAIL - component: ${name}${detail ? ": " + detail : ""}`); }
}

function jco(...args) {
  const r = spawnSync(process.execPath, [JCO, ...args], { encoding: "utf8", timeout: 60000 });
  if (r.status !== 0) throw new Error(`jco ${args[0]}: ${r.stderr || r.error}`);
  return r.stdout;
}

// ---- what it is ---------------------------------------------------------

const bytes = readFileSync(file);
check(`${bytes.length} bytes, at most ${SIZE_MAX}`, bytes.length <= SIZE_MAX);

const wit = jco("wit", file);
const imports = [...wit.matchAll(/^\s*import ([^;]+);/gm)].map((m) => m[1]).sort();
const exports = [...wit.matchAll(/^\s*export ([^;]+);/gm)].map((m) => m[1]).sort();
const wantImports = ["wasi:clocks/wall-clock@0.2.0", "wasi:http/types@0.2.0", "wasi:io/error@0.2.0", "wasi:io/streams@0.2.0"];
check(`jco wit: imports only ${wantImports.join(", ")} (got ${imports.join(", ")})`,
  JSON.stringify(imports) === JSON.stringify(wantImports));
check(`jco wit: exports only wasi:http/incoming-handler@0.2.0 (got ${exports.join(", ")})`,
  JSON.stringify(exports) === JSON.stringify(["wasi:http/incoming-handler@0.2.0"]));
check("every wasi interface it names is 0.2.0, so every 0.2.x host takes it",
  [...wit.matchAll(/wasi:[a-z-]+\/[a-z-]+@([0-9.]+)/g)].every((m) => m[1] === "0.2.0"));

const wat = jco("print", file);
const cores = [...wat.matchAll(/\(core module \$?([^\s)]*)/g)].map((m) => m[1]);
check("no preview1 adapter: no core module imports wasi_snapshot_preview1",
  !wat.includes("wasi_snapshot_preview1"), cores.join(" "));
check("nothing of wasi:cli or wasi:filesystem (runs under wasmtime serve without -Scli)",
  !/wasi:cli|wasi:filesystem|wasi:sockets|wasi:random/.test(wat));

// the same inputs give the same bytes (the image test compares them)
const dir = mkdtempSync(join(tmpdir(), "mt-component-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const again = join(dir, "again.wasm");
const r = spawnSync(process.execPath, [join(root, "wit/component.mjs"), join(root, "tests/.build/cgi-core.wasm"), again], { encoding: "utf8" });
check("wit/component.mjs is reproducible: the same core module gives the same component",
  r.status === 0 && Buffer.compare(readFileSync(again), bytes) === 0, r.stderr);

// ---- the core module under a host of this file's own ----------------------
// tests/.build/cgi-core.wasm instantiated with the lowered wasi:http
// functions written here from the canonical ABI, so that what Node's HTTP
// server never lets through reaches it: a 1 MiB path (past the arena and
// the memory it starts with), an unknown method, a NUL in the path. Also
// checked: each body write is at most 4096 bytes (blocking-write-and-flush's
// limit), every handle is dropped or handed on, children before parents.

function coreHost() {
  const mod = new WebAssembly.Module(readFileSync(join(root, "tests/.build/cgi-core.wasm")));
  let mem, x, req, log;
  const u8 = () => new Uint8Array(mem.buffer), dv = () => new DataView(mem.buffer);
  const put = (bytes, align = 1) => {
    const p = x.cabi_realloc(0, 0, align, bytes.length);
    u8().set(bytes, p);
    return p;
  };
  const str = (p, n) => Buffer.from(u8().subarray(p, p + n)).toString("latin1");
  const live = new Set();
  const open = (h) => { live.add(h); return h; };
  const drop = (h, what) => {
    if (!live.has(h)) log.errors.push(`${what}: handle ${h} not live`);
    if (what === "incoming-request" && live.has(2)) log.errors.push("the request dropped before its headers");
    if (what === "body" && live.has(6)) log.errors.push("the body finished before its stream was dropped");
    live.delete(h);
  };
  const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
  const H = "wasi:http/types@0.2.0";
  const imports = {
    "wasi:clocks/wall-clock@0.2.0": { now: (r) => { dv().setBigUint64(r, BigInt(Math.floor(Date.now() / 1000)), true); dv().setUint32(r + 8, 0, true); } },
    [H]: {
      "[method]incoming-request.method": (self, r) => {
        const i = METHODS.indexOf(req.method);
        dv().setUint8(r, i >= 0 ? i : 9);
        if (i < 0) { const b = Buffer.from(req.method), at = put(b); dv().setUint32(r + 4, at, true); dv().setUint32(r + 8, b.length, true); }
      },
      "[method]incoming-request.path-with-query": (self, r) => {
        dv().setUint8(r, req.path === null ? 0 : 1);	// (memory may grow in put: a fresh view after it)
        if (req.path !== null) { const b = Buffer.from(req.path, "latin1"), at = put(b); dv().setUint32(r + 4, at, true); dv().setUint32(r + 8, b.length, true); }
      },
      "[method]incoming-request.headers": () => open(2),
      "[method]fields.get": (self, p, n, r) => {
        const vals = (req.headers[str(p, n)] ?? []).map((v) => Buffer.from(v, "latin1"));
        const list = new Uint8Array(8 * vals.length);
        const at = vals.length ? x.cabi_realloc(0, 0, 4, list.length) : 0;
        vals.forEach((v, i) => { const vp = put(v); dv().setUint32(at + 8 * i, vp, true); dv().setUint32(at + 8 * i + 4, v.length, true); });
        dv().setUint32(r, at, true);
        dv().setUint32(r + 4, vals.length, true);
      },
      "[resource-drop]fields": (h) => drop(h, "fields"),
      "[resource-drop]incoming-request": (h) => drop(h, "incoming-request"),
      "[static]fields.from-list": (p, n, r) => {
        for (let i = 0; i < n; i++) {
          const e = p + 16 * i, d = dv();
          log.fields.push([str(d.getUint32(e, true), d.getUint32(e + 4, true)), str(d.getUint32(e + 8, true), d.getUint32(e + 12, true))]);
        }
        dv().setUint8(r, 0);
        dv().setUint32(r + 4, open(3), true);
      },
      "[constructor]outgoing-response": (f) => { live.delete(f); return open(4); },
      "[method]outgoing-response.set-status-code": (self, code) => { log.status = code; return 0; },
      "[method]outgoing-response.body": (self, r) => { dv().setUint8(r, 0); dv().setUint32(r + 4, open(5), true); },
      "[static]response-outparam.set": (out, isErr, resp) => { log.set = !isErr && resp === 4; live.delete(4); live.delete(1); },
      "[method]outgoing-body.write": (self, r) => { dv().setUint8(r, 0); dv().setUint32(r + 4, open(6), true); },
      "[static]outgoing-body.finish": (b, has, t, r) => { drop(b, "body"); dv().setUint8(r, 0); },
    },
    "wasi:io/streams@0.2.0": {
      "[method]output-stream.blocking-write-and-flush": (self, p, n, r) => {
        if (n > 4096) log.errors.push(`a write of ${n} bytes, over 4096`);
        log.body.push(Buffer.from(u8().subarray(p, p + n)));
        dv().setUint8(r, 0);
      },
      "[resource-drop]output-stream": (h) => drop(h, "output-stream"),
    },
    "wasi:io/error@0.2.0": { "[resource-drop]error": (h) => drop(h, "error") },
  };
  const inst = new WebAssembly.Instance(mod, imports);
  x = inst.exports;
  mem = x.memory;
  const handle = x["wasi:http/incoming-handler@0.2.0#handle"];
  return (r) => {
    req = { method: "GET", path: "/", headers: {}, ...r };
    log = { status: 200, fields: [], body: [], errors: [], set: false };
    live.clear();
    open(0); open(1);	// the request and the outparam
    try {
      handle(0, 1);
    } catch (e) {
      log.errors.push(`trap: ${e.message}`);
    }
    for (const h of live) log.errors.push(`handle ${h} left live`);
    const body = Buffer.concat(log.body).toString();
    const f = Object.fromEntries(log.fields.map(([k, v]) => [k.toLowerCase(), v]));
    return { ...log, body, f, pages: mem.buffer.byteLength / 65536 };
  };
}

{
  const call = coreHost();
  const ok = (r) => r.errors.length === 0 && r.set;
  let r = call({ path: "/api/time" });
  check(`core: GET /api/time: 200, JSON, every handle dropped or handed on (${r.errors.join("; ")})`,
    ok(r) && r.status === 200 && /^\{"moscow_time":"[^"]+ MSK","timestamp":\d+\}\n$/.test(r.body) &&
    r.f["content-type"] === "application/json; charset=utf-8" && Number(r.f["content-length"]) === r.body.length);
  const page = call({ path: "/" });
  check(`core: GET /: the page in writes of at most 4096 bytes (${page.body.length} bytes in ${page.body.length ? Math.ceil(page.body.length / 4096) : 0})`,
    ok(page) && page.status === 200 && page.body.startsWith("<!doctype html>") && Number(page.f["content-length"]) === page.body.length);
  r = call({ method: "HEAD", path: "/" });
  check("core: HEAD /: no body, GET's fields (Content-Length its length)",
    ok(r) && r.body === "" && JSON.stringify(r.f) === JSON.stringify(page.f));
  r = call({ method: "OPTIONS", path: "/api/time" });
  check("core: OPTIONS: 204, Allow, no Content-Type or body", ok(r) && r.status === 204 && r.f.allow === "GET, HEAD, OPTIONS" && !r.f["content-type"] && r.body === "");
  r = call({ method: "BREW", path: "/api/time" });
  check(`core: an unknown method (BREW, the variant's other case): 405 (${r.status})`, ok(r) && r.status === 405);
  r = call({ path: "/api/time\0" });
  check(`core: a NUL in the path: 400 (${r.status})`, ok(r) && r.status === 400);
  r = call({ path: null });
  check(`core: no path at all: the page (${r.status})`, ok(r) && r.status === 200 && r.body.includes('"api":"/api/time"'));
  r = call({ path: "/mt/", headers: { "spin-path-info": ["/"], "spin-matched-route": ["/mt/..."] } });
  check("core: Spin's headers: the page's links go through /mt", ok(r) && r.body.includes('"api":"/mt/api/time"'));
  const amp = "/" + "&".repeat(1000);
  r = call({ path: amp + "/", headers: { "spin-path-info": ["/"], "spin-matched-route": [amp + "/..."] } });
  check(`core: a page over 4096 bytes (a 1 KB route of &, escaped): in writes of at most 4096 bytes (${r.body.length} bytes in ${r.body.length ? Math.ceil(r.body.length / 4096) : 0})`,
    ok(r) && r.status === 200 && r.body.length > 4096 && Number(r.f["content-length"]) === r.body.length && r.body.endsWith("</html>\n"));
  r = call({ path: "/x/", headers: { "spin-path-info": ["/api/time"], "spin-raw-component-route": ["/x/..."] } });
  check("core: spin-raw-component-route when spin-matched-route is absent", ok(r) && r.status === 200 && r.body.startsWith("{"));
  const before = call({ path: "/api/time" }).pages;
  r = call({ path: "/" + "a".repeat(1 << 20) });
  check(`core: a 1 MiB path: 431, no trap, its bytes written past the static data (memory ${before} -> ${r.pages} pages; ${r.status} ${r.errors.join("; ")})`,
    ok(r) && r.status === 431 && r.body.includes("431") && r.pages > before);
  r = call({ path: "/api/time", headers: { "spin-path-info": ["/" + "b".repeat(300000)], "spin-matched-route": ["/..."] } });
  check(`core: a 300 KB spin-path-info: 431 (${r.status})`, ok(r) && r.status === 431);
  r = call({ path: "/api/time" });
  check("core: the next request on the same instance: 200 (the arena is reset)", ok(r) && r.status === 200);
}

// ---- hostile requests under jco serve -----------------------------------

// One raw request (the bytes as given) on its own connection; the status,
// the header block and the body, or an error. Bounded by ms.
function raw(port, request, ms = 10000) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    const done = (v) => { clearTimeout(t); s.destroy(); resolve(v); };
    const t = setTimeout(() => done({ error: "no answer within " + ms + " ms" }), ms);
    s.on("connect", () => s.write(request, "latin1"));
    s.on("data", (d) => { buf = Buffer.concat([buf, d]); });
    s.on("error", (e) => done(buf.length ? parse(buf) : { error: e.message }));
    s.on("end", () => done(parse(buf)));
  });
}

function parse(buf) {
  const end = buf.indexOf("\r\n\r\n");
  const head = buf.subarray(0, end < 0 ? buf.length : end).toString("latin1");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!m) return { error: `no HTTP response: ${JSON.stringify(head.slice(0, 80))}` };
  const headers = head.split("\r\n").slice(1).map((l) => l.slice(0, l.indexOf(":")).toLowerCase());
  return { status: Number(m[1]), headers, body: end < 0 ? "" : buf.subarray(end + 4).toString("latin1") };
}

const big = (n) => "a".repeat(n);
const SPIN = "spin-matched-route: /mt/...\r\nspin-raw-component-route: /mt/...\r\n";
// [name, request bytes, who may answer: "component" (its own page, with
// its fields), "host" (Node's parser, before the component), or "either"]
const HOSTILE = [
  ["a raw control byte in the target", "GET /a\x01b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "host"],
  ["an escaped control byte (%01)", "GET /a%01b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "component"],
  ["%00 in the path", "GET /api/time%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "component"],
  ["%0a in the path", "GET /api/%0atime HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "component"],
  ["%0d%0a and a header in the path", "GET /a%0d%0aX-Evil:%201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "component"],
  ["a malformed escape", "GET /api/time%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "component"],
  ["dot segments above the root", "GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "component"],
  ["a 64 KiB path", `GET /${big(65536)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, "host"],
  ["a 2 KiB path (over PATH_MAX_BYTES)", `GET /${big(2048)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, "component"],
  ["a 10 KiB query: over the component's arena, 431", `GET /api/time?${big(10240)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, "component", 431],
  ["a 7 KiB spin-path-info beside its path: over the arena, 431",
    `GET /mt/${big(7000)} HTTP/1.1\r\nHost: x\r\n${SPIN}spin-path-info: /${big(7000)}\r\nConnection: close\r\n\r\n`, "component", 431],
  ["a spin-path-info with %0a", `GET /mt/x HTTP/1.1\r\nHost: x\r\n${SPIN}spin-path-info: /api/%0atime\r\nConnection: close\r\n\r\n`, "component"],
  ["a raw DEL byte in spin-matched-route",
    "GET /mt/ HTTP/1.1\r\nHost: x\r\nspin-matched-route: /m\x7ft/...\r\nspin-path-info: /\r\nConnection: close\r\n\r\n", "either"],
  ["a 15 KiB header field", `GET /nope HTTP/1.1\r\nHost: x\r\nX-Big: ${big(15000)}\r\nConnection: close\r\n\r\n`, "component", 404],
  ["a 20 KiB header field", `GET /nope HTTP/1.1\r\nHost: x\r\nX-Big: ${big(20000)}\r\nConnection: close\r\n\r\n`, "host"],
  ["1,000 header fields", `GET /nope HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 1000 }, (_, i) => `X-F${i}: v\r\n`).join("")}Connection: close\r\n\r\n`, "either"],
  ["an unknown 3 KiB method", `${"X".repeat(3000)} /api/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, "either"],
  ["an unknown method", "BREW /api/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "either"],
];

for (const isolate of [false, true]) {
  const mode = isolate ? "instance per request" : "one instance";
  let server;
  try {
    server = await startJcoServe(file, { isolate });
  } catch (e) {
    check(`jco serve (${mode}) starts`, false, e.message);
    continue;
  }
  for (const [name, req, who, want] of HOSTILE) {
    const res = await raw(server.port, req);
    const mine = res.headers?.includes("content-security-policy");
    const why = res.error || `${res.status} from ${mine ? "the component" : "the host"}`;
    const ok = !res.error && res.status >= 400 && res.status < 500 &&
      (want === undefined || res.status === want) &&
      (who === "either" || (who === "component") === Boolean(mine)) &&
      !res.headers.some((h) => h.startsWith("x-evil") || h.startsWith("x-big") || h.startsWith("spin-") || /^x-f\d/.test(h));
    check(`jco serve (${mode}): ${name}: a 4xx from the ${who === "either" ? "host or the component" : who}, no field of the request's (${why})`, ok);
  }
  // a body over one write (4096 bytes): the page under a 1 KB route of &
  const amp = "/" + "&".repeat(1000);
  const big = await raw(server.port, `GET ${amp}/ HTTP/1.1\r\nHost: x\r\nspin-path-info: /\r\nspin-matched-route: ${amp}/...\r\nConnection: close\r\n\r\n`);
  check(`jco serve (${mode}): a 14 KB page arrives whole, in the writes the stream allows (${big.error || big.status + ", " + (big.body || "").length + " bytes"})`,
    big.status === 200 && big.body.length > 4096 && big.body.endsWith("</html>\n"));
  const after = await raw(server.port, "GET /api/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  check(`jco serve (${mode}): still answers 200 after them (no trap)`, after.status === 200 && /"timestamp":\d+/.test(after.body),
    after.error || String(after.status));
  check(`jco serve (${mode}): logged no error`, !/Error|trap|unreachable/i.test(server.log()), server.log().slice(0, 400));
  server.stop();
}

console.log(`# component: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
