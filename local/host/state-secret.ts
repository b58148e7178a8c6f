/**
 * Private keys of the local emulators, one file per key in the state folder.
 *
 * Code run by the app (a build step, a deployed service) may share the machine's loopback
 * with the host's listeners, so none of them may accept a well-known key. Each key is
 * random, created once per state folder with mode 0600 (owner only) and reused by every later
 * start on that folder, so data an emulator kept stays reachable and a test or tool pointed at
 * the folder can read the key the same way the host does.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, closeSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The key stored at `file` (base64, `bytes` random bytes), created with mode 0600 when absent.
 * A key file another user can read is tightened to 0600 before use.
 */
export function stateSecret(file: string, bytes = 32): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Written whole under a temporary name, then linked into place: a concurrent start never
  // reads a half-written key, and the first link wins.
  if (!existsSync(file)) writeOnce(file, bytes);
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const value = readFileSync(file, 'utf8').trim();
  if (!/^[A-Za-z0-9+/]{16,}={0,2}$/.test(value)) throw new Error(`the key file ${file} is damaged (not base64); delete it to create a new key`);
  return value;
}

function writeOnce(file: string, bytes: number): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, randomBytes(bytes).toString('base64'));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
}
