/**
 * The durable loop of an image build (`build.image`): schedule it once, then read its state once
 * per activity call with a durable timer between reads, until it succeeded (with the pushed
 * image's digest), failed, or passed its timeout. No sleeping inside activities.
 */
import type * as df from 'durable-functions';
import type { AcrImageBuildSpec } from '../shared/domain/pipeline.js';
import type { RunSubject } from '../shared/contracts/activities.js';
import { call } from './activity-call.js';

/** How the image build ended. */
export type ImageBuildOutcome = { ok: true; digest: string; message: string; logName: string; reads: number } | { ok: false; reason: string; logName?: string };

/** Builds the run's image and waits for it durably. */
export function* buildImage(context: df.OrchestrationContext, subject: RunSubject, image: AcrImageBuildSpec): Generator<df.Task, ImageBuildOutcome, unknown> {
  const started = yield* call(context, 'startImageBuild', { subject, image });
  if (!started.ok) return { ok: false, reason: [started.reason, ...(started.details ?? [])].join('\n') };
  const deadline = context.df.currentUtcDateTime.getTime() + image.timeoutMs;
  let logOffset = 0;
  for (let reads = 1; ; reads++) {
    const r = yield* call(context, 'readImageBuild', { subject, image, buildRunId: started.buildRunId, logOffset });
    logOffset = r.logOffset;
    if (r.state === 'succeeded' && r.digest) return { ok: true, digest: r.digest, message: r.message, logName: started.logName, reads };
    if (r.state !== 'running') return { ok: false, reason: r.message, logName: started.logName };
    const now = context.df.currentUtcDateTime.getTime();
    if (now >= deadline) return { ok: false, reason: `the image build did not finish within ${Math.round(image.timeoutMs / 1000)}s: ${r.message}`, logName: started.logName };
    yield context.df.createTimer(new Date(Math.min(deadline, now + image.pollMs)));
  }
}
