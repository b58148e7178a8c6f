/**
 * A decision of environment policy, as recorded on the loaded pipeline spec and on the run. Its
 * own module because both the pipeline spec (shared/domain/pipeline.ts) and the policy rules
 * that read the spec (shared/domain/policy.ts) use it: kept in either, the two would import
 * each other.
 */

/** One rule that applied to an environment of a run, and why (recorded in the run). */
export interface PolicyDecision {
  /** Stable id of the rule, e.g. `approval.required-by-policy`. */
  rule: string;
  /** What it did, in words. */
  why: string;
}
