// Field management for the fake Kubernetes API server: server-side apply's ownership model as
// the documentation describes it (https://kubernetes.io/docs/reference/using-api/server-side-apply/).
//
// - An object's fields form a set of paths; `metadata.managedFields` records, per manager and
//   operation, the paths it owns in the `FieldsV1` format (`f:<field>`, `k:{"name":…}` for items
//   of keyed lists, `.` for the item itself).
// - An apply sends the manager's full intent: fields it owned before and no longer sends are
//   removed from the object unless another manager owns them too; fields another manager owns
//   with a different value are conflicts (409) unless forced, which moves ownership.
// - Any other write (create, update, merge patch) is an `Update`: the fields it changed move to
//   its manager.
// Lists whose items all carry a `name` (containers, env, volumes…), `containerPort` (ports) or
// `mountPath` are keyed lists; other lists are atomic, owned and replaced whole.

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** One step of a field path: a map field, or the item of a keyed list. */
export type Segment = { f: string } | { k: JsonObject };
/** A field path, plus whether it names a keyed-list item as a whole (FieldsV1 `.`). */
export interface FieldPath {
  segments: Segment[];
}

const LIST_KEYS = ['name', 'containerPort', 'mountPath', 'devicePath', 'ip', 'type'] as const;

/** True for a plain JSON object. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep structural equality of JSON values. */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => jsonEqual(a[k], b[k]));
  }
  return false;
}

/** A deep copy of a JSON value. */
export function clone<T extends Json>(v: T): T {
  return structuredClone(v);
}

/** The key fields of a list, when every item is an object carrying the same key field. */
function listKey(list: Json[]): string | undefined {
  if (list.length === 0 || !list.every(isObject)) return undefined;
  const items = list as JsonObject[];
  for (const key of LIST_KEYS) {
    if (items.every((i) => i[key] !== undefined && typeof i[key] !== 'object')) {
      // Ports are keyed by port and protocol together.
      return key;
    }
  }
  return undefined;
}

function keyOf(item: JsonObject, key: string): JsonObject {
  const k: JsonObject = { [key]: item[key] ?? null };
  if (key === 'containerPort' && item['protocol'] !== undefined) k['protocol'] = item['protocol'];
  return k;
}

function matchesKey(item: Json, k: JsonObject): boolean {
  if (!isObject(item)) return false;
  return Object.entries(k).every(([name, value]) => {
    if (name === 'protocol' && item[name] === undefined) return value === 'TCP';
    return jsonEqual(item[name], value);
  });
}

/** Encodes a path as a stable string (set member). */
export function encodePath(segments: Segment[]): string {
  return segments.map(encodeSegment).join('\u0000');
}

function encodeSegment(s: Segment): string {
  return 'f' in s ? `f:${s.f}` : `k:${stableStringify(s.k)}`;
}

/** Decodes {@link encodePath}. */
export function decodePath(encoded: string): Segment[] {
  if (encoded === '') return [];
  return encoded.split('\u0000').map((part) => (part.startsWith('f:') ? { f: part.slice(2) } : { k: JSON.parse(part.slice(2)) as JsonObject }));
}

function stableStringify(o: JsonObject): string {
  const sorted: JsonObject = {};
  for (const k of Object.keys(o).sort()) sorted[k] = o[k] ?? null;
  return JSON.stringify(sorted);
}

/** Paths that are never owned: identity and server-managed metadata. */
const UNOWNED_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'deletionTimestamp', 'selfLink']);

/**
 * The set of leaf paths (and keyed-list item markers) an object sets. `apiVersion`, `kind`,
 * identity metadata and — when the resource has a status subresource — `status` are left out.
 */
