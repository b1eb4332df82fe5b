// The page in a real browser: Debian's headless Chromium, driven by
// playwright-core (no browser is downloaded), loads the page through serve
// at /, through lighttpd (tests/lib/hosts.mjs) under /mt and through the Spin
// emulation under /mt, and the wasi:http component under jco serve at /mt
// (one instance; the headers Spin's router adds come from a router in
// front, tests/lib/jco-serve.mjs --route), with the browser's time zone far
// from Moscow.
// For each: the clock shows Moscow time within 2 s of this test's own
// clock and ticks; the page's own re-sync request to the API under its
// prefix succeeds; nothing is logged as an error and no Content Security
// Policy is violated; with the API unreachable the page says so. A
// screenshot of each goes to tests/.build/browser-NAME.png.
//
//   node tests/suites/browser.mjs            (CHROMIUM=path to use another build)
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { printedPort } from "../lib/port.mjs";

const here = new URL("..", import.meta.url).pathname;	// tests/
const repo = join(here, "..");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SYNC_MS = 60000;	// the page's re-sync period (templates/index.html)

let passed = 0, failed = 0;
function check(name, ok, detail = "") {
  if (ok) { passed++; console.log(`ok - browser: ${name}`); }
  else { failed++; console.log(`FAIL - browser: ${name}${detail ? ": " + detail : ""}`); }
}

let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  console.log("FAIL - browser: playwright-core is not installed: run make deps");
  process.exit(1);
}
if (!existsSync(CHROMIUM)) {
  console.log(`FAIL - browser: ${CHROMIUM} is missing: run make deps (Debian package chromium)`);
  process.exit(1);
}

// A server that prints its port first; stopped by PID (SIGTERM) at exit.
const procs = [];
process.on("exit", () => { for (const p of procs) p.kill("SIGTERM"); });
function start(argv) {
  const p = spawn(argv[0], argv.slice(1), { cwd: repo, stdio: ["pipe", "pipe", "inherit"] });
  procs.push(p);
  return printedPort(p, argv.join(" "), { ms: 60000 });
}

const CONTEXTS = [
  ["serve", () => start(["./serve", "-q", "-b", "127.0.0.1", "-p", "0", "./cgi"]), ""],
  ["lighttpd", () => start([process.execPath, join(here, "lib/hosts.mjs"), "lighttpd"]), "/mt"],
  ["spin", () => start([process.execPath, join(here, "lib/spin.mjs"), "--component", join(here, ".build/jco"), "--route", "/mt/..."]), "/mt"],
  ["component", () => start([process.execPath, join(here, "lib/jco-serve.mjs"), join(repo, "cgi.component.wasm"), "--route", "/mt/..."]), "/mt"],
];

// The Moscow wall clock, as seconds of the day, for a Unix time in ms.
function mskSeconds(ms) {
  return Math.floor((ms / 1000 + 3 * 3600) % 86400);
}
function shown(hms) {
  const [h, m, s] = hms.split(":").map(Number);
  return h * 3600 + m * 60 + s;
}
// distance in seconds between two times of day, across midnight
function apart(a, b) {
  const d = Math.abs(a - b) % 86400;
  return Math.min(d, 86400 - d);
}

mkdirSync(join(repo, "tests/.build"), { recursive: true });
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  for (const [name, startHost, prefix] of CONTEXTS) {
    let port;
    try {
      port = await startHost();
    } catch (e) {
      check(`${name}: the host starts`, false, e.message);
      continue;
    }
    const ctx = await browser.newContext({ timezoneId: "America/Los_Angeles", locale: "en-US" });
    const page = await ctx.newPage();
    const problems = [];
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") problems.push(m.text()); });
    page.on("pageerror", (e) => problems.push(e.message));
    await page.addInitScript(() => {
      window.__csp = [];
      document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
    });
    // fake timers that run in real time, so the 60 s re-sync can be reached
    await page.clock.install();
    const url = `http://127.0.0.1:${port}${prefix}/`;
    const res = await page.goto(url);
    check(`${name}: ${url} loads`, res && res.status() === 200, `status ${res && res.status()}`);

    const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    check(`${name}: the browser's time zone is not Moscow's`, zone === "America/Los_Angeles", zone);
    const first = await page.textContent("#clock");
    const d0 = apart(shown(first), mskSeconds(Date.now()));
    check(`${name}: the clock shows Moscow time within 2 s`, d0 <= 2, `shows ${first}, ${d0} s off`);
    await page.waitForTimeout(1500);
    const second = await page.textContent("#clock");
    check(`${name}: the clock ticks`, second !== first, `${first} then ${second}`);

    // the page's own re-sync, under its prefix
    const synced = page.waitForResponse((r) => r.url().endsWith(`${prefix}/api/time`), { timeout: 10000 });
    await page.clock.fastForward(SYNC_MS);
    let sync = null;
    try { sync = await synced; } catch { /* none */ }
    check(`${name}: the re-sync request to ${prefix}/api/time succeeds`,
      sync !== null && sync.status() === 200 && sync.request().method() === "GET",
      sync ? `status ${sync.status()}` : "no request");
    // the next tick draws with the new offset (the fake clock is a minute on)
    await page.waitForTimeout(1500);
    const after = await page.textContent("#clock");
    const d1 = apart(shown(after), mskSeconds(Date.now()));
    check(`${name}: after the re-sync the clock is within 2 s`, d1 <= 2, `shows ${after}, ${d1} s off`);
    check(`${name}: the status line is empty while the API answers`, (await page.textContent("#status")) === "");
    await page.screenshot({ path: join(repo, `tests/.build/browser-${name}.png`) });

    // the API unreachable: the page says so
    await page.route("**/api/time", (r) => r.abort("connectionrefused"));
    await page.clock.fastForward(SYNC_MS);
    await page.waitForTimeout(300);
    const status = await page.textContent("#status");
    check(`${name}: with the API unreachable the page says so`, /Cannot reach the server/.test(status), JSON.stringify(status));
    await page.unroute("**/api/time");

    const csp = await page.evaluate(() => window.__csp);
    // the aborted request is ours: Chromium logs it as a failed load
    const real = problems.filter((p) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(p));
    check(`${name}: no console error`, real.length === 0, real.join(" | "));
    check(`${name}: no Content Security Policy violation`, csp.length === 0, csp.join(", "));
    await ctx.close();
  }
} finally {
  await browser.close();
}
console.log(`# browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
