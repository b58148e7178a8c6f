/**
 * The one closed status vocabulary used by runs, stages, environments and deployments
 * (docs/architecture.md principle 9).
 */
export const STATUSES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded', 'Skipped'] as const;

/** A run/stage/deployment status. `Failed` is a verdict; `Errored` a technical fault. */
export type Status = (typeof STATUSES)[number];

/** Statuses after which nothing more happens. */
export const TERMINAL_STATUSES: ReadonlySet<Status> = new Set(['Succeeded', 'Failed', 'Errored', 'Aborted', 'Superseded', 'Skipped']);

/** True when the status is final. */
export function isTerminal(status: Status): boolean {
  return TERMINAL_STATUSES.has(status);
}
