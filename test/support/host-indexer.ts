/**
 * What the Azure Functions host would index from a v4 Node app, and whether it would accept it.
 *
 * `indexApp(dir)` loads the app in a child process exactly as the Node.js worker does
 * (index-app.child.ts) and returns the worker's FunctionMetadataResponse: function names, ids
 * and raw bindings. `hostView` parses the raw bindings as the host does (type, direction, name,
 * trigger, HTTP route/methods/auth level, connections), and `hostProblems` applies the host's
 * indexing rules and the extension bundle's binding catalogue; every problem it reports is one
 * the real host reports at start-up (the function is then not loaded, or the host stops).
 *
 * Sources of the rules (azure-functions-host, v4):
 * - function names: `^[a-z][a-z0-9_\-]{0,127}$` case-insensitive, not `host` (Utility.IsValidFunctionName),
 *   unique case-insensitively;
 * - binding names: `^([a-zA-Z][a-zA-Z0-9]{0,127}|\$return)$`, `$return` only with direction out
 *   (Utility.ValidateBinding); direction in/out/inout; exactly one trigger per function;
 * - HTTP: a route starting with `admin` or `runtime` conflicts with built-in routes; two functions
 *   with the same route (case-insensitive, trimmed of `/`) and overlapping methods conflict; the
 *   route is an ASP.NET Core route template; auth level anonymous/function/admin;
 * - binding types: what the host itself provides (http, timer) plus the extensions in the bundle
 *   range host.json asks for (`[4.*, 5.0.0)`).
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A function as the worker reports it to the host. */
export interface WorkerFunction {
  name: string;
  functionId: string;
  rawBindings: string[];
  scriptFile: string;
}

/** The worker's answer to the host's FunctionsMetadataRequest, plus load errors. */
export interface WorkerIndex {
  appDir: string;
  entries: string[];
  programmingModel: { name?: string; version?: string } | undefined;
  functions: WorkerFunction[];
  errors: string[];
}

/** Loads the app at `appDir` in a fresh Node process the way the worker does. */
export function indexApp(appDir: string, env: NodeJS.ProcessEnv = {}): WorkerIndex {
  const child = join(dirname(fileURLToPath(import.meta.url)), 'index-app.child.js');
  const res = spawnSync(process.execPath, [child, appDir], {
    cwd: appDir,
    encoding: 'utf8',
    timeout: 60_000,
    // The worker's environment: only what the platform sets, never this repository's settings.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', FUNCTIONS_WORKER_RUNTIME: 'node', ...env },
  });
  if (res.status !== 0) throw new Error(`indexing ${appDir} failed (exit ${res.status}): ${res.stderr}`);
  return JSON.parse(res.stdout) as WorkerIndex;
}

/** One binding as the host parses it from a raw binding. */
export interface HostBinding {
  name: string;
  type: string;
  direction: string;
  isTrigger: boolean;
  raw: Record<string, unknown>;
}

/** A function as the host would index it. */
export interface HostFunction {
  name: string;
  bindings: HostBinding[];
  trigger?: HostBinding;
  http?: { route: string; methods: string[] | undefined; authLevel: string };
  /** Connection setting names the bindings use (`connection` property). */
  connections: string[];
}

/** Parses the worker's raw bindings the way the host does. */
export function hostView(index: WorkerIndex): HostFunction[] {
  return index.functions.map((f) => {
    const bindings = f.rawBindings.map((raw) => {
      const b = JSON.parse(raw) as Record<string, unknown>;
      const type = String(b.type ?? '');
      return { name: String(b.name ?? ''), type, direction: String(b.direction ?? ''), isTrigger: /trigger$/i.test(type), raw: b };
    });
    const trigger = bindings.find((b) => b.isTrigger);
    const fn: HostFunction = { name: f.name, bindings, trigger, connections: bindings.flatMap((b) => (typeof b.raw.connection === 'string' ? [b.raw.connection] : [])) };
    if (trigger && trigger.type.toLowerCase() === 'httptrigger') {
      const methods = Array.isArray(trigger.raw.methods) ? (trigger.raw.methods as unknown[]).map((m) => String(m).toUpperCase()) : undefined;
      fn.http = { route: typeof trigger.raw.route === 'string' && trigger.raw.route.trim() !== '' ? trigger.raw.route : f.name, methods, authLevel: String(trigger.raw.authLevel ?? 'function').toLowerCase() };
    }
    return fn;
  });
}

/**
 * Binding types available with extension bundle `[4.*, 5.0.0)` on Functions host v4: the host's
 * own (HTTP, timer) and the bundle's extensions (Durable Task, Storage blobs/queues/tables,
 * Service Bus, Event Hubs, Event Grid, Cosmos DB, SignalR, SendGrid, Twilio, Kafka, RabbitMQ,
 * SQL, Web PubSub, warm-up). Lower case; the host compares types case-insensitively.
 */
