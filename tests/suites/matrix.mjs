// make matrix: one program, every host. Replays the contract table's HTTP
// cases (tests/contract.json) through every context this machine has, with
// tests/suites/contract.mjs, and prints one matrix: a row per request, a column
// per context, each cell the status and
//   =     the body is the one ./cgi writes for those variables (but for the
//         clock and the mount point)
//   host  the server's own answer, before any program ran (the table's
//         via says which and why)
//   via   another answer the table explains (a server that rewrote the path)
//   FAIL  anything else
// Every cell is also an ok/FAIL line; exits 1 on any FAIL.
//
//   node tests/suites/matrix.mjs [--markdown FILE]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const here = new URL("..", import.meta.url).pathname;	// tests/
const jco = join(here, ".build/jco");
const COLUMNS = [
  ["cgi", ["native", "./cgi", "--http"]],
  ["node:wasi", ["wasi", "cgi.wasm", "--http"]],
  ["jco", ["jco", jco, "--http"]],
  ["spin /", ["spin", jco, "--route", "/..."]],
  ["spin /mt", ["spin", jco, "--route", "/mt/..."]],
  ["serve", ["serve", "./serve"]],
  ["serve -F", ["host", "serve-fastcgi"]],
  ["serve -f spawn-fcgi", ["host", "serve-spawn-fcgi"]],
  ["serve -f fcgiwrap", ["host", "serve-fcgiwrap"]],
  // the wasi:http component under jco serve at /mt, Spin's router headers
  // sent by the client: one instance, and a fresh one per request
  ["component /mt", ["component", "cgi.component.wasm", "--route", "/mt/..."]],
  ["component /mt, instance per request", ["component", "cgi.component.wasm", "--route", "/mt/...", "--isolate"]],
  ["apache /mt", ["host", "apache"]],
  ["apache /", ["host", "apache", "--root"]],
  ["lighttpd /mt", ["host", "lighttpd"]],
  ["lighttpd /", ["host", "lighttpd", "--root"]],
  ["nginx+fcgiwrap /mt", ["host", "nginx-fcgiwrap"]],
  ["nginx+fcgiwrap /", ["host", "nginx-fcgiwrap", "--root"]],
  ["nginx+FastCGI /mt", ["host", "nginx-fastcgi"]],
  ["nginx+FastCGI /", ["host", "nginx-fastcgi", "--root"]],
  ["lighttpd+FastCGI /mt", ["host", "lighttpd-fastcgi"]],
  ["lighttpd+FastCGI /", ["host", "lighttpd-fastcgi", "--root"]],
  ["systemd socket", ["host", "systemd"]],
  ["systemd Accept=yes", ["host", "systemd-accept"]],
  ["tcpserver + serve -i", ["host", "tcpserver"]],
  ["xinetd + serve -i", ["host", "xinetd"]],
];

const dir = mkdtempSync(join(tmpdir(), "mt-matrix-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function run(args, json) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(here, "suites/contract.mjs"), ...args, "--json", json],
      { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d) => { out += d; });
    p.on("close", (code) => resolve({ code, out }));
  });
}

let passed = 0, failed = 0;
const results = [];
for (const [name, args] of COLUMNS) {
  const json = join(dir, `${results.length}.json`);
  const { code, out } = await run(args, json);
  for (const line of out.split("\n")) {
    if (line.startsWith("ok ")) { passed++; console.log(line); }
    if (line.startsWith("FAIL")) { failed++; console.log(line); }
  }
  let cells = [];
  try { cells = JSON.parse(readFileSync(json, "utf8")).cells; } catch { /* none */ }
  if (code !== 0 && !out.includes("FAIL")) {
    failed++;
    console.log(`FAIL - matrix: ${name}: contract.mjs ${args.join(" ")} exited ${code}`);
  }
  results.push({ name, cells: new Map(cells.map((c) => [c.name, c.cell])) });
}

// the rows: every case with an HTTP form, in the table's order
const table = JSON.parse(readFileSync(join(here, "contract.json"), "utf8"));
const rows = table.cases.filter((c) => c.request);
const lines = [];
lines.push(`| request | ${results.map((r) => r.name).join(" | ")} |`);
lines.push(`|---|${results.map(() => "---").join("|")}|`);
for (const c of rows) {
  const hdrs = Object.keys(c.request.headers || {}).map((h) => ` +${h}`).join("");
  const target = `${c.request.method} ${c.request.target}${hdrs}`.replace(/[\x00-\x1f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`);
  const label = target.length > 40 ? `${target.slice(0, 37)}...` : target;
  lines.push(`| \`${label.replace(/\|/g, "\\|")}\` | ${results.map((r) => r.cells.get(c.name) ?? "-").join(" | ")} |`);
}
console.log("\n" + lines.join("\n") + "\n");
console.log("= the body is cgi's own for the same variables; host: the server answered before any program; via: the table explains it (tests/contract.json)");
const mdIdx = process.argv.indexOf("--markdown");
if (mdIdx >= 0) writeFileSync(process.argv[mdIdx + 1], lines.join("\n") + "\n");
console.log(`# matrix: ${passed} passed, ${failed} failed (${rows.length} requests, ${results.length} contexts)`);
process.exit(failed ? 1 : 0);
