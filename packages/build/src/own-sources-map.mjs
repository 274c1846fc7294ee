// @ts-check
/**
 * Cuts a bundle's source map down to the deployable's own sources (the workspace's), dropping what
 * maps the inlined npm packages. `--enable-source-maps` makes Node parse and hold the whole map of
 * every module it loads: with the packages in it, a service's map was 5 MB, and holding it cost
 * about 30 MB of RSS. A frame in a package's code then points into dist/server.js, where a comment
 * names the package file each part of the bundle comes from.
 */

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Map([...BASE64].map((c, i) => [c, i]));

/** @param {string} text one segment's Base64 VLQ fields */
function decodeFields(text) {
  const fields = [];
  let value = 0;
  let shift = 0;
  for (const c of text) {
    const digit = DIGIT.get(c);
    if (digit === undefined) throw new Error(`not a source map VLQ digit: ${c}`);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return fields;
}

/** @param {number} n */
function encodeField(n) {
  let value = n < 0 ? (-n << 1) | 1 : n << 1;
  let out = '';
  do {
    let digit = value & 31;
    value >>>= 5;
    if (value) digit |= 32;
    out += BASE64[digit];
  } while (value);
  return out;
}

/**
 * The map with only the segments whose source `keep` accepts, and only those sources.
 * @param {{ version: number; sources: string[]; sourcesContent?: (string | null)[]; mappings: string; names?: string[] }} map
 * @param {(source: string) => boolean} keep
 */
export function keepSources(map, keep) {
  const newIndex = new Map();
  map.sources.forEach((source, i) => {
    if (keep(source)) newIndex.set(i, newIndex.size);
  });
  // Absolute values as we decode (the encoding is relative to the previous segment), re-encoded
  // relative to the previous segment kept.
  let source = 0;
  let line = 0;
  let column = 0;
  let name = 0;
  const last = { source: 0, line: 0, column: 0, name: 0 };
  // Node finds a position's mapping as the closest segment before it, across lines: where a
  // dropped part follows a kept one, a segment without a source ends the kept one's range.
  let inKept = false;
  const lines = map.mappings.split(';').map((segments) => {
    let generatedColumn = 0;
    let lastGeneratedColumn = 0;
    const kept = [];
    for (const segment of segments ? segments.split(',') : []) {
      const fields = decodeFields(segment);
      generatedColumn += fields[0] ?? 0;
      let index;
      if (fields.length >= 4) {
        source += fields[1] ?? 0;
        line += fields[2] ?? 0;
        column += fields[3] ?? 0;
        if (fields.length > 4) name += fields[4] ?? 0;
        index = newIndex.get(source);
      }
      if (index === undefined) {
        if (inKept) {
          kept.push(encodeField(generatedColumn - lastGeneratedColumn));
          lastGeneratedColumn = generatedColumn;
          inKept = false;
        }
        continue;
      }
      let out = encodeField(generatedColumn - lastGeneratedColumn) + encodeField(index - last.source) + encodeField(line - last.line) + encodeField(column - last.column);
      if (fields.length > 4) {
        out += encodeField(name - last.name);
        last.name = name;
      }
      lastGeneratedColumn = generatedColumn;
      last.source = index;
      last.line = line;
      last.column = column;
      inKept = true;
      kept.push(out);
    }
    return kept.join(',');
  });
  const sources = map.sources.filter((_, i) => newIndex.has(i));
  return {
    ...map,
    sources,
    ...(map.sourcesContent ? { sourcesContent: map.sourcesContent.filter((_, i) => newIndex.has(i)) } : {}),
    mappings: lines.join(';'),
  };
}
