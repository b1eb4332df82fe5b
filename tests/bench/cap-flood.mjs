// serve at its connection cap: N clients at once, each sending one whole
// GET /slow (the test CGI sleeps 1 s) at connect, serve under
// `prlimit --nofile=NOFILE`, so -C is what the descriptors leave. Prints
// how many were answered 200, 503, anything else or nothing, and how many
// log lines serve wrote for them. A measurement, not a test: it exits 0.
// 127.0.0.1 only; every client gives up after 120 s; serve is stopped by
// its PID.
//
//   node tests/bench/cap-flood.mjs [SERVE [NOFILE [CLIENTS]]]
//   (defaults ./serve 1024 1500; make serve tests/fixtures/testcgi first)
import { spawn } from "node:child_process";
import net from "node:net";
import { printedPort } from "../lib/port.mjs";

const [SERVE = "./serve", NOFILE = "1024", CLIENTS = "1500"] = process.argv.slice(2);
const n = Number(CLIENTS);
const proc = spawn("prlimit", [`--nofile=${NOFILE}`, SERVE, "-b", "127.0.0.1", "-p", "0", "tests/fixtures/testcgi"],
  { stdio: ["ignore", "pipe", "pipe"] });
let log = "";
proc.stderr.on("data", (d) => { log += d.toString("latin1"); });
const port = await printedPort(proc, "serve", { ms: 5000 });

function client() {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let buf = "", done = false;
    const end = (what) => { if (!done) { done = true; clearTimeout(t); s.destroy(); resolve(what); } };
    const t = setTimeout(() => end("timeout"), 120000);
    s.on("connect", () => s.write("GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    s.on("data", (d) => { buf += d.toString("latin1"); });
    s.on("end", () => end(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? "empty close"));
    s.on("error", (e) => end(e.code || "error"));
  });
}

const t0 = Date.now();
const got = await Promise.all(Array.from({ length: n }, client));
const secs = (Date.now() - t0) / 1000;
await new Promise((r) => setTimeout(r, 300));
proc.kill("SIGKILL");
const count = {};
for (const g of got) count[g] = (count[g] || 0) + 1;
const logged = log.split("\n").filter((l) => /"GET \/slow HTTP\/1\.1" \d{3} /.test(l)).length;
console.log(`cap-flood: ${n} clients, nofile ${NOFILE}, ${secs.toFixed(1)} s: ` +
  Object.entries(count).map(([k, v]) => `${k} ${v}`).join(", ") + `; ${logged} logged`);
