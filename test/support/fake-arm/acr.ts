// The Azure Container Registry Tasks calls of the fake ARM endpoint, as the ACR REST API
// (Microsoft.ContainerRegistry, api-version 2019-06-01-preview) documents them and
// `@azure/arm-containerregistry` 10 sends them:
//
// - POST …/registries/{r}/listBuildSourceUploadUrl -> { uploadUrl, relativePath }: a blob SAS URL
//   (read/write, for exactly that blob) in a real Azurite container the test hands over;
// - POST …/registries/{r}/scheduleRun with a DockerBuildRequest -> a long-running operation: 202
//   with a Location header; polling it answers 202 once more, then 200 with the Run (Queued).
//   The request is checked (type, imageNames, isPushEnabled, dockerFilePath, platform.os, and a
//   sourceLocation this fake issued and the client uploaded to); the uploaded context must be a
//   gzipped tar that holds the Dockerfile, else the run fails the way ACR reports it;
// - GET …/registries/{r}/runs/{runId} -> the Run; each read moves it one status on (Queued ->
//   Started -> Running … -> Succeeded or Failed, per the test's plan), and a succeeded run lists
//   its `outputImages` with the pushed image's digest;
// - POST …/runs/{runId}/listLogSasUrl -> { logLink }: a read SAS URL of the run's log blob, which
//   grows with each status change.
//
// The "image" is not built: its digest is sha256 over the image name and the uploaded context,
// so the same commit gives the same digest and another commit another one.
import { createHash, randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { BlobSASPermissions, type ContainerClient } from '@azure/storage-blob';

/** The API versions whose Registries_ScheduleRun / Runs_Get shapes this fake serves. */
export const ACR_TASKS_API_VERSIONS = ['2019-06-01-preview', '2019-04-01', '2018-09-01'];

/** A registry the fake knows. */
export interface FakeRegistry {
  subscription: string;
  resourceGroup: string;
  name: string;
  /** Default `<name>.azurecr.io`. */
  loginServer?: string;
  /** Where uploaded sources and run logs live (an Azurite container). */
  storage: ContainerClient;
}

/** How a scheduled build goes (chosen per test). */
export interface RunPlan {
  outcome: 'succeeded' | 'failed';
  /** Reads of the run in Running before it ends (default 2). */
  runningReads?: number;
}

/** A run the fake scheduled. */
export interface FakeRun {
  runId: string;
  registry: FakeRegistry;
  request: Record<string, unknown>;
  status: 'Queued' | 'Started' | 'Running' | 'Succeeded' | 'Failed';
  reads: number;
  plan: RunPlan;
  /** Why it fails (a missing Dockerfile, the plan). */
  failure?: string;
  digest?: string;
  image?: { repository: string; tag: string };
  log: string[];
  createTime: string;
  startTime?: string;
  finishTime?: string;
}

type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;

/** The ACR part of the fake ARM. */
export class FakeAcr {
  readonly registries: FakeRegistry[] = [];
  readonly runs = new Map<string, FakeRun>();
  /** Problems with what clients sent (wrong shapes); a test asserts it stays empty. */
  readonly violations: string[] = [];
  /** Upload blobs issued, by relative path. */
  private readonly uploads = new Map<string, FakeRegistry>();
  private readonly operations = new Map<string, { runId: string; polls: number }>();
  /** Chooses how each run goes (default: succeeds). */
  plan: (request: Record<string, unknown>) => RunPlan = () => ({ outcome: 'succeeded' });

  constructor(private readonly baseUrl: () => string) {}

  /** Images pushed: `<login server>/<repository>:<tag>` -> digest. */
  pushed(): Map<string, string> {
    const out = new Map<string, string>();
    for (const r of this.runs.values()) if (r.status === 'Succeeded' && r.digest && r.image) out.set(`${loginServer(r.registry)}/${r.image.repository}:${r.image.tag}`, r.digest);
    return out;
  }

  /** Serves `…/providers/Microsoft.ContainerRegistry/registries/{name}/{rest}`; false when the path is not ACR's. */
  async handle(method: string, url: URL, body: string, apiVersion: string, reply: Reply): Promise<boolean> {
    const m = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ContainerRegistry\/registries\/([^/]+)(?:\/(.*))?$/i.exec(url.pathname);
    if (!m) return false;
    const [, sub, rg, name, rest = ''] = m as unknown as [string, string, string, string, string | undefined];
    if (!ACR_TASKS_API_VERSIONS.includes(apiVersion)) {
      reply(400, { error: { code: 'NoRegisteredProviderFound', message: `No registered resource provider found for location 'westeurope' and API version '${apiVersion}' for type 'registries'.` } });
      return true;
    }
    const reg = this.registries.find((r) => r.subscription === sub && r.resourceGroup.toLowerCase() === rg.toLowerCase() && r.name.toLowerCase() === name.toLowerCase());
    if (!reg) {
      reply(404, { error: { code: 'ResourceNotFound', message: `The Resource 'Microsoft.ContainerRegistry/registries/${name}' under resource group '${rg}' was not found.` } });
      return true;
    }
    const id = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerRegistry/registries/${reg.name}`;
    if (method === 'POST' && rest === 'listBuildSourceUploadUrl') {
      const relativePath = `source/${new Date().toISOString().slice(0, 10).replace(/-/g, '')}0000/${randomUUID()}.tar.gz`;
      this.uploads.set(relativePath, reg);
      await reg.storage.createIfNotExists();
      const uploadUrl = await reg.storage.getBlockBlobClient(relativePath).generateSasUrl({ permissions: BlobSASPermissions.parse('rw'), expiresOn: new Date(Date.now() + 3_600_000) });
      reply(200, { uploadUrl, relativePath });
      return true;
    }
    if (method === 'POST' && rest === 'scheduleRun') {
      const request = JSON.parse(body || '{}') as Record<string, unknown>;
      const problems = this.checkRequest(request);
      if (problems.length > 0) {
        this.violations.push(...problems);
        reply(400, { error: { code: 'InvalidRequestBody', message: problems.join('; ') } });
        return true;
      }
      const run = await this.schedule(reg, request);
      const op = randomUUID();
      this.operations.set(op, { runId: run.runId, polls: 0 });
      reply(202, undefined, { location: `${this.baseUrl()}${id}/operationResults/${op}?api-version=${apiVersion}`, 'retry-after': '0' });
      return true;
    }
    const opMatch = /^operationResults\/([^/]+)$/.exec(rest);
    if (method === 'GET' && opMatch) {
      const op = this.operations.get(opMatch[1]!);
      if (!op) {
        reply(404, { error: { code: 'NotFound', message: 'no such operation' } });
        return true;
      }
      op.polls += 1;
      if (op.polls < 2) reply(202, undefined, { location: `${this.baseUrl()}${url.pathname}${url.search}`, 'retry-after': '0' });
      else reply(200, this.runBody(this.runs.get(op.runId)!, id));
      return true;
    }
    const runMatch = /^runs\/([^/]+)(?:\/(listLogSasUrl))?$/.exec(rest);
    if (runMatch) {
      const run = this.runs.get(runMatch[1]!);
      if (!run || run.registry !== reg) {
        reply(404, { error: { code: 'ResourceNotFound', message: `run ${runMatch[1]} not found` } });
        return true;
      }
      if (method === 'GET' && !runMatch[2]) {
        await this.advance(run);
        reply(200, this.runBody(run, id));
        return true;
      }
      if (method === 'POST' && runMatch[2] === 'listLogSasUrl') {
        const logLink = await reg.storage.getBlockBlobClient(logPath(run.runId)).generateSasUrl({ permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 3_600_000) });
        reply(200, { logLink });
        return true;
      }
    }
    reply(405, { error: { code: 'MethodNotAllowed', message: `${method} ${rest}` } });
    return true;
  }

  private checkRequest(r: Record<string, unknown>): string[] {
    const out: string[] = [];
    if (r['type'] !== 'DockerBuildRequest' && r['type'] !== 'EncodedTaskRunRequest') out.push(`type must be DockerBuildRequest or EncodedTaskRunRequest, not ${String(r['type'])}`);
    if (r['type'] === 'DockerBuildRequest') {
      if (typeof r['dockerFilePath'] !== 'string' || r['dockerFilePath'] === '') out.push('dockerFilePath is required');
      const names = r['imageNames'];
      if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string' && /^[a-z0-9._/-]+:[\w.-]{1,128}$/.test(n))) out.push('imageNames must be repository:tag names');
      if (r['isPushEnabled'] !== true) out.push('isPushEnabled must be true for a pushed image');
    }
    const platform = r['platform'] as { os?: unknown } | undefined;
    if (!platform || (platform.os !== 'Linux' && platform.os !== 'Windows')) out.push('platform.os is required (Linux or Windows)');
    if (typeof r['sourceLocation'] !== 'string' || !this.uploads.has(r['sourceLocation'])) out.push(`sourceLocation must be the relativePath of a listBuildSourceUploadUrl answer (got ${String(r['sourceLocation'])})`);
    if (r['timeout'] !== undefined && (typeof r['timeout'] !== 'number' || r['timeout'] < 300 || r['timeout'] > 28800)) out.push('timeout must be 300-28800 seconds');
    return out;
  }

  private async schedule(reg: FakeRegistry, request: Record<string, unknown>): Promise<FakeRun> {
    const runId = `ca${(this.runs.size + 1).toString(36)}`;
    const run: FakeRun = { runId, registry: reg, request, status: 'Queued', reads: 0, plan: this.plan(request), log: [], createTime: new Date().toISOString() };
    this.runs.set(runId, run);
    const source = reg.storage.getBlockBlobClient(String(request['sourceLocation']));
    let files: string[] = [];
    let bytes: Buffer = Buffer.alloc(0);
    try {
      bytes = await source.downloadToBuffer();
      files = tarEntries(gunzipSync(bytes));
    } catch (err) {
      run.failure = `unable to read the uploaded source: ${(err as Error).message}`;
    }
    const dockerfile = String(request['dockerFilePath'] ?? '');
    if (!run.failure && !files.includes(dockerfile)) run.failure = `unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat /workspace/${dockerfile}: no such file or directory`;
    if (!run.failure && run.plan.outcome === 'failed') run.failure = 'RUN ./build.sh: executor failed running [/bin/sh -c ./build.sh]: exit code: 1';
    const [repository, tag] = String((request['imageNames'] as string[] | undefined)?.[0] ?? 'image:latest').split(':') as [string, string];
    run.image = { repository, tag };
    run.digest = `sha256:${createHash('sha256').update(`${loginServer(reg)}/${repository}\n`).update(bytes).digest('hex')}`;
    await this.writeLog(run, `Queued a build for ${loginServer(reg)}/${repository}:${tag} (${files.length} files in the context)`);
    return run;
  }

  private async advance(run: FakeRun): Promise<void> {
    run.reads += 1;
    if (run.status === 'Queued') {
      run.status = 'Started';
      run.startTime = new Date().toISOString();
      await this.writeLog(run, `Step 1/2 : FROM ${String(run.request['dockerFilePath'])} base`);
    } else if (run.status === 'Started') {
      run.status = 'Running';
      await this.writeLog(run, 'Step 2/2 : RUN ./build.sh');
    } else if (run.status === 'Running') {
      const running = run.reads - 2;
      if (running < (run.plan.runningReads ?? 2)) return;
      run.finishTime = new Date().toISOString();
      if (run.failure) {
        run.status = 'Failed';
        await this.writeLog(run, `error: ${run.failure}`);
      } else {
        run.status = 'Succeeded';
        await this.writeLog(run, `pushed ${loginServer(run.registry)}/${run.image!.repository}:${run.image!.tag} digest: ${run.digest}`);
      }
    }
  }

  private async writeLog(run: FakeRun, line: string): Promise<void> {
    run.log.push(`${new Date().toISOString()} ${line}`);
    const text = `${run.log.join('\n')}\n`;
    await run.registry.storage.getBlockBlobClient(logPath(run.runId)).upload(text, Buffer.byteLength(text), { blobHTTPHeaders: { blobContentType: 'text/plain' } });
  }

  private runBody(run: FakeRun, registryId: string): object {
    return {
      id: `${registryId}/runs/${run.runId}`,
      name: run.runId,
      type: 'Microsoft.ContainerRegistry/registries/runs',
      properties: {
        provisioningState: 'Succeeded',
        runId: run.runId,
        status: run.status,
        runType: 'QuickRun',
        lastUpdatedTime: new Date().toISOString(),
        createTime: run.createTime,
        ...(run.startTime ? { startTime: run.startTime } : {}),
        ...(run.finishTime ? { finishTime: run.finishTime } : {}),
        platform: run.request['platform'],
        ...(run.status === 'Succeeded' ? { outputImages: [{ registry: loginServer(run.registry), repository: run.image!.repository, tag: run.image!.tag, digest: run.digest }] } : {}),
      },
    };
  }
}

function loginServer(r: FakeRegistry): string {
  return r.loginServer ?? `${r.name.toLowerCase()}.azurecr.io`;
}

function logPath(runId: string): string {
  return `logs/${runId}/rawtext.log`;
}

/** Entry names of an (uncompressed) tar, `./` stripped, pax `path` records honoured. */
function tarEntries(tar: Buffer): string[] {
  const names: string[] = [];
  let paxPath: string | undefined;
  for (let off = 0; off + 512 <= tar.length; ) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, len: number) => header.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = field(156, 1);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === 'x') paxPath = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
    else if (type !== 'g') {
      const prefix = field(345, 155);
      const name = paxPath ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
      paxPath = undefined;
      if (type === '0' || type === '' || type === '\0') names.push(name.replace(/^\.\//, ''));
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}
