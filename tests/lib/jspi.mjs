// jco's bindings probe for JSPI once per instance: they call
// WebAssembly.promising(cabi_realloc) in a try, and keep cabi_realloc
// itself in its catch. Node 20 has no JSPI, so the call throws, and V8
// builds the TypeError's "... is not a function" by parsing the whole
// generated instantiate function again: a millisecond or two of every
// instance, more for bindings with more imports. The stand-in returns
// what the catch keeps, without the exception, as a Node with JSPI does
// (there the real function stays).
// jspi(on) sets or removes it; jspi-on.mjs sets it when imported (jco
// serve's --jco-import).
export const lacksJspi = typeof WebAssembly.promising !== "function";
export function jspi(on) {
  if (!lacksJspi) return;
  if (on) WebAssembly.promising = (f) => f;
  else delete WebAssembly.promising;
}
