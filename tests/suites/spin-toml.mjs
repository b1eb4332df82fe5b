// Checks the manifests of the WebAssembly hosts, read as TOML:
// - spin.toml: Spin (manifest version 2) runs the wasi:http component
//   `make component` builds, with its default executor (no executor key)
//   at the route "/...", with no outbound network;
// - spin-wagi.toml: Spin's WAGI executor runs the module `make wasm`
//   builds, at "/...", with no entrypoint but _start;
// - wasmer.toml: Wasmer's WCGI runner runs that module as RFC 3875 CGI,
//   with no other permission (no volume, environment, argument or network).
//   node tests/suites/spin-toml.mjs        (prints ok/FAIL lines)
import { readFileSync } from "node:fs";
import { parse } from "smol-toml";

const read = (f) => parse(readFileSync(new URL(`../../${f}`, import.meta.url), "utf8"));
const make = readFileSync(new URL("../../Makefile", import.meta.url), "utf8");
let passed = 0, failed = 0;
function check(file, ok, what) {
  console.log(`${ok ? "ok" : "FAIL"} - ${file}: ${what}`);
  if (ok) passed++; else failed++;
}

function spin(file, { source, build, wagi }) {
  const m = read(file);
  const c = (ok, what) => check(file, ok, what);
  const triggers = m.trigger?.http ?? [];
  const id = triggers[0]?.component;
  const comp = m.component?.[id] ?? {};
  c(m.spin_manifest_version === 2, "spin_manifest_version = 2");
  c(typeof m.application?.name === "string" && m.application.name !== "", "[application] has a name");
  c(triggers.length === 1 && triggers[0].route === "/...", "one HTTP trigger, route /...");
  c(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(id ?? ""), `the component id ${id} is kebab-case`);
  if (wagi) {
    c(triggers[0]?.executor?.type === "wagi", "executor = { type = \"wagi\" }");
    const ep = triggers[0]?.executor?.entrypoint;
    c(ep === undefined || ep === "_start", "no entrypoint other than _start");
  } else {
    c(triggers[0]?.executor === undefined, "no executor key: Spin's default, a wasi:http component");
  }
  c(comp.source === source, `source = "${source}"`);
  c(Array.isArray(comp.allowed_outbound_hosts) && comp.allowed_outbound_hosts.length === 0, "allowed_outbound_hosts = []");
  c(comp.files === undefined && comp.environment === undefined, "no files, no environment: the page is inside");
  c(comp.build?.command === `make ${build}`, `[component.*.build] command = "make ${build}"`);
  c(new RegExp(`^${build}: ${source.replace(/\./g, "\\.")}$`, "m").test(make) &&
    new RegExp(`^${source.replace(/\./g, "\\.")}: `, "m").test(make), `make ${build} builds ${source}`);
}

spin("spin.toml", { source: "cgi.component.wasm", build: "component", wagi: false });
spin("spin-wagi.toml", { source: "cgi.wasm", build: "wasm", wagi: true });

// Wasmer's package manifest: a module and a command with the wcgi runner
{
  const file = "wasmer.toml", m = read(file);
  const c = (ok, what) => check(file, ok, what);
  const mods = m.module ?? [], cmds = m.command ?? [];
  c(/^[a-z0-9-]+\/[a-z0-9-]+$/.test(m.package?.name ?? "") && typeof m.package?.version === "string" &&
    typeof m.package?.description === "string", "[package] has a namespace/name, a version and a description");
  c(mods.length === 1 && mods[0].source === "cgi.wasm" && mods[0].abi === "wasi", "one module: cgi.wasm, abi wasi");
  c(cmds.length === 1 && cmds[0].module === mods[0]?.name && cmds[0].runner === "https://webc.org/runner/wcgi",
    "one command running that module with the wcgi runner");
  c(cmds[0]?.annotations?.wcgi?.dialect === "rfc-3875", "[command.annotations.wcgi] dialect = \"rfc-3875\"");
  const a = cmds[0]?.annotations ?? {};
  c(Object.keys(a).every((k) => k === "wcgi") && Object.keys(a.wcgi ?? {}).every((k) => k === "dialect") &&
    m.fs === undefined && m.dependencies === undefined, "no other permission: no volume, environment, argument or dependency");
}

console.log(`# manifests: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
