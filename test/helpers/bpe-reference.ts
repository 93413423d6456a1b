/**
 * An independent byte-level BPE encoder in Python (tiktoken's algorithm: split by the
 * tokenizer's regex, then repeatedly merge the adjacent pair whose concatenation has the
 * lowest id), reading only the vocab, added tokens and split pattern of a tokenizer.json.
 * It shares no code with @huggingface/tokenizers (which applies the merges list), so equal
 * ids mean the JS tokenizer encodes as Meta's tiktoken-built vocabulary intends.
 * Needs Debian's python3-regex for \p{L}/\p{N} classes.
 */
export const PYTHON_BPE = `
import json, sys
import regex
req = json.loads(sys.stdin.read())
tok = json.load(open(req['tokenizer']))
vocab = tok['model']['vocab']
pattern = tok['pre_tokenizer']['pretokenizers'][0]['pattern']['Regex']
split = regex.compile(pattern)
specials = {t['content']: t['id'] for t in tok['added_tokens']}
special_re = regex.compile('|'.join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)))

def byte_chars():
    keep = list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars
BYTE = byte_chars()

def bpe(piece):
    parts = [BYTE[b] for b in piece.encode('utf-8')]
    whole = ''.join(parts)
    if whole in vocab:
        return [vocab[whole]]
    while len(parts) > 1:
        best = None
        for i in range(len(parts) - 1):
            rank = vocab.get(parts[i] + parts[i + 1])
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [vocab[p] for p in parts]

def encode(text):
    ids, at = [], 0
    for m in special_re.finditer(text):
        for piece in split.findall(text[at:m.start()]):
            ids += bpe(piece)
        ids.append(specials[m.group()])
        at = m.end()
    for piece in split.findall(text[at:]):
        ids += bpe(piece)
    return ids

print(json.dumps([encode(t) for t in req['texts']]))
`;
