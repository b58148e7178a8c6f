/**
 * The durable HTTP API (docs/durable.md, "HTTP API"). One handler serves both the RPC base the
 * library's DurableClient calls (our own loopback listener, no key, like the extension's
 * port 17071) and the public `/runtime/webhooks/durabletask/...` URLs handed out by
 * createCheckStatusResponse (the host checks the system key before calling us).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DurableEngine } from './engine.js';
import { fromJsonText } from './replay.js';
import type { InstanceRow, ListFilter } from './store.js';
import { EventType, EventTypeName, RUNTIME_STATUSES, TERMINAL, type HistoryEvent } from './types.js';

export interface ApiOptions {
  taskHub: string;
  /** `<origin>/runtime/webhooks/durabletask` of the host (public management URLs). */
  publicBase(): string;
  /** `code=<system key>` (empty when no key is needed). */
  requiredQuery(): string;
  testClock: boolean;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const MAX_BODY = 16 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** `yyyy-MM-ddTHH:mm:ssZ`, the extension's status time format. */
export function statusTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function parseBool(v: string | null, dflt: boolean): boolean {
  if (v === null) return dflt;
  return v.toLowerCase() === 'true';
}

function parseTime(v: string | null, name: string): number | undefined {
  if (!v) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new HttpError(400, `${name} is not a valid date-time: ${v}`);
  return t;
}

/** History in the extension's status format: readable types, scheduled rows merged. */
export function formatHistory(events: HistoryEvent[], showHistoryOutput: boolean, showInput: boolean, name: string): Record<string, unknown>[] {
  const scheduled = new Map<number, HistoryEvent>();
  const out: Record<string, unknown>[] = [];
  for (const e of events) {
    if (e.EventType === EventType.TaskScheduled || e.EventType === EventType.SubOrchestrationInstanceCreated) {
      scheduled.set(e.EventId, e);
      continue;
    }
    if (e.EventType === EventType.OrchestratorStarted || e.EventType === EventType.OrchestratorCompleted) continue;
    const { EventType: type, EventId: _id, IsPlayed: _p, ...rest } = e;
    const row: Record<string, unknown> = { EventType: EventTypeName[type] ?? String(type), ...rest };
    if (type === EventType.ExecutionStarted) row.FunctionName = name;
    const sid = typeof e.TaskScheduledId === 'number' ? e.TaskScheduledId : undefined;
    if (sid !== undefined && scheduled.has(sid)) {
      const s = scheduled.get(sid)!;
      row.FunctionName = s.Name;
      row.ScheduledTime = s.Timestamp;
      if (showInput && s.Input !== undefined) row.Input = s.Input;
    }
    for (const k of ['Result', 'Input']) {
      if (typeof row[k] === 'string') row[k] = fromJsonText(row[k] as string);
    }
    if (!showHistoryOutput) delete row.Result;
    if (!showInput) delete row.Input;
    out.push(row);
  }
  return out;
}

export class DurableHttpApi {
  constructor(private readonly engine: DurableEngine, private readonly opts: ApiOptions) {}

  /** Public management URLs for one instance (createCheckStatusResponse payload). */
  checkStatusPayload(instanceId: string): Record<string, string> {
    const base = `${this.opts.publicBase()}/instances/${encodeURIComponent(instanceId)}`;
    const rq = this.opts.requiredQuery();
    const q = `taskHub=${encodeURIComponent(this.opts.taskHub)}&connection=Storage${rq ? '&' + rq : ''}`;
    return {
      id: instanceId,
      statusQueryGetUri: `${base}?${q}`,
      sendEventPostUri: `${base}/raiseEvent/{eventName}?${q}`,
      terminatePostUri: `${base}/terminate?reason={text}&${q}`,
      rewindPostUri: `${base}/rewind?reason={text}&${q}`,
      purgeHistoryDeleteUri: `${base}?${q}`,
      restartPostUri: `${base}/restart?${q}`,
      suspendPostUri: `${base}/suspend?reason={text}&${q}`,
      resumePostUri: `${base}/resume?reason={text}&${q}`,
    };
  }

