/** Writing Markdown for the references: table cells, values as a YAML file holds them. */
import YAML from 'yaml';

/**
 * Text as Markdown shows it: "|" would end a table cell, and "<" and "*" outside code spans would
 * start an HTML tag or emphasis ("<datadir>", "TEMPORAL_TLS_*").
 */
export function markdownText(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, index) => (index % 2 === 1 ? part : part.replace(/[<*]/g, '\\$&')))
    .join('')
    .replace(/\|/g, '\\|');
}

/** A value as it is written in the YAML file, in a code span: `12h`, `[ /srv/clones ]`. */
export function yamlValue(value: unknown): string {
  return `\`${YAML.stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trim()}\``;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)];
}
