/**
 * Visible progress for the demo: turns successive run records (GET /api/runs/{id}) into one
 * line per change — stage by stage, environment by environment, approvals waiting and decided,
 * automatic rollbacks — and reads what each environment's port actually serves.
 */
import type { ConveyorClient } from './conveyor.js';
import type { EnvironmentPorts } from './demo-repo.js';

/** The parts of a run record the demo looks at (the API returns more). */
export interface RunView {
  runId: string;
  status: string;
  reason?: string;
  commit: string;
  stages?: Record<string, { status: string; reason?: string; startedAt?: string; finishedAt?: string }>;
  environmentOrder?: string[];
  environments?: Record<string, EnvironmentView>;
}

/** One environment of a run record. */
export interface EnvironmentView {
  status: string;
  reason?: string;
  startedAt?: string;
  finishedAt?: string;
  revision?: number;
  rolledBackTo?: number;
  approval?: { waitingSince?: string; until?: string; approvers?: string[]; required?: number; decisions?: { by: string; decision: string; comment?: string }[] };
}

/** What an environment's port answers on /version (undefined when nothing answers). */
export interface Served {
  commit: string | null;
  revision: string | null;
  message: string;
  env: string | null;
}

/** Terminal run statuses. */
export const TERMINAL = new Set(['Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded', 'Skipped']);

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: number) => (s: string) => (useColor ? `\u001b[${code}m${s}\u001b[0m` : s);
/** ANSI styles (no-ops when stdout is not a terminal or NO_COLOR is set). */
export const style = { bold: paint(1), dim: paint(2), red: paint(31), green: paint(32), yellow: paint(33), cyan: paint(36) };

/** Colours a status word by its meaning. */
export function statusWord(status: string): string {
  if (status === 'Succeeded') return style.green(status);
  if (status === 'Failed' || status === 'Errored' || status === 'Aborted') return style.red(status);
  if (status === 'Running' || status === 'Pending') return style.yellow(status);
  return status;
}

