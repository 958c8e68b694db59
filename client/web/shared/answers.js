// Text answers on the wire (protocol/answers.py): chunks are appended, and U+0008 deletes
// the code point before it, so an edit anywhere is "backspaces to the common prefix, then
// the retyped rest". Code points, not UTF-16 units, so both ends agree on emoji.
export const BACKSPACE = "\b";

export function foldText(chunks) {
  const text = [];
  for (const chunk of chunks) {
    if (typeof chunk !== "string") continue;
    for (const char of chunk) {
      if (char === BACKSPACE) text.pop();
      else text.push(char);
    }
  }
  return text.join("");
}

export function editChunk(before, after) {
  const old = Array.from(before);
  const now = Array.from(after);
  let common = 0;
  while (common < old.length && common < now.length && old[common] === now[common]) common++;
  return BACKSPACE.repeat(old.length - common) + now.slice(common).join("");
}

// Split a chunk so each part stays under the hub's chunk limit (16 KiB; 4 bytes a code point).
export function splitChunk(chunk, maxCodePoints = 4000) {
  const chars = Array.from(chunk);
  const parts = [];
  for (let i = 0; i < chars.length; i += maxCodePoints) {
    parts.push(chars.slice(i, i + maxCodePoints).join(""));
  }
  return parts;
}