export function fieldSet(obj: JsonObject, opts: { excludeStatus: boolean; only?: 'status' }): Set<string> {
  const out = new Set<string>();
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'apiVersion' || key === 'kind') continue;
    if (opts.only === 'status' ? key !== 'status' : key === 'status' && opts.excludeStatus) continue;
    if (key === 'metadata' && isObject(value)) {
      for (const [mk, mv] of Object.entries(value)) {
        if (UNOWNED_METADATA.has(mk)) continue;
        walk(mv, [{ f: 'metadata' }, { f: mk }], out);
      }
      continue;
    }
    walk(value, [{ f: key }], out);
  }
  return out;
}

function walk(value: Json, path: Segment[], out: Set<string>): void {
  if (isObject(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) walk(v, [...path, { f: k }], out);
    return;
  }
  if (Array.isArray(value)) {
    const key = listKey(value);
    if (key) {
      for (const item of value as JsonObject[]) {
        const itemPath = [...path, { k: keyOf(item, key) }];
        out.add(encodePath(itemPath));
        for (const [k, v] of Object.entries(item)) walk(v, [...itemPath, { f: k }], out);
      }
      return;
    }
  }
  out.add(encodePath(path));
}

/** The value at a path, or undefined. */
export function getAt(obj: Json | undefined, segments: Segment[]): Json | undefined {
  let cur: Json | undefined = obj;
  for (const s of segments) {
    if (cur === undefined || cur === null) return undefined;
    if ('f' in s) {
      if (!isObject(cur)) return undefined;
      cur = cur[s.f];
    } else {
      if (!Array.isArray(cur)) return undefined;
      cur = cur.find((item) => matchesKey(item, s.k));
    }
  }
  return cur;
}

/** Removes the value at a path (a keyed-list item as a whole when the path ends at one). */
export function deleteAt(obj: JsonObject, segments: Segment[]): void {
  if (segments.length === 0) return;
  const parent = getAt(obj, segments.slice(0, -1));
  const last = segments[segments.length - 1]!;
  if ('f' in last) {
    if (isObject(parent)) delete parent[last.f];
  } else if (Array.isArray(parent)) {
    const i = parent.findIndex((item) => matchesKey(item, last.k));
    if (i >= 0) parent.splice(i, 1);
  }
}

/**
 * Merges an applied configuration into an object: maps recursively, keyed lists item by item
 * (by key), atomic lists and scalars replaced.
 */
export function mergeApplied(target: JsonObject, applied: JsonObject): void {
  for (const [k, v] of Object.entries(applied)) {
    const cur = target[k];
    if (isObject(v) && isObject(cur)) mergeApplied(cur, v);
    else if (Array.isArray(v) && Array.isArray(cur) && listKey(v) && (cur.length === 0 || listKey(cur) === listKey(v))) {
      const key = listKey(v)!;
      for (const item of v as JsonObject[]) {
        const existing = cur.find((c) => matchesKey(c, keyOf(item, key)));
        if (isObject(existing)) mergeApplied(existing, item);
        else cur.push(clone(item));
      }
    } else target[k] = clone(v);
  }
}

/** RFC 7386 JSON merge patch; with `strategic`, keyed lists are merged by key instead of replaced. */
export function mergePatch(target: Json | undefined, patch: Json, strategic: boolean): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue; // strategic directives ($patch, $retainKeys…) are not interpreted
    if (v === null) delete out[k];
    else if (strategic && Array.isArray(v) && Array.isArray(out[k]) && listKey(v)) {
      const key = listKey(v)!;
      const list = out[k] as Json[];
      for (const item of v as JsonObject[]) {
        const i = list.findIndex((c) => matchesKey(c, keyOf(item, key)));
        if (i >= 0) list[i] = mergePatch(list[i], item, true);
        else list.push(clone(item));
      }
    } else out[k] = mergePatch(out[k], v, strategic);
  }
  return out;
}

/** A path as Kubernetes prints it in conflict messages: `.spec.template.spec.containers[name="web"].image`. */
export function humanPath(segments: Segment[]): string {
  return segments
    .map((s) => ('f' in s ? `.${s.f}` : `[${Object.entries(s.k).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`))
    .join('');
}

