/**
 * The subscriber's collaborators built from Conveyor's stores, for every adapter that reports
 * feedback (the `git-feedback` subscription today): the app and run read as undefined when they
 * no longer exist, and an app's token resolved from the setting its registration names
 * (`feedback.tokenSetting`) or from the value sealed for the app (`feedback.sealedToken`). A
 * token is registered for redaction before it is used; an unset setting or a value that does not
 * open for the app throws with the reason (the subscriber dead-letters the event with it).
 */
import type { AppRegistry } from '../apps/index.js';
import type { Settings } from '../config/settings.js';
import type { RunStore } from '../ledger/index.js';
import { UnsealError, type SealedSecrets, type SecretRegistry } from '../secrets/index.js';
import type { FeedbackConfig, FeedbackProvider } from './feedback-config.schema.js';
import type { GitHostReporter } from './git-host-reporter.js';
import { orUndefined, type FeedbackDeadLetterStore, type FeedbackSubscriberDeps } from './feedback-subscriber.js';

/** What resolving an app's feedback token needs. */
export interface FeedbackTokenPorts {
  settings: Pick<Settings, 'feedbackToken'>;
  sealed: Pick<SealedSecrets, 'open'>;
  secrets: Pick<SecretRegistry, 'add'>;
}

/** The token for an app's feedback (see the module comment); throws with a reason when unusable. */
export async function resolveFeedbackToken({ settings, sealed, secrets }: FeedbackTokenPorts, app: string, config: FeedbackConfig): Promise<string> {
  let value: string | undefined;
  if (config.tokenSetting) {
    value = settings.feedbackToken(config.tokenSetting);
    if (!value) throw new Error(`setting ${config.tokenSetting} (feedback.tokenSetting) is not set`);
  } else {
    try {
      value = await sealed.open(app, config.sealedToken!, 'feedback.sealedToken');
    } catch (err) {
      if (err instanceof UnsealError) throw new Error(err.message);
      throw err;
    }
  }
  secrets.add(value);
  return value;
}

/** The stores and reporters feedback is built from. */
export interface FeedbackPorts extends FeedbackTokenPorts {
  apps: Pick<AppRegistry, 'get'>;
  runs: Pick<RunStore, 'get'>;
  gitFeedback: { reporters: Readonly<Record<FeedbackProvider, GitHostReporter>>; deadLetters: FeedbackDeadLetterStore };
}

/** The subscriber's collaborators over the stores. */
export function feedbackDeps(ports: FeedbackPorts): FeedbackSubscriberDeps {
  return {
    app: async (name) => (await orUndefined(ports.apps.get(name)))?.value,
    run: async (app, runId) => (await orUndefined(ports.runs.get(app, runId)))?.value,
    token: (app, config) => resolveFeedbackToken(ports, app, config),
    reporters: ports.gitFeedback.reporters,
    deadLetters: ports.gitFeedback.deadLetters,
  };
}
