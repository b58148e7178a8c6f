/**
 * `GET /api/public-key?app=<app>`: the age recipient an app's secrets are sealed to. Each app has
 * its own recipient (derived from the installation's identity, shared/secrets/sealed-secrets.ts),
 * so a value sealed for one app opens for no other.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../composition-root.js';
import { errorToResponse, problem } from './problem.js';

/** The answer: the recipient and the command that seals with it. */
export interface PublicKeyView {
  app: string;
  /** age X25519 recipient (`age1...`). */
  recipient: string;
  /** How to seal a value for this app with the `age` CLI. */
  sealCommand: string;
}

/** The `getPublicKey` HTTP function, given its collaborators. */
export function getPublicKey(services: Pick<Services, 'apps' | 'sealed'>) {
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const app = request.query.get('app');
      if (!app) return problem(400, 'the app query parameter is required: every app has its own recipient (GET /api/public-key?app=<name>)');
      // 404 for an app that is not registered (AppRegistry.get throws NotFoundError).
      await services.apps.get(app);
      const recipient = await services.sealed.recipientFor(app);
      if (!recipient) return problem(404, 'this Conveyor has no sealed-secrets identity (set CONVEYOR_AGE_IDENTITY)');
      const view: PublicKeyView = { app, recipient, sealCommand: `age -r ${recipient} -a` };
      return { status: 200, jsonBody: view };
    } catch (err) {
      return errorToResponse(err, (m) => context.error(m));
    }
  };
}
