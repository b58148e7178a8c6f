/**
 * HTTP trigger routing. Azure route templates (ASP.NET Core syntax: `{name}`, `{name?}`,
 * `{name=default}`, `{id:int}`, `{id:int:min(1)}`, `{*rest}`) are parsed here and matched with
 * find-my-way. find-my-way only sees the *shape* of a route (literals, parameters and a
 * trailing wildcard, with positional parameter names); constraints are checked here, which
 * lets several templates share a shape (`items/{id:int}` next to `items/{slug:alpha}`) and
 * several functions share one route with different methods (GET and POST handled apart).
 */
import FindMyWay from 'find-my-way';

/** One `{...}` parameter of a template. */
export interface RouteParam {
  name: string;
  optional: boolean;
  catchAll: boolean;
  defaultValue?: string;
  constraints: Constraint[];
}

export interface Constraint {
  name: string;
  args: string[];
  test(value: string): boolean;
}

type Part = { literal: string } | { param: RouteParam };

/** A parsed template: segments of literal text and parameters. */
export interface ParsedRoute {
  template: string;
  segments: Part[][];
  params: RouteParam[];
}

const INT32 = [-(2 ** 31), 2 ** 31 - 1] as const;

function isInteger(v: string): boolean {
  return /^[-+]?\d+$/.test(v);
}
function isNumber(v: string): boolean {
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v);
}

function makeConstraint(name: string, args: string[]): Constraint {
  const n = name.toLowerCase();
  const num = (i: number) => Number(args[i]);
  const test = ((): ((v: string) => boolean) => {
    switch (n) {
      case 'int':
        return (v) => isInteger(v) && Number(v) >= INT32[0] && Number(v) <= INT32[1];
      case 'long':
        return (v) => {
          if (!isInteger(v)) return false;
          const b = BigInt(v);
          return b >= -(2n ** 63n) && b <= 2n ** 63n - 1n;
        };
      case 'bool':
        return (v) => /^(true|false)$/i.test(v);
      case 'double':
      case 'float':
      case 'decimal':
        return isNumber;
      case 'guid':
        return (v) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v.replace(/^\{(.*)\}$/, '$1').replace(/^\((.*)\)$/, '$1'));
      case 'datetime':
        return (v) => !Number.isNaN(Date.parse(v));
      case 'alpha':
        return (v) => /^[a-z]+$/i.test(v);
      case 'minlength':
        return (v) => v.length >= num(0);
      case 'maxlength':
        return (v) => v.length <= num(0);
      case 'length':
        return args.length === 1 ? (v) => v.length === num(0) : (v) => v.length >= num(0) && v.length <= num(1);
      case 'min':
        return (v) => isNumber(v) && Number(v) >= num(0);
      case 'max':
        return (v) => isNumber(v) && Number(v) <= num(0);
      case 'range':
        return (v) => isNumber(v) && Number(v) >= num(0) && Number(v) <= num(1);
      case 'regex': {
        // ASP.NET matches regex constraints case-insensitively; braces are escaped by doubling.
        const re = new RegExp(args.join(',').replace(/\{\{/g, '{').replace(/\}\}/g, '}'), 'i');
        return (v) => re.test(v);
      }
      case 'required':
        return (v) => v.length > 0;
      default:
        throw new Error(`unsupported route constraint '${name}'`);
    }
  })();
  return { name: n, args, test };
}

/** Splits `int:min(1):regex(^a:b$)` at the top-level colons (not inside parentheses). */
function splitConstraints(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ':' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.filter((c) => c.length > 0);
}

