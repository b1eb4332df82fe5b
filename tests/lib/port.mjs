// A free TCP port on 127.0.0.1 for a server a test or benchmark starts
// (the kernel's pick, released at once: bind it soon).
import net from "node:net";

export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

// The port a server child prints as its first line of standard output
// (serve -p 0, tests/lib/hosts.mjs, tests/lib/spin.mjs); rejects if the child exits
// or fails to start first, or prints none within ms. `what` names it in
// the error, followed by detail() (its standard error, say).
export function printedPort(proc, what, { ms = 15000, detail = () => "" } = {}) {
  return new Promise((resolve, reject) => {
    const fail = (why) => { clearTimeout(t); reject(new Error(`${what} ${why}${detail()}`)); };
    const t = setTimeout(() => fail("printed no port"), ms);
    proc.on("exit", () => fail("exited before it printed a port"));
    proc.on("error", (e) => fail(`could not start: ${e.message}`));
    let out = "";
    proc.stdout.on("data", (d) => { out += d; const m = /^(\d+)\n/.exec(out); if (m) { clearTimeout(t); resolve(Number(m[1])); } });
  });
}
