/**
 * App registration and the read side of apps:
 * `PUT/GET/DELETE /api/apps/{app}` (registration needs the admin key), `GET /api/apps`.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { appRegistrationBody } from '../../shared/contracts/http.js';
import type { Services } from '../composition-root.js';
import { readJsonBody } from './body.js';
import { errorToResponse, HttpProblem } from './problem.js';
import { appView } from '../../shared/use-cases/environment-matrix.use-case.js';
import { callerRights } from '../../shared/use-cases/caller-rights.use-case.js';
import { registerApp, removeApp } from '../../shared/use-cases/register-app.use-case.js';

function etagHeaders(etag: string): Record<string, string> {
  return { etag: `"${etag.replace(/"/g, '')}"` };
}

function ifMatch(request: HttpRequest): string | undefined {
  const v = request.headers.get('if-match');
  return v ? v.replace(/^W\//, '').replace(/"/g, '') : undefined;
}

/** PUT /api/apps/{app}: registers (201) or updates (200) an app. `If-Match` makes the update conditional. */
export function putApp(services: Pick<Services, 'apps' | 'appIndex' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const name = request.params.app ?? '';
      // Registration needs the admin key; who did it is recorded when the caller identifies.
      const who = services.identities.identify(request);
      const body = await readJsonBody(request, appRegistrationBody);
      if (body.name !== undefined && body.name !== name) throw new HttpProblem(400, `body names app ${JSON.stringify(body.name)} but the URL names ${JSON.stringify(name)}`);
      const { name: _ignored, ...changes } = body;
      const saved = await registerApp(services, { name, changes, ...(who ? { by: who.id } : {}), ...(ifMatch(request) ? { ifMatch: ifMatch(request) } : {}) });
      if (saved.created) return { status: 201, headers: { ...etagHeaders(saved.etag), location: new URL(request.url).pathname }, jsonBody: saved.value };
      return { status: 200, headers: etagHeaders(saved.etag), jsonBody: saved.value };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** GET /api/apps/{app}: the app with its environments, each with what the caller `may` do there. */
export function getApp(services: Pick<Services, 'apps' | 'ledger' | 'runs' | 'targets' | 'controls' | 'syncStates' | 'identities'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const who = services.identities.identify(request);
      const found = await services.apps.get(request.params.app ?? '');
      const view = await appView(services, found.value);
      const may = await callerRights(services, found.value, view.environments.map((e) => e.name), who);
      return { status: 200, headers: etagHeaders(found.etag), jsonBody: { ...view, environments: view.environments.map((e) => ({ ...e, may: may[e.name] })) } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** DELETE /api/apps/{app}: removes the registration (the ledger and runs are kept). */
export function deleteApp(services: Pick<Services, 'apps' | 'appIndex'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      await removeApp(services, request.params.app ?? '', ifMatch(request));
      return { status: 204 };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}

/** GET /api/apps. */
export function listApps(services: Pick<Services, 'apps' | 'ledger' | 'runs' | 'targets' | 'controls' | 'syncStates'>) {
  return async (_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const apps = await services.apps.list();
      return { status: 200, jsonBody: { apps: await Promise.all(apps.map((app) => appView(services, app))) } };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
