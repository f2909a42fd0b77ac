/**
 * A deterministic value that fits a JSON Schema: what the offline echo provider (and the LLM
 * simulator, src/simulator) answers when asked to call a tool or for JSON, so tool-using agents
 * run end to end without an API. It covers the schema keywords tools use (type, properties,
 * required, enum, const, default, examples, items, minItems, minimum, anyOf/oneOf); other
 * strings get `text`.
 */
type Schema = Record<string, unknown>;

const isSchema = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);

export function sampleFor(schema: unknown, text: string, depth = 0): unknown {
  if (!isSchema(schema) || depth > 16) return null;
  if ('const' in schema) return schema.const;
  if ('default' in schema) return schema.default;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives) && alternatives.length) return sampleFor(alternatives[0], text, depth + 1);
  const type: unknown = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type ?? (isSchema(schema.properties) ? 'object' : undefined)) {
    case 'object': {
      const props = isSchema(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : Object.keys(props);
      return Object.fromEntries(required.filter((k) => k in props).map((k) => [k, sampleFor(props[k], text, depth + 1)]));
    }
    case 'array': {
      const n = typeof schema.minItems === 'number' ? schema.minItems : 0;
      return Array.from({ length: n }, () => sampleFor(schema.items, text, depth + 1));
    }
    case 'string':
      return text;
    case 'number':
    case 'integer':
      return typeof schema.minimum === 'number' ? schema.minimum : 0;
    case 'boolean':
      return true;
    default:
      return null;
  }
}