  statusOf(row: InstanceRow, showHistory: boolean, showHistoryOutput: boolean, showInput: boolean): Record<string, unknown> {
    const body: Record<string, unknown> = {
      name: row.name,
      instanceId: row.instance_id,
      runtimeStatus: row.status,
      input: showInput ? fromJsonText(row.input) : null,
      customStatus: fromJsonText(row.custom_status),
      output: fromJsonText(row.output),
      createdTime: statusTime(row.created_at),
      lastUpdatedTime: statusTime(row.updated_at),
    };
    if (showHistory) {
      const h = formatHistory(this.engine.historyOf(row.instance_id), showHistoryOutput, showInput, row.name);
      // The JS client reads `history` (durable-js issue #620); the extension sends `historyEvents`.
      body.historyEvents = h;
      body.history = h;
    }
    return body;
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL, basePath: string): Promise<void> {
    try {
      await this.route(req, res, url, basePath);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) console.error('durable http api:', err);
      if (!res.headersSent) send(res, status, { error: String((err as Error)?.message ?? err) });
      else res.end();
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, basePath: string): Promise<void> {
    let rest = url.pathname.slice(basePath.length);
    rest = rest.replace(/^\/+/, '');
    const seg = rest === '' ? [] : rest.split('/').map((s) => decodeURIComponent(s));
    if (seg.length > 0 && seg[seg.length - 1] === '') seg.pop();
    const method = (req.method ?? 'GET').toUpperCase();
    const q = url.searchParams;
    const [head, a, b, c] = seg;

    if (head === 'orchestrators' && a && method === 'POST' && seg.length <= 3) {
      return this.startNew(req, res, a, b, q);
    }
    if (head === 'instances') {
      if (!a) {
        if (method === 'GET') return this.list(req, res, q);
        if (method === 'DELETE') return this.purgeBy(res, q);
        throw new HttpError(405, 'method not allowed');
      }
      if (seg.length === 2) {
        if (method === 'GET') return this.getStatus(res, a, q, url);
        if (method === 'DELETE') {
          const row = this.engine.getInstance(a);
          if (!row) return send(res, 404, { error: `No instance with ID '${a}' found.` });
          if (!TERMINAL.has(row.status)) throw new HttpError(400, `Instance '${a}' is ${row.status}; only finished instances can be purged.`);
          const n = await this.engine.purge([a]);
          return send(res, n ? 200 : 404, { instancesDeleted: n });
        }
      }
      if (method === 'POST' && b === 'raiseEvent' && c && seg.length === 4) {
        const input = await readJsonText(req, 'the event data');
        return this.outcome(res, await this.engine.raiseEvent(a, c, input), a);
      }
      if (method === 'POST' && seg.length === 3 && (b === 'terminate' || b === 'suspend' || b === 'resume')) {
        return this.outcome(res, await this.engine.control(a, b, q.get('reason')), a);
      }
      if (method === 'POST' && seg.length === 3 && b === 'rewind') {
        return send(res, 501, { error: 'rewind is not supported by the local durable backend' });
      }
      if (method === 'POST' && seg.length === 3 && b === 'restart') {
        const row = this.engine.getInstance(a);
        if (!row) throw new HttpError(400, `No instance with ID '${a}' found.`);
        const newId = parseBool(q.get('restartWithNewInstanceId'), true) ? undefined : a;
        const started = await this.engine.startNew(row.name, row.input, newId, row.version ?? undefined);
        if (!started.ok) throw new HttpError(started.code === 'exists' ? 409 : 400, started.message);
        return this.accepted(res, started.instanceId);
      }
    }
    if (head === 'entities' && a) {
      if (seg.length === 2 && method === 'GET') return this.listEntities(res, a);
      if (seg.length === 3 && b !== undefined) {
        const key = b === '$' ? '' : b;
        if (method === 'GET') {
          const e = this.engine.readEntity(a, key);
          if (!e || e.state === null) return send(res, 404, { error: `Entity @${a}@${key} not found.` });
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return void res.end(e.state);
        }
        if (method === 'POST') {
          const op = q.get('op');
          if (!op) throw new HttpError(400, 'the op query parameter is required');
          const body = await readBody(req);
          let input: string | null = null;
          if (body.length > 0) {
            const ct = String(req.headers['content-type'] ?? '');
            if (ct.includes('json')) {
              try {
                JSON.parse(body);
              } catch {
                throw new HttpError(400, 'the operation input must be valid JSON');
              }
              input = body;
            } else {
              input = JSON.stringify(body);
            }
          }
          await this.engine.signalEntity(a, key, op, input);
          res.writeHead(202);
          return void res.end();
        }
      }
    }
    if (head === 'test-clock') {
      if (!this.opts.testClock) throw new HttpError(404, 'not found');
      if (seg.length === 1 && method === 'GET') return send(res, 200, { now: new Date(this.engine.clock.now()).toISOString() });
      if (a === 'advance' && method === 'POST') {
        const ms = Number(q.get('ms'));
        if (!Number.isFinite(ms) || ms < 0) throw new HttpError(400, 'ms must be a number >= 0');
        const now = this.engine.clock.advance(ms);
        this.engine.clockMoved();
        return send(res, 200, { now: new Date(now).toISOString() });
      }
      if (a === 'idle' && method === 'GET') {
        // Lets a test check that something did NOT happen (a timer not yet due, events held
        // while suspended) once the backend has settled, instead of after a guessed sleep.
        const raw = q.get('timeoutMs');
        const ms = raw === null ? 30_000 : Number(raw);
        if (!Number.isFinite(ms) || ms < 0) throw new HttpError(400, 'timeoutMs must be a number >= 0');
        let timer: NodeJS.Timeout | undefined;
        const idle = await Promise.race([
          this.engine.whenIdle().then(() => true),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
        ]);
        clearTimeout(timer);
        if (!idle) return send(res, 503, { error: `the durable backend was still busy after ${ms} ms` });
        return send(res, 200, { idle: true, now: new Date(this.engine.clock.now()).toISOString() });
      }
    }
    throw new HttpError(404, `no durable API route for ${method} /${rest}`);
  }

