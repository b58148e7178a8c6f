/**
 * `startImageBuild` and `readImageBuild`: the run's image built by the registry (`build.image`).
 * The first uploads the source at the commit and schedules the build; the second reads it once,
 * appending the registry's log to the run's `image` log. The orchestrator waits between reads
 * on durable timers.
 */
import type { ActivityInput, ActivityOutput } from '../../shared/contracts/activities.js';
import { logBlobName } from '../../shared/domain/ids.js';
import { BlobLogSink } from '../../shared/executor/index.js';
import type { Services } from '../composition-root.js';
import { reportingVerdicts } from './expected-failure.js';

/** What the image build activities use. */
export type ImageBuildServices = Pick<Services, 'images' | 'logs' | 'secrets'>;

/** The step name of the image build's log (`GET /api/runs/{runId}/logs/image`). */
export const IMAGE_LOG_STEP = 'image';

/** The `startImageBuild` activity, given its collaborators. */
export function startImageBuild(s: ImageBuildServices) {
  return async (input: ActivityInput<'startImageBuild'>): Promise<ActivityOutput<'startImageBuild'>> =>
    reportingVerdicts(async () => {
      const { subject, image } = input;
      const logName = logBlobName(subject.app, subject.runId, IMAGE_LOG_STEP);
      const started = await s.images.start(subject.repoUrl, subject.commit, image);
      const sink = await BlobLogSink.open(s.logs, logName);
      sink.write(`image build of ${image.registry}/${started.imageName} scheduled as ACR run ${started.runId}\n`);
      await sink.close();
      return { ok: true as const, buildRunId: started.runId, imageName: started.imageName, logName };
    });
}

/** The `readImageBuild` activity, given its collaborators. */
export function readImageBuild(s: ImageBuildServices) {
  return async (input: ActivityInput<'readImageBuild'>): Promise<ActivityOutput<'readImageBuild'>> => {
    const { subject, image } = input;
    try {
      const r = await s.images.read(image, input.buildRunId, subject.commit, input.logOffset);
      if (r.log || r.state !== 'running') {
        const sink = await BlobLogSink.open(s.logs, logBlobName(subject.app, subject.runId, IMAGE_LOG_STEP));
        sink.write(s.secrets.redact(r.log));
        if (r.state !== 'running') sink.write(`${r.message}\n`);
        await sink.close();
      }
      return { state: r.state, message: r.message, logOffset: r.logOffset, ...(r.digest ? { digest: r.digest } : {}) };
    } catch (err) {
      const verdict = await reportingVerdicts(() => Promise.reject(err));
      return { state: 'failed', message: [verdict.reason, ...(verdict.details ?? [])].join('\n'), logOffset: input.logOffset };
    }
  };
}
