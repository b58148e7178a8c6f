/**
 * Time limits shared by host.json and the orchestrators (which cannot read host.json: they are
 * replayed and do no I/O). A test keeps `FUNCTION_TIMEOUT_MS` equal to host.json's
 * `functionTimeout`.
 *
 * Why the retry window: a transient fault (storage hiccup, a dropped connection) fails an
 * activity quickly, and a retry a few seconds later helps. An activity the host killed at
 * `functionTimeout` ran for the whole timeout; retrying it would only run into the same timeout
 * again, four more times. Durable retries stop once `retryTimeoutInMilliseconds` has passed since
 * the first attempt, so a window shorter than the function timeout retries fast faults and never
 * a timed-out attempt.
 */

/** host.json `functionTimeout` (Elastic Premium: any value; this one bounds a stuck activity). */
export const FUNCTION_TIMEOUT_MS = 2 * 60 * 60 * 1000;

/** Activity retries are only scheduled within this long after the first attempt started. */
export const ACTIVITY_RETRY_WINDOW_MS = 60 * 60 * 1000;
