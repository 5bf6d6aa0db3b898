/* `bpe-train --data FILE... --vocab-size N --out DIR`: the BPE trainer on
 * its own, for integration tests (duet-train tokenizer runs the same code). */
#include "engine/bpe_train.h"

int main(int argc, char **argv) { return duet_bpe_train_cli(argc, argv); }
