/** Git host feedback: each run reported back where its commit lives (docs/events.md, "Git host feedback"). */
export * from './feedback-config.schema.js';
export * from './feedback-mapping.js';
export * from './git-host-reporter.js';
export * from './github.reporter.js';
export * from './gitlab.reporter.js';
export * from './azure-devops.reporter.js';
export * from './feedback-subscriber.js';
export * from './feedback-ports.js';
