// Runs a jco-transpiled WASI command component, as `jco run` does, with
// argv[0] "cgi" and the rest of this script's arguments.
//   node tests/jco-run.mjs DIR/cgi.js [arg ...]
import process from "node:process";
import { pathToFileURL } from "node:url";

const [, , js, ...args] = process.argv;
process.argv.splice(1, process.argv.length - 1, "cgi", ...args);
const mod = await import(pathToFileURL(js).href);
try {
  await mod.run.run();
  await new Promise((resolve) => setTimeout(resolve));
  process.exit(0);
} catch (e) {
  console.error(e);
  process.exit(1);
}
