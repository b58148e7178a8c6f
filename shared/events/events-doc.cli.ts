/** Rewrites the generated event catalogue in docs/events.md (or the file named). */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { withCatalogue } from './events-doc.js';

const target = resolve(process.argv[2] ?? 'docs/events.md');
writeFileSync(target, withCatalogue(readFileSync(target, 'utf8')));
console.log(`wrote ${target}`);
