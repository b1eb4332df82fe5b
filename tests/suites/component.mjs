// cgi.component.wasm beyond the contract table (which tests/suites/matrix.mjs
// replays through it under jco serve at /mt): what it is (its size, the
// world it imports and exports as `jco wit` prints it, no preview1 adapter,
// nothing of wasi:cli or the filesystem, a reproducible build) and how it
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
  const after = await raw(server.port, "GET /api/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  check(`jco serve (${mode}): still answers 200 after them (no trap)`, after.status === 200 && /"timestamp":\d+/.test(after.body),
    after.error || String(after.status));
  check(`jco serve (${mode}): logged no error`, !/Error|trap|unreachable/i.test(server.log()), server.log().slice(0, 400));
  server.stop();
}

console.log(`# component: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
