// Turns a core module into the wasi:http component (make component):
//   node wit/component.mjs CORE.wasm OUT.wasm
// or prints the world with every import and export lowered, as the core
// signatures to write the glue against (component-abi.h):
//   node wit/component.mjs --dummy OUT.wasm
// The world is wit/world.wit; the wasi packages it uses are jco's copy of
// the 0.2 WIT, named as 0.2.0 (their types did not change within 0.2.x),
// each nested in the one WIT text that jco's embedder reads.
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';

const here = new URL('./', import.meta.url);
const modules = new URL('../tests/node_modules/@bytecodealliance/', here);
// jco's wasm-tools alone (componentEmbed, componentNew), and jco's WIT: the
// parts of tests/node_modules (make deps) that Dockerfile.wasm copies too
let tools;
try {
	tools = await import(new URL('jco-transpile/dist/wasm-tools.js', modules));
} catch (e) {
	console.error('component.mjs: jco is not installed (make deps, or npm ci in tests/): ' + e.message);
	process.exit(1);
}
const builtin = new URL('jco/lib/wit/builtin/', modules);
const v = readdirSync(builtin).filter((d) => /^0\.2\.\d+$/.test(d))
	.sort((a, b) => a.split('.')[2] - b.split('.')[2]).pop();
const pkgs = readdirSync(new URL(v + '/', builtin)).map((d) =>
	readFileSync(new URL(`${v}/${d}/package.wit`, builtin), 'utf8')
		.replaceAll('@' + v, '@0.2.0')
		.replace(/^package ([^;]+);/m, 'package $1 {') + '\n}\n');
const world = readFileSync(new URL('world.wit', here), 'utf8');
const witSource = world + '\n' + pkgs.join('\n');

const args = process.argv.slice(2);
const dummy = args[0] === '--dummy';
const [core, out] = dummy ? [null, args[1]] : args;
if (!out) {
	console.error('usage: node wit/component.mjs CORE.wasm OUT.wasm | --dummy OUT.wasm');
	process.exit(2);
}
const embedded = await tools.componentEmbed({
	binary: dummy ? undefined : readFileSync(core),
	dummy, witSource, world: 'handler',
	stringEncoding: 'utf8',
});
writeFileSync(out, dummy ? embedded : strip(await tools.componentNew(embedded)));

// The component without its top-level custom sections (component-name,
// producers: 2.8 KB that no host reads to run it).
function strip(b) {
	const keep = [b.subarray(0, 8)];
	for (let i = 8; i < b.length;) {
		const start = i++;
		let n = 0, shift = 0, x;
		do {
			x = b[i++];
			n += (x & 0x7f) * 2 ** shift;
			shift += 7;
		} while (x & 0x80);
		i += n;
		if (b[start] !== 0)
			keep.push(b.subarray(start, i));
	}
	return Buffer.concat(keep);
}