  private outcome(res: ServerResponse, r: 'ok' | 'notfound' | 'gone', id: string): void {
    if (r === 'notfound') return send(res, 404, { error: `No instance with ID '${id}' found.` });
    if (r === 'gone') return send(res, 410, { error: `Instance '${id}' has already finished.` });
    res.writeHead(202);
    res.end();
  }

  private accepted(res: ServerResponse, id: string): void {
    const payload = this.checkStatusPayload(id);
    res.writeHead(202, { 'Content-Type': 'application/json', Location: payload.statusQueryGetUri, 'Retry-After': '10' });
    res.end(JSON.stringify(payload));
  }

  private async startNew(req: IncomingMessage, res: ServerResponse, fn: string, id: string | undefined, q: URLSearchParams): Promise<void> {
    const input = await readJsonText(req, 'the orchestration input');
    const started = await this.engine.startNew(fn, input, id || undefined, q.get('version') ?? undefined);
    if (!started.ok) throw new HttpError(started.code === 'exists' ? 409 : 400, started.message);
    const timeout = Number(q.get('timeout'));
    if (q.has('timeout') && Number.isFinite(timeout) && timeout > 0) {
      const interval = Math.max(0.05, Number(q.get('pollingInterval')) || 1) * 1000;
      const deadline = Date.now() + timeout * 1000;
      for (;;) {
        const row = this.engine.getInstance(started.instanceId);
        if (row && TERMINAL.has(row.status)) {
          if (row.status === 'Completed') return send(res, 200, fromJsonText(row.output));
          return send(res, 200, this.statusOf(row, false, false, true));
        }
        if (Date.now() >= deadline) break;
        await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(0, deadline - Date.now()))));
      }
    }
    this.accepted(res, started.instanceId);
  }

  private getStatus(res: ServerResponse, id: string, q: URLSearchParams, url: URL): void {
    const row = this.engine.getInstance(id);
    if (!row) return send(res, 404, { error: `No instance with ID '${id}' found.` });
    const body = this.statusOf(row, parseBool(q.get('showHistory'), false), parseBool(q.get('showHistoryOutput'), false), parseBool(q.get('showInput'), true));
    if (TERMINAL.has(row.status)) {
      const code = row.status === 'Failed' && parseBool(q.get('returnInternalServerErrorOnFailure'), false) ? 500 : 200;
      return send(res, code, body);
    }
    send(res, 202, body, { Location: url.href, 'Retry-After': '5' });
  }

  private filterFrom(q: URLSearchParams): ListFilter {
    const f: ListFilter = {};
    const statuses = q.get('runtimeStatus');
    if (statuses) {
      f.runtimeStatus = statuses.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
        const hit = RUNTIME_STATUSES.find((r) => r.toLowerCase() === s.toLowerCase());
        if (!hit) throw new HttpError(400, `unknown runtimeStatus '${s}'`);
        return hit;
      });
    }
    const from = parseTime(q.get('createdTimeFrom'), 'createdTimeFrom');
    const to = parseTime(q.get('createdTimeTo'), 'createdTimeTo');
    if (from !== undefined) f.createdTimeFrom = from;
    if (to !== undefined) f.createdTimeTo = to;
    const prefix = q.get('instanceIdPrefix');
    if (prefix) f.instanceIdPrefix = prefix;
    return f;
  }

  private list(req: IncomingMessage, res: ServerResponse, q: URLSearchParams): void {
    const filter = this.filterFrom(q);
    const top = q.has('top') ? Number(q.get('top')) : 1000;
    if (!Number.isInteger(top) || top <= 0) throw new HttpError(400, 'top must be a positive integer');
    const token = String(req.headers['x-ms-continuation-token'] ?? '');
    let after: { created: number; id: string } | undefined;
    if (token) {
      try {
        const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { c: number; i: string };
        after = { created: t.c, id: t.i };
      } catch {
        throw new HttpError(400, 'invalid x-ms-continuation-token');
      }
    }
    const rows = this.engine.listInstances(filter, top + 1, after);
    const page = rows.slice(0, top);
    const headers: Record<string, string> = {};
    if (rows.length > top) {
      const last = page[page.length - 1]!;
      headers['x-ms-continuation-token'] = Buffer.from(JSON.stringify({ c: last.created_at, i: last.instance_id })).toString('base64url');
    }
    const showInput = parseBool(q.get('showInput'), true);
    send(res, 200, page.map((r) => this.statusOf(r, false, false, showInput)), headers);
  }

  private async purgeBy(res: ServerResponse, q: URLSearchParams): Promise<void> {
    const filter = this.filterFrom(q);
    const ids: string[] = [];
    let after: { created: number; id: string } | undefined;
    for (;;) {
      const rows = this.engine.listInstances(filter, 1000, after);
      for (const r of rows) if (TERMINAL.has(r.status)) ids.push(r.instance_id);
      if (rows.length < 1000) break;
      const last = rows[rows.length - 1]!;
      after = { created: last.created_at, id: last.instance_id };
    }
    const n = ids.length ? await this.engine.purge(ids) : 0;
    send(res, n ? 200 : 404, { instancesDeleted: n });
  }

  private listEntities(res: ServerResponse, name: string): void {
    const rows = this.engine.listEntities(name);
    send(res, 200, rows.filter((e) => e.state !== null).map((e) => ({
      entityId: { name: e.name, key: e.key },
      lastOperationTime: statusTime(e.updated_at),
      state: fromJsonText(e.state),
    })));
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

/** The request body as JSON text (null when empty); invalid JSON is a 400 naming `what`. */
async function readJsonText(req: IncomingMessage, what: string): Promise<string | null> {
  const body = await readBody(req);
  if (body.length === 0) return null;
  try {
    JSON.parse(body);
  } catch {
    throw new HttpError(400, `${what} must be valid JSON`);
  }
  return body;
}
