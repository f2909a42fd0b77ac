/** An answer's body read as a stream up to a byte cap, and what it is read as. */

/** Reads at most `maxBytes` of the body as UTF-8; a longer body is cut (and its stream cancelled). */
export async function readCapped(res: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - size));
      size = maxBytes;
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: new TextDecoder('utf-8').decode(Buffer.concat(chunks, size)), truncated };
}

/** JSON when the answer says so (`application/json`, `+json`) and came whole; otherwise the text. */
export function parseBody(res: Response, text: string, truncated: boolean): unknown {
  const type = res.headers.get('content-type') ?? '';
  if (truncated || !/[/+]json\b/i.test(type) || text.trim() === '') return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
