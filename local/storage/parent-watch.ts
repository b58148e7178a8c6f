/**
 * Preloaded (`node --import`) into the Azurite child process. The parent holds the write end
 * of the child's stdin; when the parent dies for any reason (even SIGKILL) the pipe closes,
 * and the child shuts itself down instead of lingering as an orphan.
 */
let triggered = false;
const shutdown = () => {
  if (triggered) return;
  triggered = true;
  // Azurite's own SIGTERM handler closes its servers and flushes its metadata.
  process.kill(process.pid, 'SIGTERM');
  setTimeout(() => process.exit(0), 5000).unref();
};
// With the parent gone, writing the shutdown messages to its pipes fails with EPIPE; that must
// not crash the emulator before it has flushed its metadata.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
// Reading stdin must not by itself keep the child alive.
(process.stdin as unknown as { unref?: () => void }).unref?.();
export {};
