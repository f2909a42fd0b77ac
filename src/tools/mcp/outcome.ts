/**
 * What an MCP tool's result says, as the model is given it: the text parts joined, the others
 * (images, audio, resources) summarized in a line each; a result with no content but
 * structured content gives that as JSON. `isError` is the server's.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ToolOutcome } from '../tool.js';

type Part = CallToolResult['content'][number];

function describe(part: Part): string {
  switch (part.type) {
    case 'text':
      return part.text;
    case 'image':
    case 'audio':
      return `[${part.type}: ${part.mimeType}, ${Math.floor((part.data.length * 3) / 4)} bytes]`;
    case 'resource_link':
      return `[resource link: ${part.uri}${part.name ? ` (${part.name})` : ''}]`;
    case 'resource': {
      const r = part.resource;
      return 'text' in r && typeof r.text === 'string' ? r.text : `[resource: ${r.uri}${r.mimeType ? `, ${r.mimeType}` : ''}]`;
    }
    default:
      return `[${(part as { type: string }).type}]`;
  }
}

export function toOutcome(result: CallToolResult): ToolOutcome {
  const parts = result.content ?? [];
  let content = parts.map(describe).join('\n');
  if (parts.length === 0 && result.structuredContent !== undefined) content = JSON.stringify(result.structuredContent);
  return result.isError ? { content, isError: true } : { content };
}
