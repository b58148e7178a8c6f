/**
 * The read side: what runs where, environment history, runs of an app, and step logs.
 * Every figure comes from the ledger and run records (the system of record), with the target's
 * own view of health beside it.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AppRecord } from '../../shared/apps/index.js';
import type { Services } from '../composition-root.js';
import { appOfRunId, isLoggedStep, LOGGED_STEPS, logBlobName } from '../../shared/domain/ids.js';
import { errorToResponse, HttpProblem, problem } from './problem.js';

/** One environment in the matrix. */
export interface EnvironmentView {
  name: string;
  revision: number;
  commit: string;
  artifactDigest: string;
  deployedAt: string;
  runId: string;
  status: string;
  kind: string;
  /** The target's view: is the recorded revision up and answering? */
  healthy: boolean;
  running: boolean;
  /** What the target reports actually runs (for drift detection). */
  actual?: { revision?: string; commit?: string; state: string };
}

/**
 * `names` in promotion order: the order `order` declares first, then any others (environments
 * removed from the pipeline since) alphabetically.
 */
export function inPromotionOrder(names: readonly string[], order: readonly string[] | undefined): string[] {
  const rank = new Map((order ?? []).map((name, i) => [name, i]));
  return [...names].sort((a, b) => (rank.get(a) ?? Infinity) - (rank.get(b) ?? Infinity) || (a < b ? -1 : a > b ? 1 : 0));
}

/** The environments of an app that have a ledger, in the promotion order its newest run declared. */
export async function environmentNames({ ledger, runs }: Pick<Services, 'ledger' | 'runs'>, app: string): Promise<string[]> {
  const [names, recent] = await Promise.all([ledger.environments(app), runs.list(app, { pageSize: 5 })]);
  return inPromotionOrder(names, recent.runs.find((r) => r.environmentOrder?.length)?.environmentOrder);
}

/** What runs in each environment of an app, in promotion order. */
export async function environmentMatrix({ ledger, runs, targets }: Pick<Services, 'ledger' | 'runs' | 'targets'>, app: string): Promise<EnvironmentView[]> {
  const names = await environmentNames({ ledger, runs }, app);
  const views = await Promise.all(
    names.map(async (name): Promise<EnvironmentView | undefined> => {
      const current = await ledger.current(app, name);
      if (!current) return undefined;
      let actual: EnvironmentView['actual'];
      let healthy = false;
      let running = false;
      for (const type of targets.types()) {
        const status = await targets.get(type)!.status(app, name).catch(() => undefined);
        if (status && status.state !== 'absent') {
          actual = { revision: status.revision, commit: status.commit, state: status.state };
          running = status.running && status.revision === String(current.revision);
          healthy = running && status.healthy;
          break;
        }
      }
      return {
        name,
        revision: current.revision,
        commit: current.commit,
        artifactDigest: current.artifactDigest,
        deployedAt: current.deployedAt,
        runId: current.runId,
        status: current.status,
        kind: current.kind,
        healthy,
        running,
        ...(actual ? { actual } : {}),
      };
    }),
  );
  return views.filter((v): v is EnvironmentView => v !== undefined);
}

/** An app with its environment matrix. */
export async function appView(services: Pick<Services, 'ledger' | 'runs' | 'targets'>, app: AppRecord): Promise<AppRecord & { environments: EnvironmentView[] }> {
  return { ...app, environments: await environmentMatrix(services, app.name) };
}

function paging(request: HttpRequest): { pageSize: number; continuation?: string } {
  const raw = request.query.get('pageSize');
  const pageSize = raw === null ? 20 : Number(raw);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 200) throw new HttpProblem(400, 'pageSize must be an integer from 1 to 200');
  const continuation = request.query.get('continuation') ?? undefined;
  return { pageSize, ...(continuation ? { continuation } : {}) };
}

/** GET /api/apps/{app}/environments/{env}/history (newest first, paged). */
export function getHistory(services: Pick<Services, 'apps' | 'ledger'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      const env = request.params.env ?? '';
      await services.apps.get(app);
      const page = paging(request);
      const history = await services.ledger.history(app, env, page);
      if (history.records.length === 0 && !page.continuation) return problem(404, `${app} has no history for environment ${JSON.stringify(env.slice(0, 60))}`);
      return { status: 200, jsonBody: history };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** GET /api/apps/{app}/runs (newest first, paged). */
export function listRuns(services: Pick<Services, 'apps' | 'runs'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      await services.apps.get(app);
      const page = paging(request);
      return { status: 200, jsonBody: await services.runs.list(app, page) };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** GET /api/runs/{runId}/logs/{step}: the step's log as text (what was written so far while it runs). */
export function getLog(services: Pick<Services, 'runs' | 'logs'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const runId = request.params.runId ?? '';
      const step = request.params.step ?? '';
      const app = appOfRunId(runId);
      if (!app) return problem(404, `no run ${JSON.stringify(runId.slice(0, 120))}`);
      if (!isLoggedStep(step)) return problem(404, `no step ${JSON.stringify(step.slice(0, 40))}; steps with logs: ${LOGGED_STEPS.join(', ')}`);
      await services.runs.get(app, runId);
      const blob = services.logs.getBlobClient(logBlobName(app, runId, step));
      const exists = await blob.exists();
      if (!exists) return problem(404, `run ${runId} has no ${step} log (yet)`);
      const download = await blob.download();
      return {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
        body: download.readableStreamBody as unknown as NodeJS.ReadableStream as never,
      };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
