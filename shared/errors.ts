/**
 * The few named error classes Conveyor uses. Each carries a `cause` where there is one, and a
 * stable `code` so HTTP adapters can map them to RFC 9457 problem types without string matching.
 */

/** Base class: a known failure with a stable code. */
export class ConveyorError extends Error {
  /** Stable machine-readable code, e.g. `validation`, `not-found`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem found while validating input (a field path, a message, and where in a file). */
export interface ValidationIssue {
  /** Dotted path of the field, e.g. `environments[1].target.port`. */
  path: string;
  message: string;
  /** 1-based line and column in the source file, when the input came from one. */
  line?: number;
  column?: number;
}

/** Input was rejected; `issues` lists every problem found, not only the first. */
export class ValidationError extends ConveyorError {
  readonly issues: readonly ValidationIssue[];
  constructor(message: string, issues: readonly ValidationIssue[], options?: { cause?: unknown }) {
    super('validation', message, options);
    this.issues = issues;
  }
}

/** Something named does not exist (an app, a commit, a revision, a blob). */
export class NotFoundError extends ConveyorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('not-found', message, options);
  }
}

/** A write lost a race or the target is in a state that forbids it (ETag mismatch, already exists). */
export class ConflictError extends ConveyorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
  }
}

/** Stored content could not be understood (foreign or corrupt blob, wrong schema version). */
export class CorruptDataError extends ConveyorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('corrupt-data', message, options);
  }
}

/** An external step (git, a command, a target) failed in a way worth reporting as data. */
export class ExternalFailureError extends ConveyorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('external-failure', message, options);
  }
}
