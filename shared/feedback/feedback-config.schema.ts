/**
 * An app's opt-in Git host feedback (its registration's `feedback` field): which host, how the
 * run is shown there (commit statuses, or GitHub deployments per environment), where the
 * token comes from (the NAME of a `CONVEYOR_FEEDBACK_*` setting, or a value sealed for the app)
 * and, for self-hosted servers, the API's base URL.
 */
import { z } from 'zod';

/** Git hosts Conveyor reports to. */
export const FEEDBACK_PROVIDERS = ['github', 'gitlab', 'azure-devops'] as const;

/** A Git host Conveyor reports to. */
export type FeedbackProvider = (typeof FEEDBACK_PROVIDERS)[number];

/**
 * Only settings named `CONVEYOR_FEEDBACK_<NAME>` can hold a feedback token: a registration must
 * not be able to make Conveyor send another setting (the storage connection, say) to a host.
 */
export const FEEDBACK_TOKEN_SETTING_PATTERN = /^CONVEYOR_FEEDBACK_[A-Z0-9_]{1,64}$/;

/** The default API base URL of each hosted service. */
export const DEFAULT_BASE_URLS: Readonly<Record<FeedbackProvider, string>> = {
  github: 'https://api.github.com',
  gitlab: 'https://gitlab.com',
  'azure-devops': 'https://dev.azure.com',
};

const baseUrl = z
  .string()
  .max(2048)
  .refine((v) => {
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.username === '' && u.password === '' && u.search === '' && u.hash === '';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials, query or fragment');

/** The `feedback` field of an app registration. */
export const feedbackConfigSchema = z
  .strictObject({
    provider: z.enum(FEEDBACK_PROVIDERS),
    /** `status`: commit statuses (every host). `deployments`: GitHub's or GitLab's Deployments API, one deployment per run and environment. */
    kind: z.enum(['status', 'deployments']).default('status'),
    /** NAME of the setting holding the token (`CONVEYOR_FEEDBACK_<NAME>`), never the token. */
    tokenSetting: z.string().regex(FEEDBACK_TOKEN_SETTING_PATTERN, 'must be the NAME of a CONVEYOR_FEEDBACK_<NAME> setting').optional(),
    /** The token sealed for this app (`age -a -r <recipient>`, GET /api/public-key), instead of a setting. */
    sealedToken: z.string().max(16_384).startsWith('-----BEGIN AGE ENCRYPTED FILE-----', 'must be an armored age file sealed for this app').optional(),
    /** API base URL (GitHub Enterprise `https://host/api/v3`, a GitLab server, an Azure DevOps Server collection). */
    baseUrl: baseUrl.optional(),
    /**
     * Where the commit lives on the host: GitHub `owner/repo`, GitLab a project path or numeric
     * id, Azure DevOps `organization/project/repository`. Default: the path of the app's repoUrl.
     */
    repository: z.string().min(1).max(512).regex(/^[A-Za-z0-9_.\-/ ]+$/, 'letters, digits, "_", ".", "-", " " and "/" only').optional(),
    /** Link shown with each status (e.g. the dashboard); `{app}`, `{runId}` and `{environment}` are filled in. */
    targetUrl: baseUrl.optional(),
  })
  .superRefine((v, ctx) => {
    if ((v.tokenSetting === undefined) === (v.sealedToken === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['tokenSetting'], message: 'give exactly one of tokenSetting and sealedToken' });
    }
    if (v.kind === 'deployments' && v.provider === 'azure-devops') {
      ctx.addIssue({ code: 'custom', path: ['kind'], message: 'deployments are reported to GitHub and GitLab only; use status for azure-devops' });
    }
    if (v.provider === 'azure-devops' && v.repository !== undefined && v.repository.split('/').filter(Boolean).length !== 3) {
      ctx.addIssue({ code: 'custom', path: ['repository'], message: 'must be organization/project/repository' });
    }
    if (v.provider === 'github' && v.repository !== undefined && !/^[^/]+\/[^/]+$/.test(v.repository)) {
      ctx.addIssue({ code: 'custom', path: ['repository'], message: 'must be owner/repo' });
    }
  });

/** An app's feedback configuration. */
export type FeedbackConfig = z.output<typeof feedbackConfigSchema>;
