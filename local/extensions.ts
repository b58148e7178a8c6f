/**
 * The extensions bundled with the local host, as the real host bundles its extension
 * bundle. Loaded for every app; an extension whose triggers the app does not use stays idle.
 */
import type { ExtensionFactoryOptions, HostExtension } from './host/extension.js';
import { createDurableExtension } from './durable/index.js';
import { createServiceBusExtension } from './servicebus/trigger-extension.js';

export function bundledExtensions(options: ExtensionFactoryOptions): HostExtension[] {
  return [createDurableExtension(options), createServiceBusExtension({ startEmulator: options.serviceBus !== false })];
}
