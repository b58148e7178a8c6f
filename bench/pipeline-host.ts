// Child process of bench/pipeline.bench.ts: Conveyor's own app on the local host (with its
// Azurite), started exactly as the e2e tests start it. It runs in its own process so the load
// generator and the bench's polling never share its event loop, and so it can be profiled with
// `--cpu-prof` on its own.
//
// Protocol: settings arrive as JSON in BENCH_CONVEYOR_ENV; one JSON line on stdout reports
// { origin, keys, connectionString }; SIGTERM, SIGINT or the parent closing stdin stops every
// process the target started, the host and Azurite, and removes the temp folders.
import { startConveyor } from '../test/e2e/conveyor-support.js';

const env = JSON.parse(process.env.BENCH_CONVEYOR_ENV ?? '{}') as Record<string, string>;
const conveyor = await startConveyor({ env, startServiceBus: process.env.BENCH_PIPELINE_SERVICEBUS !== 'off' });

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= conveyor.dispose().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`pipeline-host: dispose failed: ${String((err as Error)?.stack ?? err)}\n`);
      process.exit(1);
    },
  );
  return stopping;
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// The parent died (or is done): its end of the pipe closes.
process.stdin.on('end', () => void stop());
process.stdin.on('close', () => void stop());
process.stdin.resume();

process.stdout.write(
  `${JSON.stringify({ origin: conveyor.origin, keys: conveyor.host.keys, connectionString: conveyor.host.storage?.connectionString ?? null })}\n`,
);
