/**
 * Service Bus triggers bound to the SDK type (`sdkBinding: true`), so a function can settle its
 * own message — dead-letter it with a reason — through `@azure/functions-extensions-servicebus`
 * (the host's Settlement gRPC service). Loading this module registers the extension.
 *
 * The installed extension (0.2.0-preview) registers its message factory with its own nested copy
 * of `@azure/functions-extensions-base` (0.2), while `@azure/functions` resolves the top-level
 * copy (0.3): two registries, so the worker would answer "Factory for type
 * AzureServiceBusReceivedMessage is not registered". The same factory is therefore also
 * registered with the registry `@azure/functions` reads, delegating to the extension's.
 */
import { createRequire } from 'node:module';
import type { ServiceBusReceivedMessage } from '@azure/service-bus';

/** The `source` of the Service Bus extension's model binding data. */
const SOURCE = 'AzureServiceBusReceivedMessage';

interface Resolver {
  hasResourceFactory(type: string): boolean;
  registerResourceFactory(type: string, factory: (data: unknown) => unknown): void;
  createClient(type: string, data: unknown): unknown;
}
type Base = { ResourceFactoryResolver: { getInstance(): Resolver } };

const req = createRequire(import.meta.url);
const extensionMain = req.resolve('@azure/functions-extensions-servicebus');
req(extensionMain);
const extensionBase = createRequire(extensionMain)('@azure/functions-extensions-base') as Base;
const functionsBase = createRequire(req.resolve('@azure/functions'))('@azure/functions-extensions-base') as Base;
if (extensionBase.ResourceFactoryResolver !== functionsBase.ResourceFactoryResolver) {
  const registry = functionsBase.ResourceFactoryResolver.getInstance();
  if (!registry.hasResourceFactory(SOURCE)) {
    registry.registerResourceFactory(SOURCE, (data) => extensionBase.ResourceFactoryResolver.getInstance().createClient(SOURCE, data));
  }
}

/**
 * A dead-letter reason or description as the Settlement contract types it
 * (`google.protobuf.StringValue`). The extension declares plain strings and passes them through
 * unchanged, which gRPC then refuses to serialize ("deadletterReason: object expected"), so
 * callers hand it the wrapper object.
 */
export interface StringValue {
  value: string;
}

/** Settlement actions on a trigger message (the extension's `ServiceBusMessageActions`). */
export interface ServiceBusMessageActions {
  complete(message: ServiceBusReceivedMessage): Promise<void>;
  abandon(message: ServiceBusReceivedMessage, propertiesToModify?: Uint8Array): Promise<void>;
  deadletter(message: ServiceBusReceivedMessage, propertiesToModify?: Uint8Array, deadletterReason?: StringValue, deadletterErrorDescription?: StringValue): Promise<void>;
}

/** What an SDK-bound Service Bus trigger receives (the extension's `ServiceBusMessageContext`). */
export interface ServiceBusMessageContext {
  messages: ServiceBusReceivedMessage | ServiceBusReceivedMessage[];
  actions: ServiceBusMessageActions;
}

/** The one message of a `cardinality: one` trigger. */
export function singleMessage(ctx: ServiceBusMessageContext): ServiceBusReceivedMessage {
  const m = Array.isArray(ctx.messages) ? ctx.messages[0] : ctx.messages;
  if (!m) throw new Error('the Service Bus trigger delivered no message');
  return m;
}

/** Trigger options that bind the SDK type and leave settlement to the function. */
export const SETTLED_BY_FUNCTION = { sdkBinding: true, autoCompleteMessages: false } as const;

/** Dead-letters the message with a short reason code and the full text as its description (bounded, as Service Bus bounds them). */
export function deadLetter(ctx: ServiceBusMessageContext, message: ServiceBusReceivedMessage, reason: string, description: string): Promise<void> {
  const text = description.length <= 4096 ? description : `${description.slice(0, 4093)}...`;
  return ctx.actions.deadletter(message, undefined, { value: reason }, { value: text });
}
