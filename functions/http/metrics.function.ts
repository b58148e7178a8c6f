/**
 * `GET /api/apps/{app}/metrics?window=30d`: DORA metrics per environment, in promotion order,
 * from the ledger (through the metrics index) and run records. Definitions: docs/metrics.md.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { DEFAULT_REWORK_WINDOW_MS, DEFAULT_WINDOW, parseWindow } from '../../shared/metrics/index.js';
import type { Services } from '../composition-root.js';
import { errorToResponse } from './problem.js';
import { environmentNames } from '../../shared/use-cases/environment-matrix.use-case.js';

/** GET /api/apps/{app}/metrics, given its collaborators. */
export function getMetrics(services: Pick<Services, 'apps' | 'ledger' | 'runs' | 'metrics'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.params.app ?? '';
      const window = parseWindow(request.query.get('window') ?? DEFAULT_WINDOW, Date.now());
      await services.apps.get(app);
      const environments = await environmentNames(services, app);
      const metrics = await services.metrics.metrics(app, environments, window);
      return {
        status: 200,
        headers: { 'cache-control': 'no-store' },
        jsonBody: {
          app,
          window: { text: window.text, from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString() },
          reworkWindowHours: DEFAULT_REWORK_WINDOW_MS / 3_600_000,
          environments: metrics,
        },
      };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
