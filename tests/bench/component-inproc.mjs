// make bench: the cost of one request as Spin pays it, in one Node process.
// A fresh instance of cgi.component.wasm and its wasi:http handle, against
// a fresh instance of cgi.wasm inside jco's preview1 command adapter (as
// Spin 3 and later run a WAGI module) and its run, with the environment
// Spin's WAGI executor sets for GET /api/time. Both transpiled by jco with
// --instantiation sync; the core modules are compiled once, as a host
// caches them, and each iteration instantiates afresh. The two alternate,
// each iteration timed in two parts (the instance, then the request);
// medians in ms go to OUT as JSON.
//
// The component's host here is a few JavaScript classes standing in for
// wasi:http/types (what jco serve's would cost is its HTTP server's, not
// the component's; the bench's jco serve rows show that). The command runs
// on jco's own preview2 shim, its output written to this process's stdout
// (send it to /dev/null).
//
// Also in OUT: the host calls each makes per request (every JavaScript
// function its core modules import, counted in one untimed request), and
// the same medians without the JSPI stand-in below, from a pass of N / 5.
//
//   node --expose-gc tests/bench/component-inproc.mjs N HTTP_DIR CMD_DIR OUT
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { jspi, lacksJspi } from "../lib/jspi.mjs";
import { wagiEnv } from "../lib/spin.mjs";

// jco's bindings throw once per instance on this Node when probing for
// JSPI (tests/lib/jspi.mjs): the stand-in is set for the figures, and
// they are measured with the probe throwing too (noProbe).
const standIn = lacksJspi;
jspi(true);

const here = new URL("..", import.meta.url).pathname;	// tests/
const [n, httpDir, cmdDir, out] = [Number(process.argv[2]), ...process.argv.slice(3)];
const shim = join(here, "node_modules/@bytecodealliance/preview2-shim/dist");
const { WASIShim } = await import(pathToFileURL(join(shim, "common/instantiation.js")));
const cli = await import(pathToFileURL(join(shim, "nodejs/cli.js")));
const http = await import(pathToFileURL(join(httpDir, "cgi.js")));
const cmd = await import(pathToFileURL(join(cmdDir, "cgi.js")));

function cache(dir) {
  const m = new Map();
  return (p) => m.get(p) ?? m.set(p, new WebAssembly.Module(readFileSync(join(dir, p)))).get(p);
}
const httpCore = cache(httpDir), cmdCore = cache(cmdDir);

// ---- a minimal wasi:http host ------------------------------------------
class Fields {
  constructor(entries = []) { this.entries = entries; }
  static fromList(entries) { return new Fields(entries); }
  get(name) { return this.entries.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v); }
}
class IncomingRequest {
  constructor(method, path, headers) { this.m = method; this.p = path; this.h = headers; }
  method() { return { tag: this.m }; }
  pathWithQuery() { return this.p; }
  headers() { return this.h; }
}
class OutputStream {
  constructor() { this.chunks = []; }
  blockingWriteAndFlush(b) { this.chunks.push(Buffer.from(b)); }
}
class OutgoingBody {
  write() { return (this.stream = new OutputStream()); }
  static finish() {}
}
class OutgoingResponse {
  constructor(fields) { this.fields = fields; this.status = 200; }
  setStatusCode(s) { this.status = s; }
  body() { return (this.b = new OutgoingBody()); }
}
class ResponseOutparam {
  static set(param, result) { param.result = result; }
}
class IoError {}
const httpImports = {
  "wasi:clocks/wall-clock": { now: () => ({ seconds: BigInt(Math.floor(Date.now() / 1000)), nanoseconds: 0 }) },
  "wasi:http/types": { Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam },
  "wasi:io/error": { Error: IoError },
  "wasi:io/streams": { OutputStream },
};

// ---- the two requests ----------------------------------------------------
const headers = [["host", "127.0.0.1:3000"], ["user-agent", "bench"], ["accept", "*/*"]];
cli._setEnv(wagiEnv({ method: "GET", rawPath: "/api/time", query: "", httpVersion: "1.1", headers,
  body: Buffer.alloc(0), client: { address: "127.0.0.1", port: 50000 }, route: "/...", prefix: "" }));
cli._setArgs(["/api/time", ""]);

