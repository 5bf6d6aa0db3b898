#ifndef DUET_BPE_TRAIN_H
#define DUET_BPE_TRAIN_H

/* Training a byte-level BPE tokenizer (GPT-2 / Llama 3 style) from text,
 * written as the Hugging Face tokenizer.json + tokenizer_config.json that
 * duet's tokenizer and @huggingface/tokenizers load.
 *
 * Pipeline (what Hugging Face's BpeTrainer does with these settings):
 *   1. special token strings in the text are cut out (never merged into);
 *   2. the text is split by the Llama 3 pre-tokenizer regex (PCRE2, UTF +
 *      UCP), and each distinct piece is counted in a hash table;
 *   3. merges are learned on the distinct pieces: the most frequent
 *      adjacent pair (ties: smallest ids) becomes a new token, and only
 *      the pieces containing it are updated, through an index from pair to
 *      pieces and a max-heap of pair counts (never a full recount).
 *
 * Vocabulary layout (ids):
 *   0 <|endoftext|>  end of document; eos_token and pad_token
 *   1 <|bos|>        bos_token, added by the post-processor
 *   2 <|im_start|>   chat turn start (ChatML chat_template)
 *   3 <|im_end|>     chat turn end
 *   4..259           the 256 bytes (GPT-2 byte-to-unicode characters,
 *                    in code point order, as Hugging Face orders them)
 *   260..            merged tokens, in the order they were learned. */

#include <stddef.h>

enum { DUET_BPE_N_SPECIAL = 4 };
extern const char *const duet_bpe_special_tokens[DUET_BPE_N_SPECIAL];
/* The pre-tokenizer regex written to tokenizer.json (Split, Isolated). */
extern const char *const duet_bpe_split_regex;

typedef struct duet_bpe_trainer duet_bpe_trainer;

/* vocab_size counts everything: specials + 256 bytes + merges (>= 260). */
int duet_bpe_trainer_new(int vocab_size, duet_bpe_trainer **out);
void duet_bpe_trainer_free(duet_bpe_trainer *t);

/* Counts the pieces of UTF-8 text (what: its name in error messages).
 * Invalid UTF-8 is refused with the byte offset. Call any number of times
 * before _run. */
int duet_bpe_trainer_feed(duet_bpe_trainer *t, const char *text, size_t len, const char *what);
int duet_bpe_trainer_feed_file(duet_bpe_trainer *t, const char *path);

/* Learns merges until the vocabulary has vocab_size tokens or no pair is
 * left (a small corpus may give fewer; see _vocab_size). Deterministic. */
int duet_bpe_trainer_run(duet_bpe_trainer *t);

int duet_bpe_trainer_vocab_size(const duet_bpe_trainer *t);
int duet_bpe_trainer_n_merges(const duet_bpe_trainer *t);
/* Raw bytes of token id (not byte-level mapped); NULL when out of range. */
const char *duet_bpe_trainer_token(const duet_bpe_trainer *t, int id, size_t *len);
/* Merge i: ids a + b -> result. DUET_ERANGE when out of range. */
int duet_bpe_trainer_merge(const duet_bpe_trainer *t, int i, int *a, int *b, int *result);
/* Distinct pieces counted and their total count. */
void duet_bpe_trainer_stats(const duet_bpe_trainer *t, size_t *distinct, long long *total);

/* Writes DIR/tokenizer.json and DIR/tokenizer_config.json, each atomically
 * (temp file + rename). DIR must exist. */
int duet_bpe_trainer_write(const duet_bpe_trainer *t, const char *dir, int model_max_length);

/* `duet-train tokenizer --data FILE... --vocab-size N --out DIR
 *  [--model-max-length N]`: argv[0] is the subcommand name. Returns the
 * process exit status (0 ok, 1 error, 2 usage). */
int duet_bpe_train_cli(int argc, char **argv);

#endif
