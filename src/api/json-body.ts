/**
 * JSON answers written in pieces. A run's view can hold more text than one JavaScript string
 * may (V8: about 512 MiB; e.g. hundreds of steps with large inputs and outputs, and the run's
 * output beside them), and `res.json` stringifies the whole answer at once: it threw
 * `RangeError: Invalid string length`, a 500. Here objects and arrays near the top are written
 * member by member, each value below them stringified alone, and the pieces sent in batches,
 * waiting for the socket to drain, so no string is larger than one step's record.
 */
import type { Response } from 'express';

/** Nesting levels written member by member (a view → its steps → a step → its fields). */
const SPLIT_DEPTH = 4;
/** Characters gathered before a write. */
const BATCH_CHARS = 64 * 1024;

const skipped = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/** The JSON text of `value` in pieces whose concatenation is JSON.stringify(value). */
export function* jsonPieces(value: unknown, depth = SPLIT_DEPTH): Generator<string> {
  let v = value;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') v = (v as { toJSON(): unknown }).toJSON();
  if (depth <= 0 || v === null || typeof v !== 'object') {
    yield JSON.stringify(v) ?? 'null';
    return;
  }
  if (Array.isArray(v)) {
    yield '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) yield ',';
      if (skipped(v[i])) yield 'null';
      else yield* jsonPieces(v[i], depth - 1);
    }
    yield ']';
    return;
  }
  yield '{';
  let first = true;
  for (const [k, item] of Object.entries(v)) {
    if (skipped(item)) continue;
    yield `${first ? '' : ','}${JSON.stringify(k)}:`;
    first = false;
    yield* jsonPieces(item, depth - 1);
  }
  yield '}';
}

/** Answer `value` as JSON (status `status`), written in pieces (see the module header). */
export async function sendJson(res: Response, value: unknown, status = 200): Promise<void> {
  res.status(status).type('application/json; charset=utf-8');
  let batch: string[] = [];
  let chars = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const text = batch.length === 1 ? batch[0]! : batch.join('');
    batch = [];
    chars = 0;
    if (!res.write(text))
      await new Promise<void>((resolve) => {
        // A client that goes away never drains: stop waiting then too.
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
  };
  for (const piece of jsonPieces(value)) {
    if (res.destroyed) return;
    // A piece larger than a batch goes alone: joining it to others would only copy it.
    if (piece.length >= BATCH_CHARS) {
      await flush();
      batch.push(piece);
      await flush();
      continue;
    }
    batch.push(piece);
    chars += piece.length;
    if (chars >= BATCH_CHARS) await flush();
  }
  await flush();
  res.end();
}
