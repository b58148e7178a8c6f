/** Step executor: runs pipeline commands in a process group with streaming, redacted logs. */
export { runStep, stepEnvironment, conveyorVarName, type StepOptions, type StepResult, type StepLaunch, type ConveyorVars } from './run-step.js';
export { BlobLogSink, BlobStepLogs, MemoryLogSink, TeeLogSink, readLog, type LogSink, type BlobLogSinkOptions, type StepLogReader } from './log-sink.js';
