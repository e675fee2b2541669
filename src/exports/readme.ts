/** The README.md inside every data export, written from the list of files it describes. */
import { EXPORT_FILES } from "./files.ts";

export const EXPORT_FORMAT = "mking-friend-data-export";
export const EXPORT_FORMAT_VERSION = 1;

export function exportReadme(): string {
  const lines = [
    "# Your MKing Friend data",
    "",
    `Format \`${EXPORT_FORMAT}\`, version ${EXPORT_FORMAT_VERSION}. Every file is UTF-8 JSON; times are ISO 8601`,
    "in UTC; ids are UUIDs (the audit log's are numbers, as strings). A file that is a list holds one",
    "object per record, oldest first; `account.json` and `profile.json` hold one object.",
    "`manifest.json` says when the export was made and how many records each file holds.",
    "",
    "Only your own data is here. In conversations you are in, you get the conversation, who takes",
    "part and the messages **you** sent: the other participants' messages are their data. Comments",
    "and likes others made on your posts are theirs too (your posts carry the counts), and so are",
    "blocks others made.",
    "",
  ];
  for (const file of EXPORT_FILES) {
    lines.push(`## ${file.name}`, "", file.description, "", "| field | meaning |", "| --- | --- |");
    for (const [field, meaning] of Object.entries(file.fields)) {
      lines.push(`| \`${field}\` | ${meaning.replace(/\|/g, "\\|")} |`);
    }
    lines.push("");
  }
  lines.push(
    "## manifest.json",
    "",
    "| field | meaning |",
    "| --- | --- |",
    "| `format`, `version` | this format |",
    "| `export_id` | the export request |",
    "| `user_id` | your user id |",
    "| `exported_at` | when the data was read |",
    "| `files` | file name → number of records |",
    "",
  );
  return lines.join("\n");
}
