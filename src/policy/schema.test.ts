import assert from 'node:assert/strict';
import { test } from 'node:test';
import { policyJsonSchema } from './schema.js';

test('the JSON Schema is JSON, names the top-level keys and describes fields for editors', () => {
  // biome-ignore lint/suspicious/noExplicitAny: a JSON Schema is walked by key
  const schema = JSON.parse(JSON.stringify(policyJsonSchema())) as Record<string, any>;
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(schema.type, 'object');
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(Object.keys(schema.properties).sort(), [
    'datasets',
    'metadata',
    'notifications',
    'repositories',
    'scheduler',
  ]);
  assert.deepEqual([...schema.required].sort(), ['datasets', 'metadata', 'repositories']);
  const dataset = schema.properties.datasets.additionalProperties;
  for (const key of ['rpo', 'rto', 'mtd', 'sources', 'schedule', 'copies', 'retention', 'drill'])
    assert.ok(dataset.properties[key], key);
  assert.match(dataset.properties.rpo.description, /recovery point objective/);
  assert.deepEqual(dataset.properties.schedule.properties.full.anyOf.length, 2);
  const repo = schema.properties.repositories.additionalProperties;
  assert.deepEqual(repo.properties.media.enum, [
    'disk',
    'nas',
    'object-storage',
    'tape',
    'removable',
    'optical',
  ]);
  assert.ok(repo.required.includes('password'));
});
