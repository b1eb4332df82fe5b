// Starts one real host from its file in deploy/, templated only for paths
// (the built programs, a state directory) and the port, on 127.0.0.1, and
// prints the port when it answers. It stops everything it started, by
// process group, when it gets SIGTERM or SIGINT or its standard input ends,
// and removes the state directory (KEEP=1 keeps it, with the host's logs).
//
//   node tests/lib/hosts.mjs HOST [--root]      (MT_BIN=DIR: programs from DIR)
//
// HOST is one of the names in HOSTS below; --root mounts the app at /
// instead of /mt, with the changes each file's comment gives for that. Run as root, the hosts
// drop to www-data or nobody as their files say.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./port.mjs";

const repo = resolve(new URL("../..", import.meta.url).pathname);
const deploy = join(repo, "deploy");
// where cgi, cgi.fcgi and serve come from (the benchmark's static builds)
const bin = resolve(process.env.MT_BIN || repo);
const [name, ...opts] = process.argv.slice(2);
const atRoot = opts.includes("--root");
// the servers live in /usr/sbin, which a non-login PATH may lack
const env = { ...process.env, PATH: `${process.env.PATH || "/usr/bin:/bin"}:/usr/sbin:/sbin` };

// ---- templating: the installed paths and default ports of deploy/ ------

const PORTS = /\b80(80|81|82|83|84|85)\b/g;

function template(text, R, port) {
  let t = text
    .replace(/\/usr\/local\/bin\/(cgi\.fcgi|cgi|serve)\b/g, (_, p) => join(bin, p))
    .replace(/\/run\/moscow-time/g, R)
    .replace(PORTS, String(port));
  if (atRoot) {
    // the changes each file's comment gives, on its directives (not its
    // comments)
    const root = [
      [/^(\s*)location ~ \^\/mt\(\/\|\$\)/m, "$1location /"],
      [/^(\s*fastcgi_split_path_info) \^\(\/mt\)/m, "$1 ^()"],
      [/^ScriptAlias \/mt "(.*)"$/m, 'ScriptAlias / "$1/"'],
      [/^<Location \/mt>$/m, "<Location />"],
      [/^\$HTTP\["url"\] =~ "\^\/mt\(\/\|\$\)"/m, '$HTTP["url"] =~ "^/"'],
      [/^(\s*alias\.url\s*=\s*\( )"\/mt" => "(.*)" \)$/m, '$1"/" => "$2/" )'],
      [/^(\s*fastcgi\.server = \( )"\/mt" =>/m, '$1"/" =>'],
      [/^(\s*"fix-root-scriptname"\s*=> )"disable"/m, '$1"enable"'],
    ];
    for (const [re, to] of root) t = t.replace(re, to);
  }
  return t;
}

function writeConf(R, port, file) {
  const out = join(R, file.replace(/\//g, "-"));
  writeFileSync(out, template(readFileSync(join(deploy, file), "utf8"), R, port));
  return out;
}

// ExecStart= and Environment= of a unit: argv and environment
function unit(R, port, file) {
  const text = template(readFileSync(join(deploy, file), "utf8"), R, port);
  const exec = /^ExecStart=(.*)$/m.exec(text)[1].trim().split(/\s+/);
  const env = [...text.matchAll(/^Environment=(.*)$/gm)].map((m) => m[1].trim());
  return { exec, env };
}

// ---- the hosts ----------------------------------------------------------

// Each returns the commands to start, in order, as [argv, options].
const HOSTS = {
  apache: (R, port) => {
    mkdirSync(join(R, "apache"));
    const conf = writeConf(R, port, "apache/moscow-time.conf");
    return [[["apache2", "-d", join(R, "apache"), "-f", conf, "-DFOREGROUND"]]];
  },
  lighttpd: (R, port) => {
    stateDir(R, "lighttpd");
    return [[["lighttpd", "-D", "-f", writeConf(R, port, "lighttpd/moscow-time.conf")]]];
  },
  "lighttpd-fastcgi": (R, port) => {
    stateDir(R, "lighttpd-fastcgi");
    return [[["lighttpd", "-D", "-f", writeConf(R, port, "lighttpd/fastcgi.conf")]]];
  },
  "nginx-fcgiwrap": (R, port) => nginx(R, port, "nginx", "nginx/fcgiwrap.conf",
    ["fcgiwrap.sock", "/usr/sbin/fcgiwrap", "-c", "4", "-f"]),
  "nginx-fastcgi": (R, port) => nginx(R, port, "nginx-fastcgi", "nginx/fastcgi.conf",
    ["cgi.sock", join(bin, "cgi.fcgi")]),
  // moscow-time.service as moscow-time.socket (Accept=no) starts it
  systemd: (R, port) => {
    const u = unit(R, port, "systemd/moscow-time.service");
    return [[["systemd-socket-activate", "-l", `127.0.0.1:${port}`,
      ...u.env.flatMap((e) => ["-E", e]), ...u.exec]]];
  },
  // moscow-time-inetd@.service per connection (Accept=yes, socket on 0/1)
  "systemd-accept": (R, port) => {
    const u = unit(R, port, "systemd/moscow-time-inetd@.service");
    return [[["systemd-socket-activate", "--accept", "--inetd", "-l", `127.0.0.1:${port}`,
      ...u.env.flatMap((e) => ["-E", e]), ...u.exec]]];
  },
  tcpserver: (R, port) => [[["sh", writeConf(R, port, "inetd/tcpserver.sh")]]],
  // serve's FastCGI back end: its own cgi.fcgi (-F), cgi.fcgi under
  // spawn-fcgi, and fcgiwrap running cgi (-f)
  "serve-fastcgi": (R, port) => [[[join(bin, "serve"), "-q", "-b", "127.0.0.1", "-p", String(port),
    "-F", join(bin, "cgi.fcgi")]]],
  "serve-spawn-fcgi": (R, port) => serveF(R, port, [join(bin, "cgi.fcgi")], join(bin, "cgi.fcgi")),
  "serve-fcgiwrap": (R, port) => serveF(R, port, ["/usr/sbin/fcgiwrap", "-c", "4", "-f"], join(bin, "cgi")),
  // openbsd-inetd, by hand: Debian will not install it beside xinetd
  inetd: (R, port) => [[["inetd", "-d", writeConf(R, port, "inetd/inetd.conf")]]],
  xinetd: (R, port) => [[["xinetd", "-dontfork", "-pidfile", join(R, "xinetd.pid"),
    "-f", writeConf(R, port, "inetd/xinetd.conf")]]],
};

// A state directory the host's own user can write to (lighttpd opens its
// logs after dropping to it).
function stateDir(R, dir) {
  const d = join(R, dir);
  mkdirSync(d);
  chmodSync(d, 0o777);
  return d;
}

// spawn-fcgi binds the socket and starts the responders as its file says
// (each in its own session; their PIDs in the -P file); then nginx.
function nginx(R, port, dir, file, [sock, ...app]) {
  const d = stateDir(R, dir);
  const text = readFileSync(join(deploy, file), "utf8");
  const spawnLine = /^#\s+spawn-fcgi (-s .*?) -- /ms.exec(text)[1].replace(/\\\n#\s*/g, " ");
  const args = template(spawnLine, R, port).trim().split(/\s+/);
  const pidfile = args[args.indexOf("-P") + 1];
  const conf = writeConf(R, port, file);
  return [
    [["spawn-fcgi", ...args, "--", ...app], { socket: join(d, sock), pidfile }],
    [["nginx", "-p", d + "/", "-e", join(d, "error.log"), "-c", conf, "-g", "daemon off;"]],
  ];
}

// spawn-fcgi starts the responder on a Unix socket; serve -f fronts it,
// naming program as SCRIPT_FILENAME.
function serveF(R, port, app, program) {
  const sock = join(R, "fcgi.sock"), pidfile = join(R, "fcgi.pid");
  return [
    [["spawn-fcgi", "-s", sock, "-P", pidfile, "--", ...app], { socket: sock, pidfile }],
    [[join(bin, "serve"), "-q", "-b", "127.0.0.1", "-p", String(port), "-f", `unix:${sock}`, program]],
  ];
}

// ---- running ------------------------------------------------------------

if (!HOSTS[name]) {
  console.error(`usage: node tests/lib/hosts.mjs ${Object.keys(HOSTS).join("|")} [--root]`);
  process.exit(2);
}

function answers(port) {
  return new Promise((res) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); res(true); });
    s.on("error", () => res(false));
  });
}