/** Builds the FieldsV1 tree of a path set. */
export function toFieldsV1(paths: Iterable<string>): JsonObject {
  const root: JsonObject = {};
  for (const p of paths) {
    const segments = decodePath(p);
    let node = root;
    for (const s of segments) {
      const key = encodeSegment(s);
      node[key] ??= {};
      node = node[key] as JsonObject;
    }
    if (segments.length > 0 && 'k' in segments[segments.length - 1]!) node['.'] = {};
  }
  return root;
}

/** Reads a FieldsV1 tree back into a path set. */
export function fromFieldsV1(tree: Json | undefined): Set<string> {
  const out = new Set<string>();
  const visit = (node: Json, path: Segment[]): void => {
    if (!isObject(node)) return;
    const keys = Object.keys(node);
    if (keys.length === 0 && path.length > 0) out.add(encodePath(path));
    for (const k of keys) {
      if (k === '.') {
        out.add(encodePath(path));
        continue;
      }
      const seg: Segment = k.startsWith('f:') ? { f: k.slice(2) } : { k: JSON.parse(k.slice(2)) as JsonObject };
      visit(node[k] ?? {}, [...path, seg]);
    }
  };
  if (tree !== undefined) visit(tree, []);
  return out;
}

/** One entry of `metadata.managedFields`. */
export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  subresource?: string;
  fields: Set<string>;
}

/** Reads `metadata.managedFields`. */
export function readManaged(obj: JsonObject): ManagedEntry[] {
  const meta = obj['metadata'];
  const list = isObject(meta) && Array.isArray(meta['managedFields']) ? meta['managedFields'] : [];
  return list.filter(isObject).map((e) => ({
    manager: String(e['manager'] ?? ''),
    operation: e['operation'] === 'Apply' ? 'Apply' : 'Update',
    apiVersion: String(e['apiVersion'] ?? ''),
    time: String(e['time'] ?? ''),
    ...(typeof e['subresource'] === 'string' ? { subresource: e['subresource'] } : {}),
    fields: fromFieldsV1(e['fieldsV1']),
  }));
}

/** Writes `metadata.managedFields` (entries owning nothing are dropped, as the API server does). */
export function writeManaged(obj: JsonObject, entries: ManagedEntry[]): void {
  const meta = (obj['metadata'] ??= {}) as JsonObject;
  meta['managedFields'] = entries
    .filter((e) => e.fields.size > 0)
    .map((e) => ({
      manager: e.manager,
      operation: e.operation,
      apiVersion: e.apiVersion,
      time: e.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(e.fields),
      ...(e.subresource ? { subresource: e.subresource } : {}),
    }));
}

/** One field another manager owns with a different value. */
export interface Conflict {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  subresource?: string;
  field: string;
}

/** The outcome of {@link applyConfiguration}. */
export type ApplyOutcome = { ok: true; object: JsonObject } | { ok: false; conflicts: Conflict[] };

/**
 * Server-side apply of `applied` by `manager` onto `live` (undefined when creating). Returns
 * the new object with its managedFields, or the conflicts.
 */
