export { corpusFileName, parseCorpusFileName, META_FILE } from './naming.js';
export { readCorpusMeta, writeCorpusMeta, mergeCorpusMeta, metaConflicts, CorpusMetaError, type CorpusMeta } from './meta.js';
export { CORPUS_FIELDS, checkCorpusFields, dimsFromFields, type CorpusDims, type CorpusField } from './schema.js';
export { validateCorpusFile, validateCorpusReader, dimsFromMeta, type CorpusFileReport } from './validate.js';
export { listCorpusFiles, type CorpusFileRef } from './list.js';
