// HTTP/1.1 over raw sockets on 127.0.0.1, for the suites that speak to
// serve: send exact bytes, collect what comes back, parse every response
// (chunked, Content-Length or close-delimited), and two assertions.
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

// Send bytes (or a list of [bytes, delayMs]) and collect what comes back
// until the server closes or `until(buf)` holds or timeout ms pass.
export function exchange(port, payload, { timeout = 5000, until = null, host = "127.0.0.1", reset = false } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, host);
    let buf = Buffer.alloc(0), done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (reset && !closed) s.resetAndDestroy();
      else s.destroy();
      resolve({ buf, closed, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), timeout);
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (until && until(buf)) finish(false);
    });
    s.on("end", () => finish(true));
    s.on("error", () => finish(true));
    s.on("connect", async () => {
      const parts = Array.isArray(payload) ? payload : [[payload, 0]];
      for (const [bytes, delay] of parts) {
        if (delay) await sleep(delay);
        if (done) return;
        s.write(bytes);
      }
    });
  });
}

// Parse every complete response in buf (HEAD responses: pass heads).
export function parseResponses(buf, heads = []) {
  const res = [];
  let off = 0;
  while (off < buf.length) {
    const end = buf.indexOf("\r\n\r\n", off);
    if (end < 0) break;
    const lines = buf.subarray(off, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.([01]) (\d{3}) (.*)$/.exec(lines[0]);
    if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    const headers = new Map();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      const k = l.slice(0, i).toLowerCase(), v = l.slice(i + 1).trim();
      headers.set(k, [...(headers.get(k) || []), v]);
    }
    const r = { version: m[1], status: Number(m[2]), reason: m[3], headers, raw: lines };
    r.h = (k) => (headers.get(k.toLowerCase()) || [undefined])[0];
    off = end + 4;
    const noBody = heads[res.length] || r.status === 204 || r.status === 304 || r.status === 100;
    if (noBody) {
      r.body = Buffer.alloc(0);
    } else if (r.h("transfer-encoding") === "chunked") {
      const parts = [];
      for (;;) {
        const le = buf.indexOf("\r\n", off);
        if (le < 0) throw new Error("truncated chunk size");
        const size = parseInt(buf.subarray(off, le).toString(), 16);
        off = le + 2;
        if (size === 0) { off += 2; break; }
        parts.push(buf.subarray(off, off + size));
        off += size + 2;
      }
      r.body = Buffer.concat(parts);
    } else if (r.h("content-length") !== undefined) {
      const n = Number(r.h("content-length"));
      r.body = buf.subarray(off, off + n);
      if (r.body.length < n) throw new Error("truncated body");
      off += n;
    } else {
      r.body = buf.subarray(off);
      off = buf.length;
    }
    res.push(r);
  }
  return res;
}

export function get(path, extra = "", version = "1.1") {
  return `GET ${path} HTTP/${version}\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`;
}

export async function one(port, bytes, opts) {
  const x = await exchange(port, bytes, opts);
  const r = parseResponses(x.buf, opts && opts.heads);
  if (r.length !== 1) throw new Error(`${r.length} responses to one request: ${x.buf.toString("latin1").slice(0, 300)}`);
  r[0].closed = x.closed;
  r[0].ms = x.ms;
  return r[0];
}

export function eq(a, b, what) {
  if (a !== b) throw new Error(`${what}: ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
}
export function assert(c, what) { if (!c) throw new Error(what); }
