/** The app registry: registered applications and their repositories. */
export { AppRegistry, type AppRegistryOptions } from './app-registry.js';
export { AppIndex, APP_INDEX_TTL_MS } from './app-index.js';
export {
  appInputSchema,
  appRecordSchema,
  appChangesSchema,
  tracksBranch,
  DEFAULT_PIPELINE_PATH,
  PROVIDERS,
  SETTING_NAME_PATTERN,
  type AppInput,
  type AppRecord,
  type AppChanges,
  type Provider,
} from './app-record.schema.js';