// ---- host calls -----------------------------------------------------------
// An instantiateCore for jco's bindings that counts, into calls, every call
// of a JavaScript function a core module imports: the host calls. An
// import of another core instance's export is wasm calling wasm, not
// counted. jco's shim module exports stand-ins ("0", "1", ...) for host
// functions that a last module fills in; each is named by the import the
// stand-in was given to.
function counting(calls) {
  const exported = new Map();	// a core instance's function -> its export name
  const named = new Map();	// a stand-in's export name -> the import it is
  return (module, imports = {}) => {
    const counted = {};
    for (const [mod, fns] of Object.entries(imports)) {
      counted[mod] = {};
      for (const [name, f] of Object.entries(fns)) {
        if (exported.has(f)) named.set(exported.get(f), `${mod}#${name}`);
        if (typeof f !== "function" || exported.has(f)) { counted[mod][name] = f; continue; }
        const label = named.get(name) ?? `${mod}#${name}`;
        counted[mod][name] = Object.assign(function (...a) {
          calls.set(label, (calls.get(label) ?? 0) + 1);
          return f.apply(this, a);
        }, f);
      }
    }
    const inst = new WebAssembly.Instance(module, counted);
    for (const [name, f] of Object.entries(inst.exports)) if (typeof f === "function") exported.set(f, name);
    return inst;
  };
}

// each: (instantiateCore?) => the instance, and instance => its request
const component = [(ic) => http.instantiate(httpCore, httpImports, ic), (inst) => {
  const outp = new ResponseOutparam();
  inst.incomingHandler.handle(new IncomingRequest("get", "/api/time",
    new Fields(headers.map(([k, v]) => [k, Buffer.from(v)]))), outp);
  return outp;
}];
const command = [(ic) => cmd.instantiate(cmdCore, new WASIShim().getImportObject(), ic), (inst) => inst.run.run()];

// one request of each, untimed: its host calls, by name
function hostCalls([make, call]) {
  const calls = new Map();
  const inst = make(counting(calls));
  calls.clear();	// the request's alone (instantiating makes none)
  const r = call(inst);
  return [r, Object.fromEntries(calls)];
}
const [first, componentCalls] = hostCalls(component);
const [, commandCalls] = hostCalls(command);
const total = (c) => Object.values(c).reduce((a, b) => a + b, 0);

// the component's answer, checked once: 200, the JSON document
const body = Buffer.concat(first?.result?.val?.b?.stream?.chunks ?? []).toString();
if (first?.result?.tag !== "ok" || first.result.val.status !== 200 || !/^\{"moscow_time":"[^"]+ MSK","timestamp":\d+\}\n$/.test(body)) {
  console.error(`component-inproc: the component did not answer 200 with the time: ${JSON.stringify(body)}`);
  process.exit(1);
}

// iters rounds, the two alternating: medians in ms of each part
function measure(iters) {
  const times = [[], [], [], [], [], []];	// total, instance, request: component, then command
  for (let i = 0; i < iters; i++) {
    for (const [k, [make, call]] of [component, command].entries()) {
      const t0 = process.hrtime.bigint();
      const inst = make();
      const t1 = process.hrtime.bigint();
      call(inst);
      const t2 = process.hrtime.bigint();
      times[3 * k].push(Number(t2 - t0) / 1e6);
      times[3 * k + 1].push(Number(t1 - t0) / 1e6);
      times[3 * k + 2].push(Number(t2 - t1) / 1e6);
    }
    if (i % 20 === 19) gc();	// untimed: dead instances pile up otherwise
  }
  const med = (v) => { const s = [...v].sort((a, b) => a - b); return s[(s.length - 1) >> 1]; };
  const [component_, componentInstance, componentRequest, command_, commandInstance, commandRun] = times.map(med);
  return { component: component_, componentInstance, componentRequest, command: command_, commandInstance, commandRun };
}
const figures = measure(n);
jspi(false);
const noProbe = standIn ? measure(Math.max(20, Math.round(n / 5))) : null;
writeFileSync(out, JSON.stringify({ ...figures, standIn, noProbe,
  componentHostCalls: total(componentCalls), commandHostCalls: total(commandCalls),
  hostCalls: { component: componentCalls, command: commandCalls } }) + "\n");
