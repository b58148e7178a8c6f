/**
 * Host keys, as the real Functions host keeps them: one master key (admin level), named
 * function keys (the host-level `default` one), and system keys created on demand for
 * extensions (e.g. `durabletask_extension`). Generated on first start into
 * `<stateDir>/host-keys.json`; configuration overrides the stored values without rewriting the
 * file. Every comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Environment variables that override the stored keys. */
export const KEY_ENV = {
  master: 'CONVEYOR_HOST_MASTER_KEY',
  function: 'CONVEYOR_HOST_FUNCTION_KEY',
  /** Prefix; the system key name is upper-cased with non-alphanumerics as `_`. */
  systemPrefix: 'CONVEYOR_HOST_SYSTEM_KEY_',
} as const;

interface KeyFile {
  masterKey: string;
  functionKeys: Record<string, string>;
  systemKeys: Record<string, string>;
}

/** A fresh key: 32 random bytes, URL-safe (keys travel in the `code` query parameter). */
export function newKey(): string {
  return randomBytes(32).toString('base64url');
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Constant-time string equality. Both sides are hashed first so unequal lengths take the same
 * time as equal ones (timingSafeEqual itself throws on a length mismatch).
 */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** True when `candidate` equals any of `keys`; every key is compared (no early exit). */
export function matchesAny(candidate: string, keys: readonly string[]): boolean {
  const c = digest(candidate);
  let hit = false;
  for (const k of keys) hit = timingSafeEqual(c, digest(k)) || hit;
  return hit;
}

export function systemKeyEnvName(name: string): string {
  return KEY_ENV.systemPrefix + name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export class KeyStore {
  readonly #file: string;
  readonly #env: NodeJS.ProcessEnv;
  #data: KeyFile;

  constructor(file: string, env: NodeJS.ProcessEnv = process.env) {
    this.#file = file;
    this.#env = env;
    this.#data = this.#load();
  }

  #load(): KeyFile {
    if (existsSync(this.#file)) {
      const raw = JSON.parse(readFileSync(this.#file, 'utf8')) as Partial<KeyFile>;
      if (typeof raw.masterKey === 'string' && raw.masterKey) {
        const data: KeyFile = {
          masterKey: raw.masterKey,
          functionKeys: { ...(raw.functionKeys ?? {}) },
          systemKeys: { ...(raw.systemKeys ?? {}) },
        };
        if (!data.functionKeys.default) {
          data.functionKeys.default = newKey();
          this.#save(data);
        }
        return data;
      }
    }
    const data: KeyFile = { masterKey: newKey(), functionKeys: { default: newKey() }, systemKeys: {} };
    this.#save(data);
    return data;
  }

  #save(data: KeyFile): void {
    mkdirSync(dirname(this.#file), { recursive: true });
    // Write-then-rename so a crash never leaves a half-written key file behind.
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.#file);
  }

  get masterKey(): string {
    return this.#env[KEY_ENV.master] || this.#data.masterKey;
  }

  /** The host-level `default` function key. */
  get functionKey(): string {
    return this.#env[KEY_ENV.function] || this.#data.functionKeys.default!;
  }

  /** All function-level keys (the configured one plus every stored named key). */
  functionKeys(): string[] {
    const stored = Object.entries(this.#data.functionKeys)
      .filter(([n]) => n !== 'default' || !this.#env[KEY_ENV.function])
      .map(([, v]) => v);
    return this.#env[KEY_ENV.function] ? [this.#env[KEY_ENV.function]!, ...stored] : stored;
  }

  /** A system key by name, created and persisted on first use unless configured. */
  systemKey(name: string): string {
    const fromEnv = this.#env[systemKeyEnvName(name)];
    if (fromEnv) return fromEnv;
    let key = this.#data.systemKeys[name];
    if (!key) {
      key = newKey();
      this.#data = { ...this.#data, systemKeys: { ...this.#data.systemKeys, [name]: key } };
      this.#save(this.#data);
    }
    return key;
  }

  isMaster(candidate: string): boolean {
    return safeEqual(candidate, this.masterKey);
  }

  /** Function level: any function key, or the master key. */
  allowsFunction(candidate: string): boolean {
    return matchesAny(candidate, [...this.functionKeys(), this.masterKey]);
  }

  /** A system route: its system key, or the master key. */
  allowsSystem(name: string, candidate: string): boolean {
    return matchesAny(candidate, [this.systemKey(name), this.masterKey]);
  }
}
