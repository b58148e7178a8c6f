/**
 * Images built by Azure Container Registry (ACR Tasks) from a run's source, through
 * `@azure/arm-containerregistry` 10 (installed as `@azure/arm-containerregistry-tasks`: the
 * current major version dropped the Tasks operations).
 *
 * {@link AcrImageBuilder.start}: the build context (the repository at the commit, or a folder of
 * it, as `git archive` makes it from the git cache's mirror) is uploaded to the blob SAS URL the
 * registry hands out (`listBuildSourceUploadUrl`), then a `DockerBuildRequest` is scheduled
 * (`scheduleRun`, a long-running operation that ends once the run is queued) for
 * `<repository>:<commit>` with push enabled. {@link AcrImageBuilder.read} reads the run once
 * (`runs.get`): the orchestrator polls it with durable timers, nothing here waits for the build.
 * It also appends what the run's log (`listLogSasUrl`, a blob SAS link) gained since the last
 * read to the caller's log, and on success returns the digest of the pushed image from the run's
 * `outputImages`.
 *
 * Faults: 401/403/404 from ARM are verdicts naming the registry and the role to grant; ARM 429
 * and 5xx are retried by the SDK pipeline, and what still fails is thrown (transient: the
 * activity's retry policy, then Errored).
 */
import { ContainerRegistryManagementClient, type ContainerRegistryManagementClientOptionalParams, type DockerBuildRequest, type Run } from '@azure/arm-containerregistry-tasks';
import type { TokenCredential } from '@azure/core-auth';
import { BlobClient, BlockBlobClient } from '@azure/storage-blob';
import type { AcrImageBuildSpec } from '../../domain/pipeline.js';
import { ValidationError } from '../../errors.js';
import { isImageDigest } from './manifests.js';

/** Where a registry run stands after one read. */
export interface ImageBuildRead {
  state: 'running' | 'succeeded' | 'failed';
  /** The registry's status word (Queued, Started, Running, Succeeded, Failed, Canceled, Error, Timeout). */
  status: string;
  message: string;
  /** `sha256:…` of the pushed image (succeeded only). */
  digest?: string;
  /** `<login server>/<repository>` of the pushed image (succeeded only). */
  image?: string;
  /** New text of the run's log since `logOffset`. */
  log: string;
  /** Bytes of the run's log read so far (pass back on the next read). */
  logOffset: number;
}

/** Collaborators of {@link AcrImageBuilder}. */
export interface AcrImageBuilderOptions {
  /** Conveyor's identity (managed identity in Azure); needs Container Registry Tasks Contributor on the registry (docs/kubernetes.md). */
  credential: TokenCredential;
  /** The build context at a commit: a gzipped tar of the repository (or a folder of it). */
  source: (repoUrl: string, commit: string, folder: string) => Promise<Buffer>;
  /** ARM client options: endpoint (sovereign clouds, Azure Stack, tests), TLS, retry. */
  clientOptions?: ContainerRegistryManagementClientOptionalParams;
  /** Poll interval of the scheduleRun long-running operation (default: what the service asks, else 2 s). */
  lroPollMs?: number;
}

interface RestErrorLike {
  statusCode?: number;
  code?: string;
  message: string;
}

/** Builds images with ACR Tasks. */
export class AcrImageBuilder {
  private readonly clients = new Map<string, ContainerRegistryManagementClient>();

  constructor(private readonly options: AcrImageBuilderOptions) {}

  private client(subscription: string): ContainerRegistryManagementClient {
    let c = this.clients.get(subscription);
    if (!c) {
      c = new ContainerRegistryManagementClient(this.options.credential, subscription, this.options.clientOptions);
      this.clients.set(subscription, c);
    }
    return c;
  }

