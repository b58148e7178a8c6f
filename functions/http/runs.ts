/** Run status URLs (the ids themselves are in shared/domain/ids.ts). */
import type { HttpRequest } from '@azure/functions';

/** Public status URL of a run, on the origin the request came in on. */
export function runStatusUrl(request: HttpRequest, runId: string): string {
  return `${new URL(request.url).origin}/api/runs/${encodeURIComponent(runId)}`;
}
