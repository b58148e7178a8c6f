/** DORA metrics: the pure computation, the window parser and the per-environment index. */
export * from './dora.js';
export * from './metrics-index.js';
export * from './window.js';
