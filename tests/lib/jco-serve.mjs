// A wasi:http component served by `jco serve` on 127.0.0.1: one instance
// for every request, or a fresh instance per request (isolate, jco's
// --isolate-requests instance, as Spin gives each request).
//
//   node tests/lib/jco-serve.mjs COMPONENT [--isolate]
// prints its port on the first line of stdout and stops on SIGTERM, SIGINT
// or the end of its stdin. As a module: startJcoServe(file, { isolate }).
//
// jco serve transpiles the component and runs it in a node process of its
// own; both are started in a process group of their own, stopped by the
// group leader's PID.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./port.mjs";

const here = new URL("..", import.meta.url).pathname;	// tests/
export const JCO = join(here, "node_modules/@bytecodealliance/jco/dist/jco.js");

export async function startJcoServe(file, { isolate = false, ms = 60000 } = {}) {
  if (!existsSync(JCO)) throw new Error("jco is not installed: run make deps (npm ci in tests/)");
  if (!existsSync(file)) throw new Error(`${file} is missing: run make component`);
  const port = await freePort();
  const proc = spawn(process.execPath, [JCO, "serve", file, "--host", "127.0.0.1", "--port", String(port),
    ...(isolate ? ["--isolate-requests", "instance"] : [])],
  { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const stop = () => { try { process.kill(-proc.pid, "SIGTERM"); } catch { /* gone */ } };
  process.on("exit", stop);
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => { stop(); reject(new Error(`jco serve did not listen within ${ms} ms: ${log}`)); }, ms);
    const seen = (d) => {
      log += d;
      if (log.includes(`Server listening @ 127.0.0.1:${port}`)) { clearTimeout(t); resolve(); }
    };
    proc.stdout.on("data", seen);
    proc.stderr.on("data", seen);
    proc.on("exit", (code) => { clearTimeout(t); reject(new Error(`jco serve exited (${code}): ${log}`)); });
  });
  return { port, proc, stop, log: () => log };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, ...opts] = process.argv.slice(2);
  if (!file || opts.some((o) => o !== "--isolate")) {
    console.error("usage: node tests/lib/jco-serve.mjs COMPONENT [--isolate]");
    process.exit(2);
  }
  const s = await startJcoServe(file, { isolate: opts.includes("--isolate") });
  console.log(s.port);
  const bye = () => { s.stop(); process.exit(0); };
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, bye);
  process.stdin.on("end", bye);
  process.stdin.resume();
  s.proc.on("exit", () => process.exit(1));
}
