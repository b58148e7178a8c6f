/**
 * The bubblewrap sandbox shared by build/test steps and deployed `process` services: what a
 * sandboxed process may see, as a `bwrap` argument list, and a one-time probe that bubblewrap
 * works on this machine.
 *
 * What the sandbox gives (docs/security.md lists each point with the test that proves it):
 * - its own user, PID, IPC, UTS and cgroup namespaces: the host's processes are invisible and
 *   cannot be signalled; no capabilities (`--cap-drop ALL`, also when Conveyor runs as root);
 *   no nested user namespaces where bubblewrap supports `--disable-userns`;
 * - a root file system that is an empty, read-only tmpfs into which only system folders are
 *   bound read-only (`/usr`, `/bin`, `/lib*`, `/sbin`, selected `/etc` files, the Node install
 *   running Conveyor); one writable tree (the workspace or release folder, at its own path), a
 *   private `/tmp` and `HOME` (tmpfs, gone with the sandbox); Conveyor's working folder, state
 *   folder, data folder (git mirrors, other workspaces, releases) are not there at all, and are
 *   covered by an empty tmpfs should they lie inside a bound system folder;
 * - its own network namespace (no interface but a down loopback) when the network is off.
 *
 * Runs unprivileged through user namespaces, so it needs no setuid helper; as root it drops
 * every capability the same way.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { ExternalFailureError } from '../errors.js';

/** `HOME` inside the sandbox (a private tmpfs). */
export const SANDBOX_HOME = '/home/conveyor';

/** Where a sandboxed process is placed and what it may touch. */
export interface SandboxOptions {
  /** The one writable host folder (workspace, release folder); bound at the same path. */
  writable: string;
  /** Start folder inside the sandbox; default `writable`. */
  chdir?: string;
  /** `false` gives the sandbox its own empty network namespace. */
  network: boolean;
  /**
   * End the whole sandbox when the process that started it dies (steps: yes, so a step never
   * outlives the Conveyor that would record its result; services: no, they survive restarts).
   */
  dieWithParent: boolean;
  /**
   * Host folders that must stay invisible even when they lie inside a bound system folder
   * (Conveyor's working, state and data folders). They are covered with an empty tmpfs.
   */
  hidden?: readonly string[];
  /** Further host paths bound read-only (operator-chosen tool installs). */
  readOnly?: readonly string[];
  /** Host name inside the UTS namespace. */
  hostname?: string;
  /** Whether this bubblewrap knows `--disable-userns` (0.8+); see {@link probeBubblewrap}. */
  disableUserns?: boolean;
  /** Size of the private `/tmp` and `HOME` tmpfs each, bytes; default: the kernel's (half the RAM). */
  tmpfsBytes?: number;
  /**
   * Secret files: `name` is read by bubblewrap from descriptor `fd` (a pipe) into a read-only
   * file (mode 0400) on a memory-backed tmpfs at `/run/secrets/<name>`; nothing on disk.
   */
  secretFiles?: readonly { name: string; fd: number }[];
}

/** Top-level system folders a shell, Node and common build tools need. */
const SYSTEM_TREES = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * `/etc` entries a sandbox gets (read-only copies, see {@link sandboxEtc}): name resolution, TLS
 * roots, the dynamic linker cache, time zone and Debian's alternatives (many `/usr/bin` tools are
 * links into it). Nothing with credentials: no `shadow`, no `gitconfig`, no `npmrc`, no `ssh`;
 * and of these, only what every user may read (so not `/etc/ssl/private`).
 */
const ETC_ENTRIES = [
  'passwd', 'group', 'hosts', 'hostname', 'resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'protocols', 'services',
  'ssl', 'ca-certificates', 'ca-certificates.conf', 'pki', 'crypto-policies', 'alternatives', 'ld.so.cache', 'ld.so.conf',
  'ld.so.conf.d', 'localtime', 'timezone', 'mime.types', 'os-release', 'debian_version', 'bash.bashrc', 'profile', 'inputrc',
];

/** True when `path` is `root` or inside it. */
function isWithin(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** How long a prepared /etc copy is used before it is made again (picking up, say, a new resolv.conf). */
const ETC_REFRESH_MS = 5 * 60_000;
let etcCopies: { dir: string; builtAt: number }[] = [];

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Copies `src` to `dest` if everyone may read it: files and folders; links inside folders stay links. */
function copyWorldReadable(src: string, dest: string, top: boolean): void {
  let st;
  try {
    st = top ? statSync(src) : lstatSync(src);
  } catch {
    return;
  }
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dest);
  } else if (st.isDirectory()) {
    if ((st.mode & 0o005) !== 0o005) return;
    mkdirSync(dest, { mode: 0o755 });
    let names: string[];
    try {
      names = readdirSync(src);
    } catch {
      return;
    }
    for (const name of names) copyWorldReadable(join(src, name), join(dest, name), false);
  } else if (st.isFile() && (st.mode & 0o004) !== 0) {
    copyFileSync(src, dest);
    chmodSync(dest, 0o444);
  }
}

