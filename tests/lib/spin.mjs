// A Spin emulation: serves cgi.wasm over HTTP the way Spin's WAGI executor
// runs a module (see the README's "Spin" section): the module wrapped by
// jco in the WASI preview1 command adapter Spin uses, a fresh instance per
// request (here a fresh process), the environment built as Spin builds it
// and nothing of the host's, argv as Spin builds it, the body on stdin,
// and stdout turned into the response by Spin's rules. Listens on
// 127.0.0.1 only and prints its port on the first line of stdout.
//
//   node tests/lib/spin.mjs [--component DIR] [--port N] [--route R ...]
//
// DIR holds the transpiled component (tests/.build/jco, from make check);
// each --route is a Spin route ("/..." by default; "/mt/..." mounts the
// app under /mt). Requests to no route get 404, as in Spin.
import http from "node:http";
import { spawn } from "node:child_process";
import { join } from "node:path";

const here = new URL("..", import.meta.url).pathname;	// tests/
const RUN_LIMIT_MS = 10000;	// a module still running then: 500

// ---- what Spin does, as pure functions --------------------------------

// The route a path falls under: the longest wildcard prefix that matches.
export function matchRoute(routes, path) {
  let best = null;
  for (const route of routes) {
    const prefix = route.endsWith("/...") ? route.slice(0, -4) : route;
    const wild = route.endsWith("/...");
    const hit = wild ? path === prefix || path.startsWith(prefix + "/") || prefix === "" : path === prefix;
    if (hit && (!best || prefix.length > best.prefix.length)) best = { route, prefix };
  }
  return best;
}

function pctDecode(s) {
  const bytes = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "%" && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(s[i], "utf8"));
  }
  return Buffer.from(bytes).toString("utf8");
}

// The environment Spin's WAGI executor gives a module: no host variables.
export function wagiEnv({ method, rawPath, query, httpVersion, headers, body, client, route, prefix }) {
  const host = headers.find(([k]) => k.toLowerCase() === "host")?.[1] ?? "";
  const colon = host.startsWith("[") ? host.indexOf(":", host.indexOf("]")) : host.lastIndexOf(":");
  const remainder = rawPath.slice(prefix.length);
  const env = {
    REQUEST_METHOD: method,
    QUERY_STRING: query,
    CONTENT_LENGTH: String(body.length),
    CONTENT_TYPE: "",	// Spin looks it up under a wrong name: always empty
    GATEWAY_INTERFACE: "CGI/1.1",
    SERVER_SOFTWARE: "WAGI/1",
    SERVER_PROTOCOL: `HTTP/${httpVersion}`,
    SERVER_NAME: colon > 0 ? host.slice(0, colon) : host,
    SERVER_PORT: colon > 0 ? host.slice(colon + 1) : "80",
    REMOTE_ADDR: client.address,
    REMOTE_HOST: client.address,
    AUTH_TYPE: "",
    REMOTE_USER: "",
    SCRIPT_NAME: prefix,
    PATH_INFO: remainder,	// raw, not percent-decoded
    X_RAW_PATH_INFO: remainder,
    PATH_TRANSLATED: pctDecode(remainder),
    X_FULL_URL: `http://${host}${rawPath}${query ? "?" + query : ""}`,
    X_MATCHED_ROUTE: route,
    X_RAW_COMPONENT_ROUTE: route,
    X_COMPONENT_ROUTE: prefix,
    X_BASE_PATH: "/",
    X_CLIENT_ADDR: `${client.address}:${client.port}`,
  };
  // every header but Authorization and Connection; one value per name
  for (const [k, v] of headers) {
    if (/^(authorization|connection)$/i.test(k)) continue;
    env[`HTTP_${k.toUpperCase().replace(/-/g, "_")}`] = v;
  }
  return env;
}

// argv as Spin builds it: the raw path, and the query with & as spaces.
export function wagiArgv(rawPath, query) {
  return [rawPath, query.replace(/&/g, " ")];
}

// Spin's reading of a module's stdout: { status, headers, body }.
export function parseWagiOutput(out) {
  let i = 0, end = -1;
  const lines = [];
  while (i <= out.length) {
    const lf = out.indexOf(0x0a, i);
    if (lf < 0) break;
    const line = out.subarray(i, lf).toString("utf8").replace(/\r/g, "");
    i = lf + 1;
    if (line === "") { end = i; break; }
    lines.push(line);
  }
  if (end < 0) return { status: 502, headers: {}, body: Buffer.alloc(0) };
  const headers = {};
  for (const line of lines) {
    const c = line.indexOf(":");
    if (c < 0) continue;	// no colon: ignored
    headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  let status = 200;
  if (headers.status !== undefined) {
    status = Number(headers.status.slice(0, 3));
    if (!(status >= 100 && status <= 999)) return { status: 502, headers: {}, body: Buffer.alloc(0) };
    delete headers.status;
  } else if (headers.location !== undefined) status = 302;
  else if (headers["content-type"] === undefined) return { status: 500, headers: {}, body: Buffer.alloc(0) };
  return { status, headers, body: out.subarray(end) };
}

// ---- running a module once --------------------------------------------

function runModule(dir, env, argv, body) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(here, "lib/jco-run.mjs"), join(dir, "cgi.js"), "--argv0", ...argv],
      { env, stdio: ["pipe", "pipe", "pipe"] });
    const out = [], err = [];
    const timer = setTimeout(() => p.kill("SIGKILL"), RUN_LIMIT_MS);
    p.stdout.on("data", (d) => out.push(d));
    p.stderr.on("data", (d) => err.push(d));
    p.on("close", (code, sig) => {
      clearTimeout(timer);
      resolve({ code: sig ? 128 : code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
    p.stdin.on("error", () => {});
    p.stdin.end(body);
  });
}

export function startSpin({ dir, routes, port = 0 }) {
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const q = req.url.indexOf("?");
    const rawPath = q < 0 ? req.url : req.url.slice(0, q);
    const query = q < 0 ? "" : req.url.slice(q + 1);
    const m = matchRoute(routes, rawPath);
    if (!m) { res.writeHead(404).end(); return; }
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    const env = wagiEnv({ method: req.method, rawPath, query, httpVersion: req.httpVersion, headers, body,
      client: { address: req.socket.remoteAddress, port: req.socket.remotePort }, ...m });
    // A process environment cannot hold a NUL (a decoded %00): the
    // emulation refuses such a request itself, as no module can be given it.
    if (Object.values(env).some((v) => v.includes("\0"))) { res.writeHead(400).end(); return; }
    const r = await runModule(dir, env, wagiArgv(rawPath, query), body);
    if (r.stderr.length) process.stderr.write(r.stderr);	// the component log
    // a non-zero exit or a trap: 500, nothing of the output
    const out = r.code === 0 ? parseWagiOutput(r.stdout) : { status: 500, headers: {}, body: Buffer.alloc(0) };
    res.writeHead(out.status, out.headers);
    res.end(out.body);
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const routes = [];
  let dir = join(here, ".build", "jco"), port = 0;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--component") dir = args[++i];
    else if (args[i] === "--port") port = Number(args[++i]);
    else if (args[i] === "--route") routes.push(args[++i]);
    else { console.error("usage: node tests/lib/spin.mjs [--component DIR] [--port N] [--route R ...]"); process.exit(2); }
  }
  const server = await startSpin({ dir, routes: routes.length ? routes : ["/..."], port });
  console.log(server.address().port);
  for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)));
}
