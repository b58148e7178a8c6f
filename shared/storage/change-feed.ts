/**
 * A store's way of telling derived read models (the per-app matrix snapshot,
 * shared/use-cases/matrix-snapshot.ts) that something about an app is about to change.
 *
 * Why "about to" and not "has": a writer that dies between writing its record and updating a
 * read model would leave the read model silently stale. So a store announces the change BEFORE
 * it writes (`changing`, which leaves a durable marker the read model's readers can see), and
 * calls `done()` after the write, success or not (which refreshes the read model and clears the
 * marker). While a marker exists, readers do not trust the read model for that app.
 */

/** The handle of one announced change. */
export interface ChangeTicket {
  /** The write is over (whether it succeeded or not): refresh what depends on it. Never throws. */
  done(): void;
}

/** Receives announcements of changes to an app's records. */
export interface ChangeFeed {
  /** Announces a change to `app`'s records; resolves once the announcement is durable. */
  changing(app: string): Promise<ChangeTicket>;
}

/**
 * Runs `write` between an announcement on `feed` (when there is one) and its `done()`. The
 * announcement failing fails the write: an unannounced change could go unseen by the readers.
 */
export async function announced<T>(feed: ChangeFeed | undefined, app: string, write: () => Promise<T>): Promise<T> {
  if (!feed) return write();
  const ticket = await feed.changing(app);
  try {
    return await write();
  } finally {
    ticket.done();
  }
}