  /** Uploads the source at `commit` and schedules its build; returns the registry's run id. */
  async start(repoUrl: string, commit: string, spec: AcrImageBuildSpec): Promise<{ runId: string; imageName: string }> {
    const client = this.client(spec.subscription);
    const source = await this.options.source(repoUrl, commit, spec.context);
    const upload = await this.arm(spec, 'get a source upload URL', () => client.registries.getBuildSourceUploadUrl(spec.resourceGroup, spec.registry));
    if (!upload.uploadUrl || !upload.relativePath) throw new Error(`registry ${spec.registry} returned no source upload URL`);
    await new BlockBlobClient(upload.uploadUrl).uploadData(source, { blobHTTPHeaders: { blobContentType: 'application/gzip' } });
    const imageName = `${spec.repository}:${commit}`;
    const request: DockerBuildRequest = {
      type: 'DockerBuildRequest',
      imageNames: [imageName],
      isPushEnabled: true,
      noCache: false,
      dockerFilePath: spec.dockerfile,
      sourceLocation: upload.relativePath,
      platform: { os: 'Linux', architecture: 'amd64' },
      timeout: Math.max(300, Math.ceil(spec.timeoutMs / 1000)),
      isArchiveEnabled: false,
    };
    const run = await this.arm(spec, 'schedule a run', () =>
      client.registries.beginScheduleRunAndWait(spec.resourceGroup, spec.registry, request, this.options.lroPollMs !== undefined ? { updateIntervalInMs: this.options.lroPollMs } : {}),
    );
    if (!run.runId) throw new Error(`registry ${spec.registry} scheduled a run without a run id`);
    return { runId: run.runId, imageName };
  }

  /** Reads the run once (and the log it wrote since `logOffset`). */
  async read(spec: AcrImageBuildSpec, runId: string, commit: string, logOffset = 0): Promise<ImageBuildRead> {
    const client = this.client(spec.subscription);
    const run: Run = await this.arm(spec, `read run ${runId}`, () => client.runs.get(spec.resourceGroup, spec.registry, runId));
    const status = String(run.status ?? 'Queued');
    const done = ['Succeeded', 'Failed', 'Canceled', 'Error', 'Timeout'].includes(status);
    const log = await this.log(spec, runId, logOffset);
    const base = { status, log: log.text, logOffset: logOffset + log.bytes };
    if (!done) return { ...base, state: 'running', message: `ACR run ${runId} is ${status}` };
    if (status !== 'Succeeded') return { ...base, state: 'failed', message: `the image build (ACR run ${runId}) ended ${status}` };
    const out = (run.outputImages ?? []).find((i) => i.repository === spec.repository && i.tag === commit) ?? (run.outputImages ?? []).find((i) => i.repository === spec.repository);
    if (!out?.digest || !isImageDigest(out.digest)) {
      return { ...base, state: 'failed', message: `the image build (ACR run ${runId}) succeeded but reported no digest for ${spec.repository}:${commit}` };
    }
    return { ...base, state: 'succeeded', message: `built ${out.registry ?? spec.registry}/${spec.repository}@${out.digest} (ACR run ${runId})`, digest: out.digest, image: `${out.registry ?? `${spec.registry}.azurecr.io`}/${spec.repository}` };
  }

  /** The run's log from `offset` (nothing when the registry has none yet). */
  private async log(spec: AcrImageBuildSpec, runId: string, offset: number): Promise<{ text: string; bytes: number }> {
    const client = this.client(spec.subscription);
    const link = await this.arm(spec, `get the log of run ${runId}`, () => client.runs.getLogSasUrl(spec.resourceGroup, spec.registry, runId)).catch(() => undefined);
    if (!link?.logLink) return { text: '', bytes: 0 };
    const blob = new BlobClient(link.logLink);
    try {
      const buf = await blob.downloadToBuffer(offset);
      return { text: buf.toString('utf8'), bytes: buf.length };
    } catch (err) {
      // 416: nothing past `offset` yet; 404: no log written yet.
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 416 || code === 404) return { text: '', bytes: 0 };
      throw err;
    }
  }

  private async arm<T>(spec: AcrImageBuildSpec, action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as RestErrorLike;
      const where = `container registry ${spec.registry} (resource group ${spec.resourceGroup}, subscription ${spec.subscription})`;
      if (e.statusCode === 404) throw new ValidationError(`${where} was not found`, [{ path: 'build.image.registry', message: `${action}: ${e.code ?? 'NotFound'}` }]);
      if (e.statusCode === 401 || e.statusCode === 403) {
        throw new ValidationError(`Conveyor's identity may not ${action} of ${where} (${e.code ?? e.statusCode}); grant it "Container Registry Tasks Contributor" on the registry (it has scheduleRun/action, listBuildSourceUploadUrl/action, runs/read and runs/listLogSasUrl/action)`, [
          { path: 'build.image.registry', message: e.message.split('\n')[0] ?? 'forbidden' },
        ]);
      }
      if (e.statusCode === 400) throw new ValidationError(`${where} refused to ${action}: ${e.message.split('\n')[0] ?? ''}`, [{ path: 'build.image', message: e.code ?? 'BadRequest' }]);
      throw err;
    }
  }
}
