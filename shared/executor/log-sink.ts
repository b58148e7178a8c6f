/**
 * Where a step's output goes while it runs. The executor writes already-redacted text; a sink
 * only stores it. Two implementations: in memory (tests, short steps) and an Azure append blob
 * that is flushed periodically so the log is readable while the step is still running.
 */
import type { AppendBlobClient, ContainerClient } from '@azure/storage-blob';
import { ensureContainer, mapStorageError } from '../storage/blob-store.js';

/** Receives a step's output as it is produced. */
export interface LogSink {
  /** Queues text; never blocks the step. */
  write(text: string): void;
  /** Persists everything written so far. */
  flush(): Promise<void>;
  /** Flushes and releases resources; further writes are ignored. */
  close(): Promise<void>;
}

/** Keeps everything in memory. */
export class MemoryLogSink implements LogSink {
  private readonly parts: string[] = [];
  /** Every text written so far, concatenated. */
  get text(): string {
    return this.parts.join('');
  }
  /** {@inheritDoc LogSink.write} */
  write(text: string): void {
    this.parts.push(text);
  }
  /** {@inheritDoc LogSink.flush} */
  async flush(): Promise<void> {}
  /** {@inheritDoc LogSink.close} */
  async close(): Promise<void> {}
}

/** Fans one stream of output out to several sinks (e.g. a blob and the console). */
export class TeeLogSink implements LogSink {
  /** Creates a sink writing to every one of `sinks`. */
  constructor(private readonly sinks: readonly LogSink[]) {}
  /** {@inheritDoc LogSink.write} */
  write(text: string): void {
    for (const s of this.sinks) s.write(text);
  }
  /** {@inheritDoc LogSink.flush} */
  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush()));
  }
  /** {@inheritDoc LogSink.close} */
  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}

/** Options of {@link BlobLogSink}. */
export interface BlobLogSinkOptions {
  /** How often buffered output is appended, ms. Default 1000. */
  flushIntervalMs?: number;
  /** Stop storing after this many bytes (a runaway step must not fill the account). Default 64 MiB. */
  maxBytes?: number;
}

/** Append blocks are limited to 4 MiB each. */
const MAX_APPEND_BLOCK = 4 * 1024 * 1024;

/**
 * Streams a log into an append blob. Appends are serialised (one in flight at a time) and a
 * failing append is remembered and reported by `flush`/`close` rather than crashing the step.
 */
export class BlobLogSink implements LogSink {
  private buffer: Buffer[] = [];
  private buffered = 0;
  private stored = 0;
  private truncated = false;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown;
  private readonly timer: NodeJS.Timeout;
  private readonly maxBytes: number;

  private constructor(
    private readonly blob: AppendBlobClient,
    /** Blob path inside the logs container. */
    readonly path: string,
    options: BlobLogSinkOptions,
  ) {
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.timer = setInterval(() => void this.flush().catch(() => undefined), options.flushIntervalMs ?? 1000);
    // A forgotten sink must not keep the process alive.
    this.timer.unref();
  }

  /** Creates (or reopens, to append) the append blob at `path` and returns a sink writing to it. */
  static async open(container: ContainerClient, path: string, options: BlobLogSinkOptions = {}): Promise<BlobLogSink> {
    await ensureContainer(container);
    const blob = container.getAppendBlobClient(path);
    try {
      await blob.createIfNotExists({ blobHTTPHeaders: { blobContentType: 'text/plain; charset=utf-8' } });
    } catch (err) {
      throw mapStorageError(err, `log blob ${container.containerName}/${path}`);
    }
    return new BlobLogSink(blob, path, options);
  }

  /** {@inheritDoc LogSink.write} */
  write(text: string): void {
    if (this.closed || this.truncated || text.length === 0) return;
    let data = Buffer.from(text, 'utf8');
    const room = this.maxBytes - this.stored - this.buffered;
    if (data.length > room) {
      data = Buffer.concat([data.subarray(0, Math.max(0, room)), Buffer.from(`\n[log truncated at ${this.maxBytes} bytes]\n`)]);
      this.truncated = true;
    }
    this.buffer.push(data);
    this.buffered += data.length;
  }

  /** {@inheritDoc LogSink.flush} */
  flush(): Promise<void> {
    const data = Buffer.concat(this.buffer);
    this.buffer = [];
    this.buffered = 0;
    if (data.length > 0) {
      this.stored += data.length;
      this.chain = this.chain.then(async () => {
        for (let off = 0; off < data.length; off += MAX_APPEND_BLOCK) {
          const block = data.subarray(off, off + MAX_APPEND_BLOCK);
          try {
            await this.blob.appendBlock(block, block.length);
          } catch (err) {
            this.failure ??= err;
          }
        }
      });
    }
    return this.chain.then(() => {
      if (this.failure) {
        const err = this.failure;
        this.failure = undefined;
        throw mapStorageError(err, `log blob ${this.path}`);
      }
    });
  }

  /** {@inheritDoc LogSink.close} */
  async close(): Promise<void> {
    if (this.closed) return this.chain;
    clearInterval(this.timer);
    await this.flush();
    this.closed = true;
  }
}

/** Reads a whole log blob as text (also while it is still being written). */
export async function readLog(container: ContainerClient, path: string): Promise<string> {
  try {
    const buf = await container.getBlobClient(path).downloadToBuffer();
    return buf.toString('utf8');
  } catch (err) {
    throw mapStorageError(err, `log blob ${container.containerName}/${path}`);
  }
}

/** Reads step logs by blob name (the port behind `GET /api/runs/{runId}/logs/{step}`). */
export interface StepLogReader {
  /** The log as a stream (what was written so far while the step runs); undefined when there is none yet. */
  open(name: string): Promise<NodeJS.ReadableStream | undefined>;
}

/** {@link StepLogReader} over the logs container. */
export class BlobStepLogs implements StepLogReader {
  /** Reads from `container` (normally `conveyor-logs`). */
  constructor(private readonly container: ContainerClient) {}

  /** {@inheritDoc StepLogReader.open} */
  async open(name: string): Promise<NodeJS.ReadableStream | undefined> {
    const blob = this.container.getBlobClient(name);
    if (!(await blob.exists())) return undefined;
    const download = await blob.download();
    return download.readableStreamBody;
  }
}
