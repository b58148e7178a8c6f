/**
 * Reading the Linux process table (/proc) to recognise processes across Conveyor restarts.
 *
 * A pid alone is not an identity: after a process exits its pid can be handed to an unrelated
 * one. A process's start time (field 22 of /proc/<pid>/stat, in clock ticks since boot)
 * together with the boot id (/proc/sys/kernel/random/boot_id) is, so state on disk records
 * both, and every signal Conveyor sends is preceded by that check.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** The fields of /proc/<pid>/stat Conveyor needs. */
export interface ProcStat {
  pid: number;
  /** One letter: R, S, D, Z (zombie), T, ... */
  state: string;
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** Session id. */
  session: number;
  /** Start time in clock ticks after boot, as text (it can exceed 2^53 in theory). */
  startTime: string;
}

/** Synchronous {@link readProcStat}, for scanning the whole table (see {@link liveGroupMembers}). */
export function readProcStatSync(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Reads /proc/<pid>/stat; undefined when the process does not exist (or /proc is unavailable). */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(text);
}

/**
 * Parses the text of /proc/<pid>/stat. The command name (field 2) is in parentheses and may
 * itself contain spaces and parentheses, so fields are counted from the last `)`.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // Fields after the name start at field 3 (state); starttime is field 22, i.e. index 19.
  const rest = text.slice(close + 1).trim().split(/\s+/);
  if (rest.length < 20 || !Number.isInteger(pid)) return undefined;
  return {
    pid,
    state: rest[0]!,
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    startTime: rest[19]!,
  };
}

let bootIdCache: string | null | undefined;

/** The kernel's boot id (changes at every boot), or null where /proc does not provide it. */
export async function bootId(): Promise<string | null> {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache;
}

let procFsCache: boolean | undefined;

/** True when /proc can be read (Linux); without it identities degrade to "pid exists". */
export async function hasProcFs(): Promise<boolean> {
  procFsCache ??= (await readProcStat(process.pid)) !== undefined;
  return procFsCache;
}

/** A recorded process identity: pid plus what proves it is still the same process. */
export interface ProcessIdentity {
  pid: number;
  /** Start time from /proc/<pid>/stat when it was started. */
  startTime?: string;
  /** Boot id at that time. */
  bootId?: string | null;
}

/**
 * True when the recorded process still runs: the pid exists, is not a zombie, and has the
 * recorded start time on the same boot. Without /proc (not Linux) only existence is checked;
 * with it, an identity without a start time never matches.
 */
export async function isSameProcessAlive(identity: ProcessIdentity): Promise<boolean> {
  const stat = await readProcStat(identity.pid);
  if (stat === undefined) {
    if (await hasProcFs()) return false;
    return pidExists(identity.pid);
  }
  if (stat.state === 'Z' || stat.state === 'X') return false;
  if (identity.bootId && identity.bootId !== (await bootId())) return false;
  // With /proc, a pid without a recorded start time proves nothing.
  return identity.startTime !== undefined && stat.startTime === identity.startTime;
}

/** A recorded process group: its id, its leader's identity, and the marker its processes carry. */
export interface GroupIdentity {
  /** Process group id (the leader's pid, as the leader was started in a new session). */
  pgid: number;
  /** The leader's identity when it was started. */
  leader: ProcessIdentity;
  /** An environment entry (`NAME=value`) set on every process of the group at start. */
  marker?: string;
}

/**
 * Live (non-zombie) members of a recorded process group, or [] when the group is not ours
 * any more. Linux never hands out a pid while it is still some group's id, which gives:
 * - the leader (pid == pgid) is alive with the recorded start time: every member of the
 *   group is ours (a whole-group signal is safe);
 * - a different process now has pid == pgid: the pid was reused, so every process of our
 *   group had died before; nothing is ours;
 * - no process has pid == pgid: the leader died and its children may live on. A new group
 *   with that id could only have been made by a process that took the pid and exited since,
 *   so members also need the marker in their environment (and a start time no earlier than
 *   the leader's) to count; without a recorded marker nothing does.
 */
export async function liveGroupMembers(group: GroupIdentity): Promise<number[]> {
  const { pgid, leader } = group;
  if (leader.bootId && leader.bootId !== (await bootId())) return [];
  if (!(await hasProcFs())) return pidExists(-pgid) ? [pgid] : [];

  const leaderStat = await readProcStat(pgid);
  let leaderIsOurs = false;
  if (leaderStat && leaderStat.state !== 'Z' && leaderStat.state !== 'X') {
    // A live process holds the pid: it is our leader only if its start time proves it.
    // Without a recorded start time nothing can be proven, so nothing is ours.
    if (leader.startTime === undefined || leaderStat.startTime !== leader.startTime) return [];
    leaderIsOurs = true;
  } else if (group.marker === undefined) {
    // Orphans can only be told apart from strangers by the marker.
    return [];
  }

  // Synchronous reads on purpose: /proc files are generated in memory, so reading a hundred
  // of them takes about a millisecond in a loop, while going through the libuv thread pool
  // costs twenty times that (measured by bench/process-target.bench.ts).
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const floor = leader.startTime === undefined ? undefined : BigInt(leader.startTime);
  const members: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const stat = readProcStatSync(Number(e));
    if (!stat || stat.pgrp !== pgid || stat.state === 'Z' || stat.state === 'X') continue;
    if (!leaderIsOurs) {
      if (floor !== undefined && BigInt(stat.startTime) < floor) continue;
      if (!hasEnvironmentEntrySync(stat.pid, group.marker!)) continue;
    }
    members.push(stat.pid);
  }
  return members.sort((a, b) => a - b);
}

/**
 * True while any non-zombie process has process group `pgid`, whoever it is. Only for waiting
 * (never for deciding what to signal): a process already exiting has lost its environment, so
 * the marker no longer proves it ours, yet it is still there for a moment.
 */
export function groupHasLiveProcessSync(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return false;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const stat = readProcStatSync(Number(e));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') return true;
  }
  return false;
}

/** True when /proc/<pid>/environ (the environment it was started with) holds `entry` exactly. */
export function hasEnvironmentEntrySync(pid: number, entry: string): boolean {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`);
    return environ.toString('utf8').split('\0').includes(entry);
  } catch {
    return false;
  }
}

/** True when a process with this pid exists (signal 0 probes without sending anything). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends a signal to a whole process group; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Sends a signal to one process; false when it no longer exists. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * Live processes started with the environment entry `marker` (`NAME=value`), whatever their
 * group. This finds a started process whose pid was never recorded: Conveyor died between
 * spawning it and writing its state, so only the random instance marker identifies it.
 */
export function processesWithMarker(marker: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const stat = readProcStatSync(Number(e));
    if (!stat || stat.state === 'Z' || stat.state === 'X') continue;
    if (hasEnvironmentEntrySync(stat.pid, marker)) found.push(stat.pid);
  }
  return found.sort((a, b) => a - b);
}
