// Runs a jco-transpiled WASI command component, as `jco run` does, with
// argv[0] "cgi" (or ARGV0) and the rest of this script's arguments.
//   node tests/lib/jco-run.mjs DIR/cgi.js [--argv0 ARGV0] [arg ...]
import process from "node:process";
import { pathToFileURL } from "node:url";

const [, , js, ...rest] = process.argv;
const args = rest[0] === "--argv0" ? rest.slice(1) : ["cgi", ...rest];
process.argv.splice(1, process.argv.length - 1, ...args);
const mod = await import(pathToFileURL(js).href);
try {
  await mod.run.run();
  await new Promise((resolve) => setTimeout(resolve));
  process.exit(0);
} catch (e) {
  console.error(e);
  process.exit(1);
}
