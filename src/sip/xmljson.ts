import type { JsonObject, JsonValue } from './model.ts';

/**
 * Turns an XML subtree, fed as SAX events, into JSON for access: an element with only text
 * becomes a string, attributes become "@name" keys next to "#text", a repeated child becomes an
 * array. Namespace prefixes are dropped (local names only).
 */
export class JsonBuilder {
  private readonly stack: Array<{ name: string; obj: JsonObject; text: string; hasChildren: boolean }> = [];
  result: JsonObject | undefined;

  constructor(private readonly maxText: number) {}

  get depth(): number {
    return this.stack.length;
  }

  open(name: string, attributes: Record<string, string>): void {
    const obj: JsonObject = {};
    for (const [k, v] of Object.entries(attributes)) if (!k.startsWith('xmlns')) obj[`@${k.replace(/^.*:/, '')}`] = v;
    const top = this.stack[this.stack.length - 1];
    if (top) top.hasChildren = true;
    this.stack.push({ name, obj, text: '', hasChildren: false });
  }

  /** Returns false when the text exceeds the bound (the caller reports it). */
  text(t: string): boolean {
    const top = this.stack[this.stack.length - 1];
    if (!top) return true;
    if (top.text.length + t.length > this.maxText) return false;
    top.text += t;
    return true;
  }

  close(): void {
    const node = this.stack.pop()!;
    const text = node.text.trim();
    let value: JsonValue;
    if (Object.keys(node.obj).length === 0 && !node.hasChildren) value = text;
    else {
      value = node.obj;
      if (text && !node.hasChildren) node.obj['#text'] = text;
    }
    const parent = this.stack[this.stack.length - 1];
    if (!parent) {
      this.result = typeof value === 'string' ? { '#text': value } : value;
      return;
    }
    const existing = parent.obj[node.name];
    if (existing === undefined) parent.obj[node.name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else parent.obj[node.name] = [existing, value];
  }
}

/** First string value of a key (or of "#text" inside it). */
export function textOf(obj: JsonObject | undefined, key: string): string | undefined {
  const v = obj?.[key];
  const first = Array.isArray(v) ? v[0] : v;
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object' && !Array.isArray(first) && typeof first['#text'] === 'string') return first['#text'];
  return undefined;
}

export function objectOf(obj: JsonObject | undefined, key: string): JsonObject | undefined {
  const v = obj?.[key];
  const first = Array.isArray(v) ? v[0] : v;
  return first && typeof first === 'object' && !Array.isArray(first) ? first : undefined;
}
