/** `text` with each of `values` (secrets: an API key, a workspace secret) replaced by `[secret]`; an empty value is left alone. */
export function redactSecrets(text: string, values: Iterable<string>): string {
  let out = text;
  for (const value of values) if (value) out = out.split(value).join('[secret]');
  return out;
}
