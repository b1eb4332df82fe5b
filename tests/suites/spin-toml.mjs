// Checks spin.toml: a Spin manifest (version 2) that runs the module
// `make wasm` builds under the WAGI executor at the route "/...", with no
// outbound network and no entrypoint but _start.
//   node tests/suites/spin-toml.mjs        (prints ok/FAIL lines)
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";

const m = parse(readFileSync(new URL("../../spin.toml", import.meta.url), "utf8"));
const make = readFileSync(new URL("../../Makefile", import.meta.url), "utf8");
let failed = 0;
function check(ok, what) {
  console.log(`${ok ? "ok" : "FAIL"} - spin.toml: ${what}`);
  if (!ok) failed++;
}

const triggers = m.trigger?.http ?? [];
const id = triggers[0]?.component;
const comp = m.component?.[id] ?? {};
check(m.spin_manifest_version === 2, "spin_manifest_version = 2");
check(typeof m.application?.name === "string" && m.application.name !== "", "[application] has a name");
check(triggers.length === 1 && triggers[0].route === "/...", "one HTTP trigger, route /...");
check(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(id ?? ""), `the component id ${id} is kebab-case`);
check(triggers[0]?.executor?.type === "wagi", "executor = { type = \"wagi\" }");
const ep = triggers[0]?.executor?.entrypoint;
check(ep === undefined || ep === "_start", "no entrypoint other than _start");
check(comp.source === "cgi.wasm", "source = \"cgi.wasm\"");
check(Array.isArray(comp.allowed_outbound_hosts) && comp.allowed_outbound_hosts.length === 0, "allowed_outbound_hosts = []");
check(comp.files === undefined, "no files: the page is inside the module");
check(comp.build?.command === "make wasm", "[component.*.build] command = \"make wasm\"");
// the source is what `make wasm` builds
check(/^wasm: cgi\.wasm$/m.test(make) && /^cgi\.wasm: /m.test(make), "make wasm builds cgi.wasm");
console.log(`# spin.toml: ${11 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