/**
 * A folder holding world-readable copies of the {@link ETC_ENTRIES} of this machine's `/etc`,
 * bound read-only as a sandbox's `/etc`. Made once per process (under the temp folder) and
 * again every few minutes; the copy before stays until the next one replaces it, so a sandbox
 * starting meanwhile still finds its source.
 */
export function sandboxEtc(): string {
  const latest = etcCopies[etcCopies.length - 1];
  if (latest && Date.now() - latest.builtAt < ETC_REFRESH_MS && existsSync(latest.dir)) return latest.dir;
  const root = join(tmpdir(), `conveyor-sandbox-etc-${process.getuid?.() ?? 'user'}`);
  mkdirSync(root, { recursive: true, mode: 0o755 });
  // Copies left by processes that are gone (a crash, a test host) are removed.
  for (const name of readdirSync(root)) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processExists(pid)) rmSync(join(root, name), { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(root, `${process.pid}-`));
  chmodSync(dir, 0o755);
  for (const entry of ETC_ENTRIES) copyWorldReadable(`/etc/${entry}`, join(dir, entry), true);
  etcCopies.push({ dir, builtAt: Date.now() });
  if (etcCopies.length > 2) {
    for (const old of etcCopies.slice(0, -2)) rmSync(old.dir, { recursive: true, force: true });
    etcCopies = etcCopies.slice(-2);
  }
  return dir;
}

/** The folder holding the running Node binary, and the install prefix to bind when it is not a system folder. */
export function nodeInstall(): { bin: string; prefix: string } {
  const bin = dirname(real(process.execPath));
  return { bin, prefix: dirname(bin) };
}

