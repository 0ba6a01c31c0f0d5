import { parseArgs, ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** What a command's arguments came to: parsed values, or the exit code the CLI ends with. */
export type Parsed<V> = { values: V; positionals: string[] } | { exit: number };

/**
 * Strict parsing for every command: `--help`/`-h` prints the usage on stdout (exit 0); an unknown
 * option, a missing or ambiguous value (`--ttl -5`) gives one line naming it and the usage on
 * stderr (exit 64). node's own parseArgs errors are TypeErrors whose message is that line.
 */
export function parseCommand<V>(argv: string[], options: Options, usage: string): Parsed<V> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage + '\n');
    return { exit: 0 };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as V, positionals };
  } catch (err) {
    return usageError((err as Error).message.replace(/\s*\n\s*/g, ' '), usage);
  }
}

/** One line saying what is wrong, then the usage; exit 64 (EX_USAGE). */
export function usageError(problem: string, usage: string): { exit: number } {
  process.stderr.write(`error: ${problem}\n${usage}\n`);
  return { exit: 64 };
}
