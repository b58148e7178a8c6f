/**
 * `npm run schema`: writes docs/pipeline.schema.json from the zod definition, so editors
 * validate `.conveyor/pipeline.yaml` against exactly what the parser accepts. A unit test
 * fails when the committed file is stale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pipelineJsonSchemaText } from './index.js';

const target = resolve(process.argv[2] ?? 'docs/pipeline.schema.json');
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, pipelineJsonSchemaText());
console.log(`wrote ${target}`);
