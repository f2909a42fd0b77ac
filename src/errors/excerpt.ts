/**
 * A value shown in a message: at most `max` characters of it, with `...` when cut, so that an
 * error about a huge request (an expression, a pattern, a path) stays one readable line.
 */
export function excerpt(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}
