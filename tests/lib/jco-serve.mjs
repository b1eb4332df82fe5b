// A wasi:http component served by `jco serve` on 127.0.0.1: one instance
// for every request, or a fresh instance per request (isolate, jco's
// --isolate-requests instance, as Spin gives each request).
//
//   node tests/lib/jco-serve.mjs COMPONENT [--isolate] [--route /mt/...]
// prints its port on the first line of stdout and stops on SIGTERM, SIGINT
// or the end of its stdin. As a module: startJcoServe(file, { isolate }).
// With --route, the port is that of a small router in front of jco serve
// that plays Spin's: a request under the route's prefix goes on with the
// headers Spin adds (spin-path-info, spin-matched-route, ...; any the
// client sent are dropped), any other gets a 404 (for the browser test,
// which cannot add them itself).
//
// jco serve transpiles the component and runs it in a node process of its
// own; both are started in a process group of their own, stopped by the
// group leader's PID.
import { spawn } from "node:child_process";
import http from "node:http";
import { existsSync, fstatSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./port.mjs";

const here = new URL("..", import.meta.url).pathname;	// tests/
export const JCO = join(here, "node_modules/@bytecodealliance/jco/dist/jco.js");

// jspiStandIn: the served process gets tests/lib/jspi-on.mjs first, so
// that jco's bindings do not throw at each instance on a Node without
// JSPI (make bench's rows, as on a Node with it).
export async function startJcoServe(file, { isolate = false, jspiStandIn = false, ms = 60000 } = {}) {
  if (!existsSync(JCO)) throw new Error("jco is not installed: run make deps (npm ci in tests/)");
  if (!existsSync(file)) throw new Error(`${file} is missing: run make component`);
  const port = await freePort();
  const proc = spawn(process.execPath, [JCO, "serve", file, "--host", "127.0.0.1", "--port", String(port),
    ...(isolate ? ["--isolate-requests", "instance"] : []),
    ...(jspiStandIn ? ["--jco-import", join(here, "lib/jspi-on.mjs")] : [])],
  { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  // stopped once, by the caller or at this process's exit: make bench
  // starts a score of them, and each would leave a listener behind
  const stop = () => {
    process.off("exit", stop);
    try { process.kill(-proc.pid, "SIGTERM"); } catch { /* gone */ }
  };
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

// Spin's router in front of a server on port: the headers it adds for a
// component mounted at route ("/mt/..."). Resolves to the router.
export function spinRouter(port, route) {
  const prefix = route.replace(/\/\.\.\.$/, "");
  const server = http.createServer((req, res) => {
    const path = req.url.replace(/\?.*$/s, "");
    if (!(path === prefix || path.startsWith(prefix + "/"))) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("no route\n");
      return;
    }
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !k.startsWith("spin-")));
    Object.assign(headers, {
      "spin-full-url": `http://${req.headers.host}${req.url}`,
      "spin-path-info": path.slice(prefix.length),
      "spin-matched-route": route,
      "spin-raw-component-route": route,
      "spin-component-route": prefix,
      "spin-base-path": "/",
    });
    const up = http.request({ host: "127.0.0.1", port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on("error", () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, ...opts] = process.argv.slice(2);
  const ri = opts.indexOf("--route");
  const route = ri >= 0 ? opts.splice(ri, 2)[1] : null;
  if (!file || opts.some((o) => o !== "--isolate") || (ri >= 0 && !/^\/.*\/\.\.\.$/.test(route ?? ""))) {
    console.error("usage: node tests/lib/jco-serve.mjs COMPONENT [--isolate] [--route /PREFIX/...]");
    process.exit(2);
  }
  const s = await startJcoServe(file, { isolate: opts.includes("--isolate") });
  console.log(route ? (await spinRouter(s.port, route)).address().port : s.port);
  const bye = () => { s.stop(); process.exit(0); };
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, bye);
  // the end of a piped stdin stops it too (a harness that dies closes it)
  if (fstatSync(0).isFIFO()) {
    process.stdin.on("end", bye);
    process.stdin.resume();
  }
  s.proc.on("exit", () => process.exit(1));
}
