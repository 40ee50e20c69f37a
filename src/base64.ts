/**
 * True for standard, padded base64 (A-Z a-z 0-9 + /, `=` padding only at the end). A loop rather
 * than a regular expression: V8's backtracking `(?:[A-Za-z0-9+/]{4})*` runs out of stack on strings
 * of tens of megabytes, the size of a files archive.
 */
export function isStandardBase64(text: string): boolean {
  if (text.length % 4 !== 0) return false;
  let end = text.length;
  if (text.endsWith('==')) end -= 2;
  else if (text.endsWith('=')) end -= 1;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
    if (!ok) return false;
  }
  return true;
}
