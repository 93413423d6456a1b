/**
 * Haystack helpers shared by the needle and variable-tracking generators: RULER's insertion
 * depths, the essay split into words and sentences, and needle placement.
 */

/** RULER's 40 insertion depths in percent: round(linspace(0, 100, 40)). */
export const DEPTHS: readonly number[] = Array.from({ length: 40 }, (_, i) => Math.round((100 * i) / 39));

/** Essay text -> words, with all whitespace runs collapsed (RULER: re.sub(r'\s+', ' ')). */
export function essayWords(text: string): string[] {
  return text.replace(/\s+/g, ' ').trim().split(' ').filter((w) => w !== '');
}

/** The first `n` words of the essay, repeating it when it is shorter. */
export function essayPrefix(words: readonly string[], n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(words[i % words.length]!);
  return out.join(' ');
}

// A plain stand-in for nltk's sent_tokenize: split after . ! ? followed by a space and an
// upper-case letter, a digit or a quote; good enough to place needles between sentences.
export function splitSentences(text: string): string[] {
  return text.trim().split(/(?<=[.!?]["')\]]?)\s+(?=["'(\[]?[A-Z0-9])/).filter((s) => s !== '');
}

/**
 * Inserts `inserts` between the essay's sentences at the given depths (percent), sorted, as
 * RULER does: sentence runs joined by " ", each run followed by the next insert.
 */
export function insertAtDepths(sentences: string[], inserts: string[], depths: number[]): string {
  const positions = [0, ...depths.map((d) => Math.floor((sentences.length * d) / 100)).sort((a, b) => a - b), sentences.length];
  const parts: string[] = [];
  for (let i = 1; i < positions.length; i++) {
    parts.push(sentences.slice(positions[i - 1], positions[i]).join(' '));
    if (i - 1 < inserts.length) parts.push(inserts[i - 1]!);
  }
  return parts.join(' ');
}
