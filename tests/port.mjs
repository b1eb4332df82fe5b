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