/** PATH inside the sandbox: the Node running Conveyor first, then the system folders. */
export function sandboxPath(): string {
  return `${nodeInstall().bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
}

/** The `bwrap` arguments (everything before the command) for one sandbox. */
export function bubblewrapArgs(options: SandboxOptions): string[] {
  const args = [
    '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
    '--cap-drop', 'ALL',
    '--hostname', options.hostname ?? 'conveyor-sandbox',
  ];
  if (options.disableUserns) args.push('--disable-userns');
  if (!options.network) args.push('--unshare-net');
  if (options.dieWithParent) args.push('--die-with-parent');

  const bound: string[] = [];
  for (const tree of SYSTEM_TREES) {
    let stat;
    try {
      stat = lstatSync(tree);
    } catch {
      continue;
    }
    // Merged-/usr systems: /bin -> usr/bin stays a link, so paths resolve as on the host.
    if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(tree), tree);
    else if (stat.isDirectory()) {
      args.push('--ro-bind', tree, tree);
      bound.push(tree);
    }
  }
  // One bind of a prepared copy: binding each /etc file on its own costs a mount (and a
  // read-only remount) apiece, which made up most of the sandbox's start-up time.
  args.push('--ro-bind', sandboxEtc(), '/etc');
  const node = nodeInstall();
  if (!bound.some((tree) => isWithin(node.bin, tree))) {
    args.push('--ro-bind', node.prefix, node.prefix);
    bound.push(node.prefix);
  }
  for (const path of options.readOnly ?? []) {
    args.push('--ro-bind-try', path, path);
    bound.push(path);
  }
  const size = options.tmpfsBytes ? ['--size', String(options.tmpfsBytes)] : [];
  args.push('--proc', '/proc', '--dev', '/dev', ...size, '--tmpfs', '/tmp', ...size, '--tmpfs', SANDBOX_HOME);
  for (const file of options.secretFiles ?? []) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(file.name)) throw new Error(`secret file name ${JSON.stringify(file.name)} is not a variable name`);
    args.push('--perms', '0400', '--ro-bind-data', String(file.fd), `/run/secrets/${file.name}`);
  }
  // Conveyor's folders must not show through a bound system folder (say, a checkout in /usr/src).
  for (const hidden of options.hidden ?? []) {
    const path = real(hidden);
    if (existsSync(path) && bound.some((tree) => isWithin(path, real(tree)))) args.push('--tmpfs', path);
  }
  const writable = real(options.writable);
  args.push('--bind', writable, writable);
  args.push('--chdir', options.chdir ? real(options.chdir) : writable);
  // Nothing but the writable tree, /tmp and HOME may be written.
  args.push('--remount-ro', '/');
  return args;
}

/**
 * Shell run first inside the sandbox: closes every descriptor above stderr that the sandbox
 * inherited (Node passes its own non-close-on-exec descriptors on to children), then replaces
 * itself with `bash -c "$1"`.
 */
export const SANDBOX_ENTRY = 'for fd in /proc/self/fd/*; do fd=${fd##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done; exec bash -c "$1"';

/** The result of {@link probeBubblewrap}. */
export type BubblewrapProbe = { ok: true; disableUserns: boolean } | { ok: false; reason: string };

/** How to fix a missing or unusable bubblewrap, for error messages. */
export const BUBBLEWRAP_FIX =
  'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap; Arch: pacman -S bubblewrap) ' +
  'and allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04+ also ' +
  'kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap), or set CONVEYOR_ALLOW_UNSANDBOXED_STEPS=true ' +
  'to run steps and services without a sandbox (they can then read everything Conveyor can)';

const probes = new Map<string, Promise<BubblewrapProbe>>();

function run(file: string, args: string[]): Promise<{ code: number | null; output: string; error?: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', (err) => resolveRun({ code: null, output, error: err.message }));
    child.once('close', (code) => resolveRun({ code, output }));
  });
}

/**
 * Checks once per bubblewrap path that it exists and can create the sandbox's namespaces
 * (`true` run in a sandbox like a step's), and whether it knows `--disable-userns`.
 */
export function probeBubblewrap(bwrap = 'bwrap'): Promise<BubblewrapProbe> {
  let probe = probes.get(bwrap);
  if (!probe) {
    probe = (async (): Promise<BubblewrapProbe> => {
      const help = await run(bwrap, ['--help']);
      if (help.error) return { ok: false, reason: `${bwrap} could not be started (${help.error})` };
      const disableUserns = help.output.includes('--disable-userns');
      const args = bubblewrapArgs({ writable: '/tmp', network: false, dieWithParent: true, disableUserns });
      const tried = await run(bwrap, [...args, '--', 'true']);
      if (tried.code !== 0) {
        const said = tried.output.trim().split('\n').slice(-1)[0] || tried.error || `exit code ${tried.code}`;
        return { ok: false, reason: `${bwrap} cannot create a sandbox here (${said})` };
      }
      return { ok: true, disableUserns };
    })();
    probes.set(bwrap, probe);
  }
  return probe;
}

/** Thrown when bubblewrap is missing or cannot create namespaces and unsandboxed running is not allowed. */
export class SandboxUnavailableError extends ExternalFailureError {}

/** How Conveyor isolates local steps and services, decided once from the settings and a probe. */
export type LocalSandbox = { kind: 'bubblewrap'; bwrap: string; disableUserns: boolean } | { kind: 'none'; reason: string };

/** Settings of the local sandbox. */
export interface LocalSandboxSettings {
  /** Run without a sandbox where bubblewrap is unusable (CONVEYOR_ALLOW_UNSANDBOXED_STEPS). */
  allowUnsandboxed: boolean;
  /** The bwrap binary; default `bwrap` on PATH. */
  bwrap?: string;
  /** Called once when falling back to no sandbox; default `console.warn`. */
  warn?: (message: string) => void;
}

const warned = new Set<string>();

/**
 * Probes bubblewrap and decides: sandbox it, or (only when allowed) run unsandboxed with a
 * warning printed once, or refuse with {@link SandboxUnavailableError} naming the fix.
 */
export async function resolveLocalSandbox(settings: LocalSandboxSettings): Promise<LocalSandbox> {
  const bwrap = settings.bwrap ?? 'bwrap';
  const probe = await probeBubblewrap(bwrap);
  if (probe.ok) return { kind: 'bubblewrap', bwrap, disableUserns: probe.disableUserns };
  if (!settings.allowUnsandboxed) throw new SandboxUnavailableError(`steps and services cannot be sandboxed: ${probe.reason}; ${BUBBLEWRAP_FIX}`);
  const message = `WARNING: ${probe.reason}; CONVEYOR_ALLOW_UNSANDBOXED_STEPS is set, so build and test steps and deployed services run WITHOUT a sandbox and can read everything Conveyor can (its settings, keys and every app's files)`;
  if (!warned.has(message)) {
    warned.add(message);
    (settings.warn ?? ((m: string) => console.warn(m)))(message);
  }
  return { kind: 'none', reason: probe.reason };
}
