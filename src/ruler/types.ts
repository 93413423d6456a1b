/** One RULER prompt, split the way simonjegou/ruler stores it. */
export interface RulerRow {
  task: string;
  /** row index within this task's rows of the source */
  promptIdx: number;
  /** the prefilled part: instructions and haystack, up to the question */
  context: string;
  question: string;
  answerPrefix: string;
  /** expected outputs (the dataset's `answer` column) */
  answers: string[];
  maxNewTokens: number;
}

/** Counts tokens of a text with the model's tokenizer, no special tokens added. */
export type CountTokens = (text: string) => number;
