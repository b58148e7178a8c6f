/** Deployment events (CloudEvents 1.0 on a Service Bus topic) and approval messages: docs/events.md. */
export * from './event-catalogue.js';
export * from './cloud-event.js';
export * from './run-events.js';
export * from './event-bus.js';
export * from './service-bus.publisher.js';
export * from './approval-message.js';
export * from './control-events.js';
