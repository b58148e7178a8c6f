/**
 * The dashboard's only door to Conveyor: the public HTTP API, with the function key and the
 * caller's API token in headers taken from sessionStorage (this tab only; never in a URL, never
 * a cookie), so a page on another site cannot make the browser send an authenticated request.
 */

/** What the sign-in stored for this tab. */
export interface Session {
  /** Function key (x-functions-key). */
  key: string;
  /** API token (Authorization: Bearer), when the caller identifies that way. */
  token?: string;
}

const STORAGE_KEY = 'conveyor.session';

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return undefined;
    const s = JSON.parse(raw) as Session;
    return typeof s.key === 'string' && s.key ? s : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session | undefined): void {
  if (s) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** An RFC 9457 problem as the API answers it. */
export interface Problem {
  status: number;
  title?: string;
  detail?: string;
  errors?: { path?: string; message?: string }[];
}

/** A refused or failed request, carrying the API's problem detail. */
export class ApiProblem extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
  }
}

function headers(session: Session | undefined, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json', ...extra };
  if (session?.key) h['x-functions-key'] = session.key;
  if (session?.token) h.authorization = `Bearer ${session.token}`;
  return h;
}

async function problemOf(res: Response): Promise<Problem> {
  const text = await res.text();
  try {
    const p = JSON.parse(text) as Problem;
    return { ...p, status: res.status };
  } catch {
    return { status: res.status, title: res.statusText, detail: text.slice(0, 300) };
  }
}

/** Sends a request; resolves the JSON answer, throws {@link ApiProblem} for any non-2xx. */
export async function api<T>(session: Session | undefined, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/api${path}`, {
      method,
      cache: 'no-store',
      credentials: 'same-origin',
      headers: headers(session, body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiProblem({ status: 0, title: 'Conveyor is unreachable', detail: String((err as Error).message ?? err) });
  }
  if (!res.ok) throw new ApiProblem(await problemOf(res));
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/** Fetches a text document (a step log). */
export async function apiText(session: Session | undefined, path: string): Promise<string> {
  const res = await fetch(`/api${path}`, { cache: 'no-store', headers: headers(session, { accept: 'text/plain' }) });
  if (!res.ok) throw new ApiProblem(await problemOf(res));
  return res.text();
}

/**
 * Polls a JSON resource with conditional GETs: `onData` runs when it changed (never for a 304),
 * `onError` when a poll failed. The pause between polls is one second, or twice the time the
 * last answer took when the server is slow (so a big installation is not hammered). Returns stop.
 */
export function poll<T>(session: Session | undefined, path: string, onData: (value: T) => void, onError: (p: Problem) => void, minIntervalMs = 1000): () => void {
  let stopped = false;
  let etag: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    const started = performance.now();
    try {
      const h = headers(session);
      if (etag) h['if-none-match'] = etag;
      const res = await fetch(`/api${path}`, { cache: 'no-store', headers: h });
      if (stopped) return;
      if (res.status === 200) {
        etag = res.headers.get('etag') ?? undefined;
        onData((await res.json()) as T);
      } else if (res.status !== 304) {
        onError(await problemOf(res));
      }
    } catch (err) {
      if (!stopped) onError({ status: 0, title: 'Conveyor is unreachable', detail: String((err as Error).message ?? err) });
    }
    if (stopped) return;
    const took = performance.now() - started;
    const hidden = document.visibilityState === 'hidden';
    timer = setTimeout(tick, Math.min(Math.max(minIntervalMs, took * 2), 5000) * (hidden ? 5 : 1));
  };
  void tick();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
