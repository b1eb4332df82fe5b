// A WASI runtime as a CGI program, for serve: runs MODULE under node:wasi
// with serve's CGI environment and stdio, once. The WAGI model on a native
// host: serve ... node tests/bench/wasi-cgi.mjs cgi.wasm
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const wasi = new WASI({ version: "preview1", args: ["cgi"], env: process.env, returnOnExit: true });
const module = new WebAssembly.Module(readFileSync(process.argv[2]));
process.exitCode = wasi.start(new WebAssembly.Instance(module, wasi.getImportObject()));