function exists(path) {
  return spawnSync("test", ["-S", path]).status === 0;
}

mkdirSync(join(repo, "tests/.build/hosts"), { recursive: true });
const R = mkdtempSync(join(repo, "tests/.build/hosts", `${name}-`));
chmodSync(R, 0o777);
const procs = [];
const sessions = [];	// process groups started by a step that exits
let stopping = false;

async function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const pid of sessions) {
    try { process.kill(-pid, "SIGTERM"); } catch { /* gone */ }
  }
  for (const p of procs.reverse()) {
    try { process.kill(-p.pid, "SIGTERM"); } catch { /* gone */ }
  }
  for (let i = 0; i < 30 && procs.some((p) => p.exitCode === null && p.signalCode === null); i++) await sleep(100);
  for (const pid of [...sessions, ...procs.map((p) => p.pid)]) {
    try { process.kill(-pid, "SIGKILL"); } catch { /* gone */ }
  }
  if (process.env.KEEP !== "1") rmSync(R, { recursive: true, force: true });
  else console.error(`hosts: ${name} state kept in ${R}`);
  process.exit(code);
}

process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(0));
process.stdin.on("end", () => stop(0));
process.stdin.resume();

const port = await freePort();
const steps = HOSTS[name](R, port);
const log = join(R, "host.log");
for (const [argv, opt = {}] of steps) {
  const fd = (await import("node:fs")).openSync(log, "a");
  const p = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", fd, fd], cwd: R, env });
  p.on("error", (e) => {
    console.error(`hosts: ${argv[0]}: ${e.message}${e.code === "ENOENT" ? " (run make deps)" : ""}`);
    stop(1);
  });
  if (opt.pidfile) {
    // it forks the responders and exits: they are stopped by their PIDs
    const code = await new Promise((res) => p.on("exit", res));
    const pids = code === 0 ? readFileSync(opt.pidfile, "utf8").split(/\s+/).filter(Boolean).map(Number) : [];
    if (!pids.length) {
      console.error(`hosts: ${argv[0]} failed; its log:\n${readFileSync(log, "utf8").slice(-2000)}`);
      await stop(1);
    }
    sessions.push(...pids);
  } else procs.push(p);
  if (opt.socket) {
    for (let i = 0; i < 50 && !exists(opt.socket); i++) await sleep(100);
  }
}
for (let i = 0; i < 100; i++) {
  if (procs.some((p) => p.exitCode !== null)) break;
  if (await answers(port)) {
    console.log(port);
    break;
  }
  await sleep(100);
}
if (procs.some((p) => p.exitCode !== null) || !(await answers(port))) {
  console.error(`hosts: ${name} did not start; its log:\n${readFileSync(log, "utf8").slice(-2000)}`);
  await stop(1);
}
