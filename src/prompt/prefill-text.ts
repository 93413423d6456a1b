import { Template } from '@huggingface/jinja';
import { UserError } from '../errors.js';

/** chat: the model's chat template around the context, as kvpress; raw: BOS + context. */
export type PromptFormat = 'chat' | 'raw';

/**
 * The text kvpress prefills for `context` (KVPressTextGenerationPipeline.preprocess): the
 * chat template on one user message "context + separator" with the generation prompt,
 * cut before the separator; without a chat template (or with `raw`), BOS + context.
 */
export function prefillText(
  context: string,
  format: PromptFormat,
  chatTemplate: Template | null,
  specialTokens: Record<string, string>,
): string {
  if (format === 'raw' || chatTemplate === null) return (specialTokens.bos_token ?? '') + context;
  // kvpress appends "\n" + "#" * len(context) so the template's trim cannot touch the end of
  // the context and the text after it (eot, assistant header) can be cut off. Python's len
  // counts code points; the length only has to make the separator unique, and it does.
  const separator = '\n' + '#'.repeat(Array.from(context).length);
  let rendered: string;
  try {
    // no strftime_now: templates that would print today's date (Llama-3.2) fall back to their
    // fixed date, so the prefill never depends on the day it was made
    rendered = chatTemplate.render({
      messages: [{ role: 'user', content: context + separator }],
      add_generation_prompt: true,
      enable_thinking: false,
      ...specialTokens,
    });
  } catch (err) {
    throw new UserError(`the model's chat template failed on the prompt (${(err as Error).message}); use --prompt-format raw`);
  }
  const cut = rendered.indexOf(separator);
  if (cut < 0) throw new UserError("the model's chat template does not keep the user message verbatim; use --prompt-format raw");
  return rendered.slice(0, cut);
}
