// Parses each Mermaid file named on the command line with Mermaid's own parser (no browser: the
// parser needs no DOM) and prints one line per file: `ok <file> <diagram type> <state ids>` (the
// states the parser found, space-separated) or `error <file> <message>`. Exits 1 when any file
// failed to parse.
import { readFileSync } from 'node:fs';
import DOMPurify from 'dompurify';

// Without a DOM, DOMPurify has no hooks and no sanitizer; parsing needs neither.
DOMPurify.addHook ??= () => {};
DOMPurify.removeHook ??= () => {};
DOMPurify.removeAllHooks ??= () => {};
DOMPurify.sanitize ??= (s) => s;
const { default: mermaid } = await import('mermaid');

let failed = 0;
for (const file of process.argv.slice(2)) {
  try {
    const text = readFileSync(file, 'utf8');
    const parsed = await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const states = diagram.db.getStates?.() ?? new Map();
    const ids = states instanceof Map ? [...states.keys()] : Object.keys(states);
    console.log(`ok ${file} ${parsed.diagramType} ${ids.join(' ')}`);
  } catch (e) {
    failed += 1;
    console.log(`error ${file} ${String(e?.message ?? e).replaceAll('\n', ' | ')}`);
  }
}
process.exit(failed ? 1 : 0);
