/**
 * A progress bar on stderr: redrawn in place on a terminal, a line every 10% otherwise (CI
 * logs), always with the elapsed time.
 */
export interface ProgressBar {
  label(text: string): void;
  advance(units: number): void;
  done(): void;
}

export function progressBar(
  total: number,
  stream: NodeJS.WriteStream = process.stderr,
): ProgressBar {
  const started = Date.now();
  let done = 0;
  let current = "";
  let lastDecile = -1;
  const draw = (): void => {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    const text = `${(fraction * 100).toFixed(0).padStart(3)}% ${current} (${seconds} s)`;
    if (stream.isTTY) {
      const width = 30;
      const filled = Math.round(fraction * width);
      stream.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}\x1b[K`);
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile !== lastDecile) {
      lastDecile = decile;
      stream.write(`seed ${text}\n`);
    }
  };
  return {
    label(text) {
      current = text;
      draw();
    },
    advance(units) {
      done += units;
      draw();
    },
    done() {
      done = total;
      current = "done";
      draw();
      if (stream.isTTY) stream.write("\n");
    },
  };
}

/** A bar that shows nothing (tests). */
export const silentProgress: ProgressBar = {
  label: () => undefined,
  advance: () => undefined,
  done: () => undefined,
};
