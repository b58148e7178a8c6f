/**
 * Where the CLI talks to and as whom: flags first, then environment variables, then a JSON
 * config file (`--config`, `$CONVEYOR_CONFIG`, or `$XDG_CONFIG_HOME/conveyor/config.json`,
 * default `~/.config/conveyor/config.json`), then the local host's default URL.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Resolved configuration. */
export interface CliConfig {
  url: string;
  /** Function key (x-functions-key), for every endpoint but the webhook and health. */
  key?: string;
  /** Master (admin) key, for registering and deleting apps. */
  adminKey?: string;
  /** API token identifying the caller (approvals, rollbacks, freezes). */
  token?: string;
  /** The file read, when one was. */
  configFile?: string;
}

/** The flags that bear on configuration. */
export interface ConfigFlags {
  url?: string;
  key?: string;
  adminKey?: string;
  token?: string;
  config?: string;
}

/** What the config file may hold. */
interface ConfigFile {
  url?: string;
  key?: string;
  adminKey?: string;
  token?: string;
}

const FILE_KEYS = ['url', 'key', 'adminKey', 'token'] as const;

/**
 * Checks the config file's shape by hand: four optional non-empty strings and nothing else.
 * (Not zod: importing it would add a third of a second to every command's start.)
 */
function parseConfigFile(raw: unknown, path: string): ConfigFile {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${path}: must be a JSON object`);
  const problems: string[] = [];
  const out: ConfigFile = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!(FILE_KEYS as readonly string[]).includes(k)) problems.push(`${k}: unknown key (expected ${FILE_KEYS.join(', ')})`);
    else if (typeof v !== 'string' || v === '') problems.push(`${k}: must be a non-empty string`);
    else out[k as (typeof FILE_KEYS)[number]] = v;
  }
  if (problems.length) throw new ConfigError(`config file ${path}: ${problems.join('; ')}`);
  return out;
}

/** A configuration problem (bad file, bad URL): the CLI exits with a usage error. */
export class ConfigError extends Error {}

/** The local host's default address. */
export const DEFAULT_URL = 'http://127.0.0.1:7071';

/** The default config file path for an environment. */
export function defaultConfigPath(env: Readonly<Record<string, string | undefined>>): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'conveyor', 'config.json');
}

/** Resolves the configuration from flags, environment and the config file. */
export function resolveConfig(flags: ConfigFlags, env: Readonly<Record<string, string | undefined>>): CliConfig {
  const explicit = flags.config ?? env.CONVEYOR_CONFIG;
  const path = explicit ?? defaultConfigPath(env);
  let file: ConfigFile = {};
  let configFile: string | undefined;
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (explicit || (err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  if (text !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config file ${path} is not JSON: ${(err as Error).message}`);
    }
    file = parseConfigFile(raw, path);
    configFile = path;
  }
  const url = (flags.url ?? env.CONVEYOR_URL ?? file.url ?? DEFAULT_URL).replace(/\/+$/, '');
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(`invalid Conveyor URL ${JSON.stringify(url)} (expected e.g. ${DEFAULT_URL})`);
  }
  const pick = (flag: string | undefined, envName: string, fromFile: string | undefined): string | undefined => flag ?? (env[envName] || undefined) ?? fromFile;
  const key = pick(flags.key, 'CONVEYOR_KEY', file.key);
  const adminKey = pick(flags.adminKey, 'CONVEYOR_ADMIN_KEY', file.adminKey);
  const token = pick(flags.token, 'CONVEYOR_TOKEN', file.token);
  return { url, ...(key ? { key } : {}), ...(adminKey ? { adminKey } : {}), ...(token ? { token } : {}), ...(configFile ? { configFile } : {}) };
}
