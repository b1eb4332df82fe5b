// The JSPI stand-in (jspi.mjs), set on import: for jco serve's --jco-import.
import { jspi } from "./jspi.mjs";

jspi(true);