export const BUNDLE_V4_BINDING_TYPES: ReadonlySet<string> = new Set([
  'httptrigger', 'http', 'timertrigger', 'warmuptrigger',
  'orchestrationtrigger', 'activitytrigger', 'entitytrigger', 'durableclient', 'orchestrationclient',
  'blobtrigger', 'blob', 'queuetrigger', 'queue', 'table',
  'servicebustrigger', 'servicebus',
  'eventhubtrigger', 'eventhub',
  'eventgridtrigger', 'eventgrid',
  'cosmosdbtrigger', 'cosmosdb',
  'signalrconnectioninfo', 'signalr', 'signalrtrigger', 'signalrnegotiation',
  'sendgrid', 'twiliosms',
  'kafkatrigger', 'kafka', 'rabbitmqtrigger', 'rabbitmq',
  'sqltrigger', 'sql',
  'webpubsubtrigger', 'webpubsub', 'webpubsubconnection', 'webpubsubcontext',
]);

/** Binding types whose bundle extension implements deferred binding (SDK types for language workers). */
export const DEFERRED_BINDING_TYPES: ReadonlySet<string> = new Set(['blobtrigger', 'blob', 'servicebustrigger', 'eventhubtrigger']);

const FUNCTION_NAME = /^[a-z][a-z0-9_-]{0,127}$/i;
const BINDING_NAME = /^([a-zA-Z][a-zA-Z0-9]{0,127}|\$return)$/;
const HTTP_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT']);
const AUTH_LEVELS = new Set(['anonymous', 'function', 'admin']);

/**
 * Problems in an ASP.NET Core route template (the host maps HTTP routes with ASP.NET Core
 * routing): unbalanced braces, empty or duplicate parameter names, empty segments, a catch-all
 * or optional parameter that is not last, two parameters without a literal between them, `?`
 * in a literal.
 */
