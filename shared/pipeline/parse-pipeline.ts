/**
 * Turns the text of `.conveyor/pipeline.yaml` into a validated {@link PipelineSpec}, reporting
 * every problem at once with its field path and 1-based line/column in the file.
 *
 * How: `yaml.parseDocument` keeps source ranges on every node (LineCounter maps offsets to
 * line/column); zod validates the plain JS value; each zod issue path is then looked up in the
 * document to find where it is written (or, for a missing key, where its parent is).
 * Hostile input is bounded: document size, alias expansion (billion laughs) and nesting depth.
 */
import { isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import type { PipelineSpec } from '../domain/pipeline.js';
import { ValidationError, type ValidationIssue } from '../errors.js';
import { pipelineFileSchema } from './pipeline-spec.schema.js';

/** Largest pipeline file accepted, in bytes. */
export const MAX_PIPELINE_BYTES = 256 * 1024;
/** Most alias dereferences allowed when building the value (bounds YAML alias bombs). */
export const MAX_ALIAS_COUNT = 100;
/** Deepest nesting of maps/sequences accepted (the real shape needs 6). */
export const MAX_DEPTH = 32;

type Path = readonly PropertyKey[];

/** Formats a path as `environments[1].target.port` (the root is `(root)`). */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

interface Located {
  line: number;
  column: number;
}

function position(lc: LineCounter, offset: number): Located {
  const { line, col } = lc.linePos(offset);
  return { line, column: col };
}

/** Finds the node for `path`, or the nearest ancestor that exists. `keyOf` points at the key instead of the value. */
function locate(doc: Document, lc: LineCounter, path: Path, keyOf?: string): Located {
  let node: unknown = doc.contents;
  let best: Located = { line: 1, column: 1 };
  const mark = (n: unknown) => {
    if (isNode(n) && n.range) best = position(lc, n.range[0]);
  };
  mark(node);
  const segments = keyOf !== undefined ? [...path, keyOf] : path;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      mark(pair.key);
      if (last && keyOf !== undefined) return best;
      // An empty value (`build:` with nothing after it) has a zero-width range: keep the key's position.
      if (isNode(pair.value) && pair.value.range && pair.value.range[1] > pair.value.range[0]) mark(pair.value);
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!isNode(item)) return best;
      mark(item);
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

function depthOf(node: unknown, depth: number): number {
  if (depth > MAX_DEPTH) return depth;
  if (isMap(node)) {
    let max = depth;
    for (const p of node.items) max = Math.max(max, depthOf(p.value, depth + 1), depthOf(p.key, depth + 1));
    return max;
  }
  if (isSeq(node)) {
    let max = depth;
    for (const item of node.items) max = Math.max(max, depthOf(item, depth + 1));
    return max;
  }
  return depth;
}

/**
 * Deepest flow-collection nesting (`[`/`{`) in the raw text, ignoring quoted strings and
 * comments. A cheap pre-check: the YAML composer recurses per level, so `[[[[...` 256 KiB deep
 * would burn a second of CPU before overflowing the stack. Over-counts at worst (brackets in
 * plain scalars), which only matters beyond MAX_DEPTH levels.
 */
function flowDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      // A newline also ends it: an apostrophe that was not a quote must not hide the rest.
      if (ch === quote || ch === '\n') quote = undefined;
      else if (ch === '\\' && quote === '"') i++;
      continue;
    }
    // Quotes only open a scalar at its start (`it's` is not a quote).
    if ((ch === '"' || ch === "'") && (i === 0 || /[\s[{,:]/.test(text[i - 1]!))) quote = ch;
    else if (ch === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const nl = text.indexOf('\n', i);
      i = nl < 0 ? text.length : nl;
    } else if (ch === '[' || ch === '{') max = Math.max(max, ++depth);
    else if ((ch === ']' || ch === '}') && depth > 0) depth--;
    else if (ch === '\n') quote = undefined;
  }
  return max;
}

function zodIssues(error: z.ZodError, doc: Document, lc: LineCounter): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      // One entry per unknown key, positioned on the key itself.
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key]), message: `unknown key "${key}"`, ...locate(doc, lc, issue.path, key) });
      }
      continue;
    }
    let message = issue.message;
    // `input` is present because we parse with reportInput; undefined means the key is missing.
    if ((issue.code === 'invalid_type' || issue.code === 'invalid_union') && issue.input === undefined) message = 'is required';
    if (issue.code === 'invalid_key') {
      // A bad record key (e.g. an env variable name): zod nests the real reason; point at the key.
      const key = issue.path[issue.path.length - 1];
      const where = typeof key === 'string' ? locate(doc, lc, issue.path.slice(0, -1), key) : locate(doc, lc, issue.path);
      out.push({ path: formatPath(issue.path), message: issue.issues[0]?.message ?? message, ...where });
      continue;
    }
    out.push({ path: formatPath(issue.path), message, ...locate(doc, lc, issue.path) });
  }
  return out;
}

/** Most issues reported for one file; hostile input could otherwise produce thousands. */
export const MAX_ISSUES = 100;

function fail(source: string, all: ValidationIssue[]): never {
  const issues = all.slice(0, MAX_ISSUES);
  const first = issues[0];
  const where = first?.line !== undefined ? `:${first.line}:${first.column}` : '';
  const more = all.length > 1 ? ` (and ${all.length - 1} more)` : '';
  throw new ValidationError(`${source}${where}: ${first?.path ?? '(root)'} ${first?.message ?? 'is invalid'}${more}`, issues);
}

/**
 * Parses and validates a pipeline file. Throws a ValidationError whose `issues` list every
 * problem found (YAML syntax and schema alike), each with path, line and column.
 */
export function parsePipelineSpec(text: string, source = '.conveyor/pipeline.yaml'): PipelineSpec {
  if (Buffer.byteLength(text, 'utf8') > MAX_PIPELINE_BYTES) {
    fail(source, [{ path: '(root)', message: `file is larger than ${MAX_PIPELINE_BYTES / 1024} KiB`, line: 1, column: 1 }]);
  }
  if (flowDepth(text) > MAX_DEPTH) {
    fail(source, [{ path: '(root)', message: `nesting is deeper than ${MAX_DEPTH} levels`, line: 1, column: 1 }]);
  }
  const lc = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true, version: '1.2' });
  } catch (err) {
    // The composer recurses per nesting level; absurd nesting can exhaust the stack.
    fail(source, [{ path: '(root)', message: `cannot be parsed as YAML (${(err as Error).message})`, line: 1, column: 1 }]);
  }
  if (doc.errors.length > 0) {
    fail(
      source,
      doc.errors.map((e) => ({ path: '(root)', message: `YAML syntax: ${e.message.split('\n')[0]}`, ...position(lc, e.pos[0]) })),
    );
  }
  if (depthOf(doc.contents, 0) > MAX_DEPTH) {
    fail(source, [{ path: '(root)', message: `nesting is deeper than ${MAX_DEPTH} levels`, line: 1, column: 1 }]);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    fail(source, [{ path: '(root)', message: `cannot be expanded (${(err as Error).message})`, line: 1, column: 1 }]);
  }
  if (value === undefined || value === null) {
    fail(source, [{ path: '(root)', message: 'file is empty; it needs at least build and environments', line: 1, column: 1 }]);
  }
  const parsed = pipelineFileSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) fail(source, zodIssues(parsed.error, doc, lc));
  return parsed.data;
}
