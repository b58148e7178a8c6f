/**
 * Events of the per-environment controls: freezes, unfreezes and quarantined digests
 * (docs/events.md). {@link PublishingEnvironmentControls} records them whenever the controls
 * change — from the freeze API, a rollback's `freezeAfterRollback` activity, or whichever use-case
 * calls the controls — so no caller can change a control without its event; the gate activity
 * records `quarantine.enforced` when a quarantine refuses a deployment.
 *
 * Ids are stable per change (an environment frozen at a time, a digest quarantined in an
 * environment, a refusal of one gate check), so a retried activity publishes nothing new.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { Freeze } from '../domain/windows.js';
import type { Actor } from '../domain/run.js';
import { EnvironmentControls, type Quarantine } from '../environments/freeze-store.js';
import type { ChangeFeed } from '../storage/change-feed.js';
import { buildEvent, type CloudEvent } from './cloud-event.js';

/** Where events of one change go (the event bus's `record`). */
export interface EventRecorder {
  record(events: readonly CloudEvent[]): Promise<void>;
}

const source = (app: string, env: string) => `/apps/${app}/environments/${env}`;

/** `dev.conveyor.environment.frozen` / `unfrozen`. */
export function freezeEvent(action: 'frozen' | 'unfrozen', app: string, env: string, freeze: Freeze, lifted?: { by: Actor; at: string; reason: string }): CloudEvent {
  const at = lifted?.at ?? freeze.at;
  return buildEvent(`dev.conveyor.environment.${action}`, {
    source: source(app, env),
    subject: `freeze/${at}`,
    time: at,
    change: `${action}:${freeze.at}:${at}`,
    data: lifted
      ? { app, environment: env, kind: freeze.kind, by: lifted.by, at: lifted.at, reason: lifted.reason, frozenBy: freeze.by }
      : { app, environment: env, kind: freeze.kind, by: freeze.by, at: freeze.at, reason: freeze.reason },
  });
}

/** `dev.conveyor.quarantine.added` / `enforced` (`refusal` names the refused deployment and its check, for a stable id). */
export function quarantineEvent(app: string, env: string, q: Quarantine, refusal?: { kind: 'promotion' | 'rollback' | 'heal'; check: string; at: string }): CloudEvent {
  return buildEvent(refusal ? 'dev.conveyor.quarantine.enforced' : 'dev.conveyor.quarantine.added', {
    source: source(app, env),
    subject: `quarantine/${q.digest}`,
    time: refusal?.at ?? q.at,
    change: refusal ? `enforced:${refusal.kind}:${refusal.check}` : 'added',
    data: { app, environment: env, digest: q.digest, revision: q.revision, commit: q.commit, by: q.by, at: q.at, reason: q.reason, ...(refusal ? { refused: refusal.kind } : {}) },
  });
}

/** The environment controls, recording an event for every change they make. */
export class PublishingEnvironmentControls extends EnvironmentControls {
  constructor(
    container: ContainerClient,
    changes: ChangeFeed | undefined,
    private readonly events: EventRecorder,
  ) {
    super(container, changes);
  }

  /** Freezes (see {@link EnvironmentControls.setFreeze}); a new freeze is published, an existing one is not again. */
  override async setFreeze(app: string, env: string, freeze: Freeze): Promise<{ freeze: Freeze; already: boolean }> {
    const result = await super.setFreeze(app, env, freeze);
    if (!result.already) await this.events.record([freezeEvent('frozen', app, env, result.freeze)]);
    return result;
  }

  /** Lifts the freeze (see {@link EnvironmentControls.unfreeze}) and publishes it. */
  override async unfreeze(app: string, env: string, by: Actor, reason: string, at: string): Promise<Freeze | undefined> {
    const lifted = await super.unfreeze(app, env, by, reason, at);
    if (lifted) await this.events.record([freezeEvent('unfrozen', app, env, lifted, { by, at, reason })]);
    return lifted;
  }

  /** Quarantines a digest and publishes the record that stands (the first one: the id is the same on a repeat). */
  override async quarantine(app: string, env: string, q: Quarantine): Promise<void> {
    await super.quarantine(app, env, q);
    const stored = (await this.quarantined(app, env, q.digest)) ?? q;
    await this.events.record([quarantineEvent(app, env, stored)]);
  }
}
