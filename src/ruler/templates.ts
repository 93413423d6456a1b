/**
 * RULER's task templates (scripts/data/synthetic/constants.py), split the way kvpress's
 * create_huggingface_dataset.py splits them: `context` is everything before the question
 * pattern, `question` runs up to the answer pattern, `answer_prefix` is the rest.
 */

/** The noise haystack sentence of RULER's niah and variable-tracking tasks. */
export const NOISE_HAYSTACK = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.';

/** Value kinds of a needle: words ("adj-noun"), 7-digit numbers, or uuid4 strings. */
export type NeedleKind = 'words' | 'numbers' | 'uuids';

/** The needle sentence; RULER keeps the plural kind ("numbers") here even when the template is singular. */
export function needleSentence(kind: string, key: string, value: string): string {
  return `One of the special magic ${kind} for ${key} is: ${value}.`;
}

/**
 * The niah prompt pieces. With one query and one value RULER rewrites the template to the
 * singular ("A special magic number is hidden", "What is the special magic number").
 */
export function niahPieces(kind: NeedleKind, singular: boolean, haystackText: string, query: string) {
  const label = singular ? kind.slice(0, -1) : kind;
  const intro = singular
    ? `A special magic ${label} is hidden within the following text. Make sure to memorize it. I will quiz you about the ${label} afterwards.`
    : `Some special magic ${label} are hidden within the following text. Make sure to memorize it. I will quiz you about the ${label} afterwards.`;
  const verb = singular ? 'is' : 'are';
  return {
    label,
    context: `${intro}\n${haystackText}\n`,
    question: `What ${singular ? 'is' : 'are all'} the special magic ${label} for ${query} mentioned in the provided text? `,
    answerPrefix: `The special magic ${label} for ${query} mentioned in the provided text ${verb}`,
  };
}

const VT_TASK = 'Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n';
const vtQuestion = (value: string) => `Question: Find all variables that are assigned the value ${value} in the text above. `;
const vtAnswer = (value: string, numVars: number) =>
  `Answer: According to the chain(s) of variable assignment in the text above, ${numVars} variables are assigned the value ${value}, they are: `;

/** The solved in-context example RULER puts before the vt task (its prompt, answer, blank line). */
export function vtExample(haystackText: string, value: string, names: string[]): string {
  return `${VT_TASK}${haystackText}\n${vtQuestion(value)}${vtAnswer(value, names.length)} ${names.join(' ')}\n\n`;
}

/** Variable tracking: the example, then the task over `haystackText` holding the chain. */
export function vtPieces(example: string, haystackText: string, value: string, numVars: number) {
  return {
    context: `${example}${VT_TASK}${haystackText}\n`,
    question: vtQuestion(value),
    answerPrefix: vtAnswer(value, numVars),
  };
}

const CWE_INTRO = 'Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n';
const CWE_QUESTION = 'Question: What are the 10 most common words in the above list?';
const CWE_ANSWER = 'Answer: The top 10 words that appear most often in the list are:';

/** Common-words extraction: one solved example, then the numbered list to memorize. */
export function cwePieces(exampleList: string, exampleAnswer: string, list: string) {
  const example = `${CWE_INTRO}${exampleList}\n${CWE_QUESTION} ${CWE_ANSWER} ${exampleAnswer}`;
  return {
    context: `${example}\n${CWE_INTRO}${list}\n`,
    question: `${CWE_QUESTION} `,
    answerPrefix: CWE_ANSWER,
  };
}

/** Frequent-words extraction over a coded (random 6-letter) text. */
export function fwePieces(codedText: string) {
  return {
    context: `Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. ${codedText}\n`,
    question: "Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text? ",
    answerPrefix: 'Answer: According to the coded text above, the three most frequently appeared words are:',
  };
}
