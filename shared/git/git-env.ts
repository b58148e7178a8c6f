/**
 * How Conveyor hands credentials and a safe environment to every git process it starts (the
 * checkout cache and `ls-remote` alike): a token goes in an `http.<origin>/.extraHeader`
 * passed through `GIT_CONFIG_COUNT`/`KEY`/`VALUE` (never in a URL or on the command line), git
 * never prompts, system config is ignored, and only the listed variables reach the process.
 */
import { SecretRegistry } from '../secrets/redactor.js';
import { parseRepoUrl, type ParsedRepoUrl } from './repo-url.js';
import { hostEnvironment } from '../config/settings.js';

/** Credentials for an https remote (typically a token read from a setting). */
export interface HttpCredentials {
  /** The token or password. */
  token: string;
  /** Basic-auth user; GitHub accepts `x-access-token`, Azure DevOps any non-empty name. Default `x-access-token`. */
  username?: string;
}

/** Credentials per repository URL (or one for all), as configured. */
export type CredentialSource = HttpCredentials | ((repoUrl: string) => HttpCredentials | undefined) | undefined;

/** The credentials for `repoUrl`: configured ones first, else those embedded in the URL. */
export function resolveCredentials(source: CredentialSource, repoUrl: string, parsed: ParsedRepoUrl): HttpCredentials | undefined {
  const configured = typeof source === 'function' ? source(repoUrl) : source;
  if (configured) return configured;
  if (parsed.password !== undefined) return { token: parsed.password, username: parsed.username ?? 'x-access-token' };
  if (parsed.username !== undefined) return { token: parsed.username, username: 'x-access-token' };
  return undefined;
}

/** Values that must never appear in anything reported about this remote. */
export function gitSecrets(creds: HttpCredentials | undefined, repoUrl: string): SecretRegistry {
  const reg = new SecretRegistry();
  if (creds) {
    reg.add(creds.token);
    reg.add(Buffer.from(`${creds.username ?? 'x-access-token'}:${creds.token}`).toString('base64'));
  }
  try {
    reg.add(parseRepoUrl(repoUrl).password);
  } catch {
    // Not a URL we could parse: nothing embedded to hide.
  }
  return reg;
}

/** Names of the variables {@link gitEnvironment} may set besides PATH/HOME/LANG/TMPDIR. */
export const GIT_ENV_NAMES = ['GIT_TERMINAL_PROMPT', 'GIT_CONFIG_NOSYSTEM', 'GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_VALUE_0'] as const;

/** The complete environment of a git process talking to `parsed`'s remote. */
export function gitEnvironment(parsed: ParsedRepoUrl, creds: HttpCredentials | undefined): Record<string, string> {
  const host = hostEnvironment();
  const env: Record<string, string> = {
    PATH: host.PATH ?? '/usr/bin:/bin',
    HOME: host.HOME ?? '/tmp',
    LANG: 'C',
    // Never prompt: a missing credential must fail, not hang a worker.
    GIT_TERMINAL_PROMPT: '0',
    GCM_INTERACTIVE: 'never',
    GIT_CONFIG_NOSYSTEM: '1',
  };
  if (host.TMPDIR) env.TMPDIR = host.TMPDIR;
  if (creds && (parsed.protocol === 'https' || parsed.protocol === 'http')) {
    const basic = Buffer.from(`${creds.username ?? 'x-access-token'}:${creds.token}`).toString('base64');
    // Scoped to this remote's origin so redirects elsewhere never receive it.
    const origin = new URL(parsed.fetchUrl);
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = `http.${origin.protocol}//${origin.host}/.extraHeader`;
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
  }
  return env;
}
