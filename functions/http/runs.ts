/** Run ids and their URLs. */
import type { HttpRequest } from '@azure/functions';

/** The run (and pipeline instance) id of one app's commit: `<app>.<commit>` (app names contain no dots). */
export function runIdFor(app: string, commit: string): string {
  return `${app}.${commit.toLowerCase()}`;
}

/** The app a run id belongs to, or undefined when the id is not of Conveyor's form. */
export function appOfRunId(runId: string): string | undefined {
  const m = /^([a-z][a-z0-9-]{0,31})\.([0-9a-f]{7,64})$/.exec(runId);
  return m ? m[1] : undefined;
}

/** Public status URL of a run, on the origin the request came in on. */
export function runStatusUrl(request: HttpRequest, runId: string): string {
  return `${new URL(request.url).origin}/api/runs/${encodeURIComponent(runId)}`;
}