export function routeTemplateProblems(template: string): string[] {
  const problems: string[] = [];
  const route = template.replace(/^\/+|\/+$/g, '');
  if (template.startsWith('~')) problems.push('a route template cannot start with "~"');
  const segments = route === '' ? [] : route.split('/');
  const seen = new Set<string>();
  segments.forEach((segment, index) => {
    if (segment === '') {
      problems.push('the route template has an empty segment ("//")');
      return;
    }
    const parts: { kind: 'literal' | 'param'; text: string }[] = [];
    let i = 0;
    while (i < segment.length) {
      const c = segment[i]!;
      if (c === '{' && segment[i + 1] === '{') {
        parts.push({ kind: 'literal', text: '{' });
        i += 2;
      } else if (c === '}' && segment[i + 1] === '}') {
        parts.push({ kind: 'literal', text: '}' });
        i += 2;
      } else if (c === '{') {
        const close = segment.indexOf('}', i);
        if (close < 0) {
          problems.push(`unclosed "{" in segment "${segment}"`);
          return;
        }
        parts.push({ kind: 'param', text: segment.slice(i + 1, close) });
        i = close + 1;
      } else if (c === '}') {
        problems.push(`unmatched "}" in segment "${segment}"`);
        return;
      } else {
        let j = i;
        while (j < segment.length && segment[j] !== '{' && segment[j] !== '}') j++;
        parts.push({ kind: 'literal', text: segment.slice(i, j) });
        i = j;
      }
    }
    const isLast = index === segments.length - 1;
    parts.forEach((part, p) => {
      if (part.kind === 'literal') {
        if (part.text.includes('?')) problems.push(`"?" is not allowed in the literal "${part.text}"`);
        return;
      }
      if (p > 0 && parts[p - 1]!.kind === 'param') problems.push(`segment "${segment}" has two consecutive parameters`);
      let body = part.text;
      const catchAll = body.startsWith('**') ? 2 : body.startsWith('*') ? 1 : 0;
      body = body.slice(catchAll);
      const nameEnd = body.search(/[:=?]/);
      const name = nameEnd < 0 ? body : body.slice(0, nameEnd);
      const optional = body.endsWith('?');
      if (name === '' || /[{}/*?=:]/.test(name)) problems.push(`invalid route parameter name in "{${part.text}}"`);
      const key = name.toLowerCase();
      if (seen.has(key)) problems.push(`the route parameter "${name}" appears more than once`);
      seen.add(key);
      if (catchAll && !isLast) problems.push(`catch-all parameter "{${part.text}}" must be in the last segment`);
      if (catchAll && optional) problems.push(`catch-all parameter "{${part.text}}" cannot be optional`);
      if (optional && !(isLast && p === parts.length - 1)) problems.push(`optional parameter "{${part.text}}" must be at the end of the route`);
    });
  });
  return problems;
}

/** Every problem the host would report for these functions (empty = the host accepts the app). */
export function hostProblems(functions: HostFunction[]): string[] {
  const problems: string[] = [];
  const names = new Map<string, string>();
  const httpRoutes: { fn: string; route: string; methods: string[] | undefined }[] = [];
  for (const fn of functions) {
    const where = `function "${fn.name}"`;
    if (!FUNCTION_NAME.test(fn.name) || fn.name.toLowerCase() === 'host') problems.push(`${where}: '${fn.name}' is not a valid function name`);
    const lower = fn.name.toLowerCase();
    if (names.has(lower)) problems.push(`${where}: the function name must be unique within the function app (also "${names.get(lower)}")`);
    names.set(lower, fn.name);
    const bindingNames = new Set<string>();
    for (const b of fn.bindings) {
      if (!BINDING_NAME.test(b.name)) problems.push(`${where}: the binding name ${b.name} is invalid`);
      if (bindingNames.has(b.name.toLowerCase())) problems.push(`${where}: the binding name ${b.name} is used twice`);
      bindingNames.add(b.name.toLowerCase());
      if (!['in', 'out', 'inout'].includes(b.direction.toLowerCase())) problems.push(`${where}: binding ${b.name} has direction "${b.direction}" (in, out or inout)`);
      if (b.name === '$return' && b.direction.toLowerCase() !== 'out') problems.push(`${where}: $return bindings must specify a direction of 'out'`);
      if (!BUNDLE_V4_BINDING_TYPES.has(b.type.toLowerCase())) problems.push(`${where}: binding type "${b.type}" is not provided by the host or extension bundle [4.*, 5.0.0)`);
      if (b.isTrigger && b.direction.toLowerCase() !== 'in') problems.push(`${where}: trigger ${b.name} must have direction in`);
    }
    const triggers = fn.bindings.filter((b) => b.isTrigger);
    if (triggers.length === 0) problems.push(`${where}: no trigger binding specified (a function must have exactly one trigger)`);
    if (triggers.length > 1) problems.push(`${where}: ${triggers.length} trigger bindings (a function must have exactly one trigger)`);
    for (const b of fn.bindings) {
      // SDK-type bindings (`sdkBinding: true`): the worker sends properties.supportsDeferredBinding
      // and the host hands the binding ModelBindingData, which only extensions that implement
      // deferred binding produce (in bundle [4.*, 5.0.0): Storage blobs, Service Bus, Event Hubs).
      const deferred = (b.raw.properties as Record<string, unknown> | undefined)?.supportsDeferredBinding;
      if (deferred === undefined) continue;
      if (deferred !== 'true' && deferred !== 'false') problems.push(`${where}: binding ${b.name}: properties.supportsDeferredBinding must be "true" or "false"`);
      else if (deferred === 'true' && !DEFERRED_BINDING_TYPES.has(b.type.toLowerCase())) problems.push(`${where}: binding ${b.name}: SDK-type binding (deferred binding) is not supported for "${b.type}"`);
    }
    if (fn.trigger?.type.toLowerCase() === 'servicebustrigger') {
      const r = fn.trigger.raw;
      if (r.autoCompleteMessages !== undefined && typeof r.autoCompleteMessages !== 'boolean') problems.push(`${where}: autoCompleteMessages must be a boolean`);
      const queue = typeof r.queueName === 'string' && r.queueName !== '';
      const topic = typeof r.topicName === 'string' && r.topicName !== '' && typeof r.subscriptionName === 'string' && r.subscriptionName !== '';
      if (queue === topic) problems.push(`${where}: a Service Bus trigger needs either queueName or topicName and subscriptionName`);
    }
    if (fn.trigger?.type.toLowerCase() === 'timertrigger') {
      const schedule = String(fn.trigger.raw.schedule ?? '');
      const fields = schedule.trim().split(/\s+/).length;
      if (!/^%[^%]+%$/.test(schedule) && !/^\d+(\.\d+)?:\d{2}:\d{2}$/.test(schedule) && fields !== 6 && fields !== 5) problems.push(`${where}: timer schedule "${schedule}" is not an NCRONTAB expression, TimeSpan or %setting%`);
    }
    if (fn.http) {
      const route = fn.http.route.replace(/^\/+|\/+$/g, '').toLowerCase();
      if (route.startsWith('admin') || route.startsWith('runtime')) problems.push(`${where}: the specified route conflicts with one or more built in routes ("${fn.http.route}")`);
      for (const p of routeTemplateProblems(fn.http.route)) problems.push(`${where}: route "${fn.http.route}": ${p}`);
      if (!AUTH_LEVELS.has(fn.http.authLevel)) problems.push(`${where}: auth level "${fn.http.authLevel}" (anonymous, function or admin)`);
      for (const m of fn.http.methods ?? []) if (!HTTP_METHODS.has(m)) problems.push(`${where}: "${m}" is not an HTTP method`);
      for (const other of httpRoutes) {
        if (other.route !== route) continue;
        const overlap = !fn.http.methods || !other.methods || fn.http.methods.some((m) => other.methods!.includes(m));
        if (overlap) problems.push(`${where}: the route specified conflicts with the route defined by function "${other.fn}"`);
      }
      httpRoutes.push({ fn: fn.name, route, methods: fn.http.methods });
    }
  }
  return problems;
}
