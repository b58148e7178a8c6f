/**
 * Parsed histories of running instances, kept between episodes so an episode does not re-read
 * and re-parse the whole history (docs/durable.md, "How an episode runs").
 */
import type { DurableStore, InstanceRow } from './store.js';
import { EventType, TERMINAL, type HistoryEvent } from './types.js';

/** Parsed histories kept in memory; beyond this, least recently loaded ones are re-read on demand. */
const MAX_CACHED_INSTANCES = 5000;

/**
 * Event types the library's replay reads; the rest (the "scheduled" events,
 * OrchestratorCompleted, ...) only matter to status and history output.
 */
export const REPLAYED = new Set<number>([
  EventType.OrchestratorStarted, EventType.ExecutionStarted, EventType.TaskCompleted, EventType.TaskFailed,
  EventType.SubOrchestrationInstanceCompleted, EventType.SubOrchestrationInstanceFailed, EventType.TimerFired,
  EventType.EventRaised, EventType.EventSent, EventType.ContinueAsNew,
]);

export interface CachedInstance {
  row: InstanceRow;
  /** Number of stored history events of the current execution. */
  length: number;
  /**
   * The events the library actually reads during replay (see REPLAYED), already parsed. Reused
   * across episodes instead of re-parsing the whole history each time: the library's only
   * mutation (Timestamp string → Date) is idempotent, and it never reads the dropped types.
   */
  replay: HistoryEvent[];
}

export class InstanceCache {
  private readonly entries = new Map<string, CachedInstance>();

  constructor(
    private readonly store: DurableStore,
    /** An instance mid-episode keeps its entry when the cache is trimmed. */
    private readonly isRunning: (id: string) => boolean,
  ) {}

  /** The instance with its replayable history, from the cache or the database. */
  load(id: string): CachedInstance | undefined {
    const hit = this.entries.get(id);
    if (hit) return hit;
    const row = this.store.getInstance(id);
    if (!row) return undefined;
    const texts = this.store.historyTexts(id);
    const replay: HistoryEvent[] = [];
    for (const t of texts) {
      const e = JSON.parse(t) as HistoryEvent;
      if (REPLAYED.has(e.EventType)) replay.push(e);
    }
    const entry: CachedInstance = { row, length: texts.length, replay };
    if (!TERMINAL.has(row.status)) {
      this.entries.set(id, entry);
      if (this.entries.size > MAX_CACHED_INSTANCES) {
        // Oldest first (Map order); an instance mid-episode keeps its entry.
        for (const key of this.entries.keys()) {
          if (this.entries.size <= MAX_CACHED_INSTANCES * 0.9) break;
          if (!this.isRunning(key) && key !== id) this.entries.delete(key);
        }
      }
    }
    return entry;
  }

  delete(id: string): void {
    this.entries.delete(id);
  }

  /** After a rolled-back transaction: cached rows may hold changes that never committed. */
  clear(): void {
    this.entries.clear();
  }
}