/** GET http://127.0.0.1:<port>/version of a demo environment. */
export async function served(port: number): Promise<Served | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/version`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    return (await res.json()) as Served;
  } catch {
    return undefined;
  }
}

/** `a1b2c3d "message"` for what a port serves. */
export function describeServed(s: Served | undefined): string {
  if (!s) return style.dim('nothing (no process answers)');
  return `${(s.commit ?? '?').slice(0, 7)} (revision ${s.revision ?? '?'}) "${s.message}"`;
}

const seconds = (from: string | undefined, to: string | undefined) => {
  const a = from ? Date.parse(from) : NaN;
  const b = to ? Date.parse(to) : NaN;
  return Number.isFinite(a) && Number.isFinite(b) ? ` in ${((b - a) / 1000).toFixed(1)}s` : '';
};

/** Prints one line per change between successive records of one run. */
export class RunProgress {
  private readonly seen = new Map<string, string>();
  private readonly reasons = new Set<string>();
  private readonly started = Date.now();

  constructor(
    private readonly print: (line: string) => void,
    private readonly ports?: EnvironmentPorts,
    private readonly indent = '    ',
  ) {}

  private line(label: string, text: string): void {
    const t = ((Date.now() - this.started) / 1000).toFixed(1).padStart(5);
    this.print(`${this.indent}${style.dim(`[${t}s]`)} ${label.padEnd(9)} ${text}`);
  }

  private changed(key: string, value: string): boolean {
    if (this.seen.get(key) === value) return false;
    this.seen.set(key, value);
    return true;
  }

  /** Prints what changed since the previous record. */
  async update(run: RunView): Promise<void> {
    for (const name of ['load', 'build', 'test']) {
      const stage = run.stages?.[name];
      if (!stage || stage.status === 'Pending') continue;
      if (!this.changed(`stage:${name}`, stage.status)) continue;
      const extra = stage.status === 'Running' ? '' : seconds(stage.startedAt, stage.finishedAt) + (stage.reason ? `: ${stage.reason}` : '');
      this.line(name === 'load' ? 'pipeline' : name, `${statusWord(stage.status)}${extra}`);
    }
    const order = run.environmentOrder ?? Object.keys(run.environments ?? {});
    for (const env of order) {
      const e = run.environments?.[env];
      if (!e) continue;
      const approval = e.approval;
      const waiting = e.status === 'Pending' && !!approval?.waitingSince;
      if (e.status === 'Pending' && !waiting) continue;
      const decisions = approval?.decisions ?? [];
      if (!this.changed(`env:${env}`, `${e.status}|${waiting}|${decisions.length}|${e.rolledBackTo ?? ''}`)) continue;
      if (waiting) {
        const last = decisions.at(-1);
        const who = (approval?.approvers ?? []).join(', ') || '?';
        this.line(env, last ? `${statusWord('Pending')}: ${last.by} ${last.decision}d; waiting for more approvals` : `${statusWord('Pending')}: waiting for approval by ${who} (${approval?.required ?? 1} required)`);
        continue;
      }
      if (e.status === 'Running') {
        this.line(env, `${statusWord('Running')}${decisions.length ? `: approved by ${decisions.map((d) => d.by).join(', ')}; deploying and verifying` : ''}`);
        continue;
      }
      let text = `${statusWord(e.status)}${seconds(e.startedAt, e.finishedAt)}`;
      if (e.revision !== undefined) text += `, revision ${e.revision}`;
      if (e.reason) {
        text += `: ${e.reason}`;
        this.reasons.add(e.reason);
      }
      const port = this.ports?.[env as keyof EnvironmentPorts];
      const servesNow = async () => (port !== undefined ? `; :${port} serves ${describeServed(await served(port))}` : '');
      if (e.rolledBackTo !== undefined) {
        this.line(env, text);
        this.line(env, `${style.yellow(`-> rolled back automatically to revision ${e.rolledBackTo}`)}${await servesNow()}`);
        continue;
      }
      if (e.status === 'Succeeded' || e.status === 'Failed') text += await servesNow();
      this.line(env, text);
    }
    if (TERMINAL.has(run.status) && this.changed('run', run.status)) {
      // An environment's line usually said why already; saying it twice only adds noise.
      const why = run.reason && !this.reasons.has(run.reason) ? `: ${run.reason}` : '';
      this.line('run', `${statusWord(run.status)}${why}`);
    }
  }
}

/**
 * Polls GET /api/runs/{runId}, printing progress, until `until(run)` holds; throws after
 * `timeoutMs` with the last record seen.
 */
export async function followRun(
  client: ConveyorClient,
  runId: string,
  options: { until: (run: RunView) => boolean; progress: RunProgress; timeoutMs?: number; what?: string },
): Promise<RunView> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let last: RunView | undefined;
  let lastStatus = 0;
  while (Date.now() < deadline) {
    const res = await client.request<RunView>('GET', `/api/runs/${encodeURIComponent(runId)}`);
    lastStatus = res.status;
    if (res.status === 200) {
      last = res.body;
      await options.progress.update(last);
      if (options.until(last)) return last;
      // A finished run never changes again: waiting longer would only hide the failure.
      if (TERMINAL.has(last.status)) break;
    } else if (res.status !== 404) {
      throw new Error(`GET /api/runs/${runId} answered ${res.status}: ${res.text.slice(0, 300)}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  const what = options.what ?? 'the expected state';
  if (!last) throw new Error(`run ${runId} never appeared (GET answered ${lastStatus}); did the webhook reach Conveyor?`);
  throw new Error(`run ${runId} did not reach ${what}: status ${last.status}${last.reason ? ` (${last.reason})` : ''}; environments ${JSON.stringify(Object.fromEntries(Object.entries(last.environments ?? {}).map(([k, v]) => [k, v.status])))}`);
}
