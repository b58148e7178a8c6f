/**
 * A store's way of telling derived read models (the per-app matrix snapshot,
 * shared/use-cases/matrix-snapshot.ts) that something about an app is about to change.
 *
 * Why "about to" and not "has": a writer that dies between writing its record and updating a
 * read model would leave the read model silently stale. So a store announces the change BEFORE
 * it writes (`changing`, which leaves a durable marker the read model's readers can see), and
 * calls `done()` after the write, success or not (which refreshes the read model and clears the
 * marker). While a marker exists, readers do not trust the read model for that app.
 *
 * The announcement only has to be durable before the write is sent, not before the reads that
 * precede it: {@link announce} starts it beside those reads (one round trip fewer on the path of
 * every read-modify-write), and the write waits for {@link PendingAnnouncement.ready}.
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

/** An announcement under way (see {@link announce}). */
export interface PendingAnnouncement {
  /** Resolves once the announcement is durable; the write must not be sent before. Rejects when it failed. */
  ready(): Promise<void>;
  /** The write is over, or will not happen: as {@link ChangeTicket.done}. Never throws. */
  done(): void;
}

const NOTHING_TO_ANNOUNCE: PendingAnnouncement = { ready: () => Promise.resolve(), done: () => undefined };

/**
 * Starts announcing a change to `app` on `feed` (when there is one) without waiting for it, so
 * the reads before a write overlap it. The caller awaits `ready()` before it writes and calls
 * `done()` exactly once afterwards (in a `finally`).
 */
export function announce(feed: ChangeFeed | undefined, app: string): PendingAnnouncement {
  if (!feed) return NOTHING_TO_ANNOUNCE;
  const ticket = feed.changing(app);
  // Observed by ready(); a caller that fails before ready() must not leave an unhandled rejection.
  ticket.catch(() => undefined);
  return {
    ready: async () => {
      await ticket;
    },
    done: () => {
      ticket.then(
        (t) => t.done(),
        () => undefined,
      );
    },
  };
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
