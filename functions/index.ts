/**
 * The one module that registers Conveyor's functions with the Functions host
 * (`package.json` main). Every trigger lives behind a thin adapter in functions/.
 */
import { app } from '@azure/functions';

app.http('health', {
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: async () => ({ status: 200, jsonBody: { status: 'ok', service: 'conveyor' } }),
});
