/**
 * Every id and name Conveyor builds or recognises, in one module: app and environment names,
 * run ids, promotion instance ids, rollback operation ids, the environment lock's entity key,
 * step log blob names and workspace folder names. Pure (no I/O, no clock, no randomness), so
 * orchestrators may use it too; callers pass in anything random (a UUID) themselves.
 *
 * The separators are safe because names are `[a-z0-9-]` only: a `.` never occurs inside an
 * app or environment name, so `<app>.<commit>` and `<run>.<environment>` split unambiguously.
 */

/** App and environment names: lowercase, start with a letter, at most 32 chars (URL-, blob-path- and folder-safe). */
export const NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;

/** The rule of {@link NAME_PATTERN} in words, for validation messages. */
export const NAME_RULE = 'must be 1-32 characters: lowercase letters, digits and "-", starting with a letter';

/** Whether `value` is a valid app or environment name. */
export function isName(value: string): boolean {
  return NAME_PATTERN.test(value);
}

/** Run ids: `<app>.<commit>` with the commit as lowercase hex (7 to 64 digits). */
export const RUN_ID_PATTERN = /^([a-z][a-z0-9-]{0,31})\.([0-9a-f]{7,64})$/;

/** The run (and pipeline instance) id of one app's commit: `<app>.<commit>`. A commit has one run per app. */
export function runIdFor(app: string, commit: string): string {
  return `${app}.${commit.toLowerCase()}`;
}

/** The app a run id belongs to, or undefined when the id is not of Conveyor's form. */
export function appOfRunId(runId: string): string | undefined {
  const m = RUN_ID_PATTERN.exec(runId);
  return m ? m[1] : undefined;
}

/**
 * What the run store accepts as a record's id (it becomes part of a blob name): letters,
 * digits and `._:@-`, at most 200 characters. Wider than {@link RUN_ID_PATTERN} on purpose: the
 * store is not the place that decides what a run id looks like, only what is safe to store.
 */
export const STORED_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$/;

/** Instance id of one environment's `promotion` sub-orchestration within a run: `<runId>.<environment>`. */
export function promotionInstanceId(runId: string, environment: string): string {
  return `${runId}.${environment}`;
}

/** Rollback operation ids: `rollback.<app>.<environment>.<uuid>`; also the rollback orchestration's instance id. */
export const OPERATION_ID_PATTERN = /^rollback\.[a-z][a-z0-9-]{0,31}\.[a-z][a-z0-9-]{0,31}\.[0-9a-f-]{36}$/;

/** The id of a requested rollback; `uuid` is supplied by the caller (a fresh random UUID). */
export function rollbackOperationId(app: string, environment: string, uuid: string): string {
  return `rollback.${app}.${environment}.${uuid}`;
}

/** Whether `id` has the form of a rollback operation id. */
export function isOperationId(id: string): boolean {
  return OPERATION_ID_PATTERN.test(id);
}

/** Instance id of a drift heal of one environment: `heal.<app>.<environment>.<revision>.<attempt>`; also its run id. */
export function healInstanceId(app: string, environment: string, revision: number, attempt: number): string {
  return `heal.${app}.${environment}.${revision}.${attempt}`;
}

/** Heal ids ({@link healInstanceId}). */
export const HEAL_ID_PATTERN = /^heal\.([a-z][a-z0-9-]{0,31})\.[a-z][a-z0-9-]{0,31}\.\d{1,9}\.\d{1,9}$/;

/** The app of a heal's id (a heal is recorded as a run under that id), or undefined when `id` is not one. */
export function appOfHealId(id: string): string | undefined {
  const m = HEAL_ID_PATTERN.exec(id);
  return m ? m[1] : undefined;
}

/** Entity name of the environment lock (one entity per app and environment). */
export const LOCK_ENTITY_NAME = 'environmentLock';

/** Entity key of an environment's lock: `<app>.<environment>`. */
export function lockEntityKey(app: string, environment: string): string {
  return `${app}.${environment}`;
}

/** Pipeline steps that write a log blob. */
export const LOGGED_STEPS = ['build', 'test', 'build-for-test', 'image'] as const;

/** A step that writes a log blob. */
export type LoggedStep = (typeof LOGGED_STEPS)[number];

/** Whether `step` names a step that writes a log blob. */
export function isLoggedStep(step: string): step is LoggedStep {
  return (LOGGED_STEPS as readonly string[]).includes(step);
}

/** Blob name (in the logs container) of one step's log within a run: `<app>/<runId>/<step>.log`. */
export function logBlobName(app: string, runId: string, step: string): string {
  return `${app}/${runId}/${step}.log`;
}

/** Folder name of a run's workspace: the run id with anything but `[A-Za-z0-9._-]` replaced (run ids are already safe). */
export function workspaceFolderName(runId: string): string {
  return runId.replace(/[^A-Za-z0-9._-]/g, '_');
}
