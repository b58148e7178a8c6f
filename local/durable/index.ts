/**
 * Durable Functions backend for the local host. (Being built: see issue 3. Until then the
 * extension declares no triggers, so the host reports durable functions as unsupported.)
 */
import type { ExtensionFactoryOptions, HostExtension } from '../host/extension.js';

export function createDurableExtension(_options: ExtensionFactoryOptions): HostExtension {
  return {
    name: 'durable',
    triggerTypes: [],
    inputBindingTypes: [],
    async init() {},
    resolveInputBinding() {
      return undefined;
    },
    async start() {},
    async stop() {},
  };
}
