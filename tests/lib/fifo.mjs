// What can be read now from the FIFO at path, as text: a log that a test
// has kept unread until then (its writer holds it open).
import { closeSync, constants as fsc, openSync, readSync } from "node:fs";

export function drain(path) {
  const fd = openSync(path, fsc.O_RDONLY | fsc.O_NONBLOCK), b = Buffer.alloc(65536), out = [];
  try {
    for (;;) {
      let n;
      try { n = readSync(fd, b); } catch (e) { if (e.code === "EAGAIN") break; throw e; }
      if (n === 0) break;
      out.push(Buffer.from(b.subarray(0, n)));
    }
  } finally { closeSync(fd); }
  return Buffer.concat(out).toString("latin1");
}
