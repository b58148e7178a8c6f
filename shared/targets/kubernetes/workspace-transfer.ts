/**
 * How a remote step's workspace travels: the runner packs the workspace into a blob and hands
 * the Job a short-lived, read-only SAS URL for exactly that blob; the Job uploads its outputs to
 * another blob through a short-lived, create/write-only SAS URL for exactly that blob. Nothing
 * else of the storage account is reachable from the Job.
 *
 * SAS tokens are signed with the account key when the client has one (Azurite, key-based
 * accounts) and with a user delegation key otherwise (identity-only accounts in Azure).
 */
import { randomUUID } from 'node:crypto';
import { BlobSASPermissions, BlobServiceClient, generateBlobSASQueryParameters, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';

/** One staged exchange: where the Job reads the source and writes its outputs. */
export interface StagedWorkspace {
  /** GET: the packed workspace (tar.gz). */
  sourceUrl: string;
  /** PUT (x-ms-blob-type: BlockBlob): the outputs (tar.gz). */
  outputUrl: string;
  /** The outputs the Job uploaded, or undefined when it uploaded none. */
  outputs(): Promise<Buffer | undefined>;
  /** Deletes both blobs. */
  dispose(): Promise<void>;
}

/** Stages workspaces for remote steps. */
export interface WorkspaceTransfer {
  /** Uploads `archive` (the packed workspace) and returns the Job's URLs, valid for `ttlMs`. */
  stage(stepId: string, archive: Buffer, ttlMs: number): Promise<StagedWorkspace>;
}

/** A {@link WorkspaceTransfer} over a blob container. */
export class BlobWorkspaceTransfer implements WorkspaceTransfer {
  constructor(private readonly container: ContainerClient) {}

  async stage(stepId: string, archive: Buffer, ttlMs: number): Promise<StagedWorkspace> {
    await this.container.createIfNotExists();
    const prefix = `steps/${stepId}-${randomUUID()}`;
    const source = this.container.getBlockBlobClient(`${prefix}/source.tar.gz`);
    const output = this.container.getBlockBlobClient(`${prefix}/outputs.tar.gz`);
    await source.uploadData(archive, { blobHTTPHeaders: { blobContentType: 'application/gzip' } });
    const startsOn = new Date(Date.now() - 60_000);
    const expiresOn = new Date(Date.now() + ttlMs);
    const sign = async (blobName: string, permissions: string): Promise<string> => {
      const client = this.container.getBlockBlobClient(blobName);
      const perms = BlobSASPermissions.parse(permissions);
      if (this.container.credential instanceof StorageSharedKeyCredential) {
        return client.generateSasUrl({ permissions: perms, startsOn, expiresOn });
      }
      // Identity-only accounts: a user delegation key (from the same identity) signs the SAS.
      const svc = new BlobServiceClient(new URL(this.container.url).origin, this.container.credential);
      const key = await svc.getUserDelegationKey(startsOn, expiresOn);
      const account = new URL(this.container.url).hostname.split('.')[0]!;
      const sas = generateBlobSASQueryParameters({ containerName: this.container.containerName, blobName, permissions: perms, startsOn, expiresOn }, key, account).toString();
      return `${client.url}?${sas}`;
    };
    const [sourceUrl, outputUrl] = await Promise.all([sign(`${prefix}/source.tar.gz`, 'r'), sign(`${prefix}/outputs.tar.gz`, 'cw')]);
    return {
      sourceUrl,
      outputUrl,
      outputs: async () => {
        if (!(await output.exists())) return undefined;
        return output.downloadToBuffer();
      },
      dispose: async () => {
        await Promise.all([source.deleteIfExists(), output.deleteIfExists()]);
      },
    };
  }
}
