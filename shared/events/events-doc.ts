/**
 * The catalogue section of docs/events.md, generated from the same zod schemas that build the
 * events (event-catalogue.ts). `node dist/shared/events/events-doc.cli.js` rewrites the section;
 * a unit test fails when the committed document is stale.
 */
import { z } from 'zod';
import { EVENT_CATALOGUE } from './event-catalogue.js';
import { approvalMessageSchema } from './approval-message.js';

/** Markers around the generated part of docs/events.md. */
export const DOC_MARKERS = { start: '<!-- generated: event catalogue (npm run events-doc) -->', end: '<!-- end of generated event catalogue -->' } as const;

function jsonSchema(schema: z.ZodType): string {
  const s = z.toJSONSchema(schema, { io: 'output', target: 'draft-2020-12' }) as Record<string, unknown>;
  delete s.$schema;
  return JSON.stringify(s, null, 2);
}

/** The generated catalogue: a table of types, then each distinct data schema and the approval message schema. */
export function renderEventsCatalogue(): string {
  const lines: string[] = [DOC_MARKERS.start, '', '| type | sent when | source | subject |', '|---|---|---|---|'];
  for (const e of EVENT_CATALOGUE) lines.push(`| \`${e.type}\` | ${e.when} | \`${e.source}\` | \`${e.subject}\` |`);
  const groups = new Map<z.ZodType, string[]>();
  for (const e of EVENT_CATALOGUE) groups.set(e.data, [...(groups.get(e.data) ?? []), e.type]);
  lines.push('', '### `data` schemas', '');
  for (const [schema, types] of groups) {
    lines.push(``, `**${types.map((t) => `\`${t}\``).join(', ')}**`, '', '```json', jsonSchema(schema), '```');
  }
  lines.push('', '### Approval message schema (the `conveyor-approvals` queue)', '', '```json', jsonSchema(approvalMessageSchema), '```', '', DOC_MARKERS.end);
  return lines.join('\n');
}

/** `doc` with its generated section replaced by the current catalogue. */
export function withCatalogue(doc: string): string {
  const start = doc.indexOf(DOC_MARKERS.start);
  const end = doc.indexOf(DOC_MARKERS.end);
  if (start < 0 || end < start) throw new Error('docs/events.md has no generated-catalogue markers');
  return doc.slice(0, start) + renderEventsCatalogue() + doc.slice(end + DOC_MARKERS.end.length);
}
