// Prompt path at RULER 16K: tokenizing a ~16K-token prefill with a 128,256-id Llama-3-style
// tokenizer (Llama-3 split regex, byte-level BPE; our tiny merges, so the BPE step is cheaper
// than with Llama's 280K merges, while the regex and added-token passes are the real ones),
// against the pre-tokenization regex alone in the same run; then one offline RULER prompt
// per synthetic task sized to 16,384 tokens.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTinyTokenizer, LLAMA3_SPLIT_PATTERN } from '../dist/prompt/tiny-tokenizer.js';
import { loadPromptBuilder } from '../dist/prompt/prompt-builder.js';
import { loadRulerRows } from '../dist/ruler/load.js';

const REPEATS = 5;
const best = (xs) => Math.min(...xs);

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), 'poc-bench-prompt-'));
  try {
    const { tokenizerJson, tokenizerConfigJson } = buildTinyTokenizer(128256);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfigJson));
    const builder = loadPromptBuilder(dir);
    const [row] = await loadRulerRows({ source: 'synthetic', task: 'niah_multikey_1', promptIdx: [0], maxTokens: 16384, countTokens: builder.countTokens, seed: 0 });
    const text = builder.prefillText(row.context, 'chat');
    // the JS translation of the Oniguruma pattern, as a lower bound on any tokenizer's work
    const split = new RegExp(LLAMA3_SPLIT_PATTERN.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"), 'gu');
    const ours = [];
    const regexOnly = [];
    let n = 0;
    for (let r = 0; r < REPEATS; r++) {
      let t0 = performance.now();
      n = builder.buildPrefillIds(row.context, { maxLength: 1 << 30, promptFormat: 'chat' }).length;
      ours.push(performance.now() - t0);
      t0 = performance.now();
      let pieces = 0;
      for (const _ of text.matchAll(split)) pieces++;
      regexOnly.push(performance.now() - t0);
      if (pieces === 0) throw new Error('no pieces');
    }
    console.log(`prefill ids: ${n} tokens in ${best(ours).toFixed(0)} ms (best of ${REPEATS}); split regex alone ${best(regexOnly).toFixed(0)} ms; ratio ${(best(ours) / best(regexOnly)).toFixed(1)}x`);
    for (const task of ['niah_single_1', 'niah_multikey_3', 'vt', 'cwe', 'fwe']) {
      const t0 = performance.now();
      await loadRulerRows({ source: 'synthetic', task, promptIdx: [0], maxTokens: 16384, countTokens: builder.countTokens, seed: 0 });
      console.log(`synthetic ${task} at 16,384 tokens: ${(performance.now() - t0).toFixed(0)} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