function parseParam(body: string, template: string): RouteParam {
  let s = body.trim();
  let catchAll = false;
  if (s.startsWith('**')) {
    catchAll = true;
    s = s.slice(2);
  } else if (s.startsWith('*')) {
    catchAll = true;
    s = s.slice(1);
  }
  const nameEnd = s.search(/[:=?]/);
  const name = nameEnd === -1 ? s : s.slice(0, nameEnd);
  let rest = nameEnd === -1 ? '' : s.slice(nameEnd);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid parameter name '${name}' in route '${template}'`);
  let optional = false;
  let defaultValue: string | undefined;
  // Trailing `?` (optional) and `=default` apply after the constraints.
  const eq = (() => {
    let depth = 0;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === '(') depth++;
      else if (rest[i] === ')') depth--;
      else if (rest[i] === '=' && depth === 0) return i;
    }
    return -1;
  })();
  if (eq !== -1) {
    defaultValue = rest.slice(eq + 1);
    rest = rest.slice(0, eq);
  }
  if (rest.endsWith('?')) {
    optional = true;
    rest = rest.slice(0, -1);
  }
  const constraints = splitConstraints(rest).map((c) => {
    const m = /^([A-Za-z]+)(?:\((.*)\))?$/s.exec(c);
    if (!m) throw new Error(`invalid constraint '${c}' in route '${template}'`);
    const args = m[2] === undefined ? [] : m[1]!.toLowerCase() === 'regex' ? [m[2]] : m[2].split(',').map((a) => a.trim());
    return makeConstraint(m[1]!, args);
  });
  return { name, optional: optional || catchAll || defaultValue !== undefined, catchAll, defaultValue, constraints };
}

/** Parses an Azure route template (without the route prefix). Throws on a malformed one. */
export function parseRouteTemplate(template: string): ParsedRoute {
  const clean = template.replace(/^\/+|\/+$/g, '');
  const segments: Part[][] = [];
  const params: RouteParam[] = [];
  const rawSegments = clean === '' ? [] : clean.split('/');
  rawSegments.forEach((seg, index) => {
    const parts: Part[] = [];
    let i = 0;
    while (i < seg.length) {
      const open = seg.indexOf('{', i);
      if (open === -1) {
        parts.push({ literal: seg.slice(i) });
        break;
      }
      if (open > i) parts.push({ literal: seg.slice(i, open) });
      // Find the matching `}` (constraint arguments may contain braces in regexes).
      let depth = 0;
      let close = -1;
      for (let j = open; j < seg.length; j++) {
        if (seg[j] === '{') depth++;
        else if (seg[j] === '}' && --depth === 0) {
          close = j;
          break;
        }
      }
      if (close === -1) throw new Error(`unbalanced '{' in route '${template}'`);
      const param = parseParam(seg.slice(open + 1, close), template);
      if (param.catchAll && index !== rawSegments.length - 1) throw new Error(`catch-all parameter must be last in route '${template}'`);
      if (params.some((p) => p.name.toLowerCase() === param.name.toLowerCase())) throw new Error(`duplicate parameter '${param.name}' in route '${template}'`);
      params.push(param);
      parts.push({ param });
      i = close + 1;
    }
    const paramParts = parts.filter((p) => 'param' in p);
    if (paramParts.length > 0 && parts.length > 1 && paramParts.some((p) => 'param' in p && (p.param.optional || p.param.catchAll))) {
      // ASP.NET only allows an optional parameter inside a complex segment in narrow cases.
      throw new Error(`optional or catch-all parameters must fill their whole segment in route '${template}'`);
    }
    segments.push(parts);
  });
  return { template, segments, params };
}

/** One function bound to a route. */
export interface RouteEntry<T> {
  route: ParsedRoute;
  /** Upper-case methods; empty means any method. */
  methods: readonly string[];
  target: T;
}

/** What a look-up found. */
export type RouteMatch<T> =
  | { kind: 'found'; entry: RouteEntry<T>; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allow: string[] }
  | { kind: 'not-found' };

interface Shape<T> {
  /** Positional param names in the find-my-way path (p0, p1, ...), per candidate. */
  candidates: { entry: RouteEntry<T>; names: (string | null)[]; specificity: number }[];
}

function escapeLiteral(s: string): string {
  // find-my-way: `::` is a literal colon; `*` would start a wildcard.
  return s.replace(/:/g, '::');
}

/**
 * Expands a parsed route into find-my-way shapes. Optional trailing parameters and catch-alls
 * produce two shapes (with and without the last segment), so the router itself never needs
 * to know about optionality.
 */
function shapesOf(route: ParsedRoute): { path: string; names: (string | null)[] }[] {
  const build = (segs: Part[][], catchAll: RouteParam | undefined) => {
    const names: (string | null)[] = [];
    let path = '';
    for (const seg of segs) {
      path += '/';
      for (const part of seg) {
        if ('literal' in part) path += escapeLiteral(part.literal);
        else {
          // A complex segment (`{a}.{b}`) needs a separator find-my-way can see; find-my-way
          // splits multi-parametric segments at the literal between them.
          path += `:p${names.length}`;
          names.push(part.param.name);
        }
      }
    }
    if (catchAll) {
      path += path.endsWith('/') ? '*' : '/*';
      names.push(catchAll.name);
    }
    return { path: path === '' ? '/' : path, names };
  };
  const segs = route.segments;
  const last = segs[segs.length - 1];
  const lastParam = last && last.length === 1 && 'param' in last[0]! ? last[0].param : undefined;
  if (lastParam?.catchAll) {
    const head = segs.slice(0, -1);
    return [build(head, lastParam), build(head, undefined)];
  }
  if (lastParam?.optional) {
    const shapes = [build(segs, undefined)];
    // Azure allows a run of trailing optional parameters (`{a?}/{b?}`): each may be left off.
    let cut = segs.length - 1;
    while (cut >= 0) {
      const seg = segs[cut]!;
      const p = seg.length === 1 && 'param' in seg[0]! ? seg[0].param : undefined;
      if (!p?.optional) break;
      shapes.push(build(segs.slice(0, cut), undefined));
      cut--;
    }
    return shapes;
  }
  return [build(segs, undefined)];
}

/**
 * Route table for HTTP triggers. `add` every function, then `match(method, path)`.
 * Paths are matched case-insensitively (as the real host does); parameter values keep their
 * case and are URL-decoded.
 */
export class RouteTable<T> {
  readonly #router = FindMyWay({ caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: 2048 });
  readonly #shapes = new Map<string, Shape<T>>();

  add(prefix: string, route: ParsedRoute, methods: readonly string[], target: T): RouteEntry<T> {
    const entry: RouteEntry<T> = { route, methods: methods.map((m) => m.toUpperCase()), target };
    const pre = prefix.replace(/^\/+|\/+$/g, '');
    for (const shape of shapesOf(route)) {
      const path = (pre ? `/${escapeLiteral(pre)}` : '') + (shape.path === '/' && pre ? '' : shape.path);
      const key = path.toLowerCase();
      let s = this.#shapes.get(key);
      if (!s) {
        s = { candidates: [] };
        this.#shapes.set(key, s);
        const store = s;
        this.#router.on('GET', path || '/', () => {}, store);
      }
      const clash = s.candidates.find(
        (c) =>
          c.entry.route.template.replace(/^\/+|\/+$/g, '').toLowerCase() === route.template.replace(/^\/+|\/+$/g, '').toLowerCase() &&
          (c.entry.methods.length === 0 || entry.methods.length === 0 || c.entry.methods.some((m) => entry.methods.includes(m))),
      );
      if (clash) throw new Error(`route '${route.template}' (${entry.methods.join(',') || 'any method'}) is already served by another function`);
      // Constrained candidates are tried before unconstrained ones, as ASP.NET orders them.
      const specificity = route.params.reduce((n, p) => n + p.constraints.length, 0);
      s.candidates.push({ entry, names: shape.names, specificity });
      s.candidates.sort((a, b) => b.specificity - a.specificity);
    }
    return entry;
  }

  match(method: string, path: string): RouteMatch<T> {
    const found = this.#router.find('GET', path);
    if (!found) return { kind: 'not-found' };
    const shape = found.store as Shape<T>;
    const raw = found.params as Record<string, string | undefined>;
    const allow = new Set<string>();
    let anyPassed = false;
    for (const c of shape.candidates) {
      const params = bindParams(c.entry.route, c.names, raw);
      if (!params) continue;
      anyPassed = true;
      if (c.entry.methods.length === 0 || c.entry.methods.includes(method)) return { kind: 'found', entry: c.entry, params };
      for (const m of c.entry.methods) allow.add(m);
    }
    if (!anyPassed) return { kind: 'not-found' };
    return { kind: 'method-not-allowed', allow: [...allow].sort() };
  }
}

function bindParams(route: ParsedRoute, names: (string | null)[], raw: Record<string, string | undefined>): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  names.forEach((name, i) => {
    if (name === null) return;
    const isLastWildcard = i === names.length - 1 && raw['*'] !== undefined && raw[`p${i}`] === undefined;
    const v = isLastWildcard ? raw['*'] : raw[`p${i}`];
    if (v !== undefined && v !== '') params[name] = v;
  });
  for (const p of route.params) {
    const v = params[p.name];
    if (v === undefined) {
      if (p.defaultValue !== undefined) params[p.name] = p.defaultValue;
      else if (!p.optional) return undefined;
      continue;
    }
    if (!p.constraints.every((c) => c.test(v))) return undefined;
  }
  return params;
}
