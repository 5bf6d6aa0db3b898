#ifndef DUET_CLI_NUMBER_H
#define DUET_CLI_NUMBER_H

/* Numbers given on the command line of duet, duet-bench and the engine
 * tools. The whole string must be the number: atoi/atof read
 * "--temperature abc" as 0 (a silent switch to greedy decoding) and "10x"
 * as 10, and overflow in atoi is undefined. Failures are DUET_EINVAL with a duet_error() message
 * naming the option. */

/* A decimal integer in [lo, hi]. */
int duet_cli_int(const char *opt, const char *s, long long lo, long long hi, long long *out);

/* A finite decimal number (strtod syntax). */
int duet_cli_double(const char *opt, const char *s, double *out);

#endif
