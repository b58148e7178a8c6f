/**
 * Secret redaction for logs. Registered secret values are replaced by `***` in any text,
 * including streamed output where a secret may arrive split across chunks: the streaming
 * redactor holds back only the shortest tail that could still be the start of a secret.
 */

/** What a redacted secret looks like in logs. */
export const REDACTED = '***';

/**
 * Secrets shorter than this are not redacted: masking every `1` or `ab` would make logs
 * unreadable and reveal nothing useful (the same rule CI systems apply).
 */
export const MIN_SECRET_LENGTH = 4;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A set of secret values to keep out of logs and error messages. */
export class SecretRegistry {
  private readonly values = new Set<string>();
  private cached: RegExp | undefined;

  /** Creates a registry holding `values` (short or empty values are ignored). */
  constructor(values: Iterable<string> = []) {
    for (const v of values) this.add(v);
  }

  /** Registers a value (and its individual lines, since multi-line secrets are logged line by line). */
  add(value: string | undefined): this {
    if (!value) return this;
    for (const candidate of [value, ...value.split(/\r?\n/)]) {
      if (candidate.length >= MIN_SECRET_LENGTH && !this.values.has(candidate)) {
        this.values.add(candidate);
        this.cached = undefined;
      }
    }
    return this;
  }

  /** The registered values. */
  list(): string[] {
    return [...this.values];
  }

  /** Longest registered value (0 when empty). */
  maxLength(): number {
    let max = 0;
    for (const v of this.values) max = Math.max(max, v.length);
    return max;
  }

  /** Matches any secret, longest first, so overlapping secrets are masked completely. */
  pattern(): RegExp | undefined {
    if (this.values.size === 0) return undefined;
    if (!this.cached) {
      const sorted = [...this.values].sort((a, b) => b.length - a.length);
      this.cached = new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
    }
    return this.cached;
  }

  /** Replaces every registered secret in `text` with `***`. */
  redact(text: string): string {
    const re = this.pattern();
    return re ? text.replace(re, REDACTED) : text;
  }
}

/** Replaces every value of `secrets` in `text` with `***` (convenience for one-off strings). */
export function redact(text: string, secrets: Iterable<string>): string {
  return new SecretRegistry(secrets).redact(text);
}

/**
 * Redacts a stream of text chunks. Feed chunks with `push`, which returns what is safe to emit
 * now; call `end` for the rest. A secret split across any number of chunks is still masked.
 */
export class StreamingRedactor {
  private pending = '';

  /** Creates a redactor for the secrets in `registry`. */
  constructor(private readonly registry: SecretRegistry) {}

  /** Adds a chunk; returns the redacted text that can no longer be part of a secret. */
  push(chunk: string): string {
    const secrets = this.registry.list();
    const re = this.registry.pattern();
    if (!re) return chunk;
    const text = this.pending + chunk;
    // Hold back the longest tail that is a proper prefix of some secret: it may complete later.
    let hold = 0;
    for (const s of secrets) {
      for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
        if (text.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    let cut = text.length - hold;
    // A complete match must not be split by the cut (a shorter secret could end the text while a
    // longer one started before the cut): move the cut to that match's start.
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m.index < cut && m.index + m[0].length > cut) {
        cut = m.index;
        break;
      }
    }
    this.pending = text.slice(cut);
    return this.registry.redact(text.slice(0, cut));
  }

  /** Flushes what is held back (redacted). */
  end(): string {
    const rest = this.registry.redact(this.pending);
    this.pending = '';
    return rest;
  }
}