export function applyConfiguration(
  live: JsonObject | undefined,
  applied: JsonObject,
  opts: { manager: string; force: boolean; apiVersion: string; now: string; excludeStatus: boolean },
): ApplyOutcome {
  const entries = live ? readManaged(live) : [];
  const appliedFields = fieldSet(applied, { excludeStatus: opts.excludeStatus });
  const mine = entries.find((e) => e.manager === opts.manager && e.operation === 'Apply' && !e.subresource);
  const others = entries.filter((e) => e !== mine);
  const conflicts: Conflict[] = [];
  for (const p of appliedFields) {
    const segments = decodePath(p);
    if ('k' in segments[segments.length - 1]!) continue; // an item marker: its fields decide
    for (const other of others) {
      if (!other.fields.has(p)) continue;
      if (jsonEqual(getAt(live, segments), getAt(applied, segments))) continue; // shared ownership
      conflicts.push({ manager: other.manager, operation: other.operation, apiVersion: other.apiVersion, ...(other.subresource ? { subresource: other.subresource } : {}), field: humanPath(segments) });
    }
  }
  if (conflicts.length > 0 && !opts.force) return { ok: false, conflicts };
  if (opts.force) {
    for (const other of others) {
      for (const p of appliedFields) {
        const segments = decodePath(p);
        if (other.fields.has(p) && !jsonEqual(getAt(live, segments), getAt(applied, segments))) other.fields.delete(p);
      }
    }
  }
  const result: JsonObject = live ? clone(live) : {};
  // Fields this manager gave up and nobody else owns are removed from the object.
  const released = mine ? [...mine.fields].filter((p) => !appliedFields.has(p) && !others.some((o) => o.fields.has(p))) : [];
  // Shorter paths first: a keyed-list item goes as a whole before its key field could vanish.
  const stillOwned = new Set(others.flatMap((o) => [...o.fields]).concat([...appliedFields]));
  for (const p of released.sort((a, b) => a.length - b.length)) {
    const segments = decodePath(p);
    deleteAt(result, segments);
    // Maps and lists emptied by the removal go too, unless someone owns them as such.
    for (let n = segments.length - 1; n > 0; n--) {
      const up = segments.slice(0, n);
      const v = getAt(result, up);
      const empty = (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
      if (!empty || stillOwned.has(encodePath(up))) break;
      deleteAt(result, up);
    }
  }
  const appliedBody = clone(applied);
  if (opts.excludeStatus) delete appliedBody['status'];
  const appliedMeta = appliedBody['metadata'];
  if (isObject(appliedMeta)) delete appliedMeta['managedFields'];
  mergeApplied(result, appliedBody);
  const entry: ManagedEntry = { manager: opts.manager, operation: 'Apply', apiVersion: opts.apiVersion, time: opts.now, fields: appliedFields };
  const next = [...others];
  const at = mine ? entries.indexOf(mine) : next.length;
  next.splice(Math.min(at, next.length), 0, entry);
  writeManaged(result, next);
  return { ok: true, object: result };
}

/**
 * Records a non-apply write (create, update, patch): the fields whose value changed (or that
 * appeared) move to `manager` with operation `Update`; fields that disappeared are dropped from
 * every manager.
 */
export function recordUpdate(
  before: JsonObject | undefined,
  after: JsonObject,
  opts: { manager: string; apiVersion: string; now: string; excludeStatus: boolean; subresource?: 'status' },
): void {
  const entries = before ? readManaged(before) : [];
  const scope = opts.subresource === 'status' ? ({ excludeStatus: false, only: 'status' } as const) : { excludeStatus: opts.excludeStatus };
  const afterFields = fieldSet(after, scope);
  const beforeFields = before ? fieldSet(before, scope) : new Set<string>();
  const changed = [...afterFields].filter((p) => {
    const segments = decodePath(p);
    return !beforeFields.has(p) || !jsonEqual(getAt(before, segments), getAt(after, segments));
  });
  const gone = [...beforeFields].filter((p) => !afterFields.has(p));
  for (const e of entries) {
    for (const p of changed) e.fields.delete(p);
    for (const p of gone) e.fields.delete(p);
  }
  if (changed.length > 0) {
    let entry = entries.find((e) => e.manager === opts.manager && e.operation === 'Update' && (e.subresource ?? '') === (opts.subresource ?? ''));
    if (!entry) {
      entry = { manager: opts.manager, operation: 'Update', apiVersion: opts.apiVersion, time: opts.now, ...(opts.subresource ? { subresource: opts.subresource } : {}), fields: new Set() };
      entries.push(entry);
    }
    entry.time = opts.now;
    for (const p of changed) entry.fields.add(p);
  }
  writeManaged(after, entries);
}
