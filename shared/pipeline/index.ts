/**
 * Pipeline-as-code: parse and validate `.conveyor/pipeline.yaml` into a PipelineSpec, and the
 * JSON Schema editors use. See docs/pipeline.md.
 */
import { pipelineJsonSchema } from './pipeline-spec.schema.js';

export { parsePipelineSpec, formatPath, MAX_PIPELINE_BYTES, MAX_ALIAS_COUNT, MAX_DEPTH, MAX_ISSUES } from './parse-pipeline.js';
export { pipelineFileSchema, pipelineJsonSchema, DEFAULT_PIPELINE_PATH, parseDuration, safeName, MAX_ENVIRONMENTS, type PipelineFile } from './pipeline-spec.schema.js';

/** The JSON Schema as the exact text committed in docs/pipeline.schema.json. */
export function pipelineJsonSchemaText(): string {
  return `${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`;
}
